"""Tokens: what a verified token proves, and every way a bad one is refused."""

from __future__ import annotations

import base64
import json
import string

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from course import errors, keys, tokens
from course.revocation import RevocationList

ISS, AUD = "https://vault.lab.local", "tickets"


def make_claims(clock, **over):
    now = clock.now()
    base = dict(iss=ISS, sub="helpdesk-bot", aud=AUD, user="alice", tenant="acme", task="triage",
                session="sess-0001", scopes=("tickets:read",), iat=now, nbf=now, exp=now + 300,
                jti="tok-0001")
    base.update(over)
    return tokens.TokenClaims(**base)


def verifier(keyring, clock, **over):
    opts = dict(keys=keyring, issuer=ISS, audience=AUD, clock=clock)
    opts.update(over)
    return tokens.Verifier(**opts)


def resign(payload, keyring, **header):
    h = {"kid": keyring.active.kid, "typ": tokens.TOKEN_TYPE, **header}
    return jwt.encode(payload, keyring.active.private, algorithm="EdDSA", headers=h)


def test_issued_token_verifies_and_round_trips_every_claim(keyring, clock):
    claims = make_claims(clock, single_use=True, approval="ab" * 32)
    verified = verifier(keyring, clock).verify(tokens.issue(claims, keyring.active))
    assert verified.claims == claims
    assert verified.kid == keyring.active.kid


def test_verified_token_cannot_be_made_outside_a_verifier(clock):
    with pytest.raises(TypeError):
        tokens.VerifiedToken(make_claims(clock), "kid", object())


@pytest.mark.parametrize("claim", tokens.REQUIRED_CLAIMS)
def test_each_required_claim_missing_is_rejected_even_when_validly_signed(keyring, clock, claim):
    payload = make_claims(clock).to_payload()
    del payload[claim]
    with pytest.raises(errors.MissingClaimError) as err:
        verifier(keyring, clock).verify(resign(payload, keyring))
    assert err.value.claim == claim


@pytest.mark.parametrize(
    ("advance", "error"),
    [(305, errors.ExpiredTokenError), (306, errors.ExpiredTokenError), (10_000, errors.ExpiredTokenError)],
)
def test_expired_token_is_rejected(keyring, clock, advance, error):
    token = tokens.issue(make_claims(clock), keyring.active)
    clock.advance(advance)
    with pytest.raises(error):
        verifier(keyring, clock).verify(token)


def test_expiry_respects_small_leeway_only(keyring, clock):
    token = tokens.issue(make_claims(clock), keyring.active)
    clock.advance(303)
    assert verifier(keyring, clock, leeway=5).verify(token)
    with pytest.raises(errors.ExpiredTokenError):
        verifier(keyring, clock, leeway=0).verify(token)


def test_not_yet_valid_token_is_rejected(keyring, clock):
    now = clock.now()
    token = tokens.issue(make_claims(clock, iat=now, nbf=now + 60, exp=now + 300), keyring.active)
    with pytest.raises(errors.NotYetValidError):
        verifier(keyring, clock).verify(token)


def test_token_issued_in_the_future_is_rejected(keyring, clock):
    now = clock.now()
    token = tokens.issue(make_claims(clock, iat=now + 100, nbf=now + 100, exp=now + 300), keyring.active)
    with pytest.raises(errors.NotYetValidError):
        verifier(keyring, clock).verify(token)


@pytest.mark.parametrize("leeway", [31, 3600, -1])
def test_leeway_above_cap_is_refused_at_construction(keyring, clock, leeway):
    with pytest.raises(errors.ConfigurationError):
        verifier(keyring, clock, leeway=leeway)


def test_wrong_audience_is_rejected(keyring, clock):
    token = tokens.issue(make_claims(clock, aud="payments"), keyring.active)
    with pytest.raises(errors.WrongAudienceError):
        verifier(keyring, clock).verify(token)


def test_list_audience_is_not_accepted(keyring, clock):
    payload = make_claims(clock).to_payload()
    payload["aud"] = [AUD, "payments"]
    with pytest.raises(errors.InvalidClaimError):
        verifier(keyring, clock).verify(resign(payload, keyring))


def test_wrong_issuer_is_rejected(keyring, clock):
    token = tokens.issue(make_claims(clock, iss="https://evil.example"), keyring.active)
    with pytest.raises(errors.WrongIssuerError):
        verifier(keyring, clock).verify(token)


def test_lifetime_above_cap_is_rejected(keyring, clock):
    now = clock.now()
    token = tokens.issue(make_claims(clock, exp=now + 7200), keyring.active)
    with pytest.raises(errors.InvalidClaimError):
        verifier(keyring, clock).verify(token)


def test_tampered_claims_fail_the_signature(keyring, clock):
    token = tokens.issue(make_claims(clock), keyring.active)
    head, body, sig = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=="))
    payload["scope"] = "tickets:read tickets:write payments:charge"
    forged_body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    with pytest.raises(errors.BadSignatureError):
        verifier(keyring, clock).verify(f"{head}.{forged_body}.{sig}")


def _unsigned(header: dict, payload: dict, signature: bytes = b"") -> str:
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{enc(header)}.{enc(payload)}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "HS256", "RS256", "ES256", ""])
def test_algorithms_other_than_eddsa_are_refused(keyring, clock, alg):
    payload = make_claims(clock).to_payload()
    token = _unsigned({"alg": alg, "typ": tokens.TOKEN_TYPE, "kid": keyring.active.kid}, payload)
    with pytest.raises(errors.DisallowedAlgorithmError):
        verifier(keyring, clock).verify(token)


def test_hs256_signed_with_the_public_key_is_refused(keyring, clock):
    import hashlib
    import hmac

    public_raw = base64.urlsafe_b64decode(keyring.active.public_jwk()["x"] + "=")
    header = {"alg": "HS256", "typ": tokens.TOKEN_TYPE, "kid": keyring.active.kid}
    unsigned = _unsigned(header, make_claims(clock).to_payload()).rsplit(".", 1)[0]
    sig = hmac.new(public_raw, unsigned.encode(), hashlib.sha256).digest()
    token = unsigned + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()
    with pytest.raises(errors.DisallowedAlgorithmError):
        verifier(keyring, clock).verify(token)


def test_token_signed_by_an_unknown_key_is_refused(keyring, clock):
    other = keys.KeyRing(clock=clock, seed="attacker")
    with pytest.raises(errors.UnknownKeyError):
        verifier(keyring, clock).verify(tokens.issue(make_claims(clock), other.active))


def test_attacker_key_with_a_trusted_kid_fails_the_signature(keyring, clock):
    other = keys.KeyRing(clock=clock, seed="attacker")
    token = jwt.encode(make_claims(clock).to_payload(), other.active.private, algorithm="EdDSA",
                       headers={"kid": keyring.active.kid, "typ": tokens.TOKEN_TYPE})
    with pytest.raises(errors.BadSignatureError):
        verifier(keyring, clock).verify(token)


def test_wrong_typ_is_refused(keyring, clock):
    token = resign(make_claims(clock).to_payload(), keyring, typ="JWT")
    with pytest.raises(errors.InvalidClaimError):
        verifier(keyring, clock).verify(token)


def test_revoked_token_is_refused(keyring, clock):
    revoked = RevocationList()
    token = tokens.issue(make_claims(clock), keyring.active)
    v = verifier(keyring, clock, revocation=revoked)
    v.verify(token)
    revoked.revoke_jti("tok-0001")
    with pytest.raises(errors.RevokedTokenError):
        v.verify(token)


def test_rotated_key_verifies_until_its_last_token_expires(keyring, clock):
    token = tokens.issue(make_claims(clock, exp=clock.now() + 3600), keyring.active)
    keyring.rotate()
    clock.advance(3599)
    assert verifier(keyring, clock).verify(token)
    clock.advance(1)
    with pytest.raises(errors.TokenError):
        verifier(keyring, clock).verify(token)


def test_compromised_key_is_distrusted_at_once(keyring, clock):
    old = keyring.active
    token = tokens.issue(make_claims(clock), old)
    keyring.compromise(old.kid)
    assert keyring.active.kid != old.kid
    with pytest.raises(errors.UnknownKeyError):
        verifier(keyring, clock).verify(token)
    assert old.kid not in [k["kid"] for k in keyring.jwks()["keys"]]


def test_jwks_holds_public_keys_only_and_verifies(keyring, clock):
    doc = keyring.jwks()
    assert all(set(k) == {"kty", "crv", "alg", "use", "kid", "x"} for k in doc["keys"])
    v = tokens.Verifier(keys=keys.JWKSKeys(doc), issuer=ISS, audience=AUD, clock=clock)
    assert v.verify(tokens.issue(make_claims(clock), keyring.active))


def test_seeded_keys_are_deterministic(clock):
    a = keys.KeyRing(clock=clock, seed="lab")
    b = keys.KeyRing(clock=clock, seed="lab")
    assert a.active.kid == b.active.kid
    assert tokens.issue(make_claims(clock), a.active) == tokens.issue(make_claims(clock), b.active)


def test_errors_and_reprs_never_contain_token_text(keyring, clock):
    token = tokens.issue(make_claims(clock), keyring.active)
    clock.advance(1000)
    with pytest.raises(errors.TokenError) as err:
        verifier(keyring, clock).verify(token)
    for part in token.split("."):
        assert part not in str(err.value) and part not in repr(err.value)
    assert "private" not in repr(keyring.active).lower() or "Ed25519PrivateKey" not in repr(keyring.active)


@pytest.mark.parametrize("junk", ["", "a", "a.b", "a.b.c", "....", "x" * 9000, None, 42, b"a.b.c",
                                  "eyJhbGciOiJFZERTQSJ9.e30.", "bm90IGpzb24.e30.AA"])
def test_malformed_tokens_raise_typed_errors(keyring, clock, junk):
    with pytest.raises(errors.TokenError):
        verifier(keyring, clock).verify(junk)


# --- one token, one spelling ---------------------------------------------------------------

B64URL = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _lenient(segment: str) -> bytes:
    """How the old kit (and PyJWT) read a segment: pad, then decode forgivingly."""
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _members(pairs) -> str:
    compact = dict(separators=(",", ":"))
    return "{" + ",".join(f"{json.dumps(k)}:{json.dumps(v, **compact)}" for k, v in pairs) + "}"


def _signed(keyring, head: str, body: str, *, private=None) -> str:
    """``head.body`` (any spelling) under a FRESH valid signature by the trusted key."""
    private = private or keyring.active.private
    return f"{head}.{body}.{_b64(private.sign(f'{head}.{body}'.encode()))}"


def _header_pairs(keyring, **extra):
    return [("alg", "EdDSA"), ("kid", keyring.active.kid), ("typ", tokens.TOKEN_TYPE), *extra.items()]


def _respellable(text: str) -> str:
    """The canonical segment of ``text`` padded with JSON whitespace until its base64url has
    unused trailing bits (so padding and trailing-bit spellings exist) and a '-' or '_'."""
    for spaces in range(3):
        seg = _b64((text + " " * spaces).encode())
        if len(seg) % 4 in (2, 3) and ("-" in seg or "_" in seg):
            return seg
    raise AssertionError("no respellable segment")  # '~~~~~~' makes a '-' certain


def _parts(keyring, clock):
    """Canonical header, payload and signature segments to which every spelling below applies."""
    head = _respellable(_members(_header_pairs(keyring, note="~~~~~~")))
    for n in range(500):
        payload = {**make_claims(clock, jti=f"tok-{n:04d}").to_payload(), "note": "~~~~~~"}
        body = _respellable(json.dumps(payload))
        sig = _signed(keyring, head, body).rsplit(".", 1)[1]
        if "-" in sig or "_" in sig:
            return head, body, sig
    raise AssertionError("no respellable signature")


def _set_trailing_bit(segment: str) -> str:
    return segment[:-1] + B64URL[B64URL.index(segment[-1]) | 1]


SPELLINGS = {
    "padding": lambda s: s + "=" * (-len(s) % 4),
    "one-padding-char": lambda s: s + "=",
    "data-after-padding": lambda s: s + "=" * (-len(s) % 4) + "AAAA",
    "non-zero-trailing-bits": _set_trailing_bit,
    "standard-alphabet": lambda s: s.replace("-", "+").replace("_", "/"),
    "junk-characters": lambda s: s[:8] + "!*!*" + s[8:],
    "line-breaks": lambda s: s[:8] + "\r\n\r\n" + s[8:],
}


@pytest.mark.parametrize("part", ["header", "payload", "signature"])
@pytest.mark.parametrize("spelling", list(SPELLINGS))
def test_second_spelling_of_a_segment_is_refused_even_under_a_fresh_signature(
        keyring, clock, part, spelling):
    head, body, sig = _parts(keyring, clock)
    assert verifier(keyring, clock).verify(f"{head}.{body}.{sig}")  # the canonical spelling is fine
    original = {"header": head, "payload": body, "signature": sig}[part]
    respelt = SPELLINGS[spelling](original)
    assert respelt != original and _lenient(respelt) == _lenient(original)  # same bytes, other text
    if part == "signature":
        candidate = f"{head}.{body}.{respelt}"
    else:  # the trusted key signs the respelt text, so only the spelling is wrong
        candidate = _signed(keyring, respelt, body) if part == "header" else _signed(keyring, head, respelt)
    with pytest.raises(errors.MalformedTokenError):
        verifier(keyring, clock).verify(candidate)
    with pytest.raises(errors.MalformedTokenError):
        tokens.unverified_header(candidate)


def test_padded_signature_does_not_ride_on_the_cached_canonical_token(keyring, clock):
    v = verifier(keyring, clock, cache_size=16)
    genuine = tokens.issue(make_claims(clock), keyring.active)
    assert v.verify(genuine)  # now cached
    for respelt in (genuine + "==", genuine + "=", genuine[:-1] + B64URL[B64URL.index(genuine[-1]) | 1]):
        with pytest.raises(errors.MalformedTokenError):
            v.verify(respelt)
    assert v.verify(genuine)


def test_str_subclass_claiming_equality_with_a_cached_token_is_refused(keyring, clock):
    v = verifier(keyring, clock, cache_size=16)
    genuine = tokens.issue(make_claims(clock), keyring.active)
    v.verify(genuine)

    class LooksEqual(str):
        def __eq__(self, other):
            return True

        def __hash__(self):
            return hash(genuine)

    with pytest.raises(errors.MalformedTokenError):
        v.verify(LooksEqual("not a token"))


@pytest.mark.parametrize(("where", "old", "new"), [
    ("payload", '"aud":', '"aud":"payments","aud":'),
    ("payload", '"tenant":', '"tenant":"globex","tenant":'),
    ("payload", '"scope":', '"scope":"payments:charge","scope":'),
    ("payload", '"exp":', '"exp":4102444800,"exp":'),
    ("payload", '"jti":"tok-0001"', '"jti":"tok-0001","jti":"tok-0001"'),
    ("payload", '"act":{"sub":"alice"}', '"act":{"sub":"mallory","sub":"alice"}'),
    ("header", '"alg":', '"alg":"none","alg":'),
    ("header", '"kid":', '"kid":"attacker","kid":'),
    ("header", '"typ":', '"typ":"JWT","typ":'),
])
def test_repeated_member_is_refused_even_under_a_fresh_signature(keyring, clock, where, old, new):
    head_text = _members(_header_pairs(keyring))
    body_text = _members(make_claims(clock).to_payload().items())
    if where == "payload":
        body_text = body_text.replace(old, new, 1)
    else:
        head_text = head_text.replace(old, new, 1)
    assert new in head_text + body_text
    token = _signed(keyring, _b64(head_text.encode()), _b64(body_text.encode()))
    with pytest.raises(errors.MalformedTokenError) as err:
        verifier(keyring, clock).verify(token)
    assert "repeats a member name" in str(err.value)


def test_non_json_constants_in_the_payload_are_refused(keyring, clock):
    body_text = _members(make_claims(clock).to_payload().items()).replace('"once"', "x")
    body_text = body_text[:-1] + ',"weight":NaN}'
    token = _signed(keyring, _b64(_members(_header_pairs(keyring)).encode()), _b64(body_text.encode()))
    with pytest.raises(errors.MalformedTokenError):
        verifier(keyring, clock).verify(token)


@pytest.mark.parametrize("extension", [{"crit": ["exp"], "exp": 1}, {"b64": False, "crit": ["b64"]},
                                       {"b64": True}])
def test_critical_header_extensions_are_refused(keyring, clock, extension):
    head = _b64(_members(_header_pairs(keyring, **extension)).encode())
    token = _signed(keyring, head, _b64(json.dumps(make_claims(clock).to_payload()).encode()))
    with pytest.raises(errors.MalformedTokenError):
        verifier(keyring, clock).verify(token)


# --- which algorithm name (RFC 9864) -----------------------------------------------------------

class _Ed448Source:
    """A key source that (wrongly) hands out an Ed448 key under the trusted kid."""

    def __init__(self, kid, public):
        self.kid, self.public = kid, public

    def public_key(self, kid):
        if kid != self.kid:
            raise errors.UnknownKeyError("unknown")
        return self.public


@pytest.mark.parametrize("alg", ["EdDSA", "Ed448"])
def test_ed448_signature_is_refused_whatever_the_header_calls_it(keyring, clock, alg):
    ed448 = Ed448PrivateKey.generate()
    head = _b64(_members([("alg", alg), *_header_pairs(keyring)[1:]]).encode())
    token = _signed(keyring, head, _b64(json.dumps(make_claims(clock).to_payload()).encode()),
                    private=ed448)
    source = _Ed448Source(keyring.active.kid, ed448.public_key())
    with pytest.raises(errors.DisallowedAlgorithmError):
        verifier(keyring, clock, keys=source).verify(token)


def test_fully_specified_ed25519_name_is_the_same_algorithm(keyring, clock):
    head = _b64(_members([("alg", "Ed25519"), *_header_pairs(keyring)[1:]]).encode())
    claims = make_claims(clock)
    token = _signed(keyring, head, _b64(json.dumps(claims.to_payload()).encode()))
    assert verifier(keyring, clock).verify(token).claims == claims
    assert tokens.unverified_header(tokens.issue(claims, keyring.active))["alg"] == "EdDSA"


# --- JWKS documents ----------------------------------------------------------------------------

@pytest.mark.parametrize("broken", [
    {"x": None}, {"kid": None}, {"kid": 7}, {"kid": ""}, {"x": 7}, {"x": "pad="}, {"x": "AAAA"},
    {"x": "+/+/"}, {"crv": "Ed448"}, {"kty": "EC"}, {"alg": "Ed448"}, {"alg": "HS256"}, {"use": "enc"},
])
def test_jwks_with_a_missing_or_wrong_field_is_a_configuration_error(keyring, broken):
    jwk = dict(keyring.active.public_jwk())
    jwk["x"] = jwk["x"] + "=" if broken.get("x") == "pad=" else jwk["x"]
    jwk.update({k: v for k, v in broken.items() if v != "pad="})
    jwk = {k: v for k, v in jwk.items() if v is not None}
    with pytest.raises(errors.ConfigurationError):
        keys.JWKSKeys({"keys": [jwk]})


@pytest.mark.parametrize("doc", [{}, {"keys": {}}, [], None, "keys"])
def test_jwks_document_that_is_not_a_key_list_is_a_configuration_error(doc):
    with pytest.raises(errors.ConfigurationError):
        keys.JWKSKeys(doc)


def test_jwks_naming_one_kid_twice_is_a_configuration_error(keyring, clock):
    other = keys.KeyRing(clock=clock, seed="other").active.public_jwk()
    with pytest.raises(errors.ConfigurationError):
        keys.JWKSKeys({"keys": [keyring.active.public_jwk(), {**other, "kid": keyring.active.kid}]})


def test_jwks_accepts_the_fully_specified_ed25519_alg(keyring, clock):
    source = keys.JWKSKeys({"keys": [{**keyring.active.public_jwk(), "alg": "Ed25519"}]})
    assert source.public_key(keyring.active.kid) == keyring.active.public


# --- fuzzing --------------------------------------------------------------------------------

def _no_repeats(pairs):
    assert len(dict(pairs)) == len(pairs), "a repeated member was accepted"
    return dict(pairs)


@settings(max_examples=400, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_tokens_never_crash_untyped_and_never_verify(keyring, clock, data):
    genuine = tokens.issue(make_claims(clock), keyring.active)
    head, body, sig = genuine.split(".")
    kind = data.draw(st.sampled_from(["text", "flip", "splice", "respell", "case-flip", "repeat"]))
    fresh = False  # True: the trusted key signed the mutated text
    if kind == "text":
        candidate = data.draw(st.text(max_size=300))
    elif kind == "flip":
        i = data.draw(st.integers(0, len(genuine) - 1))
        c = data.draw(st.characters(codec="ascii").filter(lambda ch: ch != genuine[i]))
        candidate = genuine[:i] + c + genuine[i + 1:]
    elif kind == "splice":
        parts = genuine.split(".")
        j = data.draw(st.integers(0, 2))
        parts[j] = data.draw(st.text(alphabet="ABCDEFGHIJabcdefghij0123456789-_=", max_size=80))
        candidate = ".".join(parts)
    elif kind in ("respell", "case-flip"):
        j = data.draw(st.integers(0, 2))
        seg = (head, body, sig)[j]
        if kind == "respell":
            seg = data.draw(st.sampled_from([
                seg + data.draw(st.sampled_from(["=", "==", "===", "=A", "==AAAA", "\n"])),
                seg.replace("-", "+").replace("_", "/"),
                seg[:-1] + B64URL[B64URL.index(seg[-1]) | data.draw(st.integers(1, 15))],
            ]))
        else:
            i = len(seg) - 1 - data.draw(st.integers(0, min(3, len(seg) - 1)))
            seg = seg[:i] + seg[i].swapcase() + seg[i + 1:]
        if j == 2:
            candidate = f"{head}.{body}.{seg}"
        else:
            fresh = True
            candidate = _signed(keyring, seg, body) if j == 0 else _signed(keyring, head, seg)
    else:
        fresh = True
        in_header = data.draw(st.booleans())
        pairs = list(_header_pairs(keyring) if in_header else make_claims(clock).to_payload().items())
        k, v = data.draw(st.sampled_from(pairs))
        value = data.draw(st.sampled_from([v, "payments", 0, None, "EdDSA"]))
        pairs.insert(data.draw(st.integers(0, len(pairs))), (k, value))
        text = _b64(_members(pairs).encode())
        candidate = _signed(keyring, text, body) if in_header else _signed(keyring, head, text)
    try:
        verified = verifier(keyring, clock).verify(candidate)
    except errors.TokenError:
        return
    # Whatever passed has one spelling: canonical segments, no repeated member, and, unless
    # the trusted key signed the mutation, it is the genuine token itself.
    segments = candidate.split(".")
    assert [_b64(_lenient(s)) for s in segments] == segments
    payload = json.loads(_lenient(segments[1]), object_pairs_hook=_no_repeats)
    json.loads(_lenient(segments[0]), object_pairs_hook=_no_repeats)
    assert verified.claims == tokens.TokenClaims.from_payload(payload)
    assert fresh or candidate == genuine
