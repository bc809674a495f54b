"""Broker tests against a real World: every refusal of course.broker has a negative test.

The services on 127.0.0.1 check their own credentials, so "the broker injected the right
credential" is proven by the service accepting it, and "nothing left" by the service's records.
The access log here has no redactor of its own, so a clean log proves the broker kept the
secrets out, not the log.
"""

from __future__ import annotations

import base64
import json
import pickle
import socket
import threading
import time
import traceback
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from course import agent, httpclient, policy
from course.audit import AccessLog
from course.broker import Broker, ToolResult
from course.clock import ManualClock
from course.errors import (
    AccessDenied,
    CorruptSecretError,
    ExpiredTokenError,
    InvalidRequestError,
    RevokedTokenError,
    TokenError,
    UpstreamError,
    WrongAudienceError,
)
from course.policy import GrantPolicy
from course.redact import Redactor
from course.refresh import RefreshKeeper
from course.secretstore import Secret, SecretStore
from course.vault import Vault
from course.world import CREDENTIAL_NAMES, SERVICES, TENANTS, World

SEED = "broker-tests"


@pytest.fixture(scope="module")
def shared_world() -> Iterator[World]:
    """One running world per module (starting and joining servers is the slow part)."""
    with World.start(seed=SEED) as world:
        yield world


@dataclass(frozen=True, slots=True, kw_only=True)
class _Lab:
    """The pieces a broker test touches, assembled here by hand (no composition root involved)."""

    world: World
    store: SecretStore
    vault: Vault
    broker: Broker
    refresh: RefreshKeeper
    clock: ManualClock
    log: AccessLog


def _fresh_lab(world: World) -> _Lab:
    """A fresh vault, store, broker, clock and log around ``world``; its records start empty."""
    world.reset_records()
    clock = ManualClock()
    log = AccessLog(clock=clock, hmac_key=b"broker-tests-log-key-32-bytes-!!")  # no redactor
    store = SecretStore.from_seed(SEED)
    world.provision(store)
    vault = Vault.lab(policy=GrantPolicy(agent.standard_grants()), seed=SEED, clock=clock, log=log)
    keeper = RefreshKeeper(store=store, token_url=world.url("oauth") + "/oauth/token", clock=clock)
    broker = Broker(verifier_for=vault.verifier, store=store, urls=world.url, clock=clock, log=log,
                    refresh=keeper)
    return _Lab(world=world, store=store, vault=vault, broker=broker, refresh=keeper,
                clock=clock, log=log)


@pytest.fixture
def lab(shared_world: World) -> _Lab:
    return _fresh_lab(shared_world)


def _credentials(lab: _Lab) -> list[Secret]:
    return [lab.world.credential(t, n) for t in TENANTS for n in CREDENTIAL_NAMES
            if n != "oauth:client_id"]


def _leaks(lab: _Lab, text: str) -> set[tuple[str, str]]:
    """(name, form) of every world credential in ``text``; shapes too (JWTs, bearer tokens)."""
    return {(f.name, f.form) for f in Redactor(_credentials(lab)).find(text)}


def _token(lab: _Lab, tool: str = "tickets", scopes: tuple[str, ...] = ("tickets:read",), *,
           user: str = "alice", agent_name: str = "helpdesk-bot", task: str = "triage",
           tenant: str = "acme", ttl: int = 300, single_use: bool = False,
           intent: tuple[tuple[str, str], ...] = (), approver: str | None = None) -> Any:
    session = lab.vault.open_session(tenant=tenant, user=user, agent=agent_name)
    request = policy.AgentRequest(tenant=tenant, user=user, agent=agent_name, session=session.id,
                                  task=task, tool=tool, scopes=scopes, ttl=ttl, intent=intent)
    approval = lab.vault.approve(request, approver=approver) if approver else None
    return lab.vault.request(request, approval=approval, single_use=single_use)


def _counts(lab: _Lab) -> dict[str, int]:
    return {s: len(lab.world.received(s)) for s in SERVICES}


def _tool_calls(lab: _Lab) -> list[tuple[str | None, str]]:
    return [(e.decision, e.reason) for e in lab.log.events() if e.event == "tool_call"]


def _corrupt(store: SecretStore, tenant: str, name: str) -> None:
    """Flip one bit of the sealed row, straight in the SQLite database (no store API involved)."""
    db = store._db
    (sealed,) = db.execute("SELECT ciphertext FROM secrets WHERE tenant=? AND name=?",
                           (tenant, name)).fetchone()
    db.execute("UPDATE secrets SET ciphertext=? WHERE tenant=? AND name=?",
               (sealed[:-1] + bytes([sealed[-1] ^ 1]), tenant, name))
    db.commit()


def _broker(lab: _Lab, urls: Any) -> Broker:
    return Broker(verifier_for=lab.vault.verifier, store=lab.store, urls=urls, clock=lab.clock,
                  log=lab.log, refresh=lab.refresh)


# ---------------------------------------------------------------- the credential, injected


def test_call_injects_the_token_tenants_key_and_the_service_accepts_it(lab: _Lab) -> None:
    result = lab.broker.call(_token(lab).token, tool="tickets", method="GET", path="/tickets")
    assert result.status == 200
    seen = lab.world.received("tickets")[-1]
    assert (seen.credential_ok, seen.tenant, seen.credential_name) == (True, "acme", "tickets")
    assert {t["id"] for t in result.json()["tickets"]} == {"T-1001", "T-1002", "T-1003", "T-1004"}


def test_other_tenants_token_gets_other_tenants_key(lab: _Lab) -> None:
    token = _token(lab, user="gina", tenant="globex").token
    result = lab.broker.call(token, tool="tickets", method="GET", path="/tickets")
    assert result.status == 200 and lab.world.received("tickets")[-1].tenant == "globex"
    assert {t["id"] for t in result.json()["tickets"]} == {"T-2001", "T-2002", "T-2003", "T-2004"}


def test_raw_api_key_goes_in_x_api_key(lab: _Lab) -> None:
    token = _token(lab, "payments", ("payments:read",), user="bob", task="refund").token
    result = lab.broker.call(token, tool="payments", method="GET", path="/charges")
    assert result.status == 200
    assert lab.world.received("payments")[-1].credential_name == "payments"


def test_a_tenant_named_in_the_body_never_chooses_the_credential(lab: _Lab) -> None:
    token = _token(lab, "payments", ("payments:read",), user="bob", task="refund").token
    result = lab.broker.call(token, tool="payments", method="GET", path="/charges",
                             json={"tenant": "globex", "customer": "cus_globex_cfo"})
    assert result.status == 200 and lab.world.received("payments")[-1].tenant == "acme"
    assert all(c["customer"].startswith("cus_acme") for c in result.json()["data"])


def test_call_has_no_way_to_name_a_tenant(lab: _Lab) -> None:
    with pytest.raises(TypeError):
        lab.broker.call(_token(lab).token, tool="tickets", method="GET", path="/tickets",
                        tenant="globex")  # type: ignore[call-arg]
    assert _counts(lab)["tickets"] == 0


# ---------------------------------------------------------------- refusals


def test_unknown_tool_is_refused_and_logged(lab: _Lab) -> None:
    with pytest.raises(AccessDenied) as denied:
        lab.broker.call(_token(lab).token, tool="shell", method="POST", path="/run")
    assert denied.value.code == "unknown_tool"
    assert _tool_calls(lab) == [("deny", "unknown_tool")]
    assert sum(_counts(lab).values()) == 0


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/tickets/../oauth/token"),
    ("GET", "//evil.example/tickets"),
    ("GET", "//127.0.0.1/tickets"),
    ("GET", "/tickets?tenant=globex"),
    ("GET", "/tickets#fragment"),
    ("GET", "/tickets/"),
    ("GET", "/tickets\n"),
    ("GET", "/tickets/%2e%2e/oauth/token"),
    ("GET", "/tickets/T-1001/comments"),  # a prefix of an operation is not an operation
    ("GET", "/oauth/token"),
    ("GET", "tickets"),
    ("GET", ""),
    ("GET", "/tickets/t-1001"),  # ids are upper case: the pattern is exact
    ("DELETE", "/tickets/T-1001"),
    ("PUT", "/tickets"),
    ("GET /tickets HTTP/1.1\r\nX-Injected: 1\r\n", "/tickets"),
])
def test_operation_not_in_the_catalogue_is_refused_before_any_request(
        lab: _Lab, method: str, path: str) -> None:
    token = _token(lab, scopes=("tickets:read", "tickets:write")).token
    with pytest.raises(AccessDenied) as denied:
        lab.broker.call(token, tool="tickets", method=method, path=path)
    assert denied.value.code == "operation_not_allowed"
    assert sum(_counts(lab).values()) == 0
    assert _tool_calls(lab) == [("deny", "operation_not_allowed")]


def test_non_string_path_is_refused(lab: _Lab) -> None:
    with pytest.raises(AccessDenied) as denied:
        lab.broker.call(_token(lab).token, tool="tickets", method="GET",
                        path=b"/tickets")  # type: ignore[arg-type]
    assert denied.value.code == "operation_not_allowed"


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/tickets", {"title": "x", "body": "y"}),
    ("POST", "/tickets/T-1001/comments", {"body": "y"}),
])
def test_scope_missing_is_refused_for_every_method(lab: _Lab, method: str, path: str,
                                                   body: dict[str, str]) -> None:
    token = _token(lab, scopes=("tickets:read",)).token
    with pytest.raises(AccessDenied) as denied:
        lab.broker.call(token, tool="tickets", method=method, path=path, json=body)
    assert denied.value.code == "scope_missing"
    assert sum(_counts(lab).values()) == 0
    assert _tool_calls(lab) == [("deny", "scope_missing")]


def test_token_for_another_tool_is_refused_as_wrong_audience(lab: _Lab) -> None:
    with pytest.raises(WrongAudienceError):
        lab.broker.call(_token(lab).token, tool="payments", method="GET", path="/charges")
    assert _tool_calls(lab) == [("deny", "wrong_audience")]
    assert _counts(lab)["payments"] == 0


@pytest.mark.parametrize("how", ["session", "token", "agent", "tenant"])
def test_revoked_token_is_refused(lab: _Lab, how: str) -> None:
    issued = _token(lab)
    first = lab.broker.call(issued.token, tool="tickets", method="GET", path="/tickets")
    assert first.status == 200
    c = issued.claims
    {"session": lambda: lab.vault.revoke_session(c.session),
     "token": lambda: lab.vault.revoke_token(c.jti),
     "agent": lambda: lab.vault.revoke_agent(c.sub),
     "tenant": lambda: lab.vault.revoke_tenant(c.tenant)}[how]()
    with pytest.raises(RevokedTokenError):
        lab.broker.call(issued.token, tool="tickets", method="GET", path="/tickets")
    assert _tool_calls(lab) == [("allow", "tool_call"), ("deny", "revoked")]
    assert _counts(lab)["tickets"] == 1


def test_expired_token_is_refused(lab: _Lab) -> None:
    issued = _token(lab, ttl=60)
    lab.clock.advance(60 + 5)  # exp + the verifier's leeway
    with pytest.raises(ExpiredTokenError):
        lab.broker.call(issued.token, tool="tickets", method="GET", path="/tickets")
    assert _tool_calls(lab) == [("deny", "expired")]
    assert _counts(lab)["tickets"] == 0


def test_forged_token_is_refused(lab: _Lab) -> None:
    token = _token(lab).token
    head, payload, sig = token.split(".")
    with pytest.raises(TokenError):
        lab.broker.call(f"{head}.{payload}.{sig[::-1]}", tool="tickets", method="GET",
                        path="/tickets")
    assert _counts(lab)["tickets"] == 0


def test_single_use_token_cannot_be_replayed(lab: _Lab) -> None:
    token = _token(lab, single_use=True).token
    assert lab.broker.call(token, tool="tickets", method="GET", path="/tickets").status == 200
    with pytest.raises(RevokedTokenError) as replay:
        lab.broker.call(token, tool="tickets", method="GET", path="/tickets")
    assert replay.value.scope == "replay"
    assert _tool_calls(lab) == [("allow", "tool_call"), ("deny", "replay")]
    assert _counts(lab)["tickets"] == 1


def test_single_use_token_cannot_be_replayed_inside_the_expiry_leeway(lab: _Lab) -> None:
    token = _token(lab, ttl=60, single_use=True).token
    lab.clock.advance(59)
    assert lab.broker.call(token, tool="tickets", method="GET", path="/tickets").status == 200
    lab.clock.advance(2)  # exp + 1: expired, but inside the verifier's 5 s leeway
    with pytest.raises(TokenError):
        lab.broker.call(token, tool="tickets", method="GET", path="/tickets")


def test_single_use_token_refused_for_scope_is_not_burned(lab: _Lab) -> None:
    token = _token(lab, single_use=True).token
    with pytest.raises(AccessDenied):
        lab.broker.call(token, tool="tickets", method="POST", path="/tickets",
                        json={"title": "x", "body": "y"})
    assert lab.broker.call(token, tool="tickets", method="GET", path="/tickets").status == 200


def _production_token(lab: _Lab, version: str) -> Any:
    return _token(lab, "deploy:production", ("deploy:write",), agent_name="deploy-bot",
                  task="deploy", ttl=120, intent=(("version", version),), approver="carol")


@pytest.mark.parametrize("body", [
    {"version": "6.6.6-evil"},
    {"version": "1.4.2", "force": "true"},
    {},
    None,
])
def test_arguments_differing_from_the_approved_ones_are_refused(
        lab: _Lab, body: dict[str, str] | None) -> None:
    issued = _production_token(lab, "1.4.2")
    assert issued.claims.approval is not None
    with pytest.raises(AccessDenied) as denied:
        lab.broker.call(issued.token, tool="deploy:production", method="POST",
                        path="/environments/production/deployments", json=body)
    assert denied.value.code == "approval_mismatch"
    assert _counts(lab)["deploy"] == 0
    assert _tool_calls(lab) == [("deny", "approval_mismatch")]


def test_the_approved_arguments_go_through_with_the_environments_own_key(lab: _Lab) -> None:
    issued = _production_token(lab, "1.4.2")
    result = lab.broker.call(issued.token, tool="deploy:production", method="POST",
                             path="/environments/production/deployments", json={"version": "1.4.2"})
    assert result.status == 201 and result.json()["version"] == "1.4.2"
    seen = lab.world.received("deploy")[-1]
    assert (seen.credential_name, seen.tenant) == ("deploy:production", "acme")  # never admin


# ---------------------------------------------------------------- redaction and upstream errors


def test_payments_400_echo_comes_back_redacted(lab: _Lab) -> None:
    token = _token(lab, "payments", ("payments:refund",), user="bob", task="refund").token
    result = lab.broker.call(token, tool="payments", method="POST", path="/refunds", json={})
    assert result.status == 400
    assert result.json()["error"]["debug"]["api_key"] == "[REDACTED:payments]"
    assert not _leaks(lab, result.body)
    assert lab.world.received("payments")[-1].credential_ok is True  # it was the real key


class _EchoHandler(BaseHTTPRequestHandler):
    """An upstream with the worst habit: it echoes the key it got in every common spelling."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        key = self.headers.get("X-Api-Key") or ""
        data = key.encode()
        quoted = urllib.parse.quote(key, safe="")
        echoes = {
            "raw": key,
            "base64": base64.b64encode(data).decode(),
            "base64_nopad": base64.b64encode(data).decode().rstrip("="),
            "base64url": base64.urlsafe_b64encode(data).decode(),
            "hex": data.hex(),
            "hex_upper": data.hex().upper(),
            "url": quoted,
            "url_lower": quoted.lower(),
            "url_plus": urllib.parse.quote_plus(key),
            "json": json.dumps(key)[1:-1],
            "basic": "Basic " + base64.b64encode(b"acme-billing:" + data).decode(),
            "blob": base64.b64encode(json.dumps({"api_key": key}).encode()).decode(),
            "query": "https://pay.example/retry?key=" + quoted + "&x=1",
        }
        body = json.dumps({"error": {"message": "bad request", "echo": echoes}}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Silenced."""


@pytest.fixture
def echo_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_echoed_key_is_redacted_in_every_encoded_form(lab: _Lab, echo_url: str) -> None:
    broker = _broker(lab, lambda s: echo_url if s == "payments" else lab.world.url(s))
    token = _token(lab, "payments", ("payments:refund",), user="bob", task="refund").token
    result = broker.call(token, tool="payments", method="POST", path="/refunds",
                         json={"charge": "x"})
    assert result.status == 400
    echoes = result.json()["error"]["echo"]
    assert not _leaks(lab, result.body), "a spelling of the key survived redaction"
    for form, text in echoes.items():
        assert "[REDACTED:payments]" in text, form


def test_upstream_connection_failure_is_a_typed_error_without_secrets(lab: _Lab) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    broker = _broker(lab, lambda s: dead)
    token = _token(lab, "payments", ("payments:refund",), user="bob", task="refund").token
    with pytest.raises(UpstreamError) as failure:
        broker.call(token, tool="payments", method="POST", path="/refunds", json={"charge": "x"})
    exc = failure.value
    assert exc.status == 0 and exc.code == "upstream"
    assert exc.__cause__ is None and exc.__suppress_context__ is True  # no chained traceback
    text = f"{exc} {exc!r} {exc.args!r}"
    assert "POST /refunds" in text and not _leaks(lab, text)


def test_upstream_failure_is_logged(lab: _Lab) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    broker = _broker(lab, lambda s: dead)
    token = _token(lab, "payments", ("payments:refund",), user="bob", task="refund").token
    with pytest.raises(UpstreamError):
        broker.call(token, tool="payments", method="POST", path="/refunds", json={"charge": "x"})
    assert _tool_calls(lab) == [("deny", "upstream_error")]
    assert not _leaks(lab, "\n".join(lab.log.lines()))


def test_credential_fetch_failure_is_logged() -> None:
    with World.start(seed=SEED) as world:
        lab = _fresh_lab(world)
        # Someone else spends the refresh token first (the naive agent of notebook 01 does).
        form = {"grant_type": "refresh_token", "client_id": world.oauth_client_id("acme"),
                "refresh_token": world.credential("acme", "oauth:refresh").reveal(),
                "client_secret": world.credential("acme", "oauth:client_secret").reveal()}
        spent = httpclient.request("POST", world.url("oauth") + "/oauth/token",
                                   body=urllib.parse.urlencode(form).encode(),
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert spent.status == 200
        token = _token(lab, "files", ("files:read",), task="files").token
        with pytest.raises(UpstreamError):  # RefreshRevokedError: the grant is dead
            lab.broker.call(token, tool="files", method="GET", path="/files")
        assert _tool_calls(lab) == [("deny", "refresh_revoked")]  # on-call sees why


def test_missing_refresh_keeper_refusal_is_logged(lab: _Lab) -> None:
    broker = Broker(verifier_for=lab.vault.verifier, store=lab.store, urls=lab.world.url,
                    clock=lab.clock, log=lab.log)  # no refresh keeper
    token = _token(lab, "files", ("files:read",), task="files").token
    with pytest.raises(AccessDenied) as denied:
        broker.call(token, tool="files", method="GET", path="/files")
    assert denied.value.code == "no_refresh"
    assert _tool_calls(lab) == [("deny", "no_refresh")]


# ---------------------------------------------------------------- the access log


def test_every_tool_call_is_logged_with_decision_and_reason(lab: _Lab) -> None:
    read = _token(lab).token
    bob = _token(lab, "payments", ("payments:refund",), user="bob", task="refund").token
    calls: list[tuple[str, dict[str, Any]]] = [
        (read, dict(tool="tickets", method="GET", path="/tickets")),
        (read, dict(tool="tickets", method="GET", path="/tickets/../oauth/token")),
        (read, dict(tool="tickets", method="POST", path="/tickets",
                    json={"title": "a", "body": "b"})),
        (read, dict(tool="payments", method="GET", path="/charges")),
        (read, dict(tool="nope", method="GET", path="/")),
        (bob, dict(tool="payments", method="POST", path="/refunds", json={})),
    ]
    for token, call in calls:
        try:
            lab.broker.call(token, **call)
        except (AccessDenied, TokenError):
            pass
    assert _tool_calls(lab) == [("allow", "tool_call"), ("deny", "operation_not_allowed"),
                                ("deny", "scope_missing"), ("deny", "wrong_audience"),
                                ("deny", "unknown_tool"), ("allow", "tool_call")]
    events = [e for e in lab.log.events() if e.event == "tool_call"]
    assert [e.detail for e in events if e.decision == "allow"] == ["status 200", "status 400"]
    verified = [e for e in events if e.reason in ("tool_call", "operation_not_allowed",
                                                  "scope_missing")]
    assert all(e.tenant == "acme" and e.jti and e.session and e.agent for e in verified)
    assert [e.fact("path") for e in events][:2] == ["/tickets", "/tickets/../oauth/token"]


def test_log_lines_hold_no_credential_and_no_token(lab: _Lab, echo_url: str) -> None:
    issued = _token(lab, "payments", ("payments:refund",), user="bob", task="refund")
    lab.broker.call(issued.token, tool="payments", method="POST", path="/refunds", json={})
    echo = _broker(lab, lambda s: echo_url if s == "payments" else lab.world.url(s))
    echo.call(issued.token, tool="payments", method="POST", path="/refunds", json={})
    with pytest.raises(AccessDenied):
        lab.broker.call(issued.token, tool="payments", method="GET", path="/charges?x=1")
    text = "\n".join(lab.log.lines())
    assert not _leaks(lab, text)
    assert issued.token not in text and issued.token.split(".")[2] not in text
    assert len(_tool_calls(lab)) == 3


# ---------------------------------------------------------------- values that refuse to leak


def test_tool_result_repr_shows_no_body(lab: _Lab) -> None:
    token = _token(lab, "payments", ("payments:refund",), user="bob", task="refund").token
    result = lab.broker.call(token, tool="payments", method="POST", path="/refunds", json={})
    size = len(result.body)
    assert repr(result) == f"ToolResult(tool='payments', status=400, body=<{size} chars>)"
    assert isinstance(result, ToolResult) and result.jti.startswith("tok-")


def test_broker_refuses_pickling_and_names_only_tools(lab: _Lab) -> None:
    with pytest.raises(TypeError):
        pickle.dumps(lab.broker)
    assert repr(lab.broker) == ("Broker(tools=['deploy:production', 'deploy:staging', 'files', "
                                "'payments', 'tickets'])")


def test_files_tool_uses_the_upstream_access_token_and_never_returns_it() -> None:
    with World.start(seed=SEED) as world:  # its own world: the upstream refresh token rotates
        _files_tool_checks(_fresh_lab(world))


def _files_tool_checks(lab: _Lab) -> None:
    token = _token(lab, "files", ("files:read",), task="files").token
    result = lab.broker.call(token, tool="files", method="GET", path="/files")
    assert result.status == 200 and result.json()["files"][0]["name"] == "q4-forecast.xlsx"
    assert lab.world.received("oauth")[-1].credential_name == "oauth:access"
    refresh_tokens = [lab.store.get(t, "oauth:refresh") for t in TENANTS]
    assert not Redactor(refresh_tokens, shapes=()).find(result.body)
    for path in ("/oauth/token", "/files/../oauth/token"):
        with pytest.raises(AccessDenied):
            lab.broker.call(token, tool="files", method="POST", path=path,
                            json={"grant_type": "refresh_token"})


def test_a_rotated_credential_is_used_at_once(lab: _Lab) -> None:
    """The broker keeps opened credentials only until the store changes."""
    token = _token(lab).token
    assert lab.broker.call(token, tool="tickets", method="GET", path="/tickets").status == 200
    lab.store.put("acme", "tickets", "tk_live_rotatedbutnotyetknowntotheservice0")
    assert lab.broker.call(token, tool="tickets", method="GET", path="/tickets").status == 401


# ---------------------------------------------------------------- bounded arguments


def _deep(depth: int) -> dict[str, Any]:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"k": [value]}
    return {"charge": value}


@pytest.mark.parametrize("args", [
    _deep(100_000),  # far past the recursion limit: used to escape as RecursionError, unlogged
    _deep(40),
    {"charge": b"bytes are not JSON"},
    {"charge": {1, 2}},
    {"amount": float("nan")},
    {"charge": "lone \ud800 surrogate"},
    {1: "a non-string key"},
    ["a", "list", "is", "not", "an", "object"],
    "a string",
])
def test_arguments_that_are_not_bounded_json_are_refused_logged_and_spend_nothing(
        lab: _Lab, args: Any) -> None:
    token = _token(lab, "payments", ("payments:refund",), user="bob", task="refund",
                   single_use=True).token
    with pytest.raises(InvalidRequestError) as refused:
        lab.broker.call(token, tool="payments", method="POST", path="/refunds", json=args)
    assert refused.value.code == "invalid_request" and refused.value.__context__ is None
    assert _tool_calls(lab) == [("deny", "invalid_request")]
    assert _counts(lab)["payments"] == 0
    # The single-use token was not spent by the refusal: its one use is still there.
    result = lab.broker.call(token, tool="payments", method="POST", path="/refunds", json={})
    assert result.status == 400 and _counts(lab)["payments"] == 1
    with pytest.raises(RevokedTokenError):
        lab.broker.call(token, tool="payments", method="POST", path="/refunds", json={})


def test_a_deep_approved_argument_is_refused_before_the_approval_digest(lab: _Lab) -> None:
    issued = _production_token(lab, "1.4.2")
    with pytest.raises(InvalidRequestError):  # intent_digest would recurse: it must never see it
        lab.broker.call(issued.token, tool="deploy:production", method="POST",
                        path="/environments/production/deployments", json=_deep(100_000))
    assert _tool_calls(lab) == [("deny", "invalid_request")] and _counts(lab)["deploy"] == 0


# ---------------------------------------------------------------- when a single-use token is spent


def test_refusals_before_sending_never_spend_a_single_use_token(lab: _Lab) -> None:
    issued = _production_token(lab, "1.4.2")  # approved tokens are single-use
    assert issued.claims.single_use
    call = dict(tool="deploy:production", method="POST", path="/environments/production/deployments")
    with pytest.raises(AccessDenied):
        lab.broker.call(issued.token, **call, json={"version": "9.9.9"})  # approval_mismatch
    with pytest.raises(AccessDenied):
        lab.broker.call(issued.token, tool="deploy:production", method="DELETE",
                        path="/environments/production/deployments")  # operation_not_allowed
    good = lab.store.get("acme", "deploy:production")
    _corrupt(lab.store, "acme", "deploy:production")
    with pytest.raises(CorruptSecretError):
        lab.broker.call(issued.token, **call, json={"version": "1.4.2"})
    lab.store.put("acme", "deploy:production", good)  # repaired (and the generation moves)
    assert lab.broker.call(issued.token, **call, json={"version": "1.4.2"}).status == 201
    assert [r for _, r in _tool_calls(lab)] == ["approval_mismatch", "operation_not_allowed",
                                                "secret_corrupt", "tool_call"]
    assert _counts(lab)["deploy"] == 1


def _dead_url() -> str:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_a_request_that_never_left_gives_the_single_use_token_back(lab: _Lab) -> None:
    where = {"payments": _dead_url()}
    broker = _broker(lab, lambda s: where.get(s) or lab.world.url(s))
    token = _token(lab, "payments", ("payments:refund",), user="bob", task="refund",
                   single_use=True).token
    refund = dict(tool="payments", method="POST", path="/refunds", json={"charge": "ch_1"})
    with pytest.raises(UpstreamError) as failed:
        broker.call(token, **refund)  # connection refused: not a byte was sent
    assert "connection refused" in str(failed.value)
    del where["payments"]  # the service is back
    assert broker.call(token, **refund).status < 500  # the one use was still there
    with pytest.raises(RevokedTokenError):
        broker.call(token, **refund)
    assert [r for _, r in _tool_calls(lab)] == ["upstream_error", "tool_call", "replay"]
    assert _counts(lab)["payments"] == 1


def test_a_request_that_reached_the_service_spends_the_token_even_without_an_answer(
        lab: _Lab, hang_up: _HangUp) -> None:
    """Decided: spent when sent. The service may have acted; a retry must not act twice."""
    broker = _broker(lab, lambda s: hang_up.url if s == "payments" else lab.world.url(s))
    httpclient.request("GET", hang_up.url + "/warm")  # a kept-alive connection to reuse
    token = _token(lab, "payments", ("payments:refund",), user="bob", task="refund",
                   single_use=True).token
    refund = dict(tool="payments", method="POST", path="/refunds", json={"charge": "ch_1"})
    with pytest.raises(UpstreamError) as failed:
        broker.call(token, **refund)  # it acted, then hung up without answering
    assert failed.value.status == 0 and failed.value.__context__ is None
    with pytest.raises(RevokedTokenError) as replay:
        broker.call(token, **refund)
    assert replay.value.scope == "replay"
    assert hang_up.posts == 1  # acted on exactly once
    assert [r for _, r in _tool_calls(lab)] == ["upstream_error", "replay"]


def test_an_upstream_error_status_is_an_answer_and_spends_the_token(lab: _Lab) -> None:
    token = _token(lab, "payments", ("payments:refund",), user="bob", task="refund",
                   single_use=True).token
    assert lab.broker.call(token, tool="payments", method="POST", path="/refunds",
                           json={}).status == 400
    with pytest.raises(RevokedTokenError):
        lab.broker.call(token, tool="payments", method="POST", path="/refunds", json={})


# ---------------------------------------------------------------- no secret in any frame


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or any(e is s for s in seen):
            continue
        seen.append(e)
        todo += [e.__context__, e.__cause__]
    return seen


def _frames_holding(exc: BaseException, value: str) -> list[str]:
    """Every frame (and exception attribute) in the whole chain whose repr holds ``value``.

    The test's own frame is skipped: pytest's assertion rewriting keeps the literals there.
    """
    found = []
    for e in _chain(exc):
        if value in repr(e.args) or value in repr(vars(e)) or value in str(e):
            found.append(f"{type(e).__name__} attributes")
        for frame, _ in traceback.walk_tb(e.__traceback__):
            if frame.f_code.co_filename != __file__ and value in repr(frame.f_locals):
                found.append(f"{frame.f_code.co_filename}:{frame.f_code.co_name}")
    return found


class _EchoThenCutHandler(BaseHTTPRequestHandler):
    """The payments service's key-echoing 400, cut short: it promises more body than it sends."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"error": {"type": "invalid_request_error", "debug": {
            "api_key": self.headers.get("X-Api-Key") or ""}}}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body) + 100))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Silenced."""


def _catch_upstream_error(broker: Broker, token: str) -> UpstreamError:
    """The call, caught in a frame that holds no secret of its own."""
    try:
        broker.call(token, tool="payments", method="POST", path="/refunds", json={"charge": "x"})
    except UpstreamError as exc:
        return exc
    raise AssertionError("expected an UpstreamError")


@pytest.mark.parametrize("where", ["echo_then_cut", "dead_port"])
def test_an_upstream_error_carries_no_secret_in_any_frame_or_chained_error(
        lab: _Lab, where: str) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoThenCutHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}" if where == "echo_then_cut" else _dead_url()
    try:
        broker = _broker(lab, lambda s: url if s == "payments" else lab.world.url(s))
        token = _token(lab, "payments", ("payments:refund",), user="bob", task="refund").token
        exc = _catch_upstream_error(broker, token)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    key = lab.store.get("acme", "payments").reveal()
    assert exc.__traceback__ is not None
    assert _frames_holding(exc, key) == []
    assert _chain(exc) == [exc]  # nothing chained at all
    text = f"{exc} {exc!r}"
    assert key not in text and not _leaks(lab, text)
    assert text.startswith("upstream answered 0: POST /refunds failed: ")
    assert _tool_calls(lab) == [("deny", "upstream_error")]
    assert key not in "\n".join(lab.log.lines())


def test_a_corrupt_credential_error_carries_no_frame_from_the_store(lab: _Lab) -> None:
    _corrupt(lab.store, "acme", "payments")
    token = _token(lab, "payments", ("payments:refund",), user="bob", task="refund").token
    with pytest.raises(CorruptSecretError) as failed:
        lab.broker.call(token, tool="payments", method="POST", path="/refunds", json={})
    assert _chain(failed.value) == [failed.value]
    assert [f.f_code.co_name for f, _ in traceback.walk_tb(failed.value.__traceback__)][-1] == "call"
    assert _tool_calls(lab) == [("deny", "secret_corrupt")]


# ---------------------------------------------------------------- the HTTP client never acts twice


class _HangUp:
    """A server that acts on every request and hangs up, unanswered, on a kept-alive connection.

    On a fresh connection it answers 200; on one that already served a request it
    counts the request (it acted) and closes without a word. ``idle_timeout``
    closes idle kept-alive connections from the server side.
    """

    def __init__(self, idle_timeout: float | None = None) -> None:
        owner = self
        self.posts = self.gets = 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = idle_timeout
            served = 0

            def _act(self, kind: str) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                setattr(owner, kind, getattr(owner, kind) + 1)
                self.served += 1
                if self.served > 1:
                    self.close_connection = True  # acted; now hang up without answering
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def do_POST(self) -> None:  # noqa: N802
                self._act("posts")

            def do_GET(self) -> None:  # noqa: N802
                self._act("gets")

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                """Silenced."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        httpclient.close_idle_connections(self.url)


@pytest.fixture
def hang_up() -> Iterator[_HangUp]:
    server = _HangUp()
    try:
        yield server
    finally:
        server.close()


def test_a_post_is_never_re_sent_after_the_server_dropped_the_connection(hang_up: _HangUp) -> None:
    assert httpclient.request("GET", hang_up.url + "/warm").status == 200  # connection now pooled
    before = httpclient.stats()
    with pytest.raises(httpclient.HTTPError) as failed:
        httpclient.request("POST", hang_up.url + "/charges", json={"amount": 500})
    assert hang_up.posts == 1, "the charge reached the service twice"
    assert failed.value.sent is True and failed.value.code == "http"
    assert str(failed.value).startswith("POST /charges failed: ")
    assert httpclient.stats().retried == before.retried


def test_an_idempotent_request_is_re_sent_once_after_a_dropped_connection(hang_up: _HangUp) -> None:
    assert httpclient.request("GET", hang_up.url + "/warm").status == 200
    before = httpclient.stats()
    assert httpclient.request("GET", hang_up.url + "/charges").status == 200
    assert hang_up.gets == 3  # warm, the dropped one, the re-sent one
    assert httpclient.stats().retried - before.retried == 1


def test_a_connection_closed_while_idle_is_replaced_before_a_post_is_sent() -> None:
    server = _HangUp(idle_timeout=0.1)
    try:
        assert httpclient.request("GET", server.url + "/warm").status == 200
        time.sleep(0.4)  # the server closes the idle keep-alive connection after 0.1 s
        assert httpclient.request("POST", server.url + "/charges", json={"amount": 1}).status == 200
        assert server.posts == 1
    finally:
        server.close()


def test_a_request_that_never_left_says_so() -> None:
    with pytest.raises(httpclient.HTTPError) as refused:
        httpclient.request("POST", _dead_url() + "/charges", json={"amount": 1})
    assert refused.value.sent is False and refused.value.__context__ is None


def test_a_header_http_client_refuses_is_a_typed_error_without_the_value(hang_up: _HangUp) -> None:
    with pytest.raises(httpclient.HTTPError) as refused:
        httpclient.request("GET", hang_up.url + "/x", headers={"X-Api-Key": "sk_live_bad\r\nX-Evil: 1"})
    exc = refused.value
    assert exc.sent is False and "sk_live_bad" not in f"{exc} {exc!r}" and exc.__context__ is None
    assert _frames_holding(exc, "sk_live_bad") == []
    assert hang_up.gets == 0


# ---------------------------------------------------------------- one broken secret, nothing else


def test_a_corrupt_secret_refuses_only_the_calls_that_need_it(lab: _Lab) -> None:
    _corrupt(lab.store, "globex", "tickets")
    _corrupt(lab.store, "acme", "deploy:admin")  # a secret of acme that no acme call here injects
    lab.store.put("acme", "deploy:staging", lab.store.get("acme", "deploy:staging"))  # caches rebuild
    acme = _token(lab).token
    globex = _token(lab, user="gina", tenant="globex").token
    assert lab.broker.call(acme, tool="tickets", method="GET", path="/tickets").status == 200
    with pytest.raises(CorruptSecretError):
        lab.broker.call(globex, tool="tickets", method="GET", path="/tickets")
    bob = _token(lab, "payments", ("payments:refund",), user="bob", task="refund").token
    echoed = lab.broker.call(bob, tool="payments", method="POST", path="/refunds", json={})
    assert echoed.json()["error"]["debug"]["api_key"] == "[REDACTED:payments]"
    assert lab.broker.unreadable("acme") == ("deploy:admin",)
    assert [(e.tenant, e.decision, e.reason) for e in lab.log.events() if e.event == "tool_call"] == [
        ("acme", "allow", "tool_call"), ("globex", "deny", "secret_corrupt"),
        ("acme", "allow", "tool_call")]
    assert [r.tenant for r in lab.world.received("tickets")] == ["acme"]


@pytest.mark.parametrize("method", [None, b"GET", 7])
def test_a_non_string_method_is_refused_and_logged(lab: _Lab, method: Any) -> None:
    with pytest.raises(AccessDenied) as denied:
        lab.broker.call(_token(lab).token, tool="tickets", method=method, path="/tickets")
    assert denied.value.code == "operation_not_allowed"
    assert _tool_calls(lab) == [("deny", "operation_not_allowed")]


@pytest.mark.parametrize("tool", [None, ["tickets"], {"t": 1}, b"tickets"])
def test_a_non_string_tool_is_an_unknown_tool_and_logged(lab: _Lab, tool: Any) -> None:
    with pytest.raises(AccessDenied) as denied:
        lab.broker.call(_token(lab).token, tool=tool, method="GET", path="/tickets")
    assert denied.value.code == "unknown_tool"
    assert _tool_calls(lab) == [("deny", "unknown_tool")]


def test_an_answer_that_cannot_be_redacted_is_withheld_typed_and_logged(
        lab: _Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Redactor, text: str) -> str:
        raise RuntimeError("redactor failure, with the text: " + text)

    token = _token(lab, "payments", ("payments:refund",), user="bob", task="refund").token
    monkeypatch.setattr(Redactor, "redact", broken)
    with pytest.raises(AccessDenied) as denied:
        lab.broker.call(token, tool="payments", method="POST", path="/refunds", json={})
    assert denied.value.code == "redaction_failed" and denied.value.__context__ is None
    assert "status 400" in str(denied.value)
    key = lab.store.get("acme", "payments").reveal()
    assert key not in str(denied.value) and _frames_holding(denied.value, key) == []
    assert _tool_calls(lab) == [("deny", "redaction_failed")]


def test_a_client_bug_while_sending_is_an_upstream_error_without_the_header(
        lab: _Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    def buggy(method: str, url: str, *, headers: dict[str, str], **kw: Any) -> Any:
        raise RuntimeError("client bug")  # its frame holds the header

    monkeypatch.setattr(httpclient, "request", buggy)
    token = _token(lab, "payments", ("payments:refund",), user="bob", task="refund").token
    exc = _catch_upstream_error(lab.broker, token)
    key = lab.store.get("acme", "payments").reveal()
    assert _chain(exc) == [exc] and _frames_holding(exc, key) == []
    assert "client failure (RuntimeError)" in str(exc)
