"""Tool connectors: how the broker reaches each real service, and what each scope allows.

A :class:`Connector` pins everything the agent must not choose: the base URL,
the credential's name in the secret store and the header it goes in, and the
exact operations (method + path pattern) each scope permits. The agent names
a tool, a method and a path; anything outside the catalogue is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .secretstore import Secret

# Kept in the secret store for convenience, but not secret: never redacted from output.
PUBLIC_NAMES: frozenset[str] = frozenset({"oauth:client_id"})

_SAFE_PATH = re.compile(r"/[A-Za-z0-9_\-/]*")
_PATTERNS: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    """The compiled pattern (the catalogue is small and fixed: compiled once, not looked up per call)."""
    compiled = _PATTERNS.get(pattern)
    if compiled is None:
        compiled = _PATTERNS[pattern] = re.compile(pattern)
    return compiled


@dataclass(frozen=True, slots=True, kw_only=True)
class Operation:
    """One permitted call: ``method`` on paths fully matching ``pattern``, needing ``scope``."""

    method: str
    pattern: str
    scope: str

    def matches(self, method: str, path: str) -> bool:
        return method.upper() == self.method and _compiled(self.pattern).fullmatch(path) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class Connector:
    """A tool: which service, which credential, injected how, allowing which operations."""

    tool: str
    service: str
    secret: str  # name in the secret store ("oauth:access" means: ask the refresh keeper)
    header: str
    scheme: str  # "Bearer " or "" (raw key)
    operations: tuple[Operation, ...]

    def operation_for(self, method: str, path: str) -> Operation | None:
        """The operation this call is, or None (then the broker refuses it)."""
        if (not isinstance(method, str) or not isinstance(path, str)
                or not _SAFE_PATH.fullmatch(path) or "//" in path):
            return None
        wanted = method.upper()
        for op in self.operations:
            if op.method == wanted and _compiled(op.pattern).fullmatch(path) is not None:
                return op
        return None

    def inject(self, credential: Secret) -> dict[str, str]:
        """The header carrying the credential. Called only inside the broker."""
        return {self.header: f"{self.scheme}{credential.reveal()}"}

    @property
    def uses_oauth(self) -> bool:
        return self.secret == "oauth:access"


def _deploy(env: str) -> Connector:
    base = f"/environments/{env}/deployments"
    return Connector(
        tool=f"deploy:{env}", service="deploy", secret=f"deploy:{env}",
        header="Authorization", scheme="Bearer ",
        operations=(Operation(method="POST", pattern=base, scope="deploy:write"),
                    Operation(method="GET", pattern=base + r"(/[A-Za-z0-9_\-]+)?", scope="deploy:read")),
    )


CATALOG: tuple[Connector, ...] = (
    Connector(
        tool="tickets", service="tickets", secret="tickets", header="Authorization",
        scheme="Bearer ",
        operations=(Operation(method="GET", pattern=r"/tickets(/[A-Z0-9\-]+)?", scope="tickets:read"),
                    Operation(method="POST", pattern=r"/tickets", scope="tickets:write"),
                    Operation(method="POST", pattern=r"/tickets/[A-Z0-9\-]+/comments",
                              scope="tickets:write")),
    ),
    Connector(
        tool="payments", service="payments", secret="payments", header="X-Api-Key", scheme="",
        operations=(Operation(method="GET", pattern=r"/charges", scope="payments:read"),
                    Operation(method="POST", pattern=r"/charges", scope="payments:charge"),
                    Operation(method="POST", pattern=r"/refunds", scope="payments:refund")),
    ),
    _deploy("staging"),
    _deploy("production"),
    Connector(
        tool="files", service="oauth", secret="oauth:access", header="Authorization",
        scheme="Bearer ", operations=(Operation(method="GET", pattern=r"/files", scope="files:read"),),
    ),
)

TOOLS: tuple[str, ...] = tuple(c.tool for c in CATALOG)


def by_tool() -> dict[str, Connector]:
    return {c.tool: c for c in CATALOG}
