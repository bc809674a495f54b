"""``python -m course walkthrough``: build -> break -> harden -> observe -> revoke, for real.

One run on the real world (HTTP services on 127.0.0.1, Ed25519 tokens, the
attacker's collector), printing where trust moved at each step and the access
log lines that recorded it. Each step ends in invariants; the exit code is
non-zero if any of them fails, so the walkthrough is also a smoke test.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from . import forge
from .agent import BrokeredAgent, Lab, UnsafeNaiveAgent, lab_world_and_vault
from .audit import Event, verify_chain
from .errors import AccessDenied, RevokedTokenError
from .policy import AgentRequest
from .redact import Redactor

TASK = "triage T-1003"


class _Checks:
    def __init__(self, out: TextIO) -> None:
        self.out, self.failed = out, 0

    def __call__(self, ok: bool, what: str) -> None:
        self.out.write(f"  [{'ok' if ok else 'FAIL'}] {what}\n")
        self.failed += not ok


def _step(out: TextIO, title: str) -> None:
    out.write(f"\n== {title} ==\n")


def _event_line(e: Event) -> str:
    who = "/".join(x for x in (e.tenant, e.user, e.agent) if x)
    scopes = " ".join(e.scopes)
    parts = [f"#{e.seq:<3}", f"{e.event:<10}", f"{e.decision or '':<5}", f"{e.reason:<15}",
             who, f"task={e.task}" if e.task else "", e.tool or "", scopes, e.jti or ""]
    if e.expires is not None:
        parts.append(f"exp=+{e.expires - e.time}s")
    return "  " + " ".join(p for p in parts if p)


def run(out: TextIO = sys.stdout) -> int:
    """Run the five steps; return 0 only if every invariant held."""
    check = _Checks(out)
    with lab_world_and_vault("lab") as lab:
        secrets = Redactor([lab.world.credential(t, n) for t in lab.world.tenants
                            for n in ("tickets", "payments", "deploy:admin", "oauth:refresh",
                                      "oauth:client_secret")], shapes=())
        leaked: Callable[[str], bool] = secrets.contains

        _step(out, "1. build: one job-specific pass, checked at the tool")
        session = lab.open_session(user="alice", agent="helpdesk-bot")
        issued = lab.vault.request(AgentRequest(
            tenant="acme", user="alice", agent="helpdesk-bot", session=session.id,
            task="triage", tool="tickets", scopes=("tickets:read",), ttl=300))
        claims = forge.peek(issued.token)["claims"]
        out.write(f"  trust: Agent request -> Vault policy: {issued.decision.reason}\n")
        out.write(f"  trust: Vault policy -> Short-lived token: {claims}\n")
        result = lab.broker.call(issued.token, tool="tickets", method="GET", path="/tickets/T-1003")
        out.write(f"  trust: Short-lived token -> Tool call: GET /tickets/T-1003 -> {result.status}\n")
        check(result.status == 200, "the broker performed the call with the vault's token")
        check(not leaked(result.body), "the tool output holds no credential")

        _step(out, "2. break: the master key in the prompt")
        naive = UnsafeNaiveAgent(lab.world, "acme")
        report = naive.run(TASK)
        for line in report.lines():
            out.write(f"  naive: {lab.world.stable_text(line)}\n")
        hits = lab.world.collector_hits()
        stolen = any(leaked(h.body.decode("utf-8", "replace")) for h in hits)
        out.write(f"  the attacker's collector received {len(hits)} request(s)\n")
        check(stolen, "the injected instruction exfiltrated a real credential (failure reproduced)")
        check(leaked("\n".join(naive.trace)), "the raw key also sits in the naive agent's trace")
        lab.world.reset_records()

        _step(out, "3. harden: the same task through the vault and the broker")
        agent = lab.brokered_agent(user="alice", agent="helpdesk-bot")
        report = agent.run(TASK)
        for line in report.lines():
            out.write(f"  brokered: {line}\n")
        check(not lab.world.collector_hits(), "the collector stayed empty")
        check(any(c.status == 201 for c in report.calls), "the legitimate comment was posted")
        visible = "\n".join([agent.system_prompt, *agent.memory, *agent.trace, *report.observations])
        check(not leaked(visible), "no credential anywhere in the agent's context or trace")

        _step(out, "4. observe: token issuance by task, user, tool and expiry")
        for event in lab.log.events():
            if event.event in ("issue", "decision", "tool_call", "revoke"):
                out.write(_event_line(event) + "\n")
        lines = lab.log.lines()
        check(verify_chain(lines) == len(lines), f"the hash chain verifies ({len(lines)} lines)")
        check(not any(leaked(line) for line in lines), "no credential in any log line")

        _step(out, "5. revoke: the compromised session, and the signal on-call sees")
        _revoke(lab, agent, check, out)
    out.write(f"\n{'all invariants held' if not check.failed else f'{check.failed} invariant(s) FAILED'}\n")
    return 1 if check.failed else 0


def _revoke(lab: Lab, agent: BrokeredAgent, check: _Checks, out: TextIO) -> None:
    vault, broker, log = lab.vault, lab.broker, lab.log
    request = AgentRequest(
        tenant=agent.session.tenant, user=agent.session.user, agent=agent.session.agent,
        session=agent.session.id, task="triage", tool="tickets", scopes=("tickets:read",))
    held = vault.request(request)
    revoked = vault.revoke_session(agent.session.id, why="walkthrough: session compromised")
    out.write(f"  revoked sessions: {', '.join(revoked)}\n")
    try:
        broker.call(held.token, tool="tickets", method="GET", path="/tickets")
        check(False, "a token of the revoked session is refused")
    except RevokedTokenError as exc:
        check(True, f"a token of the revoked session is refused ({exc.code})")
    try:
        vault.request(request)
        check(False, "the revoked session gets no new token")
    except AccessDenied as exc:
        check(exc.code == "revoked", f"the revoked session gets no new token ({exc.code})")
    after = [e for e in log.events() if e.event == "tool_call" and e.decision == "deny"
             and e.reason == "revoked"]
    out.write(f"  signal: use_after_revocation={len(after)} (page on-call when > 0: someone still "
              "holds a revoked session's token)\n")
    check(len(after) >= 1, "the on-call signal fired")
