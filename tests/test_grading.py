"""The grading helpers: a failed check names the property, and pretending answers fail."""

from __future__ import annotations

import types

import pytest

from course import grading


class AlwaysEqual:
    """What a learner returns to pass a naive ``==`` check without doing the work."""

    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False

    def __bool__(self) -> bool:
        return True

    def __hash__(self) -> int:
        return 0


class LyingStr(str):
    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return str.__hash__(self)


def test_expect_passes_only_on_true_itself() -> None:
    grading.expect(True, "p", "e")
    for almost in (1, "yes", [0], AlwaysEqual(), None, False):
        with pytest.raises(grading.PropertyBroken):
            grading.expect(almost, "p", "e")


def test_expect_message_names_the_property_and_the_explanation_only() -> None:
    with pytest.raises(grading.PropertyBroken) as err:
        grading.expect(False, "the badge, not the story", "compare the user with the session")
    assert str(err.value) == ("Property broken: the badge, not the story. "
                              "compare the user with the session")
    assert err.value.prop == "the badge, not the story"
    assert isinstance(err.value, AssertionError), "nbgrader counts it as a failed test"


def test_expect_same_never_quotes_the_values() -> None:
    with pytest.raises(grading.PropertyBroken) as err:
        grading.expect_same("Vault policy", "Agent request", "the badge, not the story", "look again")
    assert "Vault policy" not in str(err.value) and "Agent request" not in str(err.value)
    grading.expect_same(("a", 1), ("a", 1), "p", "e")


@pytest.mark.parametrize("expected", ["Agent request", None, 3, ("a", "b"), ["a"], {"k": "v"},
                                      frozenset({"x"}), {"x"}, 2.5, b"raw"])
def test_exactly_refuses_an_always_equal_answer(expected) -> None:
    assert grading.exactly(expected, expected)
    assert not grading.exactly(AlwaysEqual(), expected)


def test_exactly_refuses_always_equal_inside_containers() -> None:
    assert not grading.exactly(["a", AlwaysEqual()], ["a", "b"])
    assert not grading.exactly(("a", AlwaysEqual()), ("a", "b"))
    assert not grading.exactly({"k": AlwaysEqual()}, {"k": "v"})
    assert not grading.exactly({"k": ["x", AlwaysEqual()]}, {"k": ["x", "y"]})
    assert not grading.exactly(frozenset({LyingStr("a")}), frozenset({"a"}))
    assert not grading.exactly({LyingStr("z")}, {"a"})


def test_exactly_refuses_a_lying_subclass_and_a_near_type() -> None:
    assert not grading.exactly(LyingStr("anything"), "Agent request")
    assert not grading.exactly(1, True) and not grading.exactly(True, 1)
    assert not grading.exactly(["a"], ("a",)), "a list is not the tuple asked for"
    assert not grading.exactly(1.0, 1)
    assert not grading.exactly({"k": "v", "extra": 1}, {"k": "v"})
    assert not grading.exactly(["a", "b"], ["b", "a"]), "order matters in a sequence"


def _kit() -> types.SimpleNamespace:
    return types.SimpleNamespace(reference=lambda x: x * 2, other=lambda: "other")


def test_tripwire_fails_a_function_that_delegates_to_the_reference() -> None:
    kit = _kit()

    def delegating(x: int) -> int:
        return kit.reference(x)

    with pytest.raises(grading.DelegatedToReference) as err, grading.tripwire(kit, "reference") as touched:
        delegating(2)
    assert touched == ["reference"]
    assert "does its own work" in str(err.value) and isinstance(err.value, grading.PropertyBroken)


def test_tripwire_lets_an_honest_function_through_and_restores_the_kit() -> None:
    kit = _kit()
    original = kit.reference

    def honest(x: int) -> int:
        return x * 2

    with grading.tripwire(kit, "reference", "other") as touched:
        assert honest(3) == 6
    assert touched == [] and kit.reference is original
    with pytest.raises(RuntimeError), grading.tripwire(kit, "reference"):
        raise RuntimeError("a failing check inside the block")
    assert kit.reference is original, "restored even when the block raises"


def test_tripwire_catches_reading_a_reference_table_too() -> None:
    kit = types.SimpleNamespace(TABLE={"a": 1})

    def reads_the_table(key: str) -> int:
        return kit.TABLE[key]

    with pytest.raises(TypeError), grading.tripwire(kit, "TABLE"):
        reads_the_table("a")


def test_expect_raises_names_a_wrong_error_or_a_return() -> None:
    def raises_value_error() -> None:
        raise ValueError("x")

    assert isinstance(grading.expect_raises(raises_value_error, ValueError, "p", "e"), ValueError)
    with pytest.raises(grading.PropertyBroken, match="raised KeyError instead"):
        grading.expect_raises(lambda: {}["k"], ValueError, "p", "e")
    with pytest.raises(grading.PropertyBroken, match="returned int instead of raising"):
        grading.expect_raises(lambda: 1, ValueError, "p", "e")

    def unfinished() -> None:
        raise NotImplementedError

    with pytest.raises(NotImplementedError):
        grading.expect_raises(unfinished, ValueError, "p", "e")
