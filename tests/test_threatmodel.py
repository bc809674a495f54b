"""The reviewer's kit (course.threatmodel): mutants remove one check each, behaviours and traces
are plain data that agree with the red team, and the given misconception tests separate."""

from __future__ import annotations

import dataclasses
import json
import warnings
from typing import Any

import pytest

from course import lab, redteam, threatmodel
from course.world import World

warnings.simplefilter("ignore")


@pytest.fixture(scope="module")
def world() -> Any:
    w = World.start(seed="lab")
    yield w
    w.close()


@pytest.fixture(scope="module")
def behaviours(world: World) -> dict[str, dict[str, Any]]:
    return {name: threatmodel.observe(w, world=world) for name, w in threatmodel.WIRINGS.items()}


@pytest.fixture(scope="module")
def traces(world: World) -> dict[str, list[dict[str, Any]]]:
    return {name: threatmodel.perform(w, world=world) for name, w in threatmodel.WIRINGS.items()}


def _differing_slots(wiring: lab.Wiring) -> set[str]:
    return {f.name for f in dataclasses.fields(lab.Wiring)
            if f.name != "name" and getattr(wiring, f.name) != getattr(lab.HARDENED, f.name)}


@pytest.mark.parametrize("name", list(threatmodel.MUTANTS))
def test_each_mutant_replaces_exactly_one_slot_of_the_hardened_wiring(name: str) -> None:
    mutant = threatmodel.MUTANTS[name]
    assert mutant.name == name
    slots = _differing_slots(mutant)
    assert len(slots) == 1 or slots == {"policy", "load_policy"}, slots


def test_observed_behaviour_agrees_with_the_red_teams_fresh_lab_per_attack(behaviours: dict) -> None:
    attacks = [a for a in redteam.ATTACKS if a.name in threatmodel.OBSERVED]
    for outcome in redteam.run_suite(attacks=attacks):
        seen = behaviours[outcome.wiring]["attacks"][outcome.attack]
        assert seen["reached"] is outcome.succeeded, (outcome.wiring, outcome.attack)


def test_every_attack_reaches_the_naive_wiring_and_none_the_hardened_one(behaviours: dict) -> None:
    assert all(s["reached"] for s in behaviours["naive"]["attacks"].values())
    assert not any(s["reached"] for s in behaviours["hardened"]["attacks"].values())


def test_every_mutant_lets_through_an_attack_or_is_covered_by_another_check(behaviours: dict) -> None:
    held = threatmodel.held_by(behaviours)
    assert held["wildcard-grant"] == ("wildcard-policy",)
    assert held["single-use-replay"] == ("reusable-single-use",)
    assert held["secret-in-tool-error"] == ("unredacted-broker",)
    assert held["forged-acting-user"] == ()  # the session check and the grants both hold it
    assert set(held["approval-swapped-payload"]) == {"wildcard-policy", "rubber-stamp-approvals",
                                                      "catalogue-only-broker"}


def test_without_the_session_check_a_forged_user_is_refused_by_the_grants_instead(
        behaviours: dict) -> None:
    seen = behaviours["no-session-check"]["attacks"]["forged-acting-user"]
    assert (seen["reached"], seen["node"]) == (False, "Vault policy")
    assert behaviours["hardened"]["attacks"]["forged-acting-user"]["node"] == "Agent request"


def test_behaviours_and_traces_are_plain_json_and_hold_no_credential(
        world: World, behaviours: dict, traces: dict) -> None:
    text = json.dumps([behaviours, traces])
    assert json.loads(text) == [behaviours, traces]
    with lab.assemble(lab.HARDENED, world=world) as probe:
        assert probe.leaks_in(text) == ()


def test_the_script_only_deploys_the_approved_release_once_on_the_hardened_wiring(traces: dict) -> None:
    assert [s["step"] for s in traces["hardened"]] == [step for step, _ in threatmodel.SCRIPT]
    assert [s["step"] for s in traces["hardened"] if s["allowed"]] == ["approved-deploy"]
    assert all(s["allowed"] for s in traces["naive"])


@pytest.mark.parametrize(("mutant", "opened"), [
    ("wildcard-policy", {"unapproved", "swapped-approval", "swapped-deploy", "replay",
                         "swapped-arguments"}),
    ("rubber-stamp-approvals", {"swapped-approval", "swapped-deploy"}),
    ("catalogue-only-broker", {"swapped-arguments"}),
    ("reusable-single-use", {"replay"}),
    ("no-session-check", set()), ("trusting-verifier", set()), ("unredacted-broker", set()),
    ("unredacted-log", set()),
])
def test_each_mutant_opens_exactly_the_steps_its_check_held(traces: dict, mutant: str,
                                                             opened: set[str]) -> None:
    got = {s["step"] for s in traces[mutant] if s["allowed"]} - {"approved-deploy"}
    assert got == opened


@pytest.mark.parametrize(("belief", "mutants"), [
    ("the token will enforce the same meaning every caller intended",
     ("trusting-verifier", "catalogue-only-broker", "rubber-stamp-approvals", "reusable-single-use")),
    ("logs will make the incident obvious", ("trusting-verifier", "unredacted-broker")),
    ("the attacker has to break the main technology",
     ("rubber-stamp-approvals", "reusable-single-use", "unredacted-broker", "wildcard-policy")),
])
def test_each_given_misconception_test_fails_on_wirings_built_on_its_belief(
        behaviours: dict, belief: str, mutants: tuple[str, ...]) -> None:
    test = threatmodel.GIVEN_TESTS[belief]
    assert test(behaviours["hardened"]) is True
    assert test(behaviours["naive"]) is False
    for mutant in mutants:
        assert test(behaviours[mutant]) is False, mutant


def test_the_log_test_fails_when_a_refusal_leaves_no_deny_line(behaviours: dict) -> None:
    silent = json.loads(json.dumps(behaviours["hardened"]))
    silent["attacks"]["expired-token"]["lines"] = []
    assert threatmodel.logs_explain_refusals(silent) is False


def test_the_lessons_diagram_parses_into_its_five_participants_and_five_messages() -> None:
    parsed = threatmodel.parse_sequence(threatmodel.LESSON_DIAGRAM)
    assert list(parsed["participants"].values()) == ["Agent request", "Vault policy",
                                                     "Short-lived token", "Tool call", "Access log"]
    assert ["T", "P", "policy decision"] in parsed["messages"]
    assert len(parsed["messages"]) == 5
    assert parsed["notes"] == [[["M", "T"], "untrusted text must not become authority"]]


@pytest.mark.parametrize("text", ["flowchart LR\n A --> B", "sequenceDiagram\n participant A\n A->>Z: hi",
                                  "sequenceDiagram\n participant A\n Note over Z: x", ""])
def test_a_diagram_that_is_not_a_sequence_or_names_a_stranger_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        threatmodel.parse_sequence(text)


def test_a_spent_single_use_pass_is_placed_at_the_replay_guard_not_the_verifier(
        behaviours: dict, traces: dict) -> None:
    assert behaviours["hardened"]["attacks"]["single-use-replay"]["node"] == "Tool call"
    replay = next(s for s in traces["hardened"] if s["step"] == "replay")
    assert (replay["code"], replay["node"]) == ("replay", "Tool call")
