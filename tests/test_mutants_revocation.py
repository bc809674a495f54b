"""Revocation: which list revoked a token, session cascades, and single use (issue 14).

Mutation testing found the list names a revocation reports (the ``scope`` an operator reads:
"jti", "session", "agent", "tenant", "revoke_all") unasserted, a child linked to an already
revoked session left alive, a cascade that stopped at the first session already seen, and
the replay guard reached by no test of its own.
"""

from __future__ import annotations

import pytest

from course import errors, tokens
from course.clock import ManualClock
from course.revocation import ReplayGuard, RevocationList


def claims(clock: ManualClock, **over: object) -> tokens.TokenClaims:
    now = clock.now()
    base: dict[str, object] = dict(iss="https://vault.lab.local", sub="helpdesk-bot", aud="tickets",
                                   user="alice", tenant="acme", task="triage", session="sess-1",
                                   scopes=("tickets:read",), iat=now, nbf=now, exp=now + 300, jti="tok-1")
    base.update(over)
    return tokens.TokenClaims(**base)  # type: ignore[arg-type]


def _scope(revocations: RevocationList, c: tokens.TokenClaims) -> str:
    with pytest.raises(errors.RevokedTokenError) as err:
        revocations.check(c, "kid-1")
    return err.value.scope


@pytest.mark.parametrize(("revoke", "scope"), [
    (lambda r, clock: r.revoke_jti("tok-1"), "jti"),
    (lambda r, clock: r.revoke_session("sess-1"), "session"),
    (lambda r, clock: r.revoke_agent("helpdesk-bot"), "agent"),
    (lambda r, clock: r.revoke_tenant("acme"), "tenant"),
    (lambda r, clock: r.revoke_all(clock=clock), "revoke_all"),
])
def test_a_revoked_token_names_the_list_that_revoked_it(clock: ManualClock, revoke, scope: str) -> None:
    revocations = RevocationList()
    c = claims(clock)
    assert revocations.reason(c) is None
    revocations.check(c, "kid-1")
    revoke(revocations, clock)
    assert revocations.reason(c) == scope
    assert _scope(revocations, c) == scope
    assert scope in str(errors.RevokedTokenError(scope))


def test_revoke_all_spares_tokens_issued_after_the_cut(clock: ManualClock) -> None:
    revocations = RevocationList()
    cut = revocations.revoke_all(clock=clock)
    assert cut == clock.now()
    clock.advance(1)
    assert revocations.reason(claims(clock)) is None


def test_a_child_linked_after_its_parent_was_revoked_is_revoked(clock: ManualClock) -> None:
    revocations = RevocationList()
    revocations.revoke_session("sess-parent")
    revocations.link_session("sess-parent", "sess-child")
    assert revocations.session_revoked("sess-child", agent="a", tenant="t")
    assert _scope(revocations, claims(clock, session="sess-child")) == "session"


def test_revoking_a_session_cascades_through_every_branch(clock: ManualClock) -> None:
    revocations = RevocationList()
    # root -> a, z; z -> c; a -> b, c. c is reached first through z; reached again through a,
    # it is skipped, and b (still waiting below it) must be revoked all the same
    for parent, child in (("root", "a"), ("root", "z"), ("z", "c"), ("a", "b"), ("a", "c")):
        revocations.link_session(parent, child)
    done = revocations.revoke_session("root")
    assert sorted(done) == ["a", "b", "c", "root", "z"] and len(done) == 5
    for s in ("root", "a", "b", "c", "z"):
        assert revocations.session_revoked(s, agent="x", tenant="y")


def test_the_replay_guard_refuses_a_second_use_until_no_verifier_could_accept_it(clock: ManualClock) -> None:
    guard = ReplayGuard(clock=clock)
    once = claims(clock, single_use=True)
    guard.consume(once)
    with pytest.raises(errors.RevokedTokenError) as err:
        guard.consume(once)
    assert err.value.scope == "replay"
    clock.advance(300 + tokens.MAX_LEEWAY - 1)  # still inside exp + the largest leeway
    with pytest.raises(errors.RevokedTokenError):
        guard.consume(once)
    clock.advance(1)  # now no verifier accepts it: forgotten
    guard.consume(once)


def test_the_replay_guard_lets_reusable_tokens_through(clock: ManualClock) -> None:
    guard = ReplayGuard(clock=clock)
    reusable = claims(clock)
    guard.consume(reusable)
    guard.consume(reusable)
    other = claims(clock, single_use=True, jti="tok-2")
    guard.consume(other)
    guard.consume(claims(clock, single_use=True, jti="tok-3"))


def test_repr_counts_and_shows_no_names() -> None:
    revocations = RevocationList()
    revocations.revoke_jti("tok-secret-id")
    assert repr(revocations) == ("RevocationList(jti=1, sessions=0, agents=0, tenants=0, "
                                 "revoke_all=False)")
