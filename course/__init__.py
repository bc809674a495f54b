"""Vault Lab's lab kit: a hardened credential vault for AI agents, and the world it runs in.

The trust path, and the module that holds each node::

    Agent request -> Vault policy -> Short-lived token -> Tool call -> Access log
      vault            policy          tokens, keys        broker,       audit
      (sessions,       approvals                           connectors,
       credentials)                                        redact

Start at :mod:`course.lab`, the one composition root: a ``Wiring`` names the
piece in every enforcement-point slot, ``lab.assemble`` builds it, and the
notebooks, the red team, the walkthrough, the bench and the service all go
through it.

By role:

* enforcement (what the hardened vault is made of): ``vault``, ``policy``,
  ``approvals``, ``tokens``, ``keys``, ``revocation``, ``broker``,
  ``connectors``, ``redact``, ``audit``, ``refresh``, ``secretstore``,
  ``boundedjson`` (every JSON that enters), ``errors`` (the typed error tree);
* composition and processes: ``lab`` (the composition root), ``service``
  (vault and broker in their own process, over HTTP), ``httpclient``;
* the world (real HTTP services on 127.0.0.1 and a scripted model): ``world``,
  ``agent``, ``clock``, ``ids``;
* teaching: ``plots``, ``simulator``, ``redteam``, ``walkthrough``, ``bench``,
  ``grading``, ``taxonomy``, and the material of the on-call notebooks as plain
  data: ``incident`` (05), ``oncall`` (06), ``ownership`` (07), ``threatmodel`` (08);
* unsafe by name (the naive wiring the course breaks): ``unsafe``, ``forge``.

Two redactors, two names: :class:`course.redact.Redactor` finds and masks
secrets in every encoded form; :class:`course.audit.LineRedactor` is only the
protocol the access log asks of one.

Importing the package has no side effects: nothing starts, nothing is read
from disk, no key is made.
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
