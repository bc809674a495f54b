"""The vault: sessions the model cannot forge, approvals bound to one request, revocation."""

from __future__ import annotations

import pytest

from course import errors
from course.audit import AccessLog, verify_chain
from course.policy import AgentRequest, Grant, GrantPolicy
from course.vault import Vault

GRANTS = [
    Grant(tenant="acme", user="alice", agent="helpdesk-bot", tool="tickets", tasks=("triage",),
          scopes=("tickets:read", "tickets:write"), max_ttl=300),
    Grant(tenant="acme", user="alice", agent="deploy-bot", tool="deploy:production",
          tasks=("release",), scopes=("deploy:write",), max_ttl=120, needs_approval=True),
]


@pytest.fixture
def lab(clock):
    log = AccessLog(clock=clock, hmac_key=b"k" * 32)
    return Vault.lab(policy=GrantPolicy(GRANTS), clock=clock, log=log, seed="test"), log


def req(session, **over):
    base = dict(tenant="acme", user="alice", agent="helpdesk-bot", session=session, task="triage",
                tool="tickets", scopes=("tickets:read",), ttl=300)
    base.update(over)
    return AgentRequest(**base)


def test_allowed_request_yields_a_token_carrying_the_request_context(lab):
    vault, log = lab
    s = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    issued = vault.request(req(s.id, scopes=("tickets:read", "payments:charge"), ttl=900))
    c = vault.verifier("tickets").verify(issued.token).claims
    assert (c.tenant, c.user, c.sub, c.task, c.aud, c.session) == (
        "acme", "alice", "helpdesk-bot", "triage", "tickets", s.id)
    assert c.scopes == ("tickets:read",) and c.ttl == 300
    assert issued.token not in repr(issued)
    assert verify_chain(log.lines()) == len(log)


def test_unknown_session_is_denied_and_logged(lab):
    vault, log = lab
    with pytest.raises(errors.AccessDenied) as err:
        vault.request(req("sess-9999"))
    assert err.value.code == "unknown_session"
    assert log.events()[-1].decision == "deny"


@pytest.mark.parametrize("fact", [{"user": "bob"}, {"tenant": "globex"}, {"agent": "deploy-bot"}])
def test_acting_user_tenant_or_agent_forged_in_the_request_is_denied(lab, fact):
    vault, _ = lab
    s = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    with pytest.raises(errors.AccessDenied) as err:
        vault.request(req(s.id, **fact))
    assert err.value.code == "session_mismatch"


def test_policy_denial_raises_with_the_reason_code(lab):
    vault, _ = lab
    s = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    with pytest.raises(errors.AccessDenied) as err:
        vault.request(req(s.id, tool="payments", scopes=("payments:charge",)))
    assert err.value.code == "no_grant"


def _deploy_request(session, version="1.4.2"):
    return req(session, agent="deploy-bot", task="release", tool="deploy:production",
               scopes=("deploy:write",), ttl=120, intent=(("version", version),))


def test_approval_is_required_then_bound_to_the_exact_request(lab):
    vault, _ = lab
    s = vault.open_session(tenant="acme", user="alice", agent="deploy-bot")
    with pytest.raises(errors.ApprovalRequired):
        vault.request(_deploy_request(s.id))
    approval = vault.approve(_deploy_request(s.id), approver="carol")
    with pytest.raises(errors.AccessDenied) as err:
        vault.request(_deploy_request(s.id, version="9.9.9-evil"), approval=approval)
    assert err.value.code == "approval_mismatch"
    issued = vault.request(_deploy_request(s.id), approval=approval)
    assert issued.claims.approval == _deploy_request(s.id).intent_digest()


def test_approval_cannot_be_replayed_or_self_granted_or_used_late(lab, clock):
    vault, _ = lab
    s = vault.open_session(tenant="acme", user="alice", agent="deploy-bot")
    approval = vault.approve(_deploy_request(s.id), approver="carol")
    vault.request(_deploy_request(s.id), approval=approval)
    with pytest.raises(errors.AccessDenied) as err:
        vault.request(_deploy_request(s.id), approval=approval)
    assert err.value.code == "approval_replayed"
    for who in ("alice", "deploy-bot"):
        with pytest.raises(errors.AccessDenied):
            vault.approve(_deploy_request(s.id), approver=who)
    late = vault.approve(_deploy_request(s.id), approver="carol")
    clock.advance(10_000)
    with pytest.raises(errors.AccessDenied) as err:
        vault.request(_deploy_request(s.id), approval=late)
    assert err.value.code == "approval_expired"


def test_forged_approval_is_refused(lab):
    from course.approvals import Approval

    vault, _ = lab
    s = vault.open_session(tenant="acme", user="alice", agent="deploy-bot")
    fake = Approval(id="appr-0001", request_digest=_deploy_request(s.id).digest(), approver="carol",
                    approved_at=0, expires_at=10**12)
    with pytest.raises(errors.AccessDenied) as err:
        vault.request(_deploy_request(s.id), approval=fake)
    assert err.value.code == "approval_unknown"


def test_revoking_a_session_kills_its_tokens_and_delegated_sessions(lab):
    vault, _ = lab
    parent = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    child = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot", parent=parent.id)
    other = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    tokens = [vault.request(req(s.id)).token for s in (parent, child, other)]
    assert set(vault.revoke_session(parent.id)) == {parent.id, child.id}
    verifier = vault.verifier("tickets")
    for token in tokens[:2]:
        with pytest.raises(errors.RevokedTokenError):
            verifier.verify(token)
    assert verifier.verify(tokens[2])


@pytest.mark.parametrize("how", ["token", "agent", "tenant", "all"])
def test_every_revocation_kind_kills_the_token(lab, how):
    vault, log = lab
    s = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    issued = vault.request(req(s.id))
    {"token": lambda: vault.revoke_token(issued.claims.jti),
     "agent": lambda: vault.revoke_agent("helpdesk-bot"),
     "tenant": lambda: vault.revoke_tenant("acme"), "all": vault.revoke_all}[how]()
    with pytest.raises(errors.RevokedTokenError):
        vault.verifier("tickets").verify(issued.token)
    assert log.events()[-1].event == "revoke"


def test_revoke_all_spares_tokens_issued_afterwards(lab, clock):
    vault, _ = lab
    s = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    vault.revoke_all()
    clock.advance(1)
    assert vault.verifier("tickets").verify(vault.request(req(s.id)).token)


def test_compromised_key_rotation_kills_outstanding_tokens(lab):
    vault, _ = lab
    s = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    issued = vault.request(req(s.id))
    vault.rotate_keys(compromised=True)
    with pytest.raises(errors.UnknownKeyError):
        vault.verifier("tickets").verify(issued.token)
    assert vault.verifier("tickets").verify(vault.request(req(s.id)).token)


def test_wrong_tool_verifier_refuses_the_token(lab):
    vault, _ = lab
    s = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    issued = vault.request(req(s.id))
    with pytest.raises(errors.WrongAudienceError):
        vault.verifier("payments").verify(issued.token)


@pytest.mark.parametrize("event", ["revoke", "expire", "compromise", "tamper"])
def test_cached_signature_check_never_outlives_what_can_change(lab, clock, event):
    """The verifier skips only the signature of an identical, already-verified string."""
    vault, _ = lab
    s = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    issued = vault.request(req(s.id))
    verifier = vault.verifier("tickets")
    assert verifier.verify(issued.token) and verifier is vault.verifier("tickets")
    token = issued.token
    if event == "revoke":
        vault.revoke_session(s.id)
    elif event == "expire":
        clock.advance(400)
    elif event == "compromise":
        vault.rotate_keys(compromised=True)
    else:
        token = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(errors.TokenError):
        verifier.verify(token)


@pytest.mark.parametrize("how", ["session", "agent", "tenant"])
def test_a_revoked_session_gets_no_new_token(lab, how):
    vault, log = lab
    s = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    {"session": lambda: vault.revoke_session(s.id), "agent": lambda: vault.revoke_agent("helpdesk-bot"),
     "tenant": lambda: vault.revoke_tenant("acme")}[how]()
    with pytest.raises(errors.AccessDenied) as err:
        vault.request(req(s.id))
    assert err.value.code == "revoked"
    assert log.events()[-1].decision == "deny"


# ---------------------------------------------------------------- callers prove who they are


@pytest.fixture
def strict(clock):
    """The service's vault: every token request must present its session's credential."""
    log = AccessLog(clock=clock, hmac_key=b"k" * 32)
    vault = Vault.lab(policy=GrantPolicy(GRANTS), clock=clock, log=log, seed="test")
    vault.require_credentials = True
    return vault, log


def test_a_new_session_carries_a_masked_credential_the_vault_keeps_only_as_a_hash(strict):
    vault, log = strict
    s = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    value = s.credential.reveal()
    assert value.startswith("vls_") and len(value) >= 40
    assert value not in repr(s) and value not in str(s.credential)
    kept = vault._sessions[s.id]
    assert kept.credential is None  # the vault's own copy holds no proof
    assert all(len(h) == 32 and value.encode() not in h for h in vault._by_credential)
    assert not any(value in line for line in log.lines())
    other = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    assert other.credential.reveal() != value  # unguessable: never derived from the counted id


def test_the_sessions_own_credential_gets_a_token(strict):
    vault, _ = strict
    s = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    assert vault.request(req(s.id), credential=s.credential).claims.session == s.id
    assert vault.request(req(s.id), credential=s.credential.reveal()).claims.session == s.id
    assert vault.authenticate(s.credential) == s


def _refusals(vault, log, request, credential):
    before = len(log)
    with pytest.raises(errors.UnauthenticatedError) as err:
        vault.request(request, credential=credential)
    denied = log.events()[before:]
    assert [e.decision for e in denied] == ["deny"] and denied[0].reason == "unauthenticated"
    return err.value.code, str(err.value)


def test_naming_a_session_without_its_credential_gets_nothing_and_each_refusal_is_logged(strict):
    vault, log = strict
    victim = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    mine = vault.open_session(tenant="acme", user="mallory", agent="helpdesk-bot")
    globex = vault.open_session(tenant="globex", user="gina", agent="helpdesk-bot")
    deploy = vault.open_session(tenant="acme", user="alice", agent="deploy-bot")
    answers = {
        "no credential (another local process)": _refusals(vault, log, req(victim.id), None),
        "another user's credential": _refusals(vault, log, req(victim.id), mine.credential),
        "another tenant's credential": _refusals(vault, log, req(victim.id), globex.credential),
        "another agent's credential": _refusals(vault, log, req(victim.id), deploy.credential),
        "a guessed credential": _refusals(vault, log, req(victim.id), "vls_" + "A" * 43),
        "a guessed session id": _refusals(vault, log, req("sess-0042"), mine.credential),
        "not a string": _refusals(vault, log, req(victim.id), 12345),
    }
    # Unknown and mismatched answer alike: the refusal tells a guesser nothing.
    assert len(set(answers.values())) == 1, answers
    assert set(answers.values()) == {("unauthenticated", "unauthenticated: present the credential "
                                      "of a live session")}


def test_a_revoked_sessions_credential_gets_nothing(strict):
    vault, log = strict
    s = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    child = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot", parent=s.id)
    vault.request(req(s.id), credential=s.credential)
    vault.revoke_session(s.id, why="test")
    for session in (s, child):
        with pytest.raises(errors.AccessDenied) as err:
            vault.request(req(session.id), credential=session.credential)
        assert err.value.code == "revoked"
        assert log.events()[-1].decision == "deny"
        with pytest.raises(errors.UnauthenticatedError):
            vault.authenticate(session.credential)


def test_a_proven_session_still_cannot_claim_another_user(strict):
    vault, _ = strict
    s = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    with pytest.raises(errors.AccessDenied) as err:
        vault.request(req(s.id, user="bob"), credential=s.credential)
    assert err.value.code == "session_mismatch"


def test_a_token_minted_from_an_approval_is_single_use(lab):
    vault, _ = lab
    s = vault.open_session(tenant="acme", user="alice", agent="deploy-bot")
    request = req(s.id, agent="deploy-bot", tool="deploy:production", task="release",
                  scopes=("deploy:write",), ttl=120, intent=(("version", "1.4.2"),))
    approval = vault.approve(request, approver="carol")
    issued = vault.request(request, approval=approval)
    assert issued.claims.single_use is True  # one human yes allows one call
    helpdesk = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    assert vault.request(req(helpdesk.id)).claims.single_use is False


def test_a_decision_line_names_who_really_holds_the_session(lab):
    vault, log = lab
    s = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    with pytest.raises(errors.AccessDenied):
        vault.request(req(s.id, user="bob"))
    line = log.events()[-1]
    assert (line.user, line.fact("session_holder")) == ("bob", "acme/alice/helpdesk-bot")
    with pytest.raises(errors.AccessDenied):
        vault.request(req("sess-9999"))
    assert log.events()[-1].fact("session_holder") == "none"


def test_a_leaked_older_key_is_distrusted_at_once_and_logged(lab):
    vault, log = lab
    s = vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot")
    old = vault.request(req(s.id))
    old_kid = vault.keys.active.kid
    vault.rotate_keys()  # routine rotation: the old key still verifies its live tokens
    new = vault.request(req(s.id))
    verifier = vault.verifier("tickets")
    verifier.verify(old.token)
    assert vault.compromise_key(old_kid, why="found in a paste") == vault.keys.active.kid
    with pytest.raises(errors.UnknownKeyError):
        verifier.verify(old.token)
    assert verifier.verify(new.token).claims.jti == new.claims.jti  # the others live on
    line = log.events()[-1]
    assert (line.event, line.reason) == ("key_rotation", "key_compromised")
    assert old_kid in line.detail
