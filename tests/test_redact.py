"""Redaction: every encoded form of every secret, and every known credential shape, is caught.

Known answers and attack inputs live in tests/data/redaction_cases.json.
"""

from __future__ import annotations

import base64
import codecs
import json
import pickle
import re
import string
import urllib.parse
from collections import namedtuple
from functools import cache
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import given, settings
from hypothesis import strategies as st

from course import redact
from course.errors import ConfigurationError, CorruptSecretError, SecretStoreError
from course.redact import (
    DEFAULT_SHAPES,
    FORM_NAMES,
    Finding,
    Redactor,
    Shape,
    StoreRedactor,
    contains_secret,
    encoded_forms,
    marker,
)
from course.secretstore import Secret, lab_secret

CASES = json.loads((Path(__file__).parent / "data" / "redaction_cases.json").read_text("utf-8"))
FUZZ = settings(max_examples=200, deadline=None, derandomize=True)
PRINTABLE = st.text(alphabet=string.printable, min_size=8, max_size=40)


def _secret(spec: dict) -> Secret:
    if "lab_seed" in spec:
        return lab_secret(spec["lab_seed"], spec["name"], prefix=spec["prefix"])
    return Secret(spec["value"], name=spec["name"])


SECRETS = {spec["name"]: _secret(spec) for spec in CASES["secrets"]}


@cache
def _redactor(*, shapes: bool = True) -> Redactor:
    return Redactor(SECRETS.values(), shapes=DEFAULT_SHAPES if shapes else ())


def _all_forms() -> list[tuple[str, str, str]]:
    """(secret name, form name, encoded text) for every test secret."""
    return [
        (name, form, text)
        for name, secret in SECRETS.items()
        for form, text in encoded_forms(secret.reveal())
    ]


def _form_id(case: tuple[str, str, str]) -> str:
    return f"{case[0]}-{case[1]}"


def _filler(n: int) -> str:
    words = "the agent asked for a ticket and the broker answered politely "
    return (words * (n // len(words) + 1))[:n]


def _naive_redact(text: str, value: str) -> str:
    """What a first attempt looks like: replace the raw value and nothing else."""
    return text.replace(value, "[REDACTED]")


# -- encoded_forms: known answers -------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES["known_forms"]))
def test_encoded_forms_match_independently_computed_known_answers(name):
    forms = dict(encoded_forms(SECRETS[name].reveal()))
    for form, text in CASES["known_forms"][name]:
        assert forms[form] == text, f"form {form} of {name} is wrong"


@pytest.mark.parametrize(
    "case", CASES["known_single_forms"], ids=lambda c: f"{c['form']}-{c['text'][:12]}"
)
def test_encoded_form_known_answer(case):
    assert dict(encoded_forms(case["value"]))[case["form"]] == case["text"]


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_encoded_forms_are_named_ordered_and_distinct(name):
    forms = encoded_forms(SECRETS[name].reveal())
    names = [form for form, _ in forms]
    texts = [text for _, text in forms]
    assert names[0] == "raw"
    assert names == sorted(names, key=FORM_NAMES.index), "forms come in FORM_NAMES order"
    assert len(set(texts)) == len(texts), "each text appears once"
    assert all(text for text in texts)


def test_alignment_cores_cover_every_offset_of_a_longer_message():
    """Whatever precedes the value, one core occurs in the base64 of the whole message."""
    value = "p@ss/w+rd:42?"
    cores = {form: text for form, text in encoded_forms(value) if "offset" in form}
    for k in range(6):
        for tail in ("", "x", "yz", "{}!"):
            encoded = base64.b64encode(("a" * k + value + tail).encode()).decode()
            assert cores[f"base64-offset-{k % 3}"] in encoded


def test_short_values_get_no_uselessly_short_cores():
    forms = dict(encoded_forms("abc"))
    assert not [f for f in forms if "offset" in f]
    assert all(len(t) >= redact.MIN_CORE_LENGTH for f, t in forms.items() if "offset" in f)


@pytest.mark.parametrize("bad", [b"bytes", 42, None])
def test_encoded_forms_refuses_non_text(bad):
    with pytest.raises(TypeError):
        encoded_forms(bad)


def test_encoded_forms_refuses_empty_value():
    with pytest.raises(ValueError):
        encoded_forms("")


# -- redact / find: every form, embeddings, shapes ---------------------------------


@pytest.mark.parametrize("case", _all_forms(), ids=_form_id)
def test_every_encoded_form_is_redacted_and_found_by_name(case):
    name, form, text = case
    line = f"before {text} after"
    out = _redactor().redact(line)
    assert text not in out
    assert out == f"before {marker(name)} after"
    (finding,) = _redactor().find(line)
    assert finding == Finding(name=name, form=form, start=7, end=7 + len(text))


ENCODED_ONLY = [c for c in _all_forms() if SECRETS[c[0]].reveal() not in c[2]]


@pytest.mark.parametrize("case", ENCODED_ONLY, ids=_form_id)
def test_exact_match_redaction_misses_encoded_forms(case):
    """Negative: replacing only the raw value leaves every other form readable."""
    name, form, text = case
    value = SECRETS[name].reveal()
    line = f"log: {text}"
    assert text in _naive_redact(line, value), "naive redaction unexpectedly caught it"
    assert text not in _redactor().redact(line)


def _encode(encoding: str, inner: str) -> str:
    data = inner.encode()
    return {
        "base64": lambda: base64.b64encode(data).decode(),
        "base64url-nopad": lambda: base64.urlsafe_b64encode(data).decode().rstrip("="),
        "hex": lambda: data.hex(),
        "hex-upper": lambda: data.hex().upper(),
        "url-plus": lambda: urllib.parse.quote_plus(inner),
        "url-lower": lambda: re.sub(
            "%[0-9A-F]{2}", lambda m: m.group().lower(), urllib.parse.quote(inner, safe="")
        ),
        "json-object": lambda: json.dumps({"secret": inner, "n": 1}),
        "none": lambda: inner,
    }[encoding]()


@pytest.mark.parametrize("case", CASES["embeddings"], ids=lambda c: c["id"])
def test_secret_embedded_in_realistic_messages_is_caught(case):
    value = SECRETS[case["secret"]].reveal()
    encoded = _encode(case["encoding"], case["inner_before"] + value + case["inner_after"])
    text = case["before"] + encoded + case["after"]
    findings = _redactor().find(text)
    assert [(f.name, f.form) for f in findings] == [(case["secret"], case["form"])]
    out = _redactor().redact(text)
    assert marker(case["secret"]) in out
    assert value not in out
    # What is left of the encoded message no longer decodes to anything holding the value.
    assert value not in _naive_decode_all(out)


def _naive_decode_all(text: str) -> str:
    """Everything an attacker could decode from the output, best effort, concatenated."""
    pieces = [text, urllib.parse.unquote_plus(text)]
    for run in re.findall(r"[A-Za-z0-9+/=_-]{8,}", text):
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                pieces.append(decode(run + "==").decode("utf-8", "replace"))
            except ValueError:
                pass
        try:
            pieces.append(bytes.fromhex(run).decode("utf-8", "replace"))
        except ValueError:
            pass
    return "\n".join(pieces)


@pytest.mark.parametrize("case", CASES["shapes"], ids=lambda c: c["id"])
def test_known_credential_shapes_are_redacted_without_being_told_the_value(case):
    credential = "".join(case["parts"])
    text = case["before"] + credential + case["after"]
    assert _redactor().redact(text) == case["before"] + marker(case["shape"]) + case["after"]
    (finding,) = _redactor().find(text)
    assert (finding.name, finding.form) == (case["shape"], "shape")
    assert text[finding.start : finding.end] == credential


@pytest.mark.parametrize("case", CASES["shapes"], ids=lambda c: c["id"])
def test_shapes_are_off_when_not_asked_for(case):
    text = case["before"] + "".join(case["parts"]) + case["after"]
    assert _redactor(shapes=False).redact(text) == text


@pytest.mark.parametrize("text", CASES["innocent"])
def test_innocent_text_is_unchanged(text):
    assert _redactor().redact(text) == text
    assert _redactor().find(text) == ()
    assert not _redactor().contains(text)


@pytest.mark.parametrize("case", CASES["precedence"], ids=lambda c: c["id"])
def test_a_known_secret_is_named_even_where_a_shape_also_matches(case):
    text = case["text_template"].replace("{secret}", SECRETS[case["secret"]].reveal())
    assert [f.name for f in _redactor().find(text)] == case["expect_names"]


def test_a_token_carrying_a_secret_is_redacted_whole():
    """Leftmost wins: the JWT shape starts first and takes the whole token, secret included."""
    value = SECRETS["pw"].reveal()
    claims = base64.urlsafe_b64encode(json.dumps({"pw": value}).encode()).decode().rstrip("=")
    token = f"eyJhbGciOiJub25lIn0.{claims}.c2ln"
    assert _redactor().redact(f"t={token};") == "t=[REDACTED:jwt];"
    assert [f.name for f in _redactor(shapes=False).find(token)] == ["pw"]


def test_longest_form_wins_at_a_position():
    short = Secret("abcd1234efgh", name="short")
    longer = Secret("abcd1234efgh5678", name="longer")
    red = Redactor([short, longer], shapes=())
    assert red.redact("x abcd1234efgh5678 y") == "x [REDACTED:longer] y"
    assert red.redact("x abcd1234efgh y") == "x [REDACTED:short] y"
    # base64 padded beats its unpadded prefix: no dangling "==" is left behind.
    b64 = dict(encoded_forms(short.reveal()))["base64"]
    assert red.redact(b64) == "[REDACTED:short]"


def test_hex_is_matched_in_any_case_and_named_by_case():
    secret = Secret("hex-me-please", name="h")
    red = Redactor([secret], shapes=())
    lower = secret.reveal().encode().hex()
    mixed = lower.replace("d", "D", 1)
    assert [f.form for f in red.find(f"{lower} {lower.upper()} {mixed}")] == [
        "hex", "hex-upper", "hex",
    ]
    assert red.redact(mixed) == "[REDACTED:h]"


def test_percent_escapes_are_matched_in_either_case():
    secret = Secret("a/b?c=d&e", name="q")
    red = Redactor([secret], shapes=())
    upper = urllib.parse.quote(secret.reveal(), safe="")
    lowered = re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), upper)
    assert [(f.name, f.form) for f in red.find(lowered)] == [("q", "url")]


def test_find_offsets_point_at_the_occurrences_in_order():
    pw = SECRETS["pw"]
    forms = dict(encoded_forms(pw.reveal()))
    text = f"a {forms['raw']} b {forms['hex']} c {forms['url']}"
    findings = _redactor().find(text)
    assert [f.form for f in findings] == ["raw", "hex", "url"]
    assert [text[f.start : f.end] for f in findings] == [forms["raw"], forms["hex"], forms["url"]]


def test_redactor_with_nothing_to_find_is_the_identity():
    red = Redactor([], shapes=())
    assert red.redact("anything at all") == "anything at all"
    assert red.find("x") == ()
    assert red.max_match_length == 0
    stream = red.stream()
    assert stream.feed("abc") == "abc"
    assert stream.close() == ""


# -- bytes and objects ---------------------------------------------------------------


def test_redact_bytes_catches_secrets_between_invalid_utf8():
    value = SECRETS["pw"].reveal().encode()
    data = b"\xff\xfe" + value + b"\xc3" + base64.b64encode(value) + b"\x80"
    out = _redactor().redact_bytes(data)
    assert out == b"\xff\xfe[REDACTED:pw]\xc3[REDACTED:pw]\x80"
    assert _redactor().redact_bytes(bytearray(b"\xff ok")) == b"\xff ok"


def test_redact_obj_walks_keys_values_and_keeps_container_types():
    value = SECRETS["pw"].reveal()
    Pair = namedtuple("Pair", "left right")
    obj = {
        value: [value, (1, value), Pair(value, None)],
        "nested": {"b": value.encode(), "s": {value}, "n": 3.5},
    }
    out = _redactor().redact_obj(obj)
    assert out == {
        "[REDACTED:pw]": ["[REDACTED:pw]", (1, "[REDACTED:pw]"), Pair("[REDACTED:pw]", None)],
        "nested": {"b": b"[REDACTED:pw]", "s": {"[REDACTED:pw]"}, "n": 3.5},
    }
    assert type(out[marker("pw")][2]) is Pair
    assert obj[value][0] == value, "the input is not modified"


def test_redact_obj_keeps_both_entries_when_two_keys_redact_alike():
    value = SECRETS["pw"].reveal()
    out = _redactor().redact_obj({value: 1, base64.b64encode(value.encode()).decode(): 2})
    assert sorted(out.values()) == [1, 2]
    assert all(value not in key for key in out)


def test_redact_obj_refuses_cycles():
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError):
        _redactor().redact_obj(loop)


@pytest.mark.parametrize("call", ["redact", "find", "contains"])
def test_text_methods_refuse_non_text(call):
    with pytest.raises(TypeError):
        getattr(_redactor(), call)(b"bytes")


def test_redact_bytes_refuses_text():
    with pytest.raises(TypeError):
        _redactor().redact_bytes("text")


# -- construction, reprs, leaks of the redactor itself -----------------------------------


def test_reprs_hold_names_never_values():
    red = _redactor()
    assert repr(red) == (
        "Redactor(secrets=3, names=('payments_key', 'pw', 'quoted'), "
        f"shapes={len(DEFAULT_SHAPES)})"
    )
    stream = red.stream()
    stream.feed("x" * 10 + SECRETS["pw"].reveal())
    reprs = [repr(red), str(red), repr(stream)]
    reprs += [repr(f) for f in red.find(" ".join(t for _, _, t in _all_forms()))]
    for _name, _form, text in _all_forms():
        assert all(text not in r for r in reprs), "an encoded form leaked into a repr"


def test_redactor_and_stream_refuse_pickling():
    with pytest.raises(TypeError):
        pickle.dumps(_redactor())
    with pytest.raises(TypeError):
        pickle.dumps(_redactor().stream())


def test_redactor_refuses_plain_strings_as_secrets():
    with pytest.raises(TypeError):
        Redactor(["not-wrapped-in-Secret"])


def test_redactor_reads_secret_values_in_one_place_only():
    source = Path(redact.__file__).read_text("utf-8")
    assert source.count(".reveal()") == 1


@pytest.mark.parametrize(
    "shape",
    [
        Shape(name="group", pattern=r"(abc)+x", max_length=10),
        Shape(name="empty", pattern=r"a*", max_length=10),
        Shape(name="broken", pattern=r"(?:", max_length=10),
        Shape(name="unbounded", pattern=r"abc", max_length=0),
    ],
    ids=lambda s: s.name,
)
def test_invalid_shapes_are_refused_at_construction(shape):
    with pytest.raises(ConfigurationError):
        Redactor([], shapes=[shape])


def test_secrets_order_does_not_change_the_redactor():
    a, b = Redactor(list(SECRETS.values())), Redactor(reversed(list(SECRETS.values())))
    assert repr(a) == repr(b)
    text = " ".join(t for _, _, t in _all_forms())
    assert a.find(text) == b.find(text)


def test_contains_secret_convenience():
    pw = SECRETS["pw"]
    hex_form = dict(encoded_forms(pw.reveal()))["hex"]
    assert contains_secret(f"dump {hex_form}", [pw])
    assert contains_secret(f"dump {hex_form}", pw)
    assert not contains_secret("dump nothing", SECRETS.values())
    # Shapes do not count: only the given secrets.
    assert not contains_secret("AKIA" + "IOSFODNN7EXAMPLE", [pw])


# -- streams ---------------------------------------------------------------------


def _stream(red: Redactor, chunks: list[str]) -> str:
    stream = red.stream()
    return "".join(stream.feed(chunk) for chunk in chunks) + stream.close()


@pytest.mark.parametrize("case", _all_forms(), ids=_form_id)
def test_stream_catches_a_form_split_into_two_and_three_chunks_at_every_point(case):
    name, _form, text = case
    red = _redactor(shapes=False)
    pad = _filler(red.max_match_length + 3)
    whole = pad + text + pad
    expected = red.redact(whole)
    assert expected == pad + marker(name) + pad
    lo, hi = len(pad), len(pad) + len(text)
    for i in range(len(whole) + 1):
        assert _stream(red, [whole[:i], whole[i:]]) == expected, f"2 chunks, split at {i}"
    for i in range(lo, hi + 1):
        for j in range(i, hi + 1):
            out = _stream(red, [whole[:i], whole[i:j], whole[j:]])
            assert out == expected, f"3 chunks, split at {i} and {j}"


def test_stream_emits_before_close_and_holds_back_only_the_window():
    red = _redactor(shapes=False)
    stream = red.stream()
    text = _filler(10 * red.max_match_length)
    out = stream.feed(text)
    assert out == text[: len(text) - (red.max_match_length - 1)]
    assert stream.pending == red.max_match_length - 1
    assert out + stream.close() == text


def test_stream_lookbehind_sees_across_chunks():
    """A shape whose left context arrived in an earlier chunk is still recognised."""
    shape = Shape(name="tok", pattern=r"(?<=token=)[a-z]{4,8}", max_length=8)
    red = Redactor([], shapes=[shape])
    whole = _filler(40) + "token=abcdefgh" + _filler(40)
    expected = red.redact(whole)
    assert "[REDACTED:tok]" in expected
    for i in range(len(whole) + 1):
        assert _stream(red, [whole[:i], whole[i:]]) == expected, f"split at {i}"


def test_stream_is_exact_even_when_a_shape_forgets_its_lookahead_in_max_length():
    shape = Shape(name="t", pattern=r"tok[0-9]{2}\b", max_length=5)  # \b reads a 6th char
    red = Redactor([], shapes=[shape])
    whole = "xx tok12 tok123 tok45"
    expected = red.redact(whole)
    assert expected == "xx [REDACTED:t] tok123 [REDACTED:t]"
    for i in range(len(whole) + 1):
        for j in range(i, len(whole) + 1):
            assert _stream(red, [whole[:i], whole[i:j], whole[j:]]) == expected, (i, j)


def test_stream_with_default_shapes_catches_a_bearer_header_split_anywhere():
    red = _redactor()
    pad = "x" * red.max_match_length
    header = "Authorization: Bearer opaque.Token_value-123456\n"
    whole = pad + header + pad
    expected = red.redact(whole)
    assert "[REDACTED:bearer-token]" in expected
    for i in range(len(pad) - 2, len(pad) + len(header) + 2):
        assert _stream(red, [whole[:i], whole[i:]]) == expected, f"split at {i}"


def test_stream_refuses_feed_after_close_and_non_text():
    stream = _redactor().stream()
    with pytest.raises(TypeError):
        stream.feed(b"bytes")
    stream.close()
    assert stream.close() == ""
    with pytest.raises(ValueError):
        stream.feed("late")


# -- fuzzing -----------------------------------------------------------------------

# Small bounded shapes with lookbehinds and lookaheads, so a stream's window is short and
# fuzzing reaches the places where a shape's left or right context falls in another chunk.
SMALL_SHAPES = (
    Shape(name="aws", pattern=r"A[KS]IA(?<![A-Z0-9]A[KS]IA)[A-Z0-9]{4}(?![A-Z0-9])", max_length=9),
    Shape(name="bearer", pattern=r"(?i:(?<=bearer ))[A-Za-z0-9]{6,12}={0,2}", max_length=14),
    Shape(name="pem", pattern=r"-BEGIN-(?:[\s\S]{0,12}?-END-|[A-Z0-9\s]{0,12})", max_length=24),
)
FRAGMENTS = st.sampled_from(
    ["AKIA", "ASIA", "A", "Z", "0", "7", "Bearer ", "bearer ", "b", " ", "=", "-BEGIN-", "-END-",
     "\n", "x", "é", "%2F", "%2f"]
)




@FUZZ
@given(value=PRINTABLE, before=st.text(string.printable, max_size=60),
       after=st.text(string.printable, max_size=60), data=st.data())
def test_fuzz_no_encoded_form_survives_redaction(value, before, after, data):
    secret = Secret(value, name="s")
    red = Redactor([secret], shapes=SMALL_SHAPES)  # small shapes: cheap to compile 200 times
    form, text = data.draw(st.sampled_from(encoded_forms(value)), label="form")
    out = red.redact(before + text + after)
    # A form can only reappear by borrowing the marker's own characters (documented).
    assert text not in out.replace(marker("s"), "\0"), f"form {form} survived"
    if form == "hex":
        assert text.upper() not in red.redact(before + text.upper() + after).replace(
            marker("s"), "\0"
        )


@FUZZ
@given(value=PRINTABLE, before=st.text(string.printable, max_size=80),
       after=st.text(string.printable, max_size=80),
       cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6), data=st.data())
def test_fuzz_stream_equals_whole_text_redaction(value, before, after, cuts, data):
    red = Redactor([Secret(value, name="s")], shapes=())
    _form, text = data.draw(st.sampled_from(encoded_forms(value)), label="form")
    whole = before + text + after
    points = sorted({min(c, len(whole)) for c in cuts})
    chunks = [whole[a:b] for a, b in zip([0, *points], [*points, len(whole)], strict=True)]
    assert "".join(chunks) == whole
    assert _stream(red, chunks) == red.redact(whole)


@FUZZ
@given(value=st.text(string.ascii_letters + string.digits + "/+%", min_size=8, max_size=16),
       pieces=st.lists(FRAGMENTS, max_size=30), where=st.integers(0, 30),
       cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=8))
def test_fuzz_stream_equals_whole_text_with_shapes_at_chunk_edges(value, pieces, where, cuts):
    red = Redactor([Secret(value, name="s")], shapes=SMALL_SHAPES)
    pieces.insert(min(where, len(pieces)), value)
    whole = "".join(pieces)
    points = sorted({min(c, len(whole)) for c in cuts})
    chunks = [whole[a:b] for a, b in zip([0, *points], [*points, len(whole)], strict=True)]
    assert _stream(red, chunks) == red.redact(whole)


@FUZZ
@given(value=PRINTABLE, pieces=st.lists(FRAGMENTS | PRINTABLE, max_size=12), data=st.data())
def test_fuzz_find_describes_exactly_what_redact_replaces(value, pieces, data):
    red = Redactor([Secret(value, name="s")], shapes=SMALL_SHAPES)
    _form, text = data.draw(st.sampled_from(encoded_forms(value)), label="form")
    pieces.insert(data.draw(st.integers(0, len(pieces)), label="where"), text)
    whole = "".join(pieces)
    rebuilt, pos = [], 0
    for finding in red.find(whole):
        assert pos <= finding.start < finding.end
        rebuilt += [whole[pos : finding.start], marker(finding.name)]
        pos = finding.end
    assert "".join(rebuilt) + whole[pos:] == red.redact(whole)
    assert red.contains(whole) == bool(red.find(whole))


def _unhinted(shapes):
    return tuple(Shape(name=s.name, pattern=s.pattern, max_length=s.max_length) for s in shapes)


HINT_FRAGMENTS = (
    "-----BEGIN ", "PRIVATE KEY-----\nMC4=\n", "-----END ", "eyJhb", ".eyJzd", ".", "ghp_",
    "github_pat_", "AKIA", "ASIA", "akia", "sk_live_", "rk_test_", "sk-", "Bearer ", "bEaReR ",
    "BEARER ", "A1B2C3D4E5F6G7H8", "a1b2c3d4e5f6g7h8a1b2c3d4e5f6g7h8a1b2", "_", "=", " ",
)


def test_shape_hints_never_hide_a_match():
    """The prefilter's hints are only a shortcut: without them every answer is the same."""
    for a in HINT_FRAGMENTS:
        for b in HINT_FRAGMENTS:
            for c in HINT_FRAGMENTS:
                text = f" {a}{b}{c} "
                assert _redactor().redact(text) == _HINTLESS.redact(text), repr(text)


_HINTLESS = Redactor(SECRETS.values(), shapes=_unhinted(DEFAULT_SHAPES))


@FUZZ
@given(text=st.text(), data=st.binary())
def test_fuzz_redaction_never_raises_on_arbitrary_input(text, data):
    red = _redactor()
    assert isinstance(red.redact(text), str)
    assert isinstance(red.find(text), tuple)
    out = red.redact_bytes(data)
    assert isinstance(out, bytes)
    # Nothing to find: bytes come back exactly, valid UTF-8 or not.
    assert Redactor([], shapes=()).redact_bytes(data) == data
    stream = red.stream()
    assert stream.feed(text) + stream.close() == red.redact(text)


# -- escapes per character: %xx and \uXXXX of any subset, any hex case -----------------

ESCAPES = json.loads((Path(__file__).parent / "data" / "redaction_escapes.json").read_text("utf-8"))
_JSON_ESCAPE = re.compile(r'\\(["\\/bfnrt]|u[0-9A-Fa-f]{4})')
_JSON_SHORT = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _hex_case(digits: str, case: str) -> str:
    if case == "upper":
        return digits.upper()
    if case == "mixed":
        return "".join(d.upper() if i % 2 else d.lower() for i, d in enumerate(digits))
    return digits.lower()


def _percent(ch: str, case: str) -> str:
    """``ch``'s UTF-8 bytes as %xx, as a URL encoder that escapes everything would write them."""
    return "".join("%" + _hex_case(f"{b:02x}", case) for b in ch.encode("utf-8"))


def _u_escape(ch: str, case: str) -> str:
    """``ch`` as \\uXXXX (a surrogate pair above U+FFFF), as a JSON encoder would write it."""
    units = ch.encode("utf-16-be")
    return "".join("\\u" + _hex_case(units[i : i + 2].hex(), case) for i in range(0, len(units), 2))


def _literal(ch: str, container: str) -> str:
    return json.dumps(ch, ensure_ascii=False)[1:-1] if container == "json" else ch


def _spell(value: str, container: str, choose) -> str:
    """``value`` with character i written as ``choose(i, ch)``: None (literal) or (kind, case)."""
    out = []
    for i, ch in enumerate(value):
        how = choose(i, ch)
        if how is None:
            out.append(_literal(ch, container))
        else:
            kind, case = how
            out.append(_u_escape(ch, case) if kind == "u" else _percent(ch, case))
    return "".join(out)


def _spelling_from_case(case: dict) -> str:
    value = SECRETS[case["secret"]].reveal()
    chosen = {
        "first": lambda i, ch: i == 0,
        "last": lambda i, ch: i == len(value) - 1,
        "all": lambda i, ch: True,
        "even": lambda i, ch: i % 2 == 0,
        "odd": lambda i, ch: i % 2 == 1,
        "non-ascii": lambda i, ch: ord(ch) > 127,
    }[case["positions"]]
    if case["escape"] == "alternate":
        def how(i, ch):
            return ("u" if i % 2 == 0 else "percent", "mixed")
    else:
        kind, _, hex_case = case["escape"].partition("-")
        def how(i, ch):
            return (kind, hex_case)
    return _spell(value, case["container"], lambda i, ch: how(i, ch) if chosen(i, ch) else None)


def _contain(container: str, spelling: str) -> tuple[str, str]:
    """(before, after) around a spelling, as a JSON body, a request line or a log line."""
    return {
        "json": ('{"id": 7, "echo": "', '", "ok": true}'),
        "query": ("GET /callback?token=", "&state=xyz HTTP/1.1"),
        "plain": ("upstream said: ", " (end)"),
    }[container]


def _json_unescape(text: str) -> str:
    """What a reader of a JSON string sees: \\" \\\\ \\/ \\n ... and \\uXXXX decoded, pairs joined."""
    decoded = _JSON_ESCAPE.sub(
        lambda m: chr(int(m.group(1)[1:], 16)) if m.group(1)[0] == "u" else _JSON_SHORT[m.group(1)],
        text,
    )
    return decoded.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def _decodings(text: str) -> list[str]:
    """Everything a reader can get by undoing the escapes, in either order."""
    out = [text]
    for first in (urllib.parse.unquote, _json_unescape):
        once = first(text)
        out += [once, urllib.parse.unquote(once), _json_unescape(once)]
    return out


@pytest.mark.parametrize("case", ESCAPES["spellings"], ids=lambda c: c["id"])
def test_a_secret_with_some_characters_escaped_is_redacted(case):
    name = case["secret"]
    value = SECRETS[name].reveal()
    spelling = _spelling_from_case(case)
    before, after = _contain(case["container"], spelling)
    text = before + spelling + after
    # Negative: none of the spellings the redactor used to list is in this text.
    assert not any(t.lower() in text.lower() for _, t in encoded_forms(value))
    red = _redactor()
    assert red.redact(text) == before + marker(name) + after
    assert red.find(text) == (
        Finding(name=name, form=redact.ESCAPED_FORM, start=len(before), end=len(before) + len(spelling)),
    )
    assert red.contains(text)
    assert red.redact_obj({"body": [text]}) == {"body": [before + marker(name) + after]}
    assert all(value not in decoded for decoded in _decodings(red.redact(text)))
    if case["container"] == "json":
        echoed = json.loads(text)["echo"]
        assert value in echoed + "\0" + urllib.parse.unquote(echoed), "the spelling really is the secret"
        assert all(value not in d for d in _decodings(json.loads(red.redact(text))["echo"]))


@pytest.mark.parametrize("case", ESCAPES["spellings"], ids=lambda c: c["id"])
def test_stream_catches_an_escaped_secret_split_anywhere_even_inside_an_escape(case):
    name = case["secret"]
    spelling = _spelling_from_case(case)
    red = _redactor(shapes=False)
    pad = _filler(red.max_match_length + 3)
    whole = pad + spelling + pad
    expected = pad + marker(name) + pad
    assert red.redact(whole) == expected
    for i in range(len(pad) - 1, len(pad) + len(spelling) + 2):
        assert _stream(red, [whole[:i], whole[i:]]) == expected, f"split at {i}"
    third = len(spelling) // 3
    for i in range(len(pad), len(pad) + third + 1):
        j = i + third
        assert _stream(red, [whole[:i], whole[i:j], whole[j:]]) == expected, (i, j)


def test_escaped_form_is_named_canonical_forms_keep_their_names():
    pw = SECRETS["pw"]
    red = Redactor([pw], shapes=())
    value = pw.reveal()
    upper = urllib.parse.quote(value, safe="")
    assert [f.form for f in red.find(upper.lower())] == ["url"]
    assert [f.form for f in red.find(_spell(value, "plain", lambda i, ch: ("u", "lower")))] == [
        redact.ESCAPED_FORM
    ]


def test_max_match_length_covers_the_longest_escaped_spelling():
    """\\uXXXX is six characters per character, %xx three per UTF-8 byte, a surrogate pair twelve."""
    assert Redactor([Secret("sk_live_abc123", name="k")], shapes=()).max_match_length == 6 * 14
    # "€" is three UTF-8 bytes (%E2%82%AC, 9 characters); "😀" is %F0%9F%98%80 or a pair (12).
    assert Redactor([Secret("ab€", name="k")], shapes=()).max_match_length == 6 + 6 + 9
    assert Redactor([Secret("a😀", name="k")], shapes=()).max_match_length == 6 + 12
    value = "sk_live_abc123"
    spelling = _spell(value, "plain", lambda i, ch: ("u", "upper"))
    assert len(spelling) == Redactor([Secret(value, name="k")], shapes=()).max_match_length


def test_an_escape_just_before_a_secret_cannot_hide_it_from_the_prefilter():
    """Decoding '%a' + 'a4..' swallows the secret's first character; the prefilter allows for it."""
    value = "a4b3c2d1e0f9a8b7"
    red = Redactor([Secret(value, name="h")], shapes=())
    escaped_third = _spell(value, "plain", lambda i, ch: ("percent", "upper") if i == 4 else None)
    for before in ("%a", "%", "\\u00", "\\u0", "\\", "\\\\"):
        text = before + escaped_third + " tail"
        assert red.redact(text) == before + "[REDACTED:h] tail", repr(before)
    u_value = "u0041" + value
    red_u = Redactor([Secret(u_value, name="u")], shapes=())
    text = "\\" + _spell(u_value, "plain", lambda i, ch: ("u", "lower") if i == 7 else None)
    assert red_u.redact(text) == "\\[REDACTED:u]"


def test_prefilter_still_skips_clean_escaped_text():
    """Sound is not the same as always-on: JSON full of escapes and URLs with %xx, but no secret."""
    red = Redactor([lab_secret("pf", f"k{i}") for i in range(5)], shapes=())
    body = json.dumps({"note": 'line "one"\nline two \u00e9', "url": "https://x.test/a%20b?q=%2F"})
    assert "\\" in body and "%" in body
    assert not red._may_match(body)
    assert red.redact(body) == body


NEIGHBOURS = ["%", "%a", "%4", "%C3", "\\", "\\\\", "\\u", "\\u00", "\\n", '\\"', "+", " ", "a", "4", "u"]
SECRET_ALPHABET = string.ascii_letters + string.digits + '_-./+@:?~ "\\%ü€😀'
ESCAPED_SECRETS = st.text(alphabet=SECRET_ALPHABET, min_size=6, max_size=20)
FILLER = st.text(alphabet="{}[]<>=,;|!#", max_size=12)


def _random_spelling(value: str, container: str, rng) -> str:
    def choose(i, ch):
        kind = rng.choice(["literal", "percent", "u"])
        return None if kind == "literal" else (kind, rng.choice(["lower", "upper", "mixed"]))
    return _spell(value, container, choose)


@FUZZ
@given(value=ESCAPED_SECRETS, container=st.sampled_from(["plain", "json"]),
       before=FILLER, after=FILLER, rng=st.randoms(use_true_random=False))
def test_fuzz_no_escaped_spelling_survives_redaction_or_decoding(value, container, before, after, rng):
    red = Redactor([Secret(value, name="s")], shapes=())
    spelling = _random_spelling(value, container, rng)
    text = before + spelling + after
    out = red.redact(text)
    assert out == before + marker("s") + after
    masked = out.replace(marker("s"), "\0")
    assert all(value not in decoded for decoded in _decodings(masked))
    if container == "json":
        document = json.dumps({"k": 1})[:-1] + ', "echo": "' + text + '"}'
        redacted = json.loads(red.redact(document))["echo"].replace(marker("s"), "\0")
        assert all(value not in decoded for decoded in _decodings(redacted))


@FUZZ
@given(value=ESCAPED_SECRETS, container=st.sampled_from(["plain", "json"]),
       before=st.lists(st.sampled_from(NEIGHBOURS), max_size=4),
       after=st.lists(st.sampled_from(NEIGHBOURS), max_size=4),
       cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=8),
       rng=st.randoms(use_true_random=False))
def test_fuzz_stream_catches_escaped_spellings_next_to_stray_escapes(
    value, container, before, after, cuts, rng
):
    red = Redactor([Secret(value, name="s")], shapes=())
    whole = "".join(before) + _random_spelling(value, container, rng) + "".join(after)
    points = sorted({min(c, len(whole)) for c in cuts})
    chunks = [whole[a:b] for a, b in zip([0, *points], [*points, len(whole)], strict=True)]
    out = red.redact(whole)
    assert _stream(red, chunks) == out
    assert marker("s") in out
    masked = out.replace(marker("s"), "\0")
    assert all(value not in decoded for decoded in _decodings(masked))


PREFILTER_FRAGMENTS = st.sampled_from(
    [*NEIGHBOURS, "%73", "%6B", "%6b", "\\u0073", "\\u006B", "s", "k", "_", "sk", "%2B", "%20",
     "\\/", "/", "\\ud83d", "\\ude00", "😀", "%F0%9F%98%80", "é", "%C3%A9", "\\u00e9"]
)


@FUZZ
@given(value=st.text(alphabet="sk_/+ é😀aA4", min_size=1, max_size=6),
       pieces=st.lists(PREFILTER_FRAGMENTS, max_size=14))
def test_fuzz_prefilter_never_skips_text_the_regex_would_match(value, pieces):
    """The prefilter is a superset test: when it says "nothing here", the full regex agrees."""
    red = Redactor([Secret(value, name="s")], shapes=())
    text = "".join(pieces)
    assert red._may_match(text) or red._regex.search(text) is None, repr(text)


# -- what no redactor catches: pinned, so the limit is stated rather than hidden ----------


def _known_miss(case_id: str, value: str) -> tuple[list[str], object]:
    """(the texts the attacker receives, how the attacker gets the secret back from them)."""
    key = b"k3y!"
    if case_id == "split-across-two-responses":
        return [value[:10], value[10:]], "".join
    if case_id == "reversed":
        return [value[::-1]], lambda texts: texts[0][::-1]
    if case_id == "rot13":
        return [codecs.encode(value, "rot13")], lambda texts: codecs.decode(texts[0], "rot13")
    if case_id == "xor-encrypted-hex":
        cipher = bytes(b ^ key[i % len(key)] for i, b in enumerate(value.encode())).hex()
        return [cipher], lambda texts: bytes(
            b ^ key[i % len(key)] for i, b in enumerate(bytes.fromhex(texts[0]))
        ).decode()
    if case_id == "one-char-per-line-with-filler":
        lines = "\n".join(f"step {i}: {ch} (the broker answered)" for i, ch in enumerate(value))
        return [lines], lambda texts: "".join(
            line.split(": ", 1)[1][0] for line in texts[0].split("\n")
        )
    if case_id == "summarised-in-prose":
        prose = f"The key begins {value[:10]!r}; after that it reads {value[10:]!r}."
        return [prose], lambda texts: "".join(re.findall(r"'([^']*)'", texts[0]))
    raise AssertionError(case_id)


@pytest.mark.parametrize("case", ESCAPES["known_misses"], ids=lambda c: c["id"])
def test_known_miss_no_redactor_catches_this_and_the_docs_say_so(case):
    """KNOWN MISS (documented in course/redact.py): the text no longer spells the secret.

    Redaction passes it through unchanged and the attacker still recovers the value;
    only keeping the secret away from the agent (the broker) holds against it.
    """
    value = SECRETS[case["secret"]].reveal()
    texts, recover = _known_miss(case["id"], value)
    outputs = [_redactor().redact(text) for text in texts]
    assert outputs == texts, "now caught: move it out of known_misses and update the docstring"
    assert recover(outputs) == value
    assert " ".join(case["documented_as"].split()) in " ".join(redact.__doc__.split())


# -- StoreRedactor: one secret that does not open must not stop every log write -----------


class _FakeStore:
    """A secret store with the interface StoreRedactor reads; ``broken`` secrets raise on get()."""

    def __init__(self, values: dict[tuple[str, str], str], broken: dict[tuple[str, str], Exception]):
        self.values, self.broken, self.generation = dict(values), dict(broken), 1

    def names(self, tenant: str) -> tuple[str, ...]:
        return tuple(sorted(n for t, n in [*self.values, *self.broken] if t == tenant))

    def get(self, tenant: str, name: str) -> Secret:
        if (tenant, name) in self.broken:
            raise self.broken[(tenant, name)]
        return Secret(self.values[(tenant, name)], name=name)


_STORE_VALUES = {
    ("acme", "payments"): "sk_live_acme0000000000000000",
    ("acme", "deploy"): "dep-acme-1111111111",
    ("globex", "deploy"): "dep-globex-2222222222",
    ("initech", "payments"): "sk_live_initech33333333333",
}


@pytest.mark.parametrize(
    "error",
    [
        CorruptSecretError("secret 'payments' of tenant 'globex' does not open"),
        SecretStoreError("secret 'payments' of tenant 'globex' failed its integrity check"),
        ValueError("bad padding"),
        InvalidTag(),
    ],
    ids=lambda e: type(e).__name__,
)
def test_store_redactor_skips_a_secret_that_does_not_open_and_redacts_the_others(error):
    store = _FakeStore(_STORE_VALUES, {("globex", "payments"): error})
    red = StoreRedactor(store, ["acme", "globex", "initech"])
    line = " ".join(_STORE_VALUES.values())
    # Negative: before, get() raising for one tenant's secret made every redact() raise.
    out = red.redact(line)
    assert out == "[REDACTED:payments] [REDACTED:deploy] [REDACTED:deploy] [REDACTED:payments]"
    assert red.unreadable == (("globex", "payments"),)
    assert all(value not in repr(red) for value in _STORE_VALUES.values())
    assert "unreadable=1" in repr(red)


def test_store_redactor_unreadable_follows_the_store():
    store = _FakeStore(_STORE_VALUES, {("globex", "payments"): CorruptSecretError("corrupt")})
    red = StoreRedactor(store, ["acme", "globex"])
    assert red.unreadable == (("globex", "payments"),)
    assert red.redact("sk_live_globex44444444444") == "[REDACTED:stripe-key]"  # the shape still
    # The row is repaired (a write bumps the generation): it opens and is redacted by name.
    del store.broken[("globex", "payments")]
    store.values[("globex", "payments")] = "pay-globex-5555555555"
    store.generation += 1
    assert red.redact("x pay-globex-5555555555 y") == "x [REDACTED:payments] y"
    assert red.unreadable == ()


def test_store_redactor_does_not_swallow_other_failures():
    """Fail closed: an error that is not "this secret does not open" still stops the write."""
    store = _FakeStore(_STORE_VALUES, {("acme", "deploy"): RuntimeError("database is locked")})
    red = StoreRedactor(store, ["acme", "globex"])
    with pytest.raises(RuntimeError):
        red.redact("anything")
