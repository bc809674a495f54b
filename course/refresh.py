"""Upstream OAuth refresh, kept inside the vault: the agent never sees a refresh token.

The :class:`RefreshKeeper` holds each tenant's refresh token and client
secret in the secret store, trades them at the real token endpoint for a
short-lived access token when one is needed, stores the *rotated* refresh
token (the old one is dead after use), and hands the access token only to
the broker, which injects it into the outgoing request.

When the endpoint answers ``invalid_grant`` the grant is dead (a reused
refresh token revoked its family, or it was spent or expired): the keeper
raises :class:`~course.errors.RefreshRevokedError`, logs it, and does not ask
again with the same refresh token; only a new one in the store (a new
consent) makes it try again.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode

from . import httpclient
from .clock import Clock
from .errors import RefreshRevokedError, UpstreamError
from .secretstore import Secret, SecretStore

if TYPE_CHECKING:
    from .audit import AccessLog

EARLY_REFRESH = 30  # seconds before expiry at which a cached access token is renewed


class RefreshKeeper:
    """Turns stored refresh tokens into access tokens, rotating them; nothing leaves but the access token.

    With a ``log``, every exchange is an ``upstream_refresh`` event: ``allow``
    with reason ``rotated``, or ``deny`` with reason ``refresh_revoked`` or
    ``upstream_error``. The refresh tokens appear only as the log's
    fingerprints (``presented``, and ``rotated_to`` on success), so an
    investigator can tell whether a refused token was the keeper's own live
    one (someone else reused an older token) or one it had already spent.
    """

    def __init__(self, *, store: SecretStore, token_url: str, clock: Clock,
                 log: AccessLog | None = None) -> None:
        self._store, self._url, self._clock, self._log = store, token_url, clock, log
        self._cache: dict[str, tuple[Secret, int]] = {}
        self._refused: dict[str, bytes] = {}  # tenant -> digest of the refresh token refused
        self._lock = threading.Lock()
        self.refreshes = 0

    def access_token(self, tenant: str) -> Secret:
        """A live access token for ``tenant`` (cached until shortly before it expires).

        Raises:
            RefreshRevokedError: the endpoint answered ``invalid_grant`` for the stored
                refresh token, now or earlier (then it is not asked again).
            UpstreamError: the token endpoint refused otherwise (the message never holds a token).
        """
        with self._lock:
            cached = self._cache.get(tenant)
            if cached and self._clock.now() < cached[1] - EARLY_REFRESH:
                return cached[0]
            token, expires = self._refresh(tenant)
            self._cache[tenant] = (token, expires)
            return token

    def _refresh(self, tenant: str) -> tuple[Secret, int]:
        presented = self._store.get(tenant, "oauth:refresh")
        digest = hashlib.sha256(presented.reveal().encode()).digest()
        if hmac.compare_digest(self._refused.get(tenant, b""), digest):
            raise RefreshRevokedError()  # refused before: asking again only hammers the endpoint
        form = {
            "grant_type": "refresh_token",
            "refresh_token": presented.reveal(),
            "client_id": self._store.get(tenant, "oauth:client_id").reveal(),
            "client_secret": self._store.get(tenant, "oauth:client_secret").reveal(),
        }
        answer = httpclient.request(
            "POST", self._url, body=urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        data = _json_object(answer)
        if answer.status == 400 and data.get("error") == "invalid_grant":
            self._refused[tenant] = digest
            self._cache.pop(tenant, None)
            self._record(tenant, "deny", "refresh_revoked",
                         "the token endpoint answered invalid_grant; not retried", presented)
            raise RefreshRevokedError(answer.status)
        if answer.status != 200:
            self._record(tenant, "deny", "upstream_error",
                         f"the token endpoint answered {answer.status}", presented)
            raise UpstreamError(answer.status, "the token endpoint refused the refresh")
        if not data.get("access_token") or not data.get("refresh_token"):
            self._record(tenant, "deny", "upstream_error", "the token endpoint's answer is incomplete",
                         presented)
            raise UpstreamError(answer.status, "the token endpoint's answer is incomplete")
        rotated = Secret(str(data["refresh_token"]), name="oauth:refresh")
        self._store.put(tenant, "oauth:refresh", rotated.reveal())
        self.refreshes += 1
        self._record(tenant, "allow", "rotated", "refresh token rotated", presented, rotated)
        return (Secret(str(data["access_token"]), name="oauth:access"),
                self._clock.now() + int(data.get("expires_in", 300)))

    def _record(self, tenant: str, decision: Literal["allow", "deny"], reason: str, detail: str,
                presented: Secret, rotated: Secret | None = None) -> None:
        if self._log is None:
            return
        secrets = {"presented": presented} if rotated is None else {"presented": presented,
                                                                     "rotated_to": rotated}
        self._log.append("upstream_refresh", tenant=tenant, decision=decision,
                         reason=reason, detail=detail, secret_fields=secrets)

    def forget(self, tenant: str) -> None:
        """Drop a cached access token (after a revocation, say)."""
        with self._lock:
            self._cache.pop(tenant, None)

    def __repr__(self) -> str:
        return f"RefreshKeeper(tenants_cached={len(self._cache)}, tenants_refused={len(self._refused)})"


def _json_object(answer: httpclient.Response) -> dict[str, Any]:
    """The answer's JSON object (its values unchecked, as parsed), or {} when it is not one."""
    try:
        data = answer.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
