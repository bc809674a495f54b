"""Shared fixtures: a deterministic lab (manual clock, seeded keys, counted ids)."""

from __future__ import annotations

import pytest

from course import clock as clock_mod
from course import keys as keys_mod


@pytest.fixture
def clock() -> clock_mod.ManualClock:
    return clock_mod.ManualClock()


@pytest.fixture
def keyring(clock: clock_mod.ManualClock) -> keys_mod.KeyRing:
    return keys_mod.KeyRing(clock=clock, seed="test", max_token_ttl=3600)
