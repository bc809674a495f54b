"""Grading helpers for the notebooks' visible checks and hidden tests.

A check that fails must say which *security property* broke, in the
learner's words, not just ``AssertionError``: ``expect(condition, property,
explanation)``. Hidden tests use the same call, and their explanation names
the property only, never the hidden input or the expected value (feedback
reaches the learner; :func:`expect_same` compares without quoting either).

A check must not be fooled by an answer that only pretends: an object whose
``==`` is always true (:func:`exactly` compares exact types, recursively), or
a function that hands the work to the kit's own reference (:func:`tripwire`).
See ``authoring/PATTERN.md`` for how a notebook uses them.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any


class PropertyBroken(AssertionError):
    """A visible check failed; the message names the property and what to look at."""

    def __init__(self, prop: str, explanation: str) -> None:
        self.prop = prop
        super().__init__(f"Property broken: {prop}. {explanation}")


class DelegatedToReference(PropertyBroken):
    """The learner's function called the kit's reference for the piece it should implement."""


def expect(condition: object, prop: str, explanation: str) -> None:
    """Raise :class:`PropertyBroken` unless ``condition`` is exactly ``True``.

    ``is True`` (not truthiness) so an object with a lying ``__bool__`` fails.
    ``prop`` names the security property in the learner's words; ``explanation``
    says what to look at. In a hidden test neither may quote a hidden input or
    an expected value.

    Raises:
        PropertyBroken: ``condition`` is not ``True``.
    """
    if condition is not True:
        raise PropertyBroken(prop, explanation)


def expect_same(value: Any, expected: Any, prop: str, explanation: str) -> None:
    """:func:`expect` that ``value`` is :func:`exactly` ``expected``; the message quotes neither.

    Raises:
        PropertyBroken: the values differ in value or in type.
    """
    expect(exactly(value, expected), prop, explanation)


def exactly(value: Any, expected: Any) -> bool:
    """Equal in value AND in exact type, recursively (defeats always-equal objects)."""
    if type(value) is not type(expected):
        return False
    if isinstance(expected, dict):
        return value.keys() == expected.keys() and all(exactly(value[k], expected[k]) for k in expected)
    if isinstance(expected, list | tuple):
        return len(value) == len(expected) and all(
            exactly(a, b) for a, b in zip(value, expected, strict=True))
    if isinstance(expected, frozenset | set):  # each element matched by exact type too
        return len(value) == len(expected) and all(
            any(exactly(v, e) for e in expected) for v in value)
    return bool(expected == value) and bool(value == expected)


def expect_raises(
    call: Callable[[], object], errors: type[BaseException] | tuple[type[BaseException], ...],
    prop: str, explanation: str,
) -> BaseException:
    """Run ``call``; it must raise one of ``errors``. Returns the error for further checks."""
    try:
        result = call()
    except errors as exc:
        return exc
    except NotImplementedError:
        raise  # unfinished work stays unfinished work, not a "broken property"
    except Exception as exc:  # a different error: name it, it is a hint
        raise PropertyBroken(prop, f"{explanation} (it raised {type(exc).__name__} instead)") from None
    raise PropertyBroken(prop, f"{explanation} (it returned {type(result).__name__} instead of raising)")


@contextlib.contextmanager
def tripwire(module: object, *names: str) -> Iterator[list[str]]:
    """Replace ``module.<name>`` for each name with a function that records being touched.

    Used to prove a learner's function does its own work: inside the block,
    any call to (or instantiation of) the kit's reference is recorded.
    """
    touched: list[str] = []
    saved = {n: getattr(module, n) for n in names}

    def make(name: str) -> Callable[..., Any]:
        def wire(*args: Any, **kwargs: Any) -> Any:
            touched.append(name)
            raise DelegatedToReference(
                "does its own work", f"it calls the kit's reference {name!r}; write the logic yourself"
            )
        return wire

    try:
        for n in names:
            setattr(module, n, make(n))
        yield touched
    finally:
        for n, v in saved.items():
            setattr(module, n, v)


def source_mentions(func: Callable[..., Any], *names: str) -> tuple[str, ...]:
    """Which of ``names`` appear in the source of ``func`` (a static hint of delegation)."""
    try:
        src = inspect.getsource(func)
    except (OSError, TypeError):
        return ()
    return tuple(n for n in names if n in src)
