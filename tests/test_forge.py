"""The forge: every attack token it builds is refused by the kit's Verifier with the right error.

The known answers (which error refuses which attack) live in
tests/data/token_attacks.json, so a new attack cannot join the catalogue
untested and a verifier change that weakens a refusal shows up by name.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import jwt
import pytest

from course import errors, forge, keys, tokens
from course.clock import ManualClock

ISS, AUD = "https://vault.lab", "tickets"
KNOWN = json.loads((Path(__file__).parent / "data" / "token_attacks.json").read_text())


def _lab() -> tuple[ManualClock, keys.KeyRing, keys.SigningKey, dict]:
    clock = ManualClock()
    ring = keys.KeyRing(clock=clock, seed="forge-test")
    attacker = keys.KeyRing(clock=clock, seed="forge-attacker").active
    now = clock.now()
    claims = tokens.TokenClaims(
        iss=ISS, sub="helpdesk-bot", aud=AUD, user="alice", tenant="acme", task="triage",
        session="sess-0001", scopes=("tickets:read",), iat=now, nbf=now, exp=now + 300,
        jti="tok-0001")
    return clock, ring, attacker, claims.to_payload()


def _verifier(ring: keys.KeyRing, clock: ManualClock) -> tokens.Verifier:
    return tokens.Verifier(keys=ring, issuer=ISS, audience=AUD, clock=clock)


def _attacks() -> dict[str, forge.Attack]:
    clock, ring, attacker, payload = _lab()
    return {a.name: a for a in forge.catalogue(payload, vault_key=ring.active,
                                               attacker_key=attacker, now=clock.now())}


def test_catalogue_and_known_answers_name_the_same_attacks():
    assert [row["attack"] for row in KNOWN] == list(_attacks())


@pytest.mark.parametrize("row", KNOWN, ids=[row["attack"] for row in KNOWN])
def test_every_forged_token_is_refused_with_its_specific_error(row):
    clock, ring, attacker, payload = _lab()
    attack = {a.name: a for a in forge.catalogue(
        payload, vault_key=ring.active, attacker_key=attacker, now=clock.now())}[row["attack"]]
    assert [e.__name__ for e in attack.rejects_with] == row["rejects_with"]
    with pytest.raises(errors.TokenError) as caught:
        _verifier(ring, clock).verify(attack.token)
    assert type(caught.value) is attack.rejects_with[0]
    if row["attack"].startswith("missing-"):
        assert caught.value.claim == row["attack"].removeprefix("missing-")


def test_the_genuine_token_the_catalogue_starts_from_is_accepted():
    clock, ring, _, payload = _lab()
    verified = _verifier(ring, clock).verify(forge.resign(payload, ring.active))
    assert verified.claims.to_payload() == payload
    assert verified.kid == ring.active.kid


def test_tamper_changes_the_claim_and_keeps_the_old_signature():
    _, ring, _, payload = _lab()
    genuine = forge.resign(payload, ring.active)
    forged = forge.tamper(genuine, tenant="globex", exp=None)
    assert forged.rsplit(".", 1)[1] == genuine.rsplit(".", 1)[1]
    claims = forge.peek(forged)["claims"]
    assert claims["tenant"] == "globex" and "exp" not in claims


def test_swap_header_edits_only_the_header():
    _, ring, _, payload = _lab()
    genuine = forge.resign(payload, ring.active)
    forged = forge.swap_header(genuine, kid="other", typ=None)
    assert forged.split(".")[1:] == genuine.split(".")[1:]
    assert forge.peek(forged)["header"] == {"alg": "EdDSA", "kid": "other"}


def test_hs256_forgery_is_a_real_hmac_under_the_public_key():
    """The attack is real: a verifier that lets the header pick the algorithm accepts it."""
    _, ring, _, payload = _lab()
    raw = forge.public_key_bytes(ring.active.public_jwk(), "raw")
    token = forge.hs256_with_public_key(payload, ring.active.public_jwk(), ring.active.kid,
                                        encoding="raw")
    naive_alg = jwt.get_unverified_header(token)["alg"]
    assert jwt.decode(token, raw, algorithms=[naive_alg], options={"verify_exp": False,
                      "verify_aud": False}) == payload
    pem_token = forge.hs256_with_public_key(payload, ring.active, ring.active.kid)
    head, body, sig = pem_token.split(".")
    pem = forge.public_key_bytes(ring.active.public, "pem")
    expected = hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)) == expected


def test_public_key_bytes_never_reads_private_material():
    _, ring, _, _ = _lab()
    from_key = forge.public_key_bytes(ring.active, "raw")
    assert from_key == forge.public_key_bytes(ring.active.public_jwk(), "raw")
    assert from_key == forge.public_key_bytes(from_key, "raw")
    assert len(from_key) == 32


def test_alg_none_has_an_empty_signature_and_a_naive_reader_believes_it():
    _, ring, _, payload = _lab()
    token = forge.alg_none(payload, ring.active.kid)
    assert token.endswith(".")
    assert jwt.decode(token, options={"verify_signature": False}) == payload


def test_embedded_jwk_carries_the_attackers_public_key_under_the_vaults_kid():
    _, ring, attacker, payload = _lab()
    header = forge.peek(forge.embedded_jwk(payload, attacker, ring.active.kid))["header"]
    assert header["kid"] == ring.active.kid
    assert header["jwk"] == attacker.public_jwk()
    assert "d" not in header["jwk"]  # a public JWK, never the private scalar


def test_missing_claim_under_a_fresh_signature_still_has_a_valid_signature():
    """So only a verifier that REQUIRES the claim refuses it (not merely checks it when present)."""
    clock, ring, _, payload = _lab()
    token = _attacks()["missing-exp"].token
    decoded = jwt.decode(token, ring.active.public, algorithms=["EdDSA"],
                         options={"verify_aud": False})  # PyJWT alone is satisfied
    assert "exp" not in decoded


def test_time_forgeries_are_validly_signed_and_wrong_only_in_time():
    clock, ring, _, payload = _lab()
    now = clock.now()
    old = forge.peek(forge.expired_copy(payload, ring.active, now=now))["claims"]
    assert old["exp"] == now - 60 and old["exp"] - old["iat"] == 300
    early = forge.peek(forge.premature_copy(payload, ring.active, now=now))["claims"]
    assert early["nbf"] == now + 600 and early["iat"] == now


def test_peek_never_shows_the_whole_signature():
    _, ring, _, payload = _lab()
    token = forge.resign(payload, ring.active)
    shown = forge.peek(token)
    assert shown["signature"] == token.rsplit(".", 1)[1][:8] + "..."
    assert token not in json.dumps(shown)


@pytest.mark.parametrize("junk", ["", "a.b", "a.b.c.d", "!!!.e30.x", "e30.W10.x", 7])
def test_peek_refuses_what_is_not_a_token(junk):
    with pytest.raises(errors.MalformedTokenError):
        forge.peek(junk)


def test_attack_repr_never_holds_the_token():
    attack = _attacks()["alg-none"]
    assert attack.token not in repr(attack)


def test_catalogue_is_deterministic():
    first = [(a.name, a.token) for a in _attacks().values()]
    assert first == [(a.name, a.token) for a in _attacks().values()]


@pytest.mark.parametrize("name", ["alg-none", "alg-None", "hs256-public-key-raw"])
def test_the_gullible_verifier_believes_the_algorithm_attacks(name):
    """The attacks are real: a verifier that lets the header choose the algorithm accepts them."""
    _, ring, _, payload = _lab()
    assert forge.gullible_verify(_attacks()[name].token, ring.active.public_jwk()) == payload


def test_the_gullible_verifier_still_refuses_a_plain_tampered_token():
    _, ring, _, payload = _lab()
    with pytest.raises(errors.BadSignatureError):
        forge.gullible_verify(_attacks()["tampered-scope"].token, ring.active.public_jwk())
    genuine = forge.resign(payload, ring.active)
    assert forge.gullible_verify(genuine, ring.active.public_jwk()) == payload


@pytest.mark.parametrize("field", ["tenant", "aud", "iss"])
def test_catalogue_edits_always_change_the_value_even_when_it_matches_the_default_target(field):
    """A payload already for 'globex' / 'payments' / staging still gets a real edit."""
    clock, ring, attacker, payload = _lab()
    target = {"tenant": "globex", "aud": "payments", "iss": "https://staging.vault.lab"}[field]
    payload = {**payload, field: target}
    verifier = tokens.Verifier(keys=ring, issuer=payload["iss"], audience=payload["aud"],
                               clock=clock)
    for attack in forge.catalogue(payload, vault_key=ring.active, attacker_key=attacker,
                                  now=clock.now()):
        with pytest.raises(attack.rejects_with[0]):
            verifier.verify(attack.token)
