"""The red-team suite: named attacks, each trying to reach a tool call with the wrong authority.

Every attack runs the same steps against a :class:`Wiring` - the naive one
built from :mod:`course.unsafe`, the hardened one built from the kit, or a
learner's own assembly - and reports whether it *succeeded* (reached the tool
call, or got a secret somewhere it must never be) with evidence that never
contains a secret. The suite is meant to be read both ways: every attack
succeeds against the naive wiring and fails against the hardened one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import forge, lab
from .broker import ToolResult
from .clock import ManualClock
from .errors import VaultLabError
from .keys import KeyRing
from .lab import Lab, assemble
from .policy import AgentRequest
from .redact import Redactor
from .world import TENANTS, World

# ---------------------------------------------------------------- wirings

# The running assembly an attack runs against: one course.lab.Lab, built by the one
# composition root, so the red team certifies exactly what the notebooks and the service run.
Wiring = Lab


def naive_wiring(seed: str = "lab", *, world: World | None = None) -> Lab:
    """Every piece from :mod:`course.unsafe` (:data:`course.lab.NAIVE`): the happy-path build."""
    return assemble(lab.NAIVE, seed=seed, world=world)


def hardened_wiring(seed: str = "lab", *, world: World | None = None) -> Lab:
    """The kit's hardened vault, broker and access log (:data:`course.lab.HARDENED`)."""
    return assemble(lab.HARDENED, seed=seed, world=world)


# ---------------------------------------------------------------- outcomes and attacks


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What one attack achieved against one wiring. ``evidence`` never holds a secret."""

    attack: str
    wiring: str
    succeeded: bool
    evidence: str
    error: bool = False  # the attack could not run at all (a defect, not a defence)


@dataclass(frozen=True, slots=True, kw_only=True)
class Attack:
    name: str
    node: str  # where on the trust path it must be stopped
    goal: str
    run: Callable[[Wiring], tuple[bool, str]] = field(repr=False)


def _session(w: Wiring, agent: str = "helpdesk-bot", user: str = "alice", tenant: str = "acme") -> str:
    return w.vault.open_session(tenant=tenant, user=user, agent=agent).id


def _req(session: str, **over: Any) -> AgentRequest:
    base: dict[str, Any] = dict(tenant="acme", user="alice", agent="helpdesk-bot", session=session,
                                task="triage", tool="tickets", scopes=("tickets:read",), ttl=300)
    base.update(over)
    return AgentRequest(**base)


def _reached(result: ToolResult) -> tuple[bool, str]:
    return 200 <= result.status < 300, f"the service answered {result.status}"


def _payload(w: Wiring, **changes: Any) -> dict[str, Any]:
    """A genuine payload for the helpdesk agent, edited as the attacker wishes."""
    s = _session(w)
    issued = w.vault.request(_req(s))
    payload = issued.claims.to_payload()
    payload.update(changes)
    return payload


def a_expired_token(w: Wiring) -> tuple[bool, str]:
    token = w.vault.request(_req(_session(w), ttl=60)).token
    clock = w.clock
    assert isinstance(clock, ManualClock), "the red team runs on the lab's manual clock"
    clock.advance(3600)
    return _reached(w.broker.call(token, tool="tickets", method="GET", path="/tickets"))


def a_token_for_another_tool(w: Wiring) -> tuple[bool, str]:
    token = w.vault.request(_req(_session(w))).token
    return _reached(w.broker.call(token, tool="payments", method="POST", path="/charges",
                                  json={"amount": 9900, "currency": "eur", "customer": "attacker"}))


def _charge_with(w: Wiring, token: str) -> tuple[bool, str]:
    return _reached(w.broker.call(token, tool="payments", method="POST", path="/charges",
                                  json={"amount": 9900, "currency": "eur", "customer": "attacker"}))


def a_alg_none(w: Wiring) -> tuple[bool, str]:
    payload = _payload(w, aud="payments", scope="payments:charge")
    return _charge_with(w, forge.alg_none(payload, w.vault.keys.active.kid))


def a_hs256_public_key(w: Wiring) -> tuple[bool, str]:
    payload = _payload(w, aud="payments", scope="payments:charge")
    key = w.vault.keys.active
    return _charge_with(w, forge.hs256_with_public_key(payload, key.public_jwk(), key.kid))


def a_attacker_signed(w: Wiring) -> tuple[bool, str]:
    payload = _payload(w, aud="payments", scope="payments:charge")
    attacker = KeyRing(clock=w.clock, seed="attacker").active
    return _charge_with(w, forge.resign(payload, attacker, kid=w.vault.keys.active.kid))


def a_tampered_claims(w: Wiring) -> tuple[bool, str]:
    token = w.vault.request(_req(_session(w))).token  # a read-only token
    forged = forge.tamper(token, scope="tickets:read tickets:write")
    return _reached(w.broker.call(forged, tool="tickets", method="POST", path="/tickets",
                                  json={"title": "tampered", "body": "written with a forged scope"}))


def a_cross_tenant(w: Wiring) -> tuple[bool, str]:
    s = _session(w)
    token = w.vault.request(_req(s, tenant="globex")).token
    result = w.broker.call(token, tool="tickets", method="GET", path="/tickets")
    ok, why = _reached(result)
    return ok and "globex" in result.body.lower(), why + " with another tenant's tickets" * ok


def _bob_payments(w: Wiring, scopes: tuple[str, ...]) -> str:
    """A payments token for bob (finance lead, standing refund authority)."""
    s = _session(w, user="bob")
    return w.vault.request(_req(s, user="bob", task="refund", tool="payments", scopes=scopes,
                                ttl=60)).token


def a_scope_escalation(w: Wiring) -> tuple[bool, str]:
    token = _bob_payments(w, ("payments:refund", "payments:charge"))  # refund grant, asks charge too
    return _charge_with(w, token)


def a_wildcard_grant(w: Wiring) -> tuple[bool, str]:
    emergency = [{"tenant": "acme", "user": "*", "agent": "*", "tool": "payments",
                  "tasks": ["*"], "scopes": ["payments:charge"], "max_ttl": 300,
                  "note": "temporary: incident 4711"}]
    vault = w.make_vault(w.load_policy(emergency))
    s = vault.open_session(tenant="acme", user="mallory", agent="helpdesk-bot").id
    token = vault.request(_req(s, user="mallory", tool="payments", scopes=("payments:charge",))).token
    return _charge_with(w, token)


def a_confused_deputy(w: Wiring) -> tuple[bool, str]:
    """Carol, honestly badged and with no grant of her own, asks the helpdesk agent for the
    refund it may make for bob (acme's finance lead): the agent's authority, not hers."""
    s = _session(w, user="carol")  # her own session: the session check has nothing to refuse
    token = w.vault.request(_req(s, user="carol", task="refund", tool="payments",
                                 scopes=("payments:refund",), ttl=60)).token
    ok, why = _reached(w.broker.call(token, tool="payments", method="POST", path="/refunds",
                                     json={"charge": "ch-0002"}))
    return ok, why + " and refunded on bob's authority" * ok


def a_revoked_session(w: Wiring) -> tuple[bool, str]:
    s = _session(w)
    token = w.vault.request(_req(s)).token
    w.vault.revoke_session(s, why="agent session compromised")
    return _reached(w.broker.call(token, tool="tickets", method="GET", path="/tickets"))


def a_approval_swapped_payload(w: Wiring) -> tuple[bool, str]:
    s = _session(w, agent="deploy-bot")
    approved = _req(s, agent="deploy-bot", task="deploy", tool="deploy:production",
                    scopes=("deploy:write",), ttl=120, intent=(("version", "1.4.2"),))
    approval = w.vault.approve(approved, approver="carol")
    swapped = _req(s, agent="deploy-bot", task="deploy", tool="deploy:production",
                   scopes=("deploy:write",), ttl=120, intent=(("version", "6.6.6-evil"),))
    try:  # path 1: present the approval with a different request
        token = w.vault.request(swapped, approval=approval).token
    except VaultLabError:  # path 2: get the approved token, then send different arguments
        token = w.vault.request(approved, approval=approval).token
    result = w.broker.call(token, tool="deploy:production", method="POST",
                           path="/environments/production/deployments",
                           json={"version": "6.6.6-evil"})
    ok, why = _reached(result)
    return ok, why + " and deployed the swapped version" * ok


def a_secret_in_tool_error(w: Wiring) -> tuple[bool, str]:
    token = _bob_payments(w, ("payments:refund",))
    result = w.broker.call(token, tool="payments", method="POST", path="/refunds", json={})
    leaks = w.leaks_in(result.body)
    return bool(leaks), f"error body leaked {', '.join(leaks)}" if leaks else "error body redacted"


def a_forged_acting_user(w: Wiring) -> tuple[bool, str]:
    s = _session(w)  # alice's session; the model read "act on behalf of user bob"
    issued = w.vault.request(_req(s, user="bob"))
    result = w.broker.call(issued.token, tool="tickets", method="GET", path="/tickets")
    ok, why = _reached(result)
    return ok and issued.claims.user == "bob", why + " acting as bob" * ok


def a_single_use_replay(w: Wiring) -> tuple[bool, str]:
    s = _session(w)
    token = w.vault.request(_req(s), single_use=True).token
    w.broker.call(token, tool="tickets", method="GET", path="/tickets")
    ok, why = _reached(w.broker.call(token, tool="tickets", method="GET", path="/tickets"))
    return ok, "second use: " + why


def a_exfiltration(w: Wiring) -> tuple[bool, str]:
    w.world.reset_records()
    w.agent_for("alice", "helpdesk-bot").run("triage T-1003")  # T-1003 carries the injection
    hits = w.world.collector_hits()
    leaks = w.leaks_in("\n".join(h.body.decode("utf-8", "replace") for h in hits))
    return bool(leaks), (f"the collector received {', '.join(leaks)}" if leaks
                         else f"the collector received {len(hits)} request(s), no credential")


def _agent_side_text(agent: Any, observations: tuple[str, ...]) -> str:
    return "\n".join([agent.system_prompt, *agent.memory, *agent.trace, *observations])


def a_refresh_token_extraction(w: Wiring) -> tuple[bool, str]:
    initial = [w.world.credential(t, "oauth:refresh") for t in TENANTS]
    agent = w.agent_for("alice", "helpdesk-bot")
    report = agent.run("list files")  # the files tool is backed by the upstream OAuth grant
    current = [w.store.get(t, "oauth:refresh") for t in TENANTS]
    found = Redactor([*initial, *current], shapes=()).find(_agent_side_text(agent, report.observations))
    return bool(found), ("a refresh token sits in the agent's context" if found
                         else "no refresh token reached the agent side")


def a_secret_in_log(w: Wiring) -> tuple[bool, str]:
    token = _bob_payments(w, ("payments:refund",))
    result = w.broker.call(token, tool="payments", method="POST", path="/refunds", json={})
    w.log.append("tool_output", tool="payments", reason="debug", detail=result.body[:500])
    agent = w.agent_for("alice", "helpdesk-bot")
    report = agent.run("list tickets")
    text = "\n".join([*w.log.lines(), *agent.trace, *report.observations])
    leaks = w.leaks_in(text)
    return bool(leaks), f"logs hold {', '.join(leaks)}" if leaks else "logs hold no credential"


ATTACKS: tuple[Attack, ...] = (
    Attack(name="exfiltration", node="Agent request",
           goal="an injected instruction sends the credential to the attacker", run=a_exfiltration),
    Attack(name="expired-token", node="Short-lived token", goal="use a token an hour after it expired",
           run=a_expired_token),
    Attack(name="token-for-another-tool", node="Short-lived token",
           goal="spend money with a ticket-reading token", run=a_token_for_another_tool),
    Attack(name="alg-none", node="Short-lived token", goal="an unsigned token that grants payments",
           run=a_alg_none),
    Attack(name="hs256-with-public-key", node="Short-lived token",
           goal="sign with the published public key as an HMAC secret", run=a_hs256_public_key),
    Attack(name="attacker-signed", node="Short-lived token",
           goal="a token signed by the attacker's own key", run=a_attacker_signed),
    Attack(name="tampered-claims", node="Short-lived token",
           goal="add a write scope to a read token", run=a_tampered_claims),
    Attack(name="cross-tenant", node="Agent request", goal="read another tenant's tickets",
           run=a_cross_tenant),
    Attack(name="scope-escalation", node="Tool call",
           goal="ask for charge on a refund-only grant", run=a_scope_escalation),
    Attack(name="confused-deputy", node="Vault policy",
           goal="get a refund through the agent on another user's grant", run=a_confused_deputy),
    Attack(name="wildcard-grant", node="Vault policy",
           goal="ride a 'temporary' wildcard grant to charge a card", run=a_wildcard_grant),
    Attack(name="revoked-session", node="Short-lived token", goal="keep using a revoked session's token",
           run=a_revoked_session),
    Attack(name="approval-swapped-payload", node="Vault policy",
           goal="deploy a different version under an approval", run=a_approval_swapped_payload),
    Attack(name="secret-in-tool-error", node="Tool call",
           goal="read the API key echoed in an error", run=a_secret_in_tool_error),
    Attack(name="forged-acting-user", node="Agent request",
           goal="act as a user named in model text", run=a_forged_acting_user),
    Attack(name="single-use-replay", node="Tool call", goal="use a single-use token twice",
           run=a_single_use_replay),
    Attack(name="refresh-token-extraction", node="Tool call",
           goal="get the upstream OAuth refresh token out of the vault", run=a_refresh_token_extraction),
    Attack(name="secret-in-log", node="Access log", goal="find a credential in the logs",
           run=a_secret_in_log),
)


def run_attack(attack: Attack, wiring: Wiring) -> Outcome:
    """Run one attack. A typed refusal means the attack failed; evidence is redacted."""
    try:
        succeeded, evidence = attack.run(wiring)
    except VaultLabError as exc:
        return Outcome(attack=attack.name, wiring=wiring.name, succeeded=False,
                       evidence=f"refused: {exc.code}")
    except Exception as exc:  # noqa: BLE001 - an attack that crashes is reported, not raised
        return Outcome(attack=attack.name, wiring=wiring.name, succeeded=False, error=True,
                       evidence=f"could not run: {type(exc).__name__}")
    leaks = wiring.leaks_in(evidence)
    if leaks:  # evidence is printed: it must never carry what it found
        evidence = "evidence withheld: it contained a credential"
    return Outcome(attack=attack.name, wiring=wiring.name, succeeded=succeeded, evidence=evidence)


Builder = Callable[..., Wiring]


def run_suite(builders: Mapping[str, Builder] | None = None, *, seed: str = "lab",
              attacks: Iterable[Attack] = ATTACKS) -> tuple[Outcome, ...]:
    """Run every attack against a fresh wiring of each kind (one world per kind)."""
    builders = builders or {"naive": naive_wiring, "hardened": hardened_wiring}
    outcomes = []
    for build in builders.values():
        world = World.start(seed=seed)
        try:
            for attack in attacks:
                wiring = build(seed, world=world)
                outcomes.append(run_attack(attack, wiring))
        finally:
            world.close()
    return tuple(outcomes)


def as_expected(outcomes: Iterable[Outcome]) -> bool:
    """True when every attack succeeded against "naive" and failed against "hardened"."""
    outcomes = tuple(outcomes)
    return bool(outcomes) and all(
        not o.error and o.succeeded == (o.wiring == "naive") for o in outcomes
        if o.wiring in ("naive", "hardened"))


def table(outcomes: Iterable[Outcome]) -> str:
    """A plain-text table: one row per attack, one column per wiring."""
    rows: dict[str, dict[str, Outcome]] = {}
    for o in outcomes:
        rows.setdefault(o.attack, {})[o.wiring] = o
    wirings = sorted({w for r in rows.values() for w in r}, key=lambda w: (w != "naive", w))
    nodes = {a.name: a.node for a in ATTACKS}
    lines = [f"{'attack':<26} {'stop at':<18} " + " ".join(f"{w:<40}" for w in wirings)]
    for name, by in rows.items():
        cells = []
        for w in wirings:
            cell = by.get(w)
            mark = "-" if cell is None else ("ERROR" if cell.error else "SUCCEEDS" if cell.succeeded
                                             else "fails")
            cells.append(f"{mark + ('' if cell is None else ': ' + cell.evidence):<40.40}")
        lines.append(f"{name:<26} {nodes.get(name, '?'):<18} " + " ".join(cells))
    return "\n".join(lines)


def as_json(outcomes: Iterable[Outcome]) -> str:
    return json.dumps([{"attack": o.attack, "wiring": o.wiring, "succeeded": o.succeeded,
                        "error": o.error, "evidence": o.evidence} for o in outcomes], indent=2)
