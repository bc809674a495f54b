"""The secret store: credentials encrypted at rest, one key per tenant, in SQLite.

Two things live here:

* :class:`Secret`, a value that resists leaking: its ``repr`` and ``str`` are
  masked, it refuses to be pickled, and the only way to read it is the
  explicit :meth:`Secret.reveal`. Only the broker calls ``reveal``.
* :class:`SecretStore`, where each value is sealed with AES-256-GCM under a key
  derived (HKDF) from the store's master key and the tenant's name, with the
  tenant and secret name as associated data, so a ciphertext copied into
  another tenant's row, or renamed, fails to open.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
import threading
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import SecretNotFoundError, SecretStoreError


class Secret:
    """A secret value that never shows itself by accident.

    ``repr``/``str``/``format`` print ``Secret(name='...', value=***)``;
    pickling raises ``TypeError``; equality is constant-time and only with
    another :class:`Secret`. Call :meth:`reveal` to read the value, and only
    at the point where it is injected into an outgoing request.
    """

    __slots__ = ("_value", "name")

    def __init__(self, value: str, *, name: str = "secret") -> None:
        if not isinstance(value, str) or not value:
            raise SecretStoreError("a Secret holds a non-empty string")
        object.__setattr__(self, "_value", value)
        object.__setattr__(self, "name", name)

    def reveal(self) -> str:
        """Return the value. Every call site of this is a place the secret exists in the clear."""
        return self._value

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError("Secret is immutable")

    def __repr__(self) -> str:
        return f"Secret(name={self.name!r}, value=***)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self) -> object:
        raise TypeError("a Secret refuses to be pickled")

    def __reduce_ex__(self, protocol: object) -> object:
        raise TypeError("a Secret refuses to be pickled")

    def __copy__(self) -> Secret:
        return self  # immutable: a copy is the same value, and no pickling is involved

    def __deepcopy__(self, memo: dict[int, object]) -> Secret:
        return self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", self.name))

    def __len__(self) -> int:
        return len(self._value)


def lab_secret(seed: str, name: str, *, prefix: str = "sk_live_") -> Secret:
    """A deterministic, realistic-looking credential for the lab (same seed, same value)."""
    digest = hashlib.sha256(f"vault-lab|{seed}|{name}".encode()).hexdigest()[:32]
    return Secret(f"{prefix}{digest}", name=name)


def _tenant_key(master: bytes, tenant: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"vault-lab/secretstore/v1",
        info=f"tenant:{tenant}".encode(),
    ).derive(master)


class SecretStore:
    """Credentials at rest: AES-256-GCM per tenant, rows in SQLite, values never in the clear.

    ``path`` may be ``":memory:"`` (the default, for notebooks) or a file.
    ``master_key`` is 32 bytes; in the lab it comes from a seed, in production
    from a KMS. Thread-safe: the world's HTTP threads may read concurrently.
    """

    def __init__(self, *, master_key: bytes, path: str | Path = ":memory:") -> None:
        if len(master_key) != 32:
            raise SecretStoreError("master_key must be 32 bytes")
        self._master = master_key
        self._keys: dict[str, AESGCM] = {}
        self.generation = 0  # bumped on every write, so caches of derived state know to refresh
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS secrets ("
            " tenant TEXT NOT NULL, name TEXT NOT NULL, nonce BLOB NOT NULL,"
            " ciphertext BLOB NOT NULL, PRIMARY KEY (tenant, name))"
        )
        self._db.commit()

    @classmethod
    def from_seed(cls, seed: str, *, path: str | Path = ":memory:") -> SecretStore:
        """A lab store whose master key is derived from ``seed`` (never do this in production)."""
        return cls(master_key=hashlib.sha256(f"vault-lab-master|{seed}".encode()).digest(), path=path)

    def _aead(self, tenant: str) -> AESGCM:
        if tenant not in self._keys:
            self._keys[tenant] = AESGCM(_tenant_key(self._master, tenant))
        return self._keys[tenant]

    @staticmethod
    def _aad(tenant: str, name: str) -> bytes:
        return f"{tenant}\x00{name}".encode()

    def put(self, tenant: str, name: str, value: str | Secret) -> None:
        """Seal ``value`` for ``tenant`` under ``name`` (replacing any older value)."""
        plain = value.reveal() if isinstance(value, Secret) else value
        if not plain:
            raise SecretStoreError("refusing to store an empty secret")
        nonce = os.urandom(12)
        sealed = self._aead(tenant).encrypt(nonce, plain.encode(), self._aad(tenant, name))
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO secrets VALUES (?, ?, ?, ?)", (tenant, name, nonce, sealed)
            )
            self._db.commit()
            self.generation += 1

    def get(self, tenant: str, name: str) -> Secret:
        """Open the secret ``name`` of ``tenant``.

        Raises:
            SecretNotFoundError: no such secret for that tenant (other tenants are never consulted).
            SecretStoreError: the row was tampered with or moved between tenants.
        """
        with self._lock:
            row = self._db.execute(
                "SELECT nonce, ciphertext FROM secrets WHERE tenant = ? AND name = ?", (tenant, name)
            ).fetchone()
        if row is None:
            raise SecretNotFoundError(f"no secret {name!r} for tenant {tenant!r}")
        try:
            plain = self._aead(tenant).decrypt(row[0], row[1], self._aad(tenant, name))
        except InvalidTag:
            raise SecretStoreError(
                f"secret {name!r} of tenant {tenant!r} failed its integrity check"
            ) from None
        return Secret(plain.decode(), name=name)

    def names(self, tenant: str) -> tuple[str, ...]:
        """The names of a tenant's secrets (never the values)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT name FROM secrets WHERE tenant = ? ORDER BY name", (tenant,)
            ).fetchall()
        return tuple(r[0] for r in rows)

    def raw_rows(self) -> list[tuple[str, str, bytes]]:
        """What an attacker with a copy of the database file sees: tenant, name, ciphertext."""
        with self._lock:
            return list(self._db.execute("SELECT tenant, name, ciphertext FROM secrets"))

    def __repr__(self) -> str:
        return "SecretStore(<sealed>)"

    def __reduce__(self) -> object:
        raise TypeError("a SecretStore refuses to be pickled")
