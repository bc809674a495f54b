"""Vault: the session checks and decision lines mutation testing found unpinned (issue 14).

A session credential of a revoked agent or tenant must stop authenticating; an expired
grant must deny at issuance (the policy decides at the vault's time); a denial must be
logged as a denial.
"""

from __future__ import annotations

import pytest

from course import agent, errors, policy
from course.approvals import Approval
from course.audit import AccessLog
from course.clock import ManualClock
from course.keys import KeyRing
from course.policy import GrantPolicy
from course.vault import Vault
from tests.test_vault import GRANTS, _deploy_request, req  # the suite's own helpers


def _vault(clock: ManualClock, grants=None) -> tuple[Vault, AccessLog]:
    log = AccessLog(clock=clock, hmac_key=b"vault-mutants-log-key-32-bytes!!")
    grants = agent.standard_grants() if grants is None else grants
    return Vault.lab(policy=GrantPolicy(grants), seed="vault-mutants", clock=clock, log=log), log


@pytest.mark.parametrize("revoke", ["agent", "tenant", "session"])
def test_a_revoked_agent_tenant_or_session_stops_authenticating(clock: ManualClock, revoke: str) -> None:
    vault, _ = _vault(clock)
    session = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    assert vault.authenticate(session.credential).id == session.id
    {"agent": lambda: vault.revoke_agent("helpdesk-bot"), "tenant": lambda: vault.revoke_tenant("acme"),
     "session": lambda: vault.revoke_session(session.id)}[revoke]()
    with pytest.raises(errors.UnauthenticatedError):
        vault.authenticate(session.credential)


def test_an_unknown_credential_does_not_authenticate(clock: ManualClock) -> None:
    vault, _ = _vault(clock)
    vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    with pytest.raises(errors.UnauthenticatedError):
        vault.authenticate("vlc_not-a-credential")


def test_a_grant_that_has_expired_denies_at_the_vaults_time(clock: ManualClock) -> None:
    grant = policy.Grant(tenant="acme", user="alice", agent="helpdesk-bot", tool="tickets",
                         tasks=("triage",), scopes=("tickets:read",), max_ttl=300,
                         expires_at=clock.now() + 60)
    vault, log = _vault(clock, [grant])
    session = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    req = policy.AgentRequest(tenant="acme", user="alice", agent="helpdesk-bot", session=session.id,
                              task="triage", tool="tickets", scopes=("tickets:read",), ttl=60)
    assert vault.request(req).claims.scopes == ("tickets:read",)
    clock.advance(60)
    with pytest.raises(errors.AccessDenied):
        vault.request(req)
    decisions = [e for e in log.events() if e.event == "decision"]
    assert [e.decision for e in decisions] == ["allow", "deny"]


# ------------------------------------------------------------ what on-call reads on each line
# The fields of every line the vault writes (issue 14): a mutant that drops or blanks one, or
# logs a refusal as an allow, leaves an on-call engineer reading the wrong story.



def _lab(clock: ManualClock, **kw) -> tuple[Vault, AccessLog]:
    log = AccessLog(clock=clock, hmac_key=b"k" * 32)
    return Vault.lab(policy=GrantPolicy(GRANTS), clock=clock, log=log, seed="test", **kw), log


def _strict(clock: ManualClock) -> tuple[Vault, AccessLog]:
    vault, log = _lab(clock)
    vault.require_credentials = True
    return vault, log


def _line(e) -> tuple:
    return (e.event, e.tenant, e.user, e.agent, e.session, e.task, e.tool, e.scopes, e.decision,
            e.reason, e.detail)


def test_a_session_line_names_who_opened_it_and_its_parent(clock: ManualClock) -> None:
    vault, log = _lab(clock)
    root = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    child = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot", parent=root.id)
    assert (root.id, child.id) == ("sess-0001", "sess-0002")
    assert [_line(e) for e in log.events()] == [
        ("session", "acme", "alice", "helpdesk-bot", "sess-0001", None, None, (), None, "session_opened", ""),
        ("session", "acme", "alice", "helpdesk-bot", "sess-0002", None, None, (), None, "session_opened",
         "parent=sess-0001"),
    ]
    assert child.parent == root.id and root.parent is None
    assert vault.authenticate(child.credential).parent == root.id  # the vault's own copy knows it too
    assert child.credential.name == "session credential"
    assert len(child.credential.reveal()) == len("vls_") + 43  # 32 random bytes, url-safe


def test_a_session_under_an_unknown_parent_is_refused_as_unknown_session(clock: ManualClock) -> None:
    vault, log = _lab(clock)
    with pytest.raises(errors.AccessDenied) as err:
        vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot", parent="sess-0404")
    assert (err.value.code, err.value.reason) == ("unknown_session", "the parent session does not exist")
    assert len(log) == 0


@pytest.mark.parametrize("value", [12345, "vls_\ud800", None])
def test_a_credential_that_is_no_string_or_not_utf8_does_not_authenticate(clock: ManualClock, value) -> None:
    vault, _ = _lab(clock)
    vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    with pytest.raises(errors.UnauthenticatedError):
        vault.authenticate(value)


def test_a_decision_line_carries_the_request_and_its_input_facts(clock: ManualClock) -> None:
    vault, log = _lab(clock)
    s = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    r = req(s.id, scopes=("tickets:read", "tickets:write"), ttl=120,
            intent=(("note", "café"), ("ticket", 42)))
    issued = vault.request(r)
    decision, issue = log.events()[-2:]
    assert _line(decision) == ("decision", "acme", "alice", "helpdesk-bot", s.id, "triage", "tickets",
                               ("tickets:read", "tickets:write"), "allow", issued.decision.code,
                               issued.decision.reason)
    assert dict(decision.facts) == {"ttl_requested": "120", "intent": 'note="café",ticket=42',
                                     "scopes_requested": "tickets:read tickets:write",
                                     "session_holder": "acme/alice/helpdesk-bot"}
    assert _line(issue) == ("issue", "acme", "alice", "helpdesk-bot", s.id, "triage", "tickets",
                            issued.claims.scopes, "allow", issued.decision.code,
                            f"key {vault.keys.active.kid}")
    assert (issue.jti, issue.expires) == (issued.claims.jti, issued.claims.exp)
    assert issued.claims.jti == "tok-0001"
    assert issued.decision.allowed and issued.decision.scopes == issued.claims.scopes


def test_a_policy_denial_carries_its_reason_on_the_error_and_the_line(clock: ManualClock) -> None:
    vault, log = _lab(clock)
    s = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    with pytest.raises(errors.AccessDenied) as err:
        vault.request(req(s.id, tool="payments", scopes=("payments:charge",)))
    line = log.events()[-1]
    assert (line.decision, line.reason) == ("deny", "no_grant")
    assert isinstance(err.value.reason, str) and err.value.reason and line.detail == err.value.reason


def test_an_unknown_or_revoked_session_is_logged_as_a_denial_with_its_detail(clock: ManualClock) -> None:
    vault, log = _lab(clock)
    with pytest.raises(errors.AccessDenied):
        vault.request(req("sess-9999"))
    unknown = log.events()[-1]
    assert (unknown.decision, unknown.reason, unknown.detail) == (
        "deny", "unknown_session", "the request names a session the vault never opened")
    s = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    vault.revoke_session(s.id)
    with pytest.raises(errors.AccessDenied):
        vault.request(req(s.id))
    revoked = log.events()[-1]
    assert (revoked.decision, revoked.reason, revoked.detail) == (
        "deny", "revoked", "this session (or its agent or tenant) has been revoked")


def test_each_unproven_credential_is_told_apart_on_the_line_only(clock: ManualClock) -> None:
    vault, log = _strict(clock)
    victim = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    other = vault.open_session(tenant="acme", user="mallory", agent="helpdesk-bot")
    details = []
    for credential in (None, "vls_" + "A" * 43, other.credential):
        with pytest.raises(errors.UnauthenticatedError):
            vault.request(req(victim.id), credential=credential)
        line = log.events()[-1]
        assert (line.decision, line.reason) == ("deny", "unauthenticated")
        details.append(line.detail)
    assert details == ["no session credential was presented",
                       "the credential is not one the vault handed out",
                       "the credential belongs to another session"]


def test_an_approval_needed_or_refused_is_logged_as_a_denial(clock: ManualClock) -> None:
    vault, log = _lab(clock)
    s = vault.open_session(tenant="acme", user="alice", agent="deploy-bot")
    with pytest.raises(errors.ApprovalRequired) as err:
        vault.request(_deploy_request(s.id))
    assert err.value.request_hash == _deploy_request(s.id).digest()
    line = log.events()[-1]
    assert (line.event, line.decision, line.reason) == ("decision", "deny", "approval_required")
    forged = Approval(id="appr-0404", request_digest=_deploy_request(s.id).digest(), approver="carol",
                      approved_at=0, expires_at=10**12)
    with pytest.raises(errors.AccessDenied) as err:
        vault.request(_deploy_request(s.id), approval=forged)
    line = log.events()[-1]
    assert (line.event, line.decision, line.reason) == ("decision", "deny", err.value.code)


def test_an_approval_line_names_the_request_the_approver_and_its_facts(clock: ManualClock) -> None:
    vault, log = _lab(clock)
    s = vault.open_session(tenant="acme", user="alice", agent="deploy-bot")
    vault.approve(_deploy_request(s.id), approver="carol")
    line = log.events()[-1]
    assert _line(line) == ("approval", "acme", "alice", "deploy-bot", s.id, "release", "deploy:production",
                           ("deploy:write",), None, "approved", "by carol")
    assert line.fact("session_holder") == "acme/alice/deploy-bot"
    assert line.fact("intent") == 'version="1.4.2"'


def test_a_tools_verifier_uses_the_vaults_leeway_ttl_bound_and_a_signature_cache(clock: ManualClock) -> None:
    log = AccessLog(clock=clock, hmac_key=b"k" * 32)
    vault = Vault(policy=GrantPolicy(GRANTS), keys=KeyRing(clock=clock, seed="test"), clock=clock,
                  log=log, leeway=0, max_ttl=200)
    verifier = vault.verifier("tickets")
    assert (verifier.leeway, verifier.max_ttl, verifier._cache_size) == (0, 200, 4096)
    assert vault.verifier("tickets") is verifier
    default, _ = _lab(clock)
    assert default.leeway == 5 and default.verifier("tickets").leeway == 5


@pytest.mark.parametrize("kind", ["token", "session", "agent", "tenant", "all"])
def test_a_revocation_line_carries_why_and_nothing_when_none_is_given(clock: ManualClock, kind: str) -> None:
    vault, log = _lab(clock)
    s = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    revoke = {"token": lambda **kw: vault.revoke_token("tok-0001", **kw),
              "session": lambda **kw: vault.revoke_session(s.id, **kw),
              "agent": lambda **kw: vault.revoke_agent("helpdesk-bot", **kw),
              "tenant": lambda **kw: vault.revoke_tenant("acme", **kw),
              "all": lambda **kw: vault.revoke_all(**kw)}[kind]
    revoke()
    assert log.events()[-1].detail == ""
    revoke(why="leaked in a ticket")
    assert (log.events()[-1].event, log.events()[-1].detail) == ("revoke", "leaked in a ticket")


@pytest.mark.parametrize("compromised", [False, True])
def test_a_rotation_line_says_routine_or_compromised_and_old_to_new(clock: ManualClock,
                                                                    compromised: bool) -> None:
    vault, log = _lab(clock)
    old = vault.keys.active.kid
    new = vault.rotate_keys(compromised=compromised)
    line = log.events()[-1]
    assert (line.event, line.reason, line.detail) == (
        "key_rotation", "key_compromised" if compromised else "key_rotated", f"{old} -> {new}")


def test_a_compromise_line_names_the_kid_the_rotation_and_why_only_if_given(clock: ManualClock) -> None:
    vault, log = _lab(clock)
    first = vault.keys.active.kid
    second = vault.compromise_key(first)
    assert log.events()[-1].detail == f"{first} distrusted; active {first} -> {second}"
    vault.compromise_key(first, why="found in a paste")
    assert log.events()[-1].detail == f"{first} distrusted; active {second} -> {second}; found in a paste"


def test_the_lab_vault_is_seeded_lab_by_default(clock: ManualClock) -> None:
    vault = Vault.lab(policy=GrantPolicy(GRANTS), clock=clock)
    assert vault.keys.active.kid == KeyRing(clock=clock, seed="lab").active.kid
    assert Vault.lab(policy=GrantPolicy(GRANTS), clock=clock, seed="x").keys.active.kid == \
        KeyRing(clock=clock, seed="x").active.kid


def test_a_vault_refuses_to_be_pickled_and_says_so(clock: ManualClock) -> None:
    import pickle

    vault, _ = _lab(clock)
    with pytest.raises(TypeError, match=r"^a Vault refuses to be pickled$"):
        pickle.dumps(vault)
