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
from typing import NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import ConfigurationError, CorruptSecretError, SecretNotFoundError, SecretStoreError


class Secret:
    """A secret value that never shows itself by accident.

    ``repr``/``str``/``format`` print ``Secret(name='...', value=***)``;
    pickling raises ``TypeError``; equality is constant-time and only with
    another :class:`Secret`. Call :meth:`reveal` to read the value, and only
    at the point where it is injected into an outgoing request.
    """

    __slots__ = ("_value", "name")
    _value: str  # set once in __init__ (object.__setattr__: __setattr__ refuses)
    name: str

    def __init__(self, value: str, *, name: str = "secret") -> None:
        if not isinstance(value, str) or not value:
            raise SecretStoreError("a Secret holds a non-empty string")
        if not isinstance(name, str):
            raise SecretStoreError("a Secret's name is a string")
        if not _utf8_ok(value):
            raise SecretStoreError(f"secret {name!r} holds a string UTF-8 cannot encode")
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

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret refuses to be pickled")

    def __reduce_ex__(self, protocol: object) -> NoReturn:
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


def _utf8_ok(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8 (a lone surrogate does not); the text never leaves here."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_NONCE_BYTES = 12
_TAG_BYTES = 16


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

    Every failure is typed: a row that does not open is a
    :class:`~course.errors.CorruptSecretError` naming the tenant, the secret's
    name and what is wrong with the row (never its content), bad arguments are
    a :class:`~course.errors.SecretStoreError`, and a database failure is one
    too. A broken row affects that one secret only: every other row still opens.
    """

    def __init__(self, *, master_key: bytes, path: str | Path = ":memory:") -> None:
        """Open (or create) the store.

        Raises:
            ConfigurationError: ``master_key`` is not 32 bytes (a ``str`` is refused: keys are bytes).
            SecretStoreError: the database cannot be opened or created.
        """
        if not isinstance(master_key, bytes) or len(master_key) != 32:
            raise ConfigurationError("master_key must be 32 bytes (of type bytes)")
        self._master = master_key
        self._keys: dict[str, AESGCM] = {}
        self.generation = 0  # bumped on every write, so caches of derived state know to refresh
        self._lock = threading.Lock()
        problem: str | None = None
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS secrets ("
                " tenant TEXT NOT NULL, name TEXT NOT NULL, nonce BLOB NOT NULL,"
                " ciphertext BLOB NOT NULL, PRIMARY KEY (tenant, name))"
            )
            self._db.commit()
        except sqlite3.Error as exc:
            problem = type(exc).__name__
        if problem is not None:
            raise SecretStoreError(f"the secret store's database cannot be opened ({problem})")

    @classmethod
    def from_seed(cls, seed: str, *, path: str | Path = ":memory:") -> SecretStore:
        """A lab store whose master key is derived from ``seed`` (never do this in production)."""
        return cls(master_key=hashlib.sha256(f"vault-lab-master|{seed}".encode()).digest(), path=path)

    def _aead(self, tenant: str) -> AESGCM:
        aead = self._keys.get(tenant)
        if aead is None:
            aead = self._keys[tenant] = AESGCM(_tenant_key(self._master, tenant))
        return aead

    @staticmethod
    def _aad(tenant: str, name: str) -> bytes:
        return f"{tenant}\x00{name}".encode()

    @staticmethod
    def _check_names(tenant: object, name: object) -> None:
        for label, text in (("tenant", tenant), ("secret name", name)):
            if not isinstance(text, str) or not text:
                raise SecretStoreError(f"a {label} is a non-empty string")
            if "\x00" in text or not _utf8_ok(text):
                raise SecretStoreError(f"a {label} holds a NUL or a character UTF-8 cannot encode")

    def _query(self, sql: str, params: tuple[object, ...], *, write: bool = False) -> list[tuple]:
        """Run one statement under the lock; a database failure becomes a SecretStoreError."""
        problem: str | None = None
        with self._lock:
            try:
                rows = self._db.execute(sql, params).fetchall()
                if write:
                    self._db.commit()
                    self.generation += 1
            except sqlite3.Error as exc:
                problem = type(exc).__name__  # its text may quote SQL values: name the kind only
        if problem is not None:
            raise SecretStoreError(f"the secret store's database failed ({problem})")
        return rows

    def put(self, tenant: str, name: str, value: str | Secret) -> None:
        """Seal ``value`` for ``tenant`` under ``name`` (replacing any older value).

        Raises:
            SecretStoreError: an empty or non-string tenant or name, a value that
                is not a non-empty ``str`` or :class:`Secret`, a value UTF-8
                cannot encode (a lone surrogate), or a database failure. The
                message never holds the value.
        """
        self._check_names(tenant, name)
        if isinstance(value, Secret):
            plain = value.reveal()
        elif isinstance(value, str):
            plain = value
        else:
            raise SecretStoreError(f"a secret value is a str or a Secret, not {type(value).__name__}")
        if not plain:
            raise SecretStoreError("refusing to store an empty secret")
        if not _utf8_ok(plain):
            del plain, value  # keep the value out of this frame's locals in the traceback
            raise SecretStoreError(f"secret {name!r} of tenant {tenant!r} holds a string UTF-8 "
                                   "cannot encode (a lone surrogate?)")
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead(tenant).encrypt(nonce, plain.encode(), self._aad(tenant, name))
        self._query("INSERT OR REPLACE INTO secrets VALUES (?, ?, ?, ?)", (tenant, name, nonce, sealed),
                    write=True)

    def get(self, tenant: str, name: str) -> Secret:
        """Open the secret ``name`` of ``tenant``.

        Raises:
            SecretNotFoundError: no such secret for that tenant (other tenants are never consulted).
            CorruptSecretError: the row does not open: a nonce of the wrong length, a column
                of the wrong type, a failed integrity check (tampered, truncated, moved
                between tenants or names, sealed under another master key), or a
                plaintext that is not text. Only this secret is affected.
            SecretStoreError: an empty or non-string tenant or name, or a database failure.
        """
        self._check_names(tenant, name)
        rows = self._query("SELECT nonce, ciphertext FROM secrets WHERE tenant = ? AND name = ?",
                           (tenant, name))
        if not rows:
            raise SecretNotFoundError(f"no secret {name!r} for tenant {tenant!r}")
        nonce, sealed = rows[0]
        del rows
        problem = _row_problem(nonce, sealed)
        plain = b""
        if problem is None:
            try:
                plain = self._aead(tenant).decrypt(nonce, sealed, self._aad(tenant, name))
            except InvalidTag:
                problem = "failed its integrity check"
        text = ""
        if problem is None:
            try:
                text = plain.decode("utf-8")
            except UnicodeDecodeError:
                problem = "opened to something that is not UTF-8 text"
            if not text and problem is None:
                problem = "opened to an empty value"
        del plain
        if problem is not None:  # raised outside every handler: nothing chains, nothing lingers
            del text
            raise CorruptSecretError(f"secret {name!r} of tenant {tenant!r} does not open: {problem}")
        return Secret(text, name=name)

    def names(self, tenant: str) -> tuple[str, ...]:
        """The names of a tenant's secrets (never the values).

        Raises:
            SecretStoreError: an empty or non-string tenant, or a database failure.
        """
        if not isinstance(tenant, str) or not tenant:
            raise SecretStoreError("a tenant is a non-empty string")
        rows = self._query("SELECT name FROM secrets WHERE tenant = ? ORDER BY name", (tenant,))
        return tuple(r[0] for r in rows if isinstance(r[0], str))  # a non-text name cannot be asked for

    def raw_rows(self) -> list[tuple[str, str, bytes]]:
        """What an attacker with a copy of the database file sees: tenant, name, ciphertext."""
        return [tuple(r) for r in self._query("SELECT tenant, name, ciphertext FROM secrets", ())]

    def __repr__(self) -> str:
        return "SecretStore(<sealed>)"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a SecretStore refuses to be pickled")


def _row_problem(nonce: object, sealed: object) -> str | None:
    """What makes a row unopenable before decryption is even tried, or None."""
    if not isinstance(nonce, bytes) or not isinstance(sealed, bytes):
        return "a column holds the wrong type (nonce and ciphertext are blobs)"
    if len(nonce) != _NONCE_BYTES:
        return f"its nonce is not {_NONCE_BYTES} bytes"
    if len(sealed) <= _TAG_BYTES:
        return "its ciphertext is truncated"
    return None
