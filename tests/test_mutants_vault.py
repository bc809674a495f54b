"""Vault: the session checks and decision lines mutation testing found unpinned (issue 14).

A session credential of a revoked agent or tenant must stop authenticating; an expired
grant must deny at issuance (the policy decides at the vault's time); a denial must be
logged as a denial.
"""

from __future__ import annotations

import pytest

from course import agent, errors, policy
from course.audit import AccessLog
from course.clock import ManualClock
from course.policy import GrantPolicy
from course.vault import Vault


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
