"""Connector and grant ownership: the human blind spots a grant file hides, found by an audit.

The policy loader refuses what is *malformed* (a wildcard, a TTL past the cap).
It cannot refuse what is well formed and still wrong for people reasons: every
line of a grant file below loads into :class:`course.policy.GrantPolicy`. The
lesson names five such blind spots, and :func:`audit` finds each by one rule
over plain data (a list of JSON objects, the file as an operator keeps it):

``temporary_exception``
    an entry filed as an exception (``purpose == "exception"``) with no end, or an
    end more than :data:`MAX_EXCEPTION` seconds after it was created.
``stale_owner``
    an entry (grant or connector) whose owner is empty or is not an *active*
    person in the directory, compared as identities (:func:`course.approvals.identity`),
    so ``"Ana "`` is Ana and a leaver is nobody.
``copied_policy``
    a grant whose tool, scopes, tasks and (non-empty) note equal those of an
    earlier-created grant for another tenant or agent: the block was pasted, and
    its note still describes someone else's job. Reported on the later entry only.
``broad_debug_grant``
    ``purpose == "debug"`` with a scope that does more than read (not ending in
    ``:read``) or with no end.
``recovery_shortcut``
    ``purpose == "recovery"`` (break glass) without a runbook, or usable without a
    human approval.

:func:`grant_file` is a realistic file with each blind spot and, next to each,
a look-alike that is fine (a short exception, a read-only debug grant, a
documented recovery grant, an owner typed in another case). The notebook's
learner writes the audit; this module is the reference the tests hold it to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .approvals import identity
from .clock import LAB_EPOCH
from .errors import InvalidRequestError
from .policy import Grant

__all__ = ["BLIND_SPOTS", "DAY", "MAX_EXCEPTION", "PEOPLE", "Finding", "as_grant", "audit",
           "grant_file"]

DAY = 86_400
MAX_EXCEPTION = 7 * DAY  # an exception that lasts longer than a week is a standing grant
BLIND_SPOTS: tuple[str, ...] = ("temporary_exception", "stale_owner", "copied_policy",
                                "broad_debug_grant", "recovery_shortcut")
GRANT_FIELDS: tuple[str, ...] = ("tenant", "user", "agent", "tool", "tasks", "scopes", "max_ttl",
                                 "needs_approval", "expires_at", "note")


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One blind spot on one entry of a grant file: the entry's id, the code, and why."""

    entry: str
    code: str
    why: str


def _is_owner(name: object, people: Mapping[str, Mapping[str, Any]]) -> bool:
    """True when ``name`` denotes a person the directory lists as active."""
    try:
        who = identity(name)
    except InvalidRequestError:
        return False
    active = {identity(person) for person, facts in people.items() if facts.get("active") is True}
    return who in active


def audit(entries: Iterable[Mapping[str, Any]],
          people: Mapping[str, Mapping[str, Any]]) -> tuple[Finding, ...]:
    """Every blind spot of the grant file, sorted by entry id then code.

    ``entries`` are the file's objects (grants and connectors, see :func:`grant_file`);
    ``people`` maps a person's name to ``{"active": bool, ...}``. The rules are the
    module docstring's; an entry may have several findings.
    """
    items = list(entries)
    found: list[Finding] = []
    for entry in items:
        eid = str(entry.get("id", ""))
        if not _is_owner(entry.get("owner"), people):
            found.append(Finding(entry=eid, code="stale_owner",
                                 why="its owner is empty or not an active person"))
        purpose, end, created = entry.get("purpose"), entry.get("expires_at"), entry.get("created", 0)
        if purpose == "exception" and (end is None or end - created > MAX_EXCEPTION):
            found.append(Finding(entry=eid, code="temporary_exception",
                                 why="an exception with no end within a week"))
        if purpose == "debug" and (end is None or any(not s.endswith(":read")
                                                      for s in entry.get("scopes", ()))):
            found.append(Finding(entry=eid, code="broad_debug_grant",
                                 why="a debug grant that writes, or never ends"))
        if purpose == "recovery" and (not entry.get("runbook") or entry.get("needs_approval") is not True):
            found.append(Finding(entry=eid, code="recovery_shortcut",
                                 why="a break-glass entry without a runbook or without an approval"))
        if entry.get("kind") == "grant" and entry.get("note"):
            for earlier in items:
                if (earlier is not entry and earlier.get("kind") == "grant"
                        and earlier.get("created", 0) < created
                        and _authority(earlier) == _authority(entry)
                        and (earlier.get("tenant"), earlier.get("agent"))
                        != (entry.get("tenant"), entry.get("agent"))):
                    found.append(Finding(entry=eid, code="copied_policy",
                                         why="pasted from an earlier grant, note and all"))
                    break
    return tuple(sorted(found, key=lambda f: (f.entry, f.code)))


def _authority(entry: Mapping[str, Any]) -> tuple[object, ...]:
    return (entry.get("tool"), tuple(sorted(entry.get("scopes", ()))),
            tuple(sorted(entry.get("tasks", ()))), entry.get("note"))


def as_grant(entry: Mapping[str, Any]) -> Grant:
    """The :class:`~course.policy.Grant` a grant entry configures (ownership fields dropped).

    Raises:
        ConfigurationError: the entry is not a well-formed grant (see ``Grant.from_dict``).
    """
    return Grant.from_dict({k: entry[k] for k in GRANT_FIELDS if k in entry})


#: The people directory the audit trusts: who is a person, and who still works here.
PEOPLE: Mapping[str, Mapping[str, Any]] = {
    "ana": {"team": "platform", "active": True},
    "bob": {"team": "finance", "active": True},
    "carol": {"team": "support", "active": True},
    "dan": {"team": "platform", "active": False, "left": LAB_EPOCH - 40 * DAY},
    "erin": {"team": "security", "active": True},
}


def _grant(eid: str, *, tenant: str, user: str, agent: str, tool: str, tasks: list[str],
           scopes: list[str], owner: str, created: int, purpose: str = "standing",
           expires_at: int | None = None, needs_approval: bool = False, runbook: str | None = None,
           note: str = "", max_ttl: int = 300) -> dict[str, Any]:
    return {"id": eid, "kind": "grant", "tenant": tenant, "user": user, "agent": agent, "tool": tool,
            "tasks": tasks, "scopes": scopes, "max_ttl": max_ttl, "needs_approval": needs_approval,
            "expires_at": expires_at, "note": note, "owner": owner, "created": created,
            "purpose": purpose, "runbook": runbook}


def _connector(eid: str, *, tenant: str, tool: str, owner: str, created: int,
               purpose: str = "standing", runbook: str | None = None,
               needs_approval: bool = False, note: str = "") -> dict[str, Any]:
    return {"id": eid, "kind": "connector", "tenant": tenant, "user": "", "agent": "", "tool": tool,
            "tasks": [], "scopes": [], "max_ttl": 0, "needs_approval": needs_approval,
            "expires_at": None, "note": note, "owner": owner, "created": created,
            "purpose": purpose, "runbook": runbook}


def grant_file(now: int = LAB_EPOCH) -> list[dict[str, Any]]:
    """A realistic grant file (fresh lists each call): 18 entries, each blind spot once or twice.

    The findings :func:`audit` makes on it, with :data:`PEOPLE`::

        C-3 stale_owner (dan left)            G-04 temporary_exception (no end)
        G-06 temporary_exception (90 days)    G-07 stale_owner (dan left)
        G-09 copied_policy (globex from acme) G-11 broad_debug_grant (writes)
        G-12 broad_debug_grant (no end)       G-13 recovery_shortcut (no runbook)
        G-15 recovery_shortcut (no approval)  G-16 stale_owner (nobody)
    """
    ago = lambda days: now - days * DAY  # noqa: E731 - a short local reading aid
    return [
        _connector("C-1", tenant="acme", tool="tickets", owner="carol", created=ago(400)),
        _connector("C-2", tenant="acme", tool="payments", owner="Bob", created=ago(380)),
        _connector("C-3", tenant="globex", tool="files", owner="dan", created=ago(300),
                   note="OAuth consent by dan for the globex drive"),
        _grant("G-01", tenant="acme", user="ana", agent="support-bot", tool="tickets",
               tasks=["triage"], scopes=["tickets:read", "tickets:write"], owner="carol",
               created=ago(200), note="support triage for acme"),
        _grant("G-02", tenant="acme", user="bob", agent="finance-bot", tool="payments",
               tasks=["refund"], scopes=["payments:read", "payments:refund"], owner="bob",
               created=ago(150), needs_approval=True, note="refunds, approved per request"),
        _grant("G-03", tenant="acme", user="ana", agent="deploy-bot", tool="deploy:production",
               tasks=["hotfix-INC-4711"], scopes=["deploy:write"], owner="ana", created=ago(2),
               purpose="exception", expires_at=ago(2) + 4 * 3600, note="INC-4711 hotfix, 4 hours"),
        _grant("G-04", tenant="acme", user="ana", agent="deploy-bot", tool="deploy:production",
               tasks=["hotfix-INC-4502"], scopes=["deploy:write"], owner="ana", created=ago(60),
               purpose="exception", note="INC-4502: temporary, remove after the incident"),
        _grant("G-05", tenant="acme", user="carol", agent="support-bot", tool="tickets",
               tasks=["backlog-sweep"], scopes=["tickets:read"], owner="carol", created=ago(3),
               purpose="exception", expires_at=ago(3) + 5 * DAY, note="backlog week"),
        _grant("G-06", tenant="acme", user="bob", agent="finance-bot", tool="payments",
               tasks=["quarter-close"], scopes=["payments:charge"], owner="bob", created=ago(20),
               purpose="exception", expires_at=ago(20) + 90 * DAY, note="quarter close, temporary"),
        _grant("G-07", tenant="globex", user="dan", agent="files-bot", tool="files",
               tasks=["sync"], scopes=["files:read"], owner="dan", created=ago(300),
               note="nightly drive sync"),
        _grant("G-08", tenant="acme", user="bob", agent="finance-bot", tool="payments",
               tasks=["reconcile"], scopes=["payments:read"], owner="bob", created=ago(120),
               note="acme month-end reconciliation, owner bob"),
        _grant("G-09", tenant="globex", user="gina", agent="finance-bot", tool="payments",
               tasks=["reconcile"], scopes=["payments:read"], owner="bob", created=ago(30),
               note="acme month-end reconciliation, owner bob"),
        _grant("G-10", tenant="acme", user="ana", agent="support-bot", tool="tickets",
               tasks=["debug-ticket-sync"], scopes=["tickets:read"], owner="ana", created=ago(5),
               purpose="debug", expires_at=ago(5) + 2 * DAY, note="read-only, two days"),
        _grant("G-11", tenant="acme", user="ana", agent="support-bot", tool="tickets",
               tasks=["debug-webhooks"], scopes=["tickets:read", "tickets:write"], owner="ana",
               created=ago(9), purpose="debug", expires_at=ago(9) + 30 * DAY,
               note="debugging webhooks, needs write to replay"),
        _grant("G-12", tenant="acme", user="erin", agent="ops-bot", tool="payments",
               tasks=["debug-latency"], scopes=["payments:read"], owner="erin", created=ago(45),
               purpose="debug", note="latency probe"),
        _grant("G-13", tenant="acme", user="ana", agent="ops-bot", tool="deploy:production",
               tasks=["rollback"], scopes=["deploy:write"], owner="ana", created=ago(90),
               purpose="recovery", needs_approval=True, note="in case the pipeline is down"),
        _grant("G-14", tenant="acme", user="erin", agent="ops-bot", tool="deploy:production",
               tasks=["break-glass"], scopes=["deploy:write"], owner="erin", created=ago(90),
               purpose="recovery", needs_approval=True, runbook="RB-7 break glass",
               note="documented, approval every use"),
        _grant("G-15", tenant="acme", user="erin", agent="ops-bot", tool="payments",
               tasks=["unfreeze"], scopes=["payments:read"], owner="erin", created=ago(70),
               purpose="recovery", runbook="RB-9 unfreeze", note="runbook, but no approval"),
        _grant("G-16", tenant="acme", user="carol", agent="report-bot", tool="tickets",
               tasks=["weekly-report"], scopes=["tickets:read"], owner="", created=ago(250),
               note="weekly numbers"),
    ]
