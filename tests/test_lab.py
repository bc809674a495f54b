"""The one composition root: every hardened assembly is the same value, and a slot is a real seam."""

from __future__ import annotations

import dataclasses

import pytest

from course import lab, redteam, unsafe
from course.agent import lab_world_and_vault
from course.lab import HARDENED, NAIVE, Wiring, assemble, log_keys
from course.service import ServiceThread


def test_the_notebooks_the_red_team_and_the_service_assemble_the_same_hardened_wiring(monkeypatch):
    seen: list[Wiring] = []
    real = lab.assemble

    def recording(wiring: Wiring = HARDENED, **kwargs):
        seen.append(wiring)
        return real(wiring, **kwargs)

    monkeypatch.setattr(lab, "assemble", recording)
    monkeypatch.setattr(redteam, "assemble", recording)
    with lab_world_and_vault("same-value") as notebooks, redteam.hardened_wiring("same-value") as red:
        assert notebooks.wiring is red.wiring is HARDENED
    with ServiceThread("same-value"):
        pass
    assert seen == [HARDENED, HARDENED, HARDENED]  # notebooks, red team, service


def test_naive_and_hardened_are_values_of_one_type_that_differ_in_every_slot():
    assert type(NAIVE) is type(HARDENED) is Wiring
    slots = [f.name for f in dataclasses.fields(Wiring) if f.name not in ("name", "agent")]
    same = [s for s in slots if getattr(NAIVE, s) is getattr(HARDENED, s)]
    assert same == []


def test_every_assembly_derives_the_log_keys_one_way():
    with lab_world_and_vault("keys") as a, redteam.hardened_wiring("keys") as b:
        a.log.append("probe", detail="x", secret_fields={"credential": "s3cr3t-value"})
        b.log.append("probe", detail="x", secret_fields={"credential": "s3cr3t-value"})
        assert a.log.events()[-1].facts == b.log.events()[-1].facts  # same fingerprint key
        assert a.log.checkpoint_public_key.public_bytes_raw() == \
            b.log.checkpoint_public_key.public_bytes_raw() == \
            log_keys("keys")[1].public_key().public_bytes_raw()


def test_the_red_teams_world_runs_on_the_wirings_clock():
    with redteam.hardened_wiring("clock") as w:
        assert w.world.clock is w.clock


def test_a_learners_piece_is_one_replaced_slot_and_the_red_team_sees_exactly_it():
    trusting = HARDENED.replace(name="learner", verifier_for=lambda vault, audience:
                                unsafe.UnsafeTrustingVerifier(audience=audience))
    outcomes = redteam.run_suite(
        {"learner": lambda seed="lab", world=None: assemble(trusting, seed=seed, world=world)})
    broken = sorted(o.attack for o in outcomes if o.succeeded)
    # Only the verifier is weak, so exactly what only the verifier stops gets through: forged,
    # expired and revoked tokens. A token for another tool still lacks the scope the broker
    # demands, and every policy, session and redaction attack still fails.
    assert broken == ["alg-none", "attacker-signed", "expired-token", "hs256-with-public-key",
                      "revoked-session", "tampered-claims"]


def test_the_naive_wiring_uses_no_private_override():
    for piece in (unsafe.UnsafeBroker, unsafe.UnsafeVault, unsafe.UnsafeRubberStampApprovals):
        own = {n for n in vars(piece) if n.startswith("_") and not n.startswith("__")}
        assert own == set(), (piece.__name__, own)


@pytest.mark.parametrize("wiring", [HARDENED, NAIVE], ids=["hardened", "naive"])
def test_assemble_closes_the_world_it_started_and_leaves_a_given_one(wiring):
    with assemble(wiring, seed="own") as built:
        world = built.world
    assert world._closed
    from course.world import World

    with World.start(seed="given") as given:
        assemble(wiring, seed="given", world=given).close()
        assert not given._closed


def test_a_given_world_brings_its_clock_and_a_second_clock_is_refused():
    from course.clock import ManualClock
    from course.errors import ConfigurationError
    from course.world import World

    with World.start(seed="clock2") as world:
        with assemble(HARDENED, seed="clock2", world=world) as built:
            assert built.clock is world.clock and built.vault.clock is world.clock
        with pytest.raises(ConfigurationError, match="one clock"):
            assemble(HARDENED, seed="clock2", world=world, clock=ManualClock())
