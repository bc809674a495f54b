"""One tenant's corrupted secret never stops another tenant, end to end through the standard lab.

The store row of a globex credential is corrupted straight in the SQLite database (a flipped
bit, a nonce of the wrong length, a column of the wrong type). Then, through the lab that
``course.agent.lab_world_and_vault`` builds (world, store, vault, broker, redacting access log):

* acme still opens sessions, gets tokens and makes brokered calls, and log lines are written;
* globex's call that needs the broken secret is refused with a typed error and a log line;
* globex's other tools, whose secrets open, still work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from course import agent, policy
from course.errors import CorruptSecretError, SecretStoreError
from course.world import CREDENTIAL_NAMES, TENANTS

SEED = "isolation-tests"
BROKEN = ("globex", "tickets")
# The standard grants, plus globex refunds: a second globex tool whose secret is intact.
GRANTS = (*agent.standard_grants(),
          policy.Grant(tenant="globex", user="gina", agent="helpdesk-bot", tool="payments",
                       tasks=("refund",), scopes=("payments:refund",), note="globex refunds"))


def _flip_bit(nonce: bytes, sealed: bytes) -> tuple[object, object]:
    return nonce, sealed[:-1] + bytes([sealed[-1] ^ 1])


def _short_nonce(nonce: bytes, sealed: bytes) -> tuple[object, object]:
    return nonce[:7], sealed


def _text_column(nonce: bytes, sealed: bytes) -> tuple[object, object]:
    return nonce, sealed.hex()


CORRUPTIONS: dict[str, Callable[[bytes, bytes], tuple[object, object]]] = {
    "flipped_bit": _flip_bit, "short_nonce": _short_nonce, "text_column": _text_column,
}


@pytest.fixture(params=sorted(CORRUPTIONS))
def lab(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The standard lab with globex's ``tickets`` row corrupted in the database file's table."""
    built = agent.lab_world_and_vault(SEED, grants=GRANTS)
    try:
        db = built.store._db  # whoever (or whatever disk) can write the database
        tenant, name = BROKEN
        nonce, sealed = db.execute("SELECT nonce, ciphertext FROM secrets WHERE tenant=? AND name=?",
                                   (tenant, name)).fetchone()
        db.execute("UPDATE secrets SET nonce=?, ciphertext=? WHERE tenant=? AND name=?",
                   (*CORRUPTIONS[request.param](nonce, sealed), tenant, name))
        db.commit()
        # A rotation elsewhere bumps the store's generation: every cache of opened secrets
        # (the broker's, the log's redactor) rebuilds and meets the corrupt row.
        built.store.put("acme", "deploy:staging", built.store.get("acme", "deploy:staging"))
        yield built
    finally:
        built.close()


def _token(lab: Any, *, tenant: str, user: str, tool: str, scopes: tuple[str, ...],
           task: str) -> str:
    session = lab.vault.open_session(tenant=tenant, user=user, agent="helpdesk-bot")
    request = policy.AgentRequest(tenant=tenant, user=user, agent="helpdesk-bot", session=session.id,
                                  task=task, tool=tool, scopes=scopes, ttl=300)
    return lab.vault.request(request).token


def _acme_tickets(lab: Any) -> str:
    return _token(lab, tenant="acme", user="alice", tool="tickets", scopes=("tickets:read",),
                  task="triage")


def _globex_tickets(lab: Any) -> str:
    return _token(lab, tenant="globex", user="gina", tool="tickets", scopes=("tickets:read",),
                  task="triage")


def _tool_calls(lab: Any) -> list[tuple[str | None, str | None, str]]:
    return [(e.tenant, e.decision, e.reason) for e in lab.log.events() if e.event == "tool_call"]


def _every_credential(lab: Any) -> list[str]:
    return [lab.world.credential(t, n).reveal() for t in TENANTS for n in CREDENTIAL_NAMES
            if n != "oauth:client_id"]


def test_the_row_really_is_broken(lab: Any) -> None:
    with pytest.raises(CorruptSecretError):
        lab.store.get(*BROKEN)


def test_the_other_tenant_opens_sessions_gets_tokens_and_calls(lab: Any) -> None:
    before = len(lab.log.lines())
    token = _acme_tickets(lab)
    result = lab.broker.call(token, tool="tickets", method="GET", path="/tickets")
    assert result.status == 200
    assert {t["id"] for t in result.json()["tickets"]} >= {"T-1001", "T-1002"}
    payments = _token(lab, tenant="acme", user="bob", tool="payments", scopes=("payments:read",),
                      task="refund")
    assert lab.broker.call(payments, tool="payments", method="GET", path="/charges").status == 200
    assert len(lab.log.lines()) > before  # sessions, tokens and calls were all logged
    assert _tool_calls(lab) == [("acme", "allow", "tool_call"), ("acme", "allow", "tool_call")]
    assert lab.world.received("tickets")[-1].tenant == "acme"


def test_the_broken_tenants_call_needing_the_secret_is_refused_typed_and_logged(lab: Any) -> None:
    token = _globex_tickets(lab)
    with pytest.raises(CorruptSecretError) as refused:
        lab.broker.call(token, tool="tickets", method="GET", path="/tickets")
    exc = refused.value
    assert isinstance(exc, SecretStoreError) and exc.code == "secret_corrupt"
    assert exc.__context__ is None and exc.__cause__ is None
    assert _tool_calls(lab) == [("globex", "deny", "secret_corrupt")]
    assert not lab.world.received("tickets")  # nothing was sent
    # ... and it keeps being refused: a failure is never cached as something else
    with pytest.raises(CorruptSecretError):
        lab.broker.call(token, tool="tickets", method="GET", path="/tickets")


def test_the_broken_tenants_other_tools_still_work(lab: Any) -> None:
    token = _token(lab, tenant="globex", user="gina", tool="payments", scopes=("payments:refund",),
                   task="refund")
    # payments' 400 echoes the key it got: the answer must still come back redacted
    result = lab.broker.call(token, tool="payments", method="POST", path="/refunds", json={})
    assert result.status == 400
    assert result.json()["error"]["debug"]["api_key"] == "[REDACTED:payments]"
    assert lab.world.received("payments")[-1].tenant == "globex"


def test_interleaved_calls_of_both_tenants_each_get_their_own_outcome(lab: Any) -> None:
    acme, globex = _acme_tickets(lab), _globex_tickets(lab)
    outcomes = []
    for token in (acme, globex, acme, globex, acme):
        try:
            outcomes.append(lab.broker.call(token, tool="tickets", method="GET", path="/tickets").status)
        except CorruptSecretError:
            outcomes.append("corrupt")
    assert outcomes == [200, "corrupt", 200, "corrupt", 200]
    assert [d for _, d, _ in _tool_calls(lab)] == ["allow", "deny", "allow", "deny", "allow"]


def test_no_log_line_holds_a_credential(lab: Any) -> None:
    lab.broker.call(_acme_tickets(lab), tool="tickets", method="GET", path="/tickets")
    with pytest.raises(CorruptSecretError):
        lab.broker.call(_globex_tickets(lab), tool="tickets", method="GET", path="/tickets")
    text = "\n".join(lab.log.lines())
    assert not [v for v in _every_credential(lab) if v in text]



def test_a_revoked_upstream_grant_surfaces_at_the_broker_as_refresh_revoked():
    """A thief reuses the rotated refresh token: the family dies; the broker says so, typed and logged."""
    from course import errors, httpclient
    from course.lab import HARDENED, assemble
    from course.policy import AgentRequest

    with assemble(HARDENED, seed="grant-revoked") as lab:
        session = lab.open_session(user="alice", agent="helpdesk-bot")

        def files_call():
            token = lab.vault.request(AgentRequest(
                tenant="acme", user="alice", agent="helpdesk-bot", session=session.id,
                task="files", tool="files", scopes=("files:read",), ttl=60)).token
            return lab.broker.call(token, tool="files", method="GET", path="/files")

        assert files_call().status == 200  # the keeper has rotated the initial refresh token
        form = {"grant_type": "refresh_token",
                "refresh_token": lab.world.credential("acme", "oauth:refresh").reveal(),
                "client_id": lab.world.oauth_client_id("acme"),
                "client_secret": lab.world.credential("acme", "oauth:client_secret").reveal()}
        thief = httpclient.request("POST", lab.world.url("oauth") + "/oauth/token",
                                   body=urlencode(form).encode(),
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert thief.status == 400  # reuse detected: the whole family is revoked
        assert files_call().status == 401  # the cached access token died with its family
        with pytest.raises(errors.RefreshRevokedError):
            files_call()  # the broker dropped it; the keeper's refresh is refused, typed
        denied = lab.log.events()[-1]
        assert (denied.event, denied.decision, denied.reason) == ("tool_call", "deny",
                                                                  "refresh_revoked")
