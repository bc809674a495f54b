"""The vault and broker in their own process: the agent's process never holds a credential.

The headline test runs the brokered agent in *this* process against a
service child, then scans this process's heap for every world credential.

How the scan stays honest (the test must not plant what it looks for):

* The child runs on a seed (:data:`BOUNDARY_SEED`) that no other test in the
  suite uses, so no other test can have left those credentials in this
  process (``pytest -n 2`` or not).
* The scan first takes a snapshot of every ``str``/``bytes``/``bytearray``
  reachable from the garbage collector's objects (walking untracked tuples
  and dicts too) and from every thread's frames' locals. Only *after* the
  snapshot does the test derive the expected values (``World.credential`` on
  an unstarted world: :func:`course.secretstore.lab_secret` underneath), build
  a :class:`course.redact.Redactor` over them (every encoded form: raw,
  base64 at every alignment, hex, url, json) and search the snapshot.
* A positive control scans again after the values exist in this process and
  must find them, so a scanner that sees nothing cannot pass the test.

What the scan cannot see: constants inside code objects (not traversable by
``gc``) and memory outside Python objects (socket buffers in the kernel). The
agent code creates no such constants, and every byte it receives arrives
through ``course.httpclient`` as a ``bytes`` object the scan does see.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from course import httpclient
from course.agent import RAW_HTTP, BrokeredAgent, Context, PlannedCall
from course.clock import ManualClock
from course.errors import AccessDenied, ApprovalRequired, TokenError, UnauthenticatedError
from course.policy import AgentRequest
from course.redact import MIN_CORE_LENGTH, Redactor
from course.service import (
    ADMIN_HEADER,
    RemoteAdmin,
    RemoteBroker,
    RemoteVault,
    ServiceProcess,
    serve,
    spawn_service,
)
from course.world import CREDENTIAL_NAMES, SERVICES, TENANTS, World

BOUNDARY_SEED = "process-boundary-only-9d41"  # used by no other test: see the module docstring
SERVICE_SEED = "service-tests"


@pytest.fixture(scope="module")
def service() -> Iterator[ServiceProcess]:
    with spawn_service(SERVICE_SEED) as svc:
        yield svc


def agent_for(svc: ServiceProcess, *, user: str = "alice", agent: str = "helpdesk-bot",
              tenant: str = "acme", planner: Any = None) -> BrokeredAgent:
    session = svc.admin().open_session(tenant=tenant, user=user, agent=agent)
    return BrokeredAgent(vault=svc.vault(), broker=svc.broker(), session=session, planner=planner)


# ---------------------------------------------------------------- heap scan


def heap_snapshot() -> list[str | bytes | bytearray]:
    """Every str/bytes/bytearray reachable from gc-tracked objects and live frames, right now."""
    gc.collect()
    found: list[str | bytes | bytearray] = []
    seen: set[int] = set()
    stack: list[object] = gc.get_objects()
    for frame in sys._current_frames().values():  # locals of running functions are not gc objects
        while frame is not None:
            stack.append(dict(frame.f_locals))
            frame = frame.f_back  # type: ignore[assignment]
    while stack:
        obj = stack.pop()
        for ref in gc.get_referents(obj):
            if id(ref) in seen:
                continue
            if isinstance(ref, (str, bytes, bytearray)):
                seen.add(id(ref))
                found.append(ref)
            elif not gc.is_tracked(ref):  # untracked tuples/dicts are not in gc.get_objects()
                seen.add(id(ref))
                stack.append(ref)
    return found


def leaks(snapshot: list[str | bytes | bytearray], detector: Redactor) -> list[tuple[str, str]]:
    """(secret name, form) for every credential occurrence in the snapshot: never the value."""
    # No encoded form of a credential is shorter than MIN_CORE_LENGTH: skip shorter texts.
    texts = [t if isinstance(t, str) else bytes(t).decode("latin-1") for t in snapshot
             if len(t) >= MIN_CORE_LENGTH]
    haystack = "\x00".join(texts)
    if not detector.contains(haystack):  # one pass; the detail below only when something leaked
        return []
    return sorted({(f.name, f.form) for f in detector.find(haystack)})


def boundary_detector() -> Redactor:
    """Derived only now: an unstarted World computes the child's credentials from the seed."""
    world = World(seed=BOUNDARY_SEED, clock=ManualClock())
    return Redactor([world.credential(t, n) for t in TENANTS for n in CREDENTIAL_NAMES
                     if n != "oauth:client_id"], shapes=())


def test_the_agent_process_never_holds_a_credential() -> None:
    with spawn_service(BOUNDARY_SEED) as svc:
        agent = agent_for(svc)
        report = agent.run("triage T-1003")
        assert report.codes() == ("no_raw_http",)
        assert [c.status for c in report.calls] == [200, 201]  # the comment went through
        assert svc.admin().collector_hits() == 0
        snapshot = heap_snapshot()  # the agent, its tokens and the report are still alive
        detector = boundary_detector()
        assert leaks(snapshot, detector) == []
        # Positive control: now that the values exist here, the same scan finds them.
        assert leaks(heap_snapshot(), detector) != []


# ---------------------------------------------------------------- the service


def test_startup_line_has_urls_and_no_secret(service: ServiceProcess) -> None:
    assert service.url.startswith("http://127.0.0.1:")
    assert sorted(service.world) == sorted(SERVICES)
    assert service.clock == "manual"
    text = json.dumps({"url": service.url, "world": service.world}) + repr(service)
    assert "tk_live" not in text and "sk_live" not in text and "service-tests" not in text


def test_brokered_agent_works_across_the_boundary(service: ServiceProcess) -> None:
    report = agent_for(service).run("list tickets")
    assert report.ok and '"T-1001"' in report.observations[0]


def test_forged_user_is_refused_over_http_with_its_code(service: ServiceProcess) -> None:
    agent = agent_for(service)
    request = AgentRequest(tenant="acme", user="bob", agent="helpdesk-bot",
                           session=agent.session.id, task="refund", tool="payments",
                           scopes=("payments:refund",), intent=(("charge", "ch-0001"),))
    with pytest.raises(AccessDenied) as caught:
        service.vault(agent.session).request_token(request)
    assert caught.value.code == "session_mismatch"


def test_approval_flow_over_http(service: ServiceProcess) -> None:
    agent = agent_for(service)
    assert agent.run("refund ch-0002").codes() == ("approval_required",)
    (pending,) = agent.pending
    with pytest.raises(ApprovalRequired):
        service.vault(agent.session).request_token(pending)
    agent.add_approval(service.admin().approve(pending, approver="carol"))
    report = agent.run("refund ch-0002")
    assert report.ok and [c.status for c in report.calls] == [201]


def test_token_errors_keep_the_verifiers_code(service: ServiceProcess) -> None:
    with pytest.raises(TokenError) as caught:
        service.broker().call("not-a-token", tool="tickets", method="GET", path="/tickets")
    assert caught.value.code == "malformed"


def test_expired_token_is_refused_after_the_lab_clock_moves(service: ServiceProcess) -> None:
    agent = agent_for(service)
    request = agent.request_for(PlannedCall(tool="tickets", method="GET", path="/tickets"),
                                "list tickets")
    token, info = service.vault(agent.session).request_token(request)
    service.admin().advance_clock(400)  # past the 300 s TTL and the 5 s leeway
    with pytest.raises(TokenError) as caught:
        service.broker().call(token, tool="tickets", method="GET", path="/tickets")
    assert caught.value.code == "expired"
    assert token not in str(caught.value)


def test_wrong_tool_and_scope_are_refused_by_the_broker(service: ServiceProcess) -> None:
    agent = agent_for(service)
    request = agent.request_for(PlannedCall(tool="tickets", method="GET", path="/tickets"),
                                "list tickets")
    token, _ = service.vault(agent.session).request_token(request)
    with pytest.raises(TokenError) as wrong_tool:
        service.broker().call(token, tool="payments", method="GET", path="/charges")
    assert wrong_tool.value.code == "wrong_audience"
    with pytest.raises(AccessDenied) as no_scope:
        service.broker().call(token, tool="tickets", method="POST", path="/tickets",
                              json={"title": "t", "body": "b"})
    assert no_scope.value.code == "scope_missing"
    assert token not in str(no_scope.value)


def test_revoked_session_is_refused_over_http(service: ServiceProcess) -> None:
    agent = agent_for(service)
    assert service.admin().revoke(session=agent.session.id, why="drill") == (agent.session.id,)
    assert agent.run("list tickets").codes() == ("revoked",)


def test_admin_endpoints_need_the_admin_key(service: ServiceProcess) -> None:
    with pytest.raises(AccessDenied) as caught:
        RemoteAdmin(service.url).open_session(tenant="acme", user="bob", agent="helpdesk-bot")
    assert caught.value.code == "admin_required"
    with pytest.raises(AccessDenied) as wrong:
        RemoteAdmin(service.url, admin_key="guess").advance_clock(1)
    assert wrong.value.code == "admin_required"


def test_the_agents_clients_carry_no_admin_key(service: ServiceProcess) -> None:
    for client in (service.vault(), service.broker()):
        assert isinstance(client, (RemoteVault, RemoteBroker))
        assert client._admin is None  # the model's side cannot open sessions or approve


def test_jwks_and_log_are_served_and_secret_free(service: ServiceProcess) -> None:
    keys = service.vault().jwks()["keys"]
    assert keys and all(set(k) >= {"kid", "x"} and "d" not in k for k in keys)
    lines = service.admin().log_lines()
    assert lines and not any("tk_live" in line or "eyJ" in line for line in lines)


def test_bad_requests_get_typed_errors(service: ServiceProcess) -> None:
    answer = httpclient.request("POST", service.url + "/v1/token", body=b"{not json")
    assert answer.status == 400 and answer.json()["error"]["code"] == "invalid_json"  # type: ignore[index]
    answer = httpclient.request("POST", service.url + "/v1/token", json={"tenant": 1})
    assert answer.json()["error"]["code"] == "invalid_request"  # type: ignore[index]
    answer = httpclient.request("POST", service.url + "/v1/call", json={})
    assert answer.status == 401
    answer = httpclient.request("GET", service.url + "/v1/nope")
    assert answer.status == 404


def test_raw_http_stays_refused_with_remote_clients(service: ServiceProcess) -> None:
    class Exfiltrate:
        def plan(self, context: Context) -> tuple[PlannedCall, ...]:
            return (PlannedCall(tool=RAW_HTTP, method="POST", path="/x",
                                url=service.world["collector"] + "/x"),)

    before = service.admin().collector_hits()
    assert agent_for(service, planner=Exfiltrate()).run("x").codes() == ("no_raw_http",)
    assert service.admin().collector_hits() == before


def test_serve_in_a_thread_disables_admin_without_a_key() -> None:
    stop, box = threading.Event(), []
    thread = threading.Thread(target=serve, kwargs={"seed": "service-inline", "stop": stop,
                                                    "ready": box.append}, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if box:
                break
            threading.Event().wait(0.05)
        url = box[0]["url"]
        answer = httpclient.request("POST", url + "/v1/sessions", headers={ADMIN_HEADER: "x"},
                                    json={"tenant": "acme", "user": "bob", "agent": "a"})
        assert answer.status == 403
        assert answer.json()["error"]["code"] == "admin_disabled"  # type: ignore[index]
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_closing_the_service_ends_the_child() -> None:
    svc = spawn_service("service-close")
    svc.close()
    assert svc.process.poll() is not None
    svc.close()  # idempotent


# ---------------------------------------------------------------- callers prove who they are


def _ask(svc: ServiceProcess, session_id: str, *, user: str = "alice", tenant: str = "acme",
         agent: str = "helpdesk-bot", tool: str = "tickets",
         scopes: tuple[str, ...] = ("tickets:read",), task: str = "triage") -> AgentRequest:
    return AgentRequest(tenant=tenant, user=user, agent=agent, session=session_id, task=task,
                        tool=tool, scopes=scopes, ttl=60)


def _raw_token_answer(svc: ServiceProcess, request: AgentRequest,
                      authorization: str | None) -> tuple[int, object]:
    headers = {"Authorization": authorization} if authorization is not None else {}
    answer = httpclient.request("POST", svc.url + "/v1/token", headers=headers,
                                json={"request": request.facts()})
    return answer.status, answer.json()


def test_naming_a_session_over_http_gives_nothing_without_its_credential(
        service: ServiceProcess) -> None:
    admin = service.admin()
    bob = admin.open_session(tenant="acme", user="bob", agent="helpdesk-bot")
    deployer = admin.open_session(tenant="acme", user="alice", agent="deploy-bot")
    gina = admin.open_session(tenant="globex", user="gina", agent="helpdesk-bot")
    mallory = admin.open_session(tenant="acme", user="mallory", agent="helpdesk-bot")
    proof = f"Session {mallory.credential.reveal()}"  # type: ignore[union-attr]
    attempts = {
        "bob's refund, no credential": (_ask(service, bob.id, user="bob", tool="payments",
                                              task="refund", scopes=("payments:refund",)), None),
        "deploy-bot's staging deploy, mallory's credential": (
            _ask(service, deployer.id, agent="deploy-bot", tool="deploy:staging", task="deploy",
                 scopes=("deploy:write",)), proof),
        "globex tickets, no credential": (_ask(service, gina.id, user="gina", tenant="globex"),
                                          None),
        "a guessed id with a valid credential": (_ask(service, "sess-9999"), proof),
        "a guessed credential": (_ask(service, bob.id, user="bob"), "Session vls_" + "x" * 43),
        "a bearer token instead": (_ask(service, bob.id, user="bob"), "Bearer vls_abc"),
    }
    answers = {name: _raw_token_answer(service, request, auth)
               for name, (request, auth) in attempts.items()}
    assert {status for status, _ in answers.values()} == {401}
    # Unknown and mismatched answer alike: a guesser learns nothing about which ids exist.
    assert len({json.dumps(body, sort_keys=True) for _, body in answers.values()}) == 1
    denials = [line for line in admin.log_lines()
               if '"reason":"unauthenticated"' in line and '"decision":"deny"' in line]
    assert len(denials) >= len(attempts)


def test_the_remote_clients_raise_the_typed_refusal(service: ServiceProcess) -> None:
    session = service.admin().open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    with pytest.raises(UnauthenticatedError):
        service.vault().request_token(_ask(service, session.id))
    token, info = service.vault(session).request_token(_ask(service, session.id))
    assert info.aud == "tickets" and token.count(".") == 2


def test_a_revoked_sessions_credential_gets_nothing_over_http(service: ServiceProcess) -> None:
    session = service.admin().open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    service.vault(session).request_token(_ask(service, session.id))
    service.admin().revoke(session=session.id, why="test")
    with pytest.raises(AccessDenied) as caught:
        service.vault(session).request_token(_ask(service, session.id))
    assert caught.value.code == "revoked"


def test_header_names_are_case_insensitive(service: ServiceProcess) -> None:
    answer = httpclient.request("GET", service.url + "/v1/lab/collector",
                                headers={ADMIN_HEADER.lower(): service._admin_key})
    assert answer.status == 200
    session = service.admin().open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    status, body = _raw_token_answer(service, _ask(service, session.id), None)
    assert status == 401
    answer = httpclient.request("POST", service.url + "/v1/token",
                                headers={"AUTHORIZATION": f"session {session.credential.reveal()}"},  # type: ignore[union-attr]
                                json={"request": _ask(service, session.id).facts()})
    assert answer.status == 200


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000,
                                  b'{"request":' * 5000 + b"1" + b"}" * 5000])
def test_a_deeply_nested_body_is_a_clear_400(service: ServiceProcess, body: bytes) -> None:
    answer = httpclient.request("POST", service.url + "/v1/token", body=body)
    assert answer.status == 400
    assert answer.json()["error"]["code"] == "invalid_json"  # type: ignore[index]
    assert httpclient.request("GET", service.url + "/v1/jwks").status == 200  # still serving


# ---------------------------------------------------------------- no key material in argv or env


def _proc_text(pid: int, what: str) -> str:
    with open(f"/proc/{pid}/{what}", "rb") as f:
        return f.read().replace(b"\0", b" ").decode("utf-8", "replace")


def test_the_childs_argv_and_environment_hold_nothing_a_key_derives_from() -> None:
    seed = "argv-probe-seed-5e1f"
    with spawn_service(seed) as svc:
        exposed = _proc_text(svc.pid, "cmdline") + "\n" + _proc_text(svc.pid, "environ")
        assert seed not in exposed
        assert svc._admin_key not in exposed
        assert "--seed" not in exposed
        # The seed did arrive (over the pipe): the child's keys are the seeded lab's.
        from course.policy import GrantPolicy
        from course.vault import Vault
        expected = Vault.lab(policy=GrantPolicy(()), seed=seed).jwks()
        assert svc.vault().jwks() == expected


def test_a_real_service_makes_random_keys() -> None:
    with spawn_service() as one, spawn_service() as two:
        assert one.vault().jwks() != two.vault().jwks()


def test_a_seed_in_argv_is_refused_with_a_clear_error() -> None:
    done = subprocess.run([sys.executable, "-m", "course.service", "--seed", "lab"],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and "refused" in done.stderr and "argv" in done.stderr


def test_a_seed_over_the_pipe_is_refused_unless_asked_for_by_name() -> None:
    done = subprocess.run([sys.executable, "-m", "course.service", "--config-stdin"],
                          input='{"seed": "lab"}\n', capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--deterministic" in done.stderr
