"""Upstream OAuth refresh, kept inside the vault: the agent never sees a refresh token.

The :class:`RefreshKeeper` holds each tenant's refresh token and client
secret in the secret store, trades them at the real token endpoint for a
short-lived access token when one is needed, stores the *rotated* refresh
token (the old one is dead after use), and hands the access token only to
the broker, which injects it into the outgoing request.
"""

from __future__ import annotations

import threading
from urllib.parse import urlencode

from . import httpclient
from .clock import Clock
from .errors import UpstreamError
from .secretstore import Secret, SecretStore

EARLY_REFRESH = 30  # seconds before expiry at which a cached access token is renewed


class RefreshKeeper:
    """Turns stored refresh tokens into access tokens, rotating them; nothing leaves but the access token."""

    def __init__(self, *, store: SecretStore, token_url: str, clock: Clock) -> None:
        self._store, self._url, self._clock = store, token_url, clock
        self._cache: dict[str, tuple[Secret, int]] = {}
        self._lock = threading.Lock()
        self.refreshes = 0

    def access_token(self, tenant: str) -> Secret:
        """A live access token for ``tenant`` (cached until shortly before it expires).

        Raises:
            UpstreamError: the token endpoint refused (the message never holds a token).
        """
        with self._lock:
            cached = self._cache.get(tenant)
            if cached and self._clock.now() < cached[1] - EARLY_REFRESH:
                return cached[0]
            token, expires = self._refresh(tenant)
            self._cache[tenant] = (token, expires)
            return token

    def _refresh(self, tenant: str) -> tuple[Secret, int]:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": self._store.get(tenant, "oauth:refresh").reveal(),
            "client_id": self._store.get(tenant, "oauth:client_id").reveal(),
            "client_secret": self._store.get(tenant, "oauth:client_secret").reveal(),
        }
        answer = httpclient.request(
            "POST", self._url, body=urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        if answer.status != 200:
            raise UpstreamError(answer.status, "the token endpoint refused the refresh")
        data = answer.json()
        if not isinstance(data, dict) or not data.get("access_token") or not data.get("refresh_token"):
            raise UpstreamError(answer.status, "the token endpoint's answer is incomplete")
        self._store.put(tenant, "oauth:refresh", data["refresh_token"])
        self.refreshes += 1
        return (Secret(data["access_token"], name="oauth:access"),
                self._clock.now() + int(data.get("expires_in", 300)))

    def forget(self, tenant: str) -> None:
        """Drop a cached access token (after a revocation, say)."""
        with self._lock:
            self._cache.pop(tenant, None)

    def __repr__(self) -> str:
        return f"RefreshKeeper(tenants_cached={len(self._cache)})"
