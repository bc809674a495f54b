"""course.incident: the tampering a file writer can do is found where notebook 05 says it is."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from course import incident
from course.audit import Checkpoint, verify_chain, verify_checkpoint
from course.errors import BadCheckpointError, ChainBrokenError, ConfigurationError
from course.redact import Redactor

ROWS = [
    {"at": 0, "event": "session", "tenant": "acme", "user": "alice", "agent": "helpdesk-bot",
     "session": "sess-0001", "reason": "session_opened"},
    {"at": 1, "event": "issue", "tenant": "acme", "user": "alice", "agent": "helpdesk-bot",
     "session": "sess-0001", "tool": "tickets", "jti": "tok-0001", "expires": 301,
     "decision": "allow", "reason": "allow"},
    {"at": 2, "event": "tool_call", "tenant": "acme", "user": "alice", "agent": "helpdesk-bot",
     "session": "sess-0001", "tool": "tickets", "jti": "tok-0001", "decision": "allow",
     "reason": "tool_call", "detail": "status 200"},
    {"at": 3, "event": "revoke", "session": "sess-0001", "reason": "revoke_session"},
    {"at": 4, "event": "tool_call", "tool": "tickets", "decision": "deny", "reason": "revoked"},
]


@pytest.fixture(scope="module")
def written() -> incident.WrittenLog:
    return incident.write_log(ROWS, checkpoint_after=4)


def _kit_line(lines, written, *, key: bool, anchored: bool) -> int | None:
    try:
        if anchored:
            public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(written.public_key))
            verify_checkpoint(lines, Checkpoint(**written.checkpoint), public,
                              chain_key=written.chain_key if key else None)
        else:
            verify_chain(lines, chain_key=written.chain_key if key else None)
    except ChainBrokenError as exc:
        return exc.line
    return None


def test_written_log_verifies_with_key_and_checkpoint(written: incident.WrittenLog) -> None:
    assert _kit_line(list(written.lines), written, key=True, anchored=True) is None
    assert written.checkpoint is not None and written.checkpoint["count"] == 4
    assert "chain_key" not in repr(written)


# how, at, (no key no anchor, key only, checkpoint only): where the kit finds it
CASES = [
    ("edit", 2, (2, 2, 2)),
    ("delete", 3, (3, 3, 3)),
    ("reorder", 2, (2, 2, 2)),
    ("insert", 2, (3, 2, 3)),
    ("append", 6, (None, 6, None)),
    ("truncate", 3, (None, None, 3)),
    ("renumber", 2, (2, 2, 2)),
    ("rehash", 2, (None, 2, 4)),
    ("rehash", 5, (None, 5, None)),
]


@pytest.mark.parametrize(("how", "at", "where"), CASES)
def test_each_tamper_is_found_exactly_where_documented(written, how, at, where) -> None:
    lines = incident.tamper(written.lines, how, at)
    got = (_kit_line(lines, written, key=False, anchored=False),
           _kit_line(lines, written, key=True, anchored=False),
           _kit_line(lines, written, key=False, anchored=True))
    assert got == where


def test_a_tamperer_cannot_make_a_mac(written) -> None:
    for how in ("insert", "rehash"):
        lines = incident.tamper(written.lines, how, 2)
        with pytest.raises(ChainBrokenError):
            verify_chain(lines, chain_key=written.chain_key)


def test_tamper_refuses_unknown_moves_and_positions(written) -> None:
    with pytest.raises(ConfigurationError):
        incident.tamper(written.lines, "shuffle", 1)
    with pytest.raises(ConfigurationError):
        incident.tamper(written.lines, "append", 2)
    with pytest.raises(ConfigurationError):
        incident.tamper(written.lines, "reorder", 5)


def test_a_forged_checkpoint_is_refused_by_its_signature(written) -> None:
    cut = incident.tamper(written.lines, "truncate", 3)
    forged = dict(written.checkpoint, count=2, head=json.loads(cut[-1])["hash"])
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(written.public_key))
    with pytest.raises(BadCheckpointError):
        verify_checkpoint(cut, Checkpoint(**forged), public)


def test_write_log_refuses_time_going_back() -> None:
    with pytest.raises(ConfigurationError):
        incident.write_log([{"at": 5, "event": "note"}, {"at": 1, "event": "note"}])


def test_refund_incidents_are_identical_in_the_weak_log_and_differ_in_who_logged_in() -> None:
    both = incident.refund_incidents()
    asked, borrowed = both["asked"], both["borrowed"]
    assert incident.weak_log(asked.lines) == incident.weak_log(borrowed.lines)
    assert len(incident.weak_log(asked.lines)) == 1
    sessions = [[r for r in incident.records(i.lines) if r["event"] == "session"][0]["user"]
                for i in (asked, borrowed)]
    assert sessions == ["bob", "alice"]
    assert asked.attempts[0]["token"]["text"] == borrowed.attempts[0]["token"]["text"]
    assert asked.attempts[0]["session"]["user"] == "bob"
    assert borrowed.attempts[0]["session"]["user"] == "alice"
    assert borrowed.attempts[0]["request"]["user"] == "bob"
    assert "eyJ" not in repr(asked)


def test_on_call_day_is_deterministic_verifies_and_holds_no_credential() -> None:
    day = incident.on_call_day()
    assert day.lines == incident.on_call_day().lines
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(day.public_key))
    assert verify_checkpoint(day.lines, Checkpoint(**day.checkpoint), public,
                             chain_key=day.chain_key) == len(day.lines)
    events = incident.events_of(day.lines)
    kinds = {e.event for e in events}
    assert {"session", "decision", "issue", "tool_call", "approval", "revoke"} <= kinds
    reasons = {e.reason for e in events if e.decision == "deny"}
    assert {"approval_required", "revoked", "session_mismatch", "expired"} <= reasons
    from course.lab import assemble

    with assemble(seed="lab") as lab:
        assert not Redactor(lab.credentials(), shapes=()).find("\n".join(day.lines))


def test_events_of_refuses_a_broken_chain(written) -> None:
    with pytest.raises(ChainBrokenError):
        incident.events_of(incident.tamper(written.lines, "edit", 1))


def test_weak_log_keeps_only_tool_calls_and_no_identity(written) -> None:
    weak = incident.weak_log(written.lines)
    assert weak == [f"{1767225602} helpdesk-bot tickets None None status 200",
                    f"{1767225604} None tickets None None refused"]
    assert not any("alice" in line or "sess-" in line for line in weak)

