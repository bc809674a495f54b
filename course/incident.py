"""Incident material for notebook 05 (the access log): logs written, tampered with and compared.

Everything here hands back plain data (log lines as ``str``, dicts, tuples), so
a learner's function over it can be judged outside the kernel. Three kinds of
material, each from the real kit:

* :func:`write_log` writes rows through a real :class:`~course.audit.AccessLog`
  on a manual clock and returns its lines, its signed checkpoint (as a dict) and
  the keys a verifier would hold. :func:`tamper` then does to those lines what
  someone who can write the log file can do: edit, delete, reorder, insert or
  append a line, cut the tail, or edit and recompute every hash after the edit.
  It never has the chain key, so it cannot make a valid ``mac``.
* :func:`on_call_day` runs a short day of real traffic (agents, the vault, the
  broker, real HTTP services, an approval, a revocation, refusals) and returns
  the access log's lines.
* :func:`refund_incidents` runs two refunds that a weak log (:func:`weak_log`:
  time, agent, tool, method, path, status) records identically: one asked for by
  the user with the authority, one asked for by an agent in another user's
  session whose vault believed the user the request named.

Nothing here prints or returns a secret except the fields an exercise must
fingerprint (``credential`` and ``token["text"]`` of an attempt), which are the
point of that exercise.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .audit import GENESIS, AccessLog, Event, canonical_json, derive_chain_key, verify_chain
from .clock import ManualClock
from .errors import ConfigurationError

__all__ = [
    "TAMPERS",
    "Incident",
    "WrittenLog",
    "events_of",
    "line_hash",
    "on_call_day",
    "records",
    "refund_incidents",
    "tamper",
    "weak_log",
    "write_log",
]

#: What :func:`tamper` can do to a log, in the order the notebook shows them.
TAMPERS: tuple[str, ...] = ("edit", "delete", "reorder", "insert", "append", "truncate",
                            "renumber", "rehash")

_FORGED_MAC = "0" * 64  # a tamperer without the chain key cannot make a real one


@dataclass(frozen=True, slots=True, kw_only=True)
class WrittenLog:
    """Lines written by a real access log, and what a verifier of them would hold.

    ``checkpoint`` is the signed checkpoint as a dict (``count``, ``head``,
    ``time``, ``signature``) or ``None``; ``public_key`` is the checkpoint key's
    raw public bytes as hex. ``chain_key`` verifies every line's ``mac``: whoever
    holds it can also write lines that verify, so it is left out of the repr.
    """

    lines: tuple[str, ...]
    checkpoint: dict[str, Any] | None
    public_key: str
    chain_key: bytes = field(repr=False)


def line_hash(prev: str, record: Mapping[str, Any]) -> str:
    """SHA-256 of ``prev`` + the canonical JSON of ``record`` without ``hash`` and ``mac``."""
    body = {k: v for k, v in record.items() if k not in ("hash", "mac")}
    return hashlib.sha256((prev + canonical_json(body)).encode("ascii")).hexdigest()


def write_log(rows: Iterable[Mapping[str, Any]], *, seed: str = "lab", start: int = 1_767_225_600,
              checkpoint_after: int | None = None) -> WrittenLog:
    """Append ``rows`` to a fresh in-memory access log; sign a checkpoint after ``checkpoint_after`` rows.

    Each row is ``AccessLog.append``'s keyword arguments plus ``at``, the seconds
    after ``start`` at which it is written (non-decreasing). ``checkpoint_after``
    ``None`` signs after the last row; ``0`` signs the empty log; ``-1`` signs none.

    Raises:
        ConfigurationError: ``at`` goes back in time or ``checkpoint_after`` is past the end.
        AuditError, TypeError: a row breaks a rule of the log (as ``AccessLog.append``).
    """
    from .lab import log_keys

    hmac_key, signing = log_keys(seed)
    clock = ManualClock(start)
    log = AccessLog(clock=clock, hmac_key=hmac_key, checkpoint_key=signing, durable=False)
    table: list[dict[str, Any]] = [dict(r) for r in rows]
    if checkpoint_after is not None and not -1 <= checkpoint_after <= len(table):
        raise ConfigurationError("checkpoint_after must be -1, or 0 up to the number of rows")
    sign_at = len(table) if checkpoint_after is None else checkpoint_after
    checkpoint = log.checkpoint() if sign_at == 0 else None
    for n, row in enumerate(table, start=1):
        at = start + int(row.pop("at", clock.now() - start))
        if at < clock.now():
            raise ConfigurationError("rows must be in time order")
        clock.set(at)
        log.append(row.pop("event"), **row)
        if n == sign_at:
            checkpoint = log.checkpoint()
    public = signing.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    return WrittenLog(lines=log.lines(), checkpoint=None if checkpoint is None else checkpoint.as_dict(),
                      public_key=public, chain_key=derive_chain_key(hmac_key))


# ----------------------------------------------------------------------------- tampering


def _seal(record: dict[str, Any], prev: str, mac: str | None = None) -> str:
    record = dict(record, prev=prev)
    record["hash"] = line_hash(prev, record)
    if mac is not None:
        record["mac"] = mac
    return canonical_json(record)


def tamper(lines: Sequence[str], how: str, at: int, *, field_name: str = "user",
           value: Any = "mallory") -> list[str]:
    """``lines`` after a writer of the file (without the chain key) did ``how`` at line ``at`` (1-based).

    ========== ===================================================================
    ``how``    what happens
    ========== ===================================================================
    edit       line ``at``'s ``field_name`` becomes ``value``; nothing recomputed
    delete     line ``at`` is removed
    reorder    lines ``at`` and ``at + 1`` swap places
    insert     a forged line goes in before line ``at``, with ``seq`` and ``prev``
               and its own hash right (later lines untouched)
    append     a forged line goes after the last, with ``seq``, ``prev`` and hash
               right; ``at`` must be ``len(lines) + 1``
    truncate   line ``at`` and everything after it are cut off
    renumber   line ``at`` is removed and every later line gets ``seq - 1`` and its
               own hash recomputed, but keeps its ``prev``
    rehash     the edit, then every hash from line ``at`` on recomputed, ``prev``
               links included: a consistent chain that only the ``mac`` betrays
    ========== ===================================================================

    A forged or rehashed line keeps its old ``mac`` (a new one needs the chain key).

    Raises:
        ConfigurationError: unknown ``how`` or ``at`` outside the lines it needs.
    """
    out = list(lines)
    n = len(out)
    last = {"append": n + 1, "reorder": n - 1, "insert": n}.get(how, n)
    if how not in TAMPERS:
        raise ConfigurationError(f"tamper how must be one of {', '.join(TAMPERS)}")
    if not 1 <= at <= last or (how == "append" and at != n + 1):
        raise ConfigurationError(f"{how} needs a line number from 1 to {last}")
    records = [json.loads(line) for line in out]
    if how == "edit":
        out[at - 1] = canonical_json(dict(records[at - 1], **{field_name: value}))
    elif how == "delete":
        del out[at - 1]
    elif how == "reorder":
        out[at - 1], out[at] = out[at], out[at - 1]
    elif how in ("insert", "append"):
        prev = records[at - 2]["hash"] if at > 1 else GENESIS
        model = dict(records[min(at, n) - 1], seq=at, **{field_name: value})
        out.insert(at - 1, _seal(model, prev, _FORGED_MAC))
    elif how == "truncate":
        del out[at - 1:]
    elif how == "renumber":
        del out[at - 1]
        for i in range(at - 1, n - 1):
            record = dict(records[i + 1], seq=i + 1)
            out[i] = _seal(record, record["prev"])
    else:  # rehash
        prev = records[at - 2]["hash"] if at > 1 else GENESIS
        for i in range(at - 1, n):
            record = dict(records[i], **({field_name: value} if i == at - 1 else {}))
            out[i] = _seal(record, prev)
            prev = json.loads(out[i])["hash"]
    return out


# ----------------------------------------------------------------------------- reading


def records(lines: Iterable[str]) -> list[dict[str, Any]]:
    """Each line as a dict (parsed only: nothing is verified)."""
    return [json.loads(line) for line in lines]


def events_of(lines: Sequence[str]) -> tuple[Event, ...]:
    """The lines as :class:`~course.audit.Event` values, after :func:`~course.audit.verify_chain`.

    Raises:
        ChainBrokenError: the lines are not one consistent chain.
    """
    verify_chain(lines)
    out = []
    for record in records(lines):
        fields = {k: v for k, v in record.items() if k != "v"}
        fields["scopes"] = tuple(record["scopes"])
        fields["facts"] = tuple((name, value) for name, value in record["facts"])
        out.append(Event(**fields))
    return tuple(out)


def weak_log(lines: Iterable[str]) -> list[str]:
    """The log many teams keep: one line per tool call, ``time agent tool method path outcome``.

    It has no user, tenant, session, task, scopes, expiry, reason or input facts.
    """
    out = []
    for record in records(lines):
        if record["event"] != "tool_call":
            continue
        facts = dict(record["facts"])
        outcome = record["detail"] if record["decision"] == "allow" else "refused"
        out.append(f"{record['time']} {record['agent']} {record['tool']} {facts.get('method')} "
                   f"{facts.get('path')} {outcome}")
    return out


# ----------------------------------------------------------------------------- real traffic


@dataclass(frozen=True, slots=True, kw_only=True)
class Incident:
    """One run on the real kit: its access-log lines and its decision attempts as plain data.

    Each attempt is what the vault saw when it decided (see the notebook): ``at``,
    ``session`` (from the platform), ``request`` (the agent's claims),
    ``decision``, ``token`` (``jti``, ``exp`` and the token ``text``, or ``None``)
    and ``credential`` (``None``: in process the platform itself presents the
    session). The token text is a bearer credential: it is in the repr of neither.
    """

    name: str
    story: str
    lines: tuple[str, ...]
    attempts: tuple[dict[str, Any], ...] = field(repr=False)


def _attempt(at: int, session: Any, request: Any, decision: Any, issued: Any) -> dict[str, Any]:
    return {
        "at": at,
        "session": {"id": session.id, "tenant": session.tenant, "user": session.user,
                    "agent": session.agent},
        "request": {"tenant": request.tenant, "user": request.user, "agent": request.agent,
                    "session": request.session, "task": request.task, "tool": request.tool,
                    "scopes": list(request.scopes), "ttl": request.ttl,
                    "intent": {k: v for k, v in request.intent}},
        "decision": {"outcome": "allow" if decision.allowed else "deny",
                     "code": str(decision.code.value), "scopes": list(decision.scopes),
                     "ttl": decision.ttl},
        "token": None if issued is None else {"jti": issued.claims.jti, "exp": issued.claims.exp,
                                              "text": issued.token},
        "credential": None,
    }


def _refund(wiring: Any, *, logged_in: str, seed: str) -> tuple[tuple[str, ...], dict[str, Any]]:
    from .lab import assemble
    from .policy import AgentRequest

    with assemble(wiring, seed=seed) as lab:
        session = lab.open_session(user=logged_in)
        lab.manual_clock.advance(42)
        request = AgentRequest(tenant="acme", user="bob", agent="helpdesk-bot",
                               session=session.id, task="refund", tool="payments",
                               scopes=("payments:refund",), ttl=120,
                               intent=(("charge", "ch-0001"),))
        issued = lab.vault.request(request)
        lab.manual_clock.advance(1)
        lab.broker.call(issued.token, tool="payments", method="POST", path="/refunds",
                        json={"charge": "ch-0001"})
        attempt = _attempt(lab.clock.now() - 1, session, request, issued.decision, issued)
        return lab.log.lines(), attempt


def refund_incidents(seed: str = "lab") -> dict[str, Incident]:
    """Two refunds of charge ``ch-0001`` by ``helpdesk-bot``, identical in :func:`weak_log`.

    ``"asked"``: bob, acme's finance lead with standing refund authority, logged
    in and asked for it. ``"borrowed"``: alice logged in; text her agent read told
    it to act for bob, and this vault (the hardened wiring with the naive session
    check, :func:`course.unsafe.believe_the_request`) believed the user the
    request named, so bob's grant paid out. Same times, same ids, same token.
    """
    from . import unsafe
    from .lab import HARDENED

    naive_check = HARDENED.replace(name="believes-the-request",
                                   session_check=unsafe.believe_the_request)
    asked_lines, asked = _refund(HARDENED, logged_in="bob", seed=seed)
    borrowed_lines, borrowed = _refund(naive_check, logged_in="alice", seed=seed)
    return {
        "asked": Incident(name="asked", story="bob logged in and asked for the refund",
                          lines=asked_lines, attempts=(asked,)),
        "borrowed": Incident(name="borrowed", story="alice logged in; her agent was told to act "
                             "for bob, and the vault believed the request", lines=borrowed_lines,
                             attempts=(borrowed,)),
    }


def on_call_day(seed: str = "lab") -> WrittenLog:
    """A short day of real traffic through the hardened lab; its log lines and a checkpoint at noon.

    What happens, in order (times are seconds after the lab's epoch):

    * 0: alice's helpdesk-bot triages T-1001 (reads it, posts a comment).
    * 60: bob's helpdesk-bot refunds ch-0001 (standing authority).
    * 120: alice's helpdesk-bot asks to refund ch-0002; the grant needs a human,
      so it is refused ``approval_required``; carol approves that exact
      request; the agent asks again and gets a single-use token, and refunds.
    * 200: alice's deploy-bot deploys 1.4.2 to staging.
    * 240: a new session of alice's helpdesk-bot gets a ticket-read token; at 260
      the on-call engineer revokes that session; at 270 the agent tries to use the
      token and the broker refuses it (``revoked``).
    * 300: bob's agent tries to read the charge with its refund token; the
      broker verifies the token, then refuses the operation
      (``operation_not_allowed``): a refused call whose line names its session.
    * 400: a forged "act on behalf of user bob" in alice's session is refused
      ``session_mismatch``.
    * 700: bob's refund token (expired at 360) is tried again and refused.

    The checkpoint is signed right after the revocation (at 260), as if published at noon.
    """
    from .agent import BrokeredAgent
    from .errors import AccessDenied, ApprovalRequired, TokenError
    from .lab import HARDENED, assemble
    from .policy import AgentRequest

    with assemble(HARDENED, seed=seed) as lab:
        start = lab.clock.now()

        def at(t: int) -> None:
            lab.manual_clock.set(start + t)

        def ask(session: Any, tool: str, task: str, scopes: tuple[str, ...], *, user: str | None = None,
                intent: tuple[tuple[str, Any], ...] = (), approval: Any = None) -> Any:
            request = AgentRequest(tenant=session.tenant, user=user or session.user,
                                   agent=session.agent, session=session.id, task=task, tool=tool,
                                   scopes=scopes, ttl=300,
                                   intent=intent)
            return request, lab.vault.request(request, approval=approval)

        BrokeredAgent(vault=lab.vault, broker=lab.broker,
                      session=lab.open_session(user="alice")).run("triage T-1001")
        at(60)
        bob = lab.open_session(user="bob")
        _, bob_token = ask(bob, "payments", "refund", ("payments:refund",),
                           intent=(("charge", "ch-0001"),))
        lab.broker.call(bob_token.token, tool="payments", method="POST", path="/refunds",
                        json={"charge": "ch-0001"})
        at(120)
        alice = lab.open_session(user="alice")
        refund = (("charge", "ch-0002"),)
        request = AgentRequest(tenant="acme", user="alice", agent="helpdesk-bot", session=alice.id,
                               task="refund", tool="payments", scopes=("payments:refund",),
                               intent=refund)
        try:
            lab.vault.request(request)
        except ApprovalRequired:
            pass
        at(150)
        approval = lab.vault.approve(request, approver="carol")
        at(155)
        approved = lab.vault.request(request, approval=approval)
        lab.broker.call(approved.token, tool="payments", method="POST", path="/refunds",
                        json={"charge": "ch-0002"})
        at(200)
        BrokeredAgent(vault=lab.vault, broker=lab.broker,
                      session=lab.open_session(user="alice", agent="deploy-bot")
                      ).run("deploy 1.4.2 to staging")
        at(240)
        suspect = lab.open_session(user="alice")
        _, read = ask(suspect, "tickets", "triage", ("tickets:read",))
        at(260)
        lab.vault.revoke_session(suspect.id, why="agent repeated an injected instruction")
        checkpoint = lab.log.checkpoint()
        at(270)
        try:
            lab.broker.call(read.token, tool="tickets", method="GET", path="/tickets/T-1002")
        except TokenError:
            pass
        at(300)
        try:
            lab.broker.call(bob_token.token, tool="payments", method="GET", path="/charges/ch-0001")
        except AccessDenied:
            pass
        at(400)
        try:
            ask(alice, "payments", "refund", ("payments:refund",), user="bob")
        except AccessDenied:
            pass
        at(700)
        try:
            lab.broker.call(bob_token.token, tool="payments", method="POST", path="/refunds",
                            json={"charge": "ch-0001"})
        except TokenError:
            pass
        from .lab import log_keys

        hmac_key, signing = log_keys(seed)
        public = signing.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
        return WrittenLog(lines=lab.log.lines(), checkpoint=checkpoint.as_dict(), public_key=public,
                          chain_key=derive_chain_key(hmac_key))
