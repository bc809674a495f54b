"""Upstream OAuth refresh stays inside the vault: rotated, cached, never shown; a reuse kills the grant."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from course import errors, httpclient
from course.audit import AccessLog
from course.clock import ManualClock
from course.redact import StoreRedactor
from course.refresh import RefreshKeeper
from course.secretstore import SecretStore
from course.world import ACCESS_TOKEN_TTL, TENANTS, World


@pytest.fixture
def lab():
    clock = ManualClock()
    world = World.start(seed="refresh-test", clock=clock)
    store = SecretStore.from_seed("refresh-test")
    world.provision(store)
    keeper = RefreshKeeper(store=store, token_url=world.url("oauth") + "/oauth/token", clock=clock)
    yield world, store, keeper, clock
    world.close()


@pytest.fixture
def logged(lab):
    world, store, _, clock = lab
    log = AccessLog(clock=clock, hmac_key=b"refresh-test-log".ljust(32, b"."),
                    redactor=StoreRedactor(store, TENANTS))
    keeper = RefreshKeeper(store=store, token_url=world.url("oauth") + "/oauth/token", clock=clock,
                           log=log)
    return world, store, keeper, clock, log


def thief_refresh(world: World, tenant: str, refresh_token: str):
    """The attacker stole the refresh token and the client secret (the naive agent's context had both)."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token,
            "client_id": world.oauth_client_id(tenant),
            "client_secret": world.credential(tenant, "oauth:client_secret").reveal()}
    return httpclient.request("POST", world.url("oauth") + "/oauth/token", body=urlencode(form).encode(),
                              headers={"Content-Type": "application/x-www-form-urlencoded"})


def files_status(world: World, access: str) -> int:
    return httpclient.request("GET", world.url("oauth") + "/files",
                              headers={"Authorization": f"Bearer {access}"}).status


def test_access_token_is_minted_cached_and_the_refresh_token_rotated(lab):
    world, store, keeper, clock = lab
    initial = store.get("acme", "oauth:refresh")
    first = keeper.access_token("acme")
    assert store.get("acme", "oauth:refresh") != initial  # rotated, and the new one stored
    assert keeper.access_token("acme") is first and keeper.refreshes == 1  # cached
    clock.advance(10_000)
    assert keeper.access_token("acme") != first and keeper.refreshes == 2  # renewed when stale


def test_a_stolen_old_refresh_token_is_dead_after_rotation(lab):
    world, store, keeper, _ = lab
    keeper.access_token("acme")
    store.put("acme", "oauth:refresh", world.credential("acme", "oauth:refresh"))  # the old one
    keeper.forget("acme")
    with pytest.raises(errors.RefreshRevokedError) as err:
        keeper.access_token("acme")
    assert world.credential("acme", "oauth:refresh").reveal() not in str(err.value)


def test_thief_reusing_an_old_refresh_token_revokes_the_grant_and_the_keeper_fails_typed(logged):
    world, store, keeper, clock, log = logged
    stolen = world.credential("acme", "oauth:refresh").reveal()  # the keeper rotated it away below
    access = keeper.access_token("acme")
    assert files_status(world, access.reveal()) == 200
    answer = thief_refresh(world, "acme", stolen)
    assert answer.status == 400 and answer.json()["error"] == "invalid_grant"
    assert files_status(world, access.reveal()) == 401  # the family's access token is revoked too
    clock.advance(ACCESS_TOKEN_TTL)  # the cached token goes stale: the keeper must refresh
    with pytest.raises(errors.RefreshRevokedError) as err:
        keeper.access_token("acme")
    assert err.value.code == "refresh_revoked" and isinstance(err.value, errors.UpstreamError)
    live = store.get("acme", "oauth:refresh").reveal()
    assert live not in str(err.value) and live not in repr(err.value) and live not in repr(keeper)


def test_keeper_does_not_retry_a_refused_grant(lab):
    world, store, keeper, _ = lab
    keeper.access_token("acme")
    thief_refresh(world, "acme", world.credential("acme", "oauth:refresh").reveal())
    keeper.forget("acme")
    asked = len(world.received("oauth"))
    for _ in range(5):
        with pytest.raises(errors.RefreshRevokedError):
            keeper.access_token("acme")
    assert len(world.received("oauth")) == asked + 1  # one refused exchange, then no more asking
    store.put("acme", "oauth:refresh", "rt_a_new_consent_would_go_here")  # a different token: ask again
    with pytest.raises(errors.RefreshRevokedError):
        keeper.access_token("acme")
    assert len(world.received("oauth")) == asked + 2


def test_refusal_is_logged_with_fingerprints_that_show_the_keeper_did_not_reuse(logged):
    world, store, keeper, clock, log = logged
    stolen = world.credential("acme", "oauth:refresh").reveal()
    keeper.access_token("acme")
    thief_refresh(world, "acme", stolen)
    clock.advance(ACCESS_TOKEN_TTL)
    with pytest.raises(errors.RefreshRevokedError):
        keeper.access_token("acme")
    allow, deny = log.events()
    assert (allow.event, allow.decision, allow.reason) == ("upstream_refresh", "allow", "rotated")
    assert (deny.event, deny.decision, deny.reason) == ("upstream_refresh", "deny", "refresh_revoked")
    assert deny.tenant == "acme"
    # The keeper presented the token it was handed last time: the reuse came from elsewhere.
    assert deny.fact("presented") == allow.fact("rotated_to") != allow.fact("presented")
    assert allow.fact("presented") == log.fingerprint(stolen)
    text = "\n".join(log.lines())
    assert stolen not in text and store.get("acme", "oauth:refresh").reveal() not in text


def test_normal_rotation_sequence_keeps_working(logged):
    world, _, keeper, clock, log = logged
    tokens = []
    for _ in range(10):
        tokens.append(keeper.access_token("acme"))
        assert files_status(world, tokens[-1].reveal()) == 200
        clock.advance(ACCESS_TOKEN_TTL)
    assert keeper.refreshes == 10 and len({t.reveal() for t in tokens}) == 10
    assert [e.decision for e in log.events()] == ["allow"] * 10


def test_a_revoked_grant_of_one_tenant_leaves_the_other_working(lab):
    world, _, keeper, clock = lab
    keeper.access_token("acme")
    globex = keeper.access_token("globex")
    thief_refresh(world, "acme", world.credential("acme", "oauth:refresh").reveal())
    assert files_status(world, globex.reveal()) == 200
    clock.advance(ACCESS_TOKEN_TTL)
    with pytest.raises(errors.RefreshRevokedError):
        keeper.access_token("acme")
    assert files_status(world, keeper.access_token("globex").reveal()) == 200


def test_other_endpoint_refusals_are_a_plain_upstream_error(logged):
    _, store, keeper, _, log = logged
    store.put("acme", "oauth:client_secret", "cs_live_wrong")
    with pytest.raises(errors.UpstreamError) as err:
        keeper.access_token("acme")
    assert not isinstance(err.value, errors.RefreshRevokedError) and err.value.status == 401
    (event,) = log.events()
    assert (event.decision, event.reason) == ("deny", "upstream_error")


def test_tenants_never_share_upstream_grants(lab):
    _, _, keeper, _ = lab
    assert keeper.access_token("acme") != keeper.access_token("globex")


def test_keeper_repr_holds_no_token(lab):
    _, store, keeper, _ = lab
    token = keeper.access_token("acme")
    assert token.reveal() not in repr(keeper)
    assert store.get("acme", "oauth:refresh").reveal() not in repr(keeper)
