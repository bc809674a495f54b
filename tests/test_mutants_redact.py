"""Redaction: the prefilter, the ranks and the edges mutation testing found unpinned (issue 14).

The prefilter (:meth:`Redactor._may_match`) is a shortcut that must never hide a match: a
mutant that shortened its needle wrongly, forgot that a space may be spelled ``+``, that a
character above U+FFFF is a surrogate pair in ``\\u`` escapes, or that a shape may match at
offset 0, returned secrets unredacted and no test noticed. Nor did any test pin the JSON
spelling ``\\/``, the longest-form-first rank, the shape's ``form``, a stream's context, or
:class:`StoreRedactor`'s memory. Each test here names the leak or the property it guards.
"""

from __future__ import annotations

import base64
import pickle
import threading

import pytest

from course import redact
from course.errors import ConfigurationError
from course.redact import Redactor, Shape, StoreRedactor, marker
from course.secretstore import Secret
from tests.test_redact import _stream  # the suite's own helper


def _within(seconds: float, fn, *args):
    """``fn(*args)``, failing (not hanging) if it does not return in time: a loop that never ends
    must fail the test, not wait for a timeout the test runner may not have."""
    result: list = []
    worker = threading.Thread(target=lambda: result.append(fn(*args)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert result, f"{fn.__name__} did not return within {seconds} s"
    return result[0]


def _red(value: str, name: str = "k", **kw) -> Redactor:
    return Redactor([Secret(value, name=name)], shapes=kw.pop("shapes", ()), **kw)


# -- the prefilter's needle ---------------------------------------------------------------


@pytest.mark.parametrize(("value", "absorbed"), [
    ("zzzz", 0), ("abcz", 3), ("abcdef12", 4), ("x0000", 0), ("uzzzz", 0), ("u0041", 5),
    ("u0041z", 5), ("uz041x", 0), ('"x', 1), ("/x", 1), ("nx", 1), ("rx", 1), ("tx", 1), ("bx", 1),
    ("zz", 0),
])
def test_the_prefilter_leaves_out_only_what_an_escape_before_the_value_can_swallow(value, absorbed):
    assert _within(5, redact._absorbable_prefix, value) == absorbed


@pytest.mark.parametrize(("value", "needs"), [
    ("abc", False), ("café", False), ("a/b", True), ('a"b', True), ("a\\b", True), ("a\nb", True),
])
def test_a_value_needs_a_json_spelling_only_when_json_writes_a_character_otherwise(value, needs):
    assert redact._needs_json_spelling(value) is needs


def test_the_prefilter_never_changes_an_answer_for_escaped_spellings() -> None:
    """Every spelling below holds the secret: the prefilter must let the full regex see it."""
    cases = [
        ("open sesame 42", "q=open+sesame+42&x=1"),                 # a space spelled "+"
        ("open sesame 42", "q=open%20sesame+42"),
        ("key\U00010000value", "v=key\\ud800\\udc00value"),       # a pair in \u escapes
        ("key\U00010000value", "v=\\u006bey\\ud800\\udc00value"),
        ("u0041secret", "x=\\u0075\\u0030041secret"),               # needle starts after "u0041"
        ("nsecret-value", "x=\\nsecret-value"),
    ]
    for value, text in cases:
        red = _red(value)
        assert red._regex is not None
        full = red._regex.sub(red._replace, text)
        assert marker("k") in full, (value, text)
        assert red.redact(text) == full, (value, text)
        assert red.contains(text) and red.find(text)


def test_a_json_string_may_spell_a_slash_as_backslash_slash() -> None:
    red = _red("ab/cd/ef12")
    assert red.redact('{"v": "ab\\/cd\\/ef12"}') == '{"v": "[REDACTED:k]"}'
    # ... but only a slash: "\/" stands for no other character of the secret.
    assert red.find("\\/b/cd/ef12") == () and red.find("a\\/\\/cd/ef12") == ()


def test_a_backslash_escape_of_no_secret_character_is_left_alone() -> None:
    red = _red('ab"cd/ef12')
    text = 'path C:\\Xfiles and %41 and \\n'
    assert red.redact(text) == text and not red.contains(text)


# -- ranks: the longest form wins, and what find() names -----------------------------------


def test_a_padded_base64_form_is_redacted_whole() -> None:
    value = "sk_test_pad_1234"  # 16 bytes: base64 ends "=="
    b64 = base64.b64encode(value.encode()).decode()
    assert b64.endswith("==")
    red = _red(value)
    assert red.redact(f"Basic {b64}.") == "Basic [REDACTED:k]."
    assert [f.form for f in red.find(b64)] == ["base64"]


def test_a_base64_form_made_of_hex_digits_is_named_base64() -> None:
    red = _red("t!{{OZoN7")  # its base64 is "dCF7e09ab043": hex digits only, yet not its hex
    assert [(f.form, f.start, f.end) for f in red.find("x dCF7e09ab043 y")] == [("base64", 2, 14)]


def test_two_secrets_sharing_a_base64_core_keep_every_other_form_and_the_first_name() -> None:
    """Values that differ only in the top bits of their first byte share one base64 core."""
    a, b = "aSECRETVALUE12", "qSECRETVALUE12"
    shared = dict(redact.encoded_forms(a))["base64-offset-1"]
    assert dict(redact.encoded_forms(b))["base64-offset-1"] == shared
    red = Redactor([Secret(a, name="a"), Secret(b, name="b")], shapes=())
    assert [(f.name, f.form) for f in red.find(f"x {shared} y")] == [("a", "base64-offset-1")]
    for form in ("base64-offset-2", "hex"):
        text = dict(redact.encoded_forms(b))[form]
        assert [(f.name, f.form) for f in red.find(text)] == [("b", form)]


def test_a_shape_match_is_reported_as_form_shape_and_a_shape_counts_one_margin() -> None:
    red = Redactor([])
    [finding] = red.find("id AKIA" + "IOSFODNN7EXAMPLE end")
    assert (finding.name, finding.form) == ("aws-access-key", "shape")
    tiny = Redactor([], shapes=(Shape(name="t", pattern="t[0-9]{9}", max_length=10),))
    assert tiny.max_match_length == 11


def test_a_redactor_with_nothing_to_look_for_returns_text_as_it_is() -> None:
    red = Redactor([], shapes=())
    assert (red.redact("x"), red.find("x"), red.contains("x")) == ("x", (), False)


# -- shapes without hints ----------------------------------------------------------------------


def test_an_unhinted_shape_is_found_at_the_start_of_the_text_and_beside_another() -> None:
    shapes = (Shape(name="alpha", pattern="QQ[0-9]{6}", max_length=8),
              Shape(name="beta", pattern="ZZ[0-9]{6}", max_length=8))
    red = Redactor([], shapes=shapes)
    assert red.redact("QQ123456 rest") == "[REDACTED:alpha] rest"
    assert red.redact("only ZZ654321") == "only [REDACTED:beta]"


@pytest.mark.parametrize(("shape", "names"), [
    (object(), "not object"),
    (Shape(name="grp", pattern="(a)b", max_length=2), "'grp'"),
    (Shape(name="bad", pattern="(", max_length=2), "'bad'"),
    (Shape(name="empty", pattern="a*", max_length=2), "'empty'"),
    (Shape(name="zero", pattern="ab", max_length=0), "'zero'"),
    (Shape(name="hl", pattern="ab", max_length=2, hints=["ab"]), "'hl'"),  # type: ignore[arg-type]
    (Shape(name="he", pattern="ab", max_length=2, hints=("",)), "'he'"),
    (Shape(name="hn", pattern="ab", max_length=2, hints=(1,)), "'hn'"),  # type: ignore[arg-type]
])
def test_a_bad_shape_is_refused_naming_the_shape_or_the_type(shape, names) -> None:
    with pytest.raises(ConfigurationError) as err:
        Redactor([], shapes=(shape,))
    assert names in str(err.value)


def test_a_one_character_shape_is_accepted() -> None:
    red = Redactor([], shapes=(Shape(name="one", pattern="#", max_length=1),))
    assert red.redact("a#b") == "a[REDACTED:one]b"


@pytest.mark.parametrize("call", ["init", "redact", "find", "contains", "redact_bytes", "feed"])
def test_a_wrong_type_is_refused_naming_the_type_given(call: str) -> None:
    red = _red("sk_" + "test_abcdef12")
    act = {"init": lambda: Redactor(["plain"]), "redact": lambda: red.redact(7),
           "find": lambda: red.find(7), "contains": lambda: red.contains(7),
           "redact_bytes": lambda: red.redact_bytes(7), "feed": lambda: red.stream().feed(7)}[call]
    with pytest.raises(TypeError) as err:
        act()
    assert str(err.value).endswith("not str" if call == "init" else "not int")


# -- redact_obj ------------------------------------------------------------------------------------


def test_redact_obj_redacts_bytearrays_tuple_keys_and_shared_lists() -> None:
    value = "sk_test_objects_99"
    red = _red(value)
    out = red.redact_obj(bytearray(f"a {value}".encode()))
    assert type(out) is bytearray and out == bytearray(b"a [REDACTED:k]")
    assert red.redact_obj({("t", value): 1}) == {("t", "[REDACTED:k]"): 1}
    shared = [value]
    assert red.redact_obj([shared, shared]) == [["[REDACTED:k]"], ["[REDACTED:k]"]]


def test_redact_obj_keeps_every_key_that_redacts_to_the_same_text() -> None:
    red = Redactor([])
    keys = ["AKIA" + "IOSFODNN7EXAMPLE", "AKIA" + "IOSFODNN7EXAMPLF", "AKIA" + "IOSFODNN7EXAMPLG"]
    out = _within(5, red.redact_obj, {k: i for i, k in enumerate(keys)})
    m = "[REDACTED:aws-access-key]"
    assert out == {m: 0, f"{m}#2": 1, f"{m}#3": 2}


def test_redact_obj_returns_a_plain_list_for_a_list_subclass_and_refuses_a_cycle() -> None:
    class Rows(list):
        pass

    red = _red("sk_test_objects_99")
    out = red.redact_obj(Rows(["sk_test_objects_99"]))
    assert type(out) is list and out == ["[REDACTED:k]"]
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError, match=r"^redact_obj: circular reference$"):
        red.redact_obj(loop)


# -- streams ---------------------------------------------------------------------------------------


def test_a_stream_emits_what_no_later_chunk_can_change_and_holds_back_the_rest() -> None:
    red = _red("sk_test_stream_1")
    n = red.max_match_length
    stream = red.stream()
    assert stream.feed("x" * (n - 1)) == "" and stream.pending == n - 1
    assert stream.feed("y") == "x" and stream.pending == n - 1
    assert stream.close() == "x" * (n - 2) + "y"
    with pytest.raises(ValueError, match=r"^feed\(\) on a closed StreamRedactor$"):
        stream.feed("z")


def test_a_stream_keeps_the_text_a_lookbehind_needs_from_the_first_character_on() -> None:
    red = Redactor([], shapes=(Shape(name="tok", pattern=r"(?<=key=)[0-9]{8}", max_length=8),))
    whole = "key=12345678" + "z" * 10
    assert red.redact(whole) == "key=[REDACTED:tok]" + "z" * 10
    for cut in range(1, len(whole)):
        for cut2 in range(cut, len(whole)):
            assert _stream(red, [whole[:cut], whole[cut:cut2], whole[cut2:]]) == red.redact(whole)


# -- StoreRedactor -------------------------------------------------------------------------------


class _Store:
    """The least a StoreRedactor reads: names, get, generation."""

    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets, self.generation = secrets, 0

    def names(self, tenant: str) -> list[str]:
        return sorted(self.secrets)

    def get(self, tenant: str, name: str) -> Secret:
        return Secret(self.secrets[name], name=f"{tenant}/{name}")


def test_a_store_redactor_builds_once_per_generation_and_says_what_it_holds() -> None:
    store = _Store({"api": "sk_test_store_000111"})
    sr = StoreRedactor(store, ["acme"])
    assert repr(sr) == "StoreRedactor(tenants=1, unreadable=0)"
    built = sr._current()
    assert sr._current() is built
    store.generation += 1
    assert sr._current() is not built


def test_a_store_redactor_redacts_long_text_and_remembers_short_answers() -> None:
    value = "sk_test_store_000111"
    sr = StoreRedactor(_Store({"api": value}), ["acme"])
    long_text = ("x" * 300) + value
    assert sr.redact(long_text) == "x" * 300 + "[REDACTED:acme/api]"
    edge = "y" * (StoreRedactor.MEMO_MAX_CHARS - len(value)) + value
    assert len(edge) == StoreRedactor.MEMO_MAX_CHARS
    first = sr.redact(edge)
    assert sr._memo == {edge: first} and first.endswith("[REDACTED:acme/api]")

    class _Counting:
        calls = 0

        def redact(self, text: str) -> str:
            _Counting.calls += 1
            return text

    sr._redactor = _Counting()  # type: ignore[assignment]  (same generation: not rebuilt)
    assert sr.redact(edge) == first and _Counting.calls == 0


def test_a_store_redactors_memory_is_bounded() -> None:
    sr = StoreRedactor(_Store({"api": "sk_test_store_000111"}), ["acme"])
    for i in range(StoreRedactor.MEMO_LIMIT):
        sr.redact(f"line {i}")
    assert len(sr._memo) == StoreRedactor.MEMO_LIMIT
    sr.redact("one more")
    assert sr._memo == {"one more": "one more"}


# -- pickling ----------------------------------------------------------------------------------------


def test_every_redactor_refuses_pickling_and_says_why() -> None:
    red = _red("sk_test_pickle_01")
    for obj, message in [
        (red, "a Redactor holds secret values and refuses to be pickled"),
        (red.stream(), "a StreamRedactor may hold part of a secret and refuses to be pickled"),
        (StoreRedactor(_Store({}), []), "a StoreRedactor refuses to be pickled"),
    ]:
        with pytest.raises(TypeError) as err:
            pickle.dumps(obj)
        assert str(err.value) == message
