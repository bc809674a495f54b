"""A tiny HTTP/1.1 client with keep-alive, shared by the agents, the broker and the benchmark.

Why not ``urllib``: it opens a new TCP connection for every request, which
would make a "brokered call" look slow for reasons that have nothing to do
with the broker. Every caller in the kit goes through :func:`request`, so a
direct call and a brokered call are measured on the same client.

Connections are pooled per ``(scheme, host, port)`` in one lock-protected
pool: a thread takes an idle connection out (or opens a new one), uses it
alone, and puts it back, so the pool is safe to share between threads.

What it refuses to leak: an :class:`HTTPError` message names the method, the
path (never the query string), and the kind of failure; it never contains a
header or a body. A :class:`Response` repr shows the status and the body
length only, because bodies may hold secrets.
"""

from __future__ import annotations

import http.client
import json as _json
import select
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import VaultLabError

__all__ = [
    "ClientStats",
    "IDEMPOTENT_METHODS",
    "HTTPError",
    "Response",
    "close_idle_connections",
    "request",
    "stats",
]

_MAX_IDLE_PER_ORIGIN = 16

# Errors that mean "the server closed a kept-alive connection": the request may or may not
# have been read and acted on, so only an idempotent request is re-sent (once, on a fresh one).
_STALE_ERRORS: tuple[type[BaseException], ...] = (
    http.client.RemoteDisconnected,  # also a ConnectionResetError and a BadStatusLine
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
    http.client.BadStatusLine,
)

# Repeating one of these has the effect of doing it once (RFC 9110, 9.2.2): safe to re-send.
IDEMPOTENT_METHODS: frozenset[str] = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})


class HTTPError(VaultLabError):
    """The request never got an HTTP answer (refused, reset, timed out, malformed reply).

    An HTTP error *status* (404, 500, ...) is not an HTTPError: it is a
    :class:`Response`. The message holds method, path and failure kind only.

    ``sent`` says whether any byte of the request may have reached the server:
    False only when the failure came before sending (no connection, a header
    http.client refuses to write). When it is True the server may have acted.
    """

    code = "http"

    def __init__(self, method: str, path: str, reason: str, *, sent: bool = True) -> None:
        self.method = method
        self.path = path
        self.reason = reason
        self.sent = sent
        super().__init__(f"{method} {path} failed: {reason}")


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class Response:
    """An HTTP answer, fully read. ``repr`` shows status and body length, never the body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def json(self) -> object:
        """The body parsed as JSON.

        Raises:
            ValueError: the body is not JSON.
        """
        return _json.loads(self.body)

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def __repr__(self) -> str:
        return f"Response(status={self.status}, body={len(self.body)} bytes)"


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientStats:
    """How many TCP connections the client opened, how many requests reused one, and retries.

    ``retried`` counts requests whose kept-alive connection the server had
    closed and that went out on a fresh one instead: found closed before
    sending (any method), or failed after sending and re-sent (idempotent
    methods only).
    """

    opened: int
    reused: int
    retried: int


_Origin = tuple[str, str, int]


class _Pool:
    """Idle connections per origin; a connection is used by one thread at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[_Origin, list[http.client.HTTPConnection]] = {}
        self.opened = 0
        self.reused = 0
        self.retried = 0

    def checkout(self, origin: _Origin, timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        dead: list[http.client.HTTPConnection] = []
        with self._lock:
            idle = self._idle.get(origin, [])
            while idle:
                conn = idle.pop()
                if conn.sock is not None and not _closed_by_peer(conn.sock):
                    self.reused += 1
                    conn.timeout = timeout
                    conn.sock.settimeout(timeout)
                    break
                dead.append(conn)
            else:
                conn = None
                self.opened += 1
            if dead:
                self.retried += 1  # found closed before sending: the fresh connection is the retry
        for stale in dead:
            stale.close()
        if conn is not None:
            return conn, True
        scheme, host, port = origin
        cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        return cls(host, port, timeout=timeout), False

    def checkin(self, origin: _Origin, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if len(idle) < _MAX_IDLE_PER_ORIGIN:
                idle.append(conn)
                return
        conn.close()

    def count_retry(self) -> None:
        with self._lock:
            self.retried += 1

    def close_idle(self, origin: _Origin | None = None) -> None:
        with self._lock:
            origins = list(self._idle) if origin is None else [origin]
            conns = [c for o in origins for c in self._idle.pop(o, [])]
        for conn in conns:
            conn.close()


_POOL = _Pool()


def stats() -> ClientStats:
    """Counters since the process started (take differences to measure one run)."""
    return ClientStats(opened=_POOL.opened, reused=_POOL.reused, retried=_POOL.retried)


def close_idle_connections(base_url: str | None = None) -> None:
    """Close idle pooled connections: all of them, or those to ``base_url``'s origin only.

    The next request opens a fresh connection. The world calls this when it
    closes, so dead connections to its ports do not linger in the pool.
    """
    if base_url is None:
        _POOL.close_idle()
        return
    _POOL.close_idle(_split("CLOSE", base_url)[0])


def _split(method: str, url: str) -> tuple[_Origin, str, str]:
    """Return (origin, request target, path-for-errors) or raise HTTPError."""
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HTTPError(method, path, "unsupported URL (need http:// or https:// and a host)")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise HTTPError(method, path, "invalid port in URL") from None
    target = f"{path}?{parts.query}" if parts.query else path
    return (parts.scheme, parts.hostname, port), target, path


def _payload(
    headers: Mapping[str, str] | None, json: object | None, body: bytes | None
) -> tuple[dict[str, str], bytes | None]:
    if json is not None and body is not None:
        raise ValueError("pass json= or body=, not both")
    out = dict(headers or {})
    if json is not None:
        body = _json.dumps(json, separators=(",", ":")).encode()
        if not any(k.lower() == "content-type" for k in out):
            out["Content-Type"] = "application/json"
    return out, body


def request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    json: object | None = None,
    body: bytes | None = None,
    timeout: float = 5.0,
) -> Response:
    """Send one request on a pooled keep-alive connection and read the whole answer.

    ``json=`` is encoded compactly and sets ``Content-Type: application/json``
    unless given. A pooled connection the server has already closed is noticed
    before sending and replaced. A request that fails on a *reused* connection
    after it went out (the server may have acted on it) is re-sent once on a
    fresh connection only if its method is idempotent (:data:`IDEMPOTENT_METHODS`);
    a POST is never sent twice: it fails with ``HTTPError(sent=True)``.

    Raises:
        HTTPError: no HTTP answer (refused, reset, timed out, malformed reply, a header
            value http.client refuses); the message holds method, path and failure
            kind, never headers or body, nothing is chained to it, and its traceback
            holds no header (the locals that held them are gone before it is raised).
        ValueError: both ``json`` and ``body`` were given.
    """
    method = method.upper()
    origin, target, path = _split(method, url)
    sent_headers, payload = _payload(headers, json, body)
    if payload is not None and not any(k.lower() == "content-length" for k in sent_headers):
        sent_headers["Content-Length"] = str(len(payload))
    reason, sent = "", False
    for attempt in (0, 1):
        conn, reused = _POOL.checkout(origin, timeout)
        sent = written = False  # until a byte may have left: connect and header checks come first
        failure: BaseException | None = None
        answer: http.client.HTTPResponse | None = None
        data = b""
        try:
            if conn.sock is None:
                conn.connect()
            sent = True
            conn.request(method, target, body=payload, headers=sent_headers)
            written = True
            answer = conn.getresponse()
            data = answer.read()
        except ValueError as exc:  # from request(): a request line or header refused before writing
            failure, sent = exc, written
        except (OSError, http.client.HTTPException) as exc:
            failure = exc
        if failure is None and answer is not None:
            if answer.will_close:
                conn.close()
            else:
                _POOL.checkin(origin, conn)
            return Response(status=answer.status, headers=tuple(answer.getheaders()), body=data)
        conn.close()
        if (isinstance(failure, _STALE_ERRORS) and reused and attempt == 0
                and method in IDEMPOTENT_METHODS):
            _POOL.count_retry()
            continue
        reason = _reason(failure)
        break
    # Raised here, outside every handler, with the locals that held credentials gone: the
    # error chains to nothing and its traceback frames hold no header, body or URL query.
    del headers, sent_headers, json, body, payload, url, target, failure, conn, answer, data
    raise HTTPError(method, path, reason, sent=sent)


def _closed_by_peer(sock: socket.socket) -> bool:
    """Whether an idle connection has something to read: the server's close (or junk), never an answer."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _reason(exc: BaseException | None) -> str:
    """A failure kind that names the error class only (its text could echo request data).

    ``None`` (no failure, yet no answer: the send loop cannot reach that) names its class too.
    """
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ValueError):
        return "a request line or header value http.client refuses"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "server closed the connection without answering"
    return type(exc).__name__
