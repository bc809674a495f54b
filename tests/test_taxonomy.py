"""One answer to "where is this attack stopped?", and the simulator and the red team agree with it."""

from __future__ import annotations

import pytest

from course import TRUST_PATH, redteam, simulator, taxonomy


@pytest.fixture(scope="module")
def hardened_outcomes() -> dict[str, redteam.Outcome]:
    return {o.attack: o for o in redteam.run_suite({"hardened": redteam.hardened_wiring})}


def test_every_simulator_trick_and_red_team_attack_has_one_stop() -> None:
    names = set(simulator.TRICKS) | {a.name for a in redteam.ATTACKS}
    assert names <= set(taxonomy.STOPS), sorted(names - set(taxonomy.STOPS))
    assert set(taxonomy.STOPS) <= names, "a stop for an attack nobody runs"


@pytest.mark.parametrize("attack", redteam.ATTACKS, ids=lambda a: a.name)
def test_red_team_names_the_taxonomy_node(attack: redteam.Attack) -> None:
    assert attack.node == taxonomy.stop_of(attack.name).node


@pytest.mark.parametrize("trick", sorted(simulator.TRICKS))
def test_simulator_stops_each_trick_where_the_taxonomy_says(trick: str) -> None:
    stop = taxonomy.stop_of(trick)
    w = simulator.walk(trick)
    node = simulator.stopping_node(w)
    assert node == stop.node
    assert w.hop(node).code in stop.codes
    assert taxonomy.node_of_code(w.hop(node).code) == stop.node


@pytest.mark.parametrize("attack", redteam.ATTACKS, ids=lambda a: a.name)
def test_red_team_refusals_come_from_the_taxonomy_node(hardened_outcomes, attack) -> None:
    """The hardened kit refuses each attack with one of the codes its stopping node answers with."""
    outcome = hardened_outcomes[attack.name]
    assert not outcome.succeeded and not outcome.error
    stop = taxonomy.stop_of(attack.name)
    if outcome.evidence.startswith("refused: "):
        assert outcome.evidence.removeprefix("refused: ") in stop.codes
    else:
        # defeated without a refusal: the secret was never there, or was redacted on the way
        assert stop.codes <= {"redacted"}, f"{attack.name} names codes no refusal produced"


def test_shared_names_are_the_same_attack_at_the_same_node() -> None:
    shared = set(simulator.TRICKS) & {a.name for a in redteam.ATTACKS}
    assert {"cross-tenant", "scope-escalation", "revoked-session"} <= shared
    nodes = {a.name: a.node for a in redteam.ATTACKS}
    for name in shared:
        assert nodes[name] == simulator.stopping_node(simulator.walk(name))


def test_a_check_is_placed_by_what_it_compares_not_by_who_runs_it() -> None:
    # the broker runs the verifier, but a refused pass is the token's check
    assert taxonomy.node_of_code("revoked") == "Short-lived token"
    assert taxonomy.node_of_code("wrong_audience") == "Short-lived token"
    # the vault compares with the session before the grants
    assert taxonomy.node_of_code("session_mismatch") == "Agent request"
    assert taxonomy.node_of_code("replay") == "Tool call"
    assert taxonomy.node_of_code("redacted") == "Access log"
    assert taxonomy.node_of_code("no_such_code") is None


def test_each_code_belongs_to_one_node() -> None:
    seen: dict[str, str] = {}
    for node, codes in taxonomy.CHECK_CODES.items():
        assert node in TRUST_PATH
        for code in codes:
            assert code not in seen, f"{code} at {seen.get(code)} and {node}"
            seen[code] = node


def test_a_stop_refuses_an_untrusted_source_or_a_foreign_code() -> None:
    base = dict(fact="f", picture="p", stale="s", signal="g", revoke="r")
    for untrusted in ("request", "pass", "model", "nowhere"):
        with pytest.raises(ValueError, match="trusted source"):
            taxonomy.Stop(node="Agent request", codes=frozenset(), source=untrusted, **base)
    with pytest.raises(ValueError, match="not a node"):
        taxonomy.Stop(node="Front door", codes=frozenset(), source="session", **base)
    with pytest.raises(ValueError, match="are not"):
        taxonomy.Stop(node="Agent request", codes=frozenset({"expired"}), source="session", **base)


def test_every_stop_speaks_for_each_lens() -> None:
    for name, stop in taxonomy.STOPS.items():
        for text in (stop.fact, stop.picture, stop.stale, stop.signal, stop.revoke):
            assert len(text) > 10, name
    assert len({s.stale for s in taxonomy.STOPS.values()}) >= 15, "stale assumptions are per trick"
