"""Vault policy: who may get which authority, for which task, for how long. Deny by default.

A policy is a small protocol with one method, :meth:`Policy.decide`, which
returns an immutable :class:`Decision` carrying a reason code and a human
sentence. :class:`GrantPolicy` allows only what an explicit :class:`Grant`
covers: requested scopes are intersected with the grant, the TTL is capped,
expired grants (yesterday's "temporary exception") are dead, and wildcard
grants are refused when they are loaded. Composition is explicit
(:class:`AllOf`, :class:`AnyOf`); an empty rule set denies.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import ConfigurationError

HARD_MAX_TTL = 3600  # no grant may hand out tokens that live longer than an hour
WILDCARDS = ("*", "?", "%", "any", "all")

# Reason codes. ALLOW and ALLOW_NARROWED allow; NEEDS_APPROVAL allows only together with a
# human approval of the exact request (Decision.allowed is True AND needs_approval is True:
# a consumer must honour both, as the Vault does); every other code is a denial.
ALLOW = "allow"
ALLOW_NARROWED = "allow_narrowed"
NEEDS_APPROVAL = "needs_approval"
NO_GRANT = "no_grant"
SCOPE_NOT_GRANTED = "scope_not_granted"
GRANT_EXPIRED = "grant_expired"
INVALID_REQUEST = "invalid_request"
EMPTY_POLICY = "empty_policy"
REASON_CODES = (ALLOW, ALLOW_NARROWED, NEEDS_APPROVAL, NO_GRANT, SCOPE_NOT_GRANTED,
                GRANT_EXPIRED, INVALID_REQUEST, EMPTY_POLICY)


def _sorted_tuple(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(values)))


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentRequest:
    """An agent asking for authority: one task, one tool, for one user, in one tenant.

    ``intent`` is what the agent says it will send (e.g. ``(("version", "1.4.2"),)``);
    an approval is bound to the digest of the whole request, intent included.
    """

    tenant: str
    user: str
    agent: str
    session: str
    task: str
    tool: str
    scopes: tuple[str, ...]
    ttl: int = 300
    intent: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        # A bare string is malformed (it would split into characters): it is kept as it
        # came, so validate_request refuses it by name instead of mis-reading it.
        if not isinstance(self.scopes, str):
            object.__setattr__(self, "scopes", _sorted_tuple(self.scopes))
        object.__setattr__(self, "intent", tuple(sorted((str(k), str(v)) for k, v in self.intent)))

    def facts(self) -> dict[str, Any]:
        """The request's input facts, as the access log records them."""
        return {"tenant": self.tenant, "user": self.user, "agent": self.agent,
                "session": self.session, "task": self.task, "tool": self.tool,
                "scopes": [self.scopes] if isinstance(self.scopes, str) else list(self.scopes),
                "ttl": self.ttl,
                "intent": [list(pair) for pair in self.intent]}

    def intent_digest(self) -> str:
        """SHA-256 over the intent alone: what the broker compares the actual call against."""
        return intent_digest(dict(self.intent))

    def digest(self) -> str:
        """SHA-256 over the canonical request: what an approval is bound to."""
        canonical = json.dumps(self.facts(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def intent_digest(arguments: Mapping[str, object]) -> str:
    """Digest of call arguments as strings, canonical JSON: the same on both sides of the token."""
    canonical = json.dumps({str(k): str(v) for k, v in arguments.items()}, sort_keys=True,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class Grant:
    """One explicit permission. Every field is exact: wildcards are refused at construction.

    ``expires_at`` makes a temporary exception really temporary (None: standing grant).

    Raises:
        ConfigurationError: a wildcard, an empty field, or a TTL outside (0, HARD_MAX_TTL].
    """

    tenant: str
    user: str
    agent: str
    tool: str
    tasks: tuple[str, ...]
    scopes: tuple[str, ...]
    max_ttl: int = 300
    needs_approval: bool = False
    expires_at: int | None = None
    note: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "tasks", _sorted_tuple(self.tasks))
        object.__setattr__(self, "scopes", _sorted_tuple(self.scopes))
        for name in ("tenant", "user", "agent", "tool"):
            _refuse_wildcard(name, getattr(self, name))
        for name in ("tasks", "scopes"):
            values = getattr(self, name)
            if not values:
                raise ConfigurationError(f"a grant needs at least one entry in {name}")
            for v in values:
                _refuse_wildcard(name, v)
        if self.expires_at is not None and (isinstance(self.expires_at, bool)
                                            or not isinstance(self.expires_at, int)):
            raise ConfigurationError("expires_at must be a Unix time in seconds, or None")
        if isinstance(self.needs_approval, bool) is False:
            raise ConfigurationError("needs_approval must be true or false")
        if isinstance(self.max_ttl, bool) or not isinstance(self.max_ttl, int) \
                or not 0 < self.max_ttl <= HARD_MAX_TTL:
            raise ConfigurationError(f"max_ttl must be in (0, {HARD_MAX_TTL}] seconds")

    def covers(self, r: AgentRequest) -> bool:
        return (r.tenant, r.user, r.agent, r.tool) == (self.tenant, self.user, self.agent, self.tool) \
            and r.task in self.tasks

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Grant:
        """Load a grant from configuration (JSON/YAML-shaped); refuses unknown keys and wildcards."""
        allowed = set(cls.__dataclass_fields__)
        unknown = set(data) - allowed
        if unknown:
            raise ConfigurationError(f"unknown grant fields: {sorted(unknown)}")
        values = dict(data)
        for name in ("tasks", "scopes"):
            if name in values and not isinstance(values[name], list | tuple):
                raise ConfigurationError(f"grant field {name!r} must be a list")
            if name in values:
                values[name] = tuple(values[name])
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigurationError(f"grant is missing a field: {exc}") from None


def _refuse_wildcard(name: str, value: object) -> None:
    """Refuse anything that could match more than one thing, or split into two scopes."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"grant field {name!r} must be a non-empty string")
    if any(ch.isspace() for ch in value):
        raise ConfigurationError(f"grant field {name!r} contains whitespace ({value!r})")
    segments = re.split(r"[:./]", value.lower())
    if any(ch in value for ch in "*?%[]") or any(seg in WILDCARDS for seg in segments):
        raise ConfigurationError(f"grant field {name!r} is a wildcard ({value!r}); grants are exact")


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """What the policy decided, why, and exactly how much authority it hands out.

    ``allowed`` with ``needs_approval`` means: allowed only once a human has
    approved this exact request. Never issue on ``allowed`` alone.
    """

    allowed: bool
    code: str
    reason: str
    request: AgentRequest
    scopes: tuple[str, ...] = ()
    ttl: int = 0
    needs_approval: bool = False
    grant: Grant | None = field(default=None, repr=False)


def deny(request: AgentRequest, code: str, reason: str) -> Decision:
    return Decision(allowed=False, code=code, reason=reason, request=request)


class Policy(Protocol):
    """Anything that decides. It must deny what it does not explicitly allow."""

    def decide(self, request: AgentRequest, *, now: int) -> Decision: ...


def validate_request(request: AgentRequest) -> str | None:
    """Why a request is malformed, or None. Wildcards in a *request* are malformed too."""
    for name in ("tenant", "user", "agent", "session", "task", "tool"):
        value = getattr(request, name)
        if not isinstance(value, str) or not value or "*" in value:
            return f"the request's {name} must be a concrete, non-empty name"
    if not isinstance(request.scopes, tuple) or not request.scopes or any(
            not isinstance(s, str) or not s.strip() or "*" in s or any(c.isspace() for c in s)
            for s in request.scopes):
        return "the request must name concrete scopes, as a list"
    if len({k for k, _ in request.intent}) != len(request.intent):
        return "the request's intent names an argument twice"
    if isinstance(request.ttl, bool) or not isinstance(request.ttl, int) or request.ttl <= 0:
        return "the request's ttl must be a positive number of seconds"
    return None


class GrantPolicy:
    """Deny by default; allow only what a live, exact grant covers, narrowed to that grant."""

    def __init__(self, grants: Iterable[Grant]) -> None:
        self.grants: tuple[Grant, ...] = tuple(grants)

    @classmethod
    def from_config(cls, items: Iterable[Mapping[str, Any]]) -> GrantPolicy:
        return cls(Grant.from_dict(item) for item in items)

    def decide(self, request: AgentRequest, *, now: int) -> Decision:
        problem = validate_request(request)
        if problem:
            return deny(request, INVALID_REQUEST, problem)
        matching = [g for g in self.grants if g.covers(request)]
        if not matching:
            return deny(request, NO_GRANT, _why_no_grant(self.grants, request))
        live = [g for g in matching if g.expires_at is None or now < g.expires_at]
        if not live:
            return deny(request, GRANT_EXPIRED,
                        "the only grant for this request was a temporary exception that has ended")
        best = max(live, key=lambda g: len(set(g.scopes) & set(request.scopes)))
        scopes = tuple(s for s in request.scopes if s in best.scopes)
        if not scopes:
            return deny(request, SCOPE_NOT_GRANTED,
                        f"none of the requested scopes {list(request.scopes)} is granted for "
                        f"{request.tool!r}")
        ttl = min(request.ttl, best.max_ttl)
        narrowed = scopes != request.scopes or ttl != request.ttl
        if best.needs_approval:
            code, reason = NEEDS_APPROVAL, "allowed only with a human approval of this exact request"
        elif narrowed:
            code, reason = ALLOW_NARROWED, _narrowing(request, scopes, ttl)
        else:
            code, reason = ALLOW, f"granted {list(scopes)} on {request.tool!r} for {ttl}s"
        return Decision(allowed=True, code=code, reason=reason, request=request, scopes=scopes,
                        ttl=ttl, needs_approval=best.needs_approval, grant=best)

    def __repr__(self) -> str:
        return f"GrantPolicy(grants={len(self.grants)})"


def _why_no_grant(grants: tuple[Grant, ...], r: AgentRequest) -> str:
    """Name the first fact no grant matched, so a denial is explainable (deny-by-default still)."""
    pool = [g for g in grants if g.tenant == r.tenant]
    if not pool:
        return f"no grant exists in tenant {r.tenant!r}"
    for name, pick in (("user", lambda g: g.user), ("agent", lambda g: g.agent),
                       ("tool", lambda g: g.tool)):
        narrowed = [g for g in pool if pick(g) == getattr(r, name)]
        if not narrowed:
            return f"no grant in tenant {r.tenant!r} covers {name} {getattr(r, name)!r}"
        pool = narrowed
    return f"no grant covers task {r.task!r} for this user, agent and tool"


def _narrowing(r: AgentRequest, scopes: tuple[str, ...], ttl: int) -> str:
    parts = []
    dropped = [s for s in r.scopes if s not in scopes]
    if dropped:
        parts.append(f"dropped ungranted scopes {dropped}")
    if ttl != r.ttl:
        parts.append(f"capped ttl from {r.ttl}s to {ttl}s")
    return f"granted {list(scopes)} on {r.tool!r} for {ttl}s; " + " and ".join(parts)


class AllOf:
    """Allow only if every policy allows; the narrowest scopes and TTL win. Empty denies."""

    def __init__(self, *policies: Policy) -> None:
        self.policies = policies

    def decide(self, request: AgentRequest, *, now: int) -> Decision:
        if not self.policies:
            return deny(request, EMPTY_POLICY, "an empty policy allows nothing")
        decisions = [p.decide(request, now=now) for p in self.policies]
        for d in decisions:
            if not d.allowed:
                return d
        scopes = tuple(s for s in request.scopes if all(s in d.scopes for d in decisions))
        if not scopes:
            return deny(request, SCOPE_NOT_GRANTED, "the policies share no granted scope")
        ttl = min(d.ttl for d in decisions)
        approval = any(d.needs_approval for d in decisions)
        if approval:
            code, reason = NEEDS_APPROVAL, "allowed only with a human approval of this exact request"
        elif scopes != request.scopes or ttl != request.ttl:
            code, reason = ALLOW_NARROWED, _narrowing(request, scopes, ttl)
        else:
            code, reason = ALLOW, f"granted {list(scopes)} on {request.tool!r} for {ttl}s"
        return Decision(allowed=True, code=code, reason=reason, request=request, scopes=scopes,
                        ttl=ttl, needs_approval=approval, grant=decisions[0].grant)


class AnyOf:
    """Allow if any policy allows (the first that does). Empty denies."""

    def __init__(self, *policies: Policy) -> None:
        self.policies = policies

    def decide(self, request: AgentRequest, *, now: int) -> Decision:
        last = deny(request, EMPTY_POLICY, "an empty policy allows nothing")
        for p in self.policies:
            last = p.decide(request, now=now)
            if last.allowed:
                return last
        return last
