"""Redaction: secrets out of everything that leaves the broker or enters a log.

A secret rarely leaks as itself. It leaks base64'd inside an
``Authorization: Basic`` header, hex-dumped in a debug line, percent-encoded
in a query string, JSON-escaped in a response body, or with only some of its
characters escaped by a hostile upstream that echoes it back
(``%73k_l%69ve_...``, ``"\\u0073k_live_..."``). So a :class:`Redactor`
looks for every *encoded form* of every secret it was given
(:func:`encoded_forms`) and every mix of escapes of it, plus the *shapes* of
well-known credentials it was never given (:data:`DEFAULT_SHAPES`:
Stripe-style ``sk_live_`` keys, AWS access key ids, GitHub tokens, JWTs, PEM
private keys, bearer tokens), and replaces each with ``[REDACTED:<name>]``.

What it proves, and how:

* **Escapes per character, not per spelling.** A secret of n characters has
  about 3^n spellings with some characters percent- or ``\\u``-escaped, too
  many to list. So the raw, url and json forms are one *flexible* alternative
  per secret (:func:`_char_options`): each character matches itself, or its
  UTF-8 bytes as ``%xx``, or its UTF-16 code units as ``\\uXXXX``, hex in any
  case (``+`` for a space too, as in query strings). A second one, for
  secrets with a character JSON escapes (``"``, ``\\``, ``/``, controls), takes
  each character's JSON spelling (``\\"``, ``\\\\``, ``\\/``, ``\\n``) instead of
  the literal. Base64 and hex forms stay literal alternatives.
* **One regex, built once.** All alternatives of all secrets and all shapes
  are compiled into a single alternation when the :class:`Redactor` is built
  (about 15 ms for 10 secrets and the default shapes: build one per set of
  secrets and keep it, as the broker does per tenant), so
  :meth:`Redactor.redact` is one left-to-right pass of the C regex engine,
  with no per-call setup. Every alternative opens with a literal or a
  character set and has no capturing group, so the engine rejects it at a
  position in one test; which secret matched is worked out afterwards from the
  matched text.
* **Clean text is cheap.** Most text holds no secret. Before the regex runs,
  a prefilter does one C substring search per literal form (and per shape
  hint), and looks for each secret in the text with its ``%xx``, ``\\uXXXX``
  and relevant JSON escapes decoded (a superset test: see
  :meth:`Redactor._may_match` for why it cannot miss); if nothing is found the
  text is returned as is. Measured on this machine (2 cores, 10 secrets,
  default shapes, ``timeit`` on 4 KiB): clean prose about 0.06 ms, clean
  JSON full of escapes about 0.11 ms; text that does hold a secret, in any
  spelling, costs the full regex, about 0.75-0.9 ms.
* **Longest match first.** At any position the longest form wins (literals
  are ordered by length, a flexible alternative by its secret's length),
  known secrets win over shapes, and between positions the leftmost match
  wins. Matches never overlap.
* **Exact about names.** :meth:`Redactor.find` reports which secret and which
  form (:data:`ESCAPED_FORM` for a mix of escapes), with offsets, and never
  the value: it is the leak detector of notebook 01.
* **Streams are safe.** :meth:`Redactor.stream` holds back the last
  ``max_match_length - 1`` characters, so a secret split across chunks (even
  inside a ``%xx`` or ``\\uXXXX``) is still caught. A flexible spelling can be
  six characters per character (``\\u0073``; twelve for a surrogate pair), so
  ``max_match_length`` is at least 6 x the longest secret. Invariant:
  ``"".join(s.feed(c) for c in chunks) + s.close() ==
  redactor.redact("".join(chunks))`` for every way of chunking.

Known limits (each is deliberate and documented here rather than hidden):

* Text is matched as Python ``str``; bytes are read as UTF-8
  (:meth:`Redactor.redact_bytes`), so a secret stored in another encoding is
  only caught through its ASCII-safe forms.
* Escapes are caught one level deep: a secret percent-escaped *and then*
  base64'd or hex'd, or escaped twice (``%2573``, ``\\u002573``), is not.
* If two matches would overlap, the leftmost wins and the later one loses the
  part the first one covered; the rest of it is still redacted only if a form
  of it remains whole.
* A secret that can be spelled with the marker's own characters (one
  containing ``[REDACTED:`` or ``]``, for instance) can reappear across a
  marker's edge. No occurrence is ever left *within* the original text.
* Shapes are bounded (see :class:`Shape`) so that streams can be exact: a PEM
  block longer than 8 KiB is caught only in its first 8 KiB.
* A secret holding ``%`` or ``\\`` turns the prefilter off for any text with
  a ``%`` or ``\\`` in it (still correct, only slower).

What no redactor can catch, because the text no longer holds the secret in
any spelling a pattern can name (tests pin these as known misses):

* a secret split across two responses (each half alone is innocent text),
* the secret reversed, ROT13'd, encrypted or XORed with anything,
* one character per line with filler between them, or spelled out in words,
* a summary or paraphrase ("it starts with sk_live and ends in 9f").

Redaction is the last line, not the defence: the broker keeps the secret out
of the agent's hands in the first place, and only that holds against these.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

from cryptography.exceptions import InvalidTag

from .errors import ConfigurationError, SecretStoreError
from .secretstore import Secret

__all__ = [
    "DEFAULT_SHAPES",
    "ESCAPED_FORM",
    "FORM_NAMES",
    "MIN_CORE_LENGTH",
    "Finding",
    "Redactor",
    "Shape",
    "StreamRedactor",
    "contains_secret",
    "encoded_forms",
    "marker",
]

#: Every form name :func:`encoded_forms` can return, in the order it returns them.
FORM_NAMES: tuple[str, ...] = (
    "raw",
    "base64",
    "base64-nopad",
    "base64url",
    "base64url-nopad",
    "base64-offset-0",
    "base64-offset-1",
    "base64-offset-2",
    "base64url-offset-0",
    "base64url-offset-1",
    "base64url-offset-2",
    "hex",
    "hex-upper",
    "url",
    "url-path",
    "url-plus",
    "json",
)

#: Alignment-shifted base64 cores shorter than this are dropped: a 4-character
#: core would match innocent text everywhere.
MIN_CORE_LENGTH = 8

# Characters of original text kept in front of a stream's pending buffer, so a
# shape's lookbehind (at most 7 characters: "bearer ") sees across chunk edges.
_STREAM_CONTEXT = 32

#: The form :meth:`Redactor.find` reports for a spelling of a secret that is none of
#: :func:`encoded_forms` exactly but mixes its characters with their escapes (``%73k_l%69ve``,
#: ``\u0073k_live``, some characters of a JSON string ``\u``-escaped, ...).
ESCAPED_FORM = "escaped"

_HEX_FORMS = frozenset({"hex", "hex-upper"})
# The forms a flexible alternative (one character at a time, see _char_options) covers.
_FLEX_FORMS = frozenset({"raw", "url", "url-path", "url-plus", "json"})
_HEXCHARS = re.compile(r"[0-9A-Fa-f]+")
_HEXDIGITS = frozenset("0123456789abcdefABCDEF")
# The escapes a flexible spelling decodes from: a run of %xx (UTF-8 bytes, read together),
# \uXXXX, and the JSON short escapes but \\ (see _unescaped).
# No groups: then every branch opens with a literal and the engine searches for "%" or
# "\\" at C speed instead of trying the branches at every position.
_ESCAPES = r"%[0-9A-Fa-f]{2}(?:%[0-9A-Fa-f]{2})*|\\u[0-9A-Fa-f]{4}"
_SHORT_ESCAPES = {'"': '"', "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_ESCAPE_CASE = re.compile(r"%[0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4}")
_SURROGATE = re.compile("[\ud800-\udfff]")


def marker(name: str) -> str:
    """The text that replaces a redacted match: ``[REDACTED:<name>]``."""
    return f"[REDACTED:{name}]"


def _b64_cores(data: bytes, encode: Any, prefix: str) -> list[tuple[str, str]]:
    """Base64 text of ``data`` that does not depend on what surrounds it.

    Base64 turns 3 bytes into 4 characters, so the encoding of a secret in the
    middle of a longer message depends on where it starts modulo 3. For each
    alignment ``k`` we encode ``k`` filler bytes + ``data`` and keep only the
    characters whose 6 bits all come from ``data``: characters
    ``ceil(8k/6)`` up to ``floor(8(k+n)/6)``. One of the three cores occurs in
    the base64 of *any* message that contains ``data``, whatever precedes or
    follows it (a ``Basic`` header, a base64'd JSON blob, a JWT payload).
    """
    cores = []
    n = len(data)
    for k in range(3):
        encoded = encode(b"\0" * k + data).decode("ascii")
        core = encoded[(8 * k + 5) // 6 : (8 * (k + n)) // 6]
        if len(core) >= MIN_CORE_LENGTH:
            cores.append((f"{prefix}-offset-{k}", core))
    return cores


def encoded_forms(value: str) -> tuple[tuple[str, str], ...]:
    """Every realistic spelling of ``value`` in text: ``(form name, encoded text)`` pairs.

    Forms, in :data:`FORM_NAMES` order: ``raw``; ``base64`` (padded) and
    ``base64-nopad``; ``base64url`` and ``base64url-nopad``; the
    alignment-shifted cores ``base64-offset-{0,1,2}`` and
    ``base64url-offset-{0,1,2}`` that catch the value base64'd *inside* a longer
    message (see :func:`_b64_cores`; cores shorter than :data:`MIN_CORE_LENGTH`
    are left out); ``hex`` and ``hex-upper``; ``url`` (``quote``, nothing safe),
    ``url-path`` (``quote``, ``/`` kept) and ``url-plus`` (``quote_plus``);
    ``json`` (``json.dumps`` without the quotes). Bytes are UTF-8.

    A form whose text equals an earlier form's text is left out, so each text
    appears once, under the first name in that order (a value whose base64 has
    no ``+`` or ``/`` has no separate ``base64url``).

    Raises:
        TypeError: ``value`` is not a ``str``.
        ValueError: ``value`` is empty (nothing to look for).
    """
    if not isinstance(value, str):
        raise TypeError(f"encoded_forms needs a str, not {type(value).__name__}")
    if not value:
        raise ValueError("encoded_forms needs a non-empty value")
    data = value.encode("utf-8", "surrogatepass")
    std = base64.b64encode(data).decode("ascii")
    url = base64.urlsafe_b64encode(data).decode("ascii")
    candidates = [
        ("raw", value),
        ("base64", std),
        ("base64-nopad", std.rstrip("=")),
        ("base64url", url),
        ("base64url-nopad", url.rstrip("=")),
        *_b64_cores(data, base64.b64encode, "base64"),
        *_b64_cores(data, base64.urlsafe_b64encode, "base64url"),
        ("hex", data.hex()),
        ("hex-upper", data.hex().upper()),
        ("url", urllib.parse.quote(data, safe="")),
        ("url-path", urllib.parse.quote(data)),
        ("url-plus", urllib.parse.quote_plus(data, safe="")),
        ("json", json.dumps(value)[1:-1]),
    ]
    seen: set[str] = set()
    forms = []
    for name, text in candidates:
        if text and text not in seen:
            seen.add(text)
            forms.append((name, text))
    return tuple(forms)


@dataclass(frozen=True, slots=True, kw_only=True)
class Shape:
    """A well-known credential format, caught even when nobody told the redactor its value.

    ``pattern`` is a regular expression without capturing groups (use
    ``(?:...)``) and with lookbehinds of at most 32 characters. ``max_length``
    bounds the longest text it can match, lookaheads included: a stream must
    know how much to hold back, so every quantifier in ``pattern`` is bounded.
    (The redactor adds one character of margin, so a forgotten trailing ``\b``
    or one-character lookahead is still safe.)

    ``hints`` is optional and only about speed: literal strings (case
    sensitive), one of which occurs in every match or in its lookbehind. Text
    holding none of them skips this shape's regex entirely. A wrong hint hides
    real matches, so leave it empty when unsure.
    """

    name: str
    pattern: str
    max_length: int
    hints: tuple[str, ...] = ()


#: The shapes a :class:`Redactor` looks for by default, most specific first.
#: Each starts with a literal and checks its left edge with a lookbehind *after* it:
#: a branch that opens with a literal is skipped by the regex engine in one
#: comparison, one that opens with an assertion is entered at every position.
DEFAULT_SHAPES: tuple[Shape, ...] = (
    Shape(
        name="pem-private-key",
        pattern=(
            r"-----BEGIN (?:[A-Z0-9]{1,16} ){0,3}PRIVATE KEY-----"
            r"(?:[\s\S]{0,8192}?-----END (?:[A-Z0-9]{1,16} ){0,3}PRIVATE KEY-----"
            r"|[A-Za-z0-9+/=\s]{0,8192})"
        ),
        max_length=11 + 51 + 16 + 8192 + 9 + 51 + 16,
        hints=("-----BEGIN ",),
    ),
    Shape(
        name="jwt",
        # Header and payload are base64url JSON objects, so both start "eyJ".
        pattern=r"eyJ[A-Za-z0-9_-]{1,1021}\.eyJ[A-Za-z0-9_-]{1,4093}\.[A-Za-z0-9_-]{0,1024}",
        max_length=1024 + 1 + 4096 + 1 + 1024,
        hints=(".eyJ",),
    ),
    Shape(
        name="github-token",
        pattern=(
            r"gh[pousr]_(?<![A-Za-z0-9_]gh[pousr]_)[A-Za-z0-9]{36,251}"
            r"|github_pat_(?<![A-Za-z0-9_]github_pat_)[A-Za-z0-9_]{22,244}"
        ),
        max_length=255,
        hints=("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    Shape(
        name="aws-access-key",
        pattern=r"A[KS]IA(?<![A-Z0-9]A[KS]IA)[A-Z0-9]{16}(?![A-Z0-9])",
        max_length=21,
        hints=("AKIA", "ASIA"),
    ),
    Shape(
        name="stripe-key",
        pattern=r"[sr]k_(?<![A-Za-z0-9_][sr]k_)(?:live|test)_[A-Za-z0-9]{8,247}",
        max_length=255,
        hints=("sk_live_", "sk_test_", "rk_live_", "rk_test_"),
    ),
    Shape(
        name="ai-api-key",
        pattern=r"sk-(?<![A-Za-z0-9_-]sk-)[A-Za-z0-9_-]{20,253}",
        max_length=256,
        hints=("sk-",),
    ),
    Shape(
        name="bearer-token",
        # Only the token, so "Authorization: Bearer " stays readable; 16+ characters so
        # prose ("Bearer authentication") is left alone.
        pattern=r"(?<=[Bb]earer |BEARER )[A-Za-z0-9._~+/-]{16,4096}={0,2}",
        max_length=4098,
        hints=("Bearer ", "bearer ", "BEARER "),
    ),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """Where a secret (or a credential shape) occurs in a text: never the value itself.

    ``name`` is the secret's name (or the shape's name); ``form`` is one of
    :data:`FORM_NAMES` (``hex-upper`` for hex in capitals), :data:`ESCAPED_FORM`
    (some characters escaped, but not as any of those forms), or ``"shape"``;
    ``text[start:end]`` is the occurrence.
    """

    name: str
    form: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class _Alt:
    """What one alternative of the combined regex stands for (names only, no value)."""

    name: str
    form: str
    marker: str


def _ci_hex(digits: str) -> str:
    """Regex source for hex digits in either case (``6b`` matches ``6b`` and ``6B``)."""
    return "".join(f"[{d}{d.lower()}]" if d.isalpha() else d for d in digits.upper())


def _ci_hex_pattern(text: str) -> str:
    return f"(?i:{text})"


def _char_options(ch: str, *, json_string: bool) -> tuple[list[tuple[str, str]], int]:
    """One character of a secret in each of its spellings: ``(first character, regex source
    of the rest)`` pairs, and the length of the longest spelling.

    Spellings: the character itself (and ``+`` for a space, as in query strings), or, inside
    a JSON string, its JSON spelling instead (``\\"``, ``\\\\``, ``\\n``, ``\\/`` as well as
    ``/``, the character itself otherwise); its UTF-8 bytes percent-escaped; its UTF-16
    code units as ``\\uXXXX`` (a surrogate pair above U+FFFF). Hex digits in either case.
    The spellings of one character start with different characters unless the character is
    ``%`` or ``\\`` itself, so a failed attempt backtracks at most a few characters; they are
    tried longest first.
    """
    data = ch.encode("utf-8", "surrogatepass")
    units = ch.encode("utf-16-be", "surrogatepass")
    percent = "%".join(_ci_hex(f"{b:02X}") for b in data)
    escape = r"\\u".join(_ci_hex(units[i : i + 2].hex()) for i in range(0, len(units), 2))
    if json_string:
        literals = {json.dumps(ch, ensure_ascii=False)[1:-1], *(("\\/",) if ch == "/" else ())}
        literals = {s for s in literals if not s.startswith("\\u")}  # the escape covers these
    else:
        literals = {ch, *(("+",) if ch == " " else ())}
    # Longest first, so that where a literal "\\" or "%" starts an escape of the same
    # character the match takes the escape whole instead of leaving its tail behind.
    spelled = [("\\", "u" + escape, 3 * len(units)), ("%", percent, 3 * len(data))]
    spelled += [(s[0], re.escape(s[1:]), len(s)) for s in sorted(literals)]
    spelled.sort(key=lambda option: -option[2])
    return [(first, rest) for first, rest, _ in spelled], spelled[0][2]


def _flexible_pattern(value: str, *, json_string: bool) -> tuple[str, int]:
    """Every character of ``value`` in any of its spellings (:func:`_char_options`), in order.

    The first character is written ``[firsts](?:(?<=f)rest|...)``: an alternative that
    opens with a character set is skipped by the regex engine in one test, like one that
    opens with a literal, so text that cannot start the secret costs almost nothing.
    """
    parts = [_char_options(ch, json_string=json_string) for ch in value]
    (first, _), *rest = parts
    firsts = "".join(sorted({re.escape(f) for f, _ in first}))
    head = f"[{firsts}](?:" + "|".join(f"(?<={re.escape(f)}){r}" for f, r in first) + ")"
    tail = ("(?:" + "|".join(re.escape(f) + r for f, r in options) + ")" for options, _ in rest)
    return head + "".join(tail), sum(longest for _, longest in parts)


def _needs_json_spelling(value: str) -> bool:
    """True when some character of ``value`` is spelled differently inside a JSON string."""
    return any(ch == "/" or json.dumps(ch, ensure_ascii=False)[1:-1] != ch for ch in value)


def _escape_case(text: str) -> str:
    """Percent-escapes upper-cased and ``\\u`` escapes lower-cased, as the canonical forms are."""
    return _ESCAPE_CASE.sub(
        lambda m: m.group().upper() if m.group()[0] == "%" else m.group().lower(), text
    )


def _unescape(match: re.Match[str]) -> str:
    text = match.group()
    if text[0] == "%":
        return bytes.fromhex(text.replace("%", "")).decode("utf-8", "surrogateescape")
    if text[1] == "u":
        return chr(int(text[2:], 16))
    return _SHORT_ESCAPES[text[1]]


def _unescaper(shorts: Iterable[str]) -> re.Pattern[str]:
    """The escapes :func:`_unescaped` decodes: every ``%xx`` run and ``\\uXXXX``, and the JSON
    short escapes of ``shorts`` (letters of ``"/bfnrt``): only those that can stand for a
    character of some secret matter, and most JSON is full of ``\\"`` and ``\\n``."""
    letters = "".join(sorted(set(shorts)))
    return re.compile(_ESCAPES + (f"|\\\\[{re.escape(letters)}]" if letters else ""))


def _unescaped(text: str, escapes: re.Pattern[str], *, pairs: bool) -> str:
    """``text`` with every escape ``escapes`` finds decoded (see :func:`_unescaper`).

    Those escapes never overlap one another (none of them contains ``%`` or ``\\`` after its
    first character), so the decoding is unique; ``\\\\`` is never decoded because it would
    make ``\\\\u0073`` ambiguous. ``pairs`` joins surrogate pairs into one character.
    """
    decoded = escapes.sub(_unescape, text)
    if pairs:
        decoded = decoded.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return decoded


def _absorbable_prefix(value: str) -> int:
    """How many leading characters of ``value`` could be the tail of an escape that starts
    before it (``%4`` + ``1..``, ``\\u00`` + ``73..``, ``\\`` + ``n..``): decoding the text
    then swallows them, so the prefilter looks for the value without them."""
    n = 0
    while n < min(4, len(value)) and value[n] in _HEXDIGITS:
        n += 1
    if value[:1] == "u" and len(value) >= 5 and all(ch in _HEXDIGITS for ch in value[1:5]):
        n = 5
    if value[:1] in ('"', "/", "b", "f", "n", "r", "t"):
        n = max(n, 1)
    return n


# (regex source, alternative, lookup kind, lookup key, longest match, canonical forms)
_Entry = tuple[str, _Alt, str, str, int, dict[str, str]]


def _alternatives(secrets: list[Secret]) -> list[_Entry]:
    """Every alternative of the combined regex, best first.

    Lookup kinds: ``exact`` (base64 forms: the matched text itself), ``hex``
    (lower-cased, matched in any case) and ``flex`` (the secret with every character in
    any spelling, see :func:`_char_options`; one for plain text, and one for JSON strings
    when the secret has characters JSON escapes; the key is the value, for the
    prefilter). A flexible alternative covers the ``raw``, ``url``, ``url-path``,
    ``url-plus`` and ``json`` forms and every mix of them with escapes; its canonical
    forms (escape case normalised, see :func:`_escape_case`) name what it matched.
    Rank: longest first (a flexible alternative counts its secret's length), then the
    earlier secret (by name), then the JSON spelling, the plain one and the literal forms
    in :data:`FORM_NAMES` order; a key already taken is not added twice.
    """
    ranked: list[tuple[tuple[int, int, int], tuple[Any, ...]]] = []
    taken: set[tuple[str, str]] = set()
    for si, secret in enumerate(secrets):
        value = secret.reveal()
        forms = encoded_forms(value)
        canonical: dict[str, str] = {}
        for form, text in forms:
            if form in _FLEX_FORMS:
                canonical.setdefault(_escape_case(text), form)
        alt = _Alt(secret.name, ESCAPED_FORM, marker(secret.name))
        # The JSON spelling first: where it matches, its escapes ("\\\\" for "\\") are longer
        # than the plain spelling's, which would stop halfway and leave a stray "\\" behind.
        spellings = [*((("json", True),) if _needs_json_spelling(value) else ()), ("raw", False)]
        for order, (form, json_string) in enumerate(spellings):
            if ("flex" + form, value) in taken:
                continue
            taken.add(("flex" + form, value))
            source, longest = _flexible_pattern(value, json_string=json_string)
            rank = (-len(value), si, order - len(spellings))  # before the secret's literal forms
            ranked.append((rank, (source, alt, "flex", value, longest, canonical)))
        for fi, (form, text) in enumerate(forms):
            if form in _FLEX_FORMS or form == "hex-upper":
                continue  # flexible alternatives cover these; hex is case-insensitive
            kind = "hex" if form in _HEX_FORMS else "exact"
            if (kind, text) in taken:
                continue
            taken.add((kind, text))
            source = _ci_hex_pattern(text) if kind == "hex" else re.escape(text)
            literal: tuple[Any, ...] = (source, _Alt(secret.name, form, marker(secret.name)), kind,
                                        text, len(text), {})
            ranked.append(((-len(text), si, fi), literal))
    ranked.sort(key=lambda item: item[0])
    return [entry for _, entry in ranked]


def _validate_shape(shape: Shape) -> re.Pattern[str]:
    if not isinstance(shape, Shape):
        raise ConfigurationError(f"shapes must be Shape values, not {type(shape).__name__}")
    try:
        compiled = re.compile(shape.pattern)
    except re.error as exc:
        raise ConfigurationError(f"shape {shape.name!r} does not compile: {exc}") from None
    if compiled.groups:
        raise ConfigurationError(f"shape {shape.name!r} has capturing groups; use (?:...)")
    if compiled.fullmatch("") is not None:
        raise ConfigurationError(f"shape {shape.name!r} matches the empty string")
    if not isinstance(shape.max_length, int) or shape.max_length < 1:
        raise ConfigurationError(f"shape {shape.name!r} needs a positive max_length")
    if not isinstance(shape.hints, tuple) or not all(
        isinstance(h, str) and h for h in shape.hints
    ):
        raise ConfigurationError(f"shape {shape.name!r}: hints must be a tuple of non-empty str")
    return compiled


class Redactor:
    """Replaces every encoded form of every given secret, and every known shape, with a marker.

    ``Redactor(secrets, shapes=DEFAULT_SHAPES)``: ``secrets`` are
    :class:`~course.secretstore.Secret` values (their values are read here,
    once, with ``reveal()``); ``shapes=()`` looks for the given secrets only.
    Everything is compiled into one regex at construction. The redactor's
    ``repr`` shows the number and names of its secrets, never a value, and it
    refuses to be pickled.

    Raises:
        TypeError: an item of ``secrets`` is not a ``Secret`` (plain strings are
            refused so values do not travel unwrapped).
        ConfigurationError: a shape is not a valid :class:`Shape`.
    """

    __slots__ = (
        "_alts", "_exact", "_hex", "_flex", "_flex_compiled", "_canonical", "_shapes", "_regex",
        "_stream_regex", "_alternation", "_needles", "_ci_needles", "_flex_needles", "_flex_guarded",
        "_flex_plus", "_flex_pairs", "_unescaper", "_shape_regex", "_max_len", "_names", "_shape_names",
    )

    def __init__(self, secrets: Secret | Iterable[Secret], *,
                 shapes: Iterable[Shape] = DEFAULT_SHAPES):
        if isinstance(secrets, Secret):
            secrets = (secrets,)
        secret_list = list(secrets)
        for item in secret_list:
            if not isinstance(item, Secret):
                raise TypeError(f"Redactor needs Secret values, not {type(item).__name__}")
        # Sorted by name so priorities and the repr do not depend on set order.
        secret_list.sort(key=lambda s: s.name)
        shape_list = list(shapes)
        compiled_shapes = [_validate_shape(s) for s in shape_list]

        self._alts: list[_Alt] = []
        self._exact: dict[str, int] = {}
        self._hex: dict[str, int] = {}
        # Flexible alternatives in rank order: (index, source), compiled alone on first use
        # (only to classify a match; compiling them all up front doubles the build time).
        self._flex: list[tuple[int, str]] = []
        self._flex_compiled: dict[int, re.Pattern[str]] = {}
        self._canonical: dict[int, dict[str, str]] = {}
        flex_values: list[str] = []
        sources = []
        max_len = 0
        for source, alt, kind, key, longest, canonical in _alternatives(secret_list):
            index = len(self._alts)
            if kind == "flex":
                self._flex.append((index, source))
                self._canonical[index] = canonical
                flex_values.append(key)
            else:
                (self._hex if kind == "hex" else self._exact)[key] = index
            self._alts.append(alt)
            sources.append(source)
            max_len = max(max_len, longest)
        self._shapes: list[tuple[re.Pattern[str], _Alt]] = []
        for shape, compiled in zip(shape_list, compiled_shapes, strict=True):
            self._shapes.append((compiled, _Alt(shape.name, "shape", marker(shape.name))))
            sources.append(f"(?:{shape.pattern})")
            # +1: margin for a one-character lookahead (a trailing \b) left out of max_length.
            max_len = max(max_len, shape.max_length + 1)

        self._alternation = "|".join(sources)
        self._regex = re.compile(self._alternation) if sources else None
        self._stream_regex: re.Pattern[str] | None = None  # compiled on first stream()
        # The prefilter: most text holds no secret, and a substring test per form (C speed)
        # plus one scan for shapes proves that far faster than the alternation can.
        # Hex forms are ASCII and matched case-insensitively, so they are looked for in the
        # lower-cased text; base64 forms are looked for exactly; flexible alternatives in the
        # text with its escapes decoded (see _may_match). Shapes with hints are looked for by
        # their hints; the rest are scanned for.
        self._needles = tuple(sorted(
            {*self._exact, *(hint for shape in shape_list for hint in shape.hints)}
        ))
        self._ci_needles = tuple(sorted({text.lower() for text in self._hex}))
        guarded = {v for v in flex_values if "%" in v or "\\" in v or _SURROGATE.search(v)}
        self._flex_guarded = bool(guarded)
        self._flex_plus = any(" " in v for v in flex_values)
        self._flex_pairs = any(ord(ch) > 0xFFFF for v in flex_values for ch in v)
        plain = [v for v in flex_values if v not in guarded]
        self._flex_needles = tuple(sorted({self._project(v[_absorbable_prefix(v):]) for v in plain}))
        chars = {ch for v in plain for ch in v}
        self._unescaper = _unescaper(k for k, ch in _SHORT_ESCAPES.items() if ch in chars)
        unhinted = [shape.pattern for shape in shape_list if not shape.hints]
        self._shape_regex = (
            re.compile("|".join(f"(?:{p})" for p in unhinted)) if unhinted else None
        )
        self._max_len = max_len
        self._names = tuple(s.name for s in secret_list)
        self._shape_names = tuple(s.name for s in shape_list)

    # -- what it is --------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """The names of the secrets it redacts, sorted (never the values)."""
        return self._names

    @property
    def shape_names(self) -> tuple[str, ...]:
        """The names of the credential shapes it redacts, in precedence order."""
        return self._shape_names

    @property
    def max_match_length(self) -> int:
        """The longest text a match can depend on; a stream holds back one less."""
        return self._max_len

    def __repr__(self) -> str:
        return (
            f"Redactor(secrets={len(self._names)}, names={self._names!r}, "
            f"shapes={len(self._shape_names)})"
        )

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError("a Redactor holds secret values and refuses to be pickled")

    # -- matching ----------------------------------------------------------

    def _project(self, text: str) -> str:
        """A space and ``+`` are one character to the prefilter when a secret has a space."""
        return text.replace(" ", "+") if self._flex_plus else text

    def _may_match(self, text: str, start: int = 0) -> bool:
        """False only when no alternative can match at or after ``start`` (a superset test).

        ``lower()`` maps ASCII letters one to one whatever surrounds them, so an
        ASCII needle found case-insensitively in ``text`` is found in ``text.lower()``.

        A flexible alternative spells each character literally or as an escape. Text
        without ``%`` or ``\\`` holds no escape, so the value itself must be in it. Other
        text is decoded (:func:`_unescaped`): every escape of a match is decoded there to
        its character, and every literal character of a match stays, except a literal
        ``%`` or ``\\`` (which may start an escape: secrets holding one are *guarded*, and
        any text with an escape runs the full regex) and up to
        :func:`_absorbable_prefix` leading characters that an escape just before the
        match can swallow (so the needle leaves them out).
        """
        if any(needle in text for needle in self._needles):
            return True
        if self._ci_needles:
            lowered = text.lower()
            if any(needle in lowered for needle in self._ci_needles):
                return True
        if self._flex:
            escaped = "%" in text or "\\" in text
            if escaped and self._flex_guarded:
                return True
            decoded = _unescaped(text, self._unescaper, pairs=self._flex_pairs) if escaped else text
            decoded = self._project(decoded)
            if any(needle in decoded for needle in self._flex_needles):
                return True
        return self._shape_regex is not None and self._shape_regex.search(text, start) is not None

    def _classify(self, match: re.Match[str]) -> _Alt:
        """Which alternative the engine chose: the lowest-indexed one that matches this text
        whole (literals by lookup, flexible ones by trying them in rank order), else the
        first shape that matches here (secrets come before shapes in the alternation)."""
        text = match.group()
        best = self._exact.get(text)
        if self._hex and _HEXCHARS.fullmatch(text):
            i = self._hex.get(text.lower())
            if i is not None and (best is None or i < best):
                best = i
        for i, source in self._flex:
            if best is not None and i > best:
                break
            compiled = self._flex_compiled.get(i)
            if compiled is None:
                compiled = self._flex_compiled[i] = re.compile(source)
            if compiled.fullmatch(text) is not None:
                best = i
                break
        if best is not None:
            alt = self._alts[best]
            if alt.form == "hex" and text.isupper():
                return _Alt(alt.name, "hex-upper", alt.marker)
            if best in self._canonical:
                form = self._canonical[best].get(_escape_case(text), ESCAPED_FORM)
                return _Alt(alt.name, form, alt.marker)
            return alt
        for compiled, alt in self._shapes:
            found = compiled.match(match.string, match.start())
            if found is not None and found.end() == match.end():
                return alt
        raise AssertionError("unclassifiable match")  # pragma: no cover - construction bug

    def _replace(self, match: re.Match[str]) -> str:
        return self._classify(match).marker

    def redact(self, text: str) -> str:
        """``text`` with every form of every secret and every shape replaced by its marker.

        Raises:
            TypeError: ``text`` is not a ``str``.
        """
        if not isinstance(text, str):
            raise TypeError(f"redact needs a str, not {type(text).__name__}")
        if self._regex is None or not self._may_match(text):
            return text
        return self._regex.sub(self._replace, text)

    def redact_bytes(self, data: bytes | bytearray | memoryview) -> bytes:
        """Redact bytes read as UTF-8; bytes that are not UTF-8 pass through unchanged.

        Raises:
            TypeError: ``data`` is not bytes-like.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"redact_bytes needs bytes, not {type(data).__name__}")
        text = bytes(data).decode("utf-8", "surrogateescape")
        return self.redact(text).encode("utf-8", "surrogateescape")

    def redact_obj(self, obj: Any) -> Any:
        """A copy of ``obj`` with every string (and bytes) redacted, dict keys included.

        Recurses through dicts, lists, tuples (named tuples keep their type),
        sets and frozensets; dict subclasses come back as ``dict``. Numbers,
        ``None`` and other objects are returned as they are. If two keys redact
        to the same text, the later one gets a ``#2``-style suffix so nothing
        is lost.

        Raises:
            ValueError: ``obj`` contains itself.
        """
        return self._redact_obj(obj, set())

    def _redact_obj(self, obj: Any, active: set[int]) -> Any:
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, bytes):
            return self.redact_bytes(obj)
        if isinstance(obj, bytearray):
            return bytearray(self.redact_bytes(obj))
        if not isinstance(obj, dict | list | tuple | set | frozenset):
            return obj
        if id(obj) in active:
            raise ValueError("redact_obj: circular reference")
        active.add(id(obj))
        try:
            if isinstance(obj, dict):
                out: dict[Any, Any] = {}
                for key, value in obj.items():
                    new_key = self._redact_obj(key, active)
                    if new_key in out:
                        n = 2
                        while f"{new_key}#{n}" in out:
                            n += 1
                        new_key = f"{new_key}#{n}"
                    out[new_key] = self._redact_obj(value, active)
                return out
            items = [self._redact_obj(item, active) for item in obj]
            if isinstance(obj, tuple) and hasattr(obj, "_fields"):
                return type(obj)(*items)
            return type(obj)(items) if type(obj) in (list, tuple, set, frozenset) else items
        finally:
            active.discard(id(obj))

    def find(self, text: str) -> tuple[Finding, ...]:
        """Every occurrence :meth:`redact` would replace, in order: name, form and offsets.

        Raises:
            TypeError: ``text`` is not a ``str``.
        """
        if not isinstance(text, str):
            raise TypeError(f"find needs a str, not {type(text).__name__}")
        if self._regex is None or not self._may_match(text):
            return ()
        findings = []
        for match in self._regex.finditer(text):
            alt = self._classify(match)
            findings.append(
                Finding(name=alt.name, form=alt.form, start=match.start(), end=match.end())
            )
        return tuple(findings)

    def contains(self, text: str) -> bool:
        """True when :meth:`find` would find anything (stops at the first occurrence).

        Raises:
            TypeError: ``text`` is not a ``str``.
        """
        if not isinstance(text, str):
            raise TypeError(f"contains needs a str, not {type(text).__name__}")
        if self._regex is None or not self._may_match(text):
            return False
        return self._regex.search(text) is not None

    def stream(self) -> StreamRedactor:
        """A redactor for text that arrives in chunks (see :class:`StreamRedactor`)."""
        return StreamRedactor(self)

    # -- streams (internal) --------------------------------------------------

    def _drain(self, buf: str, start: int, final: bool) -> tuple[str, int]:
        """Redact ``buf[start:]`` as far as it is decided: (output, index consumed up to).

        A match starting at ``j`` is final once ``buf`` has ``max_len`` characters from
        ``j`` on (the stream regex's lookahead demands exactly that), and a position with
        no match is final under the same condition. So everything before
        ``len(buf) - (max_len - 1)``, and any final match that runs past it, can go out.
        """
        if self._regex is None:
            return buf[start:], len(buf)
        if final:
            regex = self._regex
        elif self._stream_regex is None:
            # Only matches with max_len characters ahead of them are final.
            regex = self._stream_regex = re.compile(
                f"(?s:(?=.{{{self._max_len}}}))(?:{self._alternation})"
            )
        else:
            regex = self._stream_regex
        out = []
        pos = start
        # Streams skip the prefilter until close(): it costs a pass over the whole
        # window per feed, which is what the guarded regex costs anyway.
        matches = regex.finditer(buf, start) if not final or self._may_match(buf, start) else ()
        for match in matches:
            out.append(buf[pos : match.start()])
            out.append(self._classify(match).marker)
            pos = match.end()
        end = len(buf) if final else max(pos, len(buf) - (self._max_len - 1))
        out.append(buf[pos:end])
        return "".join(out), end


class StreamRedactor:
    """Redacts text that arrives in chunks, exactly as if it had arrived whole.

    :meth:`feed` returns what is safe to emit now and keeps the last
    ``max_match_length - 1`` characters back, because a secret split across
    two chunks cannot be recognised until its last character arrives;
    :meth:`close` flushes the rest. Invariant, for every chunking::

        "".join(stream.feed(c) for c in chunks) + stream.close() == redactor.redact(whole)

    With :data:`DEFAULT_SHAPES` the hold-back is about 8 KiB (the PEM shape's
    bound); a redactor built with ``shapes=()`` holds back only its longest
    spelling (about 6 characters per character of its longest secret). Each
    :meth:`feed` rescans the held-back window, so feed chunks of a few KiB
    when throughput matters: tiny chunks into an 8 KiB window cost about
    0.1 ms each. Not thread-safe (one stream per response). Its repr shows
    only how much is pending; it refuses pickling.
    """

    __slots__ = ("_redactor", "_context", "_pending", "_closed")

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._context = ""
        self._pending = ""
        self._closed = False

    def feed(self, chunk: str) -> str:
        """Take the next chunk; return the redacted text that no later chunk can change.

        Raises:
            TypeError: ``chunk`` is not a ``str``.
            ValueError: the stream is closed.
        """
        if self._closed:
            raise ValueError("feed() on a closed StreamRedactor")
        if not isinstance(chunk, str):
            raise TypeError(f"feed needs a str, not {type(chunk).__name__}")
        self._pending += chunk
        if len(self._pending) < self._redactor.max_match_length:
            return ""  # nothing can be decided yet: skip the scan
        return self._drain(final=False)

    def close(self) -> str:
        """Flush: the redacted rest of the text. Closing twice returns ``""``."""
        if self._closed:
            return ""
        self._closed = True
        return self._drain(final=True)

    def _drain(self, *, final: bool) -> str:
        # The context is original text already emitted: lookbehinds need it.
        buf = self._context + self._pending
        start = len(self._context)
        out, end = self._redactor._drain(buf, start, final)
        self._context = buf[max(0, end - _STREAM_CONTEXT) : end]
        self._pending = buf[end:]
        return out

    @property
    def pending(self) -> int:
        """How many characters are held back (the text itself is never shown)."""
        return len(self._pending)

    def __repr__(self) -> str:
        return f"StreamRedactor(pending={len(self._pending)}, closed={self._closed})"

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError("a StreamRedactor may hold part of a secret and refuses to be pickled")


def contains_secret(text: str, secrets: Secret | Iterable[Secret]) -> bool:
    """True when ``text`` holds any encoded form of any of ``secrets`` (shapes not counted).

    Builds a :class:`Redactor` each call: keep one and call
    :meth:`Redactor.contains` when checking many texts.

    Raises:
        TypeError: ``text`` is not a ``str`` or a secret is not a ``Secret``.
    """
    return Redactor(secrets, shapes=()).contains(text)


class StoreRedactor:
    """Redacts every secret of every tenant of a secret store; for logs (defence in depth).

    It recompiles only when the store changes (its ``generation``), and it
    remembers the answers for short strings it has seen (names, codes, ids
    repeat on every log line), so redacting each field of each record stays
    cheap. The memory holds redacted output only, never a secret, and is
    dropped whenever the store changes.

    Secrets are opened one by one, and one that does not open (the store
    raises :class:`~course.errors.SecretStoreError`, ``CorruptSecretError``
    included, or a bare ``ValueError`` or ``InvalidTag``) is skipped, so one
    tenant's corrupted row cannot stop every log write of every tenant. That
    is safe: a secret nobody can open cannot leak from this store, because the
    broker opens it the same way (``store.get``) and fails the same way.
    :attr:`unreadable` lists the skipped ones for an operator (tenant and
    name, never a value). The list is kept until the store changes: a store
    that reports a passing database failure as ``SecretStoreError`` has that
    secret skipped until its next write, and :attr:`unreadable` shows it. Any
    other error propagates: the log write then fails closed rather than run
    without redaction.
    """

    MEMO_LIMIT = 4096
    MEMO_MAX_CHARS = 256
    # What "this secret does not open" looks like; anything else is not ours to swallow.
    _UNREADABLE_ERRORS = (SecretStoreError, ValueError, InvalidTag)

    def __init__(self, store: Any, tenants: Iterable[str]) -> None:
        self._store, self._tenants = store, tuple(tenants)
        self._redactor: Redactor | None = None
        self._generation = -1
        self._memo: dict[str, str] = {}
        self._unreadable: tuple[tuple[str, str], ...] = ()

    def _current(self) -> Redactor:
        if self._redactor is None or self._generation != self._store.generation:
            # Read first: a write while we build bumps it again and we rebuild next time.
            generation = self._store.generation
            secrets: list[Secret] = []
            unreadable: list[tuple[str, str]] = []
            for tenant in self._tenants:
                for name in self._store.names(tenant):
                    try:
                        secrets.append(self._store.get(tenant, name))
                    except self._UNREADABLE_ERRORS:
                        unreadable.append((tenant, name))
            self._redactor, self._generation = Redactor(secrets), generation
            self._unreadable = tuple(unreadable)
            self._memo = {}
        return self._redactor

    @property
    def unreadable(self) -> tuple[tuple[str, str], ...]:
        """``(tenant, name)`` of every secret that did not open, as of the store's current
        generation: skipped, so not redacted (see the class docstring). Never a value."""
        self._current()
        return self._unreadable

    def redact(self, text: str) -> str:
        redactor = self._current()
        if len(text) > self.MEMO_MAX_CHARS:
            return redactor.redact(text)
        done = self._memo.get(text)
        if done is None:
            done = redactor.redact(text)
            if len(self._memo) >= self.MEMO_LIMIT:
                self._memo.clear()
            self._memo[text] = done
        return done

    def __repr__(self) -> str:
        return f"StoreRedactor(tenants={len(self._tenants)}, unreadable={len(self._unreadable)})"

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError("a StoreRedactor refuses to be pickled")
