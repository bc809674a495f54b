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
from course.errors import AccessDenied, UpstreamError
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
    """Answers with the credential header it got and the request body it got."""

    seen: list[dict[str, str]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8") if length else ""
        got = {"auth": self.headers.get("Authorization", ""), "key": self.headers.get("X-Api-Key", "")}
        type(self).seen.append(got)
        out = json.dumps({"headers": got, "body": body}, separators=(",", ":")).encode()
        self.send_response(200)
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

    def access_token(self, tenant: str) -> Secret:
        value = f"ya29.access-{tenant}-{len(self.issued)}-Zq8Xw3Lp7Rt2"
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
        verifier = tokens.PluggedVerifier(lambda t: self.table[t])
        self.broker = Broker(verifier_for=lambda tool: verifier, store=self.store, urls=lambda s: url,
                             clock=self.clock, log=self.log, refresh=self.keeper)  # type: ignore[arg-type]

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
    assert result.json()["headers"]["auth"].startswith("Bearer ")


def test_an_unreachable_service_is_a_logged_upstream_error(rig: _Rig) -> None:
    broker = Broker(verifier_for=lambda tool: tokens.PluggedVerifier(lambda t: rig.table[t]),
                    store=rig.store, urls=lambda s: "http://127.0.0.1:9", clock=rig.clock, log=rig.log)
    with pytest.raises(UpstreamError):
        broker.call(rig.token(), tool="tickets", method="GET", path="/tickets")
    (line,) = _tool_calls(rig)
    assert (line["decision"], line["reason"], line["user"]) == ("deny", "upstream_error", "alice")
