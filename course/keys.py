"""Signing keys: Ed25519 with a ``kid``, a JWKS view, and rotation.

Rotation keeps an old public key verifiable until the last token it could
have signed expires (``rotated_at + max_token_ttl``), then drops it. A key
reported compromised is dropped at once: every token it signed dies with it.
In the lab, keys are derived from a seed so notebook outputs are stable.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from typing import NoReturn

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .clock import Clock
from .errors import ConfigurationError, UnknownKeyError

# The JOSE names a kit key signs under: RFC 8037's polymorphic "EdDSA" (what the
# kit emits) and RFC 9864's fully specified "Ed25519". Both mean Ed25519 here,
# because every key the kit holds or loads is an Ed25519 key (see tokens.py).
ED25519_ALGORITHMS: tuple[str, ...] = ("EdDSA", "Ed25519")


def b64url(data: bytes) -> str:
    """Unpadded base64url, as JOSE uses it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: object) -> bytes:
    """The inverse of :func:`b64url`, accepting only its exact output.

    One byte string has one spelling: re-encoding the decoded bytes must give
    back ``text`` exactly. That refuses padding (``=``), characters outside
    the url-safe alphabet (``+``, ``/``, whitespace, anything else), data
    after padding, non-zero trailing bits and impossible lengths: each is a
    second spelling of the same bytes, which a lenient decoder would accept.

    Raises:
        ValueError: ``text`` is not a str, or not the canonical base64url spelling of any bytes.
    """
    if type(text) is not str:
        raise ValueError("base64url text must be a str")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None
    if b64url(raw) != text:
        raise ValueError("not the canonical base64url spelling")
    return raw


def _raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def thumbprint(public: Ed25519PublicKey) -> str:
    """RFC 7638 JWK thumbprint (first 16 characters): the key's ``kid``."""
    jwk = {"crv": "Ed25519", "kty": "OKP", "x": b64url(_raw_public(public))}
    canonical = json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()
    return b64url(hashlib.sha256(canonical).digest())[:16]


@dataclass(frozen=True, slots=True, kw_only=True)
class SigningKey:
    """One Ed25519 key pair and its ``kid``. Its repr never shows private material."""

    kid: str
    private: Ed25519PrivateKey = field(repr=False)
    created_at: int
    public: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Derived once: every verification looks it up, and deriving it costs ~10 us.
        object.__setattr__(self, "public", self.private.public_key())

    def public_jwk(self) -> dict[str, str]:
        """The public half as a JWK (what a JWKS endpoint publishes)."""
        return {
            "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
            "kid": self.kid, "x": b64url(_raw_public(self.public)),
        }

    def __reduce__(self) -> NoReturn:
        raise TypeError("a SigningKey refuses to be pickled")


@dataclass(slots=True)
class _Entry:
    key: SigningKey
    retire_at: int | None = None  # None: still active or trusted indefinitely


class KeyRing:
    """The vault's signing keys: one active, older ones trusted until their tokens expire.

    Args:
        clock: the time source deciding when a rotated key retires.
        seed: derive keys deterministically (the lab); ``None`` for random keys.
        max_token_ttl: the longest lifetime any token can have; a rotated key
            stays verifiable this long after rotation.
    """

    def __init__(self, *, clock: Clock, seed: str | None = None, max_token_ttl: int = 3600) -> None:
        if max_token_ttl <= 0:
            raise ConfigurationError("max_token_ttl must be positive")
        self._clock = clock
        self._seed = seed
        self._generation = 0
        self.max_token_ttl = max_token_ttl
        self._entries: dict[str, _Entry] = {}
        self._active = self._new_key()

    def _new_key(self) -> SigningKey:
        self._generation += 1
        if self._seed is None:
            private = Ed25519PrivateKey.generate()
        else:
            material = hashlib.sha256(f"vault-lab-key|{self._seed}|{self._generation}".encode())
            private = Ed25519PrivateKey.from_private_bytes(material.digest())
        key = SigningKey(kid=thumbprint(private.public_key()), private=private,
                         created_at=self._clock.now())
        self._entries[key.kid] = _Entry(key)
        return key

    @property
    def active(self) -> SigningKey:
        """The key new tokens are signed with."""
        return self._active

    def rotate(self) -> SigningKey:
        """Start signing with a fresh key; the old one verifies until its last token expires."""
        old = self._entries[self._active.kid]
        old.retire_at = self._clock.now() + self.max_token_ttl
        self._active = self._new_key()
        return self._active

    def compromise(self, kid: str) -> None:
        """Distrust ``kid`` immediately (it leaked); rotate first if it was the active key."""
        if kid == self._active.kid:
            self.rotate()
        self._entries.pop(kid, None)

    def _live(self) -> list[SigningKey]:
        now = self._clock.now()
        return [e.key for e in self._entries.values() if e.retire_at is None or now < e.retire_at]

    def public_key(self, kid: object) -> Ed25519PublicKey:
        """The public key for ``kid`` if it is still trusted.

        Raises:
            UnknownKeyError: no such key, or it was retired or compromised.
        """
        if not isinstance(kid, str):
            raise UnknownKeyError("the token names no usable key id")
        entry = self._entries.get(kid)
        if entry is None or (entry.retire_at is not None and self._clock.now() >= entry.retire_at):
            raise UnknownKeyError("the token's key id is not trusted")
        return entry.key.public

    def kids(self) -> tuple[str, ...]:
        """The ids of every key still trusted for verification."""
        return tuple(k.kid for k in self._live())

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWKS document: every public key still trusted, never a private one."""
        return {"keys": [k.public_jwk() for k in self._live()]}

    def __repr__(self) -> str:
        return f"KeyRing(active={self._active.kid!r}, trusted={len(self._live())})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a KeyRing refuses to be pickled")


class JWKSKeys:
    """A verifier-side key source built from a published JWKS document (public keys only).

    Every key must be an Ed25519 OKP key with a non-empty string ``kid``, a
    canonical base64url ``x`` of 32 bytes, and, where stated, ``use: sig`` and
    an ``alg`` that means Ed25519 (:data:`ED25519_ALGORITHMS`). Two keys under
    one ``kid`` are refused: which one a token meant would be ambiguous.

    Raises:
        ConfigurationError: the document or one of its keys is not as above.
    """

    def __init__(self, jwks: object) -> None:
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
            raise ConfigurationError("a JWKS is a JSON object with a 'keys' list")
        self._keys: dict[str, Ed25519PublicKey] = {}
        for jwk in jwks["keys"]:
            if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
                raise ConfigurationError("JWKS may hold only Ed25519 (OKP) keys")
            kid, x = jwk.get("kid"), jwk.get("x")
            if not isinstance(kid, str) or not kid:
                raise ConfigurationError("every JWK needs a non-empty string 'kid'")
            if jwk.get("alg", ED25519_ALGORITHMS[0]) not in ED25519_ALGORITHMS:
                raise ConfigurationError("a JWK's 'alg' must name an Ed25519 signature")
            if jwk.get("use", "sig") != "sig":
                raise ConfigurationError("a JWK in a verifier's JWKS must be for signatures")
            if kid in self._keys:
                raise ConfigurationError("the JWKS names one kid twice")
            try:
                self._keys[kid] = Ed25519PublicKey.from_public_bytes(b64url_decode(x))
            except ValueError:
                raise ConfigurationError(
                    "every JWK needs 'x': a canonical base64url Ed25519 public key (32 bytes)") from None

    def public_key(self, kid: object) -> Ed25519PublicKey:
        """The public key the JWKS publishes under ``kid``.

        Raises:
            UnknownKeyError: the JWKS has no such key.
        """
        if not isinstance(kid, str) or kid not in self._keys:
            raise UnknownKeyError("the token's key id is not in the JWKS")
        return self._keys[kid]

    def __repr__(self) -> str:
        return f"JWKSKeys(kids={tuple(self._keys)!r})"
