"""Secret store: key separation, the row checks' reasons and the messages operators read (issue 14).

Mutation testing found the per-tenant key derivation (salt, info, the tenant itself) pinned by
no test: every tenant could have shared one key, and the AAD alone would have hidden it. Nor
did any test pin the generation counter caches rely on, the reason a corrupt row gives, the
default in-memory path, or the names and types each refusal names.
"""

from __future__ import annotations

import hashlib
import os
import threading

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from course import errors
from course.secretstore import Secret, SecretStore, lab_secret

MASTER = bytes(range(32))


def _store(**kw) -> SecretStore:
    return SecretStore(master_key=MASTER, **kw)


def _documented_key(tenant: str) -> AESGCM:
    """HKDF-SHA256(master, salt "vault-lab/secretstore/v1", info "tenant:<tenant>"), 32 bytes."""
    return AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=b"vault-lab/secretstore/v1",
                       info=f"tenant:{tenant}".encode()).derive(MASTER))


def test_each_tenant_seals_under_its_own_derived_key() -> None:
    store = _store()
    store.put("acme", "api", "sk_live_acme_value_1")
    store.put("globex", "api", "sk_live_globex_value")
    (nonce, sealed), = store._db.execute("SELECT nonce, ciphertext FROM secrets WHERE tenant = 'acme'")
    aad = b"acme\x00api"
    assert _documented_key("acme").decrypt(nonce, sealed, aad) == b"sk_live_acme_value_1"
    with pytest.raises(InvalidTag):  # globex's key is another key
        _documented_key("globex").decrypt(nonce, sealed, aad)
    assert store._aead("acme") is store._aead("acme")


def test_the_generation_starts_at_zero_and_counts_writes_only() -> None:
    store = _store()
    assert store.generation == 0
    store.put("acme", "api", "v1-value")
    store.get("acme", "api")
    store.names("acme")
    store.raw_rows()
    assert store.generation == 1
    store.put("acme", "api", "v2-value")
    assert store.generation == 2


def test_the_default_store_lives_in_memory_and_serves_other_threads(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    SecretStore.from_seed("in-memory").put("acme", "api", "sk_live_seeded_value")
    store = _store()
    store.put("acme", "api", "sk_live_thread_value")
    assert os.listdir(tmp_path) == []  # neither the default store nor a seeded one wrote a file
    got: list[str] = []
    worker = threading.Thread(target=lambda: got.append(store.get("acme", "api").reveal()))
    worker.start()
    worker.join()
    assert got == ["sk_live_thread_value"]
    assert repr(store) == "SecretStore(<sealed>)"
    assert [row[:2] for row in store.raw_rows()] == [("acme", "api")]


def test_a_stored_secret_comes_back_under_its_name_from_a_str_or_a_secret() -> None:
    store = _store()
    store.put("acme", "api", Secret("sk_live_from_secret", name="whatever"))
    got = store.get("acme", "api")
    assert (got.name, got.reveal()) == ("api", "sk_live_from_secret")


def _plant(store: SecretStore, tenant: str, name: str, plaintext: bytes) -> None:
    nonce = os.urandom(12)
    sealed = store._aead(tenant).encrypt(nonce, plaintext, f"{tenant}\x00{name}".encode())
    store._db.execute("INSERT OR REPLACE INTO secrets VALUES (?, ?, ?, ?)", (tenant, name, nonce, sealed))


def test_a_row_that_opens_to_no_text_says_so_and_an_empty_one_is_truncated() -> None:
    store = _store()
    _plant(store, "acme", "api", b"\xff\xfe")
    _plant(store, "acme", "empty", b"")  # only the 16-byte tag: refused before decryption
    for name, reason in [("api", "opened to something that is not UTF-8 text"),
                         ("empty", "its ciphertext is truncated")]:
        with pytest.raises(errors.CorruptSecretError) as err:
            store.get("acme", name)
        assert str(err.value) == f"secret {name!r} of tenant 'acme' does not open: {reason}"


def test_a_tampered_row_fails_its_integrity_check_by_that_name() -> None:
    store = _store()
    store.put("acme", "api", "sk_live_tamper_me")
    store._db.execute("UPDATE secrets SET ciphertext = ? WHERE tenant = 'acme'", (b"\0" * 40,))
    with pytest.raises(errors.CorruptSecretError) as err:
        store.get("acme", "api")
    assert str(err.value).endswith("does not open: failed its integrity check")


def test_a_missing_secret_names_what_was_asked_for() -> None:
    with pytest.raises(errors.SecretNotFoundError) as err:
        _store().get("acme", "nope")
    assert str(err.value) == "no secret 'nope' for tenant 'acme'"


@pytest.mark.parametrize("tenant", ["", 5])
def test_names_of_a_tenant_that_is_no_non_empty_string_is_refused(tenant) -> None:
    with pytest.raises(errors.SecretStoreError) as err:
        _store().names(tenant)
    assert str(err.value) == "a tenant is a non-empty string"


@pytest.mark.parametrize(("call", "message"), [
    (lambda s: s.get("", "api"), "a tenant is a non-empty string"),
    (lambda s: s.get("acme", ""), "a secret name is a non-empty string"),
    (lambda s: s.get("ac\x00me", "api"), "a tenant holds a NUL or a character UTF-8 cannot encode"),
    (lambda s: s.get("acme", "a\x00pi"), "a secret name holds a NUL or a character UTF-8 cannot encode"),
    (lambda s: s.put("acme", "api", 7), "a secret value is a str or a Secret, not int"),
    (lambda s: s.put("acme", "api", ""), "refusing to store an empty secret"),
    (lambda s: s.put("acme", "api", "x\ud800"),
     "secret 'api' of tenant 'acme' holds a string UTF-8 cannot encode (a lone surrogate?)"),
])
def test_each_refusal_names_what_is_wrong(call, message: str) -> None:
    with pytest.raises(errors.SecretStoreError) as err:
        call(_store())
    assert str(err.value) == message


def test_a_database_failure_names_its_kind_only(tmp_path) -> None:
    with pytest.raises(errors.SecretStoreError) as err:
        _store(path=tmp_path / "no" / "such" / "dir.db")
    assert str(err.value) == "the secret store's database cannot be opened (OperationalError)"
    store = _store()
    store._db.close()
    with pytest.raises(errors.SecretStoreError) as err:
        store.names("acme")
    assert str(err.value) == "the secret store's database failed (ProgrammingError)"


@pytest.mark.parametrize("key", [b"short", "x" * 32])
def test_a_bad_master_key_says_what_a_key_must_be(key) -> None:
    with pytest.raises(errors.ConfigurationError) as err:
        SecretStore(master_key=key)
    assert str(err.value) == "master_key must be 32 bytes (of type bytes)"


@pytest.mark.parametrize(("make", "message"), [
    (lambda: Secret(""), "a Secret holds a non-empty string"),
    (lambda: Secret("v", name=5), "a Secret's name is a string"),
    (lambda: Secret("v\ud800", name="api"), "secret 'api' holds a string UTF-8 cannot encode"),
])
def test_a_bad_secret_says_what_a_secret_must_be(make, message: str) -> None:
    with pytest.raises(errors.SecretStoreError) as err:
        make()
    assert str(err.value) == message


def test_a_secret_is_named_secret_by_default_and_hashes_by_its_name_only() -> None:
    s = Secret("sk_live_hash_me")
    assert s.name == "secret"
    assert hash(s) == hash(("Secret", "secret")) == hash(Secret("another-value"))
    for reduce in (s.__reduce__, lambda: s.__reduce_ex__(4)):
        with pytest.raises(TypeError) as err:
            reduce()
        assert str(err.value) == "a Secret refuses to be pickled"
    with pytest.raises(TypeError) as err:
        SecretStore.__reduce__(_store())
    assert str(err.value) == "a SecretStore refuses to be pickled"


def test_a_lab_secret_is_the_prefix_and_32_hex_of_its_seeded_digest() -> None:
    s = lab_secret("seed", "api")
    digest = hashlib.sha256(b"vault-lab|seed|api").hexdigest()[:32]
    assert (s.name, s.reveal()) == ("api", f"sk_live_{digest}")


def test_a_row_with_a_text_column_says_which_rule_it_breaks() -> None:
    store = _store()
    store.put("acme", "api", "sk_live_column_type")
    store._db.execute("UPDATE secrets SET nonce = 'not-a-blob' WHERE tenant = 'acme'")
    with pytest.raises(errors.CorruptSecretError) as err:
        store.get("acme", "api")
    assert str(err.value) == ("secret 'api' of tenant 'acme' does not open: a column holds the wrong type "
                              "(nonce and ciphertext are blobs)")
