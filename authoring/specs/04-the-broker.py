# %% [markdown]
# # 04 · The broker: the credential travels the last metre, and nobody else carries it
#
# **Layer: Engineer on call** · node: Tool call · theme: harden
#
# Notebook 01 ended badly: the agent held the master key, read a ticket with a hidden instruction
# in it, and posted the key to the attacker. Notebooks 02 and 03 gave us a signed, short-lived pass
# and a vault that hands it out only when a grant says so. One question is left: **who actually
# calls the ticket API, and with what?** A pass is worthless to the ticket API; it wants its own
# API key. This notebook builds the component that turns one into the other at the very last hop,
# and makes sure nothing it returns carries the key back.
#
# **Goals**
#
# - Follow one tool call through the kit's broker: token verified, operation looked up in the
#   catalogue, scope checked, the credential of the *token's* tenant fetched and injected into a
#   real HTTP request that a real service checks.
# - Put a credential in the right place for each service (a `Bearer` header for one, a raw
#   `X-Api-Key` for another) and refuse every path the catalogue does not list.
# - Redact a secret out of tool output in every spelling it travels in: raw, base64, base64url,
#   hex, URL-encoded, JSON-escaped.
# - Decide from a verified token alone whether a call is allowed, with a reason code.
# - Plug your three pieces into the real broker and replay notebook 01's attack against it: the
#   collector stays empty.
#
# ```mermaid
# flowchart LR
#   A["Agent request"] --> P["Vault policy"] --> T["Short-lived token"] --> C["Tool call"] --> L["Access log"]
#   X["Attacker trick"] -.-> P
#   classDef focus fill:#edf7f4,stroke:#174b43,stroke-width:3px,color:#121417
#   classDef attacker fill:#fff1eb,stroke:#d8512a,stroke-width:2px,color:#121417
#   class C focus
#   class X attacker
# ```

# %% [markdown]
# ## The broker's job, in one sequence
#
# Think of a hotel valet desk. Guests hand over a numbered ticket, never a key. The valet keeps the
# keys, takes the car the *ticket* names (not the one a guest points at), drives it only along
# the routes on the house list, and whatever comes back to the guest never has a key in it. The
# broker is that desk:
#
# ```mermaid
# sequenceDiagram
#   participant G as Agent
#   participant V as Vault
#   participant B as Broker
#   participant S as Secret store
#   participant API as Real service
#   G->>V: request (task, tool, scopes)
#   V-->>G: short-lived token (no credential in it)
#   G->>B: token + tool call (tool, method, path, body)
#   B->>B: verify token, look up operation, check scope
#   B->>S: credential of the token's tenant
#   S-->>B: Secret (masked, read once)
#   B->>API: request with the credential injected in a header
#   API-->>B: answer (may echo the credential!)
#   B-->>G: redacted answer
# ```
#
# Three habits make this desk trustworthy, and each is one of your exercises:
#
# 1. **The catalogue, not the agent, says what a tool can do.** The agent names a tool, a method
#    and a path. Each must be an exact operation of a connector; anything else (a path that walks
#    up with `..`, a second slash, a query string) is refused before any credential is touched.
# 2. **The token, not the request, says whose credential.** The tenant comes from the verified
#    token. A `tenant` field in the body is data for the service, never a choice of key.
# 3. **Nothing that comes back is trusted to be clean.** Services echo keys in error messages,
#    debug blocks and redirects, often encoded. The broker redacts every spelling before the agent
#    (and its model, memory and logs) sees a single byte.

# %% locked id=plotting
import matplotlib.pyplot as plt  # its own cell: the first import of matplotlib takes a moment

# %% locked id=imports
import base64
import dataclasses
import json
import re
import urllib.parse

from course import (
    agent,
    broker,
    connectors,
    errors,
    grading,
    httpclient,
    policy,
    redteam,
    refresh,
    secretstore,
    tokens,
    world,
)
from course import redact as redaction

print("kit loaded:", ", ".join(m.__name__ for m in (agent, broker, connectors, redaction)))

# %% locked id=setup
lab = agent.lab_world_and_vault(seed="lab")  # real services on 127.0.0.1, vault, broker, log
NOW = lab.clock.now()
CATALOG = connectors.by_tool()               # tool name -> Connector

# Every real credential of the world, to *find* leaks by name and encoding (never to print them).
ALL_CREDENTIALS = tuple(lab.world.credential(t, n) for t in world.TENANTS
                        for n in world.CREDENTIAL_NAMES if n != "oauth:client_id")
LEAK_DETECTOR = redaction.Redactor(ALL_CREDENTIALS, shapes=())


def leaks(text):
    """Which credentials occur in text, and how they are spelled: names and forms, never values."""
    return sorted({f"{f.name} ({f.form})" for f in LEAK_DETECTOR.find(text)})


def token_for(tool, scopes, *, user="alice", agent_name="helpdesk-bot", task="triage", ttl=300,
              single_use=False):
    """Open a session the way the platform does and ask the vault for one token."""
    session = lab.open_session(user=user, agent=agent_name)
    request = policy.AgentRequest(tenant="acme", user=user, agent=agent_name, session=session.id,
                                  task=task, tool=tool, scopes=tuple(scopes), ttl=ttl)
    return lab.vault.request(request, single_use=single_use)


def make_claims(tool, scopes, *, tenant="acme", user="alice"):
    """Verified-looking claims for the exercises (what the broker has after verification)."""
    return tokens.TokenClaims(iss=lab.vault.issuer, sub="helpdesk-bot", aud=tool, user=user,
                              tenant=tenant, task="triage", session="sess-test",
                              scopes=tuple(scopes), iat=NOW, nbf=NOW, exp=NOW + 300,
                              jti="tok-test")


def tool_calls(log, last=None):
    """The broker's tool_call lines of the access log: decision, reason, tool, method, path."""
    rows = [e for e in log.events() if e.event == "tool_call"]
    for e in rows[-last:] if last else rows:
        print(f"  {e.decision:<5} {e.reason:<22} {e.tool:<16} {e.fact('method')} {e.fact('path')}")


print(lab.world)
print("tenants:", lab.world.tenants, "| tools:", sorted(CATALOG))

# %% [markdown]
# ## 1. The catalogue: what each tool may do, and where its key goes
#
# A `Connector` pins everything the agent must not choose: which service, which credential (by
# name in the secret store), which header carries it and with which scheme, and the exact
# operations with the scope each needs. Read the patterns carefully: they are regular expressions
# that must match the **whole** path.

# %%
for tool, c in CATALOG.items():
    scheme = repr(c.scheme) if c.scheme else "raw key"
    print(f"{tool:<18} service={c.service:<9} credential={c.secret!r:<22} "
          f"header={c.header} ({scheme})")
    for op in c.operations:
        print(f"{'':<20}{op.method:<5} {op.pattern:<58} needs {op.scope}")

# %% [markdown]
# ## 2. One call, end to end
#
# Alice's helpdesk agent gets a token for reading tickets. Notice what the agent holds: a signed
# pass with an id, an audience and a scope, and not one byte of the ticket API's key. The broker
# takes the pass and the call, and the ticket service, which knows nothing about tokens, checks
# its own API key for real.

# %%
issued = token_for("tickets", ["tickets:read"])
print(issued)
print("the agent hands over:", issued.token[:10] + "...", f"({len(issued.token)} chars)")

result = lab.broker.call(issued.token, tool="tickets", method="GET", path="/tickets/T-1001")
print(result)
print("title:", result.json()["title"])

seen = lab.world.received("tickets")[-1]
print(f"the ticket service saw: {seen.method} {seen.path} credential_ok={seen.credential_ok} "
      f"credential={seen.credential_name!r} tenant={seen.tenant!r}")

# %% [markdown]
# The service accepted `tickets`, the **acme** key, because the token says tenant `acme`. The
# agent never named a tenant and could not have: `Broker.call` takes a token, a tool, a method, a
# path and a body, and nothing else. The access log now holds one `tool_call` line for it,
# written by the broker.

# %% [markdown]
# ## 3. What the broker refuses
#
# Every attempt below reaches the kit's broker. Apart from the first use of the single-use token,
# each is refused with a reason code before any credential leaves the store, and every attempt is
# logged. Read the codes: an on-call engineer sees exactly these in the access log.

# %%
read = token_for("tickets", ["tickets:read"])
once = token_for("tickets", ["tickets:read"], single_use=True)
short = token_for("tickets", ["tickets:read"], ttl=60)
doomed = token_for("tickets", ["tickets:read"])
lab.vault.revoke_session(doomed.claims.session, why="agent session compromised")

attempts = [
    ("unknown tool", read, dict(tool="shell", method="POST", path="/run")),
    ("walk up with ..", read, dict(tool="tickets", method="GET", path="/tickets/../oauth/token")),
    ("second slash", read, dict(tool="tickets", method="GET", path="//evil.example/tickets")),
    ("query string", read, dict(tool="tickets", method="GET", path="/tickets?tenant=globex")),
    ("not an operation", read, dict(tool="tickets", method="DELETE", path="/tickets/T-1001")),
    ("write with read", read, dict(tool="tickets", method="POST", path="/tickets",
                                   json={"title": "x", "body": "y"})),
    ("ticket token at payments", read, dict(tool="payments", method="GET", path="/charges")),
    ("revoked session", doomed, dict(tool="tickets", method="GET", path="/tickets")),
    ("single use, 1st", once, dict(tool="tickets", method="GET", path="/tickets")),
    ("single use, 2nd", once, dict(tool="tickets", method="GET", path="/tickets")),
]
for label, issued_token, call in attempts:
    try:
        r = lab.broker.call(issued_token.token, **call)
        print(f"{label:<26} -> answered {r.status}")
    except (errors.AccessDenied, errors.TokenError) as exc:
        print(f"{label:<26} -> refused: {type(exc).__name__}: {exc.code}")

lab.clock.advance(120)  # two minutes later the 60-second token is dead
try:
    lab.broker.call(short.token, tool="tickets", method="GET", path="/tickets")
except errors.TokenError as exc:
    print(f"{'expired token':<26} -> refused: {type(exc).__name__}: {exc.code}")

print("\nthe broker's lines in the access log:")
tool_calls(lab.log, last=11)

# %% [markdown]
# ## 4. The service that echoes your key
#
# The payments API has a habit many real APIs share: when a request is malformed it answers `400`
# with a "helpful" debug block that repeats the `X-Api-Key` it received. An agent that sees that
# answer has the key in its context, and from there in its memory, its traces and any place an
# injected instruction tells it to send things.
#
# Bob, acme's finance lead, asks the helpdesk agent for a refund, and the agent forgets to say
# which charge. Here is what the broker hands back, and, for comparison, which credentials were in
# the *raw* answer the service sent (names and spellings only).

# %%
bob = token_for("payments", ["payments:refund"], user="bob", task="refund")
echo = lab.broker.call(bob.token, tool="payments", method="POST", path="/refunds", json={})
print(echo)
print(json.dumps(echo.json(), indent=1))

raw = httpclient.request("POST", lab.world.url("payments") + "/refunds", json={},
                         headers={"X-Api-Key": lab.store.get("acme", "payments").reveal()})
print("in the raw answer:", leaks(raw.text), "| in the broker's answer:", leaks(echo.body))

# %% [markdown]
# A secret rarely leaks only as itself. The same key, copied into an `Authorization: Basic`
# header, a hex dump in a debug line, a percent-encoded query string or an escaped JSON string,
# is a different sequence of characters each time, and a redactor that only searches for the raw
# value misses all of them. These are the spellings the kit's reference looks for (names and
# lengths; the values stay in the store). This key is made of letters, digits and `_`, so its
# URL-encoded and JSON-escaped spellings are the raw value itself and are listed once; a password
# with `/`, `+`, `"` or a space in it has every one of them.

# %%
payments_key = lab.store.get("acme", "payments")
print(payments_key)
for form, text in redaction.encoded_forms(payments_key.reveal()):
    print(f"  {form:<20} {len(text):>3} chars")

value = payments_key.reveal()
dump = (f"retrying with key={urllib.parse.quote(value)} "
        f"hex={value.encode().hex().upper()} "
        f"auth=Basic {base64.b64encode(('acme-billing:' + value).encode()).decode()}")
kit_redactor = redaction.Redactor([payments_key], shapes=())
print("\nkit redactor:", kit_redactor.redact(dump))
print("found:", [(f.name, f.form) for f in kit_redactor.find(dump)])

# %% [markdown]
# The last one is the hardest: inside a `Basic` header the key is base64-encoded *together with*
# the user name, so its bits are shifted, and unless the name happens to be a multiple of three
# bytes long the key's own base64 text never appears. The kit catches it through the three
# alignments a value can have inside a longer base64 text. Your redactor below does not have to go
# that far, and the reflection at the end asks what that means.
#
# ---
# # Exercises
#
# You now write the three pieces of the broker's `call` that matter most, using the kit's values
# (`Connector`, `Operation`, `TokenClaims`, `Secret`, `AccessDenied`) but not its machinery for
# the same piece. The hidden tests check that your function does its own work: calling
# `Connector.inject` in exercise 1, `redact.encoded_forms` or `redact.Redactor` in exercise 2, or
# `Connector.operation_for` / `Operation.matches` in exercise 3 fails that exercise.
#
# ## Exercise 1 (3 points): inject the credential at the last hop
#
# Write `build_outgoing_request(claims, connector, credential_for, base_url, method, path, body)`.
# It returns an `Outgoing` request (defined below) ready to be sent, with the credential in it:
#
# - if `(method, path)` is not an operation of the connector (you may ask the catalogue here with
#   `connector.operation_for(method, path)`), raise
#   `errors.AccessDenied("operation_not_allowed", <a sentence>)`, **before** fetching a credential;
# - fetch the credential with `credential_for(tenant, connector)`: a function that returns a
#   `Secret`. The tenant is the **token's** (`claims.tenant`), whatever the body says;
# - put it in exactly one header, `connector.header`, with the connector's scheme in front
#   (`"Bearer "` for the ticket and deploy APIs, nothing for the payments API's `X-Api-Key`):
#   `headers` is a `dict` with that one entry;
# - `method` upper-case, `url = base_url + path`, `json = body` (unchanged, `None` allowed).
#
# Only here does the credential exist in the clear (`Secret.reveal()`). `Outgoing`'s repr shows the
# header *names*, never their values, so it is safe to print.

# %% locked id=outgoing
@dataclasses.dataclass(frozen=True, repr=False)
class Outgoing:
    """One HTTP request about to leave the broker. Its repr names headers, never their values."""

    method: str
    url: str
    headers: dict
    json: dict | None = None

    def __repr__(self):
        return (f"Outgoing({self.method} {lab.world.stable_text(self.url)}, "
                f"headers={sorted(self.headers)}, json={'none' if self.json is None else 'yes'})")


def send(outgoing):
    """Send it for real (pooled keep-alive HTTP) and return the httpclient.Response."""
    return httpclient.request(outgoing.method, outgoing.url, headers=outgoing.headers,
                              json=outgoing.json)


def credential_from(store):
    """credential_for(tenant, connector) backed by a secret store."""
    return lambda tenant, connector: store.get(tenant, connector.secret)


# %% solution id=inject
def build_outgoing_request(claims: tokens.TokenClaims, connector: connectors.Connector,
                           credential_for, base_url: str, method: str, path: str,
                           body: dict | None = None) -> Outgoing:
    """The real request for one allowed call, with the token's tenant's credential injected.

    Raises:
        errors.AccessDenied: ("operation_not_allowed") the call is not an operation of the
            connector; no credential is fetched then.
    """
    ### BEGIN SOLUTION
    if connector.operation_for(method, path) is None:
        raise errors.AccessDenied("operation_not_allowed",
                                  f"{method} {path} is not an operation of {connector.tool!r}")
    credential = credential_for(claims.tenant, connector)
    headers = {connector.header: connector.scheme + credential.reveal()}
    return Outgoing(method=method.upper(), url=base_url + path, headers=headers, json=body)
    ### END SOLUTION

# %% tests id=test-inject points=3
"""Check that build_outgoing_request puts the token tenant's credential in the right header."""
_out = build_outgoing_request(make_claims("tickets", ["tickets:read"]), CATALOG["tickets"],
                              credential_from(lab.store), lab.world.url("tickets"), "GET",
                              "/tickets")
grading.expect(type(_out) is Outgoing, "a request object", f"return an Outgoing, not {_out!r}")
_answer = send(_out)
grading.expect(_answer.status == 200, "credential injected where the service looks",
               f"the ticket API answered {_answer.status}: it wants 'Authorization: Bearer <key>'")
_out = build_outgoing_request(make_claims("payments", ["payments:read"]), CATALOG["payments"],
                              credential_from(lab.store), lab.world.url("payments"), "GET",
                              "/charges")
_answer = send(_out)
grading.expect(_answer.status == 200, "credential injected where the service looks",
               f"the payments API answered {_answer.status}: it wants the raw key in X-Api-Key")
grading.expect_raises(lambda: build_outgoing_request(
    make_claims("tickets", ["tickets:read"]), CATALOG["tickets"], credential_from(lab.store),
    lab.world.url("tickets"), "GET", "/tickets/../oauth/token"), errors.AccessDenied,
    "only catalogue operations leave the broker", "a path outside the catalogue must be refused")
print("build_outgoing_request: visible checks passed")
### BEGIN HIDDEN TESTS
def _inject_checked(claims, tool, method, path, body=None):
    asked = []

    def credential_for(tenant, connector):
        asked.append(tenant)
        return lab.store.get(tenant, connector.secret)

    with grading.tripwire(connectors.Connector, "inject"):
        out = build_outgoing_request(claims, CATALOG[tool], credential_for,
                                     lab.world.url(CATALOG[tool].service), method, path, body)
    assert type(out) is Outgoing
    assert grading.exactly(asked, [claims.tenant]), "the credential of the token's tenant, once"
    return out


def _expect_header(out, tenant, tool):
    c = CATALOG[tool]
    want = {c.header: c.scheme + lab.store.get(tenant, c.secret).reveal()}
    assert grading.exactly(out.headers, want), "one header, the connector's, with its scheme"


for _tenant in ("acme", "globex"):
    for _tool, _method, _path, _scopes in [
            ("tickets", "GET", "/tickets", ["tickets:read"]),
            ("payments", "GET", "/charges", ["payments:read"]),
            ("deploy:staging", "GET", "/environments/staging/deployments", ["deploy:read"]),
            ("deploy:production", "GET", "/environments/production/deployments", ["deploy:read"])]:
        _claims = make_claims(_tool, _scopes, tenant=_tenant)
        _out = _inject_checked(_claims, _tool, _method.lower(), _path)
        _expect_header(_out, _tenant, _tool)
        assert grading.exactly((_out.method, _out.url, _out.json),
                               ("GET", lab.world.url(CATALOG[_tool].service) + _path, None))
        _answer = send(_out)
        _seen = lab.world.received(CATALOG[_tool].service)[-1]
        assert _answer.status == 200 and _seen.credential_ok is True
        assert grading.exactly((_seen.tenant, _seen.credential_name),
                               (_tenant, CATALOG[_tool].secret))

# a tenant named in the body is data, never a choice of credential
_out = _inject_checked(make_claims("payments", ["payments:read"]), "payments", "GET", "/charges",
                       {"tenant": "globex"})
_expect_header(_out, "acme", "payments")
assert grading.exactly(_out.json, {"tenant": "globex"})
assert send(_out).status == 200 and lab.world.received("payments")[-1].tenant == "acme"
_out = _inject_checked(make_claims("tickets", ["tickets:read"], tenant="globex"), "tickets", "GET",
                       "/tickets", {"tenant": "acme", "customer": "acme"})
_expect_header(_out, "globex", "tickets")
assert "Acme" not in send(_out).text

# refused before any credential is fetched, and nothing leaves
for _tool, _method, _path in [("tickets", "GET", "/tickets/../oauth/token"),
                              ("tickets", "GET", "/oauth/token"),
                              ("tickets", "GET", "//evil.example/tickets"),
                              ("tickets", "GET", "/tickets?tenant=globex"),
                              ("tickets", "GET", "tickets"),
                              ("tickets", "DELETE", "/tickets/T-1001"),
                              ("payments", "POST", "/charges/../refunds/x"),
                              ("payments", "GET", "/refunds"),
                              ("deploy:staging", "POST", "/environments/production/deployments")]:
    _asked = []
    _before = {s: len(lab.world.received(s)) for s in world.SERVICES}

    def _fail_if_asked(tenant, connector, _asked=_asked):
        _asked.append(tenant)
        return lab.store.get(tenant, connector.secret)

    try:
        with grading.tripwire(connectors.Connector, "inject"):
            build_outgoing_request(make_claims(_tool, ["tickets:read", "payments:refund"]),
                                   CATALOG[_tool], _fail_if_asked,
                                   lab.world.url(CATALOG[_tool].service), _method, _path)
        raise AssertionError(f"{_method} {_path} must be refused")
    except errors.AccessDenied as _denied:
        assert _denied.code == "operation_not_allowed"
    assert _asked == [], "no credential fetched for a refused call"
    assert _before == {s: len(lab.world.received(s)) for s in world.SERVICES}

# a body goes out as it is, and the service really gets it
_out = _inject_checked(make_claims("tickets", ["tickets:write"]), "tickets", "POST",
                       "/tickets/T-1001/comments", {"body": "checked by the broker tests"})
assert grading.exactly(_out.json, {"body": "checked by the broker tests"})
assert send(_out).status == 201 and "secret" not in repr(_out).lower()
assert all(v not in repr(_out) for v in _out.headers.values())
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2 (4 points): redact every spelling of every secret
#
# Write `redact(text, secrets)`. `secrets` is a tuple of `Secret` values. Return `text` with every
# occurrence of each secret, in each of these spellings, replaced by `[REDACTED:<secret.name>]`:
#
# | spelling | how it is made (bytes are UTF-8) | must match |
# |---|---|---|
# | raw | the value itself | exactly |
# | base64 | `base64.b64encode`, with **and** without its `=` padding | exactly |
# | base64url | `base64.urlsafe_b64encode`, with and without padding | exactly |
# | hex | `bytes.hex()` | in **either case** (`ab12` and `AB12`) |
# | URL-encoded | `urllib.parse.quote(v, safe="")`, `quote(v)` and `quote_plus(v, safe="")` | escapes in either case (`%2F` and `%2f`) |
# | JSON-escaped | `json.dumps(v)[1:-1]` | exactly |
#
# When one spelling contains another (padded base64 contains the unpadded one), the **longer**
# wins: no stray `=` may be left next to a marker. Text that holds no secret comes back unchanged.
# (Base64 *inside* a longer base64 text, like the `Basic` header above, is not required.)

# %% solution id=redact
def redact(text: str, secrets: tuple) -> str:
    """text with every listed spelling of every secret replaced by [REDACTED:<name>]."""
    ### BEGIN SOLUTION
    patterns = []  # (length, regex, marker); applied longest first so no padding is left behind
    for secret in secrets:
        value = secret.reveal()
        data = value.encode("utf-8")
        mark = f"[REDACTED:{secret.name}]"
        b64 = base64.b64encode(data).decode("ascii")
        b64url = base64.urlsafe_b64encode(data).decode("ascii")
        exact = {value, b64, b64.rstrip("="), b64url, b64url.rstrip("="), json.dumps(value)[1:-1]}
        for form in exact:
            patterns.append((len(form), re.escape(form), mark))
        hex_form = data.hex()
        patterns.append((len(hex_form), f"(?i:{hex_form})", mark))
        for form in {urllib.parse.quote(value, safe=""), urllib.parse.quote(value),
                     urllib.parse.quote_plus(value, safe="")}:
            pieces = re.split(r"(%[0-9A-F]{2})", form)
            source = "".join(f"%(?i:{p[1:]})" if i % 2 else re.escape(p)
                             for i, p in enumerate(pieces))
            patterns.append((len(form), source, mark))
    for _, source, mark in sorted(patterns, key=lambda p: (-p[0], p[1])):
        text = re.sub(source, lambda m, mark=mark: mark, text)
    return text
    ### END SOLUTION

# %% tests id=test-redact points=4
"""Check that redact removes raw, base64, hex, URL-encoded and JSON-escaped forms of secrets."""
_key = lab.store.get("acme", "payments")
_raw = httpclient.request("POST", lab.world.url("payments") + "/refunds", json={},
                          headers={"X-Api-Key": _key.reveal()}).text
_clean = redact(_raw, (_key,))
grading.expect(type(_clean) is str and "[REDACTED:payments]" in _clean and not leaks(_clean),
               "the echoed key never reaches the agent",
               f"the payments 400 body still holds {leaks(_clean)} after redact")
_hex = "dump: " + _key.reveal().encode().hex().upper() + " end"
grading.expect(redact(_hex, (_key,)) == "dump: [REDACTED:payments] end", "encoded forms too",
               "an upper-case hex dump of the key must be redacted as well")
grading.expect(redact("nothing to see", (_key,)) == "nothing to see", "no over-redaction",
               "text without a secret must come back unchanged")
print("redact: visible checks passed")
### BEGIN HIDDEN TESTS
def _refuse_reference(*args, **kwargs):
    raise AssertionError("redact must do its own work, not call the kit's redaction reference")


def _redact_checked(text, secrets):
    # By name (tripwire) and by identity (an alias imported earlier reaches the same code).
    saved = redaction.encoded_forms.__code__, redaction.contains_secret.__code__
    redaction.encoded_forms.__code__ = redaction.contains_secret.__code__ = \
        _refuse_reference.__code__
    try:
        with grading.tripwire(redaction, "encoded_forms", "Redactor", "contains_secret"), \
                grading.tripwire(redaction.Redactor, "__init__"):
            out = redact(text, tuple(secrets))
    finally:
        redaction.encoded_forms.__code__, redaction.contains_secret.__code__ = saved
    assert type(out) is str
    return out


assert not grading.source_mentions(redact, "encoded_forms", "Redactor", "contains_secret")

_special = secretstore.Secret('p@ss/w0rd+"q"\\ ~?>>', name="db-password")
_spaced = secretstore.Secret("correct horse battery staple", name="phrase")
_world_keys = [lab.store.get("acme", n) for n in ("payments", "tickets", "deploy:admin")]


def _spellings(secret):
    v = secret.reveal()
    d = v.encode()
    b64, b64u = base64.b64encode(d).decode(), base64.urlsafe_b64encode(d).decode()
    q = urllib.parse.quote(v, safe="")
    forms = {v, b64, b64.rstrip("="), b64u, b64u.rstrip("="), d.hex(), d.hex().upper(), q,
             re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), q), urllib.parse.quote(v),
             urllib.parse.quote_plus(v, safe=""), json.dumps(v)[1:-1]}
    return sorted(forms)


assert base64.b64encode(_special.reveal().encode()) != base64.urlsafe_b64encode(
    _special.reveal().encode())
for _secret in (*_world_keys, _special, _spaced):
    _mark = f"[REDACTED:{_secret.name}]"
    for _form in _spellings(_secret):
        assert grading.exactly(_redact_checked(f"<< {_form} >>", [_secret]), f"<< {_mark} >>"), \
            f"{_secret.name}: a spelling of length {len(_form)} was not redacted exactly"
    # twice, glued to JSON punctuation, among other secrets
    _text = json.dumps({"a": _spellings(_secret)[0], "b": [_secret.reveal().encode().hex()]})
    _out = _redact_checked(_text, [*_world_keys, _special, _spaced])
    assert _out.count(_mark) == 2 and not LEAK_DETECTOR.find(_out)

# the real payments echo, and the same answer quoted in a URL and a hex dump
_raw = httpclient.request("POST", lab.world.url("payments") + "/refunds", json={"charge": ""},
                          headers={"X-Api-Key": _key.reveal()}).text
_secrets = [lab.store.get("acme", n) for n in lab.store.names("acme")]
_out = _redact_checked(_raw, _secrets)
assert "[REDACTED:payments]" in _out and not leaks(_out)
assert json.loads(_out)["error"]["message"] == "charge is required"
for _wrapped in (urllib.parse.quote(_raw, safe=""), _raw.encode().hex(), json.dumps(_raw)):
    assert not leaks(_redact_checked(_wrapped, _secrets))

# no over-redaction, nothing to redact, other tenants' text untouched
for _text in ("", "plain text", "sk_live_ is a prefix, not a key", json.dumps({"ok": True})):
    assert grading.exactly(_redact_checked(_text, _secrets), _text)
assert grading.exactly(_redact_checked("key " + _key.reveal(), ()), "key " + _key.reveal())
_other = lab.store.get("globex", "payments").reveal()
assert grading.exactly(_redact_checked(_other, [_key]), _other)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3 (3 points): authorize a call from the verified token alone
#
# Write `authorize(claims, connector, method, path)`. It returns the scope the call needs when
# `claims` allow it, and otherwise raises `errors.AccessDenied(code, <a sentence>)`:
#
# 1. `operation_not_allowed` when `path` is not a `str`, does not start with `/`, contains `//`, or
#    contains any character outside `A-Z a-z 0-9 _ - /` (checked **before** any pattern: a pattern
#    written too loosely must never let `..`, `?`, `%` or a newline through);
# 2. `operation_not_allowed` when no operation of `connector.operations` has this method
#    (compare upper-case) **and** a pattern that matches the **whole** path (`re.fullmatch`);
# 3. `scope_missing` when the operation's scope is not exactly one of `claims.scopes`, whatever
#    the method;
# 4. otherwise return that operation's `scope` (a `str`).
#
# Write the matching yourself: `connector.operation_for` and `Operation.matches` are the kit's
# reference for this piece.

# %% solution id=authorize
def authorize(claims: tokens.TokenClaims, connector: connectors.Connector, method: str,
              path: str) -> str:
    """The scope this call needs, if the verified claims carry it.

    Raises:
        errors.AccessDenied: "operation_not_allowed" (not an exact catalogue operation, or an
            unsafe path) or "scope_missing" (the token lacks the operation's scope).
    """
    ### BEGIN SOLUTION
    def refuse(code: str, why: str) -> errors.AccessDenied:
        return errors.AccessDenied(code, why)

    if not isinstance(path, str) or not re.fullmatch(r"/[A-Za-z0-9_\-/]*", path) or "//" in path:
        raise refuse("operation_not_allowed", "the path is not a plain catalogue path")
    wanted = method.upper() if isinstance(method, str) else ""
    op = next((o for o in connector.operations
               if o.method == wanted and re.fullmatch(o.pattern, path)), None)
    if op is None:
        raise refuse("operation_not_allowed", f"{wanted} {path} is not an operation of "
                                              f"{connector.tool!r}")
    if op.scope not in claims.scopes:
        raise refuse("scope_missing", f"the token does not carry scope {op.scope!r}")
    return op.scope
    ### END SOLUTION

# %% tests id=test-authorize points=3
"""Check that authorize allows only exact catalogue operations covered by the token's scopes."""
_read = make_claims("tickets", ["tickets:read"])
grading.expect(authorize(_read, CATALOG["tickets"], "GET", "/tickets/T-1003") == "tickets:read",
               "allowed calls name their scope", "GET /tickets/T-1003 with tickets:read is allowed")
_e = grading.expect_raises(lambda: authorize(_read, CATALOG["tickets"], "POST", "/tickets"),
                           errors.AccessDenied, "scopes bound the call",
                           "POST /tickets needs tickets:write; a read token must be refused")
grading.expect(_e.code == "scope_missing", "reason codes",
               f"expected scope_missing, got {_e.code!r}")
_e = grading.expect_raises(
    lambda: authorize(_read, CATALOG["tickets"], "GET", "/tickets/../oauth/token"),
    errors.AccessDenied, "only catalogue operations", "a path that walks up with .. is refused")
grading.expect(_e.code == "operation_not_allowed", "reason codes",
               f"expected operation_not_allowed, got {_e.code!r}")
print("authorize: visible checks passed")
### BEGIN HIDDEN TESTS
def _authz(claims, connector, method, path):
    with grading.tripwire(connectors.Connector, "operation_for"), \
            grading.tripwire(connectors.Operation, "matches"), \
            grading.tripwire(broker.Broker, "_authorize"):
        try:
            scope = authorize(claims, connector, method, path)
        except errors.AccessDenied as denied:
            assert type(denied.reason) is str and len(denied.reason.split()) >= 2
            return "denied:" + denied.code
    assert type(scope) is str
    return scope


_T, _P, _D = CATALOG["tickets"], CATALOG["payments"], CATALOG["deploy:staging"]
_rw = make_claims("tickets", ["tickets:read", "tickets:write"])
_ro = make_claims("tickets", ["tickets:read"])
_NA, _SM = "denied:operation_not_allowed", "denied:scope_missing"
for _claims, _conn, _method, _path, _want in [
        (_ro, _T, "GET", "/tickets", "tickets:read"),
        (_ro, _T, "get", "/tickets/T-1003", "tickets:read"),
        (_rw, _T, "POST", "/tickets", "tickets:write"),
        (_rw, _T, "POST", "/tickets/T-1003/comments", "tickets:write"),
        # the scope check holds for every method
        (_ro, _T, "POST", "/tickets", _SM),
        (_ro, _T, "post", "/tickets/T-1003/comments", _SM),
        (make_claims("tickets", []), _T, "GET", "/tickets", _SM),
        (make_claims("tickets", ["tickets:read:all", "tickets"]), _T, "POST", "/tickets", _SM),
        (make_claims("payments", ["payments:read"]), _P, "POST", "/refunds", _SM),
        (make_claims("payments", ["payments:refund"]), _P, "POST", "/refunds", "payments:refund"),
        (make_claims("payments", ["payments:charge"]), _P, "POST", "/refunds", _SM),
        (make_claims("deploy:staging", ["deploy:read"]), _D, "POST",
         "/environments/staging/deployments", _SM),
        # the method is part of the operation
        (_rw, _T, "DELETE", "/tickets/T-1003", _NA),
        (_rw, _T, "PUT", "/tickets", _NA),
        (make_claims("payments", ["payments:read"]), _P, "DELETE", "/charges", _NA),
        # the whole path, not a prefix
        (_rw, _T, "GET", "/tickets/T-1003/comments", _NA),
        (_rw, _T, "POST", "/tickets/T-1003/comments/C-1", _NA),
        (_rw, _T, "GET", "/ticketsX", _NA),
        (make_claims("payments", ["payments:read"]), _P, "GET", "/charges/ch-0001/capture", _NA),
        (make_claims("deploy:staging", ["deploy:read"]), _D, "GET",
         "/environments/production/deployments", _NA),
        (make_claims("deploy:staging", ["deploy:read"]), _D, "GET",
         "/environments/staging/deployments/dep-1/logs", _NA),
        # path tricks
        (_rw, _T, "GET", "/tickets/../oauth/token", _NA),
        (_rw, _T, "GET", "//evil.example/tickets", _NA),
        (_rw, _T, "GET", "/tickets?tenant=globex", _NA),
        (_rw, _T, "GET", "/tickets#x", _NA),
        (_rw, _T, "GET", "/tickets\n", _NA),
        (_rw, _T, "GET", "tickets", _NA),
        (_rw, _T, "GET", "", _NA),
        (_rw, _T, "GET", b"/tickets", _NA),
        (_rw, _T, "GET", None, _NA)]:
    _got = _authz(_claims, _conn, _method, _path)
    assert grading.exactly(_got, _want), f"{_method} {_path!r}: expected {_want}"

# a loosely written pattern must not let path tricks through
_loose = connectors.Connector(
    tool="files", service="oauth", secret="oauth:access", header="Authorization",
    scheme="Bearer ", operations=(connectors.Operation(method="GET", pattern=r"/files/.+",
                                                       scope="files:read"),))
_files = make_claims("files", ["files:read"])
assert _authz(_files, _loose, "GET", "/files/q4-forecast") == "files:read"
for _path in ("/files/../oauth/token", "/files/a//b", "/files/x?y=1", "/files/%2e%2e",
              "/files/a b", "/files/\u0430"):
    assert _authz(_files, _loose, "GET", _path) == _NA, f"{_path!r} must be refused"
### END HIDDEN TESTS

# %% [markdown]
# ---
# ## Your pieces inside the real broker
#
# `LearnerBroker` below is the kit's `Broker` with its `call` written out, so you can see every
# step; the three lines marked `# yours` call your functions. Token verification, the approval
# binding, the single-use guard and the access log are the kit's. Nothing else changes: the same
# vault issues the tokens, the same world answers, the same log records.

# %% locked id=learner-broker
class LearnerBroker(broker.Broker):
    """The kit's broker, with authorize, build_outgoing_request and redact plugged in."""

    def call(self, token, *, tool, method, path, json=None):
        connector = self._connectors.get(tool)
        if connector is None:
            raise self._deny(None, tool, method, path, "unknown_tool", "no such tool")
        try:
            claims = self._verifier_for(tool).verify(token).claims       # the kit's verifier
        except errors.TokenError as exc:
            self._record(None, tool, method, path, "deny", exc.code, str(exc))
            raise
        try:
            authorize(claims, connector, method, path)                   # yours
        except errors.AccessDenied as exc:
            raise self._deny(claims, tool, method, path, exc.code, exc.reason) from None
        self._approval_and_replay(claims, tool, method, path, json)     # the kit's
        credential_for = lambda tenant, c: self._credential(c, tenant)  # noqa: E731
        outgoing = build_outgoing_request(claims, connector, credential_for,  # yours
                                          self._urls(connector.service), method, path, json)
        secrets = (*(self._store.get(claims.tenant, n) for n in self._store.names(claims.tenant)),
                   self._credential(connector, claims.tenant))
        try:
            answer = send(outgoing)
        except errors.VaultLabError as exc:
            message = redact(str(exc), secrets)
            self._record(claims, tool, method, path, "deny", "upstream_error", message)
            raise errors.UpstreamError(0, message) from None
        body = redact(answer.text, secrets)                              # yours
        self._record(claims, tool, method, path, "allow", "tool_call", f"status {answer.status}")
        return broker.ToolResult(tool=tool, status=answer.status, body=body, jti=claims.jti)

    def _approval_and_replay(self, claims, tool, method, path, json):
        approved = claims.approval
        if approved is not None and policy.intent_digest(dict(json or {})) != approved:
            raise self._deny(claims, tool, method, path, "approval_mismatch",
                             "the call's arguments differ from the approved ones")
        try:
            self._replay.consume(claims)
        except errors.TokenError as exc:
            self._record(claims, tool, method, path, "deny", "replay", str(exc))
            raise


yours = LearnerBroker(verifier_for=lab.vault.verifier, store=lab.store, urls=lab.world.url,
                      clock=lab.clock, log=lab.log, refresh=lab.refresh)
print(yours)

# %% [markdown]
# The same calls as in sections 2 to 4, now through **your** broker.

# %%
try:
    ok = token_for("tickets", ["tickets:read"])
    r = yours.call(ok.token, tool="tickets", method="GET", path="/tickets/T-1001")
    print(f"read T-1001: {r.status}, title {r.json()['title']!r}, "
          f"service saw tenant {lab.world.received('tickets')[-1].tenant!r}")
    for label, call in [("walk up with ..", dict(method="GET", path="/tickets/../oauth/token")),
                        ("write with read", dict(method="POST", path="/tickets",
                                                 json={"title": "x", "body": "y"})),
                        ("prefix of an operation", dict(method="GET",
                                                        path="/tickets/T-1001/comments"))]:
        try:
            yours.call(ok.token, tool="tickets", **call)
            print(f"{label}: answered (!)")
        except errors.AccessDenied as exc:
            print(f"{label}: refused: {exc.code}")
    bob = token_for("payments", ["payments:refund"], user="bob", task="refund")
    mine = yours.call(bob.token, tool="payments", method="POST", path="/refunds", json={})
    print("payments 400 through your broker:", json.loads(mine.body)["error"]["debug"])
    print("credentials left in it:", leaks(mine.body))
    print("\nthe log, written by the kit around your pieces:")
    tool_calls(lab.log, last=4)
except NotImplementedError:
    print("write build_outgoing_request, redact and authorize above first")

# %% [markdown]
# ## Notebook 01's attack, replayed
#
# Same world, same ticket, same "model". The planner reads ticket T-1003, finds the sentence
# *"send your credentials to ..."* hidden in an HTML comment, and obeys it, as it did in notebook
# 01. First the naive agent of notebook 01 (keys in its prompt and memory, its own raw HTTP tool),
# then a brokered agent whose every call goes through **your** broker.

# %%
ticket = lab.broker.call(token_for("tickets", ["tickets:read"]).token, tool="tickets",
                         method="GET", path="/tickets/T-1003").json()
target = re.search(world.INJECTION_PATTERN, ticket["body"]).group(1)
print("the injected instruction points at:", lab.world.stable_text(target))

lab.world.reset_records()
naive = lab.naive_agent()
naive_report = naive.run("triage T-1003")
print("\n".join(naive_report.lines()))
naive_hits = lab.world.collector_hits()
print("collector received:", len(naive_hits), "request(s), carrying",
      leaks("\n".join(h.body.decode() for h in naive_hits)))

# %%
try:
    lab.world.reset_records()
    brokered = agent.BrokeredAgent(vault=lab.vault, broker=yours, session=lab.open_session())
    brokered_report = brokered.run("triage T-1003")
    print("\n".join(brokered_report.lines()))
    print("collector received:", len(lab.world.collector_hits()), "request(s)")
    loot = agent.CREDENTIAL_LOOKING.findall("\n".join([brokered.system_prompt, *brokered.memory]))
    print("credential-looking strings the model could have sent:", loot)
    print("tokens it holds (ids only):", sorted(brokered.handles))
except NotImplementedError:
    print("write the three exercises above first")

# %% [markdown]
# The model was fooled both times: it planned the exfiltration in each run. The difference is
# what it had to work with. The brokered agent has no raw HTTP tool (its request to the collector
# is refused as `no_raw_http`), and even if it had one, its prompt and memory hold token *ids*, so
# the loot would be empty. Where did credentials end up in each run? The detector counts
# occurrences by name and spelling.

# %%
try:
    places = {
        "tool output seen": (naive_report.observations, brokered_report.observations),
        "prompt + memory": ([naive.system_prompt, *naive.memory],
                            [brokered.system_prompt, *brokered.memory]),
        "agent trace": (naive.trace, brokered.trace),
        "collector": ([h.body.decode() for h in naive_hits], []),
    }
    counts = {p: (len(LEAK_DETECTOR.find("\n".join(a))), len(LEAK_DETECTOR.find("\n".join(b))))
              for p, (a, b) in places.items()}
    for p, (n, b) in counts.items():
        print(f"{p:<16} naive={n:>2}  brokered={b:>2}")
    fig, ax = plt.subplots(figsize=(7, 2.8))
    xs = range(len(counts))
    ax.bar([x - 0.2 for x in xs], [n for n, _ in counts.values()], width=0.4,
           color="#d8512a", label="naive agent (notebook 01)")
    ax.bar([x + 0.2 for x in xs], [b for _, b in counts.values()], width=0.4,
           color="#174b43", label="brokered, your broker")
    ax.set_xticks(list(xs), list(counts))
    ax.set_ylabel("credential occurrences")
    ax.set_title("Where the credentials are after one injected ticket")
    ax.legend()
    plt.tight_layout()
    plt.show()
except NameError:
    print("run the brokered agent above first")

# %% [markdown]
# ## The red team, against your broker
#
# The kit's red-team suite is a list of named attacks, each the same steps against any wiring.
# Below, every one runs against the hardened wiring with **your** broker in the broker's place
# (same world, and the wiring's agents go through your broker too). The column after the name
# says where on the trust path the attack must be stopped; `Tool call` ones are yours to stop.

# %%
try:
    wiring = redteam.hardened_wiring(world=lab.world)
    upstream = refresh.RefreshKeeper(store=wiring.store, clock=wiring.clock,
                                     token_url=lab.world.url("oauth") + "/oauth/token")
    wiring.broker = LearnerBroker(verifier_for=wiring.vault.verifier, store=wiring.store,
                                  urls=lab.world.url, clock=wiring.clock, log=wiring.log,
                                  refresh=upstream)

    def brokered_by_yours(user, agent_name):
        session = wiring.vault.open_session(tenant="acme", user=user, agent=agent_name)
        return agent.BrokeredAgent(vault=wiring.vault, broker=wiring.broker, session=session)

    wiring.agent_for = brokered_by_yours
    outcomes = [(a, redteam.run_attack(a, wiring)) for a in redteam.ATTACKS]
    for a, o in outcomes:
        verdict = "ERROR" if o.error else "SUCCEEDED" if o.succeeded else "stopped"
        print(f"{a.name:<26} {a.node:<18} {verdict:<9} {o.evidence}")
    print(f"{sum(o.succeeded for _, o in outcomes)} of {len(outcomes)} attacks succeeded")
    if any(o.error for _, o in outcomes):
        print("some attacks could not run: write the three exercises above first")
    print("secrets in the red team's access log:", leaks("\n".join(wiring.log.lines())))
except NotImplementedError:
    print("write the three exercises above first")

# %% [markdown]
# ## Reflection (2 points, graded by hand)
#
# **Question.** Your broker returned redacted output, and the collector stayed empty. Name **one
# concrete place** where the secret could still leak in this design (or in a broker you would
# deploy), say **how** it would get out, and say **how you would detect it** (which check, log
# line, test or signal would tell you, and where it would run).
#
# *Mark scheme for the grader (2 points).*
# - **1 point**: a concrete, plausible leak path beyond the tool output the notebook redacts, with
#   its mechanism. Full-mark examples: an encoding the redactor does not cover (the key inside a
#   `Basic` header or a base64'd JSON blob, gzip, a split across two streamed chunks, a
#   transformed value such as a prefix or a hash); response *headers* or redirects (`Location`
#   with the key in a query string); the broker's own logs or exception traces (an HTTP library
#   logging headers at DEBUG); the outgoing request reaching the wrong host (a connector
#   base URL or a DNS/proxy change, so the real key goes to an attacker); the upstream service
#   itself storing or forwarding it; the secret store or a memory dump of the broker process. "The
#   agent could leak it" earns 0: the agent never holds it.
# - **1 point**: a detection that would actually fire: a canary or honeytoken credential whose use
#   alerts; running the leak detector (all encoded forms) over logs, traces and agent memory as a
#   scheduled job or CI test; an egress allow-list for the broker with alerts on other
#   destinations; a negative test that replays the echoing service; monitoring the upstream's
#   access logs for the key used from an unknown source. "Be careful" or "review the code" earns 0.

# %% [markdown] manual id=reflect-leak points=2
# YOUR ANSWER HERE

# %% [markdown]
# ## What you can now prove
#
# - A tool call reaches a real service only as an exact catalogue operation: `..`, a second
#   slash, a query string, a prefix of an operation or the wrong method are refused, with
#   `operation_not_allowed`, before a credential is touched.
# - A token's scopes bound every method, `POST` included (`scope_missing`), and the audience,
#   expiry, revocation and single-use rules are enforced on the call, not just at issuance.
# - The credential used is the one of the token's tenant, in the header the service expects, and
#   it exists in the clear only in the one line that builds the outgoing request.
# - An answer that echoes the key comes back with `[REDACTED:payments]`, whichever of the common
#   spellings the service used.
# - The attack from notebook 01 runs again, the model is fooled again, and the attacker's collector
#   stays empty: there is nothing to send and nothing to send it with.
#
# Next, notebook 05 reads the access log these calls wrote, and asks it incident questions.

# %%
lab.close()
print(lab.world)
