"""The secret store and the Secret type: values sealed at rest, never shown by accident."""

from __future__ import annotations

import base64
import copy
import logging
import pickle

import pytest

from course import errors
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
