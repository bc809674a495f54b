"""The layered simulator: every trick stopped at its hop when hardened, through when naive."""

from __future__ import annotations

import dataclasses
import re

import pytest

from course import TRUST_PATH, simulator, taxonomy
from course.world import World

# Where the hardened wiring must refuse each trick, and with which code (the known answers;
# tests/test_taxonomy.py proves course.taxonomy says the same).
EXPECTED_STOP = {
    "forged-acting-user": ("Agent request", "session_mismatch"),
    "cross-tenant": ("Agent request", "session_mismatch"),
    "injected-instruction": ("Vault policy", "no_grant"),
    "wildcard-grant": ("Vault policy", "configuration"),
    "expired-token": ("Short-lived token", "expired"),
    "token-for-another-tool": ("Short-lived token", "wrong_audience"),
    "tampered-claims": ("Short-lived token", "bad_signature"),
    "revoked-session": ("Short-lived token", "revoked"),
    "scope-escalation": ("Tool call", "scope_missing"),
    "secret-in-log": ("Access log", "redacted"),
}


@pytest.fixture(scope="module")
def walks() -> dict[tuple[str | None, str], simulator.Walk]:
    return {(t, w): simulator.walk(t, wiring=w)
            for w in simulator.WIRINGS for t in (None, *simulator.TRICKS)}


def credential_values() -> list[str]:
    world = World(seed="lab", clock=None)  # not started: credentials derive from the seed alone
    return [world.credential(t, n).reveal() for t in world.tenants
            for n in ("tickets", "payments", "deploy:staging", "deploy:production",
                      "deploy:admin", "oauth:refresh", "oauth:client_secret")]


def test_every_trick_has_a_known_answer() -> None:
    assert set(EXPECTED_STOP) == set(simulator.TRICKS)


@pytest.mark.parametrize("trick", sorted(EXPECTED_STOP))
def test_hardened_wiring_stops_each_trick_at_its_hop(walks, trick: str) -> None:
    node, code = EXPECTED_STOP[trick]
    w = walks[(trick, "hardened")]
    assert simulator.stopping_node(w) == node
    assert w.hop(node).code == code
    assert w.hop(node).reached and not w.hop(node).passed
    before = TRUST_PATH[:TRUST_PATH.index(node)]
    assert all(w.hop(n).passed for n in before), "every hop before the stop let it through"


@pytest.mark.parametrize("trick", sorted(EXPECTED_STOP))
def test_naive_wiring_lets_each_trick_through(walks, trick: str) -> None:
    w = walks[(trick, "naive")]
    assert simulator.stopping_node(w) is None
    assert all(h.reached and h.passed for h in w.hops)


@pytest.mark.parametrize("wiring", simulator.WIRINGS)
def test_honest_request_passes_every_hop(walks, wiring: str) -> None:
    w = walks[(None, wiring)]
    assert [h.node for h in w.hops] == list(TRUST_PATH)
    assert all(h.passed and h.reached for h in w.hops)
    assert "200" in w.hop("Tool call").detail


def test_hops_after_a_stop_are_not_reached_but_the_log_records_the_refusal(walks) -> None:
    w = walks[("expired-token", "hardened")]
    assert not w.hop("Tool call").reached and not w.hop("Tool call").passed
    log = w.hop("Access log")
    assert log.reached and not log.passed and "refusal" in log.detail
    assert any("deny expired" in line for line in w.hop("Short-lived token").log)
    assert simulator.checked_nodes(w) == ("Agent request", "Vault policy", "Short-lived token",
                                          "Access log")


def test_naive_wiring_trusts_other_parties_than_the_hardened_one(walks) -> None:
    hard, naive = walks[(None, "hardened")], walks[(None, "naive")]
    for a, b in zip(hard.hops, naive.hops, strict=True):
        assert a.actor != b.actor and a.fact_checked != b.fact_checked


def test_naive_log_admits_the_secret_and_hardened_log_redacts_it(walks) -> None:
    assert "in the clear" in walks[("secret-in-log", "naive")].hop("Access log").detail
    assert "redacted" in walks[("secret-in-log", "hardened")].hop("Access log").detail


def test_each_lens_gives_a_different_narration(walks) -> None:
    for w in walks.values():
        texts = {lens: simulator.describe(w, lens) for lens in simulator.LENSES}
        assert len(set(texts.values())) == len(simulator.LENSES)
        for lens, text in texts.items():
            assert text.startswith(f"[{simulator.LENSES[lens]}]")
            assert all(node in text for node in TRUST_PATH)


def test_lenses_speak_their_layer(walks) -> None:
    w = walks[("expired-token", "hardened")]
    assert "what proof" in simulator.describe(w, "school")
    assert "Ed25519" in simulator.describe(w, "university")
    assert "revoke:" in simulator.describe(w, "engineer")
    assert "stopped at Short-lived token" in simulator.describe(w, "reviewer")
    naive = simulator.describe(walks[("expired-token", "naive")], "reviewer")
    assert "stale assumption" in naive and "got through" in naive


def test_walks_are_deterministic() -> None:
    for trick in ("injected-instruction", "revoked-session"):
        assert simulator.walk(trick, fresh=True) == simulator.walk(trick, fresh=True)
        first = simulator.walk(trick, wiring="naive", fresh=True)
        again = simulator.walk(trick, wiring="naive", fresh=True)
        assert first is not again
        assert simulator.describe(first, "engineer") == simulator.describe(again, "engineer")
    assert simulator.walk("revoked-session") is simulator.walk("revoked-session"), "kept"


def test_no_secret_token_port_or_url_in_any_output(walks) -> None:
    secrets = credential_values()
    assert len(secrets) == 14 and all(len(s) > 16 for s in secrets)
    for w in walks.values():
        text = repr(w) + "\n".join(simulator.describe(w, lens) for lens in simulator.LENSES)
        assert not any(s in text for s in secrets)
        assert not any(s[len(s) // 2:] in text for s in secrets)
        assert not re.search(r"eyJ[\w-]{8,}", text), "a JWT fragment in the output"
        assert "127.0.0.1" not in text and "http://" not in text
        assert not re.search(r":\d{4,5}\b", text), "a port in the output"


def test_walk_is_frozen_and_holds_tuples(walks) -> None:
    w = walks[(None, "hardened")]
    with pytest.raises(dataclasses.FrozenInstanceError):
        w.trick = "x"  # type: ignore[misc]
    assert isinstance(w.hops, tuple) and all(isinstance(h.log, tuple) for h in w.hops)
    with pytest.raises(KeyError):
        w.hop("Front door")


def test_unknown_trick_wiring_or_lens_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown trick"):
        simulator.walk("telepathy")
    with pytest.raises(ValueError, match="unknown wiring"):
        simulator.walk(None, wiring="medium")
    with pytest.raises(ValueError, match="unknown lens"):
        simulator.describe(simulator.Walk(trick=None, wiring="hardened", goal="", hops=()), "poet")


def test_four_questions_for_names_the_downstream_nodes(walks) -> None:
    hop = walks[(None, "hardened")].hop("Vault policy")
    q = simulator.four_questions_for(hop)
    assert tuple(q) == simulator.QUESTIONS
    assert q["where is the check"] == "Vault policy"
    assert q["what if it is fooled"] == ("Short-lived token", "Tool call", "Access log")
    assert simulator.four_questions_for(walks[(None, "hardened")].hop("Access log"))[
        "what if it is fooled"] == ()


def test_widget_builds_and_rerenders_on_toggle() -> None:
    ui = simulator.widget()
    lens, trick, wiring, out = ui.children
    trick.value = "expired-token"
    lens.value = "engineer"
    wiring.value = "naive"
    assert "Engineer on call" in out.value and "got through" in out.value


def _lines_under(text: str, node: str) -> list[str]:
    """The lens lines printed under ``node`` in a narration."""
    out, inside = [], False
    for line in text.splitlines():
        if line[:4] in ("PASS", "STOP", "REC ", " -- "):
            inside = line[5:] == node
        elif inside:
            out.append(line.strip())
    return out


@pytest.mark.parametrize("trick", sorted(EXPECTED_STOP))
def test_reviewer_names_the_stale_assumption_only_at_the_hop_the_trick_exploits(walks, trick) -> None:
    target = taxonomy.stop_of(trick)
    text = simulator.describe(walks[(trick, "naive")], "reviewer")
    for node in TRUST_PATH:
        under = " ".join(_lines_under(text, node))
        assert ("stale assumption" in under) == (node == target.node), (trick, node)
    assert target.stale in " ".join(_lines_under(text, target.node))


def test_stale_assumptions_differ_between_tricks_at_the_same_hop(walks) -> None:
    texts = {t: simulator.describe(walks[(t, "naive")], "reviewer")
             for t in ("expired-token", "token-for-another-tool", "revoked-session")}
    stale = {t: next(ln for ln in _lines_under(x, "Short-lived token") if "stale" in ln)
             for t, x in texts.items()}
    assert len(set(stale.values())) == 3


@pytest.mark.parametrize("trick", sorted(EXPECTED_STOP))
def test_engineer_sees_the_signal_at_the_refusing_hop_only(walks, trick) -> None:
    node, code = EXPECTED_STOP[trick]
    text = simulator.describe(walks[(trick, "hardened")], "engineer")
    for n in TRUST_PATH:
        under = _lines_under(text, n)
        assert any(ln.startswith("signal:") for ln in under) == (n == node), (trick, n)
    under = _lines_under(text, node)
    assert taxonomy.stop_of(trick).signal in " ".join(under)
    assert any(ln.startswith("revoke:") for ln in under)


def test_engineer_on_a_naive_wiring_is_told_nothing_paged(walks) -> None:
    text = simulator.describe(walks[("token-for-another-tool", "naive")], "engineer")
    under = " ".join(_lines_under(text, "Short-lived token"))
    assert "nothing pages" in under and "revoke:" in under


def test_school_lens_pictures_the_trick_itself(walks) -> None:
    pictures = set()
    for trick in EXPECTED_STOP:
        text = simulator.describe(walks[(trick, "hardened")], "school")
        assert f"at the desk: {taxonomy.stop_of(trick).picture}" in text
        pictures.add(text.splitlines()[2])
    assert len(pictures) == len(EXPECTED_STOP)
    honest = simulator.describe(walks[(None, "hardened")], "school")
    assert "at the desk:" not in honest
    assert honest.count("if fooled") == len(TRUST_PATH), "no trick: the four questions at every hop"


def test_university_lens_names_the_comparison_the_trick_meets(walks) -> None:
    stop = taxonomy.stop_of("token-for-another-tool")
    text = simulator.describe(walks[("token-for-another-tool", "hardened")], "university")
    assert f"{stop.fact}, against {taxonomy.SOURCES[stop.source]}" in text


def _first_refusal(a: dict) -> str | None:
    """The rules of notebook 00's exercise 1, kept here (not in the kit) to prove the model."""
    s, r, p, c = a["session"], a["request"], a["pass"], a["call"]
    if any(r[k] != s[k] for k in ("user", "tenant", "agent")):
        return "Agent request"
    wild = any("*" in str(v) for g in a["grants"] for v in g.values())
    covered = any(g["user"] == r["user"] and g["tenant"] == r["tenant"] and g["agent"] == r["agent"]
                  and g["tool"] == r["tool"] and r["task"] in g["tasks"]
                  and set(r["scopes"]) & set(g["scopes"]) for g in a["grants"])
    if wild or not covered:
        return "Vault policy"
    if p["stamp"] != "vault" or p["aud"] != c["tool"] or not p["iat"] <= c["at"] < p["exp"] \
            or p["session"] in a["revoked"]:
        return "Short-lived token"
    if c["needs"] not in p["scope"].split():
        return "Tool call"
    if any(cred in line for line in a["log"]["lines"] for cred in a["store"]["credentials"]):
        return "Access log"
    return None


@pytest.mark.parametrize("trick", [None, *sorted(EXPECTED_STOP)])
def test_each_tricks_plain_data_attempt_is_stopped_where_the_real_kit_stops_it(walks, trick) -> None:
    assert set(simulator.ATTEMPT_CHANGES) == set(simulator.TRICKS)
    assert _first_refusal(simulator.attempt(trick)) == simulator.stopping_node(walks[(trick, "hardened")])


def test_attempt_is_a_fresh_plain_copy_and_refuses_unknown_facts() -> None:
    a = simulator.attempt("expired-token")
    a["session"]["user"] = "mallory"
    assert simulator.attempt("expired-token")["session"]["user"] == "alice"
    assert simulator.HONEST_ATTEMPT["session"]["user"] == "alice"
    assert simulator.attempt(None, {"call.at": 7})["call"]["at"] == 7
    assert simulator.attempt(None, {"revoked": ["x"]})["revoked"] == ["x"]
    with pytest.raises(ValueError, match="no fact"):
        simulator.attempt(None, {"call.when": 7})
    with pytest.raises(ValueError, match="unknown trick"):
        simulator.attempt("telepathy")
    plain = (dict, list, str, int)
    stack = [simulator.attempt("wildcard-grant")]
    while stack:
        v = stack.pop()
        assert type(v) in plain
        stack.extend(v.values() if isinstance(v, dict) else v if isinstance(v, list) else ())
