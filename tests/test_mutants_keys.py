"""Keys: the kid is the RFC 7638 thumbprint, JWKS defaults, retirement to the second (issue 14).

Mutation testing found the kid computation unpinned (any change to the thumbprint's JSON
would silently rename every key), the JWKS defaults for a key without ``alg``/``use``, an
unknown ``kid`` in a JWKS, and the second a rotated key stops verifying.
"""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from course import errors, keys
from course.clock import ManualClock

# RFC 8037, appendix A.2 and A.3: an Ed25519 public key and its RFC 7638 thumbprint.
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def _rfc_key() -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(RFC8037_X + "="))


def test_kid_is_the_rfc7638_thumbprint_of_the_rfc8037_example_key() -> None:
    assert keys.thumbprint(_rfc_key()) == RFC8037_THUMBPRINT[:16]


def test_b64url_has_no_padding() -> None:
    assert keys.b64url(b"\xff") == "_w" and keys.b64url(b"\xff\xff") == "__8"
    assert keys.b64url_decode("_w") == b"\xff"


def test_a_jwk_without_alg_or_use_is_an_ed25519_signing_key() -> None:
    source = keys.JWKSKeys({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X, "kid": "k1"}]})
    assert source.public_key("k1") == _rfc_key()


@pytest.mark.parametrize("field", [{"alg": "Ed448"}, {"use": "enc"}])
def test_a_jwk_for_another_algorithm_or_use_is_refused(field: dict[str, str]) -> None:
    with pytest.raises(errors.ConfigurationError):
        keys.JWKSKeys({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X, "kid": "k1", **field}]})


@pytest.mark.parametrize("kid", ["k2", "", None, 1])
def test_an_unknown_kid_in_a_jwks_is_an_unknown_key(kid: object) -> None:
    source = keys.JWKSKeys({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X, "kid": "k1"}]})
    with pytest.raises(errors.UnknownKeyError):
        source.public_key(kid)


@pytest.mark.parametrize("ttl", [0, -1])
def test_a_non_positive_max_token_ttl_is_refused(clock: ManualClock, ttl: int) -> None:
    with pytest.raises(errors.ConfigurationError):
        keys.KeyRing(clock=clock, seed="k", max_token_ttl=ttl)


def test_a_one_second_max_token_ttl_and_the_hour_default(clock: ManualClock) -> None:
    assert keys.KeyRing(clock=clock, seed="k", max_token_ttl=1).max_token_ttl == 1
    assert keys.KeyRing(clock=clock, seed="k").max_token_ttl == 3600


def test_a_rotated_key_verifies_until_the_second_it_retires(clock: ManualClock) -> None:
    ring = keys.KeyRing(clock=clock, seed="k", max_token_ttl=100)
    old = ring.active
    ring.rotate()
    clock.advance(99)
    assert ring.public_key(old.kid) == old.public
    clock.advance(1)
    with pytest.raises(errors.UnknownKeyError):
        ring.public_key(old.kid)
    assert ring.public_key(ring.active.kid) == ring.active.public


def test_compromising_an_unknown_kid_changes_nothing(clock: ManualClock) -> None:
    ring = keys.KeyRing(clock=clock, seed="k")
    active = ring.active
    ring.compromise("never-issued")
    assert ring.active == active and ring.public_key(active.kid) == active.public


def test_b64url_keeps_a_trailing_x() -> None:
    assert keys.b64url(b"\x00\x00\x17") == "AAAX"


def test_seeded_keys_derive_from_the_seed_and_the_generation(clock: ManualClock) -> None:
    import hashlib

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    def expected(generation: int) -> str:
        material = hashlib.sha256(f"vault-lab-key|lab|{generation}".encode()).digest()
        return keys.thumbprint(Ed25519PrivateKey.from_private_bytes(material).public_key())

    ring = keys.KeyRing(clock=clock, seed="lab")
    assert ring.active.kid == expected(1) and ring.active.created_at == clock.now()
    clock.advance(5)
    assert ring.rotate().kid == expected(2) and ring.active.created_at == clock.now()
    assert ring.rotate().kid == expected(3)


def test_unseeded_rings_make_fresh_keys(clock: ManualClock) -> None:
    a, b = keys.KeyRing(clock=clock), keys.KeyRing(clock=clock)
    assert a.active.kid != b.active.kid
    assert a.public_key(a.active.kid) == a.active.public


def test_kids_and_jwks_drop_a_rotated_key_the_second_it_retires(clock: ManualClock) -> None:
    ring = keys.KeyRing(clock=clock, seed="k", max_token_ttl=100)
    old = ring.rotate().kid and ring.kids()
    assert len(old) == 2
    clock.advance(99)
    assert len(ring.kids()) == 2 and len(ring.jwks()["keys"]) == 2
    clock.advance(1)
    assert ring.kids() == (ring.active.kid,)
    assert [k["kid"] for k in ring.jwks()["keys"]] == [ring.active.kid]
    assert repr(ring) == f"KeyRing(active={ring.active.kid!r}, trusted=1)"


def test_keys_and_rings_refuse_pickling(clock: ManualClock) -> None:
    import pickle

    ring = keys.KeyRing(clock=clock, seed="k")
    for thing in (ring, ring.active):
        with pytest.raises(TypeError):
            pickle.dumps(thing)


def test_jwks_repr_counts_keys_only() -> None:
    source = keys.JWKSKeys({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X, "kid": "k1"}]})
    assert repr(source) == "JWKSKeys(kids=('k1',))"


# ---------------------------------------------------------------- what each refusal says
# A learner fixing a JWKS or a key ring reads these words, and a verifier's UnknownKeyError
# says which key check failed: one exact message per refusal (issue 14's message-only mutants).

_OKP = {"kty": "OKP", "crv": "Ed25519"}


def _jwk(**over: object) -> dict[str, object]:
    ring = keys.KeyRing(clock=ManualClock(), seed="messages")
    return {**ring.jwks()["keys"][0], **over}


@pytest.mark.parametrize(("jwks", "message"), [
    ([], "a JWKS is a JSON object with a 'keys' list"),
    ({"keys": [{"kty": "RSA"}]}, "JWKS may hold only Ed25519 (OKP) keys"),
    ({"keys": [{**_OKP, "kid": ""}]}, "every JWK needs a non-empty string 'kid'"),
    ({"keys": [_jwk(alg="RS256")]}, "a JWK's 'alg' must name an Ed25519 signature"),
    ({"keys": [_jwk(use="enc")]}, "a JWK in a verifier's JWKS must be for signatures"),
    ({"keys": [_jwk(), _jwk()]}, "the JWKS names one kid twice"),
    ({"keys": [_jwk(x="AAAA")]}, "every JWK needs 'x': a canonical base64url Ed25519 public key (32 bytes)"),
], ids=["not-an-object", "not-okp", "no-kid", "alg", "use", "kid-twice", "bad-x"])
def test_each_jwks_refusal_says_what_a_jwks_must_be(jwks: object, message: str) -> None:
    with pytest.raises(errors.ConfigurationError) as err:
        keys.JWKSKeys(jwks)
    assert str(err.value) == message


def test_each_unknown_key_says_which_check_failed() -> None:
    clock = ManualClock()
    ring = keys.KeyRing(clock=clock, seed="messages")
    jwks = keys.JWKSKeys(ring.jwks())
    for call, message in [(lambda: ring.public_key(7), "the token names no usable key id"),
                          (lambda: ring.public_key("nope"), "the token's key id is not trusted"),
                          (lambda: jwks.public_key("nope"), "the token's key id is not in the JWKS")]:
        with pytest.raises(errors.UnknownKeyError) as err:
            call()
        assert str(err.value) == message


@pytest.mark.parametrize(("text", "message"), [
    (7, "base64url text must be a str"), ("a", "not base64url"),
    ("QR", "not the canonical base64url spelling"),
])
def test_each_base64url_refusal_says_why(text: object, message: str) -> None:
    with pytest.raises(ValueError) as err:
        keys.b64url_decode(text)
    assert str(err.value) == message


def test_key_objects_refuse_pickling_and_a_ring_a_non_positive_ttl_with_their_words() -> None:
    ring = keys.KeyRing(clock=ManualClock(), seed="messages")
    for obj, message in [(ring, "a KeyRing refuses to be pickled"),
                         (ring.active, "a SigningKey refuses to be pickled")]:
        with pytest.raises(TypeError) as err:
            obj.__reduce__()
        assert str(err.value) == message
    with pytest.raises(errors.ConfigurationError) as err:
        keys.KeyRing(clock=ManualClock(), max_token_ttl=0)
    assert str(err.value) == "max_token_ttl must be positive"
