"""The ownership audit finds each human blind spot of a grant file, and only those."""

from __future__ import annotations

import pytest

from course import ownership
from course.ownership import DAY, MAX_EXCEPTION, PEOPLE, audit, grant_file
from course.policy import GrantPolicy

EXPECTED = {
    ("C-3", "stale_owner"), ("G-04", "temporary_exception"), ("G-06", "temporary_exception"),
    ("G-07", "stale_owner"), ("G-09", "copied_policy"), ("G-11", "broad_debug_grant"),
    ("G-12", "broad_debug_grant"), ("G-13", "recovery_shortcut"), ("G-15", "recovery_shortcut"),
    ("G-16", "stale_owner"),
}


def codes(entries, people=PEOPLE):
    return {(f.entry, f.code) for f in audit(entries, people)}


def entry(eid="X", **changes):
    base = next(e for e in grant_file() if e["id"] == "G-01")
    return {**base, "id": eid, **changes}


def test_the_grant_file_holds_each_blind_spot_and_the_audit_finds_exactly_those():
    assert codes(grant_file()) == EXPECTED
    assert {code for _, code in EXPECTED} == set(ownership.BLIND_SPOTS)


def test_every_grant_in_the_file_loads_into_the_kit_policy_which_cannot_see_the_blind_spots():
    grants = [ownership.as_grant(e) for e in grant_file() if e["kind"] == "grant"]
    assert len(GrantPolicy(grants).grants) == 16


def test_findings_are_sorted_and_name_no_owner_or_value():
    found = audit(grant_file(), PEOPLE)
    assert list(found) == sorted(found, key=lambda f: (f.entry, f.code))
    assert all("dan" not in f.why for f in found)


@pytest.mark.parametrize("owner", ["dan", "", "nobody", "  ", "\u200b", None, 7])
def test_an_owner_who_left_or_does_not_exist_is_stale(owner):
    assert ("X", "stale_owner") in codes([entry(owner=owner)])


@pytest.mark.parametrize("owner", ["carol", "Carol", " carol ", "CAROL", "carol\u200b"])
def test_an_active_owner_is_recognised_however_the_name_is_typed(owner):
    assert codes([entry(owner=owner)]) == set()


def test_an_exception_without_an_end_or_with_a_far_end_is_found_and_a_short_one_is_not():
    created = 1_000_000
    for end, found in [(None, True), (created + MAX_EXCEPTION + 1, True),
                       (created + MAX_EXCEPTION, False), (created + 3600, False)]:
        got = codes([entry(purpose="exception", created=created, expires_at=end)])
        assert (("X", "temporary_exception") in got) is found, end


def test_a_standing_grant_without_an_end_is_not_an_exception():
    assert codes([entry(purpose="standing", expires_at=None)]) == set()


@pytest.mark.parametrize("scopes,end,found", [
    (["tickets:read"], 10**9, False), (["tickets:read"], None, True),
    (["tickets:read", "tickets:write"], 10**9, True), (["tickets:readwrite"], 10**9, True)])
def test_a_debug_grant_is_broad_when_it_writes_or_never_ends(scopes, end, found):
    assert (("X", "broad_debug_grant") in codes([entry(purpose="debug", scopes=scopes,
                                                        expires_at=end)])) is found


@pytest.mark.parametrize("runbook,approval,found", [
    ("RB-1", True, False), (None, True, True), ("", True, True), ("RB-1", False, True)])
def test_a_recovery_shortcut_needs_a_runbook_and_an_approval(runbook, approval, found):
    got = codes([entry(purpose="recovery", runbook=runbook, needs_approval=approval)])
    assert (("X", "recovery_shortcut") in got) is found


def test_a_copy_is_reported_on_the_later_entry_only_and_only_across_tenants_or_agents():
    first = entry("A", created=100, note="same note")
    assert codes([first, entry("B", created=200, note="same note", tenant="globex")]) == \
        {("B", "copied_policy")}
    assert codes([first, entry("B", created=200, note="same note", agent="other-bot")]) == \
        {("B", "copied_policy")}
    # same tenant and agent (another user): a second grant, not a copy to somewhere else
    assert codes([first, entry("B", created=200, note="same note", user="bob")]) == set()
    # a narrowed copy, an edited note, or no note at all: not flagged
    assert codes([first, entry("B", created=200, note="same note", tenant="globex",
                               scopes=["tickets:read"])]) == set()
    assert codes([first, entry("B", created=200, note="globex's own", tenant="globex")]) == set()
    assert codes([entry("A", created=100, note=""),
                  entry("B", created=200, note="", tenant="globex")]) == set()


def test_a_connector_is_audited_for_its_owner_too():
    connectors = [e for e in grant_file() if e["kind"] == "connector"]
    assert codes(connectors) == {("C-3", "stale_owner")}


def test_grant_file_is_fresh_each_call():
    a = grant_file()
    a[0]["owner"] = "changed"
    assert grant_file()[0]["owner"] == "carol"
    assert DAY == 86_400
