"""The vault and the broker as their own process: "the agent never sees the secret" as a boundary.

:func:`spawn_service` (or ``python -m course.service``) starts, in a child
process, the world, a secret store provisioned with the world's credentials,
the vault and the broker (the standard wiring of
:func:`course.agent.lab_world_and_vault`), and serves them over HTTP on
127.0.0.1. It prints exactly one JSON line on stdout: the service URL and the
world's service URLs. No secret, token, credential or seed is ever printed.

Callers prove who they are. Opening a session (admin) answers, once, with the
session's credential; the vault keeps only its hash. ``POST /v1/token`` needs
``Authorization: Session <credential>``, and the request's session must be the
one the credential proves: naming a session id gives nothing, and an absent,
unknown or another session's credential all answer ``401 unauthenticated``.

Key material never travels in argv or the environment. A service started for
real derives every key and world credential from a fresh random seed that
never leaves the child. A deterministic seed (notebooks and tests only) and the
admin key reach the child over its stdin pipe (``--config-stdin``), and a seed
is refused unless the command line asks for it by name (``--deterministic``).

Endpoints (JSON in, JSON out; every error is ``{"error": {"code", "reason"}}``
with the kit error's code and message, which never hold a token or a secret;
bodies are bounded in size and nesting depth, anything else is a 400):

=================================  ==========================================================
``POST /v1/token``                 ``Authorization: Session <credential>``; body: an
                                   AgentRequest (``tenant, user, agent, session, task, tool,
                                   scopes, ttl, intent``; optional ``approval``) -> ``{token,
                                   jti, aud, scopes, exp}``; 401 ``unauthenticated``, 403 on a
                                   denial (``approval_required`` adds ``request_hash``)
``POST /v1/call``                  ``Authorization: Bearer <token>``; body ``{tool, method,
                                   path, json}`` -> ``{status, body}`` (body redacted by the
                                   broker); 401 token errors, 403 denials, 502 upstream
``GET /v1/jwks``                   the vault's public keys
``POST /v1/sessions``              admin: ``{tenant, user, agent, parent?}`` -> the session and
                                   its ``credential`` (shown this once)
``POST /v1/approvals``             admin: ``{request, approver}`` -> the approval
``POST /v1/revoke``                admin: one of ``{jti}``, ``{session}``, ``{agent}``,
                                   ``{tenant}``, ``{all: true}``, plus ``why``
``POST /v1/clock/advance``         admin, manual clock only: ``{seconds}`` -> ``{now}``
``GET /v1/log``                    admin: the access log's lines (secret-free by design)
``GET /v1/log/checkpoint``         admin: ``{checkpoint, public_key}``: a signed (count, head,
                                   time) that anyone with the raw Ed25519 public key can check
``GET /v1/lab/collector``          admin: how many requests the attacker's collector got
                                   (a count only: a leaked body would carry the secret)
=================================  ==========================================================

Admin endpoints stand in for the platform side (the identity provider that
opens sessions, the human who approves, the on-call who revokes). They need
the ``X-Lab-Admin`` header to equal the admin key handed to the child over its
stdin; without one they are disabled (403 ``admin_disabled``). The agent's
clients (:class:`RemoteVault`, :class:`RemoteBroker`) never carry the admin
key; :class:`RemoteAdmin` does. Header names are matched case-insensitively.

Requests are handled one at a time (a single lock), so counted ids stay
deterministic.
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from . import boundedjson, errors, httpclient
from .approvals import Approval
from .errors import (
    AccessDenied,
    ApprovalRequired,
    ConfigurationError,
    InvalidRequestError,
    TokenError,
    UnauthenticatedError,
    UpstreamError,
    VaultLabError,
)
from .policy import AgentRequest
from .secretstore import Secret
from .vault import Session

__all__ = [
    "RemoteAdmin",
    "RemoteBroker",
    "RemoteVault",
    "ServiceProcess",
    "ServiceThread",
    "serve",
    "spawn_service",
]

ADMIN_HEADER = "X-Lab-Admin"
SESSION_SCHEME = "Session"
MAX_BODY = 1 << 20
MAX_DEPTH = 32


# ---------------------------------------------------------------- (de)serialising


def request_to_json(request: AgentRequest) -> dict[str, Any]:
    """An AgentRequest as the wire carries it (its :meth:`~AgentRequest.facts`)."""
    return request.facts()


def request_from_json(data: object) -> AgentRequest:
    """Parse an AgentRequest, refusing anything that is not exactly the expected shape.

    Raises:
        AccessDenied("invalid_request"): a missing field or a wrong type.
    """
    if not isinstance(data, dict):
        raise AccessDenied("invalid_request", "the request must be a JSON object")
    fields = ("tenant", "user", "agent", "session", "task", "tool")
    if not all(isinstance(data.get(f), str) for f in fields):
        raise AccessDenied("invalid_request", f"the request needs string fields {list(fields)}")
    scopes, ttl, intent = data.get("scopes"), data.get("ttl", 300), data.get("intent", {})
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise AccessDenied("invalid_request", "scopes must be a list of strings")
    if isinstance(ttl, bool) or not isinstance(ttl, int):
        raise AccessDenied("invalid_request", "ttl must be an integer")
    pairs = list(intent.items()) if isinstance(intent, dict) else intent
    if not isinstance(pairs, list) or not all(
            isinstance(p, (list, tuple)) and len(p) == 2 for p in pairs):
        raise AccessDenied("invalid_request", "intent must be a list of [name, value] pairs")
    return AgentRequest(**{f: data[f] for f in fields}, scopes=tuple(scopes), ttl=ttl,
                        intent=tuple((k, v) for k, v in pairs))


def approval_to_json(approval: Approval) -> dict[str, Any]:
    return {"id": approval.id, "request_digest": approval.request_digest,
            "approver": approval.approver, "approved_at": approval.approved_at,
            "expires_at": approval.expires_at}


def approval_from_json(data: object) -> Approval:
    """Rebuild an approval; the vault then checks it is one it issued, unchanged."""
    if not isinstance(data, dict):
        raise AccessDenied("invalid_request", "approval must be a JSON object")
    try:
        return Approval(id=str(data["id"]), request_digest=str(data["request_digest"]),
                        approver=str(data["approver"]), approved_at=int(data["approved_at"]),
                        expires_at=int(data["expires_at"]))
    except (KeyError, TypeError, ValueError):
        raise AccessDenied("invalid_request", "approval is missing a field") from None


def _error_body(code: str, reason: str, **extra: object) -> dict[str, Any]:
    return {"error": {"code": code, "reason": reason, **extra}}


# ---------------------------------------------------------------- the server (child side)


class _App:
    """Routes to the lab's vault and broker, one request at a time."""

    def __init__(self, lab: Any, admin_key: str | None) -> None:
        self.lab = lab
        self._admin = admin_key
        self._lock = threading.Lock()

    def handle(self, method: str, path: str, headers: Mapping[str, str],
               body: bytes) -> tuple[int, dict[str, Any]]:
        """Answer one request. ``headers`` may come in any case: names are compared lower-cased."""
        headers = {k.lower(): v for k, v in headers.items()}
        route = self._routes().get((method, path))
        if route is None:
            return 404, _error_body("not_found", "no such endpoint")
        handler, admin = route
        if admin:
            problem = self._admin_problem(headers.get(ADMIN_HEADER.lower()))
            if problem:
                return 403, _error_body(*problem)
        try:
            data = boundedjson.loads(body or b"{}", max_bytes=MAX_BODY, max_depth=MAX_DEPTH)
        except InvalidRequestError as exc:
            return 400, _error_body("invalid_json", exc.reason)
        with self._lock:
            try:
                return handler(data, headers)
            except ApprovalRequired as exc:
                return 403, _error_body(exc.code, exc.reason, request_hash=exc.request_hash)
            except UnauthenticatedError as exc:
                return 401, _error_body(exc.code, exc.reason)
            except InvalidRequestError as exc:  # refused at construction: a client mistake
                return 400, _error_body(exc.code, exc.reason)
            except AccessDenied as exc:
                return 403, _error_body(exc.code, exc.reason)
            except TokenError as exc:
                data = {k: getattr(exc, k) for k in ("claim", "scope") if hasattr(exc, k)}
                return 401, _error_body(exc.code, str(exc), **data)
            except UpstreamError as exc:
                return 502, _error_body(exc.code, str(exc), status=exc.status)
            except (VaultLabError, ValueError) as exc:
                return 400, _error_body(getattr(exc, "code", "invalid_request"), str(exc))

    def _admin_problem(self, presented: str | None) -> tuple[str, str] | None:
        if not self._admin:
            return "admin_disabled", "this service was started without an admin key"
        if not presented or not hmac.compare_digest(presented.encode(), self._admin.encode()):
            return "admin_required", f"this endpoint needs the {ADMIN_HEADER} key"
        return None

    def _routes(self) -> dict[tuple[str, str], tuple[Any, bool]]:
        return {
            ("POST", "/v1/token"): (self._token, False),
            ("POST", "/v1/call"): (self._call, False),
            ("GET", "/v1/jwks"): (lambda d, h: (200, self.lab.vault.jwks()), False),
            ("POST", "/v1/sessions"): (self._session, True),
            ("POST", "/v1/approvals"): (self._approve, True),
            ("POST", "/v1/revoke"): (self._revoke, True),
            ("POST", "/v1/clock/advance"): (self._advance, True),
            ("GET", "/v1/log"): (lambda d, h: (200, {"lines": list(self.lab.log.lines())}), True),
            ("GET", "/v1/log/checkpoint"): (self._checkpoint, True),
            ("GET", "/v1/lab/collector"): (
                lambda d, h: (200, {"hits": len(self.lab.world.collector_hits())}), True),
        }

    def _token(self, data: Any, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        scheme, _, credential = (headers.get("authorization") or "").partition(" ")
        request = request_from_json(data.get("request", data) if isinstance(data, dict) else data)
        raw = data.get("approval") if isinstance(data, dict) else None
        approval = approval_from_json(raw) if raw is not None else None
        proof = credential.strip() if scheme.lower() == SESSION_SCHEME.lower() else None
        issued = self.lab.vault.request(request, approval=approval, credential=proof or None)
        c = issued.claims
        return 200, {"token": issued.token, "jti": c.jti, "aud": c.aud,
                     "scopes": list(c.scopes), "exp": c.exp}

    def _call(self, data: Any, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        scheme, _, token = (headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return 401, _error_body("missing_token", "send Authorization: Bearer <token>")
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str)
                                                 for k in ("tool", "method", "path")):
            return 400, _error_body("invalid_request", "need tool, method and path strings")
        body = data.get("json")
        if body is not None and not isinstance(body, dict):
            return 400, _error_body("invalid_request", "json must be an object or null")
        result = self.lab.broker.call(token.strip(), tool=data["tool"], method=data["method"],
                                      path=data["path"], json=body)
        return 200, {"status": result.status, "body": result.body, "jti": result.jti}

    def _session(self, data: Any, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str)
                                                 for k in ("tenant", "user", "agent")):
            return 400, _error_body("invalid_request", "need tenant, user and agent strings")
        parent = data.get("parent")
        s = self.lab.vault.open_session(tenant=data["tenant"], user=data["user"],
                                        agent=data["agent"],
                                        parent=parent if isinstance(parent, str) else None)
        assert s.credential is not None  # a session just opened carries its proof
        return 200, {**_session_json(s), "credential": s.credential.reveal()}  # shown this once

    def _approve(self, data: Any, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        request = request_from_json(data.get("request") if isinstance(data, dict) else None)
        approver = data.get("approver")
        if not isinstance(approver, str):
            return 400, _error_body("invalid_request", "need an approver")
        return 200, approval_to_json(self.lab.vault.approve(request, approver=approver))

    def _revoke(self, data: Any, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        if not isinstance(data, dict):
            return 400, _error_body("invalid_request", "the body must be an object")
        vault, why = self.lab.vault, str(data.get("why", ""))
        if isinstance(data.get("session"), str):
            return 200, {"revoked": list(vault.revoke_session(data["session"], why=why))}
        for kind, revoke in (("jti", vault.revoke_token), ("agent", vault.revoke_agent),
                             ("tenant", vault.revoke_tenant)):
            if isinstance(data.get(kind), str):
                revoke(data[kind], why=why)
                return 200, {"revoked": [data[kind]]}
        if data.get("all") is True:
            vault.revoke_all(why=why)
            return 200, {"revoked": ["all"]}
        return 400, _error_body("invalid_request", "name one of jti, session, agent, tenant, all")

    def _checkpoint(self, data: Any, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """A signed checkpoint of the access log and the public key that checks it."""
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        public = self.lab.log.checkpoint_public_key
        raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
        return 200, {"checkpoint": self.lab.log.checkpoint().as_dict(), "public_key": raw}

    def _advance(self, data: Any, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        advance = getattr(self.lab.clock, "advance", None)
        if advance is None:
            return 409, _error_body("not_manual_clock", "this service runs on the system clock")
        seconds = data.get("seconds") if isinstance(data, dict) else None
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
            return 400, _error_body("invalid_request", "seconds must be a non-negative integer")
        return 200, {"now": advance(seconds)}


def _session_json(s: Session) -> dict[str, Any]:
    return {"id": s.id, "tenant": s.tenant, "user": s.user, "agent": s.agent, "parent": s.parent}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "VaultLabService/1.0"
    disable_nagle_algorithm = True
    timeout = 60
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        """Silenced: request lines could hold paths a learner would rather not see in stderr."""

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch()

    def _dispatch(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if any(len(self.headers.get_all(h) or ()) > 1 for h in ("Authorization", ADMIN_HEADER)):
            self.close_connection = True
            return self._send(400, _error_body("duplicate_header", "send each credential header once"))
        if self.headers.get("Transfer-Encoding") or not 0 <= length <= MAX_BODY:
            self.close_connection = True
            return self._send(413, _error_body("bad_body", f"send 0..{MAX_BODY} bytes "
                                               "with a Content-Length"))
        body = self.rfile.read(length)
        headers = dict(self.headers.items())
        try:
            status, payload = self.server.app.handle(self.command, self.path.split("?")[0],
                                                     headers, body)
        except Exception:  # a bug must answer 500, never a traceback with request data
            status, payload = 500, _error_body("internal", "the service failed")
        self._send(status, payload)

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, app: _App, port: int) -> None:
        self.app = app
        super().__init__(("127.0.0.1", port), _Handler)

    def server_bind(self) -> None:
        # Skip HTTPServer's getfqdn(): a reverse DNS lookup that can stall for seconds.
        import socketserver
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]


def serve(*, seed: str | None = None, clock: str = "manual", port: int = 0,
          admin_key: str | None = None, ready: Any = None,
          stop: threading.Event | None = None) -> None:
    """Run the world, vault and broker and serve them until ``stop`` is set.

    With ``seed=None`` (a real service) every key and credential derives from
    a fresh random seed that never leaves this process; a seed makes them
    deterministic (notebooks and tests only). The vault requires a session
    credential on every token request. ``ready(info)`` is called once with the
    startup info (URLs only) when the server listens; the command line prints
    it as one JSON line.

    Raises:
        ConfigurationError: ``clock`` is neither ``"manual"`` nor ``"system"``.
    """
    from .agent import lab_world_and_vault
    from .clock import ManualClock, SystemClock

    if clock not in ("manual", "system"):
        raise ConfigurationError("clock must be 'manual' or 'system'")
    lab = lab_world_and_vault(seed if seed is not None else secrets.token_hex(32),
                              clock=ManualClock() if clock == "manual" else SystemClock(),
                              require_credentials=True)
    server = _Server(_App(lab, admin_key), port)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="vault-service", daemon=True)
    thread.start()
    try:
        if ready is not None:
            url = f"http://127.0.0.1:{server.server_address[1]}"
            ready({"url": url, "clock": clock,
                   "world": {name: lab.world.url(name) for name in lab.world.services}})
        (stop or threading.Event()).wait()
    finally:
        server.shutdown()
        server.server_close()
        lab.close()


def read_config(stream: Any, *, deterministic: bool) -> tuple[str | None, str | None]:
    """The (seed, admin key) a parent sent as the first JSON line on ``stream``.

    Raises:
        ConfigurationError: the line is not a JSON object of strings, or it holds a
            seed although the command line did not ask for ``--deterministic``.
    """
    try:
        config = json.loads(stream.readline() or b"{}")
    except ValueError:
        config = None
    if not isinstance(config, dict) or not all(
            isinstance(config.get(k), (str, type(None))) for k in ("seed", "admin_key")):
        raise ConfigurationError("the config line must be a JSON object with string seed/admin_key")
    seed, admin_key = config.get("seed"), config.get("admin_key")
    if seed is not None and not deterministic:
        raise ConfigurationError("a seed makes every key derivable: refused unless the command "
                                 "line says --deterministic (notebooks and tests only)")
    return seed, admin_key or None


def main(argv: list[str] | None = None) -> int:
    """``python -m course.service [--config-stdin [--deterministic]] [--clock manual|system]``."""
    parser = argparse.ArgumentParser(prog="python -m course.service",
                                     description="Serve the lab's vault and broker on 127.0.0.1.")
    parser.add_argument("--seed", help=argparse.SUPPRESS)
    parser.add_argument("--clock", choices=("manual", "system"), default="manual")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--config-stdin", action="store_true",
                        help="read {seed?, admin_key?} as one JSON line on stdin, then stop "
                             "when stdin closes (how spawn_service starts the child)")
    parser.add_argument("--deterministic", action="store_true",
                        help="accept a seed from the config line: every key derives from it "
                             "(notebooks and tests only, never a real service)")
    parser.add_argument("--exit-on-stdin-eof", action="store_true",
                        help="stop when stdin closes (the parent died or let go)")
    args = parser.parse_args(argv)
    if args.seed is not None:
        parser.error("--seed is refused: anything in argv is readable by every local process "
                     "(/proc/<pid>/cmdline). Send it with --config-stdin --deterministic.")
    seed, admin_key = None, None
    if args.config_stdin:
        try:
            seed, admin_key = read_config(sys.stdin.buffer, deterministic=args.deterministic)
        except ConfigurationError as exc:
            print(f"course.service: {exc}", file=sys.stderr)
            return 2
    stop = threading.Event()
    if args.exit_on_stdin_eof or args.config_stdin:
        def watch() -> None:
            sys.stdin.buffer.read()
            stop.set()
        threading.Thread(target=watch, name="stdin-watch", daemon=True).start()

    def ready(info: dict[str, Any]) -> None:
        print(json.dumps(info, sort_keys=True), flush=True)

    try:
        serve(seed=seed, clock=args.clock, port=args.port, admin_key=admin_key, ready=ready,
              stop=stop)
    except KeyboardInterrupt:
        pass
    return 0


# ---------------------------------------------------------------- clients (parent side)


def _raise_for(status: int, payload: object) -> None:
    """Turn an error answer back into the kit's error type, with its code and message."""
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        raise UpstreamError(status, "the service answered without a JSON error")
    code, reason = str(error.get("code", "error")), str(error.get("reason", ""))
    exc = errors.from_code(code, reason, **{k: v for k, v in error.items() if k not in ("code", "reason")})
    if status == 401 and type(exc) is AccessDenied:  # a refusal of the token itself (missing_token)
        exc = TokenError(reason)
        exc.code = code
    if status == 403 and not isinstance(exc, AccessDenied):  # a denial sharing a token code (revoked)
        exc = AccessDenied(code, reason)
    raise exc


class _Client:
    def __init__(self, url: str, *, admin_key: str | None = None, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._admin = admin_key
        self._timeout = timeout

    def _post(self, path: str, payload: object, *, headers: Mapping[str, str] | None = None
              ) -> dict[str, Any]:
        return self._send("POST", path, payload, headers)

    def _send(self, method: str, path: str, payload: object = None,
              headers: Mapping[str, str] | None = None) -> dict[str, Any]:
        sent = dict(headers or {})
        if self._admin:
            sent[ADMIN_HEADER] = self._admin
        answer = httpclient.request(method, self.url + path, headers=sent, json=payload,
                                    timeout=self._timeout)
        try:
            data = answer.json()
        except ValueError:
            data = None
        if answer.status != 200:
            _raise_for(answer.status, data)
        if not isinstance(data, dict):
            raise UpstreamError(answer.status, "the service answered something that is not JSON")
        return data

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url=<service>)"


class RemoteVault(_Client):
    """The agent's vault client over HTTP: same protocol as :class:`course.agent.InProcessVault`.

    ``credential`` is the session's proof (:attr:`Session.credential`); a call
    may also pass its own. Without one the service answers ``unauthenticated``.
    """

    def __init__(self, url: str, *, credential: Secret | None = None, timeout: float = 10.0) -> None:
        super().__init__(url, timeout=timeout)
        self._credential = credential

    def request_token(self, request: AgentRequest, *, approval: Approval | None = None,
                      credential: Secret | None = None) -> tuple[str, Any]:
        """A token for ``request`` from the vault process.

        Raises:
            UnauthenticatedError: no credential, or not the credential of the request's session.
            ApprovalRequired, AccessDenied: the vault refused (same codes as in process).
        """
        from .agent import TokenInfo

        payload: dict[str, Any] = {"request": request_to_json(request)}
        if approval is not None:
            payload["approval"] = approval_to_json(approval)
        proof = credential or self._credential
        headers = {"Authorization": f"{SESSION_SCHEME} {proof.reveal()}"} if proof else None
        data = self._post("/v1/token", payload, headers=headers)
        info = TokenInfo(jti=str(data["jti"]), aud=str(data["aud"]),
                         scopes=tuple(data["scopes"]), exp=int(data["exp"]))
        return str(data["token"]), info

    def jwks(self) -> dict[str, Any]:
        return self._send("GET", "/v1/jwks")


class RemoteBroker(_Client):
    """The agent's broker client over HTTP: same ``call`` as :class:`course.broker.Broker`."""

    def call(self, token: str, *, tool: str, method: str, path: str,
             json: Mapping[str, Any] | None = None) -> Any:
        """Have the broker process perform one call with ``token``.

        Raises:
            TokenError: the token did not verify: the same subclass as in process
                (:class:`~course.errors.ExpiredTokenError`, ...), via :func:`course.errors.from_code`.
            AccessDenied: the broker refused (scope, operation, replay, approval).
            UpstreamError: the service failed.
        """
        from .broker import ToolResult

        data = self._post("/v1/call", {"tool": tool, "method": method, "path": path,
                                       "json": dict(json) if json is not None else None},
                          headers={"Authorization": f"Bearer {token}"})
        return ToolResult(tool=tool, status=int(data["status"]), body=str(data["body"]),
                          jti=str(data.get("jti", "")))


class RemoteAdmin(_Client):
    """The platform's side (sessions, approvals, revocation, clock, log). Needs the admin key."""

    def open_session(self, *, tenant: str, user: str, agent: str,
                     parent: str | None = None) -> Session:
        """Open a session; the answer carries its credential, which the service shows only now."""
        data = self._post("/v1/sessions", {"tenant": tenant, "user": user, "agent": agent,
                                           "parent": parent})
        return Session(id=data["id"], tenant=data["tenant"], user=data["user"],
                       agent=data["agent"], parent=data.get("parent"),
                       credential=Secret(str(data["credential"]), name="session credential"))

    def approve(self, request: AgentRequest, *, approver: str) -> Approval:
        return approval_from_json(self._post("/v1/approvals", {
            "request": request_to_json(request), "approver": approver}))

    def revoke(self, *, why: str = "", **target: object) -> tuple[str, ...]:
        """``revoke(session="sess-0001")``, ``revoke(jti=...)``, ``revoke(all=True)``, ..."""
        return tuple(self._post("/v1/revoke", {**target, "why": why})["revoked"])

    def advance_clock(self, seconds: int) -> int:
        return int(self._post("/v1/clock/advance", {"seconds": seconds})["now"])

    def log_lines(self) -> tuple[str, ...]:
        return tuple(self._send("GET", "/v1/log")["lines"])

    def log_checkpoint(self) -> tuple[Any, Any]:
        """``(Checkpoint, Ed25519PublicKey)``: publish both; :func:`course.audit.verify_checkpoint`."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        from .audit import Checkpoint

        data = self._send("GET", "/v1/log/checkpoint")
        checkpoint = Checkpoint.from_json(json.dumps(data["checkpoint"]))
        return checkpoint, Ed25519PublicKey.from_public_bytes(bytes.fromhex(data["public_key"]))

    def collector_hits(self) -> int:
        return int(self._send("GET", "/v1/lab/collector")["hits"])


# ---------------------------------------------------------------- the child process


class _Clients:
    """The three clients of a running service at ``url`` (needs ``url`` and ``_admin_key``)."""

    url: str
    _admin_key: str

    def vault(self, session: Session | None = None) -> RemoteVault:
        """The agent's vault client, holding ``session``'s credential if one is given."""
        return RemoteVault(self.url, credential=session.credential if session else None)

    def broker(self) -> RemoteBroker:
        return RemoteBroker(self.url)

    def admin(self) -> RemoteAdmin:
        return RemoteAdmin(self.url, admin_key=self._admin_key)


@dataclass(eq=False)
class ServiceProcess(_Clients):
    """A running service child. ``with`` it, or :meth:`close` it: the child is terminated."""

    process: subprocess.Popen[bytes]
    url: str
    world: dict[str, str]
    clock: str
    _admin_key: str = field(repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def close(self) -> None:
        """Stop the child (stdin closed, then terminate, then kill) and wait for it. Idempotent."""
        proc = self.process
        if proc.poll() is None:
            if proc.stdin:
                proc.stdin.close()
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream and not stream.closed:
                stream.close()
        httpclient.close_idle_connections()

    def __enter__(self) -> ServiceProcess:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.process.poll() is None else f"exited {self.process.returncode}"
        return f"ServiceProcess({state}, clock={self.clock!r})"


def spawn_service(seed: str | None = None, *, clock: str = "manual",
                  timeout: float = 20.0) -> ServiceProcess:
    """Start ``python -m course.service`` as a child and wait for its JSON line.

    The child gets a fresh random admin key (only :meth:`ServiceProcess.admin`
    carries it) and, if given, the deterministic ``seed``: both over its stdin
    pipe, never in argv or the environment, where any local process could read
    them. Without a seed every key is random. The child stops when its stdin
    closes, so it never outlives us.

    Raises:
        ConfigurationError: the child exited or printed no startup line in time.
    """
    admin_key = secrets.token_urlsafe(24)
    argv = [sys.executable, "-m", "course.service", "--clock", clock, "--config-stdin"]
    if seed is not None:
        argv.append("--deterministic")
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdin is not None
    proc.stdin.write(json.dumps({"seed": seed, "admin_key": admin_key}).encode() + b"\n")
    proc.stdin.flush()
    line = _read_line(proc, timeout)
    try:
        info = json.loads(line)
    except ValueError:
        info = None
    if not isinstance(info, dict) or "url" not in info:
        proc.kill()
        code = proc.wait()
        raise ConfigurationError(f"the service child did not start (no startup line; exit {code}); "
                                 "run `python -m course.service` to see why")
    return ServiceProcess(process=proc, url=info["url"], world=dict(info["world"]),
                          clock=info["clock"], _admin_key=admin_key)


class ServiceThread(_Clients):
    """The same service and protocol, served by a thread of this process.

    For tests that patch the kit to prove a check can fail (a patch reaches a
    thread, not a child) and for notebooks that do not want a second process.
    The boundary it shows is HTTP and authenticated sessions, not a process.

    Raises:
        ConfigurationError: the server did not start within ``timeout``.
    """

    def __init__(self, seed: str | None = None, *, clock: str = "manual",
                 timeout: float = 20.0) -> None:
        self._admin_key = secrets.token_urlsafe(24)
        self._stop = threading.Event()
        ready = threading.Event()
        box: list[dict[str, Any]] = []

        def started(info: dict[str, Any]) -> None:
            box.append(info)
            ready.set()

        self._thread = threading.Thread(
            target=serve, name="vault-service-thread", daemon=True,
            kwargs={"seed": seed, "clock": clock, "admin_key": self._admin_key,
                    "ready": started, "stop": self._stop})
        self._thread.start()
        if not ready.wait(timeout):
            self._stop.set()
            raise ConfigurationError("the service thread did not start in time")
        self.url, self.world, self.clock = box[0]["url"], dict(box[0]["world"]), box[0]["clock"]

    def close(self) -> None:
        """Stop the server and its world and wait for the thread. Idempotent."""
        self._stop.set()
        self._thread.join(10)
        httpclient.close_idle_connections()

    def __enter__(self) -> ServiceThread:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ServiceThread({'running' if self._thread.is_alive() else 'stopped'}, clock={self.clock!r})"


def _read_line(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    """The child's first stdout line, or b"" if it did not come within ``timeout``."""
    box: list[bytes] = []
    stdout = proc.stdout
    assert stdout is not None  # the child is started with stdout=PIPE
    reader = threading.Thread(target=lambda: box.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return box[0] if box else b""


if __name__ == "__main__":  # pragma: no cover - the command line
    raise SystemExit(main())
