# %% [markdown]
# # 02 · Short-lived tokens
#
# **Layer: University student** · node: Short-lived token
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
# - Issue a token that carries every fact of one vault decision, and verify one so that it is
#   refused for each way it can be wrong, with an error that names the reason.
# - Show that a formally valid token still needs the tool to compare its facts with the call in
#   front of it.
#
# ```mermaid
# flowchart LR
#   A["Agent request"] --> P["Vault policy"] --> T["Short-lived token"] --> C["Tool call"] --> L["Access log"]
#   X["Attacker trick"] -.-> P
#   classDef focus fill:#edf7f4,stroke:#174b43,stroke-width:3px,color:#121417
#   classDef attacker fill:#fff1eb,stroke:#d8512a,stroke-width:2px,color:#121417
#   class T focus
#   class X attacker
# ```
#
# The lab runs on a manual clock that starts at 2026-01-01 00:00 UTC and only moves when we say so,
# and its keys come from a fixed seed, so every output below is the same on every run.

# %% locked id=setup
import base64
import dataclasses
import json
import pprint

import jwt

from course import clock, errors, forge, grading, keys, tokens

ISSUER = "https://vault.lab"  # the one vault our tools trust
TOOL = "tickets"              # the tool this notebook plays: its name is its audience
MAX_TTL = 900                 # the longest life our vault gives a token: 15 minutes

lab_clock = clock.ManualClock()                               # 2026-01-01T00:00:00Z, frozen
ring = keys.KeyRing(clock=lab_clock, seed="lab")              # the vault's signing keys
attacker_ring = keys.KeyRing(clock=lab_clock, seed="attacker")  # keys the vault never trusted
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
# type says why.

# %%
verifier = tokens.Verifier(keys=ring, issuer=ISSUER, audience=TOOL, clock=lab_clock)
tampered = forge.tamper(token, tenant="globex")
print("tampered claims say tenant =", forge.peek(tampered)["claims"]["tenant"])
try:
    verifier.verify(tampered)
except errors.TokenError as exc:
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
tool_verifier = tokens.Verifier(keys=tool_side_keys, issuer=ISSUER, audience=TOOL, clock=lab_clock)
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
# *leaked* is dropped at once, and every token it signed dies with it. The cell below uses its own
# clock and key ring, so it does not disturb the rest of the notebook.

# %%
rotation_clock = clock.ManualClock()
rotation_ring = keys.KeyRing(clock=rotation_clock, seed="rotation-demo", max_token_ttl=MAX_TTL)
rotation_verifier = tokens.Verifier(keys=rotation_ring, issuer=ISSUER, audience=TOOL, clock=rotation_clock)
old_kid = rotation_ring.active.kid
before = tokens.issue(facts, rotation_ring.active)
new_kid = rotation_ring.rotate().kid
after = tokens.issue(facts, rotation_ring.active)
print("trusted kids after rotation:", rotation_ring.kids() == (old_kid, new_kid), len(rotation_ring.kids()))
print("token signed before rotation:", rotation_verifier.verify(before).kid == old_kid)
print("token signed after rotation: ", rotation_verifier.verify(after).kid == new_kid)
rotation_ring.compromise(old_kid)
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
# Write `issue_token` with PyJWT (`jwt.encode`), signing with EdDSA. The header must carry
# `"kid": key.kid` and `"typ": "vault+jwt"` (PyJWT adds `alg` itself). The claims are the table
# above: `sub` is the agent, `aud` the tool, `act` is `{"sub": user}`, `scope` is the scopes
# **sorted, without duplicates, joined by single spaces**, `iat = nbf = clock.now()` and
# `exp = iat + ttl`. Nothing else goes in. A lifetime outside 1..`MAX_TTL` seconds is refused with
# `errors.ConfigurationError` before anything is signed: a short-lived token that may live a day
# is not short-lived.
#
# Do the work yourself: the hidden tests notice if you hand it to the kit's `tokens.issue` or
# `tokens.TokenClaims.to_payload`. They then verify your token with the kit's own verifier, so every
# claim must be exactly right.

# %% solution id=issue-token
def issue_token(*, key, issuer, agent, tool, user, tenant, task, session, scopes, ttl, jti, clock):
    """Sign the facts of one vault decision as a short-lived EdDSA token and return it (a str).

    Args:
        key: the vault's active ``keys.SigningKey`` (``key.private`` signs, ``key.kid`` names it).
        issuer, agent, tool, user, tenant, task, session, jti: the decision's facts (strings).
        scopes: the granted scopes (any iterable of strings).
        ttl: lifetime in seconds.
        clock: the time source (``clock.now()`` in whole seconds).

    Raises:
        errors.ConfigurationError: ``ttl`` is not between 1 and MAX_TTL seconds.
    """
    ### BEGIN SOLUTION
    if not 0 < ttl <= MAX_TTL:
        raise errors.ConfigurationError(f"a token lives between 1 and {MAX_TTL} seconds")
    now = clock.now()
    claims = {
        "iss": issuer, "sub": agent, "aud": tool, "act": {"sub": user},
        "tenant": tenant, "task": task, "session": session,
        "scope": " ".join(sorted(set(scopes))),
        "iat": now, "nbf": now, "exp": now + ttl, "jti": jti,
    }
    header = {"kid": key.kid, "typ": "vault+jwt"}
    return jwt.encode(claims, key.private, algorithm="EdDSA", headers=header)
    ### END SOLUTION

# %% tests id=test-issue-token points=3
"""Check that issue_token signs every fact of the decision so that the kit's verifier believes it."""
_clock = clock.ManualClock()
_ring = keys.KeyRing(clock=_clock, seed="check-issue")
_token = issue_token(key=_ring.active, issuer=ISSUER, agent="helpdesk-bot", tool=TOOL, user="ada",
                     tenant="acme", task="triage-4711", session="sess-0001",
                     scopes=["tickets:read"], ttl=300, jti="tok-0001", clock=_clock)
grading.expect(isinstance(_token, str), "a token is a compact JWS string",
               "issue_token must return the string jwt.encode produces")
try:
    tokens.Verifier(keys=_ring, issuer=ISSUER, audience=TOOL, clock=_clock).verify(_token)
except errors.TokenError as _exc:
    raise grading.PropertyBroken("the vault's tokens verify",
                                 f"the kit's verifier refused your token: {_exc!r}") from None
print("issue_token: the kit's verifier accepts your token")
### BEGIN HIDDEN TESTS
def _hidden_issue_checks():
    c = clock.ManualClock(start=clock.LAB_EPOCH + 1000)
    ring_ = keys.KeyRing(clock=c, seed="hidden-issue")
    ring_.rotate()  # the active kid is not the first one: the header must name key.kid

    def issue(**over):
        args = dict(key=ring_.active, issuer="https://vault.hidden", agent="deploy-bot",
                    tool="deploys", user="grace", tenant="globex", task="release-9",
                    session="sess-77", scopes=("deploy:staging", "deploy:read", "deploy:staging"),
                    ttl=120, jti="tok-0099", clock=c)
        args.update(over)
        return issue_token(**args)

    with grading.tripwire(tokens, "issue"), grading.tripwire(tokens.TokenClaims, "to_payload"):
        tok = issue()
        for bad in (0, -5, MAX_TTL + 1, 86400):
            grading.expect_raises(lambda: issue(ttl=bad), errors.ConfigurationError,
                                  "lifetimes are capped", f"ttl={bad} must be refused")
        grading.expect(type(issue(ttl=MAX_TTL)) is str, "the cap itself is allowed",
                       "ttl == MAX_TTL is a valid lifetime")
    grading.expect(type(tok) is str, "a token is a string", "return the compact JWS string")
    v = tokens.Verifier(keys=ring_, issuer="https://vault.hidden", audience="deploys", clock=c)
    got = v.verify(tok)
    now = c.now()
    expected = tokens.TokenClaims(
        iss="https://vault.hidden", sub="deploy-bot", aud="deploys", user="grace", tenant="globex",
        task="release-9", session="sess-77", scopes=("deploy:read", "deploy:staging"),
        iat=now, nbf=now, exp=now + 120, jti="tok-0099")
    grading.expect(grading.exactly(got.claims, expected), "every claim is a fact of the decision",
                   "the verified claims differ from the decision")
    grading.expect(grading.exactly(jwt.get_unverified_header(tok),
                                   {"alg": "EdDSA", "kid": ring_.active.kid, "typ": "vault+jwt"}),
                   "the header names the algorithm, the key and the type", "check alg, kid, typ")
    payload = jwt.decode(tok, ring_.active.public, algorithms=["EdDSA"],
                         options={"verify_exp": False, "verify_nbf": False, "verify_iat": False,
                                  "verify_aud": False, "verify_iss": False})
    grading.expect(grading.exactly(sorted(payload), sorted(tokens.REQUIRED_CLAIMS)),
                   "the token carries the decision and nothing more", "exactly the twelve claims")
    grading.expect(grading.exactly(payload["scope"], "deploy:read deploy:staging"),
                   "scopes are exact, sorted and unique", "join sorted unique scopes by spaces")
    grading.expect(grading.exactly(payload["act"], {"sub": "grace"}),
                   "the acting user is carried as act.sub", "act must be {'sub': user}")
    c.advance(120 + tokens.DEFAULT_LEEWAY)
    grading.expect_raises(lambda: v.verify(tok), errors.ExpiredTokenError,
                          "tokens expire", "the token must expire ttl seconds after issue")


_hidden_issue_checks()
### END HIDDEN TESTS

# %% [markdown]
# Your issuer at work (this cell waits politely until `issue_token` is written):

# %%
try:
    mine = issue_token(key=ring.active, issuer=ISSUER, agent="helpdesk-bot", tool=TOOL, user="ada",
                       tenant="acme", task="triage-4711", session="sess-0001",
                       scopes=["tickets:read", "tickets:comment", "tickets:read"], ttl=300,
                       jti="tok-0002", clock=lab_clock)
    pprint.pprint(forge.peek(mine), sort_dicts=False)
    print("verified by the kit, scopes:", verifier.verify(mine).claims.scopes)
except NotImplementedError:
    print("(write issue_token above first)")

# %% [markdown]
# ## 5. Verifying: pin, require, compare, raise
#
# A verifier answers one question: *may this tool believe this token, now?* Four habits make the
# answer trustworthy.
#
# **Pin the algorithm.** The header says `"alg": "EdDSA"`, but the header is written by whoever made
# the token. A verifier that lets it choose can be told `"alg": "none"` (no signature at all), or
# `"alg": "HS256"`: then it computes an HMAC keyed with the bytes of the key it holds, which is
# the vault's *public* key, published in the JWKS for anyone to download. The attacker does the
# same computation and the "signature" matches. This is *key confusion*. The cure is a constant
# list of accepted algorithms in the verifier's own code (`["EdDSA"]`), checked before anything
# else.
#
# **Require, then compare.** Every claim must be present, then `iss` and `aud` must *equal* what this
# tool expects (one vault, this tool), and the times must hold against *our* clock.
#
# **Small, capped leeway.** Clocks drift a little, so we forgive a few seconds (`leeway`) around
# `nbf` and `exp`. Every second of leeway is a second added to the life of every token, stolen ones
# included, so the verifier refuses to be configured with more than `tokens.MAX_LEEWAY` (30 s).
#
# **Raise, never return `False`.** A `bool` is easy to drop (`verify(token)` on a line of its own),
# easy to invert, and says nothing about *why*. A verifier that returns the verified claims or raises
# a typed error cannot be ignored by accident, and the error's `code` goes to the access log. The kit
# goes one step further: a `VerifiedToken` can only be made by a verifier.
#
# Below, the two algorithm attacks meet `forge.gullible_verify`, a deliberately broken hand-rolled
# verifier of the kind they were invented for, and then the kit's verifier.

# %%
by_name = {a.name: a for a in forge.catalogue(facts.to_payload(), vault_key=ring.active,
                                              attacker_key=attacker_ring.active, now=now)}
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
# How long does a stolen token keep working? Measured, not computed: for each configuration we give
# the kit's verifier a token stolen the moment it is issued, and search (on manual clocks) for the
# first second at which the verifier says `ExpiredTokenError`. The window is `ttl + leeway`, which is why
# the lifetime is short and the leeway small. An hour of leeway would turn a five-minute token into
# a 65-minute one, so the kit refuses the configuration outright.

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
# ## Exercise 2 · Verify a token (6 points)
#
# Write `verify_token`. It returns the token's claims (the decoded `dict`) only when every check
# passes, and otherwise raises the `course.errors` type that names what failed. Check in this order,
# so that nothing is believed before it is proven:
#
# 1. `leeway` outside `0..tokens.MAX_LEEWAY` -> `errors.ConfigurationError` (before looking at the token).
# 2. Read the header *unverified* (`jwt.get_unverified_header`; PyJWT raises `jwt.DecodeError` for
#    garbage) -> `errors.MalformedTokenError`.
# 3. `alg` not in your own pinned list `["EdDSA"]` -> `errors.DisallowedAlgorithmError`;
#    `typ` not `"vault+jwt"` -> `errors.InvalidClaimError("typ")`.
# 4. `keys.public_key(kid)` finds the trusted key (it raises `errors.UnknownKeyError` by itself).
# 5. `jwt.decode` with that key and your pinned list checks the signature
#    (`jwt.InvalidSignatureError` -> `errors.BadSignatureError`, other `jwt.InvalidTokenError` ->
#    `errors.MalformedTokenError`). Switch PyJWT's own time, audience and issuer checks off: it
#    reads the wall clock, and you do them next.
# 6. Every claim in `tokens.REQUIRED_CLAIMS` present -> else `errors.MissingClaimError(claim)`.
# 7. `iss == issuer` -> else `errors.WrongIssuerError`; `aud` a single string equal to `audience`
#    -> else `errors.WrongAudienceError` (or `errors.InvalidClaimError("aud")` for a list).
# 8. With `now = clock.now()`: expired when `exp <= now - leeway` -> `errors.ExpiredTokenError`;
#    not yet valid when `nbf > now + leeway` or `iat > now + leeway` -> `errors.NotYetValidError`;
#    a lifetime `exp - iat` above `max_ttl` -> `errors.InvalidClaimError("exp")`.
#
# Do the work yourself: `tokens.Verifier`, `tokens.verify` and `tokens.TokenClaims.from_payload` are
# off limits (the hidden tests notice). The hidden tests then throw the whole forge catalogue at it.

# %% solution id=verify-token
def verify_token(token, *, keys, issuer, audience, clock, leeway=5, max_ttl=3600):
    """Return the claims of ``token`` if it is genuine, meant for ``audience`` and valid now.

    Args:
        token: the compact JWS string presented by the agent.
        keys: where trusted public keys live (``keys.public_key(kid)``; a KeyRing or a JWKSKeys).
        issuer: the one vault this tool trusts.
        audience: this tool's name.
        clock: the time source (``clock.now()``).
        leeway: seconds of clock skew forgiven around nbf and exp (at most tokens.MAX_LEEWAY).
        max_ttl: the longest lifetime (exp - iat) this tool accepts.

    Raises:
        errors.ConfigurationError, errors.MalformedTokenError, errors.DisallowedAlgorithmError,
        errors.UnknownKeyError, errors.BadSignatureError, errors.MissingClaimError,
        errors.InvalidClaimError, errors.WrongIssuerError, errors.WrongAudienceError,
        errors.ExpiredTokenError, errors.NotYetValidError: the first check that failed.
    """
    ### BEGIN SOLUTION
    if not 0 <= leeway <= tokens.MAX_LEEWAY:
        raise errors.ConfigurationError(f"leeway must be 0..{tokens.MAX_LEEWAY} seconds")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError:
        raise errors.MalformedTokenError("not a compact JWS") from None
    allowed = ["EdDSA"]  # pinned here, never read from the token
    if header.get("alg") not in allowed:
        raise errors.DisallowedAlgorithmError("only EdDSA is accepted")
    if header.get("typ") != "vault+jwt":
        raise errors.InvalidClaimError("typ", "must be 'vault+jwt'")
    public_key = keys.public_key(header.get("kid"))
    try:
        claims = jwt.decode(token, public_key, algorithms=allowed, options={
            "verify_exp": False, "verify_nbf": False, "verify_iat": False,
            "verify_aud": False, "verify_iss": False})
    except jwt.InvalidSignatureError:
        raise errors.BadSignatureError("the signature does not match") from None
    except jwt.InvalidTokenError:
        raise errors.MalformedTokenError("the token could not be decoded") from None
    for name in tokens.REQUIRED_CLAIMS:
        if name not in claims:
            raise errors.MissingClaimError(name)
    if claims["iss"] != issuer:
        raise errors.WrongIssuerError("not issued by the vault this tool trusts")
    if not isinstance(claims["aud"], str):
        raise errors.InvalidClaimError("aud", "must name exactly one tool")
    if claims["aud"] != audience:
        raise errors.WrongAudienceError("issued for a different tool")
    iat, nbf, exp = claims["iat"], claims["nbf"], claims["exp"]
    if not all(type(t) is int for t in (iat, nbf, exp)):
        raise errors.InvalidClaimError("exp", "times must be integer seconds")
    now = clock.now()
    if exp <= now - leeway:
        raise errors.ExpiredTokenError("the token has expired")
    if nbf > now + leeway or iat > now + leeway:
        raise errors.NotYetValidError("the token is not valid yet")
    if exp - iat > max_ttl:
        raise errors.InvalidClaimError("exp", "the lifetime exceeds this tool's cap")
    return claims
    ### END SOLUTION

# %% tests id=test-verify-token-claims points=3
"""Check that verify_token requires every claim and enforces issuer, audience, time and leeway."""
_clock = clock.ManualClock()
_ring = keys.KeyRing(clock=_clock, seed="check-verify")
_payload = dataclasses.replace(facts, iat=_clock.now(), nbf=_clock.now(), exp=_clock.now() + 300).to_payload()
_good = forge.resign(_payload, _ring.active)
_claims = verify_token(_good, keys=_ring, issuer=ISSUER, audience=TOOL, clock=_clock)
grading.expect(isinstance(_claims, dict) and _claims.get("jti") == "tok-0001",
               "a genuine token is accepted", "verify_token must return the decoded claims dict")
_old = forge.expired_copy(_payload, _ring.active, now=_clock.now())
grading.expect_raises(lambda: verify_token(_old, keys=_ring, issuer=ISSUER, audience=TOOL, clock=_clock),
                      errors.ExpiredTokenError, "expired tokens are refused",
                      "a token that expired 60 s ago must raise ExpiredTokenError")
print("verify_token: genuine accepted, expired refused")
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
    forgery_errors = (errors.BadSignatureError, errors.DisallowedAlgorithmError,
                      errors.UnknownKeyError, errors.MalformedTokenError)
    attacks = [a for a in forge.catalogue(payload, vault_key=ring_.active, attacker_key=attacker_,
                                          now=now) if a.rejects_with[0] not in forgery_errors]

    def verify(tok, **over):
        opts = dict(keys=ring_, issuer="https://vault.hidden", audience="deploys", clock=c)
        opts.update(over)
        return verify_token(tok, **opts)

    with grading.tripwire(tokens, "Verifier", "verify", "_decode_signed"), \
            grading.tripwire(tokens.TokenClaims, "from_payload"):
        grading.expect(grading.exactly(verify(forge.resign(payload, ring_.active)), payload),
                       "a genuine token yields exactly its claims", "return the decoded dict")
        for attack in attacks:
            refusal = grading.expect_raises(
                lambda: verify(attack.token), attack.rejects_with, f"refuses {attack.name}",
                f"{attack.what}: expected {attack.rejects_with[0].__name__}")
            if attack.name.startswith("missing-"):
                grading.expect(refusal.claim == attack.name.removeprefix("missing-"),
                               "the missing claim is named", f"{attack.name}: name the claim")
        recent = forge.resign(forge.retimed(payload, iat=now - 243, exp=now - 3), ring_.active)
        grading.expect(type(verify(recent, leeway=5)) is dict, "leeway forgives small skew",
                       "a token expired 3 s ago passes with leeway=5")
        grading.expect_raises(lambda: verify(recent, leeway=0), errors.ExpiredTokenError,
                              "leeway is the caller's", "with leeway=0 it is expired")
        at_exp = forge.resign(forge.retimed(payload, iat=now - 240, exp=now), ring_.active)
        grading.expect_raises(lambda: verify(at_exp, leeway=0), errors.ExpiredTokenError,
                              "exp is exclusive", "a token is expired at its exp second")
        soon = forge.resign(forge.retimed(payload, iat=now, nbf=now + 4, exp=now + 240), ring_.active)
        grading.expect(type(verify(soon, leeway=5)) is dict, "leeway applies to nbf",
                       "nbf 4 s ahead passes with leeway=5")
        grading.expect_raises(lambda: verify(soon, leeway=0), errors.NotYetValidError,
                              "nbf is enforced", "nbf 4 s ahead fails with leeway=0")
        for bad in (-1, tokens.MAX_LEEWAY + 1, 3600):
            grading.expect_raises(lambda: verify(forge.resign(payload, ring_.active), leeway=bad),
                                  errors.ConfigurationError, "leeway is capped",
                                  f"leeway={bad} must be refused")
        grading.expect_raises(lambda: verify(forge.resign(payload, ring_.active), max_ttl=60),
                              errors.InvalidClaimError, "lifetime is capped by the tool",
                              "a 240 s token must fail with max_ttl=60")


_hidden_verify_claims()
### END HIDDEN TESTS

# %% tests id=test-verify-token-forgeries points=3
"""Check that verify_token refuses forged, tampered and unsigned tokens and unknown keys."""
_clock = clock.ManualClock()
_ring = keys.KeyRing(clock=_clock, seed="check-verify")
_payload = dataclasses.replace(facts, iat=_clock.now(), nbf=_clock.now(), exp=_clock.now() + 300).to_payload()
_good = forge.resign(_payload, _ring.active)
grading.expect(isinstance(verify_token(_good, keys=_ring, issuer=ISSUER, audience=TOOL, clock=_clock), dict),
               "a genuine token is accepted", "verify_token must return the decoded claims dict")
_none = forge.alg_none(_payload, _ring.active.kid)
grading.expect_raises(lambda: verify_token(_none, keys=_ring, issuer=ISSUER, audience=TOOL, clock=_clock),
                      errors.DisallowedAlgorithmError, "the algorithm is pinned",
                      "an alg none token must raise DisallowedAlgorithmError")
_forged = forge.tamper(_good, tenant="globex")
grading.expect_raises(lambda: verify_token(_forged, keys=_ring, issuer=ISSUER, audience=TOOL, clock=_clock),
                      errors.BadSignatureError, "the signature covers every claim",
                      "a tampered token must raise BadSignatureError")
print("verify_token: alg none and tampering refused")
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
    forgery_errors = (errors.BadSignatureError, errors.DisallowedAlgorithmError,
                      errors.UnknownKeyError, errors.MalformedTokenError)
    attacks = [a for a in forge.catalogue(payload, vault_key=ring_.active, attacker_key=attacker_,
                                          now=now) if a.rejects_with[0] in forgery_errors]
    attacks.append(forge.Attack(name="garbage", what="not a token", token="not-a-token",
                                rejects_with=(errors.MalformedTokenError,)))

    def verify(tok, source=ring_):
        return verify_token(tok, keys=source, issuer="https://vault.hidden", audience="deploys",
                            clock=c)

    with grading.tripwire(tokens, "Verifier", "verify", "_decode_signed"), \
            grading.tripwire(tokens.TokenClaims, "from_payload"):
        for attack in attacks:
            grading.expect_raises(lambda: verify(attack.token), attack.rejects_with,
                                  f"refuses {attack.name}",
                                  f"{attack.what}: expected {attack.rejects_with[0].__name__}")
        published = keys.JWKSKeys(ring_.jwks())
        grading.expect(grading.exactly(verify(forge.resign(payload, ring_.active), published), payload),
                       "public keys from a JWKS suffice", "verify with keys.public_key(kid)")
        grading.expect_raises(lambda: verify(forge.resign(payload, attacker_), published),
                              errors.UnknownKeyError, "unknown kids are refused",
                              "a kid outside the JWKS must raise UnknownKeyError")
        before = forge.resign(payload, ring_.active)
        old_kid = ring_.active.kid
        ring_.rotate()
        after = forge.resign(payload, ring_.active)
        grading.expect(grading.exactly(verify(before), payload), "rotation keeps old tokens valid",
                       "look the key up by the token's kid")
        grading.expect(grading.exactly(verify(after), payload), "the new key verifies",
                       "look the key up by the token's kid")
        ring_.compromise(old_kid)
        grading.expect_raises(lambda: verify(before), errors.UnknownKeyError,
                              "a leaked key is dropped at once",
                              "a token of a compromised key must raise UnknownKeyError")


_hidden_verify_forgeries()
### END HIDDEN TESTS

# %% [markdown]
# ### Your verifier, plugged into the kit
#
# `tokens.PluggedVerifier` puts any verification function where the kit's verifier goes (the
# broker in notebook 04 takes either). Whatever it accepts, the kit believes from then on. So
# before trusting it, we run the full forge catalogue through both, side by side.

# %%
yours = tokens.PluggedVerifier(
    lambda t: verify_token(t, keys=ring, issuer=ISSUER, audience=TOOL, clock=lab_clock),
    name="verify_token")
attacks = forge.catalogue(facts.to_payload(), vault_key=ring.active,
                          attacker_key=attacker_ring.active, now=lab_clock.now())


def outcome(some_verifier, tok):
    try:
        some_verifier.verify(tok)
    except errors.TokenError as exc:
        return type(exc).__name__
    except NotImplementedError:
        return "(not written yet)"
    return "ACCEPTED"


rows = [f"{'attack':24} {'kit verifier':26} yours",
        f"{'genuine token':24} {outcome(verifier, token):26} {outcome(yours, token)}"]
rows += [f"{a.name:24} {outcome(verifier, a.token):26} {outcome(yours, a.token)}" for a in attacks]
right = sum(outcome(yours, a.token) in [e.__name__ for e in a.rejects_with] for a in attacks)
print("\n".join(rows))
print(yours, "refused", right, "of", len(attacks), "attacks with the right error")

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
# claims (the dict your `verify_token` returns) with the call's context and raises
# `errors.AccessDenied(code, reason)` on the first mismatch:
#
# - `"wrong_tool"`: the token's `aud` is not this `tool`;
# - `"wrong_tenant"`: the token's `tenant` is not the `tenant` that owns the resource;
# - `"scope_missing"`: `scope` is not one of the token's scopes. Scopes are whole words in a
#   space-separated string: `tickets:read` is not granted by `tickets:read_own`.
#
# Compare exactly (no substrings, no case folding: `acme` and `acme-labs` are different customers).
# It returns `None` when the call is covered.

# %% solution id=authorize-call
def authorize_call(verified_claims, *, tool, tenant, scope):
    """Refuse a tool call whose context the (already verified) token does not cover.

    Args:
        verified_claims: the claims dict of a token that passed verification.
        tool: the name of the tool doing this check.
        tenant: the tenant that owns the resource the call touches (from the tool's records).
        scope: the scope the requested operation needs.

    Raises:
        errors.AccessDenied: code "wrong_tool", "wrong_tenant" or "scope_missing".
    """
    ### BEGIN SOLUTION
    if verified_claims["aud"] != tool:
        raise errors.AccessDenied("wrong_tool", "the token was issued for another tool")
    if verified_claims["tenant"] != tenant:
        raise errors.AccessDenied("wrong_tenant", "the resource belongs to another tenant")
    if scope not in verified_claims["scope"].split():
        raise errors.AccessDenied("scope_missing", f"the token does not grant {scope!r}")
    return None
    ### END SOLUTION

# %% tests id=test-authorize-call points=3
"""Check that authorize_call refuses a valid token used on another tenant's resource."""
_acme = facts.to_payload()
grading.expect(authorize_call(dict(_acme), tool=TOOL, tenant="acme", scope="tickets:read") is None,
               "a covered call passes", "acme's token reading an acme ticket must return None")
_err = grading.expect_raises(
    lambda: authorize_call(dict(_acme), tool=TOOL, tenant="globex", scope="tickets:read"),
    errors.AccessDenied, "the resource's tenant must be the token's tenant",
    "acme's token on a globex ticket must raise AccessDenied")
grading.expect(_err.code == "wrong_tenant", "denials say why", "the code must be 'wrong_tenant'")
print("authorize_call: acme's token refused on globex's ticket")
### BEGIN HIDDEN TESTS
def _hidden_authorize():
    base = dict(facts.to_payload(), aud="tickets", tenant="acme",
                scope="tickets:comment tickets:read")
    for scope in ("tickets:read", "tickets:comment"):
        grading.expect(authorize_call(dict(base), tool="tickets", tenant="acme", scope=scope) is None,
                       "covered calls pass", f"{scope} is granted")
    cases = [
        (dict(base, aud="payments"), "tickets", "acme", "tickets:read", "wrong_tool"),
        (base, "payments", "acme", "tickets:read", "wrong_tool"),
        (base, "tickets", "globex", "tickets:read", "wrong_tenant"),
        (base, "tickets", "acme-labs", "tickets:read", "wrong_tenant"),
        (dict(base, tenant="acme-labs"), "tickets", "acme", "tickets:read", "wrong_tenant"),
        (base, "tickets", "ACME", "tickets:read", "wrong_tenant"),
        (base, "tickets", "acme", "tickets:write", "scope_missing"),
        (base, "tickets", "acme", "read", "scope_missing"),
        (base, "tickets", "acme", "tickets:", "scope_missing"),
        (dict(base, scope="tickets:read_own"), "tickets", "acme", "tickets:read", "scope_missing"),
        (dict(base, scope=""), "tickets", "acme", "tickets:read", "scope_missing"),
    ]
    for claims, tool, tenant, scope, code in cases:
        refusal = grading.expect_raises(
            lambda: authorize_call(dict(claims), tool=tool, tenant=tenant, scope=scope),
            errors.AccessDenied, f"refuses {code}",
            f"aud={claims['aud']!r} tenant={claims['tenant']!r} scope={claims['scope']!r} "
            f"for tool={tool!r} tenant={tenant!r} scope={scope!r}")
        grading.expect(type(refusal) is errors.AccessDenied and grading.exactly(refusal.code, code),
                       "denials say why", f"expected code {code!r}")


_hidden_authorize()
### END HIDDEN TESTS

# %% [markdown]
# The tickets tool, assembled from your two functions. The verifier column is what a tool that stops
# at verification would do.

# %%
def serve(tok, ticket, needs):
    """The tool's front door: verify the token, then authorize this call."""
    try:
        claims = verify_token(tok, keys=ring, issuer=ISSUER, audience=TOOL, clock=lab_clock)
        authorize_call(claims, tool=TOOL, tenant=TICKET_OWNERS[ticket], scope=needs)
    except errors.VaultLabError as exc:
        return f"refused ({exc.code})"
    except NotImplementedError:
        return "(not written yet)"
    return "served"


print(f"{'call':34} {'verifier alone':16} {'verify + authorize'}")
for ticket, needs in (("T-100", "tickets:read"), ("T-200", "tickets:read"), ("T-100", "tickets:write")):
    alone = outcome(verifier, token)
    print(f"{'acme token, ' + needs + ' ' + ticket:34} {'valid' if alone == 'ACCEPTED' else alone:16} "
          f"{serve(token, ticket, needs)}")

# %% [markdown]
# ## Reflection (2 points, graded by hand)
#
# Two weeks after launch, tokens start failing at night with `ExpiredTokenError`: one agent host's
# clock runs minutes behind. An on-call colleague proposes (a) raising the verifier's leeway to one
# hour and (b) issuing the nightly migration job a token without `exp`, "since it runs for hours".
# In 4 to 8 sentences: what does each change give an attacker who has stolen one token, and what
# would you do instead?
#
# *Mark scheme (for the grader).* 1 point for (a): names that leeway extends the accepted window of
# **every** token (stolen or revoked-by-expiry ones included), from ttl + 5 s to ttl + 1 h, not only
# the drifting host's; and offers the real fix (synchronise the host's clock, e.g. NTP, and alert on
# skew; keep leeway small and capped). 1 point for (b): names that a token without `exp` never
# expires, so one leak is valid until the key is rotated or the token revoked, and that `exp` must
# be *required*, not merely checked when present; and offers the alternative (short tokens re-issued
# per step or refreshed by the vault, each within the TTL cap). Half a point per part if the risk
# is named without an alternative.

# %% [markdown] manual id=reflect-leeway-exp points=2
# (a) A one-hour leeway is not a fix for one host: every verifier would accept every token for an
# hour past its `exp`, so a token stolen from any agent works twelve times longer than designed, and
# a token we let expire to cut off a compromised session keeps working too. The real fault is the
# clock: synchronise it (NTP), alert when skew exceeds a few seconds, and keep the leeway capped.
# (b) A token without `exp` never expires: if it leaks, it works until someone notices and rotates
# the signing key. That is why `exp` is required, not merely checked when present. A long job should
# instead ask the vault for a fresh short token per step (or be refreshed by the vault), so each
# token stays within the TTL cap and a leak is worth minutes.

# %% [markdown]
# ## What you can now prove
#
# - A token's claims are readable by anyone; only its signature, checked with a key *you* trust,
#   says the vault wrote them, and a single edited byte breaks it.
# - Your issuer produces tokens that carry every fact of a decision and nothing more, with a
#   lifetime it refuses to stretch.
# - Your verifier pins the algorithm, finds keys by `kid` in a trusted set, requires all twelve
#   claims, compares issuer and audience exactly, checks time on an injected clock with a capped
#   leeway, and raises an error that names the reason: the whole forge catalogue fails against it.
# - A formally valid token is not an authorized call: the tool compares the token's tool, tenant and
#   scope with the call in front of it.
#
# Next, in notebook 03, the vault policy decides *which* facts go into a token in the first place.
