"""The reviewer's view of the whole path: mutant wirings, observed behaviour as plain data.

A *mutant* is the hardened wiring with exactly one check replaced by its naive
piece from :mod:`course.unsafe` (:data:`MUTANTS`). Running the red team
against the hardened wiring, the naive one and every mutant answers the
reviewer's questions: which piece stopped which attack, which attacks are held
by one check alone, and whether a test (a misconception made executable, or a
regression test) can tell the wirings apart.

Everything a notebook's graded function receives from here is plain data
(dicts, lists, str, bool, None): :func:`observe` turns a wiring's run into a
*behaviour*, and :func:`perform` turns one scripted call sequence into a
*trace*. Neither ever holds a secret, a token or a log line's detail text.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from . import redteam, unsafe
from .broker import Broker
from .lab import HARDENED, NAIVE, Wiring, assemble
from .taxonomy import node_of_code
from .world import World

__all__ = ["GIVEN_TESTS", "LESSON_DIAGRAM", "MUTANTS", "OBSERVED", "SCRIPT", "WIRINGS", "held_by",
           "logs_explain_refusals", "observe", "parse_sequence", "perform", "token_keeps_its_meaning",
           "workflow_is_defended"]


def _naive_policy() -> Any:
    return NAIVE.policy()


#: slot removed -> the hardened wiring with that one check replaced by the naive piece.
MUTANTS: Mapping[str, Wiring] = MappingProxyType({
    "no-session-check": HARDENED.replace(name="no-session-check",
                                         session_check=unsafe.believe_the_request),
    "wildcard-policy": HARDENED.replace(name="wildcard-policy", policy=_naive_policy,
                                        load_policy=unsafe.UnsafeWildcardPolicy),
    "rubber-stamp-approvals": HARDENED.replace(name="rubber-stamp-approvals",
                                               approvals=unsafe.UnsafeRubberStampApprovals),
    "trusting-verifier": HARDENED.replace(
        name="trusting-verifier", verifier_for=NAIVE.verifier_for),
    "catalogue-only-broker": HARDENED.replace(
        name="catalogue-only-broker",
        broker=functools.partial(Broker, authorize=unsafe.authorize_catalogue_only)),
    "reusable-single-use": HARDENED.replace(
        name="reusable-single-use", broker=functools.partial(Broker, single_use=False)),
    "unredacted-broker": HARDENED.replace(
        name="unredacted-broker", broker=functools.partial(Broker, redact=False)),
    "unredacted-log": HARDENED.replace(name="unredacted-log", log_redactor=None),
})

WIRINGS: Mapping[str, Wiring] = MappingProxyType({"naive": NAIVE, "hardened": HARDENED, **MUTANTS})

#: The attacks :func:`observe` runs: every red-team attack a single check can hold. The two
#: left out (exfiltration, refresh-token extraction) are held by the architecture (the agent
#: never holds a credential), not by a slot, and drive a whole agent (slow).
OBSERVED: tuple[str, ...] = tuple(a.name for a in redteam.ATTACKS
                                  if a.name not in ("exfiltration", "refresh-token-extraction"))


def _text(value: object) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def _line(event: Any) -> dict[str, str | None]:
    """One decision or tool_call line as plain data: no detail text, no hash, no secret."""
    return {"event": event.event, "decision": _text(event.decision), "reason": _text(event.reason),
            "user": event.user, "holder": event.fact("session_holder"), "tool": event.tool}


def observe(wiring: Wiring, *, world: World, seed: str = "lab",
            attacks: Iterable[str] = OBSERVED) -> dict[str, Any]:
    """What the red team sees when it attacks ``wiring``, as plain data (a *behaviour*).

    ``{"wiring": name, "attacks": {attack: {"reached", "code", "node", "lines"}}}``:
    ``reached`` is the red team's verdict (the attack got its tool call or its secret),
    ``code`` the refusal code when a check refused it, ``node`` the node whose check
    that code belongs to (:func:`course.taxonomy.node_of_code`), ``lines`` the access
    log's decision and tool_call lines the attack left (event, decision, reason, user,
    holder, tool). One lab per wiring, on ``world``.
    """
    by_name = {a.name: a for a in redteam.ATTACKS}
    lab = assemble(wiring, seed=seed, world=world)
    seen: dict[str, Any] = {}
    for name in attacks:
        before = len(lab.log)
        outcome = redteam.run_attack(by_name[name], lab)
        code = outcome.evidence.removeprefix("refused: ") if outcome.evidence.startswith(
            "refused: ") else None
        lines = [_line(e) for e in lab.log.events()[before:]
                 if e.event in ("decision", "tool_call")]
        denied = [line["reason"] for line in lines if line["decision"] == "deny"]
        if code is not None and denied:
            code = denied[-1]  # the log's reason: a spent pass raises "revoked", its line says "replay"
        seen[name] = {"reached": outcome.succeeded, "code": code,
                      "node": node_of_code(code) if code else None, "lines": lines}
    return {"wiring": wiring.name, "attacks": seen}


# ---------------------------------------------------------------- the scripted regression path

#: The unsafe path the regression test guards, one step a line: production deploys only the
#: exact release a human approved, and only once. ``call`` steps go through the broker.
SCRIPT: tuple[tuple[str, str], ...] = (
    ("unapproved", "ask for a production deploy token for 1.4.2 with no approval"),
    ("swapped-approval", "carol approves 1.4.2; present her approval with a request for 6.6.6-evil"),
    ("swapped-deploy", "call: deploy 6.6.6-evil with whatever token that request got"),
    ("approved-deploy", "carol approves 1.4.2; get its token; call: deploy 1.4.2"),
    ("replay", "call: deploy 1.4.2 again with the same token"),
    ("swapped-arguments", "carol approves 1.4.2; get its token; call: deploy 6.6.6-evil with it"),
)

_GOOD, _EVIL = "1.4.2", "6.6.6-evil"


def _step(step: str, *, allowed: bool, code: str | None = None, status: int | None = None
          ) -> dict[str, Any]:
    return {"step": step, "allowed": allowed, "code": code,
            "node": node_of_code(code) if code else None, "status": status}


def perform(wiring: Wiring, *, world: World, seed: str = "lab") -> list[dict[str, Any]]:
    """Walk :data:`SCRIPT` through ``wiring`` and return what happened, as plain data (a *trace*).

    One dict per step: ``step``, ``allowed`` (a token was issued, or the service answered 2xx),
    ``code`` (the refusal code, when a check refused), ``node`` (whose check that code is) and
    ``status`` (the service's HTTP status, for calls that reached it). A step that needs a
    token an earlier step was refused is recorded as not allowed, with no code.
    """
    from .errors import VaultLabError
    from .policy import AgentRequest

    lab = assemble(wiring, seed=seed, world=world)
    session = lab.open_session(user="alice", agent="deploy-bot")

    def ask(version: str) -> AgentRequest:
        return AgentRequest(tenant="acme", user="alice", agent="deploy-bot", session=session.id,
                            task="deploy", tool="deploy:production", scopes=("deploy:write",),
                            ttl=120, intent=(("version", version),))

    def issue(step: str, version: str, approval: Any) -> tuple[dict[str, Any], str | None]:
        try:
            token = lab.vault.request(ask(version), approval=approval).token
        except VaultLabError as exc:
            return _step(step, allowed=False, code=exc.code), None
        return _step(step, allowed=True), token

    def call(step: str, token: str | None, version: str) -> dict[str, Any]:
        if token is None:
            return _step(step, allowed=False)
        try:
            result = lab.broker.call(token, tool="deploy:production", method="POST",
                                     path="/environments/production/deployments",
                                     json={"version": version})
        except VaultLabError as exc:
            last = lab.log.events()[-1]  # the broker's line names the check ("replay", not "revoked")
            code = str(last.reason) if last.event == "tool_call" and last.decision == "deny" else exc.code
            return _step(step, allowed=False, code=code)
        return _step(step, allowed=200 <= result.status < 300, status=result.status)

    def approved(version: str) -> Any:
        return lab.vault.approve(ask(version), approver="carol")

    trace = [issue("unapproved", _GOOD, None)[0]]
    asked, swapped = issue("swapped-approval", _EVIL, approved(_GOOD))
    trace += [asked, call("swapped-deploy", swapped, _EVIL)]
    _, token = issue("approved-deploy", _GOOD, approved(_GOOD))
    trace += [call("approved-deploy", token, _GOOD), call("replay", token, _GOOD)]
    _, token = issue("swapped-arguments", _GOOD, approved(_GOOD))
    trace.append(call("swapped-arguments", token, _EVIL))
    return trace


# ---------------------------------------------------------------- three misconceptions, executable
# Each takes a behaviour (:func:`observe`) and returns True when the wiring disproves the belief.
# Notebook 08 gives these three and has the learner write the other two.

#: Attacks on what a token means: its stamp, life, door, revocation, scopes, approval, single use.
TOKEN_MEANING = ("expired-token", "token-for-another-tool", "alg-none", "hs256-with-public-key",
                 "attacker-signed", "tampered-claims", "revoked-session", "scope-escalation",
                 "approval-swapped-payload", "single-use-replay")

#: Attacks that break no cryptography: they go around it, through the workflow.
WORKFLOW = ("cross-tenant", "forged-acting-user", "wildcard-grant", "revoked-session",
            "approval-swapped-payload", "single-use-replay", "secret-in-tool-error", "secret-in-log")


def token_keeps_its_meaning(behaviour: dict[str, Any]) -> bool:
    """"The token will enforce the same meaning every caller intended" is false here.

    Every fact a token carries is enforced by the piece that receives it: no attack on
    its stamp, life, door, revocation, scopes, approval or single use reached its goal.
    """
    attacks = behaviour["attacks"]
    return not any(attacks[name]["reached"] for name in TOKEN_MEANING)


def logs_explain_refusals(behaviour: dict[str, Any]) -> bool:
    """"Logs will make the incident obvious" is false here: the log explains because it was built to.

    No attack reached its goal (a success is written as an ordinary ``allow``: valid
    traffic from a valid principal), and every refusal with a code left a ``deny`` line
    with a reason (a grant file refused at load leaves a configuration error, not a line;
    a spent single-use pass is refused as ``revoked`` and logged as ``replay``).
    """
    for seen in behaviour["attacks"].values():
        if seen["reached"]:
            return False
        code = seen["code"]
        if code not in (None, "configuration") and not any(
                line["decision"] == "deny" and line["reason"] for line in seen["lines"]):
            return False
    return True


def workflow_is_defended(behaviour: dict[str, Any]) -> bool:
    """"The attacker has to break the main technology" is false here: the workflow holds too.

    None of the attacks that forge no signature (another tenant, another user, a
    temporary wildcard, a revoked session, a swapped approval, a replay, an echoed or
    logged credential) reached its goal.
    """
    attacks = behaviour["attacks"]
    return not any(attacks[name]["reached"] for name in WORKFLOW)


#: misconception (the lesson's words) -> the kit's executable test of it.
GIVEN_TESTS = MappingProxyType({
    "the token will enforce the same meaning every caller intended": token_keeps_its_meaning,
    "logs will make the incident obvious": logs_explain_refusals,
    "the attacker has to break the main technology": workflow_is_defended,
})


def held_by(behaviours: Mapping[str, dict[str, Any]]) -> dict[str, tuple[str, ...]]:
    """Per attack the hardened wiring refuses: the mutants under which it gets through.

    A mutant removes one check, so an attack listed with one mutant is held by that check
    alone; an empty tuple means no single removal opens it (two checks hold it).
    """
    hardened = behaviours["hardened"]["attacks"]
    return {name: tuple(m for m in MUTANTS if m in behaviours
                        and behaviours[m]["attacks"][name]["reached"])
            for name, seen in hardened.items() if not seen["reached"]}


# ---------------------------------------------------------------- the lesson's sequence diagram

#: The lesson's sequence diagram of the trust path, as its seed draws it.
LESSON_DIAGRAM = """sequenceDiagram
    participant U as Agent request
    participant P as Vault policy
    participant M as Short-lived token
    participant T as Tool call
    participant L as Access log
    U->>P: request plus context
    P->>M: scoped instructions
    M->>T: proposed tool call
    T-->>P: policy decision
    T->>L: side effect and audit trail
    Note over M,T: untrusted text must not become authority"""

_ARROWS = ("-->>", "->>", "--x", "-x", "-->", "->", "--)", "-)")


def parse_sequence(text: str) -> dict[str, Any]:
    """A Mermaid ``sequenceDiagram`` as plain data: participants, messages and notes.

    ``{"participants": {alias: label}, "messages": [[from, to, text]], "notes": [[[alias...],
    text]]}``. Lines it does not know (``autonumber``, ``activate``, comments) are ignored.

    Raises:
        ValueError: the text is not a sequence diagram, or a message or note names a
            participant the diagram never declared.
    """
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip() and not ln.strip().startswith("%%")]
    if not lines or lines[0] != "sequenceDiagram":
        raise ValueError("not a Mermaid sequenceDiagram (the first line must say so)")
    participants: dict[str, str] = {}
    messages: list[list[str]] = []
    notes: list[list[Any]] = []
    for line in lines[1:]:
        words = line.split()
        if words[0] in ("participant", "actor"):
            alias, _, label = line.split(None, 1)[1].partition(" as ")
            participants[alias.strip()] = (label or alias).strip()
        elif words[0] == "Note" and ":" in line:
            head, _, body = line.partition(":")
            where = head.split(None, 2)[2] if len(head.split()) > 2 else ""
            over = [a.strip() for a in where.split(",") if a.strip()]
            unknown = [a for a in over if a not in participants]
            if unknown:
                raise ValueError(f"a note names undeclared participants {unknown}")
            notes.append([over, body.strip()])
        elif ":" in line:
            head, _, body = line.partition(":")
            arrow = next((a for a in _ARROWS if a in head), None)
            if arrow is None:
                continue
            src, _, dst = head.partition(arrow)
            src, dst = src.strip(), dst.strip().lstrip("+-")
            if src not in participants or dst not in participants:
                raise ValueError(f"a message joins undeclared participants {src!r}, {dst!r}")
            messages.append([src, dst, body.strip()])
    return {"participants": participants, "messages": messages, "notes": notes}
