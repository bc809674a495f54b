# %% [markdown]
# # 02 · Short-lived tokens
#
# **Layer: University student** · node: Short-lived token · core path about 85 minutes (sections
# marked *optional* are extra and ungraded)
#
# In notebook 01 the agent held the master key, and one injected sentence was enough to send it
# away. The repair starts here: instead of a key, the vault hands the agent a *pass* that names one
# tool, one tenant, one task and a few minutes of validity, signed so that nobody can change a word
# of it. This notebook takes that pass apart, builds one, and then tries every trick an attacker
# would try to make a tool believe a pass it should refuse.
#
# **Goals**
#
# - Read a JWT: header, claims, signature, and what each part does and does not prove.
# - Explain why the vault signs with Ed25519 (EdDSA), and how `kid` and a JWKS let a tool find the
#   right public key through a key rotation.
# - Issue a token that carries exactly the facts of one decision and refuses to live long.
# - Verify a token so that every forgery in the course's catalogue is refused with an error that
#   names the reason, and a genuine token that lives too long is refused too.
# - Show that a formally valid token still needs the tool to compare its facts with the call in
#   front of it, and decide, as the engineer on call, which session a refusal should cost.
#
# The attacker's trick in this notebook enters at the token itself: a pass edited after signing,
# a pass that signs itself, a pass that lives for a month.
#
# ```mermaid
# flowchart LR
#   A["Agent request"] --> P["Vault policy"] --> T["Short-lived token"] --> C["Tool call"] --> L["Access log"]
#   X["Attacker trick"] -.-> T
#   classDef focus fill:#edf7f4,stroke:#174b43,stroke-width:3px,color:#121417
#   classDef attacker fill:#fff1eb,stroke:#d8512a,stroke-width:2px,color:#121417
#   class T focus
#   class X attacker
# ```
#
# > **The four questions, for the short-lived token**
# >
# > - *Who is trusted?* The vault's signing key, and nothing else: not the agent that carries the
# >   pass, not the header the pass brings along.
# > - *What proof?* An Ed25519 signature over the exact bytes of header and claims, checked with a
# >   public key the tool took from the vault's published key set (JWKS), plus claims that name this
# >   tool, this vault and a time window that includes *now*.
# > - *Where is the check?* At the tool, before it acts: the verifier you write in Exercise 2, then
# >   the call check of Exercise 3.
# > - *What if it is fooled?* The tool acts for whoever wrote the pass, in whatever tenant they
# >   wrote, and the access log records a false story as a true one.
#
# The lab runs on a manual clock that starts at 2026-01-01 00:00 UTC and only moves when we say so,
# and its keys come from a fixed seed, so every output below is the same on every run.

# %% locked id=setup
import base64
import dataclasses
import json
import pprint

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from course import clock, errors, forge, grading, keys, taxonomy, tokens

ISSUER = "https://vault.lab"  # the one vault our tools trust
TOOL = "tickets"              # the tool this notebook plays: its name is its audience
MAX_TTL = 900                 # the longest life our vault gives a token: 15 minutes
DEFAULT_LEEWAY = tokens.DEFAULT_LEEWAY  # 5 s of clock skew forgiven; never more than tokens.MAX_LEEWAY
BURST = 3                     # expiry refusals from one session within the window that mean replay

lab_clock = clock.ManualClock()                               # 2026-01-01T00:00:00Z, frozen
ring = keys.KeyRing(clock=lab_clock, seed="lab")              # the vault's signing keys
attacker_ring = keys.KeyRing(clock=lab_clock, seed="attacker")  # keys the vault never trusted


def private_bytes(key):
    """The raw 32 bytes of a vault SigningKey's private half (what issue_token receives)."""
    return key.private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                     serialization.NoEncryption())


def signing_key(raw):
    """Given helper: the Ed25519 private key object PyJWT signs with, from its raw 32 bytes."""
    return Ed25519PrivateKey.from_private_bytes(raw)


def trusted_keys(jwks):
    """Given helper: ``{kid: Ed25519 public key}`` for every key of a published JWKS document.

    Raises:
        errors.ConfigurationError: the document is not a JWKS of Ed25519 keys, or names a kid twice.
    """
    source = keys.JWKSKeys(jwks)
    return {jwk["kid"]: source.public_key(jwk["kid"]) for jwk in jwks["keys"]}


print(lab_clock, ring)

# %% [markdown]
# ## 1. Three parts, one signature
#
# A vault decision says: *agent `helpdesk-bot`, acting for user `ada` of tenant `acme`, may read and
# comment on tickets for task `triage-4711` during the next five minutes.* The kit's reference
# issuer turns those facts into a token. We look inside it with `forge.peek`, which decodes without
# verifying anything (that is exactly why it is only fit for display) and shortens the signature.

# %%
now = lab_clock.now()
facts = tokens.TokenClaims(
    iss=ISSUER, sub="helpdesk-bot", aud=TOOL, user="ada", tenant="acme", task="triage-4711",
    session="sess-0001", scopes=("tickets:read", "tickets:comment"),
    iat=now, nbf=now, exp=now + 300, jti="tok-0001",
)
token = tokens.issue(facts, ring.active)
pprint.pprint(forge.peek(token), sort_dicts=False)

# %% [markdown]
# The token is three base64url segments joined by dots: `header.claims.signature`. Base64url is an
# *encoding*, not encryption: anyone who holds the token can read every claim, so a token must never
# carry a secret. What protects it is the signature, computed over the exact bytes
# `header.claims`. Change one byte of either and the signature no longer matches.

# %%
def b64url_json(segment):
    """Decode one base64url JSON segment (JOSE drops the '=' padding, so we add it back)."""
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


header_part, claims_part, signature_part = token.split(".")
print("header segment", header_part[:10] + "...", "decodes to", b64url_json(header_part))
print("claims segment", claims_part[:10] + "...", "decodes to a dict of", len(b64url_json(claims_part)), "claims")
signature = base64.urlsafe_b64decode(signature_part + "=" * (-len(signature_part) % 4))
print("signature:", len(signature), "bytes over", len(header_part) + 1 + len(claims_part), "bytes of header.claims")

# %% [markdown]
# Now the first attack: the agent (or whoever stole its token) edits the tenant to `globex` and keeps
# the old signature. `forge.tamper` does exactly that. The kit's verifier refuses it, and the error
# type says why. Keep this event in mind: the "switch the lens" section comes back to it.

# %%
verifier = tokens.Verifier(keys=ring, issuer=ISSUER, audience=TOOL, clock=lab_clock, max_ttl=MAX_TTL)
tampered = forge.tamper(token, tenant="globex")
print("tampered claims say tenant =", forge.peek(tampered)["claims"]["tenant"])
try:
    verifier.verify(tampered)
except errors.TokenError as exc:
    tamper_refusal = exc
    print(f"{type(exc).__name__} (code {exc.code!r}): {exc}")
print("the genuine token verifies for tenant", verifier.verify(token).claims.tenant)

# %% [markdown]
# ## 2. Why EdDSA (Ed25519)
#
# The vault signs; many tools verify. With an *asymmetric* signature the vault keeps the private
# key and publishes only the public one, so a tool that can check a token cannot mint one. With an
# HMAC (`HS256`) every verifier holds the same secret as the issuer, so every tool, and every log
# or crash dump of every tool, could forge tokens for all the others.
#
# Among asymmetric choices, Ed25519 is the one with the fewest ways to get wrong:
#
# - **No parameters to choose.** One curve, one hash, no padding mode (RSA has PKCS#1 v1.5 and PSS),
#   no curve list (ECDSA has several), so there is no second variant for an attacker to ask for.
# - **Deterministic signatures.** ECDSA needs a fresh random nonce per signature, and a repeated or
#   biased nonce leaks the private key (it has happened to game consoles and wallets). Ed25519
#   derives the nonce from the key and the message: same input, same signature, no RNG to fail.
#   It also makes our outputs reproducible.
# - **Small and fast.** A 32-byte public key, a 64-byte signature, tens of microseconds to verify.

# %%
again = tokens.issue(facts, ring.active)
print("same facts, same key -> identical token:", again == token)
jwks = ring.jwks()
print("what the vault publishes (JWKS):")
pprint.pprint(jwks, sort_dicts=False)
print("private fields in it:", sorted(set(jwks["keys"][0]) & {"d", "p", "q", "k"}))

tool_side_keys = keys.JWKSKeys(jwks)  # what a tool builds from the published document
tool_verifier = tokens.Verifier(keys=tool_side_keys, issuer=ISSUER, audience=TOOL, clock=lab_clock,
                                max_ttl=MAX_TTL)
print("the tool verifies with public keys only:", tool_verifier.verify(token).claims.jti)

# %% [markdown]
# ## 3. `kid` and rotation
#
# The header's `kid` (key id) tells the verifier *which* trusted public key to use; here it is the
# key's RFC 7638 thumbprint. It is a lookup hint, never a source of trust: the verifier looks the
# id up in its own list of trusted keys (the JWKS) and refuses ids it does not know. A token that
# carries its own key (a `jwk` header) or a URL to fetch one from is vouching for itself.
#
# `kid` is what makes rotation painless. When the vault rotates, new tokens carry the new `kid`,
# and the old public key stays published until the last token it signed has expired. A key that
# *leaked* is dropped from the JWKS at once, and every token it signed dies with it. The cell below
# uses its own clock and key ring, so it does not disturb the rest of the notebook.

# %%
rotation_clock = clock.ManualClock()
rotation_ring = keys.KeyRing(clock=rotation_clock, seed="rotation-demo", max_token_ttl=MAX_TTL)
rotation_verifier = tokens.Verifier(keys=rotation_ring, issuer=ISSUER, audience=TOOL, clock=rotation_clock)
old_kid = rotation_ring.active.kid
before = tokens.issue(facts, rotation_ring.active)
new_kid = rotation_ring.rotate().kid
after = tokens.issue(facts, rotation_ring.active)
print("published kids after rotation:", [k["kid"] == old_kid for k in rotation_ring.jwks()["keys"]],
      "(the old one, then the new one)")
print("token signed before rotation:", rotation_verifier.verify(before).kid == old_kid)
print("token signed after rotation: ", rotation_verifier.verify(after).kid == new_kid)
rotation_ring.compromise(old_kid)
print("after the old key is reported leaked, the JWKS holds", len(rotation_ring.jwks()["keys"]), "key")
try:
    rotation_verifier.verify(before)
except errors.TokenError as exc:
    print("old key reported leaked ->", type(exc).__name__, "-", exc)

# %% [markdown]
# ## 4. The claims: the facts of one decision
#
# Every claim answers one question a tool must be able to ask. Our verifier treats all twelve as
# **required**: a token that lacks one is refused, even under a perfect signature.
#
# | claim | answers | example |
# |---|---|---|
# | `iss` | which vault issued it? | `https://vault.lab` |
# | `sub` | which agent holds it? | `helpdesk-bot` |
# | `aud` | which tool is it for? (exactly one) | `tickets` |
# | `act.sub` | on behalf of which user? (delegation) | `ada` |
# | `tenant` | in whose data? | `acme` |
# | `task`, `session` | for which job, in which agent session? (what revocation cuts) | `triage-4711`, `sess-0001` |
# | `scope` | which operations, space-separated, exact names | `tickets:comment tickets:read` |
# | `iat`, `nbf`, `exp` | issued when, valid from, valid until (seconds since 1970) | `iat + 300` |
# | `jti` | which token is this? (logs, replay, single use) | `tok-0001` |
#
# "Required, not merely checked" is a real trap. PyJWT checks `exp` *if it is present*, and by default
# a token without `exp` simply never expires. PyJWT also reads the wall clock, while our lab lives on
# 2026-01-01: another reason the kit does its own time checks against an injected clock.

# %%
no_exp = forge.resign({k: v for k, v in facts.to_payload().items() if k != "exp"}, ring.active)
relaxed = jwt.decode(no_exp, ring.active.public, algorithms=["EdDSA"], audience=TOOL, issuer=ISSUER)
print("PyJWT, default options, token without exp -> accepted; has exp?", "exp" in relaxed)
try:
    jwt.decode(no_exp, ring.active.public, algorithms=["EdDSA"], audience=TOOL, issuer=ISSUER,
               options={"require": ["exp"]})
except jwt.MissingRequiredClaimError as exc:
    print("PyJWT, require=['exp']      ->", type(exc).__name__, "-", exc)
try:
    jwt.decode(token, ring.active.public, algorithms=["EdDSA"], audience=TOOL, issuer=ISSUER)
except jwt.ExpiredSignatureError as exc:
    print("PyJWT on the wall clock     ->", type(exc).__name__, "(the lab's 2026-01-01 token is long gone)")
try:
    verifier.verify(no_exp)
except errors.TokenError as exc:
    print("the kit's verifier          ->", type(exc).__name__, "-", exc)

# %% [markdown]
# ## Exercise 1 · Issue a token (3 points)
#
# The vault's policy (notebook 03) hands you its decision as plain data, and you sign it. What must
# hold of every token you return:
#
# - **It says exactly what was decided, and nothing more.** The twelve claims of the table, filled
#   from the decision (`sub` is the agent, `aud` the tool, `act` is `{"sub": user}`), and no other
#   field: anyone who holds a token can read it, so the decision's internal `reason` stays out.
# - **Every granted scope arrives as exactly that scope.** `scope` is the granted scopes, sorted,
#   without duplicates, joined by single spaces. A "scope" that is not one word would become
#   several scopes once joined, so it is refused with `errors.ConfigurationError`.
# - **It is short-lived.** Issued now (`iat = nbf = now`), it expires exactly `ttl` seconds later;
#   a lifetime outside 1..`MAX_TTL` seconds is refused with `errors.ConfigurationError` before
#   anything is signed.
# - **A tool can check it.** Signed with PyJWT (`jwt.encode`) under EdDSA with the vault's key
#   (`signing_key(private_key)` turns the raw bytes into the key object); the header names the key
#   (`"kid"`) and the token type (`"typ": "vault+jwt"`); PyJWT writes `alg` itself.
#
# Do the work yourself: the checks notice if you hand it to the kit's `tokens.issue` or
# `tokens.TokenClaims.to_payload`. They verify your token with the kit's own verifier, so every claim
# must be exactly right.

# %% solution id=issue-token
def issue_token(decision, *, private_key, kid, now, ttl):
    """Sign the facts of one vault decision as a short-lived EdDSA token and return it (a str).

    Args:
        decision: the policy's decision, a dict: ``issuer``, ``agent``, ``tool``, ``user``,
            ``tenant``, ``task``, ``session``, ``jti`` (strings), ``scopes`` (a list of strings)
            and ``reason`` (the policy's explanation, which stays out of the token).
        private_key: the vault's Ed25519 private key as raw 32 bytes.
        kid: the id the vault's JWKS publishes for that key.
        now: the vault's clock, in whole seconds since 1970.
        ttl: the lifetime asked for, in seconds.

    Raises:
        errors.ConfigurationError: ``ttl`` is not between 1 and MAX_TTL, or a scope is not one word.
    """
    ### BEGIN SOLUTION
    if type(ttl) is not int or not 0 < ttl <= MAX_TTL:
        raise errors.ConfigurationError(f"a token lives between 1 and {MAX_TTL} seconds")
    scopes = set(decision["scopes"])
    if any(type(s) is not str or s.split() != [s] for s in scopes):
        raise errors.ConfigurationError("every scope must be exactly one word")
    claims = {
        "iss": decision["issuer"], "sub": decision["agent"], "aud": decision["tool"],
        "act": {"sub": decision["user"]}, "tenant": decision["tenant"], "task": decision["task"],
        "session": decision["session"], "scope": " ".join(sorted(scopes)),
        "iat": now, "nbf": now, "exp": now + ttl, "jti": decision["jti"],
    }
    header = {"kid": kid, "typ": "vault+jwt"}
    return jwt.encode(claims, signing_key(private_key), algorithm="EdDSA", headers=header)
    ### END SOLUTION

# %% tests id=test-issue-token points=3
"""Check that issue_token signs exactly the decision's facts, for at most MAX_TTL seconds, under a key the tool finds."""
_ring = keys.KeyRing(clock=lab_clock, seed="check-issue")
_now = lab_clock.now()
_decision = {"issuer": ISSUER, "agent": "helpdesk-bot", "tool": TOOL, "user": "ada", "tenant": "acme",
             "task": "triage-4711", "session": "sess-0001", "jti": "tok-0001",
             "scopes": ["tickets:read", "tickets:comment", "tickets:read"],
             "reason": "grant g-12: helpdesk-bot triages acme tickets for its user"}


def _issue(ttl=300, **changes):
    return issue_token(dict(_decision, **changes), private_key=private_bytes(_ring.active),
                       kid=_ring.active.kid, now=_now, ttl=ttl)


with grading.tripwire(tokens, "issue"), grading.tripwire(tokens.TokenClaims, "to_payload"):
    _token = _issue()
    for _bad in (0, MAX_TTL + 1, 86400):
        grading.expect_raises(lambda: _issue(ttl=_bad), errors.ConfigurationError,
                              "a short-lived token is short",
                              f"ttl={_bad} must be refused with ConfigurationError before signing")
    grading.expect_raises(lambda: _issue(scopes=["tickets:read tickets:admin"]), errors.ConfigurationError,
                          "one granted scope is one scope on the token",
                          "the 'scope' 'tickets:read tickets:admin' would reach the tool as two scopes")
grading.expect(type(_token) is str, "a token is a compact JWS string", "return the str jwt.encode gives you")
_seen = forge.peek(_token)
grading.expect(grading.exactly(_seen["header"], {"alg": "EdDSA", "kid": _ring.active.kid, "typ": "vault+jwt"}),
               "the header names the algorithm, the key and the token type",
               "the header must be exactly alg EdDSA, the key's kid and typ vault+jwt")
grading.expect(grading.exactly(sorted(_seen["claims"]), sorted(tokens.REQUIRED_CLAIMS)),
               "the token carries the decision's facts and nothing more",
               "exactly the twelve claims of the table: anyone can read a token")
grading.expect(_seen["claims"]["iat"] == _now and _seen["claims"]["exp"] - _seen["claims"]["iat"] == 300,
               "the token lives exactly ttl seconds from now", "iat = nbf = now and exp = now + ttl (seconds)")
_kit = tokens.Verifier(keys=keys.JWKSKeys(_ring.jwks()), issuer=ISSUER, audience=TOOL, clock=lab_clock,
                       max_ttl=MAX_TTL)
try:
    _got = _kit.verify(_token).claims
except errors.TokenError as _exc:
    raise grading.PropertyBroken("a tool can verify what the vault signs",
                                 f"the kit's verifier refused your token ({_exc.code}): {_exc}") from None
grading.expect_same(_got, tokens.TokenClaims(
    iss=ISSUER, sub="helpdesk-bot", aud=TOOL, user="ada", tenant="acme", task="triage-4711",
    session="sess-0001", scopes=("tickets:comment", "tickets:read"), iat=_now, nbf=_now, exp=_now + 300,
    jti="tok-0001"), "every claim is a fact of this decision",
    "compare each claim with the table: agent, tool, user, tenant, task, session, scopes, jti")
print("issue_token: exact claims, exact header, lifetime capped, one scope per scope; the kit verifies it")
### BEGIN HIDDEN TESTS
def _hidden_issue_checks():
    c = clock.ManualClock(start=clock.LAB_EPOCH + 1000)
    ring_ = keys.KeyRing(clock=c, seed="hidden-issue")
    ring_.rotate()  # the active kid is not the first one the JWKS lists
    decision = {"issuer": "https://vault.hidden", "agent": "deploy-bot", "tool": "deploys",
                "user": "grace", "tenant": "globex", "task": "release-9", "session": "sess-77",
                "jti": "tok-0099", "scopes": ["deploy:staging", "deploy:read", "deploy:staging"],
                "reason": "grant g-3"}

    def issue(ttl=120, **changes):
        return issue_token(dict(decision, **changes), private_key=private_bytes(ring_.active),
                           kid=ring_.active.kid, now=c.now(), ttl=ttl)

    with grading.tripwire(tokens.TokenClaims, "to_payload"), grading.tripwire(tokens, "issue"):
        tok = issue()
        for bad in (-5, 0, MAX_TTL + 1):
            grading.expect_raises(lambda: issue(ttl=bad), errors.ConfigurationError,
                                  "a short-lived token is short", "a lifetime outside the cap is refused")
        for ok in (1, MAX_TTL):
            grading.expect(type(issue(ttl=ok)) is str, "lifetimes inside the cap are allowed",
                           "the bounds of the cap are valid lifetimes")
        for smuggled in (["deploy:read\tdeploy:prod"], ["deploy:read", ""], [" deploy:read"]):
            grading.expect_raises(lambda: issue(scopes=smuggled), errors.ConfigurationError,
                                  "one granted scope is one scope on the token", "a scope that is not exactly one word is refused")
    v = tokens.Verifier(keys=keys.JWKSKeys(ring_.jwks()), issuer="https://vault.hidden",
                        audience="deploys", clock=c, leeway=0, max_ttl=MAX_TTL)
    now = c.now()
    grading.expect_same(v.verify(tok).claims, tokens.TokenClaims(
        iss="https://vault.hidden", sub="deploy-bot", aud="deploys", user="grace", tenant="globex",
        task="release-9", session="sess-77", scopes=("deploy:read", "deploy:staging"),
        iat=now, nbf=now, exp=now + 120, jti="tok-0099"),
        "every claim is a fact of this decision", "another decision's claims differ")
    grading.expect_same(forge.peek(tok)["header"], {"alg": "EdDSA", "kid": ring_.active.kid, "typ": "vault+jwt"},
                        "the header names the algorithm, the key and the token type", "the header names the active key")
    grading.expect_same(sorted(forge.peek(tok)["claims"]), sorted(tokens.REQUIRED_CLAIMS),
                        "the token carries the decision's facts and nothing more", "exactly twelve claims")
    c.advance(120)
    grading.expect_raises(lambda: v.verify(tok), errors.ExpiredTokenError,
                          "the token lives exactly ttl seconds", "it must expire at now + ttl")


_hidden_issue_checks()
### END HIDDEN TESTS

# %% [markdown]
# Your issuer at work (this cell waits politely until `issue_token` is written):

# %%
try:
    mine = issue_token({"issuer": ISSUER, "agent": "helpdesk-bot", "tool": TOOL, "user": "ada",
                        "tenant": "acme", "task": "triage-4711", "session": "sess-0001", "jti": "tok-0002",
                        "scopes": ["tickets:read", "tickets:comment", "tickets:read"],
                        "reason": "grant g-12"},
                       private_key=private_bytes(ring.active), kid=ring.active.kid, now=lab_clock.now(), ttl=300)
    pprint.pprint(forge.peek(mine), sort_dicts=False)
    print("verified by the kit, scopes:", verifier.verify(mine).claims.scopes)
except NotImplementedError:
    print("(write issue_token above first)")

# %% [markdown]
# ## 5. Verifying: what must be true before a tool believes a token
#
# A verifier answers one question: *may this tool believe this token, now?* It believes it only if
# all of the following hold, and it returns the verified claims only then:
#
# - **One token, one spelling.** The token is read with the kit's strict reader,
#   `tokens.unverified_header`: every segment is the one canonical base64url spelling of its bytes
#   and the header never repeats a member. A lenient reader would take `token + "=="` as the same
#   token, so a deny-list or a replay cache keyed by the token string could be walked around.
# - **The tool chooses the algorithm, never the token.** The header says `"alg": "EdDSA"`, but the
#   header is written by whoever made the token. A verifier that lets it choose can be told
#   `"alg": "none"` (no signature at all), or `"alg": "HS256"`: then it computes an HMAC keyed with
#   the bytes of the key it holds, which is the vault's *public* key, published for anyone to
#   download. The attacker does the same computation and the "signature" matches. This is *key
#   confusion*. The cure is a constant list of accepted algorithms in the verifier's own code.
# - **Keys come only from the trusted JWKS, found by `kid`.** `trusted_keys(jwks)` (given) turns
#   the published document into `{kid: public key}`; a `kid` that is not there is refused, and a key
#   the token brings along (`jwk`) is never used.
# - **The signature holds**, checked with `jwt.decode` under your pinned list (switch PyJWT's own
#   time, audience and issuer checks off: it reads the wall clock, and you check them yourself).
# - **It is a vault token with every claim.** `typ` is `"vault+jwt"`, and all twelve claims are
#   present with the right types: `tokens.TokenClaims.from_payload(payload)` (given) does that
#   bookkeeping and raises `MissingClaimError` / `InvalidClaimError` for you.
# - **From our vault, for this tool:** `iss` equals `issuer` and `aud` equals `audience`, exactly.
# - **Valid now, by our clock, with a small capped leeway.** Clocks drift, so we forgive `leeway`
#   seconds around `nbf` and `exp`; a leeway above `tokens.MAX_LEEWAY` (30 s) is a configuration
#   error. Expired means `exp <= now - leeway`; not yet valid means `nbf` or `iat` after `now + leeway`.
# - **Short-lived, even when genuine.** The lifetime the vault gave it, `exp - iat`, is at most
#   `max_ttl`. A 30-day token that the vault really signed is still refused: a signature proves who
#   wrote the token, not that the tool should accept what was written.
#
# **Raise, never return `False`.** A `bool` is easy to drop (`verify(token)` on a line of its own),
# easy to invert, and says nothing about *why*. A verifier that returns the verified claims or raises
# a typed error cannot be ignored by accident, and the error's `code` goes to the access log.
#
# The course's attacker has a catalogue of forged and wrong tokens, `forge.catalogue`. Here it is,
# built from our genuine token, with the error a correct verifier raises and the property each one
# tests. The two algorithm attacks meet `forge.gullible_verify` first, a deliberately broken
# hand-rolled verifier of the kind they were invented for.

# %% locked id=catalogue
FORGERY_ERRORS = (errors.BadSignatureError, errors.DisallowedAlgorithmError, errors.UnknownKeyError,
                  errors.MalformedTokenError)


def property_of(attack_name):
    """The security property a forge attack tests, in the words the checks use."""
    rules = (
        (("tampered-", "extended-expiry", "dropped-exp"), "the signature covers every claim"),
        (("alg-", "hs256-"), "the tool chooses the algorithm, never the token"),
        (("attacker-key-vault-kid", "embedded-jwk"), "only the vault's key signs, and a token never brings its own"),
        (("attacker-key", "no-kid"), "keys come only from the trusted JWKS, found by kid"),
        (("wrong-typ",), "only vault tokens are accepted"),
        (("two-segments",), "one token, one spelling"),
        (("expired",), "tokens expire"),
        (("not-yet-valid", "issued-in-future"), "a token is not valid before its time"),
        (("long-lived",), "a token's lifetime is capped by the tool"),
        (("wrong-audience", "multi-audience"), "a token is for exactly this tool"),
        (("wrong-issuer",), "only the trusted vault issues tokens"),
        (("missing-",), "every claim is required"),
    )
    for prefixes, prop in rules:
        if attack_name.startswith(prefixes):
            return prop
    return "a forged token is refused"


# %%
catalogue = forge.catalogue(facts.to_payload(), vault_key=ring.active, attacker_key=attacker_ring.active,
                            now=lab_clock.now())
print(f"{len(catalogue)} attacks")
for attack in catalogue:
    print(f"{attack.name:24} {attack.rejects_with[0].__name__:25} {property_of(attack.name)}")

# %%
by_name = {a.name: a for a in catalogue}
for name in ("alg-none", "hs256-public-key-raw"):
    attack = by_name[name]
    believed = forge.gullible_verify(attack.token, jwks["keys"][0])
    print(f"{name:22} header alg={forge.peek(attack.token)['header']['alg']!r:8}",
          f"gullible verifier believes tenant={believed['tenant']!r};", end=" ")
    try:
        verifier.verify(attack.token)
    except errors.TokenError as exc:
        print("kit:", type(exc).__name__)
try:
    tokens.VerifiedToken(facts, ring.active.kid, object())
except TypeError as exc:
    print("forging a VerifiedToken by hand ->", exc)

# %% [markdown]
# ## Exercise 2 · Verify a token (6 points)
#
# Write `verify_token` so that it returns the token's `tokens.TokenClaims` only when every property
# of section 5 holds, and otherwise raises the `course.errors` type that names what failed: the
# catalogue above lists, for each attack, the error to raise (`ConfigurationError` for a leeway
# above the cap, before the token is even read). The order of your checks is yours, as long as
# nothing is believed before it is proven: the signature before any claim.
#
# It takes plain data: the token string, the vault's published JWKS (a dict), the expected issuer
# and audience, and `now` in whole seconds. Do the work yourself: `tokens.Verifier` and `tokens.verify`
# are off limits (the checks notice). The two checks below run the whole catalogue against it, a
# 30-day token presented in its last minutes, the leeway boundaries, a rotated key set and a
# respelled token; the hidden tests add tokens you have not seen.

# %% solution id=verify-token
def verify_token(token, *, jwks, issuer, audience, now, leeway=DEFAULT_LEEWAY, max_ttl=MAX_TTL):
    """Return the claims of ``token`` (a ``tokens.TokenClaims``) if a tool may believe it now.

    Args:
        token: the compact JWS string presented by the agent.
        jwks: the vault's published key set, ``{"keys": [jwk, ...]}`` (public keys only).
        issuer: the one vault this tool trusts.
        audience: this tool's name.
        now: this tool's clock, in whole seconds since 1970.
        leeway: seconds of clock skew forgiven around nbf and exp (at most tokens.MAX_LEEWAY).
        max_ttl: the longest lifetime (exp - iat) this tool accepts.

    Raises:
        errors.ConfigurationError, errors.MalformedTokenError, errors.DisallowedAlgorithmError,
        errors.UnknownKeyError, errors.BadSignatureError, errors.MissingClaimError,
        errors.InvalidClaimError, errors.WrongIssuerError, errors.WrongAudienceError,
        errors.ExpiredTokenError, errors.NotYetValidError: the check that failed.
    """
    ### BEGIN SOLUTION
    if not 0 <= leeway <= tokens.MAX_LEEWAY:
        raise errors.ConfigurationError(f"leeway must be 0..{tokens.MAX_LEEWAY} seconds")
    header = tokens.unverified_header(token)  # strict: one token, one spelling
    pinned = ["EdDSA"]  # the tool's choice, never the token's
    if header.get("alg") not in pinned:
        raise errors.DisallowedAlgorithmError("only EdDSA is accepted")
    if header.get("typ") != "vault+jwt":
        raise errors.InvalidClaimError("typ", "must be 'vault+jwt'")
    kid = header.get("kid")
    public_key = trusted_keys(jwks).get(kid) if isinstance(kid, str) else None
    if public_key is None:
        raise errors.UnknownKeyError("the token's kid is not in the trusted JWKS")
    try:
        payload = jwt.decode(token, public_key, algorithms=pinned, options={
            "verify_exp": False, "verify_nbf": False, "verify_iat": False,
            "verify_aud": False, "verify_iss": False})
    except jwt.InvalidSignatureError:
        raise errors.BadSignatureError("the signature does not match") from None
    except jwt.InvalidTokenError:
        raise errors.MalformedTokenError("the token could not be decoded") from None
    claims = tokens.TokenClaims.from_payload(payload)
    if claims.iss != issuer:
        raise errors.WrongIssuerError("not issued by the vault this tool trusts")
    if claims.aud != audience:
        raise errors.WrongAudienceError("issued for a different tool")
    if claims.exp <= now - leeway:
        raise errors.ExpiredTokenError("the token has expired")
    if claims.nbf > now + leeway or claims.iat > now + leeway:
        raise errors.NotYetValidError("the token is not valid yet")
    if claims.exp - claims.iat > max_ttl:
        raise errors.InvalidClaimError("exp", "the lifetime exceeds this tool's cap")
    return claims
    ### END SOLUTION

# %% tests id=test-verify-token-claims points=3
"""Check that verify_token enforces issuer, audience, time with a capped leeway, and a capped lifetime."""
_vring = keys.KeyRing(clock=lab_clock, seed="check-verify")
_now = lab_clock.now()
_payload = dataclasses.replace(facts, iat=_now, nbf=_now, exp=_now + 300).to_payload()


def _verify(tok, **over):
    return verify_token(tok, **{"jwks": _vring.jwks(), "issuer": ISSUER, "audience": TOOL, "now": _now,
                                **over})


def _signed(**times):
    return forge.resign(forge.retimed(_payload, **times), _vring.active)


with grading.tripwire(tokens, "Verifier", "verify", "_decode_signed"):
    grading.expect_same(_verify(forge.resign(_payload, _vring.active)), tokens.TokenClaims.from_payload(_payload),
                        "a genuine token is accepted, with exactly its claims",
                        "return tokens.TokenClaims of the verified payload")
    for _a in forge.catalogue(_payload, vault_key=_vring.active, attacker_key=attacker_ring.active, now=_now):
        if _a.rejects_with[0] not in FORGERY_ERRORS:
            grading.expect_raises(lambda: _verify(_a.token), _a.rejects_with, property_of(_a.name),
                                  f"{_a.name} ({_a.what}) must raise {_a.rejects_with[0].__name__}")
    grading.expect_raises(lambda: _verify(_signed(iat=_now - 30 * 86400 + 120, exp=_now + 120)),
                          errors.InvalidClaimError, "a token's lifetime is capped by the tool",
                          "a token issued 30 days ago that expires in 2 minutes lived 30 days: "
                          "its lifetime runs from iat, not from now")
    grading.expect_raises(lambda: _verify(forge.resign(_payload, _vring.active), max_ttl=60),
                          errors.InvalidClaimError, "a token's lifetime is capped by the tool",
                          "with max_ttl=60 a 300 s token must be refused")
    _recent = _signed(iat=_now - 303, exp=_now - 3)
    grading.expect(type(_verify(_recent, leeway=5)) is tokens.TokenClaims, "leeway forgives small clock skew",
                   "a token that expired 3 s ago passes with leeway=5")
    grading.expect_raises(lambda: _verify(_recent, leeway=0), errors.ExpiredTokenError, "tokens expire",
                          "with leeway=0 a token that expired 3 s ago is expired")
    grading.expect_raises(lambda: _verify(_signed(iat=_now - 300, exp=_now), leeway=0), errors.ExpiredTokenError,
                          "tokens expire", "a token is expired from its exp second on (exp <= now)")
    _soon = _signed(iat=_now, nbf=_now + 4, exp=_now + 300)
    grading.expect(type(_verify(_soon, leeway=5)) is tokens.TokenClaims, "leeway forgives small clock skew",
                   "nbf 4 s ahead passes with leeway=5")
    grading.expect_raises(lambda: _verify(_soon, leeway=0), errors.NotYetValidError,
                          "a token is not valid before its time", "nbf 4 s ahead fails with leeway=0")
    for _bad in (-1, tokens.MAX_LEEWAY + 1, 3600):
        grading.expect_raises(lambda: _verify(forge.resign(_payload, _vring.active), leeway=_bad),
                              errors.ConfigurationError, "leeway is small and capped",
                              f"leeway={_bad} must be refused with ConfigurationError")
print("verify_token: issuer, audience, time, leeway and lifetime hold on every catalogue case")
### BEGIN HIDDEN TESTS
def _hidden_verify_claims():
    c = clock.ManualClock(start=clock.LAB_EPOCH + 7200)
    ring_ = keys.KeyRing(clock=c, seed="hidden-verify")
    attacker_ = keys.KeyRing(clock=c, seed="hidden-attacker").active
    now = c.now()
    payload = tokens.TokenClaims(
        iss="https://vault.hidden", sub="deploy-bot", aud="deploys", user="grace", tenant="globex",
        task="release-9", session="sess-77", scopes=("deploy:read",), iat=now, nbf=now,
        exp=now + 240, jti="tok-0042").to_payload()

    def verify(tok, **over):
        return verify_token(tok, **{"jwks": ring_.jwks(), "issuer": "https://vault.hidden",
                                    "audience": "deploys", "now": now, "max_ttl": 600, **over})

    def signed(**changes):
        return forge.resign({**payload, **changes}, ring_.active)

    with grading.tripwire(tokens, "_decode_signed", "Verifier", "verify"):
        grading.expect_same(verify(signed()), tokens.TokenClaims.from_payload(payload),
                            "a genuine token is accepted, with exactly its claims", "return the claims")
        for attack in forge.catalogue(payload, vault_key=ring_.active, attacker_key=attacker_, now=now):
            if attack.rejects_with[0] not in FORGERY_ERRORS:
                refusal = grading.expect_raises(lambda: verify(attack.token), attack.rejects_with,
                                                property_of(attack.name), "a catalogue token is refused")
                if attack.name.startswith("missing-"):
                    grading.expect(getattr(refusal, "claim", None) == attack.name.removeprefix("missing-"),
                                   "the missing claim is named", "MissingClaimError names the claim")
        for iss in ("https://vault.hidden/", "https://VAULT.hidden", "https://vault.hidden.evil"):
            grading.expect_raises(lambda: verify(signed(iss=iss)), errors.WrongIssuerError,
                                  "only the trusted vault issues tokens", "the issuer is compared exactly")
        for aud in ("Deploys", "deploys-staging", "deploy"):
            grading.expect_raises(lambda: verify(signed(aud=aud)), errors.WrongAudienceError,
                                  "a token is for exactly this tool", "the audience is compared exactly")
        grading.expect(type(verify(signed(iat=now - 360, nbf=now - 360, exp=now + 240))) is tokens.TokenClaims,
                       "a lifetime at the cap is accepted", "exp - iat equal to max_ttl is allowed")
        grading.expect_raises(lambda: verify(signed(iat=now - 361, nbf=now - 361, exp=now + 240)),
                              errors.InvalidClaimError, "a token's lifetime is capped by the tool", "one second over the cap is refused")
        grading.expect_raises(lambda: verify(signed(iat=now - 86400 + 60, nbf=now - 10, exp=now + 60)),
                              errors.InvalidClaimError, "a token's lifetime is capped by the tool", "the lifetime runs from iat")
        late = signed(iat=now - 269, nbf=now - 269, exp=now - 29)
        grading.expect(type(verify(late, leeway=tokens.MAX_LEEWAY)) is tokens.TokenClaims,
                       "leeway forgives small clock skew", "the largest allowed leeway is allowed")
        grading.expect_raises(lambda: verify(late, leeway=29), errors.ExpiredTokenError, "tokens expire",
                              "expiry is measured with the caller's leeway")
        grading.expect_raises(lambda: verify(signed(iat=now + 6, nbf=now + 6, exp=now + 200)),
                              errors.NotYetValidError, "a token is not valid before its time",
                              "iat beyond the leeway is refused")


_hidden_verify_claims()
### END HIDDEN TESTS

# %% tests id=test-verify-token-forgeries points=3
"""Check that verify_token refuses forged, altered, unsigned and respelled tokens, and finds keys only in the JWKS."""
_vring = keys.KeyRing(clock=lab_clock, seed="check-verify")
_now = lab_clock.now()
_payload = dataclasses.replace(facts, iat=_now, nbf=_now, exp=_now + 300).to_payload()
_good = forge.resign(_payload, _vring.active)


def _verify(tok, jwks_=None):
    return verify_token(tok, jwks=jwks_ or _vring.jwks(), issuer=ISSUER, audience=TOOL, now=_now)


with grading.tripwire(tokens, "Verifier", "verify", "_decode_signed"):
    grading.expect_same(_verify(_good), tokens.TokenClaims.from_payload(_payload),
                        "a genuine token is accepted, with exactly its claims",
                        "return tokens.TokenClaims of the verified payload")
    for _a in forge.catalogue(_payload, vault_key=_vring.active, attacker_key=attacker_ring.active, now=_now):
        if _a.rejects_with[0] in FORGERY_ERRORS:
            grading.expect_raises(lambda: _verify(_a.token), _a.rejects_with, property_of(_a.name),
                                  f"{_a.name} ({_a.what}) must raise {_a.rejects_with[0].__name__}")
    grading.expect_raises(lambda: _verify(_good + "=="), errors.MalformedTokenError, "one token, one spelling",
                          "the genuine token with '==' appended is another spelling: read it with the "
                          "strict tokens.unverified_header")
    _rot = keys.KeyRing(clock=lab_clock, seed="check-rotation")
    _first = forge.resign(_payload, _rot.active)
    _old_kid = _rot.active.kid
    _rot.rotate()
    _second = forge.resign(_payload, _rot.active)
    for _tok in (_first, _second):
        grading.expect(type(_verify(_tok, _rot.jwks())) is tokens.TokenClaims,
                       "keys come only from the trusted JWKS, found by kid",
                       "after a rotation the JWKS holds two keys: use the one the token's kid names")
    _rot.compromise(_old_kid)
    grading.expect_raises(lambda: _verify(_first, _rot.jwks()), errors.UnknownKeyError,
                          "keys come only from the trusted JWKS, found by kid",
                          "a key dropped from the JWKS (it leaked) verifies nothing")
print("verify_token: every forgery refused, respelling refused, rotation followed")
### BEGIN HIDDEN TESTS
def _hidden_verify_forgeries():
    c = clock.ManualClock(start=clock.LAB_EPOCH + 7200)
    ring_ = keys.KeyRing(clock=c, seed="hidden-verify", max_token_ttl=600)
    attacker_ = keys.KeyRing(clock=c, seed="hidden-attacker").active
    now = c.now()
    payload = tokens.TokenClaims(
        iss="https://vault.hidden", sub="deploy-bot", aud="deploys", user="grace", tenant="globex",
        task="release-9", session="sess-77", scopes=("deploy:read",), iat=now, nbf=now,
        exp=now + 240, jti="tok-0042").to_payload()

    def verify(tok, published=None):
        return verify_token(tok, jwks=published or ring_.jwks(), issuer="https://vault.hidden",
                            audience="deploys", now=now)

    ring_.rotate()  # the token's key is the second one the JWKS lists
    with grading.tripwire(tokens, "_decode_signed", "Verifier", "verify"):
        attacks = [a for a in forge.catalogue(payload, vault_key=ring_.active, attacker_key=attacker_, now=now)
                   if a.rejects_with[0] in FORGERY_ERRORS]
        attacks.append(forge.Attack(name="garbage", what="not a token", token="not-a-token",
                                    rejects_with=(errors.MalformedTokenError,)))
        for attack in attacks:
            grading.expect_raises(lambda: verify(attack.token), attack.rejects_with,
                                  property_of(attack.name), "a forged token is refused")
        good = forge.resign(payload, ring_.active)
        grading.expect_same(verify(good), tokens.TokenClaims.from_payload(payload),
                            "keys come only from the trusted JWKS, found by kid", "the token's kid names its key")
        head, body, sig = good.split(".")
        for respelled in (f"{head}=.{body}.{sig}", f"{head}.{body}.{sig}=", f" {good}"):
            grading.expect_raises(lambda: verify(respelled), errors.MalformedTokenError,
                                  "one token, one spelling", "another spelling of a token is refused")
        other = keys.KeyRing(clock=c, seed="hidden-other-vault")
        grading.expect_raises(lambda: verify(good, other.jwks()), errors.UnknownKeyError,
                              "keys come only from the trusted JWKS, found by kid", "a key of another JWKS is not trusted")
        planted = forge.resign(payload, attacker_, kid=ring_.active.kid, jwk=attacker_.public_jwk())
        grading.expect_raises(lambda: verify(planted), errors.BadSignatureError,
                              "only the vault's key signs, and a token never brings its own",
                              "a key in the header is never used")


_hidden_verify_forgeries()
### END HIDDEN TESTS

# %% [markdown]
# ### Your verifier beside the kit's, on all 33 attacks
#
# Before a tool trusts your verifier, it must agree with the kit's on every attack the course knows:
# both refuse, with an error the catalogue accepts, and both accept the genuine token with the same
# claims. The cell below runs them side by side and stops with the property at stake on the first
# disagreement. No kit check runs behind yours here: what your column says is what your code did.

# %%
kit_verifier = tokens.Verifier(keys=keys.JWKSKeys(jwks), issuer=ISSUER, audience=TOOL, clock=lab_clock,
                               max_ttl=MAX_TTL)


def outcome(check, tok):
    """'ACCEPTED' or the name of the error a verification function raised."""
    try:
        check(tok)
    except errors.TokenError as exc:
        return type(exc).__name__
    except NotImplementedError:
        raise
    except Exception as exc:  # a crash is an outcome too, and never a correct refusal
        return f"crash: {type(exc).__name__}"
    return "ACCEPTED"


def yours(tok):
    return verify_token(tok, jwks=jwks, issuer=ISSUER, audience=TOOL, now=lab_clock.now())


try:
    disagreements = []
    same_claims = grading.exactly(yours(token), kit_verifier.verify(token).claims)
    print(f"{'genuine token':24} {'ACCEPTED':26} {'ACCEPTED, same claims' if same_claims else 'DIFFERENT CLAIMS'}")
    if not same_claims:
        disagreements.append(("genuine", "a genuine token is accepted, with exactly its claims"))
    for attack in catalogue:
        kit_says, you_say = outcome(kit_verifier.verify, attack.token), outcome(yours, attack.token)
        right = you_say in [e.__name__ for e in attack.rejects_with]
        print(f"{attack.name:24} {kit_says:26} {you_say}{'' if right else '   <-- DISAGREES'}")
        if not right:
            disagreements.append((attack.name, property_of(attack.name)))
except NotImplementedError:
    print("(write verify_token above first)")
else:
    if disagreements:
        first_name, first_property = disagreements[0]
        raise grading.PropertyBroken(first_property, f"your verifier disagrees with the kit on "
                                     f"{len(disagreements)} case(s), first {first_name!r}: "
                                     + ", ".join(n for n, _ in disagreements))
    print(f"your verifier agrees with the kit on the genuine token and all {len(catalogue)} attacks")

# %% [markdown]
# ## Go deeper (optional, ungraded): how long does a stolen token work?
#
# Measured, not computed: for each configuration we give the kit's verifier a token stolen the
# moment it is issued, and search (on manual clocks) for the first second at which the verifier says
# `ExpiredTokenError`. The window is `ttl + leeway`, which is why the lifetime is short and the
# leeway small. An hour of leeway would turn a five-minute token into a 65-minute one, so the kit
# refuses the configuration outright.

# %%
def seconds_accepted(ttl, leeway):
    """Seconds during which the kit's verifier accepts a token stolen at the moment of issue.

    A binary search for the first second at which the verifier says ExpiredTokenError; each probe
    is a verifier on its own manual clock, so nothing here ever sleeps.
    """
    signing = keys.KeyRing(clock=clock.ManualClock(), seed="exposure")
    published = keys.JWKSKeys(signing.jwks())
    stolen = tokens.issue(dataclasses.replace(facts, exp=facts.iat + ttl), signing.active)

    def accepted_at(when):
        check = tokens.Verifier(keys=published, issuer=ISSUER, audience=TOOL,
                                clock=clock.ManualClock(start=when), leeway=leeway)
        try:
            check.verify(stolen)
        except errors.ExpiredTokenError:
            return False
        return True

    first, last = facts.iat, facts.iat + 10 * ttl  # accepted at first, refused at last
    while last - first > 1:
        middle = (first + last) // 2
        first, last = (middle, last) if accepted_at(middle) else (first, middle)
    return last - facts.iat


configs = [(300, 0), (300, 5), (300, 30), (900, 5)]
windows = [seconds_accepted(ttl, leeway) for ttl, leeway in configs]
for (ttl, leeway), seconds in zip(configs, windows):
    print(f"ttl {ttl:4} s, leeway {leeway:2} s -> accepted for {seconds} s")
try:
    tokens.Verifier(keys=ring, issuer=ISSUER, audience=TOOL, clock=lab_clock, leeway=3600)
except errors.ConfigurationError as exc:
    print("ttl  300 s, leeway 3600 s -> refused:", exc)

# %%
import matplotlib.pyplot as plt  # imported here, where the picture is: it takes a second

# %%
fig, ax = plt.subplots(figsize=(7, 2.6))
labels = [f"ttl {t} s, leeway {lw} s" for t, lw in configs] + ["ttl 300 s, leeway 3600 s (refused)"]
ax.barh(labels, windows + [300 + 3600], color=["#174b43"] * len(configs) + ["#d8512a"])
ax.set_xlabel("seconds a stolen token keeps working")
ax.invert_yaxis()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Go deeper (optional, ungraded): one token, one spelling
#
# Base64url has more than one way to write the same bytes: with `=` padding, or with the unused
# low bits of the last character set. A lenient decoder reads such a spelling as the same
# signature (PyJWT accepts the padded one below), so the same token travels under several strings.
# That matters wherever something is keyed by the token string: a deny-list of stolen tokens, a
# single-use cache, a log search for one leaked token. JSON has a second trap:
# `{"aud": "tickets", ..., "aud": "payments"}` is read as `payments` by Python's `json`, but other
# parsers keep the first member, so two components of one system can each believe a different
# audience under the same valid signature (only an issuer that writes JSON by hand produces that,
# which is why the kit refuses it rather than hoping).
#
# The kit reads every token with one strict parser and refuses all of these. The last row goes the
# other way: RFC 9864 (2025) gives Ed25519 its own JOSE name, `Ed25519`, instead of the ambiguous
# `EdDSA` (which could also mean Ed448); the kit accepts both names because it only ever checks
# with an Ed25519 key, while PyJWT 2.15 knows only `EdDSA`. Refusing a name you do not support is
# safe; accepting a spelling the kit refuses is not, so the cell stops if your verifier does.

# %%
def signed_by_vault(header_json, payload_json):
    """A token whose exact header and payload text the vault key signs (an issuer writing JSON by hand)."""
    signing_input = f"{keys.b64url(header_json.encode())}.{keys.b64url(payload_json.encode())}"
    return f"{signing_input}.{keys.b64url(ring.active.private.sign(signing_input.encode()))}"


head, body, sig = token.split(".")
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
flipped = ALPHABET[ALPHABET.index(sig[-1]) ^ 1]  # a padding bit of the last character
plain_header = json.dumps({"alg": "EdDSA", "kid": ring.active.kid, "typ": "vault+jwt"})
doubled = json.dumps(facts.to_payload())[:-1] + ', "aud": "payments"}'
respellings = {
    "padded signature": (token + "==", True),
    "trailing bits set": (f"{head}.{body}.{sig[:-1]}{flipped}", True),
    "aud written twice": (signed_by_vault(plain_header, doubled), False),
    "alg named Ed25519": (signed_by_vault(plain_header.replace('"EdDSA"', '"Ed25519"'),
                                          json.dumps(facts.to_payload())), False),
}
deny_list = {token}  # say this token was reported stolen


def pyjwt_reads(tok):
    try:
        payload = jwt.decode(tok, ring.active.public, algorithms=["EdDSA"],
                             options={"verify_aud": False, "verify_exp": False,
                                      "verify_iat": False, "verify_nbf": False})
    except jwt.InvalidTokenError as exc:
        return type(exc).__name__
    return f"accepted (aud={payload['aud']!r})"


print(f"{'spelling':20} {'on deny-list?':14} {'kit':26} {'PyJWT':28} yours")
for label, (tok, ask_yours) in respellings.items():
    kit_says = outcome(kit_verifier.verify, tok)
    try:
        you_say = outcome(yours, tok) if ask_yours else "-"
    except NotImplementedError:
        you_say = "(not written yet)"
    print(f"{label:20} {str(tok in deny_list):14} {kit_says:26} {pyjwt_reads(tok):28} {you_say}")
    if label != "alg named Ed25519" and kit_says == "ACCEPTED":
        raise grading.PropertyBroken("one token, one spelling", f"the kit accepted {label}")
    if you_say == "ACCEPTED":
        raise grading.PropertyBroken("one token, one spelling",
                                     f"your verifier accepted the {label}: read tokens with tokens.unverified_header")

# %% [markdown]
# ## 6. "The token will enforce what every caller meant"
#
# It will not. A verifier proves that the vault said something: these facts, signed, for this tool,
# still in date. It does not know what the call in front of the tool is about. Suppose ticket
# `T-200` belongs to tenant `globex`, and `ada`'s agent (tenant `acme`) asks the tickets tool to
# read it. The token is genuine, unexpired and addressed to `tickets`: every verifier in this
# notebook accepts it. If the tool stops there, the decision is *formally correct and
# architecturally wrong*: acme's agent reads globex's data.
#
# The facts that matter for this call live on the tool's side: which tool is running (its own name),
# which tenant owns the resource (the tool's own records, never a field the caller sends), and
# which scope the operation needs. The tool must compare them with the token's facts, exactly.

# %%
TICKET_OWNERS = {"T-100": "acme", "T-200": "globex"}  # the tool's own records
verified = verifier.verify(token).claims
print("the kit's verifier accepts the token for tenant", repr(verified.tenant),
      "- the caller asks for T-200, owned by", repr(TICKET_OWNERS["T-200"]))

# %% [markdown]
# ## Exercise 3 · Authorize the call, not just the token (3 points)
#
# Write `authorize_call`, the tool-side check that runs after verification. It compares the verified
# claims (the `tokens.TokenClaims` your `verify_token` returns) with the call's context. It returns
# `None` only when the call is covered, and otherwise raises `errors.AccessDenied(code, reason)`:
#
# - `"wrong_tool"`: the token's audience is not this `tool` (yes, the verifier compared it: this
#   function must not depend on which verifier ran before it);
# - `"wrong_tenant"`: the token's tenant is not the `tenant` that owns the resource;
# - `"scope_missing"`: `scope` is not one of the token's scopes.
#
# Compare whole values exactly: `acme` and `acme-labs` are different customers, `ACME` is not
# `acme`, and `tickets:read` is neither granted by `tickets:read_own` nor a part of it.

# %% solution id=authorize-call
def authorize_call(claims, *, tool, tenant, scope):
    """Refuse a tool call whose context the (already verified) token does not cover.

    Args:
        claims: the ``tokens.TokenClaims`` of a token that passed verification.
        tool: the name of the tool doing this check.
        tenant: the tenant that owns the resource the call touches (from the tool's records).
        scope: the scope the requested operation needs.

    Raises:
        errors.AccessDenied: code "wrong_tool", "wrong_tenant" or "scope_missing".
    """
    ### BEGIN SOLUTION
    if claims.aud != tool:
        raise errors.AccessDenied("wrong_tool", "the token was issued for another tool")
    if claims.tenant != tenant:
        raise errors.AccessDenied("wrong_tenant", "the resource belongs to another tenant")
    if scope not in claims.scopes:
        raise errors.AccessDenied("scope_missing", f"the token does not grant {scope!r}")
    return None
    ### END SOLUTION

# %% tests id=test-authorize-call points=3
"""Check that authorize_call refuses a valid token at another tool, on another tenant's resource, or for a scope it lacks."""
_claims = dataclasses.replace(facts, scopes=("tickets:comment", "tickets:read_own"))
grading.expect(authorize_call(_claims, tool=TOOL, tenant="acme", scope="tickets:comment") is None,
               "a covered call passes", "acme's token commenting on an acme ticket must return None")
for _tool, _tenant, _scope, _code, _prop in (
    (TOOL, "globex", "tickets:comment", "wrong_tenant", "the resource's tenant is the token's tenant"),
    (TOOL, "acme-labs", "tickets:comment", "wrong_tenant", "tenants are compared whole, not by prefix"),
    (TOOL, "ACME", "tickets:comment", "wrong_tenant", "tenants are compared exactly, case included"),
    ("payments", "acme", "tickets:comment", "wrong_tool", "a token is used only at its own tool"),
    (TOOL, "acme", "tickets:read", "scope_missing", "a scope is granted only by itself, not by a longer one"),
    (TOOL, "acme", "tickets", "scope_missing", "a scope is granted only by itself, not by a part of one"),
    (TOOL, "acme", "tickets:write", "scope_missing", "a scope the token lacks is refused"),
):
    _refusal = grading.expect_raises(
        lambda: authorize_call(_claims, tool=_tool, tenant=_tenant, scope=_scope), errors.AccessDenied, _prop,
        f"scopes {_claims.scopes} for tool={_tool!r} tenant={_tenant!r} scope={_scope!r} must raise AccessDenied")
    grading.expect(grading.exactly(_refusal.code, _code), "a refusal says why",
                   f"tool={_tool!r} tenant={_tenant!r} scope={_scope!r}: the code must be {_code!r}")
print("authorize_call: other tenant, other tool and missing scopes refused with their codes")
### BEGIN HIDDEN TESTS
def _hidden_authorize():
    base = tokens.TokenClaims(iss="https://vault.hidden", sub="deploy-bot", aud="deploys", user="grace",
                              tenant="globex", task="release-9", session="sess-77",
                              scopes=("deploy:read", "deploy:staging"), iat=0, nbf=0, exp=60, jti="tok-1")
    for scope in ("deploy:read", "deploy:staging"):
        grading.expect(authorize_call(base, tool="deploys", tenant="globex", scope=scope) is None,
                       "a covered call passes", "a granted scope on the token's tenant passes")
    cases = [
        (base, "deploy", "globex", "deploy:read", "wrong_tool"),
        (base, "Deploys", "globex", "deploy:read", "wrong_tool"),
        (base, "deploys", "globex ", "deploy:read", "wrong_tenant"),
        (base, "deploys", "glob", "deploy:read", "wrong_tenant"),
        (base, "deploys", "globex", "deploy:stag", "scope_missing"),
        (base, "deploys", "globex", "deploy:staging:prod", "scope_missing"),
        (base, "deploys", "globex", "Deploy:read", "scope_missing"),
        (base, "deploys", "globex", "deploy:read deploy:prod", "scope_missing"),
        (dataclasses.replace(base, scopes=()), "deploys", "globex", "deploy:read", "scope_missing"),
    ]
    for claims, tool, tenant, scope, code in cases:
        refusal = grading.expect_raises(  # hidden
            lambda: authorize_call(claims, tool=tool, tenant=tenant, scope=scope),
            errors.AccessDenied, "a call the token does not cover is refused", "compare whole values exactly")
        grading.expect(type(refusal) is errors.AccessDenied and grading.exactly(refusal.code, code),
                       "a refusal says why", "the refusal code names the mismatch")


_hidden_authorize()
### END HIDDEN TESTS

# %% [markdown]
# The tickets tool, assembled from your two functions. The verifier column is what a tool that stops
# at verification would do.

# %%
def serve(tok, ticket, needs):
    """The tool's front door: your verify_token, then your authorize_call, nothing of the kit's."""
    try:
        claims = verify_token(tok, jwks=jwks, issuer=ISSUER, audience=TOOL, now=lab_clock.now())
        authorize_call(claims, tool=TOOL, tenant=TICKET_OWNERS[ticket], scope=needs)
    except errors.VaultLabError as exc:
        return f"refused ({exc.code})"
    except NotImplementedError:
        return "(not written yet)"
    return "served"


print(f"{'call':34} {'verifier alone':16} {'verify + authorize'}")
for ticket, needs in (("T-100", "tickets:read"), ("T-200", "tickets:read"), ("T-100", "tickets:write")):
    alone = outcome(kit_verifier.verify, token)
    print(f"{'acme token, ' + needs + ' ' + ticket:34} {'valid' if alone == 'ACCEPTED' else alone:16} "
          f"{serve(token, ticket, needs)}")

# %% [markdown]
# ## Switch the lens: one edited pass, four ways
#
# Go back to section 1: someone edited the tenant of ada's token to `globex` and kept the old
# signature. The same event, seen by each of the four layers of this course (the text comes from
# the course's one taxonomy of where each attack is stopped, `course.taxonomy`):

# %%
stop = taxonomy.STOPS["tampered-claims"]
log_line = {"event": "tool_call", "decision": "deny", "code": tamper_refusal.code, "tool": TOOL,
            "presented_by": "sess-0001", "claimed_session": forge.peek(tampered)["claims"]["session"]}
lenses = {
    "School student": [
        f"the picture: {stop.picture}",
        "the four questions: the vault's key is trusted; the stamp over every word is the proof; the "
        "check is at the tool's door; fooled, the tool and the ledger believe a pass nobody issued",
    ],
    "University student": [
        f"the comparison: {stop.fact}, against {taxonomy.SOURCES[stop.source]}",
        f"the mechanism: Ed25519 over the {len(header_part) + 1 + len(claims_part)} bytes of header.claims; "
        f"one edited claim -> {type(tamper_refusal).__name__}",
    ],
    "Engineer on call": [
        f"the log line: {json.dumps(log_line)}",
        f"the signal: {stop.signal}",
        f"the revoke decision: {stop.revoke}",
    ],
    "Security reviewer": [
        "the attacker's move: edit one claim, keep the signature, hope the tool only decodes",
        f"the stale assumption: {stop.stale}",
        f"where it is stopped: {stop.node} (code {tamper_refusal.code!r} belongs to "
        f"{taxonomy.node_of_code(tamper_refusal.code)!r})",
    ],
}
for lens, lines in lenses.items():
    print(lens)
    for line in lines:
        print("   ", line)

# %% [markdown]
# ### Exercise 4 · The engineer on call decides (2 points)
#
# The tickets tool writes one deny line per refused token, like the one above. Every few minutes the
# on-call engineer's tooling reads the window's deny lines and revokes sessions. Two facts make the
# decision, and each has a trusted source:
#
# - **What the refusal means.** An honest agent produces `expired` and `not_yet_valid` now and then
#   (a slow step, a skewed clock): those are routine, unless one session produces `BURST` (3) or more
#   of them in the window, which means it is replaying passes it collected. Any other refusal code
#   means the session presented a pass the vault never wrote as it stands (edited, forged, for
#   another tool or vault): revoke it at once.
# - **Whose session.** `presented_by` is the session the broker authenticated for the call.
#   `claimed_session` is what the refused token *says*: its check failed, so the attacker wrote it,
#   and revoking it would let an attacker switch off any session they can name.
#
# Return the sessions to revoke, sorted, each once. A signal that fires on a normal day gets
# switched off, so the window below with only routine refusals must revoke nothing.

# %% solution id=sessions-to-revoke
def sessions_to_revoke(denials):
    """The sessions to revoke after one window of the tool's deny lines (a sorted tuple of str).

    Args:
        denials: the window's deny lines, oldest first; each a dict with ``code`` (the refusal code),
            ``presented_by`` (the session the broker authenticated for the call) and
            ``claimed_session`` (the session the refused token claims, or None).
    """
    ### BEGIN SOLUTION
    routine = {"expired", "not_yet_valid"}
    revoke, routine_count = set(), {}
    for line in denials:
        session = line["presented_by"]
        if line["code"] in routine:
            routine_count[session] = routine_count.get(session, 0) + 1
            if routine_count[session] >= BURST:
                revoke.add(session)
        else:
            revoke.add(session)
    return tuple(sorted(revoke))
    ### END SOLUTION

# %% tests id=test-sessions-to-revoke points=2
"""Check that sessions_to_revoke fires on forgeries and replay bursts, stays silent on a normal day, and revokes the presenter."""


def _line(code, presented_by, claimed_session=None):
    return {"code": code, "presented_by": presented_by, "claimed_session": claimed_session or presented_by}


_normal_day = [_line("expired", "sess-0001"), _line("not_yet_valid", "sess-0002"), _line("expired", "sess-0001"),
               _line("expired", "sess-0003"), _line("expired", "sess-0004")]
grading.expect_same(sessions_to_revoke(_normal_day), (), "the signal stays silent on a normal day",
                    "a few expired or not-yet-valid passes, at most two per session, revoke nothing")
grading.expect_same(sessions_to_revoke([_line("bad_signature", "sess-0666", "sess-0001")]), ("sess-0666",),
                    "revoke the session that presented the pass, never the one it claims",
                    "an edited pass claiming sess-0001 came in on sess-0666")
grading.expect_same(
    sessions_to_revoke([_line("disallowed_algorithm", "sess-0009"), _line("wrong_audience", "sess-0007"),
                        _line("expired", "sess-0001"), _line("unknown_key", "sess-0008")]),
    ("sess-0007", "sess-0008", "sess-0009"), "every forged or misused pass costs its session at once",
    "alg none, a pass for another tool and an unknown key each revoke their session; one expiry does not")
grading.expect_same(sessions_to_revoke(_normal_day + [_line("expired", "sess-0005")] * BURST), ("sess-0005",),
                    "a burst of expired passes from one session is replay",
                    f"{BURST} expired passes from one session in the window revoke it")
print("sessions_to_revoke: silent on a normal day, fires on forgeries and bursts, revokes the presenter")
### BEGIN HIDDEN TESTS
def _hidden_revoke():
    def line(code, by, claimed=None):
        return {"code": code, "presented_by": by, "claimed_session": claimed}

    grading.expect_same(sessions_to_revoke([]), (), "the signal stays silent on a normal day",
                        "an empty window revokes nothing")
    quiet = [line("not_yet_valid", "s-b"), line("expired", "s-a"), line("not_yet_valid", "s-a"),
             line("expired", "s-c"), line("expired", "s-d"), line("expired", "s-e")]
    grading.expect_same(sessions_to_revoke(quiet), (), "the signal stays silent on a normal day",
                        "routine refusals below the burst revoke nothing")
    grading.expect_same(sessions_to_revoke(quiet + [line("expired", "s-a")]), ("s-a",),
                        "a burst of expired passes from one session is replay", "both routine codes count towards a burst")
    mixed = [line("malformed", "s-z", None), line("missing_claim", "s-y", "s-x"), line("wrong_issuer", "s-w"),
             line("invalid_claim", "s-y"), line("bad_signature", "s-z", "s-admin")]
    grading.expect_same(sessions_to_revoke(mixed), ("s-w", "s-y", "s-z"),
                        "every forged or misused pass costs its session at once", "each session once, sorted, never a claimed one")


_hidden_revoke()
### END HIDDEN TESTS

# %% [markdown]
# ## Reflection (2 points, graded by hand)
#
# Two weeks after launch, tokens start failing at night with `ExpiredTokenError`: one agent host's
# clock runs minutes behind. An on-call colleague proposes (a) raising the verifier's leeway to one
# hour and (b) issuing the nightly migration job a token without `exp`, "since it runs for hours".
# In 4 to 8 sentences: what does each change give an attacker who has stolen one token, and what
# would you do instead?

# %% [markdown] manual id=reflect-leeway-exp points=2
# ### BEGIN SOLUTION
# *Mark scheme (stays in the source notebook; the student version shows only the answer box).*
# 1 point for (a): names that leeway extends the accepted window of **every** token (stolen or
# revoked-by-expiry ones included), from ttl + 5 s to ttl + 1 h, not only the drifting host's; and offers the real fix (synchronise the host's clock, e.g. NTP, and alert on
# skew; keep leeway small and capped). 1 point for (b): names that a token without `exp` never
# expires, so one leak is valid until the key is rotated or the token revoked, and that `exp` must
# be *required*, not merely checked when present; and offers the alternative (short tokens re-issued
# per step or refreshed by the vault, each within the TTL cap). Half a point per part if the risk
# is named without an alternative.
#
# *Model answer.* (a) A one-hour leeway is not a fix for one host: every verifier would accept every
# token for an hour past its `exp`, so a token stolen from any agent works twelve times longer than
# designed, and a token we let expire to cut off a compromised session keeps working too. The real
# fault is the clock: synchronise it (NTP), alert when skew exceeds a few seconds, and keep the
# leeway capped. (b) A token without `exp` never expires: if it leaks, it works until someone
# notices and rotates the signing key. That is why `exp` is required, not merely checked when
# present. A long job should instead ask the vault for a fresh short token per step (or be
# refreshed by the vault), so each token stays within the TTL cap and a leak is worth minutes.
# ### END SOLUTION

# %% [markdown]
# ## Deep dive (optional)
#
# - RFC 8725, *JSON Web Token Best Current Practices*: algorithm pinning, explicit typing (`typ`),
#   issuer and audience validation, and the key-confusion attack of section 5.
# - RFC 8037 and RFC 9864: EdDSA in JOSE, and the fully specified `Ed25519` name.
# - OWASP Top 10 for LLM Applications (LLM06 *Excessive Agency*) and the OWASP agentic threats
#   list: why an agent should hold a narrow, short-lived pass instead of a standing credential.
# - NIST AI RMF (AI 100-1), *Manage*: bounding the authority of an AI system is a risk control you
#   can measure, like the exposure window above.
# - Ross Anderson, *Security Engineering* (3rd ed.), the chapters on protocols and access control:
#   a signature proves who said something, never that it should be believed here and now.
# - Google, *Site Reliability Engineering*, "Monitoring Distributed Systems": a page must be
#   actionable, which is why Exercise 4's signal stays silent on a normal day.

# %% [markdown]
# ## What you can now prove
#
# - A token's claims are readable by anyone; only its signature, checked with a key *you* trust,
#   says the vault wrote them, and a single edited byte breaks it.
# - Your `issue_token` signs exactly the twelve facts of a decision, refuses a lifetime above the cap
#   and a scope that would turn into two.
# - Your `verify_token` agrees with the kit's verifier on the genuine token and all 33 attacks of the
#   catalogue (the comparison above stops if it does not): it reads one spelling only, pins the
#   algorithm, finds keys by `kid` in the JWKS alone, requires every claim, compares issuer and
#   audience exactly, checks time on the clock it is given with a capped leeway, and refuses a
#   genuine token that lives too long.
# - Your `authorize_call` refuses a valid token at another tool, on another tenant's resource, or for
#   a scope it does not hold, comparing whole values exactly.
# - Your `sessions_to_revoke` turns deny lines into a revoke decision that stays silent on a normal
#   day and never takes a forged token's word for whose session it is.
#
# Next, in notebook 03, the vault policy decides *which* facts go into a token in the first place.
