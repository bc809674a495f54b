"""The secret store and the Secret type: values sealed at rest, never shown by accident."""

from __future__ import annotations

import base64
import copy
import logging
import pickle
import traceback

import pytest

from course import errors, secretstore
from course.secretstore import Secret, SecretStore, lab_secret

VALUE = "sk_live_0123456789abcdef0123456789abcdef"


def test_secret_repr_str_and_format_are_masked():
    s = Secret(VALUE, name="tickets")
    for shown in (repr(s), str(s), f"{s}", f"{s!r}", "%s" % (s,),  # noqa: UP031 - old-style formatting must mask too
                  format(s, ">80"), repr([s]), str({"k": s})):
        assert VALUE not in shown
        assert "***" in shown


def test_secret_refuses_pickling():
    with pytest.raises(TypeError):
        pickle.dumps(Secret(VALUE))


def test_secret_copy_does_not_reveal_and_compares_equal():
    s = Secret(VALUE)
    assert copy.copy(s) == s and copy.deepcopy(s) == s
    assert s != VALUE  # never equal to a plain string: no accidental comparisons leak by timing
    assert s.reveal() == VALUE


def test_secret_is_immutable_and_not_empty():
    s = Secret(VALUE)
    with pytest.raises(AttributeError):
        s.name = "x"
    with pytest.raises(errors.SecretStoreError):
        Secret("")


def test_secret_in_a_log_record_is_masked(caplog):
    with caplog.at_level(logging.INFO):
        logging.getLogger("t").info("using %s", Secret(VALUE, name="tickets"))
    assert VALUE not in caplog.text


def test_values_are_encrypted_at_rest(tmp_path):
    store = SecretStore.from_seed("t", path=tmp_path / "s.db")
    store.put("acme", "tickets", VALUE)
    raw = (tmp_path / "s.db").read_bytes()
    for form in (VALUE.encode(), base64.b64encode(VALUE.encode()), VALUE.encode().hex().encode()):
        assert form not in raw
    assert store.get("acme", "tickets").reveal() == VALUE


def test_tenants_are_isolated():
    store = SecretStore.from_seed("t")
    store.put("acme", "tickets", VALUE)
    with pytest.raises(errors.SecretNotFoundError):
        store.get("globex", "tickets")


def test_ciphertext_moved_to_another_tenant_or_name_fails_integrity(tmp_path):
    store = SecretStore.from_seed("t", path=tmp_path / "s.db")
    store.put("acme", "tickets", VALUE)
    store.put("globex", "tickets", "sk_live_globexglobexglobex")
    db = store._db  # the attacker with write access to the database file
    nonce, ct = db.execute("SELECT nonce, ciphertext FROM secrets WHERE tenant='acme'").fetchone()
    db.execute("UPDATE secrets SET nonce=?, ciphertext=? WHERE tenant='globex'", (nonce, ct))
    db.commit()
    with pytest.raises(errors.SecretStoreError) as err:
        store.get("globex", "tickets")
    assert VALUE not in str(err.value)


def test_wrong_master_key_cannot_open(tmp_path):
    SecretStore.from_seed("right", path=tmp_path / "s.db").put("acme", "tickets", VALUE)
    with pytest.raises(errors.SecretStoreError):
        SecretStore.from_seed("wrong", path=tmp_path / "s.db").get("acme", "tickets")


def test_store_repr_and_names_hold_no_values():
    store = SecretStore.from_seed("t")
    store.put("acme", "tickets", VALUE)
    assert VALUE not in repr(store)
    assert store.names("acme") == ("tickets",)
    with pytest.raises(TypeError):
        pickle.dumps(store)


def test_lab_secrets_are_deterministic_per_seed():
    assert lab_secret("a", "x") == lab_secret("a", "x")
    assert lab_secret("a", "x") != lab_secret("b", "x")


# ---------------------------------------------------------------- every failure is typed

OTHER = "sk_live_fedcba9876543210fedcba9876543210"


def _store_with_two(tmp_path):
    store = SecretStore.from_seed("t", path=tmp_path / "s.db")
    store.put("acme", "tickets", VALUE)
    store.put("acme", "payments", OTHER)
    return store


def _flip_bit(blob: bytes) -> bytes:
    return blob[:5] + bytes([blob[5] ^ 0x01]) + blob[6:]


@pytest.mark.parametrize(("column", "bad", "why"), [
    ("nonce", lambda nonce, ct: nonce[:8], "nonce is not 12 bytes"),
    ("nonce", lambda nonce, ct: b"", "nonce is not 12 bytes"),
    ("nonce", lambda nonce, ct: nonce + nonce, "nonce is not 12 bytes"),
    ("nonce", lambda nonce, ct: nonce.hex(), "wrong type"),
    ("nonce", lambda nonce, ct: 42, "wrong type"),
    ("ciphertext", lambda nonce, ct: ct.hex(), "wrong type"),
    ("ciphertext", lambda nonce, ct: 3.5, "wrong type"),
    ("ciphertext", lambda nonce, ct: _flip_bit(ct), "integrity"),
    ("ciphertext", lambda nonce, ct: ct[:-1], "integrity"),
    ("ciphertext", lambda nonce, ct: ct[:10], "truncated"),
    ("nonce", lambda nonce, ct: _flip_bit(nonce), "integrity"),
])
def test_a_corrupted_row_is_a_typed_corrupt_secret_error_and_spares_the_others(tmp_path, column, bad,
                                                                               why):
    store = _store_with_two(tmp_path)
    db = store._db  # the attacker (or the disk) with write access to the database file
    nonce, ct = db.execute("SELECT nonce, ciphertext FROM secrets WHERE name='tickets'").fetchone()
    db.execute(f"UPDATE secrets SET {column}=? WHERE name='tickets'", (bad(nonce, ct),))
    db.commit()
    with pytest.raises(errors.CorruptSecretError) as err:
        store.get("acme", "tickets")
    exc = err.value
    assert exc.code == "secret_corrupt" and why in str(exc) and "'tickets'" in str(exc)
    assert exc.__context__ is None and exc.__cause__ is None  # no cryptography or codec error rides along
    assert VALUE not in f"{exc} {exc!r}"
    assert store.get("acme", "payments").reveal() == OTHER  # one broken row breaks one secret
    assert store.names("acme") == ("payments", "tickets")


def test_a_plaintext_that_is_not_text_is_a_corrupt_secret(tmp_path):
    store = _store_with_two(tmp_path)
    # Sealed with the right key but not UTF-8: only someone with the key can do it; still typed.
    nonce = b"\x00" * 12
    sealed = store._aead("acme").encrypt(nonce, b"\xff\xfe" + VALUE.encode(), store._aad("acme", "tickets"))
    store._db.execute("UPDATE secrets SET nonce=?, ciphertext=? WHERE name='tickets'", (nonce, sealed))
    store._db.commit()
    with pytest.raises(errors.CorruptSecretError) as err:
        store.get("acme", "tickets")
    assert err.value.__context__ is None and VALUE not in str(err.value)
    tb_locals = [repr(f.f_locals) for f, _ in traceback.walk_tb(err.value.__traceback__)
                 if f.f_code.co_filename == secretstore.__file__]
    assert tb_locals and not any(VALUE in text for text in tb_locals)


def test_moved_ciphertext_is_a_corrupt_secret(tmp_path):
    store = _store_with_two(tmp_path)
    db = store._db
    row = db.execute("SELECT nonce, ciphertext FROM secrets WHERE name='payments'").fetchone()
    db.execute("UPDATE secrets SET nonce=?, ciphertext=? WHERE name='tickets'", row)
    db.commit()
    with pytest.raises(errors.CorruptSecretError):
        store.get("acme", "tickets")


def test_wrong_master_key_is_a_corrupt_secret(tmp_path):
    SecretStore.from_seed("right", path=tmp_path / "s.db").put("acme", "tickets", VALUE)
    with pytest.raises(errors.CorruptSecretError):
        SecretStore.from_seed("wrong", path=tmp_path / "s.db").get("acme", "tickets")


@pytest.mark.parametrize("value", [
    VALUE + "\ud800",  # a lone surrogate: UTF-8 cannot carry it
    "\udfff" + VALUE,
])
def test_put_of_a_value_utf8_cannot_encode_is_refused_without_the_value(value):
    store = SecretStore.from_seed("t")
    with pytest.raises(errors.SecretStoreError) as err:
        store.put("acme", "tickets", value)
    exc = err.value
    assert type(exc) is errors.SecretStoreError and exc.__context__ is None
    assert VALUE not in f"{exc} {exc!r}"
    assert not any(VALUE in repr(f.f_locals) for f, _ in traceback.walk_tb(exc.__traceback__)
                   if f.f_code.co_filename == secretstore.__file__)
    assert store.names("acme") == ()


@pytest.mark.parametrize("value", [VALUE.encode(), 12345, None, ["x"], {"v": VALUE}])
def test_put_of_a_non_string_value_is_refused(value):
    store = SecretStore.from_seed("t")
    with pytest.raises(errors.SecretStoreError) as err:
        store.put("acme", "tickets", value)  # type: ignore[arg-type]
    assert VALUE not in str(err.value)
    assert store.names("acme") == ()


@pytest.mark.parametrize(("tenant", "name"), [
    ("", "tickets"), ("acme", ""), (None, "tickets"), ("acme", b"tickets"), ("acme", 7),
    ("ac\x00me", "tickets"), ("acme", "tick\ud800ets"),
])
def test_put_and_get_with_a_bad_tenant_or_name_are_refused(tenant, name):
    store = SecretStore.from_seed("t")
    with pytest.raises(errors.SecretStoreError):
        store.put(tenant, name, VALUE)
    with pytest.raises(errors.SecretStoreError):
        store.get(tenant, name)


@pytest.mark.parametrize("key", [
    "k" * 32,  # a str of the right length used to pass the length check and fail later, untyped
    b"k" * 31, b"k" * 33, None, bytearray(32), 32,
])
def test_a_master_key_that_is_not_32_bytes_is_a_configuration_error(key):
    with pytest.raises(errors.ConfigurationError):
        SecretStore(master_key=key)  # type: ignore[arg-type]


def test_a_secret_with_a_lone_surrogate_is_refused():
    with pytest.raises(errors.SecretStoreError) as err:
        Secret(VALUE + "\ud800")
    assert VALUE not in str(err.value)


def test_a_database_failure_is_a_typed_store_error(tmp_path):
    store = _store_with_two(tmp_path)
    store._db.execute("DROP TABLE secrets")
    for call in (lambda: store.get("acme", "tickets"), lambda: store.names("acme"),
                 lambda: store.put("acme", "tickets", VALUE), store.raw_rows):
        with pytest.raises(errors.SecretStoreError) as err:
            call()
        assert err.value.__context__ is None


def test_an_unopenable_database_path_is_a_typed_store_error(tmp_path):
    with pytest.raises(errors.SecretStoreError):
        SecretStore.from_seed("t", path=tmp_path / "missing-dir" / "s.db")
