"""Refresh keeper: what it sends, when it renews, and what each refusal leaves on the log (issue 14).

Mutation testing found no test of the keeper against an endpoint that answers anything but the
lab's well-behaved one: a 400 that is not ``invalid_grant``, a 200 without a rotated refresh
token or without ``expires_in``, an answer that is not a JSON object; nor of the early-renewal
boundary, the form's Content-Type, or the fields of each ``upstream_refresh`` line. Here a
scripted endpoint on 127.0.0.1 answers what each test says and records what it was sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from course import errors
from course.audit import AccessLog
from course.clock import ManualClock
from course.refresh import EARLY_REFRESH, RefreshKeeper
from course.secretstore import SecretStore


class _Endpoint:
    """A token endpoint that answers from a script: a list of (status, body) pairs, in order."""

    def __init__(self) -> None:
        self.script: list[tuple[int, object]] = []
        self.seen: list[tuple[str, str | None, dict[str, list[str]]]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                endpoint.seen.append((self.command, self.headers.get("Content-Type"), parse_qs(body)))
                status, answer = endpoint.script.pop(0)
                data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/oauth/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def endpoint() -> Iterator[_Endpoint]:
    e = _Endpoint()
    yield e
    e.server.shutdown()
    e.server.server_close()


@pytest.fixture
def keeper(endpoint: _Endpoint, clock: ManualClock) -> tuple[RefreshKeeper, SecretStore, AccessLog]:
    store = SecretStore.from_seed("refresh-mutants")
    for name, value in [("oauth:refresh", "rt-initial-000"), ("oauth:client_id", "client-acme"),
                        ("oauth:client_secret", "cs-acme-000")]:
        store.put("acme", name, value)
    log = AccessLog(clock=clock, hmac_key=b"refresh-mutants-log-key".ljust(32, b"."))
    return RefreshKeeper(store=store, token_url=endpoint.url, clock=clock, log=log), store, log


def _ok(access: str = "at-1", refresh: str = "rt-2", **extra: object) -> tuple[int, dict]:
    return 200, {"access_token": access, "refresh_token": refresh, **extra}


def test_the_keeper_posts_a_form_and_names_what_it_returns(endpoint, keeper) -> None:
    k, store, log = keeper
    endpoint.script.append(_ok(expires_in=600))
    token = k.access_token("acme")
    assert (token.name, token.reveal()) == ("oauth:access", "at-1")
    [(method, content_type, form)] = endpoint.seen
    assert method == "POST"
    assert content_type.lower() == "application/x-www-form-urlencoded"  # media types: any case
    assert form == {"grant_type": ["refresh_token"], "refresh_token": ["rt-initial-000"],
                    "client_id": ["client-acme"], "client_secret": ["cs-acme-000"]}
    assert store.get("acme", "oauth:refresh").reveal() == "rt-2"
    line = log.events()[-1]
    assert (line.event, line.tenant, line.decision, line.reason, line.detail) == (
        "upstream_refresh", "acme", "allow", "rotated", "refresh token rotated")
    assert line.fact("presented") == log.fingerprint("rt-initial-000")
    assert line.fact("rotated_to") == log.fingerprint("rt-2")


def test_a_cached_token_is_renewed_exactly_early_refresh_seconds_before_expiry(endpoint, keeper,
                                                                              clock) -> None:
    k, _, _ = keeper
    endpoint.script += [_ok("at-1", "rt-2", expires_in=100), _ok("at-2", "rt-3", expires_in=100)]
    first = k.access_token("acme")
    clock.advance(100 - EARLY_REFRESH - 1)
    assert k.access_token("acme") is first and k.refreshes == 1
    clock.advance(1)
    assert k.access_token("acme").reveal() == "at-2" and k.refreshes == 2


def test_an_answer_without_expires_in_lives_300_seconds(endpoint, keeper, clock) -> None:
    k, _, _ = keeper
    endpoint.script += [_ok("at-1", "rt-2"), _ok("at-2", "rt-3")]
    first = k.access_token("acme")
    clock.advance(300 - EARLY_REFRESH - 1)
    assert k.access_token("acme") is first
    clock.advance(1)
    assert k.access_token("acme").reveal() == "at-2"


def test_a_400_that_is_not_invalid_grant_is_a_plain_upstream_error_and_is_asked_again(endpoint,
                                                                                      keeper) -> None:
    k, _, log = keeper
    endpoint.script += [(400, {"error": "invalid_request"}), _ok()]
    with pytest.raises(errors.UpstreamError) as err:
        k.access_token("acme")
    assert not isinstance(err.value, errors.RefreshRevokedError)
    assert (err.value.status, str(err.value)) == (400, "upstream answered 400: the token endpoint "
                                                       "refused the refresh")
    line = log.events()[-1]
    assert (line.tenant, line.decision, line.reason, line.detail) == (
        "acme", "deny", "upstream_error", "the token endpoint answered 400")
    assert k.access_token("acme").reveal() == "at-1"  # not remembered as refused


def test_invalid_grant_is_a_revoked_400_logged_as_not_retried(endpoint, keeper) -> None:
    k, _, log = keeper
    endpoint.script.append((400, {"error": "invalid_grant"}))
    with pytest.raises(errors.RefreshRevokedError) as err:
        k.access_token("acme")
    assert err.value.status == 400
    line = log.events()[-1]
    assert (line.tenant, line.decision, line.reason, line.detail) == (
        "acme", "deny", "refresh_revoked", "the token endpoint answered invalid_grant; not retried")
    with pytest.raises(errors.RefreshRevokedError):
        k.access_token("acme")
    assert len(endpoint.seen) == 1


@pytest.mark.parametrize("answer", [{"access_token": "at-1"}, {"refresh_token": "rt-2"}, ["at-1"],
                                    b"not json"])
def test_an_incomplete_answer_is_refused_and_logged_as_one(endpoint, keeper, answer) -> None:
    k, store, log = keeper
    endpoint.script.append((200, answer))
    with pytest.raises(errors.UpstreamError) as err:
        k.access_token("acme")
    assert (err.value.status, str(err.value)) == (200, "upstream answered 200: the token endpoint's "
                                                       "answer is incomplete")
    line = log.events()[-1]
    assert (line.event, line.tenant, line.decision, line.reason, line.detail) == (
        "upstream_refresh", "acme", "deny", "upstream_error", "the token endpoint's answer is incomplete")
    assert line.fact("presented") == log.fingerprint("rt-initial-000")
    assert store.get("acme", "oauth:refresh").reveal() == "rt-initial-000"  # nothing rotated


def test_forgetting_a_tenant_never_cached_is_harmless(keeper) -> None:
    k, _, _ = keeper
    k.forget("nobody")
    assert repr(k) == "RefreshKeeper(tenants_cached=0, tenants_refused=0)"
