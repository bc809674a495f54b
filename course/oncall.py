"""The engineer on call: revocation drills and days of real access-log lines (notebook 06).

    Agent request -> Vault policy -> **Short-lived token** -> **Tool call** -> Access log

Everything a learner's function is judged on comes back as plain data: log
lines as ``str`` (the access log's own canonical JSON), sessions and tokens as
dicts. The material is produced by the real kit (vault, broker, HTTP services,
hash-chained log), never written by hand:

* :func:`normal_day` is a working day of real traffic in two tenants: sessions
  opened and closed, a delegated session, passes fetched and renewed, tool calls,
  a routine key rotation and the refusals a healthy system makes (an expired pass
  retried, a scope an agent does not have, a refund waiting for its approval).
* :func:`incident` is the same day with one attack woven in (see
  :data:`INCIDENTS`): a stolen pass used after its session was revoked (refused,
  or accepted by a tool that verifies passes offline), a burst of forged passes,
  and an agent presenting another agent's session (refused, or believed by a
  vault that trusts the request).
* :func:`revocation_drill` and :func:`key_drill` build a real vault with a tree
  of delegated sessions and passes signed by rotating keys, hand out the state
  as plain data, and answer, by revoking for real and probing every pass, what
  actually died.
* :func:`revoke_under_load` revokes a session while threads are calling the
  tools with its passes, and reports what happened to every call that started
  after the revocation returned.

Nothing here returns or prints a token, a credential or a key.
"""

from __future__ import annotations

import atexit
import functools
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from . import forge, lab
from .agent import standard_grants
from .clock import LAB_EPOCH
from .errors import TokenError, VaultLabError
from .policy import AgentRequest, Grant
from .tokens import Verifier
from .unsafe import believe_the_request
from .vault import IssuedToken, Session, Vault
from .world import World

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "DAY_START",
    "INCIDENTS",
    "Drill",
    "LoadReport",
    "brief",
    "exposure_bars",
    "incident",
    "key_drill",
    "normal_day",
    "revocation_drill",
    "revoke_under_load",
]

#: The lab's clock starts the day at 08:00; :func:`brief` prints times from here.
DAY_START = LAB_EPOCH
_HOUR = 3600

#: incident name -> what the attacker does (woven into :func:`normal_day` at 12:30).
INCIDENTS: Mapping[str, str] = MappingProxyType({
    "stolen-pass-revoked": "alice's helpdesk session is revoked as compromised; two minutes later "
                           "a pass copied from it is presented twice at the tickets tool",
    "stolen-pass-offline-tool": "the same, but the tickets tool verifies passes offline (the key "
                                "set only, no revocation list), so the stolen pass still works",
    "forged-passes": "someone edits a stolen tickets pass (audience payments, more scopes) and "
                     "presents six versions of it at the payments tool within 40 seconds",
    "borrowed-session": "deploy-bot presents alice's helpdesk session credential and asks, as "
                        "deploy-bot, for a staging deploy pass",
    "borrowed-session-believed": "the same, against a vault whose session check believes the "
                                 "request: the pass is issued and used",
})


class _DayClock:
    """A manual clock that can be rewound between days, so one world serves every day."""

    def __init__(self) -> None:
        self._now = DAY_START
        self._lock = threading.Lock()

    def now(self) -> int:
        return self._now

    def set(self, when: int) -> int:
        with self._lock:
            self._now = int(when)
            return self._now

    def advance(self, seconds: int) -> int:
        return self.set(self._now + int(seconds))


_WORLD: dict[str, tuple[World, _DayClock]] = {}
_DAYS: dict[str, tuple[str, ...]] = {}
_DAYS_LOCK = threading.Lock()


def _shared_world() -> tuple[World, _DayClock]:
    if "world" not in _WORLD:
        day_clock = _DayClock()
        world = World.start(seed="oncall", clock=day_clock)
        atexit.register(world.close)
        _WORLD["world"] = (world, day_clock)
    return _WORLD["world"]


def _offline_verifier(vault: Vault, audience: str) -> Verifier:
    """A tool that checks the stamp and the time against the key set, and never asks about revocation."""
    return Verifier(keys=vault.keys, issuer=vault.issuer, audience=audience, clock=vault.clock,
                    leeway=vault.leeway, max_ttl=vault.max_ttl)


class _Day:
    """One scripted day on a fresh vault, broker and log, sharing the world's services."""

    def __init__(self, wiring: lab.Wiring, world: World, day_clock: _DayClock) -> None:
        day_clock.set(DAY_START)
        self.clock = day_clock
        self.lab = lab.assemble(wiring, seed="oncall", world=world)
        self.vault, self.broker = self.lab.vault, self.lab.broker

    def at(self, hours: int, minutes: int = 0, seconds: int = 0) -> None:
        when = DAY_START + (hours - 8) * _HOUR + minutes * 60 + seconds
        if when < self.clock.now():
            raise ValueError("the day's script went back in time")
        self.clock.set(when)

    def tick(self, seconds: int) -> None:
        self.clock.advance(seconds)

    def open(self, user: str, agent: str, tenant: str = "acme", parent: Session | None = None
             ) -> Session:
        return self.vault.open_session(tenant=tenant, user=user, agent=agent,
                                       parent=parent.id if parent else None)

    def token(self, s: Session, tool: str, task: str, scopes: Sequence[str], *, ttl: int = 300,
              agent: str | None = None) -> IssuedToken | None:
        request = AgentRequest(tenant=s.tenant, user=s.user, agent=agent or s.agent, session=s.id,
                               task=task, tool=tool, scopes=tuple(scopes), ttl=ttl)
        try:
            return self.vault.request(request, credential=s.credential)
        except VaultLabError:
            return None  # refused: the log has the line

    def call(self, issued: IssuedToken | str | None, tool: str, method: str, path: str,
             body: Mapping[str, Any] | None = None) -> str:
        text = issued.token if isinstance(issued, IssuedToken) else issued
        try:
            return str(self.broker.call(text, tool=tool, method=method, path=path, json=body).status)
        except VaultLabError as exc:
            return exc.code

    def lines(self) -> tuple[str, ...]:
        return self.lab.log.lines()


def _triage(day: _Day, s: Session, *, comment: bool = True) -> IssuedToken | None:
    """A helpdesk round: a fresh pass, read the queue and one ticket, maybe comment."""
    t = day.token(s, "tickets", "triage", ["tickets:read", "tickets:write"])
    day.tick(2)
    day.call(t, "tickets", "GET", "/tickets")
    day.tick(3)
    day.call(t, "tickets", "GET", "/tickets/T-1001")
    if comment:
        day.tick(5)
        day.call(t, "tickets", "POST", "/tickets/T-1001/comments", {"body": "looking into it"})
    return t


def _round(day: _Day, sessions: dict[str, Session], who: str, comment: bool) -> None:
    """A triage round in ``who``'s current session (read at the time of the round)."""
    _triage(day, sessions[who], comment=comment)


def _run_day(wiring: lab.Wiring, attack: Callable[[_Day, dict[str, Session]], None] | None
             ) -> tuple[str, ...]:
    world, day_clock = _shared_world()
    day = _Day(wiring, world, day_clock)
    try:
        return _script(day, attack)
    finally:
        day.lab.close()  # the world is shared: this closes nothing that runs


def _script(day: _Day, attack: Callable[[_Day, dict[str, Session]], None] | None
            ) -> tuple[str, ...]:
    """The day, in time order; ``attack`` runs at 12:30 and may replace alice's session."""
    s: dict[str, Session] = {}
    held: dict[str, IssuedToken | None] = {}

    def morning_logins() -> None:
        s["alice"] = day.open("alice", "helpdesk-bot")
        s["gina"] = day.open("gina", "helpdesk-bot", tenant="globex")
        day.tick(30)
        s["bob"] = day.open("bob", "helpdesk-bot")

    def bob_checks_charges() -> None:  # read only: his agent holds read and refund, not charge
        held["bob"] = day.token(s["bob"], "payments", "refund", ["payments:read"])
        day.tick(4)
        day.call(held["bob"], "payments", "GET", "/charges")

    def delegate_deploy() -> None:  # alice's helpdesk session hands a staging deploy to deploy-bot
        s["deploy"] = day.open("alice", "deploy-bot", parent=s["alice"])
        d = day.token(s["deploy"], "deploy:staging", "deploy", ["deploy:read", "deploy:write"])
        day.tick(6)
        day.call(d, "deploy:staging", "POST", "/environments/staging/deployments",
                 {"version": "1.4.2"})
        day.tick(20)
        day.call(d, "deploy:staging", "GET", "/environments/staging/deployments")
        day.tick(30)
        day.vault.revoke_session(s["deploy"].id, why="deploy finished")

    def batch_job_resumes() -> None:  # a pass fetched before a pause: four refusals, then a new one
        for _ in range(4):
            day.call(held["stale"], "tickets", "GET", "/tickets")
            day.tick(9)
        _triage(day, s["alice"], comment=False)

    def release_misbehaves() -> None:  # a new agent release: five refusals, five reasons, a minute
        r = day.token(s["alice"], "tickets", "triage", ["tickets:read"])
        day.tick(5)
        day.call(r, "tickets", "POST", "/tickets/T-1001/comments", {"body": "draft"})
        day.tick(10)
        day.call(r, "payments", "GET", "/charges")
        day.tick(10)
        day.token(s["alice"], "deploy:production", "deploy", ["deploy:write"])
        day.tick(10)
        day.token(s["alice"], "payments", "refund", ["payments:refund"])
        day.tick(10)
        day.call(held["stale2"], "tickets", "GET", "/tickets")

    def end_of_shift() -> None:  # every session closed; the cascade closes the delegated one
        for who in ("alice", "gina"):
            day.vault.revoke_session(s[who].id, why="end of shift")
            day.tick(1)

    def the_attack() -> None:
        if attack is not None:
            attack(day, s)

    plan: list[tuple[tuple[int, int], Callable[[], object]]] = [
        ((8, 0), morning_logins),
        ((9, 0), bob_checks_charges),
        ((9, 40), lambda: day.token(s["alice"], "payments", "refund", ["payments:refund"])),
        ((10, 30), delegate_deploy),
        ((11, 0), lambda: held.update(stale=day.token(s["alice"], "tickets", "triage",
                                                      ["tickets:read"]))),
        ((11, 20), batch_job_resumes),
        ((12, 0), lambda: day.vault.rotate_keys()),
        ((12, 10), lambda: day.vault.revoke_session(s["bob"].id, why="bob's shift ends at noon")),
        ((13, 0), lambda: held.update(stale2=day.token(s["alice"], "tickets", "triage",
                                                       ["tickets:read"]))),
        ((12, 30), the_attack),
        ((14, 5), release_misbehaves),
        ((15, 30), lambda: day.call(held["stale2"], "tickets", "GET", "/tickets/T-1001")),
        ((16, 30), end_of_shift),
    ]
    for hour, minute in ((8, 5), (8, 45), (9, 25), (10, 5), (12, 1), (13, 10), (13, 50),
                         (14, 30), (15, 10), (15, 50)):
        plan.append(((hour, minute), functools.partial(_round, day, s, "alice", minute % 20 == 5)))
        plan.append(((hour, minute + 12), functools.partial(_round, day, s, "gina", minute == 10)))
    for (hour, minute), step in sorted(plan, key=lambda p: p[0]):
        day.at(hour, minute)
        step()
    return day.lines()


# ---------------------------------------------------------------- the attacks (at 12:30)


def _stolen_pass(day: _Day, sessions: dict[str, Session]) -> None:
    alice = sessions["alice"]
    copied = _triage(day, alice, comment=False)  # the attacker copies this pass
    day.tick(60)
    day.vault.revoke_session(alice.id, why="helpdesk agent compromised")
    sessions["alice"] = day.open("alice", "helpdesk-bot")  # alice logs in again
    day.tick(120)
    for path in ("/tickets", "/tickets/T-1002"):
        day.call(copied, "tickets", "GET", path)
        day.tick(7)


def _forged(day: _Day, sessions: dict[str, Session]) -> None:
    copied = _triage(day, sessions["alice"], comment=False)
    assert copied is not None
    day.tick(30)
    for n in range(6):
        edited = forge.tamper(copied.token, aud="payments",
                              scope=" ".join(["payments:read", "payments:charge"][: 1 + n % 2]),
                              jti=f"tok-x{n}")
        day.call(edited, "payments", "GET" if n % 2 == 0 else "POST", "/charges")
        day.tick(7)


def _borrowed(day: _Day, sessions: dict[str, Session]) -> None:
    alice = sessions["alice"]
    for _ in range(2):
        t = day.token(alice, "deploy:staging", "deploy", ["deploy:write"], agent="deploy-bot")
        day.tick(3)
        if t is not None:
            day.call(t, "deploy:staging", "POST", "/environments/staging/deployments",
                     {"version": "9.9.9-evil"})
        day.tick(20)


_OFFLINE_TOOLS = lab.HARDENED.replace(name="offline-tools", verifier_for=_offline_verifier)
_BELIEVING_VAULT = lab.HARDENED.replace(name="believing-vault", session_check=believe_the_request)
_ATTACKS: Mapping[str, tuple[lab.Wiring, Callable[[_Day, dict[str, Session]], None]]] = {
    "stolen-pass-revoked": (lab.HARDENED, _stolen_pass),
    "stolen-pass-offline-tool": (_OFFLINE_TOOLS, _stolen_pass),
    "forged-passes": (lab.HARDENED, _forged),
    "borrowed-session": (lab.HARDENED, _borrowed),
    "borrowed-session-believed": (_BELIEVING_VAULT, _borrowed),
}


def _day(name: str) -> tuple[str, ...]:
    with _DAYS_LOCK:
        if name not in _DAYS:
            if name == "normal":
                _DAYS[name] = _run_day(lab.HARDENED, None)
            else:
                wiring, attack = _ATTACKS[name]
                _DAYS[name] = _run_day(wiring, attack)
        return _DAYS[name]


def normal_day() -> list[str]:
    """A working day of real traffic (hardened kit), as the access log's JSON lines.

    Deterministic: the same lines, hashes included, on every run. Nothing in it
    is an attack, so an on-call signal that fires on it is a false positive.
    """
    return list(_day("normal"))


def incident(name: str) -> list[str]:
    """The normal day with the attack ``name`` woven in at 12:30, as JSON log lines.

    Raises:
        KeyError: ``name`` is not in :data:`INCIDENTS`.
    """
    if name not in INCIDENTS:
        raise KeyError(f"unknown incident {name!r}; expected one of {sorted(INCIDENTS)}")
    return list(_day(name))


def brief(line: str) -> str:
    """One log line, short: ``#seq hh:mm:ss event decision reason key=value ...`` (no hashes)."""
    r = json.loads(line)
    clock = r["time"] - DAY_START + 8 * _HOUR
    when = f"{clock // _HOUR:02d}:{clock % _HOUR // 60:02d}:{clock % 60:02d}"
    words = [f"#{r['seq']}", when, r["event"]]
    words += [w for w in (r["decision"], r["reason"]) if w]
    words += [f"{k}={r[k]}" for k in ("tool", "tenant", "user", "agent", "session", "jti") if r[k]]
    return " ".join(words)


# ---------------------------------------------------------------- drills on a real vault


@dataclass(slots=True, eq=False, repr=False)
class Drill:
    """A real vault with sessions and passes, its state as plain data, and the kit's answers.

    ``state`` is what the vault's books say at ``state["at"]``: ``sessions`` (id,
    tenant, user, agent, parent) and ``tokens`` (jti, session, tenant, user,
    agent, tool, kid, iat, exp), plus ``keys`` (kid -> the time a normally
    rotated key stops being trusted, None for the active key).
    """

    lab: lab.Lab
    state: dict[str, Any]
    _tokens: dict[str, IssuedToken]

    def alive(self) -> list[str]:
        """The jtis whose pass the real verifiers accept right now (sorted)."""
        out = []
        for jti, issued in sorted(self._tokens.items()):
            try:
                self.lab.vault.verifier(issued.claims.aud).verify(issued.token)
            except TokenError:
                continue
            out.append(jti)
        return out

    def refused(self) -> dict[str, str]:
        """jti -> the refusal code of every pass the real verifiers refuse right now."""
        out = {}
        for jti, issued in sorted(self._tokens.items()):
            try:
                self.lab.vault.verifier(issued.claims.aud).verify(issued.token)
            except TokenError as exc:
                out[jti] = exc.code
        return out

    def can_get_a_pass(self, session_id: str) -> bool:
        """Whether the session can still get a new pass for its usual tool (tried for real)."""
        s = next(x for x in self._sessions() if x.id == session_id)
        tool, task, scope = _USUAL[s.agent]
        request = AgentRequest(tenant=s.tenant, user=s.user, agent=s.agent, session=s.id,
                               task=task, tool=tool, scopes=(scope,), ttl=60)
        try:
            self.lab.vault.request(request, credential=s.credential)
        except VaultLabError:
            return False
        return True

    def claims(self, jti: str) -> dict[str, Any]:
        """What pass ``jti`` says (its claims as a dict; never the token, never a signature)."""
        return self._tokens[jti].claims.to_payload()

    def apply(self, event: Mapping[str, Any]) -> tuple[str, ...]:
        """Do ``event`` to the real vault: ``{"session": id}`` (revoke it, with its cascade),
        ``{"compromised": kid}`` (distrust that key now) or ``{"revoke_all": True}``.

        Returns the revoked session ids (empty for the other two).

        Raises:
            ValueError: any other event.
        """
        vault = self.lab.vault
        if set(event) == {"session"}:
            return vault.revoke_session(str(event["session"]), why="drill")
        if set(event) == {"compromised"}:
            if event["compromised"] == vault.keys.active.kid:
                vault.rotate_keys(compromised=True)
            else:  # an older key, rotated out normally and still trusted: the vault has no call
                vault.keys.compromise(str(event["compromised"]))
            return ()
        if dict(event) == {"revoke_all": True}:
            vault.revoke_all(why="drill")
            return ()
        raise ValueError(f"unknown drill event with keys {sorted(event)}")

    def _sessions(self) -> list[Session]:
        sessions: list[Session] = self.state["_sessions"]
        return sessions

    def plain(self) -> dict[str, Any]:
        """The state without the live session objects (what a learner's function gets)."""
        return json.loads(json.dumps({k: v for k, v in self.state.items() if not k.startswith("_")}))

    def close(self) -> None:
        self.lab.close()


_USUAL = {"helpdesk-bot": ("tickets", "triage", "tickets:read"),
          "deploy-bot": ("deploy:staging", "deploy", "deploy:read")}


def _issue(vault: Vault, s: Session, ttl: int) -> IssuedToken:
    tool, task, scope = _USUAL[s.agent]
    request = AgentRequest(tenant=s.tenant, user=s.user, agent=s.agent, session=s.id, task=task,
                           tool=tool, scopes=(scope,), ttl=ttl)
    return vault.request(request, credential=s.credential)


def _token_row(t: IssuedToken, kid: str) -> dict[str, Any]:
    c = t.claims
    return {"jti": c.jti, "session": c.session, "tenant": c.tenant, "user": c.user,
            "agent": c.sub, "tool": c.aud, "kid": kid, "iat": c.iat, "exp": c.exp}


def _drill_grants() -> tuple[Grant, ...]:
    """The lab's grants, plus bob's own triage and staging deploys (the drills give him both)."""
    return (*standard_grants(),
            Grant(tenant="acme", user="bob", agent="helpdesk-bot", tool="tickets",
                  tasks=("triage",), scopes=("tickets:read",), note="drill: bob triages too"),
            Grant(tenant="acme", user="bob", agent="deploy-bot", tool="deploy:staging",
                  tasks=("deploy",), scopes=("deploy:read",), note="drill: bob deploys staging"))


def _drill_lab(seed: str) -> tuple[lab.Lab, _DayClock]:
    """A fresh vault, broker and log on the shared world, its clock set to the start of the day."""
    world, day_clock = _shared_world()
    with _DAYS_LOCK:
        day_clock.set(DAY_START)
        return lab.assemble(lab.HARDENED, seed=seed, world=world, grants=_drill_grants()), day_clock


def revocation_drill(seed: str = "drill") -> Drill:
    """A vault with a tree of delegated sessions and their passes (some already expired).

    Sessions (ids in opening order): ``sess-0001`` alice/helpdesk-bot, delegating
    to ``sess-0002`` alice/deploy-bot, which delegates to ``sess-0003``
    alice/helpdesk-bot; ``sess-0004`` a second delegation from ``sess-0001``;
    ``sess-0005`` alice/helpdesk-bot (a second, unrelated login), ``sess-0006``
    bob/helpdesk-bot, ``sess-0007`` gina/helpdesk-bot in globex, and
    ``sess-0008`` delegated from ``sess-0006``. ``state["sessions"]`` lists
    them in an order where some child comes before its parent.
    """
    the_lab, clock = _drill_lab(seed)
    try:
        v = the_lab.vault
        root = v.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
        child = v.open_session(tenant="acme", user="alice", agent="deploy-bot", parent=root.id)
        grandchild = v.open_session(tenant="acme", user="alice", agent="helpdesk-bot",
                                    parent=child.id)
        second = v.open_session(tenant="acme", user="alice", agent="deploy-bot", parent=root.id)
        other_login = v.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
        bob = v.open_session(tenant="acme", user="bob", agent="helpdesk-bot")
        gina = v.open_session(tenant="globex", user="gina", agent="helpdesk-bot")
        bobs_child = v.open_session(tenant="acme", user="bob", agent="deploy-bot", parent=bob.id)
        sessions = [root, child, grandchild, second, other_login, bob, gina, bobs_child]
        kid = v.keys.active.kid
        tokens: dict[str, IssuedToken] = {}
        for s, ttl in ((root, 60), (child, 60), (bob, 60)):  # these expire before the drill
            issued = _issue(v, s, ttl)
            tokens[issued.claims.jti] = issued
        clock.advance(120)
        for s in sessions:
            issued = _issue(v, s, 600)
            tokens[issued.claims.jti] = issued
        clock.advance(30)
        for s in (root, grandchild, gina):  # a second live pass for some
            issued = _issue(v, s, 300)
            tokens[issued.claims.jti] = issued
        clock.advance(30)
        order = [grandchild, other_login, child, gina, root, bobs_child, second, bob]
        state: dict[str, Any] = {
            "at": clock.now(),
            "sessions": [{"id": s.id, "tenant": s.tenant, "user": s.user, "agent": s.agent,
                          "parent": s.parent} for s in order],
            "tokens": [_token_row(t, kid) for _, t in sorted(tokens.items())],
            "keys": {kid: None},
            "_sessions": sessions,
        }
        return Drill(lab=the_lab, state=state, _tokens=tokens)
    except BaseException:
        the_lab.close()
        raise


def key_drill(seed: str = "keys") -> Drill:
    """A vault whose key was rotated normally once, with passes signed by both keys, two tenants.

    ``state["keys"]`` maps the old key's kid to the time it stops being trusted
    (rotation + the ring's longest token life) and the active key's to None.
    Some passes have already expired at ``state["at"]``.
    """
    the_lab, clock = _drill_lab(seed)
    try:
        v = the_lab.vault
        alice = v.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
        deploy = v.open_session(tenant="acme", user="alice", agent="deploy-bot", parent=alice.id)
        gina = v.open_session(tenant="globex", user="gina", agent="helpdesk-bot")
        sessions = [alice, deploy, gina]
        tokens: dict[str, tuple[IssuedToken, str]] = {}

        def issue(s: Session, ttl: int) -> None:
            issued = _issue(v, s, ttl)
            tokens[issued.claims.jti] = (issued, v.keys.active.kid)

        issue(alice, 60)  # expires long before the drill
        issue(alice, 300)
        issue(gina, 300)
        clock.advance(100)
        old = v.keys.active.kid
        v.rotate_keys()
        retire_at = clock.now() + v.keys.max_token_ttl
        clock.advance(60)
        issue(alice, 300)
        issue(deploy, 300)
        issue(gina, 300)
        clock.advance(40)
        issue(gina, 300)  # issued in the very second of the drill
        state: dict[str, Any] = {
            "at": clock.now(),
            "sessions": [{"id": s.id, "tenant": s.tenant, "user": s.user, "agent": s.agent,
                          "parent": s.parent} for s in sessions],
            "tokens": [_token_row(t, kid) for _, (t, kid) in sorted(tokens.items())],
            "keys": {old: retire_at, v.keys.active.kid: None},
            "_sessions": sessions,
        }
        return Drill(lab=the_lab, state=state, _tokens={j: t for j, (t, _) in tokens.items()})
    except BaseException:
        the_lab.close()
        raise


# ---------------------------------------------------------------- revocation under load


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadReport:
    """What happened to the calls that *started after* ``revoke_session`` returned.

    Counts of calls before the revocation depend on thread scheduling and are
    not reported; everything here is the same on every run of a correct kit.
    """

    revoked: tuple[str, ...]
    calls_after: int
    calls_after_succeeded: int
    call_refusals: tuple[str, ...]
    passes_asked_after: int
    passes_granted_after: int
    pass_refusals: tuple[str, ...]
    other_session_calls_after: int
    other_session_succeeded: int


def revoke_under_load(seed: str = "load", *, threads: int = 4, calls_after: int = 12) -> LoadReport:
    """Revoke a session while ``threads`` threads call tools with its passes, for real.

    Each caller thread calls until the revocation has returned, then makes
    exactly ``calls_after`` more calls; one thread keeps asking the vault for new
    passes for the revoked session; one bystander thread uses another session's
    pass throughout. Every call that started after the revocation returned must
    be refused, and the bystander must be untouched.
    """
    with lab.assemble(lab.HARDENED, seed=seed) as the_lab:
        v, b = the_lab.vault, the_lab.broker
        root = v.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
        child = v.open_session(tenant="acme", user="alice", agent="deploy-bot", parent=root.id)
        bystander = v.open_session(tenant="globex", user="gina", agent="helpdesk-bot")
        passes = [(_issue(v, root, 300), "tickets", "/tickets"),
                  (_issue(v, child, 300), "deploy:staging", "/environments/staging/deployments")]
        other = _issue(v, bystander, 300)
        returned = threading.Event()
        started = threading.Barrier(threads + 3)
        lock = threading.Lock()
        after: list[str] = []
        asked: list[str] = []
        bystanding: list[str] = []

        def caller(n: int) -> None:
            issued, tool, path = passes[n % len(passes)]
            started.wait()
            done_after = 0
            while done_after < calls_after:
                was_after = returned.is_set()
                outcome = _outcome(lambda: b.call(issued.token, tool=tool, method="GET", path=path))
                if was_after:
                    done_after += 1
                    with lock:
                        after.append(outcome)

        def asker() -> None:
            started.wait()
            done_after = 0
            while done_after < calls_after:
                was_after = returned.is_set()
                outcome = _outcome(lambda: _issue(v, root, 60))
                if was_after:
                    done_after += 1
                    with lock:
                        asked.append(outcome)

        def bystander_calls() -> None:
            started.wait()
            done_after = 0
            while done_after < calls_after:
                was_after = returned.is_set()
                outcome = _outcome(lambda: b.call(other.token, tool="tickets", method="GET",
                                                  path="/tickets"))
                if was_after:
                    done_after += 1
                    bystanding.append(outcome)

        workers = [threading.Thread(target=caller, args=(n,)) for n in range(threads)]
        workers += [threading.Thread(target=asker), threading.Thread(target=bystander_calls)]
        for w in workers:
            w.start()
        started.wait()
        time.sleep(0.02)  # let the calls get going before the revocation
        revoked = v.revoke_session(root.id, why="compromised: drill under load")
        returned.set()
        for w in workers:
            w.join(timeout=30)
    return LoadReport(
        revoked=tuple(sorted(revoked)), calls_after=len(after),
        calls_after_succeeded=sum(o == "ok" for o in after),
        call_refusals=tuple(sorted({o for o in after if o != "ok"})),
        passes_asked_after=len(asked), passes_granted_after=sum(o == "ok" for o in asked),
        pass_refusals=tuple(sorted({o for o in asked if o != "ok"})),
        other_session_calls_after=len(bystanding),
        other_session_succeeded=sum(o == "ok" for o in bystanding),
    )


def _outcome(call: Callable[[], object]) -> str:
    try:
        call()
    except VaultLabError as exc:
        return exc.code
    return "ok"


# ---------------------------------------------------------------- the exposure picture


def exposure_bars(rows: Sequence[tuple[str, int]]) -> Figure:
    """Exposure in seconds per design, one bar each, on a log scale from 1 s; the longest in red.

    Raises:
        ValueError: a row whose seconds are not a non-negative int.
    """
    import matplotlib.pyplot as plt

    for name, seconds in rows:
        if type(seconds) is not int or seconds < 0:
            raise ValueError(f"exposure of {name!r} must be a non-negative int")
    fig = plt.figure(figsize=(9.0, 0.9 + 0.7 * len(rows)))
    ax = fig.add_axes((0.28, 0.25, 0.55, 0.62))
    names = [name for name, _ in rows]
    values = [max(seconds, 1) for _, seconds in rows]
    longest = max(values, default=1)
    ax.barh(range(len(rows)), values,
            color=["#f3c9b8" if v == longest else "#bfded6" for v in values],
            edgecolor=["#d8512a" if v == longest else "#174b43" for v in values])
    ax.set_xscale("log")
    ax.set_xlim(left=1)
    ax.set_yticks(range(len(rows)), names, fontsize=9)
    ax.invert_yaxis()
    for y, (_, seconds) in enumerate(rows):
        ax.text(1.02, y, _human(seconds), transform=ax.get_yaxis_transform(), va="center",
                fontsize=9)
    ax.set_xlabel("seconds a leaked credential stays usable (log scale)", fontsize=9)
    ax.set_title("Exposure window: the same leak, three designs", fontsize=11, loc="left")
    return fig


def _human(seconds: int) -> str:
    for unit, size in (("days", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{round(seconds / size, 1):g} {unit}"
    return f"{seconds} s"

