"""Access log: what a verification failure tells on-call, and the rules of a line (issue 14).

Mutation testing (its first run over ``course/audit.py``) found the verifier's answers pinned
by class only: which line a broken chain is reported at and why (a changed ``prev``, a hash
that does not match, a MAC that does not verify, a published head not found) could change
unnoticed, as could the checkpoint's signed bytes, the 16-byte minimum of the log key, the
longest-first replacement of secret fields, and each refusal of :meth:`AccessLog.append`.
"""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from course import audit
from course.audit import GENESIS, AccessLog, Checkpoint, canonical_json, verify_chain, verify_checkpoint
from course.clock import ManualClock
from course.errors import AuditError, BadCheckpointError, ChainBrokenError, ConfigurationError
from tests.test_audit import (  # the suite's own helpers
    CHAIN_KEY,
    CREDENTIAL,
    KEY,
    new_log,
    story,
    valid_lines,
)


def _broken(lines, **kw) -> tuple[int, str]:
    with pytest.raises(ChainBrokenError) as err:
        verify_chain(lines, **kw)
    return err.value.line, str(err.value)


def _rewritten(line: str, **changes: object) -> str:
    """The line with ``changes`` made and its hash recomputed over them (its MAC left stale)."""
    record = json.loads(line)
    record.update(changes)
    body = {k: v for k, v in record.items() if k not in ("hash", "mac")}
    record["hash"] = audit._line_hash(record["prev"], body)
    return canonical_json(record)


def test_each_broken_chain_names_its_line_and_what_is_wrong() -> None:
    lines = list(valid_lines())
    record = json.loads(lines[1])
    cases = {
        "not json": [lines[0], "{not json"],
        "not an object": [lines[0], "[1, 2]"],
        "not canonical": [lines[0], json.dumps(record, indent=1)],
        "prev": [lines[0], _rewritten(lines[1], prev="0" * 64)],
        "hash": [lines[0], canonical_json({**record, "detail": "edited"})],
    }
    why = {name: _broken(case) for name, case in cases.items()}
    assert why == {
        "not json": (2, "hash chain broken at line 2: line is not valid JSON"),
        "not an object": (2, "hash chain broken at line 2: line is not a JSON object"),
        "not canonical": (2, "hash chain broken at line 2: line is not in canonical form (edited by hand?)"),
        "prev": (2, "hash chain broken at line 2: prev does not match the previous line's hash"),
        "hash": (2, "hash chain broken at line 2: hash does not match the line's content"),
    }
    rehashed = [lines[0], _rewritten(lines[1], detail="rewritten with the hash recomputed"), *lines[2:]]
    assert _broken(rehashed[:2] + [_rewritten(x, prev=json.loads(rehashed[1])["hash"]) for x in lines[2:3]],
                   chain_key=CHAIN_KEY) == (
        2, "hash chain broken at line 2: mac does not verify: the line was not written by the log "
           "(rehashed?)")
    assert _broken(12345) == (1, "hash chain broken at line 1: not an iterable of lines")
    assert _broken(lines, head="ABC") == (1, "hash chain broken at line 1: head must be 64 lower-case hex "
                                              "digits")
    assert _broken(lines[:2], head=json.loads(lines[3])["hash"]) == (
        3, "hash chain broken at line 3: published head not found: log truncated or rewritten")


def test_a_checkpoint_signs_its_documented_bytes_and_says_what_failed() -> None:
    key = Ed25519PrivateKey.generate()
    log, clock = new_log(checkpoint_key=key)
    story(log, clock)
    cp = log.checkpoint()
    assert cp.signed_bytes() == (b"vault-lab/audit-checkpoint/v1\n"
                                 + f'{{"count":{cp.count},"head":"{cp.head}","time":{cp.time}}}'.encode())
    public = key.public_key()
    lines = list(log.lines())
    assert verify_checkpoint(lines, cp, public, chain_key=CHAIN_KEY) == len(lines)
    with pytest.raises(ConfigurationError) as err:
        verify_checkpoint(lines, cp, public, chain_key=b"short")
    assert str(err.value) == "chain_key must be the 32 bytes derive_chain_key returns"
    with pytest.raises(TypeError) as err:
        verify_checkpoint(lines, cp, "not a key")  # type: ignore[arg-type]
    assert str(err.value) == "public_key must be an Ed25519PublicKey"
    forged = Checkpoint(count=cp.count, head=cp.head, time=cp.time + 1, signature=cp.signature)
    with pytest.raises(BadCheckpointError) as err:
        verify_checkpoint(lines, forged, public)
    assert str(err.value) == ("checkpoint signature does not verify under the trusted public key: "
                              "forged or altered")
    changed = [lines[0], _rewritten(lines[1], detail="x"), *lines[2:]]
    relinked = changed[:2]
    for line in changed[2:]:
        relinked.append(_rewritten(line, prev=json.loads(relinked[-1])["hash"]))
    with pytest.raises(ChainBrokenError) as err:
        verify_checkpoint(relinked, cp, public)
    assert (err.value.line, str(err.value)) == (cp.count, (
        f"hash chain broken at line {cp.count}: the first {cp.count} lines do not hash to the checkpoint's "
        "head: this line or one before it was changed"))
    with pytest.raises(ChainBrokenError) as err:
        verify_checkpoint(lines[:-1], cp, public)
    assert str(err.value) == (f"hash chain broken at line {cp.count}: the checkpoint covers {cp.count} "
                              "lines: log truncated")


def test_a_log_key_of_16_bytes_is_enough_and_15_is_not() -> None:
    assert len(audit.derive_chain_key(b"k" * 16)) == 32
    with pytest.raises(ConfigurationError) as err:
        audit.derive_chain_key(b"k" * 15)
    assert str(err.value) == "hmac_key must be at least 16 bytes"


def test_the_longest_secret_field_is_replaced_first() -> None:
    log, _ = new_log()
    short, long = "zz-secret-1", "azz-secret-1"  # the short one inside the long one, sorting after it
    event = log.append("tool_call", tenant="acme", decision="allow", reason="ok",
                       detail=f"sent {long} then {short}", secret_fields={"a": short, "b": long})
    assert event.detail == f"sent {log.fingerprint(long)} then {log.fingerprint(short)}"


def test_append_keeps_an_empty_reason_and_refuses_what_breaks_its_rules() -> None:
    log, _ = new_log()
    assert log.append("revoke", tenant="acme", reason="revoke_tenant").detail == ""
    assert log.append("session", tenant="acme").reason == ""
    refusals = {
        "clash": lambda: log.append("tool_call", decision="allow", reason="ok", facts={"k": "v"},
                                    secret_fields={"k": "secret-value-1"}),
        "empty secret": lambda: log.append("tool_call", decision="allow", reason="ok",
                                           secret_fields={"k": ""}),
        "name not str": lambda: log.append("tool_call", decision="allow", reason="ok",
                                           secret_fields={1: "secret-value-1"}),
        "not a mapping": lambda: log.append("tool_call", decision="allow", reason="ok",
                                            secret_fields=["secret-value-1"]),
        "field type": lambda: log.append("session", tenant=5),
    }
    said = {}
    for name, call in refusals.items():
        with pytest.raises((AuditError, TypeError)) as err:
            call()
        said[name] = (type(err.value).__name__, str(err.value))
    assert said == {
        "clash": ("AuditError", "fact 'k' given both as a fact and as a secret field"),
        "empty secret": ("TypeError", "secret_fields maps a str name to a non-empty str or Secret"),
        "name not str": ("TypeError", "secret_fields maps a str name to a non-empty str or Secret"),
        "not a mapping": ("TypeError", "secret_fields must be a mapping of name -> secret"),
        "field type": ("TypeError", "tenant must be a str or None, not int"),
    }
    with pytest.raises(TypeError) as err:
        log.fingerprint("")
    assert str(err.value) == "a fingerprinted value must be a non-empty str or Secret"


class _Raising:
    def redact(self, text: str) -> str:
        raise ValueError(f"cannot redact {text}")


class _NotText:
    def redact(self, text: str) -> object:
        return 7


def test_a_failing_redactor_or_a_closed_log_refuses_the_write_and_says_so() -> None:
    clock = ManualClock()
    for redactor, message in [(_Raising(), "redactor raised ValueError"),
                              (_NotText(), "redactor must return a str")]:
        log = AccessLog(clock=clock, hmac_key=KEY, redactor=redactor)
        with pytest.raises(AuditError) as err:
            log.append("session", tenant="acme")
        assert str(err.value) == message and len(log) == 0
    log = AccessLog(clock=clock, hmac_key=KEY)
    log.close()
    with pytest.raises(AuditError) as err:
        log.append("session", tenant="acme")
    assert str(err.value) == "this access log is closed or failed; open it again"
    assert log.head() == GENESIS


@pytest.mark.parametrize(("kwargs", "said"), [
    ({"event": "Issue"}, ("AuditError", "event must be a lower-case name such as 'issue' or 'tool_call'")),
    ({"event": "session", "reason": None}, ("TypeError", "reason and detail must be str")),
    ({"event": "session", "expires": 1.5}, ("TypeError", "expires must be an int or None")),
    ({"event": "tool_call", "decision": "maybe"}, ("AuditError", "decision must be 'allow', 'deny' or None")),
    ({"event": "decision"}, ("AuditError", "a decision event must say allow or deny")),
    ({"event": "issue", "jti": "tok-1"}, ("AuditError", "an issue event must carry jti and expires")),
    ({"event": "issue", "expires": 10}, ("AuditError", "an issue event must carry jti and expires")),
    ({"event": "revoke", "reason": "because"},
     ("AuditError", f"a revoke event's reason must be one of {sorted(audit.REVOKE_REASONS)}")),
    ({"event": "revoke", "reason": "revoke_jti"}, ("AuditError", "a revoke_jti event must set jti")),
], ids=["event", "reason", "expires", "decision", "decision-missing", "issue-no-expires", "issue-no-jti",
        "revoke-reason", "revoke-field"])
def test_each_rule_of_a_line_is_refused_in_its_own_words(kwargs: dict, said: tuple[str, str]) -> None:
    log, _ = new_log()
    fields = dict(kwargs)
    with pytest.raises((AuditError, TypeError)) as err:
        log.append(fields.pop("event"), **fields)
    assert (type(err.value).__name__, str(err.value)) == said and len(log) == 0


@pytest.mark.parametrize(("change", "why"), [
    ({"extra": 1}, "record does not have exactly the log's fields"),
    ({"v": 99}, "unknown format version"),
    ({"seq": "1"}, "seq and time must be integers"),
    ({"event": "Decision"}, "event must be a lower-case name"),
    ({"tenant": 7}, "identity fields must be strings or null"),
    ({"scopes": "tickets:read"}, "scopes must be a list of strings"),
    ({"expires": "soon"}, "expires must be an integer or null"),
    ({"decision": "maybe"}, "decision must be allow, deny or null"),
    ({"reason": None}, "reason and detail must be strings"),
    ({"facts": {}}, "facts must be a list"),
    ({"facts": [["a"]]}, "each fact must be a [name, value] pair of strings"),
    ({"facts": [["b", "1"], ["a", "2"]]}, "facts must be sorted by name, without duplicates"),
    ({"mac": "XYZ"}, "prev, hash and mac must be 64 lower-case hex digits"),
], ids=lambda v: str(v)[:20])
def test_each_malformed_line_is_reported_in_its_own_words(change: dict, why: str) -> None:
    lines = list(valid_lines())
    record = {**json.loads(lines[0]), **change}
    assert _broken([canonical_json(record), *lines[1:]]) == (1, f"hash chain broken at line 1: {why}")


def test_each_malformed_checkpoint_is_reported_in_its_own_words() -> None:
    key = Ed25519PrivateKey.generate()
    log, clock = new_log(checkpoint_key=key)
    story(log, clock)
    cp = log.checkpoint()
    cases = [
        ("not a checkpoint", "not a Checkpoint"),
        (Checkpoint(count=-1, head=cp.head, time=cp.time, signature=cp.signature),
         "checkpoint count and time must be integers, count >= 0"),
        (Checkpoint(count=cp.count, head="ABC", time=cp.time, signature=cp.signature),
         "checkpoint head must be 64 lower-case hex digits"),
        (Checkpoint(count=0, head=cp.head, time=cp.time, signature=cp.signature),
         "checkpoint head is GENESIS exactly when count is 0"),
        (Checkpoint(count=cp.count, head=cp.head, time=cp.time, signature="ab"),
         "checkpoint signature must be 128 lower-case hex digits"),
    ]
    for checkpoint, message in cases:
        with pytest.raises(BadCheckpointError) as err:
            verify_checkpoint(log.lines(), checkpoint, key.public_key())  # type: ignore[arg-type]
        assert str(err.value) == message


def test_an_incident_summary_gives_on_call_every_field_and_both_red_flags() -> None:
    log, clock = new_log()
    t0 = clock.now()
    log.append("decision", tenant="acme", user="u-bo", agent="agent-2", session="s-2", task="triage",
               tool="tickets", scopes=("tickets:read",), decision="allow", reason="granted")
    clock.advance(1)
    log.append("issue", tenant="acme", user="u-bo", agent="agent-2", session="s-2", tool="tickets",
               scopes=("tickets:read",), jti="tok-A", expires=clock.now() + 60, reason="granted")
    clock.advance(1)
    call = dict(tenant="acme", agent="agent-2", session="s-2", tool="tickets", jti="tok-A",
                decision="allow", reason="ok")
    log.append("tool_call", **call)
    clock.advance(1)
    log.append("revoke", jti="tok-A", reason="revoke_jti", detail="leaked")
    clock.advance(1)
    log.append("tool_call", **call)  # after its revocation: a red flag
    log.append("issue", tenant="acme", user="u-bo", agent="agent-2", session="s-2", tool="payments",
               scopes=("payments:read",), jti="tok-B", expires=clock.now() + 100, reason="granted")
    clock.advance(70)
    log.append("tool_call", **call)  # after its expiry too
    log.append("tool_call", tenant="acme", agent="agent-2", session="s-2", tool="payments", jti="tok-B",
               decision="deny", reason="scope", detail="no charge scope")
    used = [{"seq": seq, "time": t0 + dt, "jti": "tok-A", "tool": "tickets", "decision": "allow",
             "reason": "ok"} for seq, dt in ((3, 2), (5, 4), (7, 74))]
    assert log.incident_summary("s-2") == {
        "session": "s-2", "tenants": ["acme"], "agents": ["agent-2"], "users": ["u-bo"],
        "tools": ["payments", "tickets"], "first_seen": t0, "last_seen": t0 + 74, "events": 7,
        "issued": [{"seq": 2, "time": t0 + 1, "jti": "tok-A", "tool": "tickets", "scopes": ["tickets:read"],
                    "expires": t0 + 61},
                   {"seq": 6, "time": t0 + 4, "jti": "tok-B", "tool": "payments",
                    "scopes": ["payments:read"], "expires": t0 + 104}],
        "used": [*used, {"seq": 8, "time": t0 + 74, "jti": "tok-B", "tool": "payments", "decision": "deny",
                         "reason": "scope"}],
        "denied": [{"seq": 8, "time": t0 + 74, "event": "tool_call", "tool": "payments", "reason": "scope",
                    "detail": "no charge scope"}],
        "revocations": [{"seq": 4, "time": t0 + 3, "reason": "revoke_jti", "detail": "leaked"}],
        "revoked_tokens": ["tok-A"], "live_at": t0 + 74, "live_tokens": ["tok-B"],
        "used_after_revocation": [5, 7], "used_after_expiry": [7],
    }
    assert [e.jti for e in log.live_tokens(t0 + 2)] == ["tok-A"]  # before its revocation
    assert log.incident_summary("s-2", at=t0 + 5)["live_tokens"] == ["tok-B"]
    with pytest.raises(ValueError) as err:
        log.decisions("maybe")
    assert str(err.value) == "decision must be None, 'allow' or 'deny'"


def test_each_unreadable_log_or_checkpoint_text_is_reported_in_its_own_words() -> None:
    lines = list(valid_lines())
    text = "\n".join(lines) + "\n"
    assert _broken(b"\xff\xfe" + text.encode()) == (1, "hash chain broken at line 1: log is not UTF-8 text")
    assert _broken([lines[0], b"\xff"]) == (2, "hash chain broken at line 2: line is not UTF-8 text")
    assert _broken([lines[0], 7]) == (2, "hash chain broken at line 2: line is not text")
    assert _broken(text.rstrip("\n")) == (len(lines), f"hash chain broken at line {len(lines)}: last line "
                                                      "has no newline (a torn write)")
    assert verify_chain([lines[0].encode(), *lines[1:]]) == len(lines)  # bytes lines are read as UTF-8
    for raw, message in [("{", "checkpoint is not valid JSON"),
                         ('{"count": 1}', "checkpoint does not have exactly the checkpoint's fields")]:
        with pytest.raises(BadCheckpointError) as err:
            Checkpoint.from_json(raw)
        assert str(err.value) == message


def test_each_bad_argument_of_the_log_is_refused_in_its_own_words() -> None:
    log, _ = new_log()
    refusals = [
        (lambda: log.append("session", scopes="tickets:read"),
         "scopes must be an iterable of str, not one str"),
        (lambda: log.append("session", scopes=[1]), "every scope must be a str"),
        (lambda: log.append("session", facts=[("a", "b")]), "facts must be a mapping of name -> value"),
        (lambda: log.append("session", facts={1: "x"}), "fact names must be str"),
        (lambda: log.append("session", facts={"a": 1.5}),
         "fact 'a' must be str, int, bool or None, not float"),
        (lambda: log.append("session", user=5), "user must be a str or None, not int"),
    ]
    for call, message in refusals:
        with pytest.raises(TypeError) as err:
            call()
        assert str(err.value) == message
    clock = ManualClock()
    for kwargs, message in [({"checkpoint_key": "key"}, "checkpoint_key must be an Ed25519PrivateKey"),
                            ({"redactor": object()}, "redactor must have a redact(text) -> text method")]:
        with pytest.raises(ConfigurationError) as err:
            AccessLog(clock=clock, hmac_key=KEY, **kwargs)
        assert str(err.value) == message
    with pytest.raises(audit.CheckpointKeyMissingError) as err:
        log.checkpoint()
    assert str(err.value) == "this access log has no checkpoint_key; it cannot sign a checkpoint"


def test_a_read_back_event_keeps_its_scopes_facts_and_types() -> None:
    log, clock = new_log()
    log.append("decision", tenant="acme", scopes=("b:read", "a:read"), decision="allow", reason="ok",
               facts={"ttl": 300, "flag": True, "none": None, "name": "x"})
    [event] = log.events()
    assert event.scopes == ("b:read", "a:read")
    assert dict(event.facts) == {"flag": "true", "name": "x", "none": "null", "ttl": "300"}
    cp_key = Ed25519PrivateKey.generate()
    signed, clock2 = new_log(checkpoint_key=cp_key)
    clock2.advance(7)
    cp = signed.checkpoint()
    assert (cp.count, cp.head, cp.time) == (0, GENESIS, clock2.now())


def test_a_reopened_log_reads_back_its_events_with_tuples(tmp_path) -> None:
    path = tmp_path / "access.log"
    log, clock = new_log(path)
    story(log, clock)
    written = log.events()
    log.close()
    again, _ = new_log(path)
    assert again.events() == written
    assert isinstance(again.events()[1].scopes, tuple) and isinstance(again.events()[0].facts, tuple)
    again.close()


def test_canonical_json_refuses_nan_and_writes_ascii_only() -> None:
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})
    assert canonical_json({"b": "é", "a": [1, 2]}) == '{"a":[1,2],"b":"\\u00e9"}'


def test_red_flags_and_revocations_count_only_what_they_say() -> None:
    log, clock = new_log()
    t0 = clock.now()
    log.append("revoke", session="s-3", reason="revoke_session", detail="before any token")
    log.append("issue", tenant="acme", session="s-3", tool="tickets", jti="tok-C", expires=t0 + 10,
               reason="granted")
    log.append("tool_call", tenant="acme", session="s-3", tool="tickets", jti="tok-C", decision="allow",
               reason="revoke_all", expires=t0 + 5)  # a call, not a revocation, whatever its words
    clock.advance(10)
    log.append("tool_call", tenant="acme", session="s-3", tool="tickets", jti="tok-C", decision="allow",
               reason="ok")  # at the expiry second: a red flag
    log.append("tool_call", tenant="acme", session="s-3", tool="tickets", jti="tok-C", decision="deny",
               reason="expired")  # refused: no flag
    summary = log.incident_summary("s-3", at=t0 + 1)
    assert (summary["revocations"], summary["revoked_tokens"]) == ([], [])
    assert summary["live_tokens"] == ["tok-C"]
    assert [e.seq for e in log.live_tokens(t0 + 1)] == [2]  # the call carrying expires is no token
    assert summary["used_after_expiry"] == [4] and summary["used_after_revocation"] == []


class _SameNames:
    def redact(self, text: str) -> str:
        return "k" if text.startswith("k") else text


def test_two_fact_names_that_redact_alike_are_refused() -> None:
    log = AccessLog(clock=ManualClock(), hmac_key=KEY, redactor=_SameNames())
    with pytest.raises(AuditError) as err:
        log.append("session", facts={"k1": "a", "k2": "b"})
    assert str(err.value) == "two facts have the same name after redaction" and len(log) == 0


def test_a_reopened_log_still_finds_where_a_secret_appeared(tmp_path) -> None:
    path = tmp_path / "access.log"
    log, clock = new_log(path)
    story(log, clock)
    found = [e.seq for e in log.appearances(CREDENTIAL)]
    log.close()
    again, _ = new_log(path)
    assert found == [3] and [e.seq for e in again.appearances(CREDENTIAL)] == found
    again.close()


def test_a_file_changed_underneath_or_a_failed_write_stops_the_log_and_says_why(tmp_path,
                                                                              monkeypatch) -> None:
    path = tmp_path / "access.log"
    log, _ = new_log(path)
    log.append("session", tenant="acme")
    with path.open("ab") as other:
        other.write(b"someone else's line\n")
    with pytest.raises(AuditError) as err:
        log.append("session", tenant="acme")
    assert str(err.value) == "log file changed underneath this writer; refusing to append"
    with pytest.raises(AuditError) as err:
        log.append("session", tenant="acme")
    assert str(err.value) == "this access log is closed or failed; open it again"
    log.close()

    fresh, _ = new_log(tmp_path / "second.log")

    def no_space(*args: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(audit.os, "write", no_space)
    monkeypatch.setattr(audit.os, "ftruncate", no_space)
    with pytest.raises(AuditError) as err:
        fresh.append("session", tenant="acme")
    assert str(err.value) == ("could not write the access log (No space left on device); "
                              "the record was not logged")
    monkeypatch.undo()
    with pytest.raises(AuditError) as err:  # the tail may be torn: nothing more is appended
        fresh.append("session", tenant="acme")
    assert str(err.value) == "this access log is closed or failed; open it again"
    fresh.close()


def test_closing_a_log_twice_is_harmless() -> None:
    log, _ = new_log()
    log.close()
    log.close()
    assert len(log) == 0


def test_a_file_that_grows_while_it_is_opened_is_refused(tmp_path, monkeypatch) -> None:
    path = tmp_path / "access.log"
    log, clock = new_log(path)
    story(log, clock)
    log.close()
    whole = path.read_bytes()
    first_lines = whole[: whole.rindex(b"\n", 0, len(whole) - 1) + 1]  # what a reader saw a moment before
    monkeypatch.setattr(type(path), "read_bytes", lambda self: first_lines)
    with pytest.raises(AuditError) as err:
        new_log(path)
    assert str(err.value) == "log file changed while it was being opened"
