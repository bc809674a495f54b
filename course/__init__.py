"""Vault Lab's lab kit: a hardened credential vault for AI agents, and the world it runs in.

The trust path every module sits on::

    Agent request -> Vault policy -> Short-lived token -> Tool call -> Access log

One module per concept, named after its place on that path (``policy``,
``tokens``, ``broker``, ``audit``, ...). Importing the package has no side
effects: nothing starts, nothing is read from disk, no key is made.
"""

from __future__ import annotations

import logging

# Library etiquette: the kit logs to "course.*"; the application decides where that goes.
logging.getLogger("course").addHandler(logging.NullHandler())

__version__ = "0.1.0"

TRUST_PATH: tuple[str, ...] = (
    "Agent request",
    "Vault policy",
    "Short-lived token",
    "Tool call",
    "Access log",
)
