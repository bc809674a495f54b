"""Broker: the redactor's cache key and the audit fields, pinned (issue 14).

Mutation testing found that the broker's redactor could be cached under a constant,
without the tenant, without the injected credential or without the store's generation,
or built from the public names only, and no test noticed: another tenant's secret, a
rotated key or a refreshed access token would then come back unredacted. Nor did any
test read *who* made a call from its ``tool_call`` line.

Everything here runs through :meth:`Broker.call` against an echo service on 127.0.0.1
that sends back what it was sent (the request body, and the credential header it got),
so "redacted" means: the answer the agent reads holds no secret.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from course import tokens
from course.broker import Broker
from course.clock import ManualClock
from course.errors import (
    AccessDenied,
    ConfigurationError,
    ExpiredTokenError,
    InvalidRequestError,
    RevokedTokenError,
    UpstreamError,
)
from course.secretstore import Secret, SecretStore

KEYS = {
    ("acme", "tickets"): "tkt_acme_7Qv2Lr9XcP4mZ8sW1nB6",
    ("acme", "payments"): "sk_live_acme_3Hf8Kd2Ls9Qw5Er7Ty1U",
    ("acme", "deploy:staging"): "dpl_acme_stg_9Zx4Cv7Bn2Mq5Wl8Kp3",
    ("acme", "oauth:client_id"): "client-acme-public-id",
    ("globex", "tickets"): "tkt_globex_5Rt8Yu2Io4Pa7Sd1Fg6",
    ("globex", "payments"): "sk_live_globex_8Jk3Lz6Xc1Vb4Nm7Qw2",
}


class _Echo(BaseHTTPRequestHandler):
    """Answers with the credential it got (scheme stripped, so no shape gives it away) and the body.

    A credential ending in ``-revoked`` gets a 401; a body asking for ``BADBYTES`` gets bytes
    that are not UTF-8.
    """

    seen: list[dict[str, str]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8") if length else ""
        got = {"auth": self.headers.get("Authorization", ""), "key": self.headers.get("X-Api-Key", "")}
        type(self).seen.append(got)
        credential = got["auth"].removeprefix("Bearer ") or got["key"]
        out = json.dumps({"credential": credential, "body": body}, separators=(",", ":")).encode()
        if "BADBYTES" in body:
            out = b'{"body":"\xff\xfe"}'
        self.send_response(401 if credential.endswith("-revoked") else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def append(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))


class _Keeper:
    """A refresh keeper that hands out a new upstream access token on every call."""

    def __init__(self) -> None:
        self.issued: list[str] = []
        self.forgotten: list[str] = []
        self.suffix = ""
        self.failure: Exception | None = None

    def access_token(self, tenant: str) -> Secret:
        if self.failure is not None:
            raise self.failure
        value = f"opaque-access-{tenant}-{len(self.issued)}-Zq8Xw3Lp7Rt2{self.suffix}"
        self.issued.append(value)
        return Secret(value, name="oauth:access")

    def forget(self, tenant: str) -> None:
        self.forgotten.append(tenant)


def _claims(clock: ManualClock, **over: Any) -> tokens.TokenClaims:
    now = clock.now()
    base: dict[str, Any] = dict(iss="https://vault.lab.local", sub="helpdesk-bot", aud="tickets",
                                user="alice", tenant="acme", task="triage", session="sess-0042",
                                scopes=("tickets:read", "tickets:write"), iat=now, nbf=now,
                                exp=now + 300, jti="tok-0042")
    base.update(over)
    return tokens.TokenClaims(**base)


class _Rig:
    """A broker whose verifier trusts a table of token -> claims, against the echo service."""

    def __init__(self, url: str) -> None:
        self.clock = ManualClock()
        self.store = SecretStore.from_seed("mutants-broker")
        for (tenant, name), value in KEYS.items():
            self.store.put(tenant, name, value)
        self.log = _Log()
        self.keeper = _Keeper()
        self.table: dict[str, tokens.TokenClaims] = {}
        self.url = url
        self.broker = self.make(store=self.store)

    def check(self, token: object) -> tokens.TokenClaims:
        if token not in self.table:
            raise ExpiredTokenError("the token has expired")
        return self.table[token]  # type: ignore[index]

    def make(self, **over: Any) -> Broker:
        verifier = tokens.PluggedVerifier(self.check)
        opts: dict[str, Any] = dict(verifier_for=lambda tool: verifier, store=self.store,
                                    urls=lambda s: self.url, clock=self.clock, log=self.log,
                                    refresh=self.keeper)
        opts.update(over)
        return Broker(**opts)

    def token(self, **over: Any) -> str:
        name = f"token-{len(self.table)}"
        self.table[name] = _claims(self.clock, **over)
        return name

    def echo(self, text: str, **over: Any) -> str:
        """POST ``text`` to the echo service as ``over``'s caller; the answer body the agent reads."""
        result = self.broker.call(self.token(**over), tool="tickets", method="POST", path="/tickets",
                                  json={"echo": text})
        assert result.status == 200
        return result.body


@pytest.fixture
def rig(echo_url: str) -> _Rig:
    _Echo.seen.clear()
    return _Rig(echo_url)


# --- what the redactor covers ----------------------------------------------------------------------

def test_every_secret_of_the_callers_tenant_is_redacted_not_only_the_injected_one(rig: _Rig) -> None:
    acme = [v for (t, n), v in KEYS.items() if t == "acme" and n != "oauth:client_id"]
    body = rig.echo(" ".join(acme))
    assert not [v for v in acme if v in body]
    assert _Echo.seen[-1]["auth"] == "Bearer " + KEYS[("acme", "tickets")]  # injected, then hidden


def test_a_public_name_is_left_readable(rig: _Rig) -> None:
    body = rig.echo("client " + KEYS[("acme", "oauth:client_id")])
    assert KEYS[("acme", "oauth:client_id")] in body


# --- the cache key: tenant, store generation, injected credential ------------------------------------

def test_another_tenants_secret_is_redacted_after_the_first_tenant_called(rig: _Rig) -> None:
    rig.echo("warm up")  # acme's redactor is built and cached
    body = rig.echo(KEYS[("globex", "payments")], tenant="globex", user="gina")
    assert KEYS[("globex", "payments")] not in body
    assert _Echo.seen[-1]["auth"] == "Bearer " + KEYS[("globex", "tickets")]


def test_each_tenant_keeps_its_own_redactor_when_calls_interleave(rig: _Rig) -> None:
    for _ in range(2):
        assert KEYS[("acme", "payments")] not in rig.echo(KEYS[("acme", "payments")])
        body = rig.echo(KEYS[("globex", "payments")], tenant="globex", user="gina")
        assert KEYS[("globex", "payments")] not in body


def test_a_rotated_credential_is_injected_and_redacted_at_once(rig: _Rig) -> None:
    rig.echo("warm up")
    rotated = "sk_live_acme_ROTATED_6Gh2Jk9Lm4Nb"
    rig.store.put("acme", "payments", rotated)  # the store's generation moves
    body = rig.echo("echo " + rotated)
    assert rotated not in body
    new_ticket_key = "tkt_acme_ROTATED_1Qa3Ws5Ed7Rf"
    rig.store.put("acme", "tickets", new_ticket_key)
    body = rig.echo("echo " + new_ticket_key)
    assert _Echo.seen[-1]["auth"] == "Bearer " + new_ticket_key  # the opened credential was dropped
    assert new_ticket_key not in body


def test_a_refreshed_access_token_is_redacted_though_the_store_did_not_change(rig: _Rig) -> None:
    answers = []
    for _ in range(2):
        token = rig.token(scopes=("files:read",), task="files", aud="files")
        answers.append(rig.broker.call(token, tool="files", method="GET", path="/files").body)
    assert len(rig.keeper.issued) == 2 and rig.keeper.issued[0] != rig.keeper.issued[1]
    for issued, body in zip(rig.keeper.issued, answers, strict=True):
        assert issued not in body
    assert [s["auth"] for s in _Echo.seen] == [f"Bearer {v}" for v in rig.keeper.issued]


def test_a_secret_added_to_the_tenant_is_redacted_from_the_next_answer(rig: _Rig) -> None:
    rig.echo("warm up")
    added = "dpl_acme_prod_NEW_4Rf6Tg8Yh0Uj"
    rig.store.put("acme", "deploy:production", added)
    assert added not in rig.echo("echo " + added)


# --- who made the call: the tool_call line ------------------------------------------------------------

def _tool_calls(rig: _Rig) -> list[dict[str, Any]]:
    return [fields for event, fields in rig.log.lines if event == "tool_call"]


def test_an_allowed_call_logs_who_made_it_for_whom_and_under_which_token(rig: _Rig) -> None:
    token = rig.token(user="bob", sub="billing-bot", session="sess-0777", task="refund", jti="tok-0777")
    rig.broker.call(token, tool="tickets", method="GET", path="/tickets")
    (line,) = _tool_calls(rig)
    claims = rig.table[token]
    assert line == {
        "tool": "tickets", "decision": "allow", "reason": "tool_call", "detail": "status 200",
        "facts": {"method": "GET", "path": "/tickets"},
        "tenant": "acme", "user": "bob", "agent": "billing-bot", "session": "sess-0777",
        "task": "refund", "scopes": ("tickets:read", "tickets:write"), "jti": "tok-0777",
        "expires": claims.exp,
    }


def test_a_refused_call_after_verification_still_names_the_caller(rig: _Rig) -> None:
    token = rig.token(user="carol", scopes=("tickets:read",))
    with pytest.raises(AccessDenied):
        rig.broker.call(token, tool="tickets", method="POST", path="/tickets", json={"title": "x"})
    (line,) = _tool_calls(rig)
    assert (line["decision"], line["reason"], line["user"], line["tenant"], line["agent"]) == (
        "deny", "scope_missing", "carol", "acme", "helpdesk-bot")
    assert _Echo.seen == []


def test_a_call_refused_before_verification_names_no_caller(rig: _Rig) -> None:
    with pytest.raises(AccessDenied):
        rig.broker.call(rig.token(), tool="nope", method="GET", path="/")
    (line,) = _tool_calls(rig)
    assert line["reason"] == "unknown_tool" and line["tool"] == "nope"
    assert not {"tenant", "user", "agent", "session", "jti"} & set(line)


def test_logged_tool_method_and_path_are_bounded_and_typed(rig: _Rig) -> None:
    with pytest.raises(AccessDenied):
        rig.broker.call(rig.token(), tool="t" * 100, method="M" * 50, path="/" + "p" * 500)
    with pytest.raises(AccessDenied):
        rig.broker.call(rig.token(), tool=7, method="GET", path="/")  # type: ignore[arg-type]
    long, typed = _tool_calls(rig)
    assert long["tool"] == "t" * 64 and long["facts"] == {"method": "M" * 20, "path": "/" + "p" * 199}
    assert typed["tool"] == "<int>"


def test_result_carries_the_tools_name_status_and_the_tokens_jti(rig: _Rig) -> None:
    result = rig.broker.call(rig.token(jti="tok-0099"), tool="tickets", method="GET", path="/tickets")
    assert (result.tool, result.status, result.jti) == ("tickets", 200, "tok-0099")
    assert result.json()["credential"] != KEYS[("acme", "tickets")]


def test_an_unreachable_service_is_a_logged_upstream_error(rig: _Rig) -> None:
    broker = rig.make(urls=lambda s: "http://127.0.0.1:9")
    with pytest.raises(UpstreamError) as err:
        broker.call(rig.token(), tool="tickets", method="GET", path="/tickets")
    (line,) = _tool_calls(rig)
    assert (line["decision"], line["reason"], line["user"]) == ("deny", "upstream_error", "alice")
    assert (line["tool"], line["facts"]) == ("tickets", {"method": "GET", "path": "/tickets"})
    assert line["detail"] and str(err.value).endswith(line["detail"])


# --- every refusal's line names the call as it was made ------------------------------------------------

def _the_line(rig: _Rig) -> dict[str, Any]:
    (line,) = _tool_calls(rig)
    return line


def test_a_token_refusal_is_logged_with_the_call_and_the_error(rig: _Rig) -> None:
    with pytest.raises(ExpiredTokenError) as err:
        rig.broker.call("stale", tool="tickets", method="GET", path="/tickets/T-1")
    line = _the_line(rig)
    assert (line["tool"], line["facts"], line["reason"], line["detail"]) == (
        "tickets", {"method": "GET", "path": "/tickets/T-1"}, "expired", str(err.value))
    assert "user" not in line and "stale" not in str(line)


def test_a_scope_refusal_is_logged_with_the_call(rig: _Rig) -> None:
    with pytest.raises(AccessDenied):
        rig.broker.call(rig.token(scopes=("tickets:read",)), tool="tickets", method="POST", path="/tickets",
                        json={"title": "x"})
    line = _the_line(rig)
    assert (line["tool"], line["facts"], line["reason"], line["user"]) == (
        "tickets", {"method": "POST", "path": "/tickets"}, "scope_missing", "alice")


def test_arguments_that_are_not_an_object_are_refused_and_logged_with_the_caller(rig: _Rig) -> None:
    with pytest.raises(InvalidRequestError) as err:
        rig.broker.call(rig.token(), tool="tickets", method="POST", path="/tickets",
                        json="title=x")  # type: ignore[arg-type]
    assert "str" in str(err.value).split()
    line = _the_line(rig)
    assert (line["tool"], line["facts"], line["reason"], line["user"], line["detail"]) == (
        "tickets", {"method": "POST", "path": "/tickets"}, "invalid_request", "alice", err.value.reason)


def test_a_missing_credential_is_logged_with_the_call_and_the_error(rig: _Rig) -> None:
    token = rig.token(tenant="initech", user="peter")  # no credential stored for initech
    with pytest.raises(Exception) as err:
        rig.broker.call(token, tool="tickets", method="GET", path="/tickets")
    line = _the_line(rig)
    assert (line["tool"], line["facts"], line["user"], line["detail"]) == (
        "tickets", {"method": "GET", "path": "/tickets"}, "peter", str(err.value))
    assert line["reason"] == err.value.code != "upstream_error"  # type: ignore[attr-defined]


def test_a_failed_refresh_is_logged_as_upstream_error(rig: _Rig) -> None:
    rig.keeper.failure = UpstreamError(502, "the token endpoint failed")
    token = rig.token(scopes=("files:read",), task="files", aud="files")
    with pytest.raises(UpstreamError):
        rig.broker.call(token, tool="files", method="GET", path="/files")
    line = _the_line(rig)
    assert (line["tool"], line["reason"], line["user"], line["facts"]) == (
        "files", "upstream_error", "alice", {"method": "GET", "path": "/files"})
    assert line["detail"] == str(rig.keeper.failure)


def test_a_replayed_single_use_token_is_logged_with_the_call(rig: _Rig) -> None:
    token = rig.token(single_use=True)
    rig.broker.call(token, tool="tickets", method="GET", path="/tickets")
    with pytest.raises(RevokedTokenError) as err:
        rig.broker.call(token, tool="tickets", method="GET", path="/tickets/T-9")
    replay = _tool_calls(rig)[-1]
    assert (replay["tool"], replay["facts"], replay["reason"], replay["user"], replay["detail"]) == (
        "tickets", {"method": "GET", "path": "/tickets/T-9"}, "replay", "alice", str(err.value))


# --- single use: a request that may have left is spent ---------------------------------------------------

def test_a_failure_inside_the_send_spends_a_single_use_token(rig: _Rig) -> None:
    token = rig.token(single_use=True)
    broken = rig.make(urls=lambda s: None)  # the client fails on it: a failure it cannot type
    with pytest.raises(UpstreamError) as err:
        broken.call(token, tool="tickets", method="GET", path="/tickets/T-7")
    assert {"GET", "/tickets/T-7"} <= set(str(err.value).split())
    assert str(err.value).endswith(_tool_calls(rig)[-1]["detail"])
    with pytest.raises(RevokedTokenError):
        broken.call(token, tool="tickets", method="GET", path="/tickets/T-7")


def test_an_untyped_send_failure_without_a_sent_flag_counts_as_sent(rig: _Rig) -> None:
    calls: list[str] = []

    def first_no_such_service(service: str) -> str:
        calls.append(service)
        if len(calls) == 1:
            raise ConfigurationError("no such service")
        return rig.url

    token = rig.token(single_use=True)
    broker = rig.make(urls=first_no_such_service)
    with pytest.raises(UpstreamError):
        broker.call(token, tool="tickets", method="GET", path="/tickets")
    with pytest.raises(RevokedTokenError):
        broker.call(token, tool="tickets", method="GET", path="/tickets")
    assert calls == ["tickets"]


# --- OAuth: a 401 from the upstream drops its cached access token, nothing else does ---------------------

def test_an_upstream_401_on_the_oauth_tool_makes_the_keeper_forget_the_tenant(rig: _Rig) -> None:
    rig.keeper.suffix = "-revoked"
    token = rig.token(scopes=("files:read",), task="files", aud="files")
    assert rig.broker.call(token, tool="files", method="GET", path="/files").status == 401
    assert rig.keeper.forgotten == ["acme"]


def test_a_good_answer_or_a_401_from_a_plain_key_tool_forgets_nothing(rig: _Rig) -> None:
    token = rig.token(scopes=("files:read",), task="files", aud="files")
    assert rig.broker.call(token, tool="files", method="GET", path="/files").status == 200
    rig.store.put("acme", "tickets", "tkt_acme_key-revoked")
    assert rig.broker.call(rig.token(), tool="tickets", method="GET", path="/tickets").status == 401
    assert rig.keeper.forgotten == []


# --- answers: bytes that are not UTF-8, a redactor that fails, the naive wiring ----------------------------

def test_an_answer_that_is_not_utf8_comes_back_with_replacement_characters(rig: _Rig) -> None:
    assert "\ufffd" in rig.echo("BADBYTES")


class _BrokenRedactor:
    def __init__(self, secrets: Any) -> None:
        pass

    def redact(self, text: str) -> str:
        raise RuntimeError("boom")


def test_an_answer_the_redactor_fails_on_is_withheld_and_logged_with_the_call(
        rig: _Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("course.broker.Redactor", _BrokenRedactor)
    with pytest.raises(AccessDenied) as err:
        rig.broker.call(rig.token(), tool="tickets", method="GET", path="/tickets")
    assert err.value.code == "redaction_failed"
    line = _the_line(rig)
    assert (line["tool"], line["facts"], line["reason"], line["user"]) == (
        "tickets", {"method": "GET", "path": "/tickets"}, "redaction_failed", "alice")


def test_an_upstream_error_the_redactor_fails_on_is_named_by_its_type_only(
        rig: _Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("course.broker.Redactor", _BrokenRedactor)
    with pytest.raises(UpstreamError) as err:
        rig.make(urls=lambda s: "http://127.0.0.1:9").call(rig.token(), tool="tickets", method="GET",
                                                           path="/tickets")
    assert "HTTPError" in str(err.value).split() and "/tickets" not in str(err.value)
    assert "HTTPError" in _the_line(rig)["detail"].split()


def test_the_naive_wiring_redacts_nothing(rig: _Rig) -> None:
    naive = rig.make(redact=False)
    result = naive.call(rig.token(), tool="tickets", method="POST", path="/tickets",
                        json={"echo": KEYS[("acme", "payments")]})
    assert KEYS[("acme", "payments")] in result.body


def test_unreadable_of_a_tenant_never_seen_is_empty(rig: _Rig) -> None:
    assert rig.broker.unreadable("nobody") == ()


# --- caches: one store read per credential and store generation ---------------------------------------------

class _CountingStore:
    def __init__(self, store: SecretStore) -> None:
        self.store, self.gets = store, []

    @property
    def generation(self) -> int:
        return self.store.generation

    def names(self, tenant: str) -> tuple[str, ...]:
        return self.store.names(tenant)

    def get(self, tenant: str, name: str) -> Secret:
        self.gets.append((tenant, name))
        return self.store.get(tenant, name)


def test_credentials_and_redactor_are_opened_once_per_store_generation(rig: _Rig) -> None:
    counting = _CountingStore(rig.store)
    broker = rig.make(store=counting)
    for _ in range(3):
        broker.call(rig.token(), tool="tickets", method="GET", path="/tickets")
    first = list(counting.gets)
    assert first.count(("acme", "tickets")) == 2  # once to inject, once for the redactor
    assert first.count(("acme", "payments")) == 1
    rig.store.put("acme", "payments", "sk_live_acme_NEW_5Tg7Yh9Uj1Ik")
    broker.call(rig.token(), tool="tickets", method="GET", path="/tickets")
    assert counting.gets[len(first):].count(("acme", "payments")) == 1


def test_an_oauth_redactor_is_rebuilt_only_when_the_access_token_changes(rig: _Rig) -> None:
    counting = _CountingStore(rig.store)
    keeper = _SameToken()
    broker = rig.make(store=counting, refresh=keeper)
    for _ in range(3):
        token = rig.token(scopes=("files:read",), task="files", aud="files")
        assert keeper.value.reveal() not in broker.call(token, tool="files", method="GET", path="/files").body
    assert counting.gets.count(("acme", "payments")) == 1
    keeper.value = Secret(keeper.value.reveal(), name="oauth:access")  # equal, not the same object
    broker.call(rig.token(scopes=("files:read",), task="files", aud="files"), tool="files", method="GET",
                path="/files")
    assert counting.gets.count(("acme", "payments")) == 1


class _SameToken:
    def __init__(self) -> None:
        self.value = Secret("opaque-access-acme-steady-Kp3Lm8Nq", name="oauth:access")

    def access_token(self, tenant: str) -> Secret:
        return self.value

    def forget(self, tenant: str) -> None:
        pass


# --- an approved token: arguments that cannot even be digested are not the approved ones -----------------

@pytest.mark.parametrize("args", [{"amount": {1, 2}}, {"amount": float("nan")}, {1: "x"}],
                         ids=["set", "nan", "int-key"])
def test_arguments_that_cannot_be_digested_never_match_an_approval(args: Any) -> None:
    from course.broker import authorize_call
    from course.connectors import by_tool
    from course.policy import intent_digest

    claims = _claims(ManualClock(), approval=intent_digest({"amount": 10}))
    connector = by_tool()["tickets"]
    assert authorize_call(claims, connector, "POST", "/tickets", {"amount": 10}) is None
    refusal = authorize_call(claims, connector, "POST", "/tickets", args)
    assert refusal is not None and refusal[0] == "approval_mismatch"


# --- what a refusal says where it is read: the error the agent gets and the log line on-call reads ---------
# One exact text per refusal (issue 14's message-only mutants): the reason code says which rule, and
# the reason says why, both on the raised error and on the ``tool_call`` line's ``detail``.

def test_an_unknown_tool_is_refused_saying_it_is_not_in_the_catalogue(rig: _Rig) -> None:
    with pytest.raises(AccessDenied) as err:
        rig.broker.call(rig.token(), tool="mailer", method="GET", path="/mail")
    assert (err.value.code, err.value.reason) == ("unknown_tool", "no such tool in the catalogue")
    line = _the_line(rig)
    assert (line["tool"], line["reason"], line["detail"]) == (
        "mailer", "unknown_tool", "no such tool in the catalogue")


def test_an_approved_token_used_with_other_arguments_is_refused_saying_they_differ(rig: _Rig) -> None:
    from course.policy import intent_digest

    token = rig.token(approval=intent_digest({"title": "reset alice's password"}))
    with pytest.raises(AccessDenied) as err:
        rig.broker.call(token, tool="tickets", method="POST", path="/tickets",
                        json={"title": "reset mallory's password"})
    why = "the call's arguments differ from the approved ones"
    assert (err.value.code, err.value.reason) == ("approval_mismatch", why)
    line = _the_line(rig)
    assert (line["reason"], line["detail"], line["user"]) == ("approval_mismatch", why, "alice")
    assert _Echo.seen == []  # refused before anything was sent


def test_an_oauth_tool_on_a_broker_without_a_refresh_keeper_is_refused_saying_so(rig: _Rig) -> None:
    broker = rig.make(refresh=None)
    token = rig.token(scopes=("files:read",), task="files", aud="files")
    with pytest.raises(AccessDenied) as err:
        broker.call(token, tool="files", method="GET", path="/files")
    why = "this broker holds no upstream OAuth client"
    assert (err.value.code, err.value.reason, str(err.value)) == ("no_refresh", why, f"no_refresh: {why}")
    line = _the_line(rig)
    assert (line["tool"], line["reason"], line["detail"]) == ("files", "no_refresh", f"no_refresh: {why}")


def test_pickling_a_broker_is_refused_saying_a_broker_is_not_pickled(rig: _Rig) -> None:
    import copy
    import pickle

    for attempt in (lambda: pickle.dumps(rig.broker), lambda: copy.copy(rig.broker)):
        with pytest.raises(TypeError) as err:
            attempt()
        assert str(err.value) == "a Broker refuses to be pickled"
