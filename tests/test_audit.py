"""The access log: tamper-evident, secret-free, durable, and able to answer incident questions."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from course import audit
from course.audit import (
    GENESIS,
    AccessLog,
    Checkpoint,
    Event,
    canonical_json,
    verify_chain,
    verify_checkpoint,
)
from course.clock import LAB_EPOCH, ManualClock
from course.errors import (
    AuditError,
    BadCheckpointError,
    ChainBrokenError,
    CheckpointKeyMissingError,
    ConfigurationError,
)
from course.secretstore import lab_secret

KEY = b"vault-lab-audit-test-key-32bytes"
CHAIN_KEY = audit.derive_chain_key(KEY)
CREDENTIAL = lab_secret("audit-tests", "tickets-api")  # sk_live_ + 32 hex
RAW_TOKEN = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhZ2VudC0xIn0.c2lnbmF0dXJl"


def new_log(path: Path | None = None, **kwargs: object) -> tuple[AccessLog, ManualClock]:
    clock = ManualClock()
    return AccessLog(path, clock=clock, hmac_key=KEY, **kwargs), clock


def story(log: AccessLog, clock: ManualClock) -> None:
    """A small session: decide, issue, call, revoke, and a denied call after it."""
    log.append("decision", tenant="acme", user="u-ana", agent="agent-1", session="s-1",
               task="triage", tool="tickets", scopes=("tickets:read",), decision="allow",
               reason="granted", detail="policy allowed tickets:read", facts={"ttl": 300})
    log.append("issue", tenant="acme", user="u-ana", agent="agent-1", session="s-1",
               task="triage", tool="tickets", scopes=("tickets:read",), jti="jti-0001",
               expires=clock.now() + 300, reason="granted",
               secret_fields={"token": RAW_TOKEN})
    clock.advance(5)
    log.append("tool_call", tenant="acme", agent="agent-1", session="s-1", tool="tickets",
               jti="jti-0001", decision="allow", reason="ok",
               secret_fields={"credential": CREDENTIAL})
    clock.advance(5)
    log.append("revoke", tenant="acme", session="s-1", reason="revoke_session",
               detail="on-call revoked the session")
    log.append("tool_call", tenant="acme", agent="agent-1", session="s-1", tool="tickets",
               jti="jti-0001", decision="deny", reason="revoked")


@lru_cache(maxsize=1)
def valid_lines() -> tuple[str, ...]:
    log, clock = new_log()
    story(log, clock)
    return log.lines()


# ----------------------------------------------------------------------------- the chain


def test_a_fresh_log_verifies_and_head_anchors_it() -> None:
    log, clock = new_log()
    assert log.head() == GENESIS
    assert verify_chain(log.lines(), head=None) == 0
    story(log, clock)
    lines = log.lines()
    assert verify_chain(lines) == len(lines) == 5
    assert verify_chain(lines, head=log.head()) == 5
    assert [e.seq for e in log.events()] == [1, 2, 3, 4, 5]
    assert log.events()[0].prev == GENESIS
    assert all(b.prev == a.hash for a, b in zip(log.events(), log.events()[1:], strict=False))


def test_each_line_is_canonical_json_with_the_events_fields() -> None:
    for line, event in zip(valid_lines(), new_story_events(), strict=True):
        record = json.loads(line)
        assert canonical_json(record) == line
        assert record == event.as_dict()
        assert record["v"] == audit.FORMAT_VERSION


def new_story_events() -> tuple[Event, ...]:
    log, clock = new_log()
    story(log, clock)
    return log.events()


def test_the_hash_is_plain_sha256_so_anyone_can_recompute_it() -> None:
    import hashlib

    record = json.loads(valid_lines()[1])
    body = {k: v for k, v in record.items() if k not in ("hash", "mac")}
    expected = hashlib.sha256((record["prev"] + canonical_json(body)).encode()).hexdigest()
    assert record["hash"] == expected


def _edit(lines: list[str], i: int, **changes: object) -> list[str]:
    record = json.loads(lines[i])
    record.update(changes)
    lines[i] = canonical_json(record)
    return lines


def _tamper_cases() -> list[tuple[str, object, int]]:
    """(name, mutation of the 5 valid lines, line number that must be reported)."""
    return [
        ("edit a field", lambda ls: _edit(ls, 2, decision="deny"), 3),
        ("edit the reason", lambda ls: _edit(ls, 0, reason="admin_override"), 1),
        ("edit by hand (spaces)", lambda ls: ls[:1] + [ls[1].replace(",", ", ")] + ls[2:], 2),
        ("delete a line", lambda ls: ls[:2] + ls[3:], 3),
        ("delete the first line", lambda ls: ls[1:], 1),
        ("insert a copy", lambda ls: ls[:2] + [ls[1]] + ls[2:], 3),
        ("insert a forged line", lambda ls: ls[:1] + [_forged(ls)] + ls[1:], 2),
        ("swap two lines", lambda ls: [ls[0], ls[2], ls[1], ls[3], ls[4]], 2),
        ("garbage JSON", lambda ls: ls[:3] + ['{"seq": 4,'] + ls[4:], 4),
        ("JSON that is not an object", lambda ls: ls[:1] + ["[1, 2, 3]"] + ls[2:], 2),
        ("JSON null", lambda ls: ["null"] + ls[1:], 1),
        ("blank line", lambda ls: ls[:4] + [""] + ls[4:], 5),
        ("extra field", lambda ls: _edit(ls, 1, admin=True), 2),
        ("missing field", lambda ls: ls[:3] + [_drop(ls[3], "reason")] + ls[4:], 4),
        ("seq gap", lambda ls: _edit(ls, 4, seq=6), 5),
        ("bool for an int", lambda ls: _edit(ls, 0, time=True), 1),
        ("duplicate JSON key", lambda ls: ls[:1] + [ls[1][:-1] + ',"seq":2}'] + ls[2:], 2),
        ("deep nesting", lambda ls: ls[:2] + ["[" * 100_000 + "]" * 100_000] + ls[3:], 3),
        ("not text", lambda ls: ls[:2] + [12345] + ls[3:], 3),  # type: ignore[list-item]
        ("invalid UTF-8 bytes", lambda ls: ls[:1] + [b"\xff\xfe"] + ls[2:], 2),  # type: ignore[list-item]
    ]


def _forged(lines: list[str]) -> str:
    record = json.loads(lines[1])
    record.update(seq=2, event="approval", detail="forged approval")
    return canonical_json(record)


def _drop(line: str, key: str) -> str:
    record = json.loads(line)
    del record[key]
    return canonical_json(record)


@pytest.mark.parametrize(("mutate", "line"), [pytest.param(m, n, id=name)
                                             for name, m, n in _tamper_cases()])
def test_every_kind_of_tampering_breaks_the_chain_at_its_line(mutate, line: int) -> None:
    mutated = mutate(list(valid_lines()))
    with pytest.raises(ChainBrokenError) as caught:
        verify_chain(mutated)
    assert caught.value.line == line
    assert caught.value.code == "chain_broken"


def test_the_reason_says_what_kind_of_break_it_is() -> None:
    lines = list(valid_lines())
    reasons = {}
    for name, mutated in [("deleted", lines[:1] + lines[2:]), ("edited", _edit(list(lines), 1,
                          tool="payments")), ("bad json", lines[:1] + ["{"])]:
        with pytest.raises(ChainBrokenError) as caught:
            verify_chain(mutated)
        reasons[name] = str(caught.value)
    assert "expected seq 2" in reasons["deleted"]
    assert "hash does not match" in reasons["edited"]
    assert "not valid JSON" in reasons["bad json"]


def test_truncation_is_caught_only_with_the_published_head() -> None:
    lines = list(valid_lines())
    head = json.loads(lines[-1])["hash"]
    assert verify_chain(lines[:3]) == 3  # a shorter chain is still a chain...
    with pytest.raises(ChainBrokenError) as caught:
        verify_chain(lines[:3], head=head)  # ...but not the one that was anchored
    assert caught.value.line == 4
    with pytest.raises(ChainBrokenError) as caught:
        verify_chain([], head=head)
    assert caught.value.line == 1


def test_an_older_anchor_still_verifies_a_log_that_grew_after_it() -> None:
    log, clock = new_log()
    story(log, clock)
    anchor = log.head()
    log.append("signal", reason="after_anchor")
    assert verify_chain(log.lines(), head=anchor) == 6


def _rehashed(lines: list[str], edit_at: int | None = None, **changes: object) -> list[str]:
    """What someone who can write the file but has no key does: edit, then recompute every hash.

    Each line keeps the mac it had (the attacker cannot compute a new one).
    """
    prev = GENESIS
    rewritten = []
    for i, line in enumerate(lines):
        record = json.loads(line)
        if i == edit_at:
            record.update(changes)
        record["prev"] = prev
        body = {k: v for k, v in record.items() if k not in ("hash", "mac")}
        record["hash"] = audit._line_hash(prev, body)
        prev = record["hash"]
        rewritten.append(canonical_json(record))
    return rewritten


def _appended(lines: list[str], **changes: object) -> list[str]:
    """A forged line appended after ``lines`` with a correct seq, prev and hash (a copied mac)."""
    record = json.loads(lines[-1])
    record.update(seq=record["seq"] + 1, prev=record["hash"], **changes)
    body = {k: v for k, v in record.items() if k not in ("hash", "mac")}
    record["hash"] = audit._line_hash(record["prev"], body)
    return [*lines, canonical_json(record)]


def test_a_full_rewrite_recomputing_every_hash_is_caught_only_by_an_anchor_or_the_key() -> None:
    """The limit of a keyless chain, shown as a test: an anchor or the MAC key makes rewrites visible."""
    lines = list(valid_lines())
    head = json.loads(lines[-1])["hash"]
    # The attacker hides that the call was allowed.
    rewritten = _rehashed(lines, 2, decision="deny")
    assert verify_chain(rewritten) == 5
    with pytest.raises(ChainBrokenError) as caught:
        verify_chain(rewritten, head=head)
    assert caught.value.line == 6
    with pytest.raises(ChainBrokenError) as caught:
        verify_chain(rewritten, chain_key=CHAIN_KEY)
    assert caught.value.line == 3 and "mac does not verify" in str(caught.value)


@pytest.mark.parametrize("garbage", [None, 42, object(), "not a log", b"\xff\n", [None]])
def test_verify_chain_answers_garbage_lines_with_its_own_error(garbage: object) -> None:
    with pytest.raises(ChainBrokenError):
        verify_chain(garbage)  # type: ignore[arg-type]


@pytest.mark.parametrize("head", [42, b"0" * 64, "not-hex", "A" * 64, GENESIS + "0"])
def test_verify_chain_answers_a_garbage_head_with_its_own_error(head: object) -> None:
    with pytest.raises(ChainBrokenError):
        verify_chain(valid_lines(), head=head)  # type: ignore[arg-type]


def test_verify_chain_takes_a_whole_file_text_and_refuses_a_torn_last_line() -> None:
    text = "\n".join(valid_lines()) + "\n"
    assert verify_chain(text) == 5
    assert verify_chain(text.encode()) == 5
    assert verify_chain(text.splitlines(keepends=True)) == 5
    with pytest.raises(ChainBrokenError) as caught:
        verify_chain(text[:-20])
    assert caught.value.line == 5


def test_error_messages_quote_no_line_content() -> None:
    lines = list(valid_lines())
    lines[1] = lines[1].replace('"issue"', '"issue-' + CREDENTIAL.reveal() + '"')
    with pytest.raises(ChainBrokenError) as caught:
        verify_chain(lines)
    assert CREDENTIAL.reveal() not in str(caught.value) + repr(caught.value)


# ----------------------------------------------------------------------------- keyed chain, checkpoints


SIGNER = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = Ed25519PublicKey.from_public_bytes(SIGNER.public_key().public_bytes_raw())


def signed_log(path: Path | None = None) -> tuple[AccessLog, ManualClock]:
    return new_log(path, checkpoint_key=SIGNER)


def test_a_head_published_from_an_empty_log_anchors_it_and_any_honest_extension() -> None:
    log, clock = new_log()
    head = log.head()  # published at start-up, before the first append
    assert verify_chain([], head=head) == 0
    story(log, clock)
    assert verify_chain(log.lines(), head=head) == 5


def test_an_anchor_published_from_an_empty_log_verifies_it_and_any_honest_extension() -> None:
    log, clock = signed_log()
    head, checkpoint = log.head(), log.checkpoint()
    assert (head, checkpoint.count) == (GENESIS, 0)
    assert verify_chain(log.lines(), head=head) == 0
    assert verify_checkpoint(log.lines(), checkpoint, PUBLIC) == 0
    story(log, clock)
    assert verify_chain(log.lines(), head=head, chain_key=CHAIN_KEY) == 5
    assert verify_checkpoint(log.lines(), checkpoint, PUBLIC, chain_key=CHAIN_KEY) == 5


def test_a_rehashed_append_is_found_with_the_chain_key_and_refused_on_open(tmp_path: Path) -> None:
    forged = _appended(list(valid_lines()), event="approval", decision="allow", detail="forged")
    assert verify_chain(forged) == 6  # structure and hashes are right: no key, no proof
    with pytest.raises(ChainBrokenError) as caught:
        verify_chain(forged, chain_key=CHAIN_KEY)
    assert caught.value.line == 6 and "mac does not verify" in str(caught.value)
    path = tmp_path / "access.log"
    path.write_text("\n".join(forged) + "\n")
    with pytest.raises(ChainBrokenError) as caught:
        new_log(path)  # the writer never continues a chain it did not write
    assert caught.value.line == 6


@pytest.mark.parametrize("at", [0, 2, 4])
def test_an_edit_and_rehash_is_found_at_its_line_with_the_chain_key(at: int) -> None:
    rewritten = _rehashed(list(valid_lines()), at, reason="admin_override")
    assert verify_chain(rewritten) == 5
    with pytest.raises(ChainBrokenError) as caught:
        verify_chain(rewritten, chain_key=CHAIN_KEY)
    assert caught.value.line == at + 1


def test_a_line_from_a_log_with_another_key_does_not_verify_with_this_key() -> None:
    other = AccessLog(clock=ManualClock(), hmac_key=b"another-key-of-32-bytes-........")
    story(other, ManualClock())
    assert verify_chain(other.lines()) == 5
    with pytest.raises(ChainBrokenError) as caught:
        verify_chain(other.lines(), chain_key=CHAIN_KEY)
    assert caught.value.line == 1


def test_an_edit_after_the_last_checkpoint_is_found_with_the_chain_key() -> None:
    log, clock = signed_log()
    story(log, clock)
    checkpoint = log.checkpoint()
    log.append("signal", reason="after_checkpoint")
    log.append("signal", reason="after_checkpoint")
    rewritten = _rehashed(list(log.lines()), 6, reason="nothing_happened")
    assert verify_checkpoint(rewritten, checkpoint, PUBLIC) == 7  # beyond count: consistency only
    with pytest.raises(ChainBrokenError) as caught:
        verify_checkpoint(rewritten, checkpoint, PUBLIC, chain_key=CHAIN_KEY)
    assert caught.value.line == 7


def test_tail_truncation_below_a_published_checkpoint_is_found() -> None:
    log, clock = signed_log()
    story(log, clock)
    checkpoint = log.checkpoint()
    lines = list(log.lines())
    assert verify_checkpoint(lines, checkpoint, PUBLIC, chain_key=CHAIN_KEY) == 5
    for keep in (0, 3, 4):
        assert verify_chain(lines[:keep], chain_key=CHAIN_KEY) == keep  # every kept line is genuine
        with pytest.raises(ChainBrokenError) as caught:
            verify_checkpoint(lines[:keep], checkpoint, PUBLIC, chain_key=CHAIN_KEY)
        assert caught.value.line == keep + 1 and "truncated" in str(caught.value)


def _checkpoint_tampering() -> list[tuple[str, object, int]]:
    """(name, mutation of the 5 lines of a signed log, line the checkpoint check must name)."""
    return [
        ("edit a field", lambda ls: _edit(ls, 2, decision="deny"), 3),
        ("delete a line", lambda ls: ls[:1] + ls[2:], 2),
        ("swap two lines", lambda ls: [ls[0], ls[2], ls[1], ls[3], ls[4]], 2),
        ("edit and rehash everything after", lambda ls: _rehashed(ls, 1, tool="payments"), 5),
        ("rehash a forged tail over a cut", lambda ls: _appended(ls[:4], reason="forged"), 5),
        ("cut the tail", lambda ls: ls[:2], 3),
    ]


@pytest.mark.parametrize(("mutate", "line"), [pytest.param(m, n, id=name)
                                             for name, m, n in _checkpoint_tampering()])
def test_a_checkpoint_finds_every_change_before_its_count_with_only_the_public_key(
        mutate, line: int) -> None:
    log, clock = signed_log()
    story(log, clock)
    published = log.checkpoint().to_json()
    mutated = mutate(list(log.lines()))
    with pytest.raises(ChainBrokenError) as caught:
        verify_checkpoint(mutated, Checkpoint.from_json(published), PUBLIC)
    assert caught.value.line == line


def test_a_checkpoint_verifies_from_its_published_text_with_only_the_public_key_bytes() -> None:
    log, clock = signed_log()
    story(log, clock)
    published = log.checkpoint().to_json()
    log.append("signal", reason="later")
    text = "\n".join(log.lines()) + "\n"
    public_bytes = log.checkpoint_public_key.public_bytes_raw()  # type: ignore[union-attr]
    assert len(public_bytes) == 32
    del log  # the verifier has: the file text, the published checkpoint, 32 public bytes
    checkpoint = Checkpoint.from_json(published)
    assert (checkpoint.count, checkpoint.time) == (5, LAB_EPOCH + 10)
    assert verify_checkpoint(text, checkpoint, Ed25519PublicKey.from_public_bytes(public_bytes)) == 6


def test_checkpoint_json_is_one_canonical_line_and_its_repr_is_short() -> None:
    log, clock = signed_log()
    story(log, clock)
    checkpoint = log.checkpoint()
    assert checkpoint.to_json() == canonical_json(json.loads(checkpoint.to_json()))
    assert set(json.loads(checkpoint.to_json())) == {"count", "head", "time", "signature"}
    assert checkpoint.signature not in repr(checkpoint)
    assert len(log) == 5  # signing did not change the log


def _forged_checkpoints() -> list[tuple[str, object]]:
    other = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)

    def resigned(c: Checkpoint, key: Ed25519PrivateKey, **changes: object) -> Checkpoint:
        draft = replace(c, **changes)
        return replace(draft, signature=key.sign(draft.signed_bytes()).hex())

    return [
        ("signed with another key", lambda c, ls: resigned(c, other)),
        ("count lowered", lambda c, ls: replace(c, count=3, head=json.loads(ls[2])["hash"])),
        ("count raised", lambda c, ls: replace(c, count=6)),
        ("head altered", lambda c, ls: replace(c, head=json.loads(ls[3])["hash"])),
        ("time altered", lambda c, ls: replace(c, time=c.time + 1)),
        ("signature flipped", lambda c, ls: replace(c, signature=("0" if c.signature[0] != "0"
                                                                  else "1") + c.signature[1:])),
        ("rewritten log, attacker re-signs", lambda c, ls: resigned(
            c, other, head=json.loads(_rehashed(ls, 1, tool="payments")[-1])["hash"])),
        ("empty signature", lambda c, ls: replace(c, signature="")),
        ("negative count", lambda c, ls: resigned(c, SIGNER, count=-1)),
        ("count 0 with a non-genesis head", lambda c, ls: resigned(c, SIGNER, count=0)),
        ("bool for a count", lambda c, ls: replace(c, count=True)),
        ("upper-case head", lambda c, ls: replace(c, head=c.head.upper())),
    ]


@pytest.mark.parametrize("forge", [pytest.param(f, id=name) for name, f in _forged_checkpoints()])
def test_a_forged_or_altered_checkpoint_is_refused(forge) -> None:
    log, clock = signed_log()
    story(log, clock)
    lines = list(log.lines())
    forged = forge(log.checkpoint(), lines)
    with pytest.raises(BadCheckpointError) as caught:
        verify_checkpoint(lines, forged, PUBLIC)
    assert caught.value.code == "bad_checkpoint"
    with pytest.raises(BadCheckpointError):  # the same, coming in as published text
        verify_checkpoint(lines, Checkpoint.from_json(forged.to_json()), PUBLIC)


@pytest.mark.parametrize("text", ["", "[]", "null", '{"count":0}', b"\xff",
                                  '{"count":0,"head":"x","time":0,"signature":"","extra":1}',
                                  "[" * 100_000])
def test_a_malformed_published_checkpoint_is_refused_by_type(text: object) -> None:
    with pytest.raises(BadCheckpointError):
        Checkpoint.from_json(text)  # type: ignore[arg-type]


def test_without_a_checkpoint_key_the_log_says_it_cannot_sign() -> None:
    log, _ = new_log()
    assert log.checkpoint_public_key is None
    with pytest.raises(CheckpointKeyMissingError) as caught:
        log.checkpoint()
    assert caught.value.code == "no_checkpoint_key"
    with pytest.raises(ConfigurationError):
        new_log(checkpoint_key=SIGNER.public_key())
    with pytest.raises(ConfigurationError):
        new_log(checkpoint_key=SIGNER.private_bytes_raw())
    with pytest.raises(TypeError):
        verify_checkpoint([], signed_log()[0].checkpoint(), SIGNER)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        verify_chain([], chain_key=KEY[:16])


def test_the_chain_key_is_hkdf_of_the_log_key_and_differs_from_it() -> None:
    """Known answer from RFC 5869 written out with hmac, so the derivation cannot drift silently."""
    import hashlib
    import hmac

    prk = hmac.new(b"vault-lab/audit", KEY, hashlib.sha256).digest()
    okm = hmac.new(prk, b"chain-mac/v2" + b"\x01", hashlib.sha256).digest()
    assert CHAIN_KEY == okm and CHAIN_KEY != KEY and len(CHAIN_KEY) == 32
    record = json.loads(valid_lines()[0])
    assert record["mac"] == hmac.new(CHAIN_KEY, record["hash"].encode(), hashlib.sha256).hexdigest()
    # The log key keys fingerprints only; no fingerprint equals a part of the chain key.
    log, _ = new_log()
    for label in ("vault-lab/audit", "chain-mac/v2", "chain-mac/v2\x01"):
        assert log.fingerprint(label)[5:] not in CHAIN_KEY.hex()


def test_the_file_holds_neither_the_mac_key_nor_the_signing_key(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    log, clock = signed_log(path)
    story(log, clock)
    checkpoint = log.checkpoint()
    log.append("signal", detail="after the checkpoint")
    log.close()
    data = path.read_bytes()
    private = SIGNER.private_bytes_raw()
    views = [data, checkpoint.to_json().encode(), repr(checkpoint).encode(), repr(log).encode(),
             "\n".join(repr(e) for e in log.events()).encode()]
    for material in (KEY.decode("latin-1"), CHAIN_KEY.decode("latin-1"),
                     private.decode("latin-1")):
        for form in _encoded_forms(material):
            for view in views:
                assert form not in view, "key material reached the access log"
    for raw in (KEY, CHAIN_KEY, private):
        assert raw not in data
        assert raw.hex().encode() not in data
    assert verify_checkpoint(data, checkpoint, PUBLIC, chain_key=CHAIN_KEY) == 6



# ----------------------------------------------------------------------------- secrets


def _encoded_forms(value: str) -> list[bytes]:
    raw = value.encode()
    return [raw, base64.b64encode(raw), base64.urlsafe_b64encode(raw).rstrip(b"="),
            base64.b64encode(raw).rstrip(b"="), raw.hex().encode(), json.dumps(value).encode()]


def test_no_secret_field_value_reaches_the_file_in_any_encoding(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    log, clock = new_log(path)
    story(log, clock)
    log.append("tool_call", session="s-2", detail=f"careless copy of {CREDENTIAL.reveal()}",
               facts={"note": f"token was {RAW_TOKEN}"},
               secret_fields={"credential": CREDENTIAL, "token": RAW_TOKEN})
    log.close()
    data = path.read_bytes()
    views = [data, "\n".join(repr(e) for e in log.events()).encode(), repr(log).encode(),
             repr(log.incident_summary("s-1")).encode()]
    for secret in (CREDENTIAL.reveal(), RAW_TOKEN):
        for form in _encoded_forms(secret):
            for view in views:
                assert form not in view, "a secret reached the access log"
    last = log.events()[-1]
    assert last.fact("credential") == log.fingerprint(CREDENTIAL)
    assert log.fingerprint(CREDENTIAL) in last.detail  # the careless copy was replaced
    assert last.fact("note") == f"token was {log.fingerprint(RAW_TOKEN)}"


def test_fingerprint_is_keyed_hmac_so_the_investigator_can_match_a_leak() -> None:
    import hashlib
    import hmac

    log, clock = new_log()
    story(log, clock)
    mark = log.fingerprint(RAW_TOKEN)
    assert mark == "hmac:" + hmac.new(KEY, RAW_TOKEN.encode(), hashlib.sha256).hexdigest()[:16]
    assert log.fingerprint(CREDENTIAL) == log.fingerprint(CREDENTIAL.reveal())
    assert [e.seq for e in log.appearances(RAW_TOKEN)] == [2]
    assert [e.seq for e in log.appearances(CREDENTIAL)] == [3]
    assert log.appearances("sk_live_never_seen") == ()
    # Not a plain hash: without the key, a guessed value cannot be confirmed.
    plain = hashlib.sha256(RAW_TOKEN.encode()).hexdigest()
    assert plain[:16] not in "\n".join(log.lines())
    other, _ = AccessLog(clock=clock, hmac_key=b"another-key-of-32-bytes-........"), None
    assert other.fingerprint(RAW_TOKEN) != mark


def test_a_secret_in_an_ordinary_field_is_refused_by_type() -> None:
    log, _ = new_log()
    with pytest.raises(TypeError):
        log.append("tool_call", facts={"credential": CREDENTIAL})
    with pytest.raises(TypeError):
        log.append("tool_call", detail=CREDENTIAL)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        log.append("tool_call", secret_fields={"credential": ""})
    assert len(log) == 0


class StubRedactor:
    """Replaces anything that looks like a live key; counts what it saw."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def redact(self, text: str) -> str:
        self.seen.append(text)
        return text.replace("sk_test_abc123", "[REDACTED]")


def test_the_redactor_runs_over_every_caller_string() -> None:
    redactor = StubRedactor()
    log, _ = new_log(redactor=redactor)
    event = log.append("tool_call", tenant="acme", tool="payments", scopes=("pay:write",),
                       reason="upstream_error", detail="upstream echoed sk_test_abc123 back",
                       facts={"response": "key=sk_test_abc123"})
    assert "sk_test_abc123" not in log.lines()[0]
    assert event.detail == "upstream echoed [REDACTED] back"
    assert event.fact("response") == "key=[REDACTED]"
    assert {"acme", "payments", "pay:write", "upstream_error", "response"} <= set(redactor.seen)
    assert verify_chain(log.lines()) == 1


def test_a_failing_or_broken_redactor_refuses_the_record_without_quoting_it() -> None:
    class Raising:
        def redact(self, text: str) -> str:
            raise ValueError(f"cannot redact {text}")

    class NotText:
        def redact(self, text: str) -> object:
            return None

    for redactor in (Raising(), NotText()):
        log, _ = new_log(redactor=redactor)
        with pytest.raises(AuditError) as caught:
            log.append("tool_call", detail="sk_test_abc123")
        assert "sk_test_abc123" not in str(caught.value)
        assert len(log) == 0
    with pytest.raises(ConfigurationError):
        new_log(redactor=object())


@pytest.mark.parametrize("key", [b"", b"short", "a-str-key-that-is-long-enough!!"])
def test_a_weak_or_wrong_hmac_key_is_refused(key: object) -> None:
    with pytest.raises(ConfigurationError):
        AccessLog(clock=ManualClock(), hmac_key=key)  # type: ignore[arg-type]


def test_repr_shows_count_and_head_prefix_only() -> None:
    log, clock = new_log()
    story(log, clock)
    assert repr(log) == f"AccessLog(events=5, head={log.head()[:12]!r})"


# ----------------------------------------------------------------------------- record rules


@pytest.mark.parametrize("kwargs", [
    {"event": "Issue!"},
    {"event": "decision"},  # a decision must say allow or deny
    {"event": "decision", "decision": "maybe"},
    {"event": "issue", "jti": "j-1"},  # no expiry
    {"event": "issue", "expires": LAB_EPOCH + 60},  # no jti
    {"event": "revoke", "reason": "because"},
    {"event": "revoke", "reason": "revoke_session"},  # no session named
    {"event": "tool_call", "facts": {"a": "1"}, "secret_fields": {"a": "sk_live_x"}},
])
def test_records_that_break_the_logs_rules_are_refused(kwargs: dict) -> None:
    log, _ = new_log()
    fields = dict(kwargs)  # the parametrized dict is shared: a second run must see it whole
    with pytest.raises(AuditError):
        log.append(fields.pop("event"), **fields)
    assert len(log) == 0


@pytest.mark.parametrize("kwargs", [
    {"tenant": 7}, {"scopes": "tickets:read"}, {"scopes": [1]}, {"expires": "soon"},
    {"expires": True}, {"facts": [("a", "b")]}, {"facts": {1: "x"}}, {"reason": None},
])
def test_fields_of_the_wrong_type_are_refused(kwargs: dict) -> None:
    log, _ = new_log()
    with pytest.raises(TypeError):
        log.append("signal", **kwargs)


def test_facts_are_text_sorted_by_name() -> None:
    log, _ = new_log()
    event = log.append("decision", decision="deny", facts={"ttl": 900, "b": True, "a": None})
    assert event.facts == (("a", "null"), ("b", "true"), ("ttl", "900"))


# ----------------------------------------------------------------------------- durability


def test_every_append_fsyncs_before_it_returns(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    log, clock = new_log(tmp_path / "a.log")
    calls.clear()  # creating the file also syncs its directory
    story(log, clock)
    assert len(calls) == 5
    log.close()
    calls.clear()
    fast, clock = new_log(tmp_path / "b.log", durable=False)
    story(fast, clock)
    assert calls == []


def test_a_reopened_log_continues_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    with new_log(path)[0] as first:
        first.append("signal", reason="first")
        first.append("signal", reason="second")
        head = first.head()
    second, _ = new_log(path)
    assert second.head() == head and len(second) == 2
    event = second.append("signal", reason="third")
    assert (event.seq, event.prev) == (3, head)
    second.close()
    with path.open(encoding="utf-8") as handle:
        assert verify_chain(handle, head=event.hash) == 3
    assert (path.stat().st_mode & 0o777) == 0o600


def test_a_tampered_or_torn_file_is_refused_on_open(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_text("\n".join(valid_lines()).replace('"allow"', '"deny"', 1) + "\n")
    with pytest.raises(ChainBrokenError) as caught:
        new_log(path)
    assert caught.value.line == 1
    path.write_text("\n".join(valid_lines()) + "\n" + valid_lines()[0][:30])
    with pytest.raises(ChainBrokenError) as caught:
        new_log(path)
    assert caught.value.line == 6


def test_a_second_writer_is_detected_and_the_first_stops_appending(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    first, _ = new_log(path)
    first.append("signal", reason="one")
    second, _ = new_log(path)
    second.append("signal", reason="two")
    with pytest.raises(AuditError):
        first.append("signal", reason="fork")  # would have forked the chain
    with pytest.raises(AuditError):
        first.append("signal", reason="still refused")
    first.close()
    second.close()
    assert verify_chain(path.read_text()) == 2


def test_a_failed_write_logs_nothing_and_keeps_the_chain(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "access.log"
    log, _ = new_log(path)
    log.append("signal", reason="before")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(AuditError):
        log.append("signal", reason="lost")
    monkeypatch.undo()
    assert len(log) == 1
    log.append("signal", reason="after")
    log.close()
    assert verify_chain(path.read_text()) == 2


def test_a_closed_log_refuses_appends() -> None:
    log, _ = new_log()
    log.close()
    with pytest.raises(AuditError):
        log.append("signal")


def test_concurrent_appends_keep_one_chain(tmp_path: Path) -> None:
    log, _ = new_log(tmp_path / "access.log", durable=False)
    threads = [threading.Thread(target=lambda: [log.append("signal") for _ in range(50)])
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    assert verify_chain((tmp_path / "access.log").read_text(), head=log.head()) == 200


CHILD = textwrap.dedent("""
    import sys
    from course.audit import AccessLog
    from course.clock import ManualClock

    clock = ManualClock()
    log = AccessLog(sys.argv[1], clock=clock, hmac_key=b"vault-lab-audit-test-key-32bytes")
    for i in range(1, 100_000):
        log.append("tool_call", session="s-crash", jti=f"jti-{i:05d}", reason="ok",
                   secret_fields={"credential": "sk_live_crash_test_value"})
        clock.advance(1)
        print(f"ack {i}", flush=True)
""")


@pytest.mark.parametrize("acks", [1, 30])
def test_no_acknowledged_record_is_lost_when_the_writer_is_killed(tmp_path: Path,
                                                                  acks: int) -> None:
    """SIGKILL mid-stream: every acked line is on disk, the chain verifies and reopens.

    (fsync, counted above, is what carries this from a process crash to a machine crash.)
    """
    path = tmp_path / "access.log"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)],
                             stdout=subprocess.PIPE, text=True)
    watchdog = threading.Timer(10, child.kill)
    watchdog.start()
    acked = 0
    try:
        assert child.stdout is not None
        for line in child.stdout:
            assert line == f"ack {acked + 1}\n"
            acked += 1
            if acked == acks:
                os.kill(child.pid, signal.SIGKILL)
                break
    finally:
        watchdog.cancel()
        child.kill()
        child.wait()
        child.stdout.close()  # type: ignore[union-attr]
    assert acked == acks, "the writer died before acknowledging enough records"
    text = path.read_text()
    count = verify_chain(text)
    assert count >= acks
    jtis = [json.loads(line)["jti"] for line in text.splitlines()]
    assert jtis[:acks] == [f"jti-{i:05d}" for i in range(1, acks + 1)]
    assert b"sk_live_crash_test_value" not in path.read_bytes()
    reopened, _ = new_log(path)
    assert reopened.append("signal", reason="after_crash").seq == count + 1
    reopened.close()


# ----------------------------------------------------------------------------- queries


def revocation_world() -> tuple[AccessLog, ManualClock]:
    """Tokens across two tenants, revoked one way after another (times relative to LAB_EPOCH)."""
    log, clock = new_log()

    def issue(jti: str, tenant: str, agent: str, session: str, ttl: int = 300) -> None:
        log.append("issue", tenant=tenant, agent=agent, session=session, tool="tickets",
                   jti=jti, expires=clock.now() + ttl, reason="granted")

    issue("t1", "acme", "a1", "s1")              # t=0
    issue("t2", "acme", "a1", "s2")              # t=0
    issue("t3", "acme", "a2", "s3", ttl=50)      # t=0, expires at 50
    issue("t4", "globex", "a1", "s4")            # t=0, same agent name, other tenant
    clock.set(LAB_EPOCH + 100)
    log.append("revoke", jti="t1", reason="revoke_jti")
    clock.set(LAB_EPOCH + 150)
    log.append("revoke", tenant="acme", agent="a1", reason="revoke_agent")
    clock.set(LAB_EPOCH + 200)
    issue("t5", "acme", "a1", "s5")              # after the agent revocation: untouched
    clock.set(LAB_EPOCH + 250)
    log.append("revoke", tenant="globex", reason="revoke_tenant")
    clock.set(LAB_EPOCH + 280)
    log.append("revoke", reason="revoke_all", detail="signing key rotated")
    clock.set(LAB_EPOCH + 290)
    issue("t6", "acme", "a3", "s6")
    return log, clock


@pytest.mark.parametrize(("offset", "live"), [
    (-1, []),
    (0, ["t1", "t2", "t3", "t4"]),
    (49, ["t1", "t2", "t3", "t4"]),
    (50, ["t1", "t2", "t4"]),          # t3 expired (exp is exclusive)
    (99, ["t1", "t2", "t4"]),
    (100, ["t2", "t4"]),               # jti revocation takes effect at its own time
    (150, ["t4"]),                     # agent a1 in acme only: globex's a1 survives
    (200, ["t4", "t5"]),
    (250, ["t5"]),                     # tenant globex revoked
    (280, []),                         # revoke_all
    (290, ["t6"]),                     # issued after revoke_all
    (290 + 300, []),                   # t6 expired
])
def test_live_tokens_follow_expiry_and_every_kind_of_revocation(offset: int,
                                                                live: list[str]) -> None:
    log, _ = revocation_world()
    assert [e.jti for e in log.live_tokens(LAB_EPOCH + offset)] == live


def test_revocation_names_the_first_revoke_that_killed_a_token() -> None:
    log, _ = revocation_world()
    by_jti = {e.jti: e for e in log.events() if e.event == "issue"}
    assert log.revocation(by_jti["t1"]).reason == "revoke_jti"  # type: ignore[union-attr]
    assert log.revocation(by_jti["t4"]).reason == "revoke_tenant"  # type: ignore[union-attr]
    assert log.revocation(by_jti["t6"]) is None


def test_session_token_and_decision_queries() -> None:
    log, clock = new_log()
    story(log, clock)
    assert [e.event for e in log.by_session("s-1")] == [
        "decision", "issue", "tool_call", "revoke", "tool_call"]
    assert [e.decision for e in log.calls_by_token("jti-0001")] == ["allow", "deny"]
    assert log.calls_by_token("jti-none") == ()
    assert [e.seq for e in log.decisions()] == [1]
    assert log.decisions("deny") == ()
    with pytest.raises(ValueError):
        log.decisions("maybe")


def test_incident_summary_answers_the_on_call_questions() -> None:
    log, clock = new_log()
    story(log, clock)
    # A bypass the broker should never allow: a call with the revoked token, allowed.
    log.append("tool_call", session="s-1", jti="jti-0001", tool="tickets", decision="allow")
    clock.advance(400)
    log.append("tool_call", session="s-1", jti="jti-0001", tool="tickets", decision="allow")
    summary = log.incident_summary("s-1")
    assert summary["tenants"] == ["acme"] and summary["agents"] == ["agent-1"]
    assert (summary["first_seen"], summary["last_seen"]) == (LAB_EPOCH, LAB_EPOCH + 410)
    assert [i["jti"] for i in summary["issued"]] == ["jti-0001"]
    assert [u["decision"] for u in summary["used"]] == ["allow", "deny", "allow", "allow"]
    assert [d["reason"] for d in summary["denied"]] == ["revoked"]
    assert [r["reason"] for r in summary["revocations"]] == ["revoke_session"]
    assert summary["revoked_tokens"] == ["jti-0001"]
    assert summary["live_tokens"] == []
    assert summary["used_after_revocation"] == [6, 7]
    assert summary["used_after_expiry"] == [7]
    json.dumps(summary)  # plain data: printable in a notebook, exportable to a ticket
    assert log.incident_summary("s-1", at=LAB_EPOCH + 1)["live_tokens"] == ["jti-0001"]
    assert log.incident_summary("nobody")["events"] == 0


# ----------------------------------------------------------------------------- fuzz


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                max_size=3),
    max_leaves=6,
)
_index = st.integers(min_value=0, max_value=6)
_mutation = st.one_of(
    st.tuples(st.just("delete"), _index),
    st.tuples(st.just("duplicate"), _index),
    st.tuples(st.just("swap"), _index, _index),
    st.tuples(st.just("char"), _index, st.integers(0, 700), st.characters()),
    st.tuples(st.just("cut"), _index, st.integers(0, 700)),
    st.tuples(st.just("insert"), _index, st.text(max_size=40)),
    st.tuples(st.just("json"), _index, _json_values),
    st.tuples(st.just("field"), _index,
              st.sampled_from(sorted(audit._RECORD_KEYS)), _json_values),
    st.tuples(st.just("object"), _index, st.none() | st.integers() | st.binary(max_size=8)),
    st.tuples(st.just("truncate"), _index),
)


def _apply(lines: list, op: tuple) -> list:
    kind, i, *args = op
    if not lines and kind not in ("insert", "json", "object"):
        return lines
    at = i % max(len(lines), 1)
    if kind == "delete":
        return lines[:at] + lines[at + 1:]
    if kind == "duplicate":
        return lines[:at + 1] + [lines[at]] + lines[at + 1:]
    if kind == "swap":
        j = args[0] % len(lines)
        lines = list(lines)
        lines[at], lines[j] = lines[j], lines[at]
        return lines
    if kind == "truncate":
        return lines[:at]
    if kind == "insert":
        return lines[:at] + [args[0]] + lines[at:]
    if kind == "json":
        return lines[:at] + [json.dumps(args[0])] + lines[at:]
    if kind == "object":
        return lines[:at] + [args[0]] + lines[at:]
    line = lines[at]
    if not isinstance(line, str):
        return lines
    if kind == "char":
        pos = args[0] % max(len(line), 1)
        line = line[:pos] + args[1] + line[pos + 1:]
    elif kind == "cut":
        line = line[:args[0]]
    elif kind == "field":
        try:
            record = json.loads(line)
            record[args[0]] = args[1]
            line = canonical_json(record)
        except (ValueError, TypeError):
            return lines
    return lines[:at] + [line] + lines[at + 1:]


def _normal(line: object) -> object:
    """What verify_chain reads a line as (bytes decoded, one trailing newline dropped)."""
    if isinstance(line, bytes):
        try:
            line = line.decode()
        except UnicodeDecodeError:
            return line
    if isinstance(line, str) and line.endswith("\n"):
        return line[:-1]
    return line


def _unmac(line: object) -> object:
    return _MAC_FIELD.sub('"mac":"-"', line) if isinstance(line, str) else line


_MAC_FIELD = re.compile(r'"mac":"[0-9a-f]{64}"')


@settings(derandomize=True, max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_mutation, min_size=1, max_size=3), st.booleans(), st.booleans())
def test_verify_chain_under_random_mutation_verifies_or_names_the_first_bad_line(
        ops: list[tuple], anchored: bool, keyed: bool) -> None:
    original = list(valid_lines())
    mutated: list = list(original)
    for op in ops:
        mutated = _apply(mutated, op)
    head = json.loads(original[-1])["hash"] if anchored else None
    seen = [_normal(x) for x in mutated]
    if not keyed:  # without the key a well-formed mac is not checked: compare lines without it
        seen, original = [_unmac(x) for x in seen], [_unmac(x) for x in original]
    first_diff = next((k for k, (a, b) in enumerate(zip(seen, original, strict=False))
                       if a != b), min(len(seen), len(original)))
    try:
        count = verify_chain(mutated, head=head, chain_key=CHAIN_KEY if keyed else None)
    except ChainBrokenError as error:
        # Everything before the first changed line verified; that line is the one named.
        assert error.line == first_diff + 1
        return
    # It verified: the mutation was a no-op, or (without an anchor) a clean truncation.
    assert seen == original[:count]
    assert anchored is False or count == len(original)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(text=st.text(max_size=40), jti=st.text(max_size=10))
def test_the_written_line_is_the_canonical_record(text: str, jti: str) -> None:
    """The one-pass serialisation equals serialising the record with its hash, for any text."""
    from course.audit import canonical_json
    log = AccessLog(clock=ManualClock(), hmac_key=b"k" * 32)
    event = log.append("tool_call", tool=text or None, jti=jti or None, detail=text,
                       facts={"f": text, ',"jti":': text} if text else None)
    record = json.loads(log.lines()[-1])
    assert log.lines()[-1] == canonical_json(record)
    assert record["hash"] == event.hash and verify_chain(log.lines()) == 1
