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
    assert {"approval_required", "revoked", "session_mismatch", "expired",
            "operation_not_allowed"} <= reasons
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



def test_on_call_day_every_call_names_the_session_its_token_was_issued_in() -> None:
    """Notebook 05's calls_of attributes a call through its token's issue line; the broker's
    own line must say the same, and a call refused before its token was trusted names none."""
    rows = incident.records(incident.on_call_day().lines)
    issued_in = {r["jti"]: r["session"] for r in rows if r["event"] == "issue"}
    calls = [r for r in rows if r["event"] == "tool_call"]
    for call in calls:
        if call["jti"] is not None:
            assert call["session"] == issued_in[call["jti"]], call["seq"]
        else:
            assert call["session"] is None and call["decision"] == "deny", call["seq"]
    refused_after_trust = [c["seq"] for c in calls if c["decision"] == "deny" and c["session"]]
    assert refused_after_trust == [27]
    assert rows[26]["session"] == "sess-0002" and rows[26]["reason"] == "operation_not_allowed"


def test_on_call_day_keeps_the_checkpoint_and_lines_the_notebook_names() -> None:
    """Notebook 05 points at these lines by number: a change to the day must show up here."""
    rows = incident.records(incident.on_call_day().lines)
    where = {r["seq"]: (r["event"], r["session"], r["reason"]) for r in rows}
    assert where[13] == ("decision", "sess-0003", "approval_required")
    assert where[15] == ("decision", "sess-0003", "needs_approval")
    assert where[17][0] == "tool_call" and where[21][0] == "tool_call"
    assert where[25] == ("revoke", "sess-0005", "revoke_session")
    assert where[28] == ("decision", "sess-0003", "session_mismatch")
    assert len(rows) == 29 and incident.on_call_day().checkpoint["count"] == 25


def test_a_decision_can_carry_a_presented_credential_only_as_its_fingerprint() -> None:
    """what_changed (notebook 05) compares credentials by fingerprint: the log must give the same
    fingerprint for the same credential and a different one for another, never the secret."""
    cred, other = "vlc_" + "A" * 30, "vlc_" + "B" * 30
    row = {"event": "decision", "tenant": "acme", "user": "alice", "agent": "helpdesk-bot",
           "session": "sess-0007", "tool": "tickets", "decision": "allow", "reason": "allow",
           "facts": {"intent": ""}}
    lines = incident.write_log([dict(row, at=0, secret_fields={"credential": cred}),
                                dict(row, at=1, secret_fields={"credential": other}),
                                dict(row, at=2, secret_fields={"credential": cred})]).lines
    prints = [dict(r["facts"])["credential"] for r in incident.records(lines)]
    assert prints[0] == prints[2] != prints[1]
    assert all(p.startswith("hmac:") and len(p) == 21 for p in prints)
    assert cred not in "".join(lines) and other not in "".join(lines)
