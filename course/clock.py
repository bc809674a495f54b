"""Time, injected: every time-dependent call in the kit takes a clock.

A :class:`ManualClock` makes expiry testable without sleeping and notebook
outputs reproducible; a :class:`SystemClock` is the real thing.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

# 2026-01-01T00:00:00Z: the lab's fixed epoch, so notebook outputs never depend on today.
LAB_EPOCH = 1_767_225_600


@runtime_checkable
class Clock(Protocol):
    """Anything that can say what time it is, in whole seconds since the Unix epoch."""

    def now(self) -> int: ...


class SystemClock:
    """The wall clock."""

    def now(self) -> int:
        return int(time.time())

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """A clock that moves only when told to, so tests and notebooks never sleep.

    Raises:
        ValueError: when asked to move backwards (time never rewinds in the lab).
    """

    def __init__(self, start: int = LAB_EPOCH) -> None:
        self._now = int(start)

    def now(self) -> int:
        return self._now

    def advance(self, seconds: int) -> int:
        """Move forward by ``seconds`` and return the new time."""
        if seconds < 0:
            raise ValueError("a ManualClock only moves forward")
        self._now += int(seconds)
        return self._now

    def set(self, when: int) -> int:
        """Jump forward to ``when``."""
        if when < self._now:
            raise ValueError("a ManualClock only moves forward")
        self._now = int(when)
        return self._now

    def __repr__(self) -> str:
        return f"ManualClock(now={self._now})"
