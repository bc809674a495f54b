"""``python -m course walkthrough``: build -> break -> harden -> observe -> revoke, for real.

One run on the real world (HTTP services on 127.0.0.1, Ed25519 tokens, the
attacker's collector), printing where trust moved at each step and the access
log lines that recorded it. The break runs the naive agent, which holds the
master key, in this process; every other step runs against the vault and
broker in their own process (:func:`course.service.spawn_service`), where the
agent proves its session with the credential the platform handed it. Each
step ends in invariants; the exit code is non-zero if any of them fails, so
the walkthrough is also a smoke test.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

from . import forge
from .agent import BrokeredAgent, UnsafeNaiveAgent, lab_world_and_vault
from .audit import verify_chain, verify_checkpoint
from .errors import AccessDenied, ChainBrokenError, TokenError, UnauthenticatedError
from .policy import AgentRequest
from .redact import Redactor
from .service import spawn_service

TASK = "triage T-1003"
SEED = "lab"


class _Checks:
    def __init__(self, out: TextIO) -> None:
        self.out, self.failed = out, 0

    def __call__(self, ok: bool, what: str) -> None:
        self.out.write(f"  [{'ok' if ok else 'FAIL'}] {what}\n")
        self.failed += not ok


def _step(out: TextIO, title: str) -> None:
    out.write(f"\n== {title} ==\n")


def _event_line(e: dict[str, Any]) -> str:
    who = "/".join(x for x in (e.get("tenant"), e.get("user"), e.get("agent")) if x)
    parts = [f"#{e['seq']:<3}", f"{e['event']:<10}", f"{e.get('decision') or '':<5}",
             f"{e.get('reason', ''):<15}", who, f"task={e['task']}" if e.get("task") else "",
             e.get("tool") or "", " ".join(e.get("scopes") or ()), e.get("jti") or ""]
    if e.get("expires") is not None:
        parts.append(f"exp=+{e['expires'] - e['time']}s")
    return "  " + " ".join(p for p in parts if p)


def run(out: TextIO = sys.stdout, *, start: Callable[[str], Any] = spawn_service) -> int:
    """Run the five steps; return 0 only if every invariant held.

    ``start(seed)`` starts the service (a child process by default; a test may
    pass :class:`course.service.ServiceThread` to patch the kit it runs).
    """
    check = _Checks(out)
    with lab_world_and_vault(SEED) as lab, start(SEED) as svc:
        secrets = Redactor([lab.world.credential(t, n) for t in lab.world.tenants
                            for n in ("tickets", "payments", "deploy:admin", "oauth:refresh",
                                      "oauth:client_secret")], shapes=())
        leaked: Callable[[str], bool] = secrets.contains
        admin, broker = svc.admin(), svc.broker()

        _step(out, "1. build: one job-specific pass, checked at the tool")
        session = admin.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
        request = AgentRequest(tenant="acme", user="alice", agent="helpdesk-bot",
                               session=session.id, task="triage", tool="tickets",
                               scopes=("tickets:read",), ttl=300)
        try:
            svc.vault().request_token(request)
            check(False, "naming the session without its credential gets no token")
        except UnauthenticatedError as exc:
            check(True, f"naming the session without its credential gets no token ({exc.code})")
        token, _ = svc.vault(session).request_token(request)
        claims = forge.peek(token)["claims"]
        out.write("  trust: Agent request -> Vault policy: the session's credential proves "
                  "who asks\n")
        out.write(f"  trust: Vault policy -> Short-lived token: {claims}\n")
        result = broker.call(token, tool="tickets", method="GET", path="/tickets/T-1003")
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

        _step(out, "3. harden: the same task through the vault and the broker, in their own process")
        agent = BrokeredAgent(vault=svc.vault(), broker=broker, session=session)
        report = agent.run(TASK)
        for line in report.lines():
            out.write(f"  brokered: {line}\n")
        check(admin.collector_hits() == 0, "the collector stayed empty")
        check(any(c.status == 201 for c in report.calls), "the legitimate comment was posted")
        visible = "\n".join([agent.system_prompt, *agent.memory, *agent.trace, *report.observations])
        check(not leaked(visible), "no credential anywhere in the agent's context or trace")

        _step(out, "4. observe: token issuance by task, user, tool and expiry")
        lines = admin.log_lines()
        for event in map(json.loads, lines):
            if event["event"] in ("issue", "decision", "tool_call", "revoke"):
                out.write(_event_line(event) + "\n")
        check(verify_chain(lines) == len(lines), f"the hash chain verifies ({len(lines)} lines)")
        checkpoint, public_key = admin.log_checkpoint()
        check(verify_checkpoint(lines, checkpoint, public_key) == len(lines),
              f"a signed checkpoint of {checkpoint.count} lines verifies with the public key alone")
        try:
            verify_checkpoint(lines[:-1], checkpoint, public_key)
            check(False, "a log cut short of the checkpoint is refused")
        except ChainBrokenError as exc:
            check(True, f"a log cut short of the checkpoint is refused (line {exc.line})")
        check(not any(leaked(line) for line in lines), "no credential in any log line")

        _step(out, "5. revoke: the compromised session, and the signal on-call sees")
        _revoke(svc, agent, check, out)
    out.write(f"\n{'all invariants held' if not check.failed else f'{check.failed} invariant(s) FAILED'}\n")
    return 1 if check.failed else 0


def _revoke(svc: Any, agent: BrokeredAgent, check: _Checks, out: TextIO) -> None:
    admin, vault, s = svc.admin(), svc.vault(agent.session), agent.session
    request = AgentRequest(tenant=s.tenant, user=s.user, agent=s.agent, session=s.id,
                           task="triage", tool="tickets", scopes=("tickets:read",))
    held, _ = vault.request_token(request)
    revoked = admin.revoke(session=s.id, why="walkthrough: session compromised")
    out.write(f"  revoked sessions: {', '.join(revoked)}\n")
    try:
        svc.broker().call(held, tool="tickets", method="GET", path="/tickets")
        check(False, "a token of the revoked session is refused")
    except TokenError as exc:
        check(exc.code == "revoked", f"a token of the revoked session is refused ({exc.code})")
    try:
        vault.request_token(request)
        check(False, "the revoked session gets no new token")
    except AccessDenied as exc:
        check(exc.code == "revoked", f"the revoked session gets no new token ({exc.code})")
    after = [e for e in map(json.loads, admin.log_lines()) if e["event"] == "tool_call"
             and e.get("decision") == "deny" and e.get("reason") == "revoked"]
    out.write(f"  signal: use_after_revocation={len(after)} (page on-call when > 0: someone still "
              "holds a revoked session's token)\n")
    check(len(after) >= 1, "the on-call signal fired")
