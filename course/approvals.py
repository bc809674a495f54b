"""Approvals: a human says yes to one exact request, and to nothing else.

An :class:`Approval` is bound to :meth:`AgentRequest.digest` - tenant, user,
agent, session, task, tool, scopes, TTL and the intent (the exact arguments,
e.g. which version goes to production). Change any byte of the request and
the approval no longer matches. Approvals expire, are single use, and the
agent (or the user it acts for) cannot approve its own request, however the
name is spelled (see :func:`identity`).
"""

from __future__ import annotations

import threading
import unicodedata
from dataclasses import dataclass

from .clock import Clock
from .errors import AccessDenied, InvalidRequestError
from .ids import IdFactory
from .policy import AgentRequest

# Default_Ignorable_Code_Point characters that are not format (Cf) characters: fillers,
# the combining grapheme joiner and variation selectors. They render as nothing.
_INVISIBLE = frozenset(
    [0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0, *range(0x180B, 0x1810),
     *range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)])
_REFUSED_CATEGORIES = ("Cc", "Cs")  # control characters; lone surrogates (not text at all)


def _drop_invisible(text: str) -> str:
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf" and ord(ch) not in _INVISIBLE)


def _fold(text: str) -> str:
    """Drop invisibles, NFKC, casefold, NFKC, strip; repeated until nothing changes."""
    current = text
    for _ in range(8):  # settles in one or two rounds; bounded all the same
        folded = unicodedata.normalize("NFKC", _drop_invisible(current))
        folded = _drop_invisible(unicodedata.normalize("NFKC", folded.casefold())).strip()
        if folded == current:
            break
        current = folded
    return current


def identity(name: object) -> str:
    """The identity a name denotes, for comparing who approves with who asks.

    Rule: refuse a name holding a control (Cc) or surrogate (Cs) character; otherwise
    repeat, until nothing changes: drop every format character (Unicode category Cf:
    zero-width space and joiners, soft hyphen, BOM, bidi marks, tag characters) and the
    other default-ignorable characters in ``_INVISIBLE``; NFKC; casefold; NFKC; drop
    them again; strip surrounding whitespace. Refuse what is then empty. So
    ``DEPLOY-BOT``, ``deploy-bot\u200b``, ``ｄｅｐｌｏｙ-ｂｏｔ`` and `` Deploy-Bot `` all denote
    ``deploy-bot``. Look-alike letters from other scripts (a Cyrillic ``е``) are NOT
    folded: that is confusable detection, not normalisation.

    Raises:
        InvalidRequestError: not a str, a control or surrogate character, or nothing left.
    """
    if type(name) is not str:
        raise InvalidRequestError("a name must be a string")
    if any(unicodedata.category(ch) in _REFUSED_CATEGORIES for ch in name):
        raise InvalidRequestError("a name must not contain control characters")
    folded = _fold(name)
    if not folded:
        raise InvalidRequestError("a name must not be empty or invisible")
    return folded


def _requester(name: str) -> str:
    """The requester's identity, leniently: a control character in it must not make it
    someone the approver cannot collide with, so it is dropped rather than refused."""
    return _fold("".join(ch for ch in name if unicodedata.category(ch) not in _REFUSED_CATEGORIES))


@dataclass(frozen=True, slots=True, kw_only=True)
class Approval:
    """A human's yes to one request digest, valid until ``expires_at``, usable once.

    ``approver`` is the approver's :func:`identity` (normalised), not the spelling typed.
    """

    id: str
    request_digest: str
    approver: str
    approved_at: int
    expires_at: int


class ApprovalBook:
    """Issues approvals and redeems them exactly once, for exactly the approved request."""

    def __init__(self, *, clock: Clock, ids: IdFactory, ttl: int = 900) -> None:
        self._clock, self._ids, self._ttl = clock, ids, ttl
        self._open: dict[str, Approval] = {}
        self._used: set[str] = set()
        self._lock = threading.Lock()

    def approve(self, request: AgentRequest, *, approver: str) -> Approval:
        """Record ``approver``'s yes to this exact request.

        Names are compared as identities (:func:`identity`), so no change of case, width,
        invisible character or surrounding space turns the requester into someone else.

        Raises:
            InvalidRequestError: the approver's name is not a string, holds a control
                character, or is empty once normalised.
            AccessDenied("self_approval"): the approver is the requesting agent or its user.
        """
        who = identity(approver)
        if who in (_requester(request.agent), _requester(request.user)):
            raise AccessDenied("self_approval", "a request cannot be approved by its own agent or user")
        now = self._clock.now()
        approval = Approval(id=self._ids.next("appr"), request_digest=request.digest(),
                            approver=who, approved_at=now, expires_at=now + self._ttl)
        with self._lock:
            self._open[approval.id] = approval
        return approval

    def redeem(self, request: AgentRequest, approval: Approval) -> Approval:
        """Use ``approval`` for ``request``, once.

        Raises:
            AccessDenied: unknown, forged, expired, already used, or bound to a different request.
        """
        with self._lock:
            known = self._open.get(approval.id)
            if known is None or known != approval:
                raise AccessDenied("approval_unknown", "this approval was not issued by the vault")
            if approval.id in self._used:
                raise AccessDenied("approval_replayed", "this approval has already been used")
            if self._clock.now() >= approval.expires_at:
                raise AccessDenied("approval_expired", "this approval has expired")
            if approval.request_digest != request.digest():
                raise AccessDenied("approval_mismatch",
                                   "the request differs from the one that was approved")
            self._used.add(approval.id)
            return known
