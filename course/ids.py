"""Counted ids: deterministic, readable identifiers for tokens, sessions and events.

A notebook that re-runs gets the same ids, so nbval can compare outputs. In
production you would use random ids (``secrets.token_hex``); the lab counts.
"""

from __future__ import annotations

import itertools
import secrets


class IdFactory:
    """Hands out ``prefix-0001``, ``prefix-0002``, ... per prefix, or random ids.

    ``IdFactory(deterministic=False)`` gives unguessable ids for real use.
    """

    def __init__(self, *, deterministic: bool = True) -> None:
        self._deterministic = deterministic
        self._counters: dict[str, itertools.count[int]] = {}

    def next(self, prefix: str) -> str:
        if not self._deterministic:
            return f"{prefix}-{secrets.token_hex(8)}"
        counter = self._counters.setdefault(prefix, itertools.count(1))
        return f"{prefix}-{next(counter):04d}"

    def __repr__(self) -> str:
        return f"IdFactory(deterministic={self._deterministic})"
