"""The broker: the only place a real credential meets a request.

The agent hands the broker a short-lived token and names a tool call. The
broker verifies the token for that tool (signature, claims, audience,
revocation), checks that the call is an operation the catalogue allows and
that the token's scopes cover it, holds single-use tokens to one use and
approved tokens to the approved arguments, then fetches the credential of
the *token's* tenant from the secret store, injects it into the real
outgoing HTTP request, and returns the answer redacted. The agent never
holds the secret; the secret never comes back in output or errors.

Every refusal and every failure leaves a ``tool_call`` line in the access
log and raises a typed error. Three properties the hardening pinned:

* Arguments are checked by :mod:`course.boundedjson` before anything walks
  them (a 100,000-deep value is an ``invalid_request``, not a RecursionError).
* A single-use token is spent when its request is sent, and only then: a
  refusal, bad arguments, a credential that does not open, or a connection
  that fails before sending leave it usable; once the request may have
  reached the service it is spent, so a retry can never act twice.
* Credentials are opened per tenant and per secret: one corrupted row
  refuses the calls that need it and nothing else.

Errors raised here chain to nothing and carry no traceback from below the
point where the credential was injected, so no frame holds a header.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

from . import boundedjson, httpclient
from .clock import Clock
from .connectors import PUBLIC_NAMES, Connector, by_tool
from .errors import (
    AccessDenied,
    InvalidRequestError,
    SecretStoreError,
    TokenError,
    UpstreamError,
    VaultLabError,
)
from .policy import intent_digest
from .redact import Redactor
from .refresh import RefreshKeeper
from .revocation import ReplayGuard
from .secretstore import Secret, SecretStore
from .tokens import TokenClaims, VerifiedToken


class _SingleUse(ReplayGuard):
    """The replay guard, plus giving a use back when the request it was spent on never left."""

    def release(self, claims: TokenClaims) -> None:
        """Forget that a single-use token was used (call only if its request was never sent)."""
        if claims.single_use:
            with self._lock:
                self._used.pop(claims.jti, None)


def _scrubbed(exc: VaultLabError) -> VaultLabError:
    """``exc`` with nothing from below attached: no traceback, no cause, no context."""
    exc.__cause__ = exc.__context__ = None
    exc.__suppress_context__ = True
    return exc.with_traceback(None)


def _redacted(redactor: Redactor, text: str) -> str | None:
    """``text`` redacted, or None if the redactor failed (then nothing of ``text`` may be shown)."""
    try:
        return redactor.redact(text)
    except Exception:  # noqa: BLE001 - any failure to redact means: withhold, never pass through
        return None


class _Unredacted:
    """What a broker built with ``redact=False`` (the naive one) does to answers: nothing."""

    def redact(self, text: str) -> str:
        return text


_UNREDACTED: Any = _Unredacted()


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


class CallAuthorizer(Protocol):
    """The broker's enforcement point: does the verified token cover this exact call?

    Return ``(code, reason)`` to refuse, or None to allow. Spends nothing.
    """

    def __call__(self, claims: TokenClaims, connector: Connector, method: str, path: str,
                 args: Mapping[str, Any] | None) -> tuple[str, str] | None: ...


def authorize_call(claims: TokenClaims, connector: Connector, method: str, path: str,
                   args: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """The hardened call authoriser: a catalogue operation, its scope, and the approved arguments.

    Refuses ``operation_not_allowed`` (not exactly an operation of the tool),
    ``scope_missing`` (the token lacks the operation's scope) and
    ``approval_mismatch`` (an approved token used with other arguments).
    """
    op = connector.operation_for(method, path)
    if op is None:
        return "operation_not_allowed", f"{method} {path} is not an operation of {connector.tool!r}"
    if op.scope not in claims.scopes:
        return "scope_missing", f"the token does not carry scope {op.scope!r}"
    if claims.approval is not None:
        try:
            same = intent_digest(dict(args or {})) == claims.approval
        except InvalidRequestError:
            same = False
        if not same:
            return "approval_mismatch", "the call's arguments differ from the approved ones"
    return None


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
        authorize: the call authoriser (:func:`authorize_call`; a learner's or the
            naive one plugs in here).
        single_use: enforce single-use tokens (spent when the request is sent).
        redact: redact answers and errors with the tenant's secrets (off only in the
            naive wiring).
    """

    def __init__(
        self, *, verifier_for: Callable[[str], TokenVerifier], store: SecretStore,
        urls: Callable[[str], str], clock: Clock, log: Any | None = None,
        refresh: RefreshKeeper | None = None, connectors: Mapping[str, Connector] | None = None,
        authorize: CallAuthorizer = authorize_call, single_use: bool = True, redact: bool = True,
    ) -> None:
        self.authorize, self.single_use, self.redact = authorize, single_use, redact
        self._verifier_for, self._store, self._urls = verifier_for, store, urls
        self._log, self._refresh = log, refresh
        self._connectors = dict(connectors or by_tool())
        self._replay = _SingleUse(clock=clock)
        # tenant -> (store generation, the credential it was built around, redactor)
        self._redactors: dict[str, tuple[int, Secret, Redactor]] = {}
        # (tenant, secret name) -> (store generation, opened secret): one entry per secret
        self._opened: dict[tuple[str, str], tuple[int, Secret]] = {}
        self._unreadable: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def call(self, token: object, *, tool: str, method: str, path: str,
             json: Mapping[str, Any] | None = None) -> ToolResult:
        """Perform one tool call with the authority ``token`` proves, and nothing more.

        A single-use token is spent when the request is sent: every refusal below,
        and a connection that fails before sending, leave it usable.

        Raises:
            TokenError: the token does not verify for this tool (expired, forged, revoked, ...),
                or a single-use token was already spent (``RevokedTokenError("replay")``).
            InvalidRequestError: the arguments are not a JSON object of bounded depth and size.
            AccessDenied: unknown tool, operation not allowed, scope missing, or the call's
                arguments differ from the approved ones.
            SecretStoreError: the tenant's credential for this tool is missing or does not
                open (``CorruptSecretError``); other tenants and secrets are unaffected.
            UpstreamError: the service could not be reached or failed to answer (message
                redacted; nothing chained).
            AccessDenied: ``redaction_failed``: the answer could not be redacted, so it is
                withheld (the request was sent: a single-use token stays spent).
        """
        connector = self._connectors.get(tool) if isinstance(tool, str) else None
        if connector is None:
            raise self._deny(None, tool, method, path, "unknown_tool", "no such tool in the catalogue")
        try:
            verified = self._verifier_for(tool).verify(token)
        except TokenError as exc:
            self._record(None, tool, method, path, "deny", exc.code, str(exc))
            raise
        claims = verified.claims
        args = self._arguments(claims, tool, method, path, json)
        spend = self._authorize(claims, connector, method, path, args)
        failure: VaultLabError | None = None
        try:
            credential = self._credential(connector, claims.tenant)
            redactor = self._redactor(claims.tenant, credential) if self.redact else _UNREDACTED
        except VaultLabError as exc:  # a refused refresh, a secret that does not open: leave a trace
            failure = exc
        if failure is not None:
            # A plain upstream failure is "upstream_error"; a subclass keeps its own code
            # (refresh_revoked: the grant's family was revoked, on-call must re-consent).
            code = "upstream_error" if type(failure) is UpstreamError else failure.code
            self._record(claims, tool, method, path, "deny", code, str(failure))
            raise _scrubbed(failure)
        if spend:
            self._spend(claims, tool, method, path)
        answer = self._send(connector, credential, method, path, args)
        if isinstance(answer, VaultLabError):
            if spend and not getattr(answer, "sent", True):
                self._replay.release(claims)  # nothing left this process: the use is given back
            message = _redacted(redactor, str(answer))
            if message is None:
                message = f"{type(answer).__name__} (its message could not be redacted: withheld)"
            self._record(claims, tool, method, path, "deny", "upstream_error", message)
            raise UpstreamError(0, message) from None  # outside any handler: chains to nothing
        if connector.uses_oauth and answer.status == 401 and self._refresh is not None:
            # The upstream refused its own access token (its grant may have been revoked by
            # refresh-token reuse): drop the cached one, so the next call asks the token
            # endpoint once and gets the typed refusal. No retry here: one call, one request.
            self._refresh.forget(claims.tenant)
        body = _redacted(redactor, answer.body.decode("utf-8", errors="replace"))
        if body is None:  # the request reached the service, so the token stays spent
            raise self._deny(claims, tool, method, path, "redaction_failed",
                             f"the answer (status {answer.status}) could not be redacted: withheld")
        self._record(claims, tool, method, path, "allow", "tool_call", f"status {answer.status}")
        return ToolResult(tool=tool, status=answer.status, body=body, jti=claims.jti)

    def _arguments(self, claims: TokenClaims, tool: str, method: str, path: str,
                   json: object) -> dict[str, Any] | None:
        """The call's arguments as a plain dict, or None; checked before anything walks them.

        Raises:
            InvalidRequestError: not a mapping with string keys, not plain JSON, deeper than
                ``boundedjson.MAX_DEPTH`` or bigger than ``boundedjson.MAX_BYTES`` (logged).
        """
        if json is None:
            return None
        problem: InvalidRequestError | None = None
        if not isinstance(json, Mapping):
            problem = InvalidRequestError(f"the arguments are a JSON object, not {type(json).__name__}")
        else:
            args = dict(json)
            try:
                boundedjson.check(args)
            except InvalidRequestError as exc:
                problem = exc
        if problem is not None:
            self._record(claims, tool, method, path, "deny", problem.code, problem.reason)
            raise _scrubbed(problem)
        return args

    def _authorize(self, claims: TokenClaims, connector: Connector, method: str, path: str,
                   json: Mapping[str, Any] | None) -> bool:
        """Ask this broker's call authoriser; refuse (logged) what it refuses.

        Spends nothing. Returns whether the single-use guard applies: :meth:`call`
        then spends a single-use token through :meth:`_spend` just before sending.
        """
        problem = self.authorize(claims, connector, method, path, json)
        if problem is not None:
            raise self._deny(claims, connector.tool, method, path, *problem)
        return self.single_use

    def _spend(self, claims: TokenClaims, tool: str, method: str, path: str) -> None:
        """Spend a single-use token now, as its request is about to be sent (atomic: one caller wins)."""
        try:
            self._replay.consume(claims)
        except TokenError as exc:
            self._record(claims, tool, method, path, "deny", "replay", str(exc))
            raise

    def _send(self, connector: Connector, credential: Secret, method: str, path: str,
              args: dict[str, Any] | None) -> httpclient.Response | VaultLabError:
        """Inject the credential and send; a failure is returned, stripped of every frame.

        The header exists only inside this call and ``httpclient.request``; returning the
        error without its traceback means no frame that held the header outlives the call.
        """
        try:
            return httpclient.request(method, self._urls(connector.service) + path,
                                      headers=connector.inject(credential), json=args)
        except VaultLabError as exc:
            return _scrubbed(exc)
        except Exception as exc:  # noqa: BLE001 - a client bug must not carry the header's frame out
            kind = type(exc).__name__
        return httpclient.HTTPError(method, path, f"client failure ({kind})", sent=True)

    def _credential(self, connector: Connector, tenant: str) -> Secret:
        """The credential to inject, opened from the store once per secret and store generation.

        The broker is the one process that must hold credentials anyway; keeping
        the opened value until the store changes (a rotation bumps its
        generation) saves a database read and a decryption per call. Each
        (tenant, secret) is opened on its own: a row that does not open fails
        the calls that need it, every time it is asked for, and nothing else.

        Raises:
            SecretStoreError: missing, or ``CorruptSecretError``: the row does not open.
            AccessDenied: ``no_refresh``: an OAuth tool, and this broker holds no refresh keeper.
            UpstreamError: the upstream token endpoint refused the refresh.
        """
        if connector.uses_oauth:
            if self._refresh is None:
                raise AccessDenied("no_refresh", "this broker holds no upstream OAuth client")
            return self._refresh.access_token(tenant)
        key = (tenant, connector.secret)
        generation = self._store.generation
        entry = self._opened.get(key)
        if entry is not None and entry[0] == generation:
            return entry[1]
        secret = self._store.get(tenant, connector.secret)
        with self._lock:
            self._opened[key] = (generation, secret)
        return secret

    def _redactor(self, tenant: str, extra: Secret) -> Redactor:
        """A redactor for every secret of the tenant that opens, built once per store generation.

        The injected credential is included even when it is not in the store
        (an OAuth access token), and a change to the store rebuilds. A secret
        that does not open is left out (it can be neither injected nor echoed
        by this broker) and its name is kept in :meth:`unreadable`; it never
        stops the tenant's other tools.
        """
        generation = self._store.generation
        entry = self._redactors.get(tenant)
        if entry is not None and entry[0] == generation and (entry[1] is extra or entry[1] == extra):
            return entry[2]
        secrets: list[Secret] = []
        broken: list[str] = []
        for name in self._store.names(tenant):
            if name in PUBLIC_NAMES:
                continue
            try:
                secrets.append(self._store.get(tenant, name))
            except SecretStoreError:
                broken.append(name)
        redactor = Redactor([*secrets, extra])
        with self._lock:
            self._redactors[tenant] = (generation, extra, redactor)
            self._unreadable[tenant] = tuple(broken)
        return redactor

    def unreadable(self, tenant: str) -> tuple[str, ...]:
        """Names of the tenant's secrets that did not open when its redactor was last built."""
        return self._unreadable.get(tenant, ())

    def _deny(self, claims: Any, tool: str, method: str, path: str, code: str, why: str) -> AccessDenied:
        self._record(claims, tool, method, path, "deny", code, why)
        return AccessDenied(code, why)

    def _record(self, claims: Any, tool: str, method: str, path: str, decision: str,
                code: str, detail: str) -> None:
        if self._log is None:
            return
        facts = {"method": str(method)[:20], "path": str(path)[:200]}  # as sent: may be any type
        if not isinstance(tool, str):
            tool = f"<{type(tool).__name__}>"
        fields: dict[str, Any] = {"tool": tool[:64], "decision": decision, "reason": code,
                                  "detail": detail, "facts": facts}
        if claims is not None:
            fields.update(tenant=claims.tenant, user=claims.user, agent=claims.sub,
                          session=claims.session, task=claims.task, scopes=claims.scopes,
                          jti=claims.jti, expires=claims.exp)
        self._log.append("tool_call", **fields)

    def __repr__(self) -> str:
        return f"Broker(tools={sorted(self._connectors)})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Broker refuses to be pickled")
