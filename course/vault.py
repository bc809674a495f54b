"""The vault: agent request -> policy decision -> short-lived token, and every step logged.

The vault is the only component that turns a *request* into *authority*. It
takes the acting user, tenant and agent from an authenticated session it
opened itself, never from what the agent (or the model's text) claims; asks
the policy; demands a human approval bound to the exact request when the
grant says so; signs a token that carries the decision's facts; and writes
the decision and the issuance to the access log with the input facts and the
reason. It also revokes (token, session with cascade, agent, tenant, all)
and rotates keys.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol

from .approvals import Approval, ApprovalBook
from .clock import Clock, ManualClock
from .errors import AccessDenied, ApprovalRequired, UnauthenticatedError
from .ids import IdFactory
from .keys import KeyRing
from .policy import HARD_MAX_TTL, AgentRequest, Decision, Policy
from .revocation import RevocationList
from .secretstore import Secret
from .tokens import TokenClaims, Verifier, issue

ISSUER = "https://vault.lab.local"


CREDENTIAL_PREFIX = "vls_"


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    """An authenticated agent session: the platform, not the model, says who it acts for.

    ``credential`` is the session's proof, handed to the agent once, when the
    session is opened: an unguessable bearer value (a masked
    :class:`~course.secretstore.Secret`) that the vault stores only as a hash.
    A session rebuilt from its public facts (an id, a user) has none, so naming
    a session proves nothing.
    """

    id: str
    tenant: str
    user: str
    agent: str
    parent: str | None = None
    credential: Secret | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedToken:
    """A signed token and the facts it carries. The repr never shows the token text."""

    token: str = field(repr=False)
    claims: TokenClaims
    decision: Decision = field(repr=False)

    def __repr__(self) -> str:
        c = self.claims
        return (f"IssuedToken(jti={c.jti!r}, aud={c.aud!r}, scopes={c.scopes!r}, "
                f"exp={c.exp}, token=<{len(self.token)} chars, masked>)")


class SessionCheck(Protocol):
    """The vault's first enforcement point: does the request's session prove who asks?

    Given the request, the session it names (None if the vault never opened
    it) and whether that session is revoked, return ``(code, reason)`` to
    refuse, or None to let the request reach the policy.
    """

    def __call__(self, request: AgentRequest, session: Session | None, revoked: bool
                 ) -> tuple[str, str] | None: ...


def check_session(request: AgentRequest, session: Session | None, revoked: bool
                  ) -> tuple[str, str] | None:
    """The hardened session check: a session the vault opened, alive, and every fact its own.

    Refuses ``unknown_session``, ``revoked``, or ``session_mismatch`` when the
    request's tenant, user or agent is not the session's authenticated one.
    """
    if session is None:
        return "unknown_session", "the request names a session the vault never opened"
    if revoked:
        return "revoked", "this session (or its agent or tenant) has been revoked"
    for fact in ("tenant", "user", "agent"):
        if getattr(request, fact) != getattr(session, fact):
            return "session_mismatch", (f"the request's {fact} {getattr(request, fact)!r} is not "
                                        f"the session's authenticated {fact}")
    return None


class Vault:
    """Issues short-lived, job-specific tokens; refuses everything a policy does not allow.

    Args:
        policy: the decider (the kit's GrantPolicy or a learner's).
        keys: the signing key ring.
        clock: time source for iat/nbf/exp, approvals and revocation.
        log: an access log (``course.audit.AccessLog``) or None to log nothing (tests only).
        session_check: the check of the request's session (:func:`check_session`;
            the naive wiring plugs in one that believes the request).
        require_credentials: refuse every request without its session's credential
            (the service's vault; in process the holder of the Vault is the platform).
    """

    def __init__(
        self, *, policy: Policy, keys: KeyRing, clock: Clock, log: Any | None = None,
        ids: IdFactory | None = None, revocations: RevocationList | None = None,
        approvals: ApprovalBook | None = None, issuer: str = ISSUER,
        max_ttl: int = HARD_MAX_TTL, leeway: int = 5, require_credentials: bool = False,
        session_check: SessionCheck = check_session,
    ) -> None:
        self.policy, self.keys, self.clock, self.log = policy, keys, clock, log
        self.ids = ids or IdFactory()
        self.revocations = revocations or RevocationList()
        self.approvals = approvals or ApprovalBook(clock=clock, ids=self.ids)
        self.issuer, self.max_ttl, self.leeway = issuer, min(max_ttl, keys.max_token_ttl), leeway
        self.require_credentials, self.session_check = require_credentials, session_check
        self._sessions: dict[str, Session] = {}
        self._by_credential: dict[bytes, str] = {}  # sha256(credential) -> session id; never the value
        self._verifiers: dict[str, Verifier] = {}

    # -- sessions -------------------------------------------------------------
    def open_session(self, *, tenant: str, user: str, agent: str, parent: str | None = None) -> Session:
        """Open a session for ``agent`` acting for the authenticated ``user`` in ``tenant``.

        The returned session carries its credential, shown this once: the
        vault keeps only its SHA-256. A session delegated from ``parent`` dies
        when the parent is revoked.
        """
        if parent is not None and parent not in self._sessions:
            raise AccessDenied("unknown_session", "the parent session does not exist")
        sid = self.ids.next("sess")
        value = CREDENTIAL_PREFIX + secrets.token_urlsafe(32)
        self._sessions[sid] = Session(id=sid, tenant=tenant, user=user, agent=agent, parent=parent)
        self._by_credential[_credential_hash(value)] = sid
        session = Session(id=sid, tenant=tenant, user=user, agent=agent, parent=parent,
                          credential=Secret(value, name="session credential"))
        if parent is not None:
            self.revocations.link_session(parent, session.id)
        self._log("session", tenant=tenant, user=user, agent=agent, session=session.id,
                  reason="session_opened", detail=f"parent={parent}" if parent else "")
        return session

    def authenticate(self, credential: Secret | str) -> Session:
        """The live session whose credential this is.

        Raises:
            UnauthenticatedError: no session has this credential, or it was revoked.
                Both answer alike, so the refusal tells a guesser nothing.
        """
        value = credential.reveal() if isinstance(credential, Secret) else credential
        sid = self._by_credential.get(_credential_hash(value)) if isinstance(value, str) else None
        s = self._sessions.get(sid) if sid is not None else None
        if s is None or self.revocations.session_revoked(s.id, agent=s.agent, tenant=s.tenant):
            raise UnauthenticatedError()
        return s

    def _credential_problem(self, r: AgentRequest, credential: Secret | str | None
                            ) -> tuple[str, str] | None:
        """Why ``credential`` does not prove the session ``r`` names (None: it does).

        Absent, unknown and another session's credential all answer
        ``unauthenticated`` (the log line's detail tells on-call which it was),
        so a caller learns nothing about sessions it cannot prove. A caller that
        proved its own session then hears why that session is refused
        (``revoked``, ``session_mismatch``), as in :meth:`_session_problem`.
        """
        if credential is None:
            if not self.require_credentials:
                return None
            return "unauthenticated", "no session credential was presented"
        value = credential.reveal() if isinstance(credential, Secret) else credential
        sid = self._by_credential.get(_credential_hash(value)) if isinstance(value, str) else None
        if sid is None:
            return "unauthenticated", "the credential is not one the vault handed out"
        if sid != r.session:
            return "unauthenticated", "the credential belongs to another session"
        return None

    def _session_problem(self, r: AgentRequest) -> tuple[str, str] | None:
        s = self._sessions.get(r.session)
        revoked = s is not None and self.revocations.session_revoked(s.id, agent=s.agent,
                                                                     tenant=s.tenant)
        return self.session_check(r, s, revoked)

    # -- issuance -------------------------------------------------------------
    def request(self, request: AgentRequest, *, approval: Approval | None = None,
                single_use: bool = False, credential: Secret | str | None = None) -> IssuedToken:
        """Decide on ``request`` and, if allowed, return a signed short-lived token.

        ``credential`` is the session's proof (:attr:`Session.credential`); a
        vault built with ``require_credentials=True`` (the service's) refuses
        every request without it. A token minted from an approval is single-use:
        one human yes allows one call.

        Raises:
            UnauthenticatedError: the credential is absent (where required), unknown,
                revoked or another session's.
            AccessDenied: the session or policy refused (``code`` and ``reason`` say why).
            ApprovalRequired: the grant needs a human approval of exactly this request.
        """
        now = self.clock.now()
        unproven = self._credential_problem(request, credential)
        if unproven:
            self._log_decision(request, False, *unproven)
            raise UnauthenticatedError()
        problem = self._session_problem(request)
        if problem:
            self._log_decision(request, False, *problem)
            raise AccessDenied(*problem)
        decision = self.policy.decide(request, now=now)
        if not decision.allowed:
            self._log_decision(request, False, decision.code, decision.reason)
            raise AccessDenied(decision.code, decision.reason)
        approved = None
        if decision.needs_approval:
            if approval is None:
                self._log_decision(request, False, "approval_required", decision.reason)
                raise ApprovalRequired(request.digest())
            try:
                self.approvals.redeem(request, approval)
            except AccessDenied as denied:
                self._log_decision(request, False, denied.code, denied.reason)
                raise
            approved = request.intent_digest()
        self._log_decision(request, True, decision.code, decision.reason)
        claims = TokenClaims(
            iss=self.issuer, sub=request.agent, aud=request.tool, user=request.user,
            tenant=request.tenant, task=request.task, session=request.session,
            scopes=decision.scopes, iat=now, nbf=now, exp=now + min(decision.ttl, self.max_ttl),
            jti=self.ids.next("tok"), single_use=single_use or approved is not None,
            approval=approved,
        )
        token = issue(claims, self.keys.active)
        self._log("issue", **_claim_fields(claims), decision="allow", reason=decision.code,
                  detail=f"key {self.keys.active.kid}")
        return IssuedToken(token=token, claims=claims, decision=decision)

    def approve(self, request: AgentRequest, *, approver: str) -> Approval:
        """A human approves exactly ``request`` (logged)."""
        approval = self.approvals.approve(request, approver=approver)
        self._log("approval", tenant=request.tenant, user=request.user, agent=request.agent,
                  session=request.session, task=request.task, tool=request.tool,
                  scopes=request.scopes, reason="approved", detail=f"by {approver}",
                  facts=self._request_facts(request))
        return approval

    def verifier(self, audience: str) -> Verifier:
        """A verifier for one tool that trusts this vault's keys and consults its revocations.

        One per audience, kept, so its cache of checked signatures is reused
        across calls (time, key trust and revocation are re-checked every call).
        """
        verifier = self._verifiers.get(audience)
        if verifier is None:
            verifier = Verifier(keys=self.keys, issuer=self.issuer, audience=audience,
                                clock=self.clock, leeway=self.leeway, max_ttl=self.max_ttl,
                                revocation=self.revocations, cache_size=4096)
            self._verifiers[audience] = verifier
        return verifier

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return self.keys.jwks()

    # -- revocation and rotation ---------------------------------------------------
    def revoke_token(self, jti: str, *, why: str = "") -> None:
        self.revocations.revoke_jti(jti)
        self._log("revoke", jti=jti, reason="revoke_jti", detail=why)

    def revoke_session(self, session: str, *, why: str = "") -> tuple[str, ...]:
        """Revoke a session and every session delegated from it; returns the revoked ids."""
        revoked = self.revocations.revoke_session(session)
        for s in revoked:
            self._log("revoke", session=s, reason="revoke_session", detail=why)
        return revoked

    def revoke_agent(self, agent: str, *, why: str = "") -> None:
        self.revocations.revoke_agent(agent)
        self._log("revoke", agent=agent, reason="revoke_agent", detail=why)

    def revoke_tenant(self, tenant: str, *, why: str = "") -> None:
        self.revocations.revoke_tenant(tenant)
        self._log("revoke", tenant=tenant, reason="revoke_tenant", detail=why)

    def revoke_all(self, *, why: str = "") -> None:
        self.revocations.revoke_all(clock=self.clock)
        self._log("revoke", reason="revoke_all", detail=why)

    def rotate_keys(self, *, compromised: bool = False) -> str:
        """Rotate the signing key; if it was compromised, distrust the old one at once."""
        old = self.keys.active.kid
        if compromised:
            self.keys.compromise(old)
        else:
            self.keys.rotate()
        self._log("key_rotation", reason="key_compromised" if compromised else "key_rotated",
                  detail=f"{old} -> {self.keys.active.kid}")
        return self.keys.active.kid

    def compromise_key(self, kid: str, *, why: str = "") -> str:
        """Distrust ``kid`` at once, active or already rotated out (logged); return the active kid.

        Every token it signed dies at every verifier of this vault; tokens signed
        by the other keys live on. A compromised active key is rotated first.
        """
        active = self.keys.active.kid
        self.keys.compromise(kid)
        self._log("key_rotation", reason="key_compromised",
                  detail=f"{kid} distrusted; active {active} -> {self.keys.active.kid}"
                         + (f"; {why}" if why else ""))
        return self.keys.active.kid

    # -- logging --------------------------------------------------------------
    def _log_decision(self, r: AgentRequest, allowed: bool, code: str, reason: str) -> None:
        """One decision line: the request's claims, and who the named session really is.

        ``session_holder`` (tenant/user/agent of the session the vault opened, or
        ``none``) sits beside the claimed user, so an impersonation is visible on
        the line itself, without joining it to the session's opening.
        """
        self._log("decision", tenant=r.tenant, user=r.user, agent=r.agent, session=r.session,
                  task=r.task, tool=r.tool, scopes=r.scopes, decision="allow" if allowed else "deny",
                  reason=code, detail=reason, facts=self._request_facts(r))

    def _request_facts(self, r: AgentRequest) -> dict[str, str]:
        """The request's input facts, and who holds the session it names (decision and approval)."""
        s = self._sessions.get(r.session)
        holder = f"{s.tenant}/{s.user}/{s.agent}" if s is not None else "none"
        return {**_facts(r), "session_holder": holder}

    def _log(self, event: str, **fields: Any) -> None:
        if self.log is not None:
            self.log.append(event, **fields)

    def __repr__(self) -> str:
        return f"Vault(issuer={self.issuer!r}, keys={self.keys!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Vault refuses to be pickled")

    @classmethod
    def lab(cls, *, policy: Policy, seed: str = "lab", clock: Clock | None = None,
            log: Any | None = None) -> Vault:
        """A deterministic vault for notebooks: seeded keys, a manual clock, counted ids."""
        clock = clock or ManualClock()
        return cls(policy=policy, keys=KeyRing(clock=clock, seed=seed), clock=clock, log=log)


def _credential_hash(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def _facts(r: AgentRequest) -> dict[str, str]:
    # json.dumps keeps types apart in the log: amount=100 is not amount="100".
    return {"ttl_requested": str(r.ttl),
            "intent": ",".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in r.intent),
            "scopes_requested": " ".join(r.scopes)}


def _claim_fields(c: TokenClaims) -> dict[str, Any]:
    return {"tenant": c.tenant, "user": c.user, "agent": c.sub, "session": c.session,
            "task": c.task, "tool": c.aud, "scopes": c.scopes, "jti": c.jti, "expires": c.exp}
