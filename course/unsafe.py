"""DELIBERATELY UNSAFE pieces: the naive wiring the course breaks. Never use them for real.

Each class here is what a team builds on the happy path, with one trusting
assumption per class, so the red-team suite and the notebooks can show an
attack *succeeding* before the hardened piece makes it fail. Constructing any
of them warns (:class:`UnsafeWarning`, once per piece and process, through
:mod:`warnings`, so it shows in a notebook, a terminal and pytest's summary)
and logs to ``course.unsafe``, so an unsafe piece never slips in unnoticed.

* :class:`UnsafeTrustingVerifier` - skips the signature ("the gateway checked
  it"); no claim is required or checked (expiry, audience, issuer), no revocation.
* :class:`UnsafeWildcardPolicy` - grants may hold ``*``; the requested scopes
  and TTL are granted as asked.
* :func:`believe_the_request` - the naive session check: the request's stated
  user, tenant and agent are believed.
* :class:`UnsafeRubberStampApprovals` - any approval approves any request.
* :class:`UnsafeVault` - a Vault with those two in its slots and no TTL cap.
* :class:`UnsafeBroker` - checks no scope, approval or replay, and returns
  tool output (and errors) unredacted.
"""

from __future__ import annotations

import fnmatch
import logging
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import jwt

from .approvals import Approval, ApprovalBook
from .broker import Broker
from .connectors import Connector
from .errors import MalformedTokenError
from .ids import IdFactory
from .policy import AgentRequest, Decision, deny
from .tokens import PluggedVerifier, TokenClaims
from .vault import Vault

log = logging.getLogger("course.unsafe")


class UnsafeWarning(UserWarning):
    """A deliberately unsafe piece of :mod:`course.unsafe` was constructed."""


_warned: set[str] = set()


def _warn(what: str) -> None:
    """Warn once per piece and process, and log it (the "course" logger's app decides where)."""
    if what not in _warned:
        _warned.add(what)
        message = f"UNSAFE piece in use: {what} (for demonstrations only)"
        warnings.warn(message, UnsafeWarning, stacklevel=3)
        log.warning(message)


class UnsafeTrustingVerifier(PluggedVerifier):
    """Decodes without checking the signature ("the gateway already verified it").

    No algorithm pinned, no claim required or checked (expiry, audience,
    issuer), no revocation: every claim is taken at face value. Missing
    claims get harmless-looking defaults, as lenient code does.
    """

    def __init__(self, *, audience: str) -> None:
        _warn("UnsafeTrustingVerifier")

        def check(token: object) -> dict[str, Any]:
            try:
                payload = jwt.decode(str(token), options={"verify_signature": False})
            except jwt.InvalidTokenError:
                raise MalformedTokenError("unreadable token") from None
            payload.setdefault("act", {"sub": payload.get("sub", "unknown")})
            for claim, default in (("exp", 2**31), ("nbf", 0), ("iat", 0), ("jti", "none"),
                                   ("tenant", "acme"), ("task", "any"), ("session", "none"),
                                   ("scope", ""), ("iss", "unknown"), ("aud", audience),
                                   ("sub", "unknown")):
                payload.setdefault(claim, default)
            payload["nbf"] = payload["iat"] = min(int(payload["nbf"]), int(payload["iat"]))
            return payload

        super().__init__(check, name="trusting")


class UnsafeWildcardPolicy:
    """Grants are dicts that may use ``*`` patterns; whatever is asked is granted as asked."""

    def __init__(self, grants: Iterable[Mapping[str, Any]]) -> None:
        _warn("UnsafeWildcardPolicy")
        self.grants = tuple(dict(g) for g in grants)

    def decide(self, request: AgentRequest, *, now: int) -> Decision:
        for g in self.grants:
            if all(fnmatch.fnmatchcase(str(getattr(request, f)), str(g.get(f, "*")))
                   for f in ("tenant", "user", "agent", "tool")):
                return Decision(allowed=True, code="allow", reason="matched a grant",
                                request=request, scopes=request.scopes, ttl=request.ttl,
                                needs_approval=bool(g.get("needs_approval", False)))
        return deny(request, "no_grant", "no grant matched")


def believe_the_request(request: AgentRequest, session: Any, revoked: bool
                        ) -> tuple[str, str] | None:
    """The naive session check: whatever user, tenant and agent the request states is believed."""
    return None


class UnsafeRubberStampApprovals(ApprovalBook):
    """"There is an approval on file": any approval approves any request, however changed."""

    def __init__(self, clock: Any, ids: Any) -> None:
        _warn("UnsafeRubberStampApprovals")
        super().__init__(clock=clock, ids=ids)

    def redeem(self, request: AgentRequest, approval: Approval) -> Approval:
        return approval


class UnsafeVault(Vault):
    """Believes the request's stated identity; any approval approves anything; no TTL cap.

    A plain :class:`~course.vault.Vault` with the naive pieces in its public
    slots (:func:`believe_the_request`, :class:`UnsafeRubberStampApprovals`,
    an effectively unbounded TTL ceiling) and a trusting verifier.
    """

    def __init__(self, **kwargs: Any) -> None:
        _warn("UnsafeVault")
        clock = kwargs["clock"]
        ids = kwargs.setdefault("ids", IdFactory())
        kwargs.setdefault("approvals", UnsafeRubberStampApprovals(clock, ids))
        kwargs.setdefault("session_check", believe_the_request)
        kwargs.setdefault("max_ttl", 10**9)
        super().__init__(**kwargs)
        self.max_ttl = kwargs["max_ttl"]  # beyond the key ring's ceiling too

    # The naive piece on purpose: a trusting verifier, not a Verifier (Vault.verifier's type).
    def verifier(self, audience: str) -> PluggedVerifier:  # type: ignore[override]
        return UnsafeTrustingVerifier(audience=audience)


def authorize_catalogue_only(claims: TokenClaims, connector: Connector, method: str, path: str,
                             args: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """The naive call authoriser: any catalogue operation, whatever the token's scopes or approval."""
    if connector.operation_for(method, path) is None:
        return "operation_not_allowed", "not an operation of this tool"
    return None


class UnsafeBroker(Broker):
    """Checks only that the call is in the catalogue; no scope, approval or replay check; no redaction.

    A plain :class:`~course.broker.Broker` with the naive pieces in its public
    slots: :func:`authorize_catalogue_only`, no single-use guard, no redaction.
    """

    def __init__(self, **kwargs: Any) -> None:
        _warn("UnsafeBroker")
        kwargs.setdefault("authorize", authorize_catalogue_only)
        kwargs.setdefault("single_use", False)
        kwargs.setdefault("redact", False)
        super().__init__(**kwargs)

