"""Upstream OAuth refresh stays inside the vault: rotated, cached, and never shown."""

from __future__ import annotations

import pytest

from course import errors
from course.clock import ManualClock
from course.refresh import RefreshKeeper
from course.secretstore import SecretStore
from course.world import World


@pytest.fixture
def lab():
    clock = ManualClock()
    world = World.start(seed="refresh-test", clock=clock)
    store = SecretStore.from_seed("refresh-test")
    world.provision(store)
    keeper = RefreshKeeper(store=store, token_url=world.url("oauth") + "/oauth/token", clock=clock)
    yield world, store, keeper, clock
    world.close()


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
    with pytest.raises(errors.UpstreamError) as err:
        keeper.access_token("acme")
    assert world.credential("acme", "oauth:refresh").reveal() not in str(err.value)


def test_tenants_never_share_upstream_grants(lab):
    _, _, keeper, _ = lab
    assert keeper.access_token("acme") != keeper.access_token("globex")


def test_keeper_repr_holds_no_token(lab):
    _, store, keeper, _ = lab
    token = keeper.access_token("acme")
    assert token.reveal() not in repr(keeper)
    assert store.get("acme", "oauth:refresh").reveal() not in repr(keeper)
