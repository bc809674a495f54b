"""Tokens: the verifier's edges that mutation testing showed no test pinned (issue 14).

Each test names the property it holds; a mutant that weakens it (an empty or numeric
``act.sub``, a float ``exp``, the 8 KiB limit dropped or moved by one, a zero-lifetime
token forgiven by the leeway, a leeway or lifetime bound off by one, the plugged and
one-shot verifiers) fails it. Errors are asserted by their class and the claim they
name, never by their prose.
"""

from __future__ import annotations

import json

import jwt
import pytest

from course import errors, keys, tokens
from tests.test_tokens import AUD, ISS, make_claims, verifier  # the suite's own helpers


def signed(payload, keyring, **header):
    """A compact JWS signed by the trusted key over exactly these JSON members (no library checks)."""
    h = {"alg": "EdDSA", "kid": keyring.active.kid, "typ": tokens.TOKEN_TYPE, **header}
    head = keys.b64url(json.dumps(h, separators=(",", ":")).encode())
    body = keys.b64url(json.dumps(payload, separators=(",", ":")).encode())
    signature = keyring.active.private.sign(f"{head}.{body}".encode())
    return f"{head}.{body}.{keys.b64url(signature)}"


def payload_with(clock, **over):
    payload = make_claims(clock).to_payload()
    payload.update(over)
    return payload


# --- act.sub: the acting user is a non-empty string, nothing else --------------------------------

@pytest.mark.parametrize("act", [{"sub": ""}, {"sub": 7}, {"sub": None}, {}, "alice", ["alice"]],
                         ids=["empty", "number", "null", "no-sub", "string", "list"])
def test_act_without_a_non_empty_string_sub_is_refused_under_a_valid_signature(keyring, clock, act):
    token = signed(payload_with(clock, act=act), keyring)
    with pytest.raises(errors.InvalidClaimError) as err:
        verifier(keyring, clock).verify(token)
    assert err.value.claim == "act"


def test_act_sub_is_the_acting_user_of_the_verified_token(keyring, clock):
    token = signed(payload_with(clock, act={"sub": "bob"}), keyring)
    assert verifier(keyring, clock).verify(token).claims.user == "bob"


# --- times are integers: a float or a boolean is refused, naming the claim ---------------------

@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("kind", ["float", "bool", "string"])
def test_time_claim_that_is_not_an_integer_is_refused_naming_it(keyring, clock, claim, kind):
    good = make_claims(clock).to_payload()[claim]
    value = {"float": float(good), "bool": True, "string": str(good)}[kind]
    token = signed(payload_with(clock, **{claim: value}), keyring)
    with pytest.raises(errors.InvalidClaimError) as err:
        verifier(keyring, clock).verify(token)
    assert err.value.claim == claim


@pytest.mark.parametrize("claim", ["iss", "sub", "aud", "jti", "tenant", "task", "session"])
@pytest.mark.parametrize("value", ["", 7, None], ids=["empty", "number", "null"])
def test_string_claim_that_is_empty_or_not_a_string_is_refused_naming_it(keyring, clock, claim, value):
    token = signed(payload_with(clock, **{claim: value}), keyring)
    with pytest.raises(errors.InvalidClaimError) as err:
        verifier(keyring, clock).verify(token)
    assert err.value.claim == claim


def test_scope_that_is_not_a_string_is_refused_naming_it(keyring, clock):
    token = signed(payload_with(clock, scope=["tickets:read"]), keyring)
    with pytest.raises(errors.InvalidClaimError) as err:
        verifier(keyring, clock).verify(token)
    assert err.value.claim == "scope"


@pytest.mark.parametrize(("extra", "claim"), [({"once": "yes"}, "once"), ({"once": 1}, "once"),
                                              ({"approval": 5}, "approval"),
                                              ({"once": True, "approval": 5}, "approval")])
def test_once_and_approval_of_the_wrong_type_are_refused_naming_the_claim(keyring, clock, extra, claim):
    token = signed(payload_with(clock, **extra), keyring)
    with pytest.raises(errors.InvalidClaimError) as err:
        verifier(keyring, clock).verify(token)
    assert err.value.claim == claim


def test_single_use_and_approval_round_trip_and_default_to_off(keyring, clock):
    v = verifier(keyring, clock)
    plain = v.verify(tokens.issue(make_claims(clock), keyring.active)).claims
    assert plain.single_use is False and plain.approval is None
    assert "once" not in make_claims(clock).to_payload() and "approval" not in make_claims(clock).to_payload()
    marked = v.verify(tokens.issue(make_claims(clock, single_use=True, approval="d1"), keyring.active)).claims
    assert marked.single_use is True and marked.approval == "d1"


def test_scopes_are_sorted_unique_and_travel_as_one_space_separated_string(keyring, clock):
    claims = make_claims(clock, scopes=("tickets:write", "tickets:read", "tickets:write"))
    assert claims.scopes == ("tickets:read", "tickets:write")
    assert claims.to_payload()["scope"] == "tickets:read tickets:write"
    verified = verifier(keyring, clock).verify(tokens.issue(claims, keyring.active))
    assert verified.claims.scopes == ("tickets:read", "tickets:write")
    assert claims.ttl == 300


# --- the 8 KiB limit, at its boundary --------------------------------------------------------------

def _token_of_length(keyring, clock, length):
    """A validly signed token of exactly ``length`` characters (padding an unknown claim)."""
    base = len(signed(payload_with(clock, pad=""), keyring))
    guess = (length - base) * 3 // 4
    for header_pad in range(4):
        for n in range(max(0, guess - 8), guess + 8):
            token = signed(payload_with(clock, pad="x" * n), keyring, **({"x": "y" * header_pad}))
            if len(token) == length:
                return token
    raise AssertionError(f"no token of length {length}")


def test_token_of_exactly_8_kib_verifies(keyring, clock):
    token = _token_of_length(keyring, clock, tokens.MAX_TOKEN_BYTES)
    assert tokens.MAX_TOKEN_BYTES == 8192
    assert verifier(keyring, clock).verify(token).claims.user == "alice"
    assert tokens.unverified_header(token)["kid"] == keyring.active.kid


def test_validly_signed_token_one_character_over_8_kib_is_malformed(keyring, clock):
    token = _token_of_length(keyring, clock, tokens.MAX_TOKEN_BYTES + 1)
    with pytest.raises(errors.MalformedTokenError):
        verifier(keyring, clock).verify(token)
    with pytest.raises(errors.MalformedTokenError):
        tokens.unverified_header(token)


@pytest.mark.parametrize("junk", ["", "a.b", "a.b.c.d", b"a.b.c", None, 42])
def test_not_a_three_part_string_is_malformed(keyring, clock, junk):
    with pytest.raises(errors.MalformedTokenError):
        verifier(keyring, clock).verify(junk)


# --- lifetime: zero is never valid, leeway forgives skew, not a missing lifetime ----------------

def test_zero_lifetime_token_is_refused_even_within_the_leeway(keyring, clock):
    now = clock.now()
    token = tokens.issue(make_claims(clock, iat=now, nbf=now, exp=now), keyring.active)
    with pytest.raises(errors.InvalidClaimError) as err:
        verifier(keyring, clock, leeway=30).verify(token)
    assert err.value.claim == "exp"


def test_nbf_before_iat_is_refused(keyring, clock):
    now = clock.now()
    token = tokens.issue(make_claims(clock, iat=now, nbf=now - 1, exp=now + 300), keyring.active)
    with pytest.raises(errors.InvalidClaimError) as err:
        verifier(keyring, clock).verify(token)
    assert err.value.claim == "exp"


def test_one_second_lifetime_verifies(keyring, clock):
    now = clock.now()
    token = tokens.issue(make_claims(clock, iat=now, nbf=now, exp=now + 1), keyring.active)
    assert verifier(keyring, clock).verify(token).claims.ttl == 1


def test_expiry_boundary_is_exact_to_the_second_of_leeway(keyring, clock):
    now = clock.now()
    token = tokens.issue(make_claims(clock, exp=now + 10), keyring.active)
    v = verifier(keyring, clock, leeway=5)
    clock.advance(14)  # exp = now - 4: inside the leeway
    assert v.verify(token)
    clock.advance(1)  # exp = now - 5: expired
    with pytest.raises(errors.ExpiredTokenError):
        v.verify(token)


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_not_before_boundary_is_exact_to_the_second_of_leeway(keyring, clock, claim):
    now = clock.now()
    v = verifier(keyring, clock, leeway=5)
    at_edge = make_claims(clock, iat=now + 5, nbf=now + 5, exp=now + 300)
    assert v.verify(tokens.issue(at_edge, keyring.active))
    times = {"iat": now, "nbf": now}
    times[claim] = now + 6
    if claim == "iat":
        times["nbf"] = now + 6
    past = make_claims(clock, exp=now + 300, **times)
    with pytest.raises(errors.NotYetValidError):
        v.verify(tokens.issue(past, keyring.active))


def test_nbf_alone_in_the_future_is_not_yet_valid(keyring, clock):
    now = clock.now()
    token = tokens.issue(make_claims(clock, iat=now, nbf=now + 6, exp=now + 300), keyring.active)
    with pytest.raises(errors.NotYetValidError):
        verifier(keyring, clock, leeway=5).verify(token)


def test_lifetime_cap_is_inclusive(keyring, clock):
    now = clock.now()
    v = verifier(keyring, clock, max_ttl=300)
    assert v.verify(tokens.issue(make_claims(clock, exp=now + 300), keyring.active))
    with pytest.raises(errors.InvalidClaimError) as err:
        v.verify(tokens.issue(make_claims(clock, exp=now + 301), keyring.active))
    assert err.value.claim == "exp"


def test_default_lifetime_cap_is_one_hour_and_default_leeway_five_seconds(keyring, clock):
    v = verifier(keyring, clock)
    assert (v.max_ttl, v.leeway) == (3600, tokens.DEFAULT_LEEWAY) == (3600, 5)
    now = clock.now()
    assert v.verify(tokens.issue(make_claims(clock, exp=now + 3600), keyring.active))
    with pytest.raises(errors.InvalidClaimError):
        v.verify(tokens.issue(make_claims(clock, exp=now + 3601), keyring.active))


@pytest.mark.parametrize("leeway", [0, tokens.MAX_LEEWAY])
def test_leeway_at_either_bound_is_accepted(keyring, clock, leeway):
    assert verifier(keyring, clock, leeway=leeway).leeway == leeway == min(leeway, 30)


@pytest.mark.parametrize("leeway", [-1, tokens.MAX_LEEWAY + 1])
def test_leeway_past_either_bound_is_a_configuration_error(keyring, clock, leeway):
    with pytest.raises(errors.ConfigurationError):
        verifier(keyring, clock, leeway=leeway)


@pytest.mark.parametrize("max_ttl", [0, -1])
def test_non_positive_lifetime_cap_is_a_configuration_error(keyring, clock, max_ttl):
    with pytest.raises(errors.ConfigurationError):
        verifier(keyring, clock, max_ttl=max_ttl)


def test_one_second_lifetime_cap_is_accepted(keyring, clock):
    assert verifier(keyring, clock, max_ttl=1).max_ttl == 1


@pytest.mark.parametrize("over", [{"issuer": ""}, {"audience": ""}])
def test_verifier_without_issuer_or_audience_is_a_configuration_error(keyring, clock, over):
    with pytest.raises(errors.ConfigurationError):
        verifier(keyring, clock, **over)


# --- header checks -------------------------------------------------------------------------------

def test_missing_typ_is_refused_naming_typ(keyring, clock):
    token = jwt.encode(make_claims(clock).to_payload(), keyring.active.private, algorithm="EdDSA",
                       headers={"kid": keyring.active.kid, "typ": None})
    with pytest.raises(errors.InvalidClaimError) as err:
        verifier(keyring, clock).verify(token)
    assert err.value.claim == "typ"


def test_issued_header_names_the_signing_key_type_and_algorithm(keyring, clock):
    header = tokens.unverified_header(tokens.issue(make_claims(clock), keyring.active))
    assert header == {"alg": "EdDSA", "kid": keyring.active.kid, "typ": "vault+jwt"}


@pytest.mark.parametrize("extension", tokens.REFUSED_HEADER_PARAMETERS)
def test_each_refused_header_extension_is_malformed(keyring, clock, extension):
    token = signed(make_claims(clock).to_payload(), keyring, **{extension: ["exp"]})
    with pytest.raises(errors.MalformedTokenError):
        verifier(keyring, clock).verify(token)


# --- the verifier cache: bounded, oldest out, the key re-checked on a hit ------------------------

def test_cache_keeps_at_most_its_size_and_evicts_the_oldest(keyring, clock):
    v = verifier(keyring, clock, cache_size=2)
    first, second, third = (tokens.issue(make_claims(clock, jti=f"tok-{i}"), keyring.active)
                            for i in range(3))
    for token in (first, second, third):
        v.verify(token)
    assert list(v._cache) == [second, third]


def test_cache_off_by_default_stores_nothing(keyring, clock):
    v = verifier(keyring, clock)
    v.verify(tokens.issue(make_claims(clock), keyring.active))
    assert not v._cache


class _CountingKeys:
    def __init__(self, inner):
        self.inner, self.asked = inner, []

    def public_key(self, kid):
        self.asked.append(kid)
        return self.inner.public_key(kid)


def test_cache_hit_still_asks_the_key_source_and_returns_the_same_claims(keyring, clock):
    source = _CountingKeys(keyring)
    v = verifier(keyring, clock, keys=source, cache_size=4)
    token = tokens.issue(make_claims(clock), keyring.active)
    first, again = v.verify(token), v.verify(token)
    assert source.asked == [keyring.active.kid, keyring.active.kid]
    assert first.claims == again.claims and again.kid == keyring.active.kid


def test_cache_hit_still_checks_revocation(keyring, clock):
    from course.revocation import RevocationList
    revocation = RevocationList()
    v = verifier(keyring, clock, cache_size=4, revocation=revocation)
    token = tokens.issue(make_claims(clock), keyring.active)
    v.verify(token)
    revocation.revoke_jti("tok-0001")
    with pytest.raises(errors.RevokedTokenError):
        v.verify(token)


# --- PluggedVerifier and the one-shot verify() -----------------------------------------------------

def test_plugged_verifier_trusts_what_its_check_returns_as_claims(keyring, clock):
    token = tokens.issue(make_claims(clock), keyring.active)
    seen = []
    plugged = tokens.PluggedVerifier(lambda t: seen.append(t) or make_claims(clock, user="bob"), name="mine")
    verified = plugged.verify(token)
    assert seen == [token]
    assert verified.claims.user == "bob" and verified.kid == keyring.active.kid
    assert repr(plugged) == "PluggedVerifier(name='mine')"
    assert token not in repr(plugged)


def test_plugged_verifier_reads_a_payload_dict_strictly(keyring, clock):
    token = tokens.issue(make_claims(clock), keyring.active)
    payload = make_claims(clock, user="carol").to_payload()
    assert tokens.PluggedVerifier(lambda t: payload).verify(token).claims.user == "carol"
    del payload["act"]
    with pytest.raises(errors.MissingClaimError) as err:
        tokens.PluggedVerifier(lambda t: payload).verify(token)
    assert err.value.claim == "act"


def test_plugged_verifier_names_no_kid_for_an_unreadable_or_kidless_token(keyring, clock):
    claims = make_claims(clock)
    plugged = tokens.PluggedVerifier(lambda t: claims)
    assert plugged.verify("not a token").kid == ""
    kidless = jwt.encode(claims.to_payload(), keyring.active.private, algorithm="EdDSA",
                         headers={"typ": tokens.TOKEN_TYPE})
    assert plugged.verify(kidless).kid == ""
    assert repr(plugged) == "PluggedVerifier(name='plugged')"


def test_plugged_verifier_refusal_propagates(keyring, clock):
    def refuse(token):
        raise errors.ExpiredTokenError("no")

    with pytest.raises(errors.ExpiredTokenError):
        tokens.PluggedVerifier(refuse).verify(tokens.issue(make_claims(clock), keyring.active))


def test_one_shot_verify_accepts_a_good_token_with_the_verifier_options(keyring, clock):
    token = tokens.issue(make_claims(clock), keyring.active)
    verified = tokens.verify(token, keys=keyring, issuer=ISS, audience=AUD, clock=clock)
    assert verified.claims == make_claims(clock) and verified.kid == keyring.active.kid


def test_one_shot_verify_refuses_with_the_same_errors(keyring, clock):
    token = tokens.issue(make_claims(clock, aud="payments"), keyring.active)
    with pytest.raises(errors.WrongAudienceError):
        tokens.verify(token, keys=keyring, issuer=ISS, audience=AUD, clock=clock)
    with pytest.raises(errors.ConfigurationError):
        tokens.verify(token, keys=keyring, issuer=ISS, audience=AUD, clock=clock, leeway=31)


def test_one_shot_verify_applies_the_options_it_is_given(keyring, clock):
    token = tokens.issue(make_claims(clock), keyring.active)
    clock.advance(300 + 20)
    with pytest.raises(errors.ExpiredTokenError):
        tokens.verify(token, keys=keyring, issuer=ISS, audience=AUD, clock=clock)
    assert tokens.verify(token, keys=keyring, issuer=ISS, audience=AUD, clock=clock, leeway=25)


def test_verified_token_refuses_a_forged_proof(keyring, clock):
    with pytest.raises(TypeError):
        tokens.VerifiedToken(make_claims(clock), "kid", object())


def test_key_source_handing_back_a_non_ed25519_key_is_a_disallowed_algorithm(keyring, clock):
    class _Weird:
        def public_key(self, kid):
            return keys.KeyRing(clock=clock, seed="x").active.private  # a private key object

    with pytest.raises(errors.DisallowedAlgorithmError):
        verifier(keyring, clock, keys=_Weird()).verify(tokens.issue(make_claims(clock), keyring.active))


# --- what an operator reads: the part, the expected type, the cap (never the token) ----------------

def _segments(keyring, clock):
    return signed(make_claims(clock).to_payload(), keyring).split(".")


def _sign_raw(keyring, head: str, body: str) -> str:
    return f"{head}.{body}.{keys.b64url(keyring.active.private.sign(f'{head}.{body}'.encode()))}"


@pytest.mark.parametrize("part", ["header", "payload", "signature"])
def test_a_non_canonical_segment_is_malformed_naming_its_part(keyring, clock, part):
    segments = _segments(keyring, clock)
    index = ["header", "payload", "signature"].index(part)
    segments[index] = segments[index][:4] + "!" + segments[index][4:]
    with pytest.raises(errors.MalformedTokenError) as err:
        verifier(keyring, clock).verify(".".join(segments))
    words = str(err.value).split()
    assert [p for p in ("header", "payload", "signature") if p in words] == [part]


@pytest.mark.parametrize(("header", "payload"), [(b"[1]", None), (b"{\"alg\":", None),
                                                 (None, b"[1]"), (None, b"not json")])
def test_a_segment_that_is_not_a_json_object_is_malformed_naming_its_part(keyring, clock, header, payload):
    head, body, _ = _segments(keyring, clock)
    if header is not None:
        head = keys.b64url(header)
    if payload is not None:
        body = keys.b64url(payload)
    with pytest.raises(errors.MalformedTokenError) as err:
        verifier(keyring, clock).verify(_sign_raw(keyring, head, body))
    part = "header" if header is not None else "payload"
    words = str(err.value).split()
    assert [p for p in ("header", "payload") if p in words] == [part]


def test_wrong_typ_names_the_expected_type(keyring, clock):
    token = signed(make_claims(clock).to_payload(), keyring, typ="JWT")
    with pytest.raises(errors.InvalidClaimError) as err:
        verifier(keyring, clock).verify(token)
    assert tokens.TOKEN_TYPE in str(err.value) and "JWT" not in str(err.value).replace("vault+jwt", "")


def test_leeway_refusal_names_the_cap(keyring, clock):
    with pytest.raises(errors.ConfigurationError) as err:
        verifier(keyring, clock, leeway=tokens.MAX_LEEWAY + 1)
    assert str(tokens.MAX_LEEWAY) in str(err.value)


def test_revocation_check_is_told_the_signing_key(keyring, clock):
    class _Recording:
        def __init__(self):
            self.calls = []

        def check(self, claims, kid):
            self.calls.append((claims.jti, kid))

    recording = _Recording()
    verifier(keyring, clock, revocation=recording).verify(tokens.issue(make_claims(clock), keyring.active))
    assert recording.calls == [("tok-0001", keyring.active.kid)]


def test_cache_hit_skips_the_signature_check_but_not_the_key_lookup(keyring, clock):
    """The cache's point: a seen token's signature is not re-checked; its key must still be trusted."""
    other = keys.KeyRing(clock=clock, seed="other").active.public

    class _Swapping:
        def __init__(self):
            self.calls = 0

        def public_key(self, kid):
            self.calls += 1
            return keyring.public_key(kid) if self.calls == 1 else other

    token = tokens.issue(make_claims(clock), keyring.active)
    cached = verifier(keyring, clock, keys=_Swapping(), cache_size=4)
    assert cached.verify(token) and cached.verify(token)  # the second, cached: no signature check
    uncached = verifier(keyring, clock, keys=_Swapping())
    uncached.verify(token)
    with pytest.raises(errors.BadSignatureError):
        uncached.verify(token)


# --- what each refusal says ------------------------------------------------------------------------
# The verifier's errors are what a tool's log line and a learner's notebook show: each failure
# names its check in words of its own (issue 14's message-only mutants), asserted exactly here.

class _X25519Keys:
    """A key source that hands back a key of the wrong kind (an X25519 public key)."""

    def public_key(self, kid: object):
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

        return X25519PrivateKey.generate().public_key()


def _refusal(call) -> tuple[str, str]:
    with pytest.raises((errors.VaultLabError, TypeError)) as err:
        call()
    return type(err.value).__name__, str(err.value)


def test_each_verifier_refusal_says_which_check_failed(keyring, clock):
    good = tokens.issue(make_claims(clock), keyring.active)
    v = verifier(keyring, clock)
    head, body, sig = good.split(".")
    refusals = {
        "empty sub": lambda: v.verify(signed(payload_with(clock, sub=""), keyring)),
        "float exp": lambda: v.verify(signed(payload_with(clock, exp=float(clock.now() + 300)), keyring)),
        "act": lambda: v.verify(signed(payload_with(clock, act={"sub": ""}), keyring)),
        "scope": lambda: v.verify(signed(payload_with(clock, scope=["tickets:read"]), keyring)),
        "order": lambda: v.verify(signed(payload_with(clock, nbf=clock.now() - 10), keyring)),
        "cap": lambda: v.verify(signed(payload_with(clock, exp=clock.now() + 7200), keyring)),
        "signature": lambda: v.verify(f"{head}.{body}.{keys.b64url(b'x' * 64)}"),
        "algorithm": lambda: v.verify(signed(payload_with(clock), keyring, alg="HS256")),
        "key kind": lambda: verifier(_X25519Keys(), clock).verify(good),
        "extension": lambda: v.verify(signed(payload_with(clock), keyring, crit=["exp"])),
        "parts": lambda: v.verify("a.b"),
        "size": lambda: v.verify(""),
        "audience": lambda: verifier(keyring, clock, audience="payments").verify(good),
        "issuer": lambda: verifier(keyring, clock, issuer="https://other.example").verify(good),
        "no issuer": lambda: verifier(keyring, clock, issuer=""),
        "max_ttl": lambda: verifier(keyring, clock, max_ttl=0),
        "verified outside": lambda: tokens.VerifiedToken(claims=make_claims(clock), kid="k", _proof=object()),
    }
    said = {name: _refusal(call) for name, call in refusals.items()}
    assert said == {
        "empty sub": ("InvalidClaimError", "claim 'sub' must be a non-empty string"),
        "float exp": ("InvalidClaimError", "claim 'exp' must be an integer timestamp"),
        "act": ("InvalidClaimError", "claim 'act' must be an object with a non-empty 'sub'"),
        "scope": ("InvalidClaimError", "claim 'scope' must be a space-separated string"),
        "order": ("InvalidClaimError", "claim 'exp' must come after nbf, which must not precede iat"),
        "cap": ("InvalidClaimError", "claim 'exp' lifetime exceeds the verifier's cap"),
        "signature": ("BadSignatureError", "the signature does not match: the token was altered or forged"),
        "algorithm": ("DisallowedAlgorithmError",
                      "the token's algorithm is not accepted (only EdDSA/Ed25519)"),
        "key kind": ("DisallowedAlgorithmError",
                     "the token's algorithm is not accepted (only EdDSA over Ed25519)"),
        "extension": ("MalformedTokenError", "the token header asks for an extension this verifier refuses"),
        "parts": ("MalformedTokenError", "a token has exactly three dot-separated parts"),
        "size": ("MalformedTokenError", "a token is a non-empty string of at most 8 KiB"),
        "audience": ("WrongAudienceError", "the token was issued for a different tool"),
        "issuer": ("WrongIssuerError", "the token was not issued by the trusted vault"),
        "no issuer": ("ConfigurationError", "a verifier needs an issuer and an audience"),
        "max_ttl": ("ConfigurationError", "max_ttl must be positive"),
        "verified outside": ("TypeError", "only a Verifier creates a VerifiedToken"),
    }


def test_expired_and_not_yet_valid_say_so(keyring, clock):
    v = verifier(keyring, clock, leeway=0)
    early = tokens.issue(make_claims(clock, nbf=clock.now() + 60, exp=clock.now() + 120), keyring.active)
    assert _refusal(lambda: v.verify(early)) == ("NotYetValidError", "the token is not valid yet")
    late = tokens.issue(make_claims(clock), keyring.active)
    clock.advance(301)
    assert _refusal(lambda: v.verify(late)) == ("ExpiredTokenError", "the token has expired")
