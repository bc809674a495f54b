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


# ---------------------------------------------------------------- the learner's own assembly

def _answers() -> dict[str, Any]:
    """The specs' own answers of notebooks 02, 03, 04 and 06, pasted under notebook 08's helper cell."""
    import re
    from pathlib import Path

    specs = Path(__file__).resolve().parent.parent / "authoring" / "specs"
    # notebook 08's given cell that loads what the pasted functions use, and nothing else
    cells = (specs / "08-threat-model.py").read_text().split("\n# %%")
    helpers = next(c for c in cells if "trusted_keys = threatmodel.trusted_keys" in c)
    namespace: dict[str, Any] = {"threatmodel": threatmodel}
    exec(helpers.split("\n", 1)[1], namespace)  # noqa: S102 - the spec's own text
    for spec, cell in [("02-short-lived-tokens", "verify-token"), ("03-vault-policy", "narrow"),
                       ("03-vault-policy", "decide"), ("04-the-broker", "authorize"),
                       ("04-the-broker", "redact"), ("06-revocation", "must-die"),
                       ("07-approvals-and-tenants", "approval-refusal")]:
        text = (specs / f"{spec}.py").read_text()
        body = re.search(rf"# %% solution id={cell}\n(.*?)(?=\n# %%)", text, re.S).group(1)
        exec(body.replace("### BEGIN SOLUTION", "").replace("### END SOLUTION", ""), namespace)  # noqa: S102
    return namespace


@pytest.fixture(scope="module")
def answers() -> dict[str, Any]:
    return _answers()


def test_each_piece_names_a_graded_function_of_its_notebook_with_that_signature() -> None:
    from pathlib import Path

    specs = Path(__file__).resolve().parent.parent / "authoring" / "specs"
    for piece in threatmodel.PIECES.values():
        text = (specs / f"{piece.notebook}.py").read_text()
        head = piece.signature.split(" -> ")[0]
        assert f"def {piece.function}(" in text, piece.name
        params = head.split("(", 1)[1].rstrip(")")
        assert params.split(",")[0] in text.split(f"def {piece.function}(", 1)[1].split(")")[0]


def test_nothing_pasted_is_the_hardened_wiring_under_another_name() -> None:
    wiring = threatmodel.assembly({})
    assert wiring.name == "yours" and _differing_slots(wiring) == set()


def test_an_unknown_piece_is_refused() -> None:
    with pytest.raises(KeyError, match="no such piece"):
        threatmodel.assembly({"firewall": print})


def test_pasted_finds_the_pieces_by_their_notebook_names_and_ignores_the_rest(answers: dict) -> None:
    assert set(threatmodel.pasted(answers)) == set(threatmodel.PIECES)
    assert threatmodel.pasted({"decide": 3, "verify": print}) == {}


def test_the_specs_answers_plugged_in_stop_every_attack_each_by_its_own_piece(
        world: World, answers: dict) -> None:
    pieces = threatmodel.pasted(answers)
    rows = threatmodel.red_team(threatmodel.assembly(pieces), world=world)
    kit = threatmodel.red_team(threatmodel.assembly({}), world=world)
    assert not any(r["reached"] or r["error"] for r in rows.values())
    assert {a: r["piece"] for a, r in rows.items()} == {a: r["piece"] for a, r in kit.items()}
    assert rows["revoked-session"]["piece"] == "revocation"
    assert rows["alg-none"]["piece"] == "verifier"
    assert rows["scope-escalation"]["piece"] == "call check"
    assert rows["approval-swapped-payload"]["pieces"] == ["approvals", "call check"]
    assert rows["approval-swapped-payload"]["code"] == "approval_mismatch"
    table = threatmodel.assembly_table(rows, pieces)
    assert "verifier          yours" in table and "session check     kit" in table


def test_no_kit_check_runs_behind_a_pasted_piece(world: World) -> None:
    # the kit's revocation list has the session, yet a must_die that spares it lets it through
    rows = threatmodel.red_team(threatmodel.assembly(threatmodel.COLLEAGUE), world=world)
    assert rows["revoked-session"]["reached"] is True
    # a verifier blind to the audience: the call check catches the ticket pass at payments
    assert rows["token-for-another-tool"]["reached"] is False
    assert rows["token-for-another-tool"]["piece"] == "call check"
    assert rows["alg-none"]["piece"] == "verifier"
    assert "kit (stand-in)" in threatmodel.assembly_table(rows, threatmodel.COLLEAGUE)


def test_a_policy_that_forgets_approvals_still_sends_production_to_a_human(world: World,
                                                                          answers: dict) -> None:
    rows = threatmodel.red_team(threatmodel.assembly({"policy": answers["decide"]}), world=world,
                                attacks=["approval-swapped-payload", "wildcard-grant"])
    assert rows["approval-swapped-payload"]["pieces"][0] == "approvals"
    assert rows["wildcard-grant"]["piece"] == "policy loader"


def test_a_policy_that_allows_anything_opens_the_approval_path_and_nothing_else_here(
        world: World, answers: dict) -> None:
    from course import policy

    def anything(request, grants, now):  # no grant is consulted
        return policy.Decision(outcome=policy.Outcome.ALLOW, code=policy.ALLOW, reason="ok",
                               request=request, scopes=request.scopes, ttl=request.ttl)

    rows = threatmodel.red_team(threatmodel.assembly({"policy": anything}), world=world,
                                attacks=["cross-tenant", "scope-escalation", "approval-swapped-payload"])
    assert rows["cross-tenant"]["reached"] is False  # the session check stands in front
    # no grant consulted, so no approval asked for: the swapped release deploys unbound
    assert rows["approval-swapped-payload"]["reached"] is True
    # and the grant is no longer a ceiling: the charge scope is handed out as asked
    assert rows["scope-escalation"]["reached"] is True


def test_a_log_redactor_that_does_nothing_leaves_secret_in_log_to_the_broker(world: World) -> None:
    rows = threatmodel.red_team(threatmodel.assembly({"log redactor": lambda text, secrets: text}),
                                world=world, attacks=["secret-in-log"])
    assert rows["secret-in-log"] == {"reached": False, "error": None, "code": None, "pieces": [],
                                     "piece": "broker redaction"}


def test_the_log_redactor_gets_the_stores_secrets_and_its_output_is_written(answers: dict) -> None:
    seen: list[tuple[str, ...]] = []

    def spy(text: str, secrets: tuple[str, ...]) -> str:
        seen.append(secrets)
        return answers["redact"](text, secrets)

    with lab.assemble(threatmodel.assembly({"log redactor": spy})) as probe:
        secret = probe.world.credential("acme", "payments").reveal()
        probe.log.append("tool_output", tool="payments", reason="debug", detail=f"key={secret}")
        assert seen and secret in seen[-1]
        assert secret not in "\n".join(probe.log.lines())
        assert probe.leaks_in("\n".join(probe.log.lines())) == ()


@pytest.mark.parametrize(("piece", "bad"), [
    ("verifier", lambda token, **kw: {"sub": "x"}),
    ("policy", lambda request, grants, now: True),
    ("log redactor", lambda text, secrets: None),
    ("call check", lambda *a: 1 / 0),
])
def test_a_piece_that_crashes_or_returns_the_wrong_type_is_reported_not_credited(
        world: World, piece: str, bad: Any) -> None:
    rows = threatmodel.red_team(threatmodel.assembly({piece: bad}), world=world,
                                attacks=["expired-token", "scope-escalation"])
    assert any(r["error"] for r in rows.values()), rows
    assert not any(r["reached"] for r in rows.values())
    assert "CRASHED" in threatmodel.assembly_table(rows, [piece])


@pytest.mark.parametrize(("code", "event", "piece"), [
    ("session_mismatch", "decision", "session check"), ("configuration", "decision", "policy loader"),
    ("no_grant", "decision", "policy"), ("approval_mismatch", "decision", "approvals"),
    ("approval_mismatch", "tool_call", "call check"), ("revoked", "tool_call", "revocation"),
    ("replay", "tool_call", "replay guard"), ("wrong_audience", "tool_call", "verifier"),
    ("scope_missing", "tool_call", "call check"), ("unknown_tool", "tool_call", "broker catalogue"),
])
def test_each_refusal_code_is_placed_at_one_piece(code: str, event: str, piece: str) -> None:
    assert threatmodel.piece_of(code, event) == piece


def test_the_colleagues_must_die_spares_the_session_but_cascades() -> None:
    state = {"at": 100, "sessions": [{"id": "a", "parent": None}, {"id": "b", "parent": "a"},
                                     {"id": "c", "parent": "b"}],
             "tokens": [{"jti": "t1", "session": "a", "iat": 0, "exp": 200},
                        {"jti": "t2", "session": "c", "iat": 0, "exp": 200}]}
    assert threatmodel.colleague_must_die(state, "a") == {"sessions": ["b", "c"], "tokens": ["t2"]}


def test_an_approval_check_that_says_yes_to_anything_lets_the_swapped_release_through(
        world: World) -> None:
    rows = threatmodel.red_team(threatmodel.assembly({"approvals": lambda *args: None}), world=world,
                                attacks=["approval-swapped-payload"])
    assert rows["approval-swapped-payload"]["reached"] is True  # no kit book behind it


def test_the_approval_check_gets_notebook_07s_record_and_the_spent_ids(answers: dict) -> None:
    from course import errors, policy

    calls: list[tuple[dict, list]] = []

    def spy(approval, request, spent, now):
        calls.append((approval, spent))
        return answers["approval_refusal"](approval, request, spent, now)

    with lab.assemble(threatmodel.assembly({"approvals": spy})) as probe:
        session = probe.open_session(user="alice", agent="deploy-bot")
        ask = policy.AgentRequest(tenant="acme", user="alice", agent="deploy-bot", session=session.id,
                                  task="deploy", tool="deploy:production", scopes=("deploy:write",),
                                  ttl=120, intent=(("version", "1.4.2"),))
        approval = probe.vault.approve(ask, approver="carol")
        probe.vault.request(ask, approval=approval)
        with pytest.raises(errors.AccessDenied) as again:
            probe.vault.request(ask, approval=approval)
        assert again.value.code == "approval_replayed"
        selfie = probe.vault.approve(ask, approver="Alice")  # accepted here, refused at redemption
        with pytest.raises(errors.AccessDenied) as own:
            probe.vault.request(ask, approval=selfie)
        assert own.value.code == "self_approval"
    first, spent = calls[0]
    assert set(first) == {"id", "request_digest", "approver", "approved_at", "expires_at", "shown"}
    assert first["request_digest"] == ask.digest() and first["shown"]["intent"] == {"version": "1.4.2"}
    assert spent == [] and calls[1][1] == [first["id"]]
