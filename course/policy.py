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

import enum
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import FrozenInstanceError, dataclass, field
from typing import Any, Protocol

from .errors import ConfigurationError, InvalidRequestError

HARD_MAX_TTL = 3600  # no grant may hand out tokens that live longer than an hour
WILDCARDS = ("*", "?", "%", "any", "all")

class Outcome(enum.Enum):
    """What a decision lets happen: one value, so "allowed" and "needs approval" cannot disagree.

    ``NEEDS_APPROVAL`` allows only together with a human approval of the exact request:
    :attr:`Decision.allowed` is True for it AND :attr:`Decision.needs_approval` is True,
    and a consumer must honour both, as the Vault does.
    """

    ALLOW = "allow"
    DENY = "deny"
    NEEDS_APPROVAL = "needs_approval"


class Reason(enum.StrEnum):
    """Every reason code a policy of this module can put on a :class:`Decision`.

    Members are ``str``: ``decision.code == "no_grant"`` holds, they hash and print
    as their value, and JSON writes them as plain strings. ALLOW and ALLOW_NARROWED
    allow; NEEDS_APPROVAL allows only with an approval; every other code is a denial.
    """

    ALLOW = "allow"
    ALLOW_NARROWED = "allow_narrowed"
    NEEDS_APPROVAL = "needs_approval"
    NO_GRANT = "no_grant"
    SCOPE_NOT_GRANTED = "scope_not_granted"
    GRANT_EXPIRED = "grant_expired"
    INVALID_REQUEST = "invalid_request"
    EMPTY_POLICY = "empty_policy"


# The module-level names callers (and the notebooks) already use: the same members.
ALLOW = Reason.ALLOW
ALLOW_NARROWED = Reason.ALLOW_NARROWED
NEEDS_APPROVAL = Reason.NEEDS_APPROVAL
NO_GRANT = Reason.NO_GRANT
SCOPE_NOT_GRANTED = Reason.SCOPE_NOT_GRANTED
GRANT_EXPIRED = Reason.GRANT_EXPIRED
INVALID_REQUEST = Reason.INVALID_REQUEST
EMPTY_POLICY = Reason.EMPTY_POLICY
# Plain strings (they print as before); ``Reason.X in REASON_CODES`` holds as str equality.
REASON_CODES: tuple[str, ...] = tuple(member.value for member in Reason)
ALLOWING_CODES = frozenset({Reason.ALLOW, Reason.ALLOW_NARROWED, Reason.NEEDS_APPROVAL})


def _sorted_tuple(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(values)))


# ---------------------------------------------------------------- canonical typed JSON

JsonScalar = str | int | float | bool | None
MAX_JSON_DEPTH = 32  # a call body nested deeper than this is refused, not recursed into
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                            allow_nan=False, check_circular=False)


def _is_scalar(value: object) -> bool:
    """A JSON scalar of an exact built-in type; a float only if finite.

    Exact types, not isinstance: a subclass (an IntEnum, a str subclass with its own
    ``__str__``) could print as something else than what equality and hashing see.
    """
    kind = type(value)
    if kind is float:
        return math.isfinite(value)  # type: ignore[arg-type]
    return value is None or kind in (str, int, bool)


def _check_json(value: object, where: str, depth: int = 0) -> None:
    """Refuse anything canonical JSON cannot carry exactly: the digest would be ambiguous.

    Raises:
        InvalidRequestError: a non-str key, NaN or infinity, a non-JSON type, or too deep.
    """
    if depth > MAX_JSON_DEPTH:
        raise InvalidRequestError(f"{where} is nested deeper than {MAX_JSON_DEPTH} levels")
    if _is_scalar(value):
        return
    if type(value) is float:
        raise InvalidRequestError(f"{where} holds a number JSON cannot carry (NaN or infinity)")
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise InvalidRequestError(f"{where} has a key that is not a string")
            _check_json(item, where, depth + 1)
        return
    if type(value) in (list, tuple):
        for item in value:  # type: ignore[attr-defined]
            _check_json(item, where, depth + 1)
        return
    raise InvalidRequestError(f"{where} holds a {type(value).__name__}, which is not JSON")


def canonical_json(value: object, *, where: str = "the value") -> bytes:
    """Canonical typed JSON: sorted keys, no spaces, UTF-8, types kept (no str() anywhere).

    ``1``, ``1.0``, ``True`` and ``"1"`` encode as ``1``, ``1.0``, ``true`` and ``"1"``:
    four different byte strings, so four different digests. Lone surrogates (which
    ``json.loads`` can produce) are kept distinct by ``surrogatepass``.

    Raises:
        InvalidRequestError: the value is not plain JSON (see :func:`_check_json`).
    """
    _check_json(value, where)
    try:
        text = _ENCODER.encode(value)
    except (ValueError, TypeError, RecursionError):  # e.g. an int too long to print
        raise InvalidRequestError(f"{where} cannot be written as canonical JSON") from None
    return text.encode("utf-8", "surrogatepass")


def _typed_intent(intent: object) -> tuple[tuple[str, JsonScalar], ...]:
    """The intent as sorted (name, JSON scalar) pairs; pairs may arrive as tuples or lists.

    Raises:
        InvalidRequestError: not a sequence of pairs, a non-str or repeated name, or a
            value that is not a JSON scalar (a container, NaN, infinity, another type).
    """
    if type(intent) not in (tuple, list):
        raise InvalidRequestError("the request's intent must be a list of (name, value) pairs")
    pairs: dict[str, JsonScalar] = {}
    for pair in intent:  # type: ignore[attr-defined]
        if type(pair) not in (tuple, list) or len(pair) != 2:
            raise InvalidRequestError("the request's intent must be a list of (name, value) pairs")
        name, value = pair
        if type(name) is not str:
            raise InvalidRequestError("the request's intent names an argument with a non-string")
        if name in pairs:
            raise InvalidRequestError(f"the request's intent names argument {name!r} twice")
        if not _is_scalar(value):
            raise InvalidRequestError(f"the request's intent argument {name!r} must be a JSON "
                                      "scalar (string, integer, finite number, boolean or null)")
        pairs[name] = value
    return tuple(sorted(pairs.items(), key=lambda kv: kv[0]))


_NAME_FIELDS = ("tenant", "user", "agent", "session", "task", "tool")


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentRequest:
    """An agent asking for authority: one task, one tool, for one user, in one tenant.

    ``intent`` is what the agent says it will send, as typed (name, value) pairs, e.g.
    ``(("version", "1.4.2"), ("amount", 100))``; values are JSON scalars and keep their
    type, so ``100`` and ``"100"`` are different intents. An approval is bound to the
    digest of the whole request, intent included.

    Construction refuses a request of the wrong shape, so nothing downstream can trip
    over it; what is well typed but not allowed (a wildcard, a TTL of 0, no scopes) is
    left to :func:`validate_request`, which denies it with a logged reason.

    Raises:
        InvalidRequestError: a name field that is not a non-empty str; scopes that are not
            a tuple or list of str (a bare string is refused); a ttl that is not an int
            (a bool is not); an intent that is not typed pairs (see :func:`_typed_intent`).
    """

    tenant: str
    user: str
    agent: str
    session: str
    task: str
    tool: str
    scopes: tuple[str, ...]
    ttl: int = 300
    intent: tuple[tuple[str, JsonScalar], ...] = ()

    def __post_init__(self) -> None:
        for name in _NAME_FIELDS:
            value = getattr(self, name)
            if type(value) is not str or not value:
                raise InvalidRequestError(f"the request's {name} must be a non-empty string")
        if type(self.scopes) not in (tuple, list) or any(type(s) is not str for s in self.scopes):
            raise InvalidRequestError("the request's scopes must be a list of strings")
        if type(self.ttl) is not int:
            raise InvalidRequestError("the request's ttl must be a whole number of seconds")
        object.__setattr__(self, "scopes", _sorted_tuple(self.scopes))
        object.__setattr__(self, "intent", _typed_intent(self.intent))
        self._canonical()  # refuse now what could not be digested later (an int too long to print)

    def facts(self) -> dict[str, Any]:
        """The request's input facts, as the wire and the access log carry them (types kept)."""
        return {"tenant": self.tenant, "user": self.user, "agent": self.agent,
                "session": self.session, "task": self.task, "tool": self.tool,
                "scopes": list(self.scopes), "ttl": self.ttl,
                "intent": [[name, value] for name, value in self.intent]}

    def intent_digest(self) -> str:
        """SHA-256 over the intent alone: what the broker compares the actual call against."""
        return intent_digest(dict(self.intent))

    def digest(self) -> str:
        """SHA-256 over the canonical typed JSON of the request: what an approval is bound to."""
        return hashlib.sha256(self._canonical()).hexdigest()

    def _canonical(self) -> bytes:
        return canonical_json(self.facts(), where="the request")

    # Python says 1 == 1.0 == True, so the generated __eq__ would call two requests equal
    # whose digests differ; equality and hashing follow the canonical bytes instead.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AgentRequest):
            return NotImplemented
        return self._canonical() == other._canonical()

    def __hash__(self) -> int:
        return hash(self._canonical())


def intent_digest(arguments: Mapping[str, object]) -> str:
    """SHA-256 over the canonical typed JSON of call arguments: the same on both sides.

    The vault digests the approved intent; the broker digests the call's actual JSON
    body (nested objects and arrays included). ``{"amount": 100}``, ``{"amount": 100.0}``,
    ``{"amount": "100"}`` and ``{"amount": true}`` give four different digests.

    Raises:
        InvalidRequestError: the arguments are not a JSON object (non-str keys, NaN,
            infinity, a non-JSON type, nested deeper than :data:`MAX_JSON_DEPTH`).
    """
    if not isinstance(arguments, Mapping):
        raise InvalidRequestError("the call's arguments must be a JSON object")
    body = canonical_json(dict(arguments), where="the call's arguments")
    return hashlib.sha256(body).hexdigest()


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
        for name in ("tenant", "user", "agent", "tool"):
            _refuse_wildcard(name, getattr(self, name))
        for name in ("tasks", "scopes"):
            values = getattr(self, name)
            if type(values) not in (tuple, list, set, frozenset):
                raise ConfigurationError(f"grant field {name!r} must be a list of strings, "
                                         f"not {type(values).__name__}")
            if not values:
                raise ConfigurationError(f"grant field {name!r} needs at least one entry")
            for v in values:
                _refuse_wildcard(name, v)
            object.__setattr__(self, name, _sorted_tuple(values))
        if self.expires_at is not None and type(self.expires_at) is not int:
            raise ConfigurationError("grant field 'expires_at' must be a Unix time in whole seconds, "
                                     "or None")
        if type(self.needs_approval) is not bool:
            raise ConfigurationError("grant field 'needs_approval' must be true or false")
        if type(self.max_ttl) is not int or not 0 < self.max_ttl <= HARD_MAX_TTL:
            raise ConfigurationError(f"grant field 'max_ttl' must be a whole number of seconds in "
                                     f"(0, {HARD_MAX_TTL}]")
        if type(self.note) is not str:
            raise ConfigurationError("grant field 'note' must be a string")

    def covers(self, r: AgentRequest) -> bool:
        return (r.tenant, r.user, r.agent, r.tool) == (self.tenant, self.user, self.agent, self.tool) \
            and r.task in self.tasks

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Grant:
        """Load a grant from configuration (JSON/YAML-shaped), refusing anything not exactly a grant.

        Raises:
            ConfigurationError: not an object, an unknown or missing field, a field of the
                wrong type (a bool where an int belongs, a string where a list belongs), or
                anything :class:`Grant` refuses; the message names the field.
        """
        if not isinstance(data, Mapping):
            raise ConfigurationError(f"a grant must be an object, not {type(data).__name__}")
        fields = cls.__dataclass_fields__
        unknown = [key for key in data if not (type(key) is str and key in fields)]
        if unknown:
            raise ConfigurationError(f"unknown grant fields: {sorted(repr(k) for k in unknown)}")
        missing = [name for name in _GRANT_REQUIRED if name not in data]
        if missing:
            raise ConfigurationError(f"grant field {missing[0]!r} is missing")
        values = dict(data)
        for name in ("tasks", "scopes"):  # JSON has lists; a set or a string is not one
            if type(values[name]) not in (list, tuple):
                raise ConfigurationError(f"grant field {name!r} must be a list of strings")
            values[name] = tuple(values[name])
        return cls(**values)


_GRANT_REQUIRED = ("tenant", "user", "agent", "tool", "tasks", "scopes")


def _refuse_wildcard(name: str, value: object) -> None:
    """Refuse anything that could match more than one thing, or split into two scopes."""
    if type(value) is not str or not value.strip():
        raise ConfigurationError(f"grant field {name!r} must be a non-empty string")
    if any(ch.isspace() for ch in value):
        raise ConfigurationError(f"grant field {name!r} contains whitespace ({value!r})")
    segments = re.split(r"[:./]", value.lower())
    if any(ch in value for ch in "*?%[]") or any(seg in WILDCARDS for seg in segments):
        raise ConfigurationError(f"grant field {name!r} is a wildcard ({value!r}); grants are exact")


@dataclass(frozen=True, slots=True, kw_only=True, init=False)
class Decision:
    """What the policy decided, why, and exactly how much authority it hands out.

    ``outcome`` is the one fact; :attr:`allowed` and :attr:`needs_approval` are read
    from it, so a decision that is "not allowed but needs approval" cannot exist.
    ``allowed`` with ``needs_approval`` means: allowed only once a human has approved
    this exact request. Never issue on ``allowed`` alone.

    The constructor takes ``outcome=``, or the older pair ``allowed=`` /
    ``needs_approval=`` (kept for callers and notebooks that build decisions that way);
    ``code`` may be a :class:`Reason` or its string value and is stored as the member.

    Raises:
        ConfigurationError: no outcome; an outcome that is not an :class:`Outcome`;
            ``allowed``/``needs_approval`` that are not bools, that contradict each other
            (not allowed yet needing approval) or the given ``outcome``; a code that is
            not a :class:`Reason`; a denial code on an allowing decision, an allowing
            code on a denial, or the NEEDS_APPROVAL code on a decision that does not
            need approval.
    """

    outcome: Outcome
    code: Reason
    reason: str
    request: AgentRequest
    scopes: tuple[str, ...] = ()
    ttl: int = 0
    grant: Grant | None = field(default=None, repr=False)

    def __init__(self, *, code: Reason | str, reason: str, request: AgentRequest,
                 scopes: tuple[str, ...] = (), ttl: int = 0, grant: Grant | None = None,
                 outcome: Outcome | None = None, allowed: bool | None = None,
                 needs_approval: bool | None = None) -> None:
        outcome = _outcome(outcome, allowed, needs_approval)
        if not isinstance(code, str):
            raise ConfigurationError(f"a decision's code must be a reason code, not "
                                     f"{type(code).__name__}")
        try:
            member = Reason(code)
        except ValueError:
            raise ConfigurationError(f"{code!r} is not a reason code of the policy "
                                     f"(one of {list(REASON_CODES)})") from None
        if (outcome is Outcome.DENY) == (member in ALLOWING_CODES):
            raise ConfigurationError(f"code {member.value!r} contradicts the outcome "
                                     f"{outcome.value!r}")
        if member is Reason.NEEDS_APPROVAL and outcome is not Outcome.NEEDS_APPROVAL:
            raise ConfigurationError("code 'needs_approval' on a decision that does not need approval")
        for name, value in (("outcome", outcome), ("code", member), ("reason", reason),
                            ("request", request), ("scopes", scopes), ("ttl", ttl), ("grant", grant)):
            object.__setattr__(self, name, value)

    @property
    def allowed(self) -> bool:
        """True for ALLOW and for NEEDS_APPROVAL (which also needs the approval: check both)."""
        return self.outcome is not Outcome.DENY

    @property
    def needs_approval(self) -> bool:
        """True only for NEEDS_APPROVAL: the request may proceed once a human approved it."""
        return self.outcome is Outcome.NEEDS_APPROVAL



def _refuse_assignment(self: Decision, name: str, value: object = None) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


# The generated frozen __setattr__ of a slots dataclass compares against the class before
# slots were added, so setting a property (allowed, needs_approval) raised a TypeError from
# super(); every assignment or deletion is refused the same way instead.
Decision.__setattr__ = _refuse_assignment  # type: ignore[assignment,method-assign]
Decision.__delattr__ = _refuse_assignment  # type: ignore[assignment,method-assign]

def _outcome(outcome: object, allowed: object, needs_approval: object) -> Outcome:
    """The one outcome the constructor's keywords name.

    Raises:
        ConfigurationError: see :class:`Decision`.
    """
    for name, value in (("allowed", allowed), ("needs_approval", needs_approval)):
        if value is not None and type(value) is not bool:
            raise ConfigurationError(f"a decision's {name!r} must be true or false")
    if allowed is False and needs_approval is True:
        raise ConfigurationError("a decision cannot be denied and need approval: pick one outcome")
    if outcome is not None and not isinstance(outcome, Outcome):
        raise ConfigurationError(f"a decision's outcome must be an Outcome, not {type(outcome).__name__}")
    if allowed is not None:
        legacy = (Outcome.DENY if not allowed
                  else Outcome.NEEDS_APPROVAL if needs_approval else Outcome.ALLOW)
        if outcome is not None and outcome is not legacy:
            raise ConfigurationError(f"allowed={allowed!r}, needs_approval={bool(needs_approval)!r} "
                                     f"contradict outcome {outcome.value!r}")
        return legacy
    if outcome is None:
        raise ConfigurationError("a decision needs an outcome (or allowed=)")
    if needs_approval is not None and needs_approval != (outcome is Outcome.NEEDS_APPROVAL):
        raise ConfigurationError(f"needs_approval={needs_approval!r} contradicts outcome "
                                 f"{outcome.value!r}")
    return outcome


def deny(request: AgentRequest, code: Reason | str, reason: str) -> Decision:
    """A denial: no scopes, no TTL, no grant; ``code`` must be a denial :class:`Reason`.

    Raises:
        ConfigurationError: ``code`` is not a reason code, or is one that allows.
    """
    return Decision(outcome=Outcome.DENY, code=code, reason=reason, request=request)


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
        """Load grants from configuration: a list of grant objects, each checked whole.

        Raises:
            ConfigurationError: the configuration is not a list, or grant number ``i`` is
                malformed; the message starts ``grant #i:`` and names the field.
        """
        if isinstance(items, str | bytes | bytearray | Mapping) or not isinstance(items, Iterable):
            raise ConfigurationError(f"grants must be a list of grant objects, not {type(items).__name__}")
        grants = []
        for index, item in enumerate(items):
            try:
                grants.append(Grant.from_dict(item))
            except ConfigurationError as exc:
                raise ConfigurationError(f"grant #{index}: {exc}") from None
        return cls(grants)

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
        outcome = Outcome.NEEDS_APPROVAL if best.needs_approval else Outcome.ALLOW
        return Decision(outcome=outcome, code=code, reason=reason, request=request, scopes=scopes,
                        ttl=ttl, grant=best)

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


def _failures(decisions: list[Decision]) -> list[tuple[int, Decision]]:
    """The denying decisions with their rule number (1-based, in the order the rules were given)."""
    return [(number, d) for number, d in enumerate(decisions, start=1) if not d.allowed]


def _combined_denial(request: AgentRequest, failures: list[tuple[int, Decision]], total: int,
                     head: str) -> Decision:
    """One denial naming every failing rule; its code is the first failing rule's (by position)."""
    named = "; ".join(f"rule {number} ({d.code.value}): {d.reason}" for number, d in failures)
    return deny(request, failures[0][1].code, f"{head} ({len(failures)} of {total} rules deny): {named}")


class AllOf:
    """Allow only if every policy allows; the narrowest scopes and TTL win. Empty denies.

    A denial names every rule that denied (rule numbers count from 1 in the order given)
    and carries the code of the first of them, so the code is deterministic. If any
    rule needs an approval, the combination needs it.
    """

    def __init__(self, *policies: Policy) -> None:
        self.policies = policies

    def decide(self, request: AgentRequest, *, now: int) -> Decision:
        if not self.policies:
            return deny(request, EMPTY_POLICY, "an empty policy allows nothing")
        decisions = [p.decide(request, now=now) for p in self.policies]
        failures = _failures(decisions)
        if failures:
            return _combined_denial(request, failures, len(decisions), "not every rule allows")
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
        outcome = Outcome.NEEDS_APPROVAL if approval else Outcome.ALLOW
        return Decision(outcome=outcome, code=code, reason=reason, request=request, scopes=scopes,
                        ttl=ttl, grant=decisions[0].grant)


class AnyOf:
    """Allow if any policy allows (the first that does, returned as it is). Empty denies.

    When every rule denies, the denial names every rule (numbered from 1 in the order
    given) and carries the first rule's code.
    """

    def __init__(self, *policies: Policy) -> None:
        self.policies = policies

    def decide(self, request: AgentRequest, *, now: int) -> Decision:
        if not self.policies:
            return deny(request, EMPTY_POLICY, "an empty policy allows nothing")
        decisions = []
        for p in self.policies:
            d = p.decide(request, now=now)
            if d.allowed:
                return d
            decisions.append(d)
        return _combined_denial(request, _failures(decisions), len(decisions), "no rule allows")
