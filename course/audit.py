"""The access log: the last node of the trust path.

    Agent request -> Vault policy -> Short-lived token -> Tool call -> **Access log**

Every issuance, decision, tool call and revocation is appended as one
:class:`Event`, with the facts it was decided on and a reason code. The log
proves three things and refuses to be used in a way that would break them:

* **Tamper-evident.** Each line is canonical JSON (sorted keys, compact
  separators, ASCII) and carries ``hash = SHA-256(prev + canonical JSON of the
  record without its hash and mac)``, where ``prev`` is the previous line's hash
  (the first line's ``prev`` is 64 zeros), and ``mac = HMAC-SHA256(chain key,
  hash)``. Three verifiers, each proving more and needing more:

  ========================================  =================================================
  verifier (what it needs)                  what it proves
  ========================================  =================================================
  :func:`verify_chain` (the lines only)     the lines are one well-formed, consistent chain:
                                            an edited, deleted, inserted or reordered line
                                            breaks it *unless its writer recomputed every hash
                                            after it*. Nothing about who wrote them.
  ``verify_chain(..., chain_key=k)``        every line was written by a holder of the chain
  (the chain key, from                      key: an edit-and-rehash or a rehashed append is
  :func:`derive_chain_key`)                 found at its line, anywhere in the log, also
                                            after the last checkpoint.
  :func:`verify_checkpoint` (a published    the first ``count`` lines are exactly those the
  :class:`Checkpoint` and the PUBLIC key)   log had when it signed the checkpoint: an edit,
                                            deletion, reorder, rehash or a tail cut below
                                            ``count`` is found, by anyone, with no secret.
  ========================================  =================================================

  What none of them proves alone: cutting lines off the *end* leaves a shorter
  log whose every line still verifies, so truncation is found only against an
  anchor published earlier where the log's writer cannot change it (a signed
  :class:`Checkpoint`, or :meth:`AccessLog.head` passed as
  ``verify_chain(lines, head=...)``), and only down to that anchor. And whoever
  holds the chain key (the log itself) can rewrite lines after the last
  checkpoint consistently: the MAC keeps out those who can write the file,
  not the log's own key holder. The log file holds neither key.

  The chain key is derived with HKDF-SHA256 from the log key (``hmac_key``),
  which is used as an HMAC key only for fingerprints: in HKDF it is the input
  keying material (the *message* of HMAC under a fixed salt), so no fingerprint
  in the log can reveal any part of the chain key, and handing the chain key to
  an auditor does not let them fingerprint (confirm guesses of secrets).
* **No secret in the clear.** A value handed over in ``secret_fields`` is
  stored only as its fingerprint ``hmac:`` + the first 16 hex digits of
  HMAC-SHA256(log key, value). HMAC and not a plain hash because credentials
  are often low-entropy or have a known format (``sk_live_`` + a few
  characters, a 6-digit code): anyone holding the log could hash candidate
  values offline until one matched, or confirm a guess in one step. With HMAC
  that takes the log key, which lives with the vault and not with the log's
  readers. If the same value also appears inside any other string of the
  record (a careless ``detail``), it is replaced by its fingerprint there too;
  an optional redactor then runs over every caller-supplied string as
  defence in depth.
* **Durable.** With a file path, every :meth:`AccessLog.append` writes one whole
  line, then ``os.fsync`` before it returns: an acknowledged record survives a
  process or machine crash.

Revocation convention (what :meth:`AccessLog.live_tokens` reads): a
``revoke`` event's ``reason`` names what it revokes and the matching field must
be set on the event:

=================  ===========================================================
reason             revokes every token issued *before* it (lower ``seq``) whose
=================  ===========================================================
``revoke_jti``     ``jti`` equals the event's ``jti``
``revoke_session`` ``session`` equals the event's ``session``
``revoke_agent``   ``agent`` equals the event's ``agent``
``revoke_tenant``  ``tenant`` equals the event's ``tenant``
``revoke_all``     (every token)
=================  ===========================================================

If a ``revoke_jti``/``revoke_session``/``revoke_agent`` event also names a
``tenant``, the tenant must match too. A revocation takes effect at its own
``time``; tokens issued after it are not touched by it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import threading
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .clock import Clock
from .errors import (
    AuditError,
    BadCheckpointError,
    ChainBrokenError,
    CheckpointKeyMissingError,
    ConfigurationError,
)
from .secretstore import Secret

__all__ = [
    "GENESIS",
    "FINGERPRINT_PREFIX",
    "FORMAT_VERSION",
    "REVOKE_REASONS",
    "AccessLog",
    "Checkpoint",
    "Event",
    "LineRedactor",
    "canonical_json",
    "derive_chain_key",
    "verify_chain",
    "verify_checkpoint",
]

#: ``prev`` of the first line: there is nothing before it.
GENESIS = "0" * 64
#: How a fingerprinted secret reads in the log.
FINGERPRINT_PREFIX = "hmac:"
# 16 hex digits = 64 bits: enough that an investigator's match is not chance,
# short enough to read in a notebook.
_FINGERPRINT_HEX = 16
#: The ``v`` field of every record, so a future format can be told apart
#: (2: every line also carries ``mac``; version 1 lines had none and are refused).
FORMAT_VERSION = 2
#: revoke reason -> the field an issued token must share with the revoke event
#: (``None``: every token).
REVOKE_REASONS: Mapping[str, str | None] = {
    "revoke_jti": "jti",
    "revoke_session": "session",
    "revoke_agent": "agent",
    "revoke_tenant": "tenant",
    "revoke_all": None,
}

_MIN_KEY_BYTES = 16
# HKDF-SHA256(log key) labels for the chain's MAC key; change info to rotate the derivation.
_CHAIN_KEY_SALT = b"vault-lab/audit"
_CHAIN_KEY_INFO = b"chain-mac/v2"
# Prefix of every signed checkpoint, so its signature can mean nothing else (not a token).
_CHECKPOINT_CONTEXT = b"vault-lab/audit-checkpoint/v1\n"
_HEX128 = re.compile(r"[0-9a-f]{128}")
_EVENT_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_ID_FIELDS = ("tenant", "user", "agent", "session", "task", "tool", "jti")
_DECISIONS = ("allow", "deny")
_RECORD_KEYS = frozenset(
    ("v", "seq", "time", "event", *_ID_FIELDS, "scopes", "expires", "decision")
    + ("reason", "detail", "facts", "prev", "hash", "mac")
)


class LineRedactor(Protocol):
    """Anything with ``redact(text) -> text`` (``course.redact`` provides the real one)."""

    def redact(self, text: str) -> str: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One line of the access log, exactly as written (after fingerprinting and redaction).

    ``facts`` are the input facts the record was decided on, as ``(name, value)``
    pairs sorted by name; a secret appears there only as ``hmac:<16 hex>``.
    ``prev`` is the previous line's hash and ``hash`` this line's; ``mac`` is
    HMAC-SHA256(chain key, ``hash``), which only a holder of the chain key can make.
    """

    seq: int
    time: int
    event: str
    tenant: str | None = None
    user: str | None = None
    agent: str | None = None
    session: str | None = None
    task: str | None = None
    tool: str | None = None
    scopes: tuple[str, ...] = ()
    jti: str | None = None
    expires: int | None = None
    decision: Literal["allow", "deny"] | None = None
    reason: str = ""
    detail: str = ""
    facts: tuple[tuple[str, str], ...] = ()
    prev: str = GENESIS
    hash: str = ""
    mac: str = ""

    def fact(self, name: str) -> str | None:
        """The value of input fact ``name``, or ``None`` if the record has none."""
        for key, value in self.facts:
            if key == name:
                return value
        return None

    def as_dict(self) -> dict[str, Any]:
        """The record as written to the line (JSON types: lists, not tuples)."""
        record = _record_body(self)
        record["hash"] = self.hash
        record["mac"] = self.mac
        return record


def canonical_json(obj: object) -> str:
    """The one text form of a record: sorted keys, no spaces, ASCII only, no NaN."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)


def _line_hash(prev: str, body: Mapping[str, Any]) -> str:
    return hashlib.sha256((prev + canonical_json(body)).encode("ascii")).hexdigest()


def derive_chain_key(hmac_key: bytes) -> bytes:
    """The chain's MAC key: HKDF-SHA256 of the log key (see the module docstring).

    Give it to an auditor who must check the MACs (``verify_chain(...,
    chain_key=...)``) but must not compute fingerprints: it does not reveal the
    log key. Treat it as a secret all the same: whoever holds it can write lines
    that verify.

    Raises:
        ConfigurationError: ``hmac_key`` is not bytes of at least 16.
    """
    if not isinstance(hmac_key, bytes) or len(hmac_key) < _MIN_KEY_BYTES:
        raise ConfigurationError(f"hmac_key must be at least {_MIN_KEY_BYTES} bytes")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=_CHAIN_KEY_SALT,
                info=_CHAIN_KEY_INFO).derive(hmac_key)


def _line_mac(chain_key: bytes, digest: str) -> str:
    return hmac.new(chain_key, digest.encode("ascii"), hashlib.sha256).hexdigest()


def _seal(body_json: str, digest: str, mac: str) -> str:
    """``canonical_json(body | {"hash": digest, "mac": mac})`` without serialising twice.

    Keys are sorted and every key is always present, so "hash" sits right
    before "jti" and "mac" right before "prev"; the sequences ``,"jti":`` and
    ``,"prev":`` cannot occur inside a JSON string (their quote would be
    escaped) nor as a key inside ``facts`` (a list), so the first one is the key.
    """
    at = body_json.index(',"jti":')
    to = body_json.index(',"prev":', at)
    return (f'{body_json[:at]},"hash":"{digest}"{body_json[at:to]},"mac":"{mac}"'
            f'{body_json[to:]}')


def _record_body(event: Event) -> dict[str, Any]:
    """Everything the hash covers: the record without its own hash and mac."""
    return {
        "v": FORMAT_VERSION,
        "seq": event.seq,
        "time": event.time,
        "event": event.event,
        **{name: getattr(event, name) for name in _ID_FIELDS},
        "scopes": list(event.scopes),
        "expires": event.expires,
        "decision": event.decision,
        "reason": event.reason,
        "detail": event.detail,
        "facts": [list(pair) for pair in event.facts],
        "prev": event.prev,
    }


# ----------------------------------------------------------------------------- verification


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _opt_str(value: object) -> bool:
    return value is None or isinstance(value, str)


def _schema_problem(record: dict[str, Any]) -> str | None:
    """Why ``record`` is not a well-formed log record, or ``None`` if it is."""
    if set(record) != _RECORD_KEYS:
        return "record does not have exactly the log's fields"
    if record["v"] != FORMAT_VERSION or not _is_int(record["v"]):
        return "unknown format version"
    if not all(_is_int(record[k]) for k in ("seq", "time")):
        return "seq and time must be integers"
    if not (isinstance(record["event"], str) and _EVENT_NAME.fullmatch(record["event"])):
        return "event must be a lower-case name"
    if not all(_opt_str(record[k]) for k in _ID_FIELDS):
        return "identity fields must be strings or null"
    scopes = record["scopes"]
    if not (isinstance(scopes, list) and all(isinstance(s, str) for s in scopes)):
        return "scopes must be a list of strings"
    if not (record["expires"] is None or _is_int(record["expires"])):
        return "expires must be an integer or null"
    if record["decision"] not in (None, *_DECISIONS):
        return "decision must be allow, deny or null"
    if not (isinstance(record["reason"], str) and isinstance(record["detail"], str)):
        return "reason and detail must be strings"
    return _facts_problem(record["facts"]) or _hashes_problem(record)


def _facts_problem(facts: object) -> str | None:
    if not isinstance(facts, list):
        return "facts must be a list"
    for pair in facts:
        if not (isinstance(pair, list) and len(pair) == 2
                and all(isinstance(x, str) for x in pair)):
            return "each fact must be a [name, value] pair of strings"
    names = [pair[0] for pair in facts]
    if names != sorted(set(names)):
        return "facts must be sorted by name, without duplicates"
    return None


def _hashes_problem(record: dict[str, Any]) -> str | None:
    if not all(isinstance(record[k], str) and _HEX64.fullmatch(record[k])
               for k in ("prev", "hash", "mac")):
        return "prev, hash and mac must be 64 lower-case hex digits"
    return None


def _event_from_record(record: dict[str, Any]) -> Event:
    fields = {k: v for k, v in record.items() if k != "v"}
    fields["scopes"] = tuple(record["scopes"])
    fields["facts"] = tuple((name, value) for name, value in record["facts"])
    return Event(**fields)


def _as_text_line(raw: object, number: int) -> str:
    if isinstance(raw, bytes | bytearray):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise ChainBrokenError(number, "line is not UTF-8 text") from None
    if not isinstance(raw, str):
        raise ChainBrokenError(number, "line is not text")
    # Iterating over an open file yields lines with their newline: accept exactly one.
    return raw[:-1] if raw.endswith("\n") else raw


def _split_text(text: str | bytes) -> list[str]:
    """Split a whole log file into lines; an unterminated last line is a torn write.

    Raises:
        ChainBrokenError: the text is not UTF-8, or its last line has no newline.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ChainBrokenError(1, "log is not UTF-8 text") from None
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] != "":
        raise ChainBrokenError(len(lines), "last line has no newline (a torn write)")
    return lines[:-1]


def _verify_records(lines: Iterable[object], head: str | None, chain_key: bytes | None = None,
                    checkpoint: Checkpoint | None = None) -> list[dict[str, Any]]:
    """Parse and check every line; return the records. See :func:`verify_chain`.

    ``checkpoint`` (already checked to be well-formed and signed): line
    ``count`` must hash to its head and the log must have at least ``count`` lines.
    """
    if isinstance(lines, str | bytes):
        lines = _split_text(lines)
    try:
        iterator = iter(lines)
    except TypeError:
        raise ChainBrokenError(1, "not an iterable of lines") from None
    records: list[dict[str, Any]] = []
    prev = GENESIS
    # GENESIS is the head of the empty log: an anchor published before the first append.
    anchored = head is None or head == GENESIS
    for number, raw in enumerate(iterator, start=1):
        record = _verified_record(_as_text_line(raw, number), number, prev, chain_key)
        records.append(record)
        prev = record["hash"]
        anchored = anchored or prev == head
        if checkpoint is not None and number == checkpoint.count and prev != checkpoint.head:
            raise ChainBrokenError(number, f"the first {number} lines do not hash to the "
                                           "checkpoint's head: this line or one before it "
                                           "was changed")
    if checkpoint is not None and len(records) < checkpoint.count:
        raise ChainBrokenError(len(records) + 1, f"the checkpoint covers {checkpoint.count} "
                                                 "lines: log truncated")
    if not anchored:
        raise ChainBrokenError(len(records) + 1,
                               "published head not found: log truncated or rewritten")
    return records


def _verified_record(line: str, number: int, prev: str, chain_key: bytes | None) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        raise ChainBrokenError(number, "line is not valid JSON") from None
    if not isinstance(record, dict):
        raise ChainBrokenError(number, "line is not a JSON object")
    problem = _schema_problem(record)
    if problem is None and canonical_json(record) != line:
        problem = "line is not in canonical form (edited by hand?)"
    if problem is None and record["seq"] != number:
        problem = f"expected seq {number} (line missing, inserted or moved)"
    if problem is None and record["prev"] != prev:
        problem = "prev does not match the previous line's hash"
    if problem is None:
        body = {k: v for k, v in record.items() if k not in ("hash", "mac")}
        if not hmac.compare_digest(_line_hash(prev, body), record["hash"]):
            problem = "hash does not match the line's content"
    if (problem is None and chain_key is not None
            and not hmac.compare_digest(_line_mac(chain_key, record["hash"]), record["mac"])):
        problem = "mac does not verify: the line was not written by the log (rehashed?)"
    if problem is not None:
        raise ChainBrokenError(number, problem)
    return record


def _check_chain_key(chain_key: object) -> None:
    if chain_key is not None and not (isinstance(chain_key, bytes) and len(chain_key) == 32):
        raise ConfigurationError("chain_key must be the 32 bytes derive_chain_key returns")


def verify_chain(lines: Iterable[str] | str | bytes, *, head: str | None = None,
                 chain_key: bytes | None = None) -> int:
    """Check a whole access log from its first line; return how many lines verified.

    ``lines`` are the log's lines (an open file, ``text.splitlines()``,
    :meth:`AccessLog.lines`), each with or without its one trailing newline;
    ``str``/``bytes`` of the whole file are accepted too. Each line must be a
    canonical record with ``seq`` equal to its line number, ``prev`` equal to
    the previous line's hash, and a correct ``hash``.

    Without ``chain_key`` this proves only that the lines form one consistent
    chain: anyone who can write the file can edit a line and recompute every
    hash after it, or append a line with a correct hash, and it still verifies.

    ``chain_key`` (:func:`derive_chain_key` of the log key): every line's ``mac``
    must verify too, so a line edited and rehashed, or appended, by anyone
    without the key is found at its line, wherever it is in the log.

    ``head`` is a hash published earlier by :meth:`AccessLog.head` (``GENESIS``
    for an empty log). The lines up to it are then proven unchanged and none of
    them missing: a truncated or rewritten log no longer contains that hash.
    Lines appended after the anchor are checked for consistency only (and
    for their MACs, with ``chain_key``). Only as strong as the place the head
    was published: for an anchor anyone can check, use :func:`verify_checkpoint`.

    Raises:
        ChainBrokenError: with ``line`` the 1-based number of the first line
            that does not verify (``len + 1`` when ``head`` was not reached),
            for edited, deleted, inserted or reordered lines, bad JSON,
            non-objects, a seq gap, a MAC that does not verify, or truncation.
            Nothing else, whatever the input.
        ConfigurationError: ``chain_key`` is not 32 bytes (a setup mistake, not a log fault).
    """
    if head is not None and not (isinstance(head, str) and _HEX64.fullmatch(head)):
        raise ChainBrokenError(1, "head must be 64 lower-case hex digits")
    _check_chain_key(chain_key)
    return len(_verify_records(lines, head, chain_key))


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """A signed statement: "this log had ``count`` lines, the last with hash ``head``, at ``time``".

    Made by :meth:`AccessLog.checkpoint` with the log's Ed25519 private key;
    ``signature`` (128 hex digits) is Ed25519 over :meth:`signed_bytes`. Publish
    :meth:`to_json` anywhere (a ticket, another system's log, a transparency
    log); whoever has the public key can then check the log with
    :func:`verify_checkpoint`. An empty log's checkpoint is ``count=0,
    head=GENESIS``. The signature is not secret; it is left out of the repr only
    to keep it short.
    """

    count: int
    head: str
    time: int
    signature: str = field(repr=False)

    def signed_bytes(self) -> bytes:
        """Exactly what the signature covers: a fixed context line, then canonical JSON."""
        body = canonical_json({"count": self.count, "head": self.head, "time": self.time})
        return _CHECKPOINT_CONTEXT + body.encode("ascii")

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "head": self.head, "time": self.time,
                "signature": self.signature}

    def to_json(self) -> str:
        """One canonical JSON line to publish; :meth:`from_json` reads it back."""
        return canonical_json(self.as_dict())

    @classmethod
    def from_json(cls, text: str | bytes) -> Checkpoint:
        """Read a published checkpoint (its signature is checked by :func:`verify_checkpoint`).

        Raises:
            BadCheckpointError: not a JSON object with exactly the checkpoint's
                well-formed fields.
        """
        try:
            data = json.loads(text)
        except (ValueError, TypeError, RecursionError):
            raise BadCheckpointError("checkpoint is not valid JSON") from None
        if not isinstance(data, dict) or set(data) != {"count", "head", "time", "signature"}:
            raise BadCheckpointError("checkpoint does not have exactly the checkpoint's fields")
        checkpoint = cls(**data)
        _check_checkpoint_form(checkpoint)
        return checkpoint


def _check_checkpoint_form(checkpoint: object) -> None:
    if not isinstance(checkpoint, Checkpoint):
        raise BadCheckpointError("not a Checkpoint")
    c = checkpoint
    if not (_is_int(c.count) and c.count >= 0 and _is_int(c.time)):
        raise BadCheckpointError("checkpoint count and time must be integers, count >= 0")
    if not (isinstance(c.head, str) and _HEX64.fullmatch(c.head)):
        raise BadCheckpointError("checkpoint head must be 64 lower-case hex digits")
    if (c.count == 0) != (c.head == GENESIS):
        raise BadCheckpointError("checkpoint head is GENESIS exactly when count is 0")
    if not (isinstance(c.signature, str) and _HEX128.fullmatch(c.signature)):
        raise BadCheckpointError("checkpoint signature must be 128 lower-case hex digits")


def verify_checkpoint(lines: Iterable[str] | str | bytes, checkpoint: Checkpoint,
                      public_key: Ed25519PublicKey, *, chain_key: bytes | None = None) -> int:
    """Check a log against a published checkpoint with only the PUBLIC key; return its line count.

    First the checkpoint itself: well-formed and signed by the private key
    matching ``public_key``. Then the lines, as :func:`verify_chain` does, and
    in addition: the log has at least ``count`` lines and line ``count`` hashes
    to ``head``. That proves the first ``count`` lines are exactly those the log
    had when it signed: an edit, deletion, insertion, reorder, an edit with
    every later hash recomputed, or a tail cut below ``count`` is found, by a
    verifier holding no secret. Lines after ``count`` (an honest log keeps
    growing) are checked for consistency only, unless ``chain_key`` is given
    (then every line's MAC too). The checkpoint of an empty log verifies
    against the empty log and any honest extension of it.

    Where the error points: a broken line is named as by :func:`verify_chain`;
    a consistent rewrite (every hash recomputed) can only be seen at line
    ``count``, where the head differs, unless ``chain_key`` finds the first
    rewritten line itself.

    Raises:
        BadCheckpointError: the checkpoint is malformed, or its signature does
            not verify under ``public_key`` (forged, signed by another key, or
            ``count``/``head``/``time`` altered).
        ChainBrokenError: the lines do not verify; ``line`` as described above,
            ``len + 1`` when the log is shorter than ``count``.
        TypeError: ``public_key`` is not an Ed25519 public key.
        ConfigurationError: ``chain_key`` is not 32 bytes.
    """
    if not isinstance(public_key, Ed25519PublicKey):
        raise TypeError("public_key must be an Ed25519PublicKey")
    _check_chain_key(chain_key)
    _check_checkpoint_form(checkpoint)
    try:
        public_key.verify(bytes.fromhex(checkpoint.signature), checkpoint.signed_bytes())
    except InvalidSignature:
        raise BadCheckpointError("checkpoint signature does not verify under the trusted "
                                 "public key: forged or altered") from None
    return len(_verify_records(lines, None, chain_key, checkpoint))


# ----------------------------------------------------------------------------- the log


def _fingerprint(key: bytes, value: str | Secret) -> str:
    text = value.reveal() if isinstance(value, Secret) else value
    if not isinstance(text, str) or not text:
        raise TypeError("a fingerprinted value must be a non-empty str or Secret")
    digest = hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()
    return FINGERPRINT_PREFIX + digest[:_FINGERPRINT_HEX]


def _check_opt_str(name: str, value: object) -> None:
    if not _opt_str(value):
        raise TypeError(f"{name} must be a str or None, not {type(value).__name__}")


def _fact_value(name: str, value: object) -> str:
    """Facts are text; numbers and booleans are written as JSON would."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool | int):
        return json.dumps(value)
    # A Secret lands here too: it must go through secret_fields, never facts.
    raise TypeError(f"fact {name!r} must be str, int, bool or None, not {type(value).__name__}")


class AccessLog:
    """The append-only, hash-chained, MAC-keyed, secret-free access log.

    ``path=None`` keeps the lines in memory (notebooks); a path is opened for
    appending, and an existing file is verified (MACs included) and its chain
    continued. ``durable=True`` (the default) makes every append ``os.fsync``
    before it returns. One writer per file: an append refuses if the file
    changed underneath it since its own last write.

    ``hmac_key`` keys the fingerprints; the chain's MAC key is derived from it
    (:func:`derive_chain_key`). ``checkpoint_key``, an Ed25519 private key, lets
    :meth:`checkpoint` sign checkpoints that anyone with the public key can
    check (:func:`verify_checkpoint`). Neither key is ever written to the log.

    Raises:
        ConfigurationError: ``hmac_key`` is not bytes of at least 16,
            ``redactor`` has no ``redact`` method, or ``checkpoint_key`` is not
            an ``Ed25519PrivateKey``.
        ChainBrokenError: the existing file does not verify (or its last line
            is torn, or a MAC was not made with this log's key); it is never
            appended to.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        clock: Clock,
        hmac_key: bytes,
        redactor: LineRedactor | None = None,
        durable: bool = True,
        checkpoint_key: Ed25519PrivateKey | None = None,
    ) -> None:
        chain_key = derive_chain_key(hmac_key)  # also refuses a weak hmac_key
        if redactor is not None and not callable(getattr(redactor, "redact", None)):
            raise ConfigurationError("redactor must have a redact(text) -> text method")
        if checkpoint_key is not None and not isinstance(checkpoint_key, Ed25519PrivateKey):
            raise ConfigurationError("checkpoint_key must be an Ed25519PrivateKey")
        self._clock = clock
        self._key = hmac_key
        self._chain_key = chain_key
        # Copying a keyed HMAC is cheaper than keying one per append.
        self._chain_mac = hmac.new(chain_key, digestmod=hashlib.sha256)
        self._checkpoint_key = checkpoint_key
        self._redactor = redactor
        self._durable = durable
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._lines: list[str] = []
        self._path = Path(path) if path is not None else None
        self._fd: int | None = None
        self._size = 0
        self._broken = False
        if self._path is not None:
            self._open(self._path)

    # -- file handling

    def _open(self, path: Path) -> None:
        existed = path.exists()
        text = path.read_bytes() if existed else b""
        for record in _verify_records(_split_text(text), None, self._chain_key):
            self._lines.append(canonical_json(record))
            self._events.append(_event_from_record(record))
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._fd = fd
        self._size = os.fstat(fd).st_size
        self._finalizer = weakref.finalize(self, os.close, fd)
        if self._size != len(text):
            self.close()
            raise AuditError("log file changed while it was being opened")
        if not existed and self._durable and os.name == "posix":
            _fsync_dir(path.parent)

    def _write(self, data: bytes) -> None:
        """Write one whole line at the end of the file, durably, or raise and write nothing."""
        assert self._fd is not None
        if os.fstat(self._fd).st_size != self._size:
            self._broken = True
            raise AuditError("log file changed underneath this writer; refusing to append")
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            if self._durable:
                os.fsync(self._fd)
        except OSError as exc:
            self._undo_partial_write(exc)
        self._size += len(data)

    def _undo_partial_write(self, exc: OSError) -> None:
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, self._size)
        except OSError:
            self._broken = True  # the tail may be torn: never append after it
        raise AuditError(f"could not write the access log ({exc.strerror}); "
                         "the record was not logged") from None

    def close(self) -> None:
        """Close the file (an in-memory log just stops accepting appends)."""
        if self._fd is not None:
            self._finalizer()
        self._fd = None
        self._broken = True

    def __enter__(self) -> AccessLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def path(self) -> Path | None:
        return self._path

    # -- appending

    def fingerprint(self, value: str | Secret) -> str:
        """``hmac:<16 hex>`` for ``value``: the only form a secret ever takes in this log.

        An investigator holding a leaked value asks "did this credential
        appear?" with :meth:`appearances`, without the log holding it.
        """
        return _fingerprint(self._key, value)

    def append(
        self,
        event: str,
        *,
        tenant: str | None = None,
        user: str | None = None,
        agent: str | None = None,
        session: str | None = None,
        task: str | None = None,
        tool: str | None = None,
        scopes: Iterable[str] = (),
        jti: str | None = None,
        expires: int | None = None,
        decision: Literal["allow", "deny"] | None = None,
        reason: str = "",
        detail: str = "",
        facts: Mapping[str, object] | None = None,
        secret_fields: Mapping[str, str | Secret] | None = None,
    ) -> Event:
        """Record one event at the clock's time; return it exactly as written.

        ``secret_fields`` maps a fact name to a secret (a credential, a raw
        token): it is recorded as that fact with value ``hmac:<16 hex>``, and any
        copy of the value elsewhere in the record is replaced the same way.
        The redactor, if any, then runs over every other string the caller
        gave (identity fields, scopes, reason, detail, fact names and values),
        not over the event name (a validated code) or the fingerprints.
        When this returns, the line is on disk (fsynced if ``durable``).

        Raises:
            TypeError: a field has the wrong type (a ``Secret`` anywhere but
                ``secret_fields``, a non-int ``expires``, ...).
            AuditError: the record breaks a rule of the log (unknown decision,
                an ``issue`` without ``jti``/``expires``, a ``revoke`` without
                its convention, a fact name given twice), the redactor failed,
                the log is closed, or the write failed (then nothing was logged).
        """
        ids = {"tenant": tenant, "user": user, "agent": agent, "session": session,
               "task": task, "tool": tool, "jti": jti}
        for name, value in ids.items():
            _check_opt_str(name, value)
        scope_tuple = _scope_tuple(scopes)
        fact_map = _fact_map(facts)
        _check_semantics(event, ids, expires, decision, reason, detail)
        secret_map = _secret_map(secret_fields)
        secrets_ = {name: self.fingerprint(value) for name, value in secret_map.items()}
        clash = sorted(set(secrets_) & set(fact_map))
        if clash:
            raise AuditError(f"fact {clash[0]!r} given both as a fact and as a secret field")
        clear = sorted(set(secret_map.values()), key=len, reverse=True)

        def clean(text: str) -> str:
            for value in clear:  # longest first, so a secret inside another is not half-replaced
                text = text.replace(value, self.fingerprint(value))
            return self._redact(text)

        ids = {k: (clean(v) if v is not None else None) for k, v in ids.items()}
        fact_pairs = {clean(k): clean(v) for k, v in fact_map.items()}
        fact_pairs.update(secrets_)
        if len(fact_pairs) != len(fact_map) + len(secrets_):
            raise AuditError("two facts have the same name after redaction")
        return self._commit(
            event=event, **ids, scopes=tuple(clean(s) for s in scope_tuple), expires=expires,
            decision=decision, reason=clean(reason), detail=clean(detail),
            facts=tuple(sorted(fact_pairs.items())),
        )

    def _redact(self, text: str) -> str:
        if self._redactor is None:
            return text
        try:
            out = self._redactor.redact(text)
        except Exception as exc:  # its message may quote the text: keep only the type
            raise AuditError(f"redactor raised {type(exc).__name__}") from None
        if not isinstance(out, str):
            raise AuditError("redactor must return a str")
        return out

    def _commit(self, **fields: Any) -> Event:
        with self._lock:
            if self._broken:
                raise AuditError("this access log is closed or failed; open it again")
            draft = Event(seq=len(self._events) + 1, time=int(self._clock.now()),
                          prev=self.head(), **fields)
            body_json = canonical_json(_record_body(draft))
            digest = hashlib.sha256((draft.prev + body_json).encode("ascii")).hexdigest()
            keyed = self._chain_mac.copy()
            keyed.update(digest.encode("ascii"))
            mac = keyed.hexdigest()
            line = _seal(body_json, digest, mac)
            if self._fd is not None:
                self._write(line.encode("ascii") + b"\n")
            # The draft was made here and is seen by nobody yet: sealing hash and mac in place
            # saves rebuilding the whole frozen record (dataclasses.replace) on every append.
            object.__setattr__(draft, "hash", digest)
            object.__setattr__(draft, "mac", mac)
            self._events.append(draft)
            self._lines.append(line)
            return draft

    # -- anchoring

    def checkpoint(self) -> Checkpoint:
        """Sign ``(count, head, time)`` now with the checkpoint key; publish the result.

        Cheap enough to call after every batch (one Ed25519 signature), too
        slow for every append, which is why each line carries a MAC instead.
        Signing does not change the log.

        Raises:
            CheckpointKeyMissingError: the log was built without ``checkpoint_key``.
        """
        if self._checkpoint_key is None:
            raise CheckpointKeyMissingError("this access log has no checkpoint_key; "
                                            "it cannot sign a checkpoint")
        with self._lock:
            count, head = len(self._events), self.head()
        unsigned = Checkpoint(count=count, head=head, time=int(self._clock.now()), signature="")
        signature = self._checkpoint_key.sign(unsigned.signed_bytes()).hex()
        return Checkpoint(count=count, head=head, time=unsigned.time, signature=signature)

    @property
    def checkpoint_public_key(self) -> Ed25519PublicKey | None:
        """What a verifier needs for :func:`verify_checkpoint` (``None`` without a checkpoint key)."""
        return None if self._checkpoint_key is None else self._checkpoint_key.public_key()

    # -- reading

    def head(self) -> str:
        """The last line's hash (``GENESIS`` when empty): publish it elsewhere to anchor the log.

        A bare head proves only as much as the place it is published; a signed
        :meth:`checkpoint` can be checked by anyone with the public key.
        """
        return self._events[-1].hash if self._events else GENESIS

    def events(self) -> tuple[Event, ...]:
        return tuple(self._events)

    def lines(self) -> tuple[str, ...]:
        """The exact JSON lines, without newlines, as :func:`verify_chain` takes them."""
        return tuple(self._lines)

    def __len__(self) -> int:
        return len(self._events)

    def __repr__(self) -> str:
        return f"AccessLog(events={len(self._events)}, head={self.head()[:12]!r})"

    # -- queries

    def by_session(self, session: str) -> tuple[Event, ...]:
        """Every event of one session, in log order."""
        return tuple(e for e in self._events if e.session == session)

    def calls_by_token(self, jti: str) -> tuple[Event, ...]:
        """Every ``tool_call`` made (or attempted) with token ``jti``."""
        return tuple(e for e in self._events if e.event == "tool_call" and e.jti == jti)

    def decisions(self, decision: str | None = None) -> tuple[Event, ...]:
        """``decision`` events, all or only ``"allow"``/``"deny"``.

        Raises:
            ValueError: ``decision`` is not ``None``, ``"allow"`` or ``"deny"``.
        """
        if decision not in (None, *_DECISIONS):
            raise ValueError("decision must be None, 'allow' or 'deny'")
        return tuple(e for e in self._events if e.event == "decision"
                     and (decision is None or e.decision == decision))

    def appearances(self, value: str | Secret) -> tuple[Event, ...]:
        """Events that recorded ``value`` (by fingerprint): "did this credential appear?"."""
        mark = self.fingerprint(value)
        return tuple(e for e, line in zip(self._events, self._lines, strict=True) if mark in line)

    def revocation(self, issued: Event) -> Event | None:
        """The first ``revoke`` event that killed the token of ``issued``, or ``None``."""
        return next((r for r in self._events[issued.seq:] if _revokes(r, issued)), None)

    def live_tokens(self, at: int) -> tuple[Event, ...]:
        """``issue`` events whose token is live at ``at``: issued, not expired, not revoked.

        Live means ``time <= at < expires`` and no revocation (see the module
        docstring) with ``time <= at`` was logged after the issuance.
        """
        live = []
        for e in self._events:
            if e.event != "issue" or e.expires is None or not e.time <= at < e.expires:
                continue
            revoked = self.revocation(e)
            if revoked is None or revoked.time > at:
                live.append(e)
        return tuple(live)

    def incident_summary(self, session: str, *, at: int | None = None) -> dict[str, Any]:
        """What an on-call engineer asks about one session, as plain data.

        Who (tenants, agents, users, tools), when (first/last seen), what was
        issued, used, denied and revoked, which tokens are still live at ``at``
        (default: now), and the red flags: allowed tool calls made with a token
        after it was revoked or had expired.
        """
        at = self._clock.now() if at is None else at
        events = self.by_session(session)
        issued = [e for e in events if e.event == "issue"]
        revoked = {e.jti: self.revocation(e) for e in issued}
        expiry = {e.jti: e.expires for e in issued}
        calls = [e for e in events if e.event == "tool_call"]
        # An allowed call logged after the revocation (by seq), or at/after expiry, is a red flag.
        live = {e.seq for e in self.live_tokens(at)}
        return {
            "session": session,
            "tenants": _distinct(e.tenant for e in events),
            "agents": _distinct(e.agent for e in events),
            "users": _distinct(e.user for e in events),
            "tools": _distinct(e.tool for e in events),
            "first_seen": events[0].time if events else None,
            "last_seen": events[-1].time if events else None,
            "events": len(events),
            "issued": [_brief(e, "jti", "tool", "scopes", "expires") for e in issued],
            "used": [_brief(e, "jti", "tool", "decision", "reason") for e in calls],
            "denied": [_brief(e, "event", "tool", "reason", "detail")
                       for e in events if e.decision == "deny"],
            "revocations": [_brief(r, "reason", "detail") for r in self._events
                            if any(_revokes(r, e) for e in issued)],
            "revoked_tokens": sorted(j for j, t in revoked.items() if j and t is not None),
            "live_at": at,
            "live_tokens": sorted(e.jti or "" for e in issued if e.seq in live),
            "used_after_revocation": [e.seq for e in calls if e.decision != "deny"
                                      and _after(revoked.get(e.jti), e.seq)],
            "used_after_expiry": [e.seq for e in calls if e.decision != "deny"
                                  and _expired(expiry.get(e.jti), e.time)],
        }


# ----------------------------------------------------------------------------- helpers


def _fsync_dir(directory: Path) -> None:
    # A new file's name is durable only once its directory entry is.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _scope_tuple(scopes: Iterable[str]) -> tuple[str, ...]:
    if isinstance(scopes, str):
        raise TypeError("scopes must be an iterable of str, not one str")
    out = tuple(scopes)
    if not all(isinstance(s, str) for s in out):
        raise TypeError("every scope must be a str")
    return out


def _fact_map(facts: Mapping[str, object] | None) -> dict[str, str]:
    if facts is None:
        return {}
    if not isinstance(facts, Mapping):
        raise TypeError("facts must be a mapping of name -> value")
    out = {}
    for name, value in facts.items():
        if not isinstance(name, str):
            raise TypeError("fact names must be str")
        out[name] = _fact_value(name, value)
    return out


def _secret_map(secret_fields: Mapping[str, str | Secret] | None) -> dict[str, str]:
    """name -> the clear value, only ever used to fingerprint and to scrub copies."""
    if secret_fields is None:
        return {}
    if not isinstance(secret_fields, Mapping):
        raise TypeError("secret_fields must be a mapping of name -> secret")
    out = {}
    for name, value in secret_fields.items():
        text = value.reveal() if isinstance(value, Secret) else value
        if not isinstance(name, str) or not isinstance(text, str) or not text:
            raise TypeError("secret_fields maps a str name to a non-empty str or Secret")
        out[name] = text
    return out


def _check_semantics(event: object, ids: Mapping[str, str | None], expires: object,
                     decision: object, reason: object, detail: object) -> None:
    if not (isinstance(event, str) and _EVENT_NAME.fullmatch(event)):
        raise AuditError("event must be a lower-case name such as 'issue' or 'tool_call'")
    if not (isinstance(reason, str) and isinstance(detail, str)):
        raise TypeError("reason and detail must be str")
    if not (expires is None or _is_int(expires)):
        raise TypeError("expires must be an int or None")
    if decision not in (None, *_DECISIONS):
        raise AuditError("decision must be 'allow', 'deny' or None")
    if event == "decision" and decision is None:
        raise AuditError("a decision event must say allow or deny")
    if event == "issue" and (not ids["jti"] or expires is None):
        raise AuditError("an issue event must carry jti and expires")
    if event == "revoke":
        if reason not in REVOKE_REASONS:
            raise AuditError(f"a revoke event's reason must be one of {sorted(REVOKE_REASONS)}")
        field = REVOKE_REASONS[reason]
        if field is not None and not ids[field]:
            raise AuditError(f"a {reason} event must set {field}")


def _revokes(revoke: Event, issued: Event) -> bool:
    """Whether ``revoke`` kills the token of ``issued`` (issued before it)."""
    if revoke.event != "revoke" or revoke.seq <= issued.seq or issued.event != "issue":
        return False
    if revoke.reason not in REVOKE_REASONS:
        return False
    field = REVOKE_REASONS[revoke.reason]
    if field is None:
        return True
    if not getattr(revoke, field) or getattr(revoke, field) != getattr(issued, field):
        return False
    return revoke.tenant is None or revoke.tenant == issued.tenant


def _distinct(values: Iterable[str | None]) -> list[str]:
    return sorted({v for v in values if v is not None})


def _brief(event: Event, *names: str) -> dict[str, Any]:
    out: dict[str, Any] = {"seq": event.seq, "time": event.time}
    for name in names:
        value = getattr(event, name)
        out[name] = list(value) if isinstance(value, tuple) else value
    return out


def _after(revoke: Event | None, seq: int) -> bool:
    return revoke is not None and seq > revoke.seq


def _expired(expires: int | None, when: int) -> bool:
    return expires is not None and when >= expires
