"""Revocation: a token that was valid a second ago can be made dead, now.

A :class:`RevocationList` answers one question for a verified token: has it,
its session, its agent, its tenant, or everything issued before a moment
been revoked? Revoking a session kills every token issued in it, and every
session delegated from it (the cascade). :class:`ReplayGuard` makes
single-use tokens single-use.
"""

from __future__ import annotations

import threading

from .clock import Clock
from .errors import RevokedTokenError
from .tokens import MAX_LEEWAY, TokenClaims


class RevocationList:
    """Deny lists by jti, session (with cascade to child sessions), agent and tenant, plus revoke-all.

    ``check`` is what a verifier calls: it raises :class:`RevokedTokenError`
    naming which list matched (never the token itself). It is a handful of
    set lookups, so it is cheap enough for every tool call (see ``bench``).
    """

    def __init__(self) -> None:
        self._jti: set[str] = set()
        self._sessions: set[str] = set()
        self._agents: set[str] = set()
        self._tenants: set[str] = set()
        self._not_before: int | None = None  # tokens issued at or before this are dead
        self._children: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def link_session(self, parent: str, child: str) -> None:
        """Record that ``child`` was delegated from ``parent`` (revoking the parent kills it)."""
        with self._lock:
            self._children.setdefault(parent, set()).add(child)
            if parent in self._sessions:
                self._sessions.add(child)

    def revoke_jti(self, jti: str) -> None:
        with self._lock:
            self._jti.add(jti)

    def revoke_session(self, session: str) -> tuple[str, ...]:
        """Revoke a session and, transitively, every session delegated from it. Returns them all."""
        with self._lock:
            todo, done = [session], []
            while todo:
                s = todo.pop()
                if s in done:
                    continue
                done.append(s)
                self._sessions.add(s)
                todo.extend(sorted(self._children.get(s, ())))
            return tuple(done)

    def revoke_agent(self, agent: str) -> None:
        with self._lock:
            self._agents.add(agent)

    def revoke_tenant(self, tenant: str) -> None:
        with self._lock:
            self._tenants.add(tenant)

    def revoke_all(self, *, clock: Clock) -> int:
        """Kill every token issued up to now (the emergency switch). Returns the cut-off time."""
        with self._lock:
            self._not_before = clock.now()
            return self._not_before

    def session_revoked(self, session: str, *, agent: str, tenant: str) -> bool:
        """True when new tokens must not be issued to this session (checked at issuance)."""
        return session in self._sessions or agent in self._agents or tenant in self._tenants

    def reason(self, claims: TokenClaims) -> str | None:
        """Which list revokes these claims ("jti", "session", ...), or None if none does."""
        if claims.jti in self._jti:
            return "jti"
        if claims.session in self._sessions:
            return "session"
        if claims.sub in self._agents:
            return "agent"
        if claims.tenant in self._tenants:
            return "tenant"
        if self._not_before is not None and claims.iat <= self._not_before:
            return "revoke_all"
        return None

    def check(self, claims: TokenClaims, kid: str) -> None:
        """Raise :class:`RevokedTokenError` if the token is revoked by any list."""
        scope = self.reason(claims)
        if scope is not None:
            raise RevokedTokenError(scope)

    def __repr__(self) -> str:
        return (f"RevocationList(jti={len(self._jti)}, sessions={len(self._sessions)}, "
                f"agents={len(self._agents)}, tenants={len(self._tenants)}, "
                f"revoke_all={self._not_before is not None})")


class ReplayGuard:
    """Remembers used single-use token ids until no verifier could accept them; a second use is refused.

    An id is kept until ``exp + MAX_LEEWAY``: a verifier forgives up to that
    much clock skew, so forgetting at ``exp`` would reopen a replay window.
    """

    def __init__(self, *, clock: Clock) -> None:
        self._clock = clock
        self._used: dict[str, int] = {}
        self._lock = threading.Lock()

    def consume(self, claims: TokenClaims) -> None:
        """Mark a single-use token as used. Raises RevokedTokenError("replay") the second time."""
        if not claims.single_use:
            return
        with self._lock:
            now = self._clock.now()
            self._used = {j: exp for j, exp in self._used.items() if exp + MAX_LEEWAY > now}
            if claims.jti in self._used:
                raise RevokedTokenError("replay")
            self._used[claims.jti] = claims.exp
