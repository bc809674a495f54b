"""Short-lived tokens: what the vault's decision proves, signed with Ed25519.

A token carries the facts of one decision: which vault issued it (``iss``),
to which agent (``sub``), for which tool (``aud``), acting for which user
(``act.sub``), in which tenant, for which task and session, with which
scopes, valid when (``iat``, ``nbf``, ``exp``), and under which id (``jti``).

:func:`verify` (and :class:`Verifier`) pin everything an attacker could
choose: the algorithm list is a constant here, never read from the token; all
claims are *required*, not merely checked when present; audience and issuer
must match exactly; leeway is capped; the lifetime is capped; revocation is
consulted. It returns a :class:`VerifiedToken` (which only a verifier can
make) or raises a :class:`~course.errors.TokenError`. Time comes from an
injected clock, never from ``time.time()``.

**One token, one spelling.** Every compact JWS the kit reads goes through one
strict parser (:func:`_parse`, behind :func:`unverified_header` and
:meth:`Verifier.verify`): each of the three segments must be the canonical
base64url of its bytes (no ``=`` padding, no character outside the url-safe
alphabet, no non-zero trailing bits; :func:`course.keys.b64url_decode`), and
the header and payload must be UTF-8 JSON objects that never repeat a member
name, at any depth. A lenient reader accepts a padded signature as the same
token, and reads ``{"aud": "payments", "aud": "tickets"}`` as whichever
member its JSON library keeps; a second verifier (a tool, a gateway, a log
parser) may read the other one. Both are refused with
:class:`~course.errors.MalformedTokenError`, even under a valid signature.
The signature is checked by ``cryptography`` over exactly the bytes that were
parsed, so there is no second parser to disagree with the first. Header
extensions marked ``crit`` (and RFC 7797's ``b64``) are refused: the kit
understands none.

**Which algorithm name (RFC 9864).** RFC 9864 deprecates the polymorphic JOSE
name ``EdDSA`` (Ed25519 *or* Ed448, chosen by the key) in favour of the fully
specified ``Ed25519`` and ``Ed448``. The kit keeps *emitting* ``EdDSA``,
because PyJWT 2.15 (which the course teaches with) and most deployed
verifiers know only that name, and it removes the ambiguity on the verifying
side instead: a signature is checked only with an Ed25519 public key (a key
source handing back anything else, an Ed448 key say, gets the token refused
with :class:`~course.errors.DisallowedAlgorithmError`), so ``EdDSA`` can mean
nothing but Ed25519 here. The fully specified ``Ed25519`` is accepted as the
same algorithm (joserfc 1.8 emits it, and it names the one curve the kit
pins), so issuers can move to it without a flag day. ``Ed448`` and every
other name are refused.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .clock import Clock
from .errors import (
    BadSignatureError,
    ConfigurationError,
    DisallowedAlgorithmError,
    ExpiredTokenError,
    InvalidClaimError,
    MalformedTokenError,
    MissingClaimError,
    NotYetValidError,
    TokenError,
    WrongAudienceError,
    WrongIssuerError,
)
from .keys import ED25519_ALGORITHMS, SigningKey, b64url_decode

ALGORITHM = "EdDSA"  # what the kit emits; see "Which algorithm name" above
ALLOWED_ALGORITHMS: tuple[str, ...] = ED25519_ALGORITHMS  # ("EdDSA", "Ed25519"): Ed25519 keys only
REFUSED_HEADER_PARAMETERS: tuple[str, ...] = ("crit", "b64")
TOKEN_TYPE = "vault+jwt"
MAX_LEEWAY = 30  # seconds: clock skew we forgive, never more
DEFAULT_LEEWAY = 5
MAX_TOKEN_BYTES = 8192
REQUIRED_CLAIMS: tuple[str, ...] = (
    "iss", "sub", "aud", "exp", "nbf", "iat", "jti",
    "tenant", "task", "session", "scope", "act",
)
_STRING_CLAIMS = ("iss", "sub", "aud", "jti", "tenant", "task", "session")
_TIME_CLAIMS = ("exp", "nbf", "iat")


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenClaims:
    """The facts one vault decision hands to one tool call."""

    iss: str
    sub: str  # the agent
    aud: str  # the tool
    user: str  # the acting user, carried as act.sub
    tenant: str
    task: str
    session: str
    scopes: tuple[str, ...]  # sorted and unique, so reprs are the same on every run
    iat: int
    nbf: int
    exp: int
    jti: str
    single_use: bool = False
    approval: str | None = None  # digest of the approved intent (call arguments), when needed

    def __post_init__(self) -> None:
        object.__setattr__(self, "scopes", tuple(sorted(set(self.scopes))))

    @property
    def ttl(self) -> int:
        return self.exp - self.iat

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "iss": self.iss, "sub": self.sub, "aud": self.aud, "act": {"sub": self.user},
            "tenant": self.tenant, "task": self.task, "session": self.session,
            "scope": " ".join(self.scopes),
            "iat": self.iat, "nbf": self.nbf, "exp": self.exp, "jti": self.jti,
        }
        if self.single_use:
            payload["once"] = True
        if self.approval is not None:
            payload["approval"] = self.approval
        return payload

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> TokenClaims:
        """Build claims from a decoded payload, checking presence and types.

        Raises:
            MissingClaimError: a required claim is absent.
            InvalidClaimError: a claim has the wrong type.
        """
        for claim in REQUIRED_CLAIMS:
            if claim not in payload:
                raise MissingClaimError(claim)
        for claim in _STRING_CLAIMS:
            if not isinstance(payload[claim], str) or not payload[claim]:
                raise InvalidClaimError(claim, "must be a non-empty string")
        for claim in _TIME_CLAIMS:
            value = payload[claim]
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidClaimError(claim, "must be an integer timestamp")
        act = payload["act"]
        if not isinstance(act, dict) or not isinstance(act.get("sub"), str) or not act["sub"]:
            raise InvalidClaimError("act", "must be an object with a non-empty 'sub'")
        if not isinstance(payload["scope"], str):
            raise InvalidClaimError("scope", "must be a space-separated string")
        once = payload.get("once", False)
        approval = payload.get("approval")
        if not isinstance(once, bool) or not (approval is None or isinstance(approval, str)):
            raise InvalidClaimError("once" if not isinstance(once, bool) else "approval")
        return cls(
            iss=payload["iss"], sub=payload["sub"], aud=payload["aud"], user=act["sub"],
            tenant=payload["tenant"], task=payload["task"], session=payload["session"],
            scopes=tuple(payload["scope"].split()), iat=payload["iat"],
            nbf=payload["nbf"], exp=payload["exp"], jti=payload["jti"],
            single_use=once, approval=approval,
        )


_VERIFIER_ONLY = object()


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """Claims that passed every check. Only a :class:`Verifier` can create one."""

    claims: TokenClaims
    kid: str
    _proof: object = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._proof is not _VERIFIER_ONLY:
            raise TypeError("only a Verifier creates a VerifiedToken")


class KeySource(Protocol):
    """Where a verifier finds the public key for a ``kid`` (a KeyRing, a JWKS).

    Keys are held under ``str`` ids: ``public_key`` raises
    :class:`~course.errors.UnknownKeyError` for any other ``kid``.
    """

    def public_key(self, kid: object) -> Ed25519PublicKey: ...


class RevocationCheck(Protocol):
    """Raises :class:`~course.errors.RevokedTokenError` when a verified token is revoked."""

    def check(self, claims: TokenClaims, kid: str) -> None: ...


def issue(claims: TokenClaims, key: SigningKey) -> str:
    """Sign ``claims`` with ``key`` (EdDSA, ``kid`` and ``typ`` in the header)."""
    return jwt.encode(
        claims.to_payload(), key.private, algorithm=ALGORITHM,
        headers={"kid": key.kid, "typ": TOKEN_TYPE},
    )


@dataclass(frozen=True, slots=True)
class _Compact:
    """A compact JWS split and decoded by :func:`_parse`, its signature not yet checked."""

    header: dict[str, Any]
    signing_input: bytes = field(repr=False)
    payload: bytes = field(repr=False)
    signature: bytes = field(repr=False)


class _RepeatedMemberError(ValueError):
    pass


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _RepeatedMemberError
    return obj


def _not_json(constant: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


def _json_object(raw: bytes, part: str) -> dict[str, Any]:
    """``raw`` as a JSON object: strict UTF-8, no repeated member name at any depth.

    Raises:
        MalformedTokenError: anything else (naming ``part``, never its content).
    """
    try:
        value = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_members,
                           parse_constant=_not_json)
    except _RepeatedMemberError:
        raise MalformedTokenError(f"the token {part} repeats a member name") from None
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise MalformedTokenError(f"the token {part} is not UTF-8 JSON") from None
    if not isinstance(value, dict):
        raise MalformedTokenError(f"the token {part} is not a JSON object")
    return value


def _segment(text: str, part: str) -> bytes:
    try:
        return b64url_decode(text)
    except ValueError:
        raise MalformedTokenError(f"the token {part} is not canonical base64url") from None


def _parse(token: object) -> _Compact:
    """Split and decode a compact JWS, refusing every spelling but the canonical one.

    The one parser the kit uses for tokens. Nothing here checks the signature.

    Raises:
        MalformedTokenError: not an ``str`` of at most 8 KiB with three segments of
            canonical base64url, or a header that is not a JSON object with unique
            member names.
    """
    if type(token) is not str or not token or len(token) > MAX_TOKEN_BYTES:
        raise MalformedTokenError("a token is a non-empty string of at most 8 KiB")
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedTokenError("a token has exactly three dot-separated parts")
    head, body, sig = parts
    header = _json_object(_segment(head, "header"), "header")
    payload, signature = _segment(body, "payload"), _segment(sig, "signature")
    # Canonical base64url is ASCII, so these are exactly the bytes that were signed.
    return _Compact(header, f"{head}.{body}".encode("ascii"), payload, signature)


def unverified_header(token: object) -> dict[str, Any]:
    """Read a token's header WITHOUT verifying anything (never base a decision on it).

    The token is parsed as strictly as :meth:`Verifier.verify` parses it.

    Raises:
        MalformedTokenError: not a compact JWS of canonical base64url segments with a
            JSON object header (unique member names).
    """
    return _parse(token).header


class Verifier:
    """Verifies tokens for one audience (one tool), from one issuer, against one clock.

    Options are keyword-only and checked when the verifier is built: a leeway
    above :data:`MAX_LEEWAY` or a non-positive ``max_ttl`` is refused.

    Raises:
        ConfigurationError: contradictory or unsafe options.
    """

    def __init__(
        self, *, keys: KeySource, issuer: str, audience: str, clock: Clock,
        leeway: int = DEFAULT_LEEWAY, max_ttl: int = 3600,
        revocation: RevocationCheck | None = None, cache_size: int = 0,
    ) -> None:
        if not issuer or not audience:
            raise ConfigurationError("a verifier needs an issuer and an audience")
        if not 0 <= leeway <= MAX_LEEWAY:
            raise ConfigurationError(f"leeway must be between 0 and {MAX_LEEWAY} seconds")
        if max_ttl <= 0:
            raise ConfigurationError("max_ttl must be positive")
        self.keys, self.issuer, self.audience = keys, issuer, audience
        self.clock, self.leeway, self.max_ttl = clock, leeway, max_ttl
        self.revocation = revocation
        self._cache_size = cache_size
        self._cache: OrderedDict[str, tuple[TokenClaims, str]] = OrderedDict()

    def verify(self, token: object) -> VerifiedToken:
        """Return the verified claims, or raise the :class:`TokenError` that names what failed.

        With ``cache_size > 0`` the *signature* check of a token seen before
        (the exact same string) is skipped; everything that can change -
        the key still trusted, time, audience, issuer, revocation - is checked
        on every call.

        Raises:
            MalformedTokenError: not the one canonical spelling of a compact JWS (padding,
                a non-url-safe character, non-zero trailing bits), a repeated JSON member
                in header or payload, or a ``crit``/``b64`` header extension.
            DisallowedAlgorithmError: ``alg`` is not EdDSA/Ed25519, or the key is not Ed25519.
            TokenError: the other subclasses, each naming the check that failed.
        """
        # The cache is keyed by the exact string (a str, not a subclass that could
        # redefine equality), and only strings that passed the strict parse get in:
        # another spelling of a cached token misses it and is refused below.
        if self._cache_size and type(token) is str:
            hit = self._cache.get(token)
            if hit is not None:
                cached_claims, cached_kid = hit
                self.keys.public_key(cached_kid)
                return self._accept(cached_claims, cached_kid)
        parsed = _parse(token)
        header = parsed.header
        if header.get("alg") not in ALLOWED_ALGORITHMS:
            raise DisallowedAlgorithmError("the token's algorithm is not accepted (only EdDSA/Ed25519)")
        if header.get("typ") != TOKEN_TYPE:
            raise InvalidClaimError("typ", f"must be {TOKEN_TYPE!r}")
        if any(name in header for name in REFUSED_HEADER_PARAMETERS):
            raise MalformedTokenError("the token header asks for an extension this verifier refuses")
        # A key source refuses any kid that is not a str (KeySource), and _parse any token
        # that is not exactly a str: past those calls both are strs, which mypy cannot see.
        named_kid = header.get("kid")
        public = self.keys.public_key(named_kid)
        kid = cast(str, named_kid)
        payload = _decode_signed(parsed, public)
        claims = TokenClaims.from_payload(payload)
        verified = self._accept(claims, kid)
        if self._cache_size:
            self._cache[cast(str, token)] = (claims, kid)
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return verified

    def _accept(self, claims: TokenClaims, kid: str) -> VerifiedToken:
        self._check_claims(claims)
        if self.revocation is not None:
            self.revocation.check(claims, kid)
        return VerifiedToken(claims, kid, _VERIFIER_ONLY)

    def _check_claims(self, c: TokenClaims) -> None:
        now = self.clock.now()
        if c.iss != self.issuer:
            raise WrongIssuerError("the token was not issued by the trusted vault")
        if c.aud != self.audience:
            raise WrongAudienceError("the token was issued for a different tool")
        if c.exp <= now - self.leeway:
            raise ExpiredTokenError("the token has expired")
        if c.nbf > now + self.leeway or c.iat > now + self.leeway:
            raise NotYetValidError("the token is not valid yet")
        if not c.iat <= c.nbf < c.exp:
            raise InvalidClaimError("exp", "must come after nbf, which must not precede iat")
        if c.exp - c.iat > self.max_ttl:
            raise InvalidClaimError("exp", "lifetime exceeds the verifier's cap")


def _decode_signed(parsed: _Compact, public: Ed25519PublicKey) -> dict[str, Any]:
    """Check the Ed25519 signature over the parsed bytes; return the payload, claims unchecked.

    The key must be an Ed25519 public key: that is what makes ``EdDSA`` mean
    Ed25519 only. The payload's JSON is read only after the signature holds,
    and as strictly as the header (unique member names at any depth).

    Raises:
        DisallowedAlgorithmError: the key source handed back a key that is not Ed25519.
        BadSignatureError: the signature does not match header and payload.
        MalformedTokenError: the signed payload is not a JSON object with unique member names.
    """
    if not isinstance(public, Ed25519PublicKey):
        raise DisallowedAlgorithmError("the token's algorithm is not accepted (only EdDSA over Ed25519)")
    try:
        public.verify(parsed.signature, parsed.signing_input)
    except InvalidSignature:
        raise BadSignatureError("the signature does not match: the token was altered or forged") from None
    return _json_object(parsed.payload, "payload")


class PluggedVerifier:
    """A learner's (or any) verification function, plugged in where the kit's verifier goes.

    ``check(token)`` must return the verified claims (a :class:`TokenClaims` or a
    payload dict) or raise. Whatever it accepts, the kit now trusts: that is the
    point of plugging it in, and why the notebooks attack it afterwards.
    """

    def __init__(self, check: Any, *, name: str = "plugged") -> None:
        self._check, self.name = check, name

    def verify(self, token: object) -> VerifiedToken:
        result = self._check(token)
        claims = result if isinstance(result, TokenClaims) else TokenClaims.from_payload(dict(result))
        try:
            kid = str(unverified_header(token).get("kid", ""))
        except TokenError:
            kid = ""
        return VerifiedToken(claims, kid, _VERIFIER_ONLY)

    def __repr__(self) -> str:
        return f"PluggedVerifier(name={self.name!r})"


def verify(token: object, **options: Any) -> VerifiedToken:
    """One-shot :meth:`Verifier.verify` (same keyword-only options as :class:`Verifier`)."""
    return Verifier(**options).verify(token)


__all__ = [
    "ALGORITHM", "ALLOWED_ALGORITHMS", "MAX_LEEWAY", "REFUSED_HEADER_PARAMETERS", "REQUIRED_CLAIMS",
    "TOKEN_TYPE",
    "PluggedVerifier", "TokenClaims", "TokenError", "VerifiedToken", "Verifier", "issue",
    "unverified_header", "verify",
]
