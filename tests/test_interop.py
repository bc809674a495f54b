"""Interop: an independent JOSE library verifies the vault's tokens from the public JWKS alone.

joserfc (pinned in requirements.txt, test only) shares no code with the kit:
it parses, looks the key up by ``kid`` in the published JWKS and checks the
Ed25519 signature its own way. If it agrees with the kit on a genuine token
and on a tampered one, the tokens are standard compact JWS that any tool can
verify, and the JWKS document is all a tool needs.
"""

from __future__ import annotations

import base64
import json

import pytest
from joserfc import errors as jose_errors
from joserfc import jwk, jwt

from course import errors
from course.policy import AgentRequest, Grant, GrantPolicy
from course.service import spawn_service
from course.vault import ISSUER, Vault

GRANTS = [Grant(tenant="acme", user="alice", agent="helpdesk-bot", tool="tickets", tasks=("triage",),
                scopes=("tickets:read", "tickets:write"), max_ttl=300)]
REQUEST = dict(tenant="acme", user="alice", agent="helpdesk-bot", task="triage", tool="tickets",
               scopes=("tickets:read",), ttl=300)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def independently_verified(token: str, jwks: dict) -> jwt.Token:
    """joserfc's verdict, from the published JWKS only (no kit code on this path).

    joserfc knows RFC 9864 and warns that ``EdDSA`` is deprecated: the kit emits
    it on purpose (see course/tokens.py), so the warning is expected, not ignored.
    """
    assert all("d" not in key for key in jwks["keys"]), "a JWKS must publish public keys only"
    keyset = jwk.KeySet.import_key_set(jwks)
    with pytest.warns(jose_errors.SecurityWarning, match="RFC 9864"):
        return jwt.decode(token, keyset, algorithms=["EdDSA"])


def check_claims(token: jwt.Token, *, session: str) -> None:
    """The claims the vault promises, checked by joserfc's own claims registry."""
    assert token.header["alg"] == "EdDSA" and token.header["typ"] == "vault+jwt"
    c = token.claims
    rules = jwt.JWTClaimsRegistry(
        now=c["iat"], leeway=0,
        iss={"essential": True, "value": ISSUER}, aud={"essential": True, "value": "tickets"},
        sub={"essential": True, "value": "helpdesk-bot"}, exp={"essential": True},
        nbf={"essential": True}, iat={"essential": True}, jti={"essential": True},
    )
    rules.validate(c)
    assert (c["act"], c["tenant"], c["task"], c["session"], c["scope"]) == (
        {"sub": "alice"}, "acme", "triage", session, "tickets:read")
    assert c["exp"] - c["iat"] == 300
    expired = jwt.JWTClaimsRegistry(now=c["exp"], leeway=0, exp={"essential": True})
    with pytest.raises(jose_errors.ExpiredTokenError):
        expired.validate(c)


def one_payload_byte_changed(token: str) -> str:
    """The same token with one byte of the payload changed (still valid JSON), old signature."""
    head, body, sig = token.split(".")
    payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    i = payload.index(b'"acme"') + 4
    forged = payload[:i] + b"f" + payload[i + 1:]
    assert json.loads(forged)["tenant"] == "acmf"
    return f"{head}.{_b64(forged)}.{sig}"


def test_independent_library_verifies_an_in_process_vault_token_from_its_jwks(clock):
    vault = Vault.lab(policy=GrantPolicy(GRANTS), clock=clock, seed="interop")
    s = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    issued = vault.request(AgentRequest(session=s.id, **REQUEST), credential=s.credential)
    jwks = json.loads(json.dumps(vault.jwks()))  # what a tool would fetch: plain JSON

    check_claims(independently_verified(issued.token, jwks), session=s.id)

    forged = one_payload_byte_changed(issued.token)
    with pytest.raises(jose_errors.BadSignatureError):
        independently_verified(forged, jwks)
    with pytest.raises(errors.BadSignatureError):  # and the kit agrees
        vault.verifier("tickets").verify(forged)
    with pytest.raises(jose_errors.JoseError):  # both refuse a second spelling of the genuine token
        independently_verified(issued.token + "==", jwks)
    with pytest.raises(errors.MalformedTokenError):
        vault.verifier("tickets").verify(issued.token + "==")


def test_independent_library_verifies_a_service_token_from_its_jwks_endpoint():
    with spawn_service() as svc:
        s = svc.admin().open_session(tenant="acme", user="alice", agent="helpdesk-bot")
        agent_vault = svc.vault(s)
        token, info = agent_vault.request_token(AgentRequest(session=s.id, **REQUEST))
        jwks = agent_vault.jwks()  # GET /v1/jwks

    verified = independently_verified(token, jwks)
    check_claims(verified, session=s.id)
    assert (verified.claims["jti"], verified.claims["exp"]) == (info.jti, info.exp)
    with pytest.raises(jose_errors.BadSignatureError):
        independently_verified(one_payload_byte_changed(token), jwks)


def test_kit_accepts_the_rfc9864_ed25519_name_and_refuses_ed448_from_an_independent_signer(clock):
    """joserfc 1.8 signs with the fully specified RFC 9864 names; the kit reads "Ed25519" as
    EdDSA over its Ed25519 key and refuses "Ed448" (a curve it never trusts)."""
    vault = Vault.lab(policy=GrantPolicy(GRANTS), clock=clock, seed="interop")
    s = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    claims = vault.verifier("tickets").verify(
        vault.request(AgentRequest(session=s.id, **REQUEST), credential=s.credential).token).claims
    active = vault.keys.active
    private = jwk.OKPKey.import_key(active.private)
    header = {"alg": "Ed25519", "kid": active.kid, "typ": "vault+jwt"}
    token = jwt.encode(header, claims.to_payload(), private, algorithms=["Ed25519"])
    assert vault.verifier("tickets").verify(token).claims == claims

    ed448 = jwk.OKPKey.generate_key("Ed448")
    other = jwt.encode({**header, "alg": "Ed448"}, claims.to_payload(), ed448, algorithms=["Ed448"])
    with pytest.raises(errors.DisallowedAlgorithmError):
        vault.verifier("tickets").verify(other)
