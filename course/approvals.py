"""Approvals: a human says yes to one exact request, and to nothing else.

An :class:`Approval` is bound to :meth:`AgentRequest.digest` - tenant, user,
agent, session, task, tool, scopes, TTL and the intent (the exact arguments,
e.g. which version goes to production). Change any byte of the request and
the approval no longer matches. Approvals expire, are single use, and the
agent (or the user it acts for) cannot approve its own request.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from .clock import Clock
from .errors import AccessDenied
from .ids import IdFactory
from .policy import AgentRequest


@dataclass(frozen=True, slots=True, kw_only=True)
class Approval:
    """A human's yes to one request digest, valid until ``expires_at``, usable once."""

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

        Raises:
            AccessDenied("self_approval"): the approver is the requesting agent or its user.
        """
        if approver in (request.agent, request.user) or not approver:
            raise AccessDenied("self_approval", "a request cannot be approved by its own agent or user")
        now = self._clock.now()
        approval = Approval(id=self._ids.next("appr"), request_digest=request.digest(),
                            approver=approver, approved_at=now, expires_at=now + self._ttl)
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
