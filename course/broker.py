"""The broker: the only place a real credential meets a request.

The agent hands the broker a short-lived token and names a tool call. The
broker verifies the token for that tool (signature, claims, audience,
revocation), checks that the call is an operation the catalogue allows and
that the token's scopes cover it, holds single-use tokens to one use and
approved tokens to the approved arguments, then fetches the credential of
the *token's* tenant from the secret store, injects it into the real
outgoing HTTP request, and returns the answer redacted. The agent never
holds the secret; the secret never comes back in output or errors.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from . import httpclient
from .clock import Clock
from .connectors import PUBLIC_NAMES, Connector, by_tool
from .errors import AccessDenied, TokenError, UpstreamError, VaultLabError
from .policy import intent_digest
from .redact import Redactor
from .refresh import RefreshKeeper
from .revocation import ReplayGuard
from .secretstore import Secret, SecretStore
from .tokens import TokenClaims, VerifiedToken


class TokenVerifier(Protocol):
    def verify(self, token: object) -> VerifiedToken: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolResult:
    """What the agent gets back: status and a redacted body (never a credential)."""

    tool: str
    status: int
    body: str
    jti: str

    def json(self) -> Any:
        import json
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"ToolResult(tool={self.tool!r}, status={self.status}, body=<{len(self.body)} chars>)"


class Broker:
    """Performs tool calls on behalf of token holders; refuses everything the token does not prove.

    Args:
        verifier_for: tool name -> verifier (``vault.verifier`` in the hardened wiring,
            a learner's ``PluggedVerifier`` in a notebook).
        store: the secret store holding each tenant's credentials.
        urls: service name -> base URL (``world.url``).
        clock: for single-use tracking.
        log: an access log, or None.
        refresh: the keeper of upstream OAuth refresh tokens (for the ``files`` tool).
    """

    def __init__(
        self, *, verifier_for: Callable[[str], TokenVerifier], store: SecretStore,
        urls: Callable[[str], str], clock: Clock, log: Any | None = None,
        refresh: RefreshKeeper | None = None, connectors: Mapping[str, Connector] | None = None,
    ) -> None:
        self._verifier_for, self._store, self._urls = verifier_for, store, urls
        self._log, self._refresh = log, refresh
        self._connectors = dict(connectors or by_tool())
        self._replay = ReplayGuard(clock=clock)
        self._redactors: dict[tuple[str, ...], Redactor] = {}
        self._opened: dict[tuple[str, str, int], Secret] = {}
        self._lock = threading.Lock()

    def call(self, token: object, *, tool: str, method: str, path: str,
             json: Mapping[str, Any] | None = None) -> ToolResult:
        """Perform one tool call with the authority ``token`` proves, and nothing more.

        Raises:
            TokenError: the token does not verify for this tool (expired, forged, revoked, ...).
            AccessDenied: unknown tool, operation not allowed, scope missing, replay,
                or the call's arguments differ from the approved ones.
            UpstreamError: the service failed (message redacted).
        """
        connector = self._connectors.get(tool)
        if connector is None:
            raise self._deny(None, tool, method, path, "unknown_tool", "no such tool in the catalogue")
        try:
            verified = self._verifier_for(tool).verify(token)
        except TokenError as exc:
            self._record(None, tool, method, path, "deny", exc.code, str(exc))
            raise
        claims = verified.claims
        self._authorize(claims, connector, method, path, json)
        try:
            credential = self._credential(connector, claims.tenant)
        except VaultLabError as exc:  # e.g. the upstream refresh was refused: still leave a trace
            self._record(claims, tool, method, path, "deny", "upstream_error"
                         if isinstance(exc, UpstreamError) else exc.code, str(exc))
            raise
        redactor = self._redactor(claims.tenant, credential)
        try:
            answer = httpclient.request(method, self._urls(connector.service) + path,
                                        headers=connector.inject(credential), json=json)
        except VaultLabError as exc:
            message = redactor.redact(str(exc))
            self._record(claims, tool, method, path, "deny", "upstream_error", message)
            raise UpstreamError(0, message) from None
        body = redactor.redact(answer.body.decode("utf-8", errors="replace"))
        self._record(claims, tool, method, path, "allow", "tool_call", f"status {answer.status}")
        return ToolResult(tool=tool, status=answer.status, body=body, jti=claims.jti)

    def _authorize(self, claims: TokenClaims, connector: Connector, method: str, path: str,
                   json: Mapping[str, Any] | None) -> None:
        """Refuse a call the verified token does not cover: operation, scope, approval, replay."""
        tool = connector.tool
        op = connector.operation_for(method, path)
        if op is None:
            raise self._deny(claims, tool, method, path, "operation_not_allowed",
                             f"{method} {path} is not an operation of {tool!r}")
        if op.scope not in claims.scopes:
            raise self._deny(claims, tool, method, path, "scope_missing",
                             f"the token does not carry scope {op.scope!r}")
        if claims.approval is not None and intent_digest(dict(json or {})) != claims.approval:
            raise self._deny(claims, tool, method, path, "approval_mismatch",
                             "the call's arguments differ from the approved ones")
        try:
            self._replay.consume(claims)
        except TokenError as exc:
            self._record(claims, tool, method, path, "deny", "replay", str(exc))
            raise

    def _credential(self, connector: Connector, tenant: str) -> Secret:
        """The credential to inject: opened from the store once per store generation.

        The broker is the one process that must hold credentials anyway; keeping
        the opened value until the store changes (a rotation bumps its
        generation) saves a database read and a decryption per call.
        """
        if connector.uses_oauth:
            if self._refresh is None:
                raise AccessDenied("no_refresh", "this broker holds no upstream OAuth client")
            return self._refresh.access_token(tenant)
        key = (tenant, connector.secret, self._store.generation)
        secret = self._opened.get(key)
        if secret is None:
            secret = self._store.get(tenant, connector.secret)
            with self._lock:
                self._opened = {k: v for k, v in self._opened.items() if k[2] == key[2]}
                self._opened[key] = secret
        return secret

    def _redactor(self, tenant: str, extra: Secret) -> Redactor:
        """A redactor for every secret the tenant has, compiled once per store generation.

        The injected credential is included even when it is not in the store
        (an OAuth access token), and a change to the store recompiles.
        """
        key = (tenant, str(self._store.generation), extra.name, str(hash(extra.reveal())))
        with self._lock:
            redactor = self._redactors.get(key)
            if redactor is None:
                secrets = [self._store.get(tenant, n) for n in self._store.names(tenant)
                       if n not in PUBLIC_NAMES]
                redactor = Redactor([*secrets, extra])
                self._redactors = {k: v for k, v in self._redactors.items() if k[0] != tenant}
                self._redactors[key] = redactor
            return redactor

    def _deny(self, claims: Any, tool: str, method: str, path: str, code: str, why: str) -> AccessDenied:
        self._record(claims, tool, method, path, "deny", code, why)
        return AccessDenied(code, why)

    def _record(self, claims: Any, tool: str, method: str, path: str, decision: str,
                code: str, detail: str) -> None:
        if self._log is None:
            return
        fields: dict[str, Any] = {"tool": tool, "decision": decision, "reason": code,
                                  "detail": detail, "facts": {"method": method, "path": str(path)[:200]}}
        if claims is not None:
            fields.update(tenant=claims.tenant, user=claims.user, agent=claims.sub,
                          session=claims.session, task=claims.task, scopes=claims.scopes,
                          jti=claims.jti, expires=claims.exp)
        self._log.append("tool_call", **fields)

    def __repr__(self) -> str:
        return f"Broker(tools={sorted(self._connectors)})"

    def __reduce__(self) -> object:
        raise TypeError("a Broker refuses to be pickled")
