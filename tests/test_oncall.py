"""course.oncall: the days, incidents and drills notebook 06 judges a learner on, proven against the kit.

The notebook's visible checks name literal answers (which sessions die, which
passes die, which pages a day raises). These tests prove the material behind
those answers is what the notebook says it is: the normal day holds no attack
pattern, each incident holds exactly its own, the drills answer with the real
vault's behaviour, and the load drill would catch a revocation that does not
hold.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from course import audit, oncall
from course.revocation import RevocationList

NOON_30 = oncall.DAY_START + 4 * 3600 + 30 * 60


def _records(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


def _reference_alerts(lines: list[str]) -> list[tuple[str, str]]:
    """The notebook's definition of the on-call signal, written independently of its solution."""
    pages: set[tuple[str, str]] = set()
    opened: dict[str, str] = {}
    revoked: set[str] = set()
    refusals: dict[str, list[int]] = {}
    for r in _records(lines):
        if r["event"] == "session":
            opened[r["session"]] = r["agent"]
        if r["event"] == "revoke" and r["reason"] == "revoke_session":
            revoked.add(r["session"])
        if (r["decision"] == "deny" and r["reason"] == "revoked") or \
                (r["decision"] == "allow" and r["session"] in revoked):
            pages.add(("revoked-pass", r["tool"]))
        if r["session"] in opened and r["agent"] is not None and r["agent"] != opened[r["session"]]:
            pages.add(("foreign-session", r["session"]))
        if r["decision"] == "deny":
            times = refusals.setdefault(r["reason"], [])
            times.append(r["time"])
            if len(times) >= 5 and times[-1] - times[-5] < 60:
                pages.add(("refusal-burst", r["reason"]))
    return sorted(pages)


EXPECTED_PAGES = {
    "stolen-pass-revoked": [("revoked-pass", "tickets")],
    "stolen-pass-offline-tool": [("revoked-pass", "tickets")],
    "forged-passes": [("refusal-burst", "bad_signature")],
    "borrowed-session": [("foreign-session", "sess-0001")],
    "borrowed-session-believed": [("foreign-session", "sess-0001")],
}


def test_normal_day_is_the_same_on_every_call_and_a_valid_chain() -> None:
    day = oncall.normal_day()
    assert day == oncall.normal_day()
    assert audit.verify_chain(day) == len(day) > 100


def test_normal_day_raises_no_page() -> None:
    assert _reference_alerts(oncall.normal_day()) == []


def test_normal_day_holds_the_benign_patterns_the_wrong_signals_trip_on() -> None:
    """Four expired refusals in a minute, six in the day, five reasons in a minute, logouts, a delegation."""
    recs = _records(oncall.normal_day())
    expired = [r["time"] for r in recs if r["reason"] == "expired"]
    assert len(expired) == 6 and expired[3] - expired[0] < 60 and expired[4] - expired[0] >= 60
    release = [r for r in recs if r["decision"] == "deny" and r["time"] > NOON_30]
    assert len({r["reason"] for r in release[:5]}) == 5 and release[4]["time"] - release[0]["time"] < 60
    revokes = [r for r in recs if r["event"] == "revoke"]
    assert revokes and all(r["agent"] is None for r in revokes)
    first_revoke = revokes[0]["seq"]
    assert any(r["decision"] == "allow" for r in recs[first_revoke:]), "traffic after a logout"
    agents_of_alice = {r["agent"] for r in recs if r["user"] == "alice" and r["event"] == "session"}
    assert agents_of_alice == {"helpdesk-bot", "deploy-bot"}


@pytest.mark.parametrize("name", sorted(oncall.INCIDENTS))
def test_each_incident_raises_exactly_its_own_page(name: str) -> None:
    assert _reference_alerts(oncall.incident(name)) == EXPECTED_PAGES[name]


@pytest.mark.parametrize("name", sorted(oncall.INCIDENTS))
def test_each_incident_is_the_normal_day_until_the_attack(name: str) -> None:
    normal, attacked = oncall.normal_day(), oncall.incident(name)
    before = [line for line in normal if json.loads(line)["time"] < NOON_30]
    assert attacked[: len(before)] == before
    assert audit.verify_chain(attacked) == len(attacked)


def test_an_offline_tool_serves_a_revoked_pass_that_the_hardened_tool_refuses() -> None:
    def after_revoke(name: str) -> list[tuple[str | None, str]]:
        recs = _records(oncall.incident(name))
        cut = next(r["seq"] for r in recs if r["event"] == "revoke" and r["time"] > NOON_30)
        return [(r["decision"], r["reason"]) for r in recs[cut:]
                if r["event"] == "tool_call" and r["time"] < NOON_30 + 600]

    assert after_revoke("stolen-pass-revoked") == [("deny", "revoked")] * 2
    assert after_revoke("stolen-pass-offline-tool") == [("allow", "tool_call")] * 2


def test_days_hold_no_credential_token_or_key() -> None:
    world, _ = oncall._shared_world()
    values = [world.credential(t, n).reveal() for t in ("acme", "globex")
              for n in ("tickets", "payments", "deploy:staging")]
    for name in (None, *oncall.INCIDENTS):
        text = "\n".join(oncall.normal_day() if name is None else oncall.incident(name))
        assert not any(v in text for v in values)
        assert "vls_" not in text and "eyJ" not in text  # no session credential, no JWT


def test_unknown_incident_is_refused() -> None:
    with pytest.raises(KeyError):
        oncall.incident("not-an-incident")


def test_brief_keeps_the_facts_and_drops_hashes() -> None:
    line = oncall.normal_day()[0]
    short = oncall.brief(line)
    assert short.startswith("#1 08:00:00 session session_opened")
    assert json.loads(line)["hash"] not in short


def test_revocation_drill_kills_the_tree_and_its_live_passes_only() -> None:
    drill = oncall.revocation_drill()
    try:
        before = set(drill.alive())
        revoked = drill.apply({"session": "sess-0002"})
        assert sorted(revoked) == ["sess-0002", "sess-0003"]
        assert sorted(before - set(drill.alive())) == ["tok-0005", "tok-0006", "tok-0013"]
        assert not drill.can_get_a_pass("sess-0003")
        assert drill.can_get_a_pass("sess-0001"), "the parent is not revoked"
        assert set(drill.refused().values()) == {"expired", "revoked"}
    finally:
        drill.close()


def test_drill_state_lists_a_child_before_its_parent() -> None:
    drill = oncall.revocation_drill()
    ids = [s["id"] for s in drill.plain()["sessions"]]
    drill.close()
    assert ids.index("sess-0003") < ids.index("sess-0002") < ids.index("sess-0001")


def test_drill_refuses_an_unknown_event() -> None:
    drill = oncall.revocation_drill()
    try:
        with pytest.raises(ValueError):
            drill.apply({"agent": "helpdesk-bot"})
        with pytest.raises(ValueError):
            drill.apply({"revoke_all": "yes"})
    finally:
        drill.close()


def test_drill_claims_carry_no_signature() -> None:
    drill = oncall.revocation_drill()
    claims = drill.claims("tok-0004")
    drill.close()
    assert claims["jti"] == "tok-0004" and "eyJ" not in json.dumps(claims)


def test_key_drill_a_leaked_old_key_kills_only_its_live_passes() -> None:
    drill = oncall.key_drill()
    try:
        old, new = drill.plain()["keys"]
        before = set(drill.alive())
        drill.apply({"compromised": old})
        assert sorted(before - set(drill.alive())) == ["tok-0002", "tok-0003"]
        assert drill.refused()["tok-0002"] == "unknown_key"
    finally:
        drill.close()


def test_key_drill_revoke_all_kills_a_pass_of_its_own_second() -> None:
    drill = oncall.key_drill()
    try:
        state = drill.plain()
        same_second = [t["jti"] for t in state["tokens"] if t["iat"] == state["at"]]
        assert same_second == ["tok-0007"]
        drill.apply({"revoke_all": True})
        assert drill.alive() == []
    finally:
        drill.close()


def test_revoke_under_load_refuses_every_call_after_revoke_returns() -> None:
    report = oncall.revoke_under_load(threads=3, calls_after=5)
    assert report.revoked == ("sess-0001", "sess-0002")
    assert (report.calls_after, report.calls_after_succeeded, report.call_refusals) == (15, 0, ("revoked",))
    assert (report.passes_asked_after, report.passes_granted_after) == (5, 0)
    assert report.other_session_succeeded == report.other_session_calls_after == 5


def test_revoke_under_load_would_catch_a_revocation_that_does_not_hold(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative: with the verifier's revocation check switched off, the report shows the calls through."""
    monkeypatch.setattr(RevocationList, "check", lambda self, claims, kid: None)
    report = oncall.revoke_under_load(threads=2, calls_after=3)
    assert report.calls_after_succeeded == report.calls_after == 6
    assert report.passes_granted_after == 0, "issuance still checks the session"


def test_exposure_bars_refuses_a_negative_or_fractional_exposure() -> None:
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError):
            oncall.exposure_bars([("x", bad)])  # type: ignore[list-item]
    fig = oncall.exposure_bars([("master key", 259_198), ("pass", 298), ("pass + revoke", 63)])
    assert len(fig.axes) == 1
