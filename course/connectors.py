"""Tool connectors: how the broker reaches each real service, and what each scope allows.

A :class:`Connector` pins everything the agent must not choose: the base URL,
the credential's name in the secret store and the header it goes in, and the
exact operations (method + path pattern) each scope permits. The agent names
a tool, a method and a path; anything outside the catalogue is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import NoReturn

from .secretstore import Secret

# Kept in the secret store for convenience, but not secret: never redacted from output.
PUBLIC_NAMES: frozenset[str] = frozenset({"oauth:client_id"})

_SAFE_PATH = re.compile(r"/[A-Za-z0-9_\-/]*")
_PATTERNS: dict[str, re.Pattern[str]] = {}


def _method(method: object) -> str | None:
    """The method as the catalogue spells it (upper case), or None if it is not an ASCII word.

    Lower case is accepted (``get`` is GET, as HTTP clients send it). Non-ASCII is not:
    ``"poſt".upper()`` is ``"POST"`` (the long s upper-cases to S), so without this check a
    call logged as ``poſt`` would be matched, and sent, as a POST.
    """
    if not isinstance(method, str) or not method.isascii() or not method.isalpha():
        return None
    return method.upper()


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
        """True if this is the call: the method (ASCII, any case) and the whole path match."""
        return (_method(method) == self.method and isinstance(path, str)
                and _compiled(self.pattern).fullmatch(path) is not None)


class InjectedHeaders(Mapping[str, str]):
    """The header mapping :meth:`Connector.inject` returns: read-only, and it never shows its values.

    ``repr``/``str``/``format`` print the header names with ``***`` for each value (a
    traceback with locals, a debug print or a log line of it shows no credential);
    pickling and copying refuse. ``dict(headers)`` still gives the plain headers to send.
    """

    __slots__ = ("_items",)
    _items: dict[str, str]

    def __init__(self, items: Mapping[str, str]) -> None:
        object.__setattr__(self, "_items", dict(items))

    def __getitem__(self, name: str) -> str:
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __setattr__(self, key: str, value: object) -> NoReturn:
        raise AttributeError("InjectedHeaders is read-only")

    def __repr__(self) -> str:
        return "InjectedHeaders({" + ", ".join(f"{name!r}: '***'" for name in self._items) + "})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self) -> NoReturn:
        raise TypeError("injected headers refuse to be pickled or copied")


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
        wanted = _method(method)
        if wanted is None or not isinstance(path, str) or not _SAFE_PATH.fullmatch(path) or "//" in path:
            return None
        for op in self.operations:
            if op.method == wanted and _compiled(op.pattern).fullmatch(path) is not None:
                return op
        return None

    def inject(self, credential: Secret) -> InjectedHeaders:
        """The one header carrying the credential, as the service expects it. Only the broker calls this.

        The mapping's repr shows ``***``, never the value (see :class:`InjectedHeaders`).
        """
        return InjectedHeaders({self.header: f"{self.scheme}{credential.reveal()}"})

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
