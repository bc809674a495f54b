"""Vault policy: deny by default, exact grants, narrowing, expiring exceptions, reasons everywhere.

Every security property of :mod:`course.policy` gets a negative test here: what
must be refused is refused, with the reason code a log or a grader keys on.
The last section pins defects a review found (and that were then fixed).
"""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course import policy
from course.errors import ConfigurationError
from course.policy import AgentRequest, AllOf, AnyOf, Decision, Grant, GrantPolicy

NOW = 1_767_225_600

GRANT_FIELDS = dict(tenant="acme", user="ana", agent="support-bot", tool="tickets",
                    tasks=("triage",), scopes=("tickets:read", "tickets:comment"), max_ttl=300)
REQUEST_FIELDS = dict(tenant="acme", user="ana", agent="support-bot", session="sess-0001",
                      task="triage", tool="tickets", scopes=("tickets:read",), ttl=120)


def grant(**changes: object) -> Grant:
    return Grant(**{**GRANT_FIELDS, **changes})


def request(**changes: object) -> AgentRequest:
    return AgentRequest(**{**REQUEST_FIELDS, **changes})


def config(**changes: object) -> dict[str, object]:
    """A grant as configuration would hold it (lists, not tuples)."""
    item = {k: list(v) if isinstance(v, tuple) else v for k, v in GRANT_FIELDS.items()}
    item.update(changes)
    return item


# ---------------------------------------------------------------- deny by default


def test_empty_grant_policy_denies_with_no_grant() -> None:
    d = GrantPolicy([]).decide(request(), now=NOW)
    assert (d.allowed, d.code, d.scopes, d.ttl) == (False, policy.NO_GRANT, (), 0)
    assert "acme" in d.reason


@pytest.mark.parametrize(("fact", "value"), [
    ("tenant", "globex"), ("user", "mallory"), ("agent", "other-bot"),
    ("tool", "payments"), ("task", "refund"),
])
def test_request_differing_in_one_fact_from_the_grant_is_denied(fact: str, value: str) -> None:
    d = GrantPolicy([grant()]).decide(request(**{fact: value}), now=NOW)
    assert d.allowed is False
    assert d.code == policy.NO_GRANT
    assert value in d.reason  # the denial names the fact no grant matched


def test_grant_in_other_tenant_does_not_cover_same_names() -> None:
    d = GrantPolicy([grant(tenant="globex")]).decide(request(), now=NOW)
    assert (d.allowed, d.code) == (False, policy.NO_GRANT)


def test_denied_decision_hands_out_no_authority() -> None:
    for d in (GrantPolicy([]).decide(request(), now=NOW),
              GrantPolicy([grant()]).decide(request(scopes=("tickets:delete",)), now=NOW)):
        assert d.allowed is False and d.scopes == () and d.ttl == 0 and d.grant is None


# ---------------------------------------------------------------- wildcards refused at load

WILDCARD_FORMS = ("*", "?", "%", "any", "all", "ANY", "All", "tickets:*", "tickets:all",
                  "tickets:ALL", "tick*", "*:read", "acme-*")
STRING_FIELDS = ("tenant", "user", "agent", "tool")


@pytest.mark.parametrize("form", WILDCARD_FORMS)
@pytest.mark.parametrize("field", STRING_FIELDS)
def test_wildcard_in_a_name_field_is_refused_at_construction(field: str, form: str) -> None:
    with pytest.raises(ConfigurationError, match="wildcard"):
        grant(**{field: form})


@pytest.mark.parametrize("form", WILDCARD_FORMS)
@pytest.mark.parametrize("field", ("tasks", "scopes"))
def test_wildcard_among_tasks_or_scopes_is_refused(field: str, form: str) -> None:
    with pytest.raises(ConfigurationError, match="wildcard"):
        grant(**{field: (GRANT_FIELDS[field][0], form)})


@pytest.mark.parametrize("form", WILDCARD_FORMS)
@pytest.mark.parametrize("field", STRING_FIELDS + ("tasks", "scopes"))
def test_wildcard_is_refused_when_loading_configuration(field: str, form: str) -> None:
    value = [form] if field in ("tasks", "scopes") else form
    with pytest.raises(ConfigurationError):
        Grant.from_dict(config(**{field: value}))
    with pytest.raises(ConfigurationError):
        GrantPolicy.from_config([config(), config(**{field: value})])


@pytest.mark.parametrize("value", ("", "   ", None, 7))
@pytest.mark.parametrize("field", STRING_FIELDS)
def test_empty_or_non_string_name_is_refused(field: str, value: object) -> None:
    with pytest.raises(ConfigurationError):
        grant(**{field: value})


@pytest.mark.parametrize("field", ("tasks", "scopes"))
def test_grant_with_no_tasks_or_no_scopes_is_refused(field: str) -> None:
    with pytest.raises(ConfigurationError):
        grant(**{field: ()})
    with pytest.raises(ConfigurationError):
        Grant.from_dict(config(**{field: []}))


def test_unknown_configuration_field_is_refused_and_named() -> None:
    with pytest.raises(ConfigurationError, match="admin_override"):
        Grant.from_dict(config(admin_override=True))


@pytest.mark.parametrize("missing", ("tenant", "user", "agent", "tool", "tasks", "scopes"))
def test_missing_configuration_field_is_refused(missing: str) -> None:
    item = config()
    del item[missing]
    with pytest.raises(ConfigurationError):
        Grant.from_dict(item)


@pytest.mark.parametrize("ttl", (0, -1, policy.HARD_MAX_TTL + 1, 86_400))
def test_grant_ttl_outside_the_hard_cap_is_refused(ttl: int) -> None:
    with pytest.raises(ConfigurationError):
        grant(max_ttl=ttl)


def test_grant_at_the_hard_cap_is_accepted() -> None:
    assert grant(max_ttl=policy.HARD_MAX_TTL).max_ttl == policy.HARD_MAX_TTL


def test_configuration_loads_exact_grants_as_sorted_tuples() -> None:
    g = Grant.from_dict(config(scopes=["tickets:read", "tickets:comment", "tickets:read"]))
    assert g.scopes == ("tickets:comment", "tickets:read")
    assert isinstance(g.tasks, tuple)


# ---------------------------------------------------------------- narrowing: scopes and TTL


def test_request_inside_the_grant_is_allowed_unchanged() -> None:
    d = GrantPolicy([grant()]).decide(request(), now=NOW)
    assert (d.allowed, d.code, d.scopes, d.ttl) == (True, policy.ALLOW, ("tickets:read",), 120)


def test_scopes_are_intersected_never_unioned() -> None:
    r = request(scopes=("tickets:read", "tickets:delete", "admin"))
    d = GrantPolicy([grant()]).decide(r, now=NOW)
    assert d.allowed is True
    assert d.code == policy.ALLOW_NARROWED
    assert d.scopes == ("tickets:read",)  # no grant extras, no request extras
    assert "tickets:delete" in d.reason and "admin" in d.reason


def test_no_shared_scope_is_denied_with_scope_not_granted() -> None:
    d = GrantPolicy([grant()]).decide(request(scopes=("tickets:delete",)), now=NOW)
    assert (d.allowed, d.code, d.scopes) == (False, policy.SCOPE_NOT_GRANTED, ())


def test_ttl_is_capped_by_the_grant() -> None:
    d = GrantPolicy([grant(max_ttl=300)]).decide(request(ttl=86_400), now=NOW)
    assert (d.allowed, d.code, d.ttl) == (True, policy.ALLOW_NARROWED, 300)
    assert "300" in d.reason and "86400" in d.reason


def test_shorter_ttl_than_the_cap_is_kept() -> None:
    assert GrantPolicy([grant(max_ttl=300)]).decide(request(ttl=30), now=NOW).ttl == 30


def test_grant_scopes_never_leak_into_the_decision() -> None:
    d = GrantPolicy([grant(scopes=("a", "b", "c"))]).decide(request(scopes=("a",)), now=NOW)
    assert d.scopes == ("a",)


@settings(max_examples=60, deadline=None)
@given(requested=st.sets(st.sampled_from("abcdef"), min_size=1),
       granted=st.sets(st.sampled_from("abcdef"), min_size=1),
       ttl=st.integers(1, 10_000), cap=st.integers(1, policy.HARD_MAX_TTL))
def test_decision_never_exceeds_request_or_grant(requested: set[str], granted: set[str],
                                                 ttl: int, cap: int) -> None:
    d = GrantPolicy([grant(scopes=tuple(granted), max_ttl=cap)]).decide(
        request(scopes=tuple(requested), ttl=ttl), now=NOW)
    assert d.allowed is bool(requested & granted)
    if d.allowed:
        assert set(d.scopes) == requested & granted
        assert d.ttl == min(ttl, cap)
        assert d.code == (policy.ALLOW if (requested <= granted and ttl <= cap)
                          else policy.ALLOW_NARROWED)


# ---------------------------------------------------------------- temporary exceptions expire


def test_expired_temporary_exception_is_denied() -> None:
    g = grant(expires_at=NOW + 3600, note="INC-42 hotfix")
    p = GrantPolicy([g])
    assert p.decide(request(), now=NOW + 3599).allowed is True
    for later in (NOW + 3600, NOW + 21 * 86_400):
        d = p.decide(request(), now=later)
        assert (d.allowed, d.code, d.scopes, d.ttl) == (False, policy.GRANT_EXPIRED, (), 0)


def test_standing_grant_without_end_date_still_allows_weeks_later() -> None:
    # The "temporary" exception with no expires_at: the attacker's path, weeks after the incident.
    d = GrantPolicy([grant()]).decide(request(), now=NOW + 21 * 86_400)
    assert d.allowed is True


def test_live_grant_wins_over_an_expired_one() -> None:
    p = GrantPolicy([grant(expires_at=NOW, scopes=("tickets:read", "tickets:delete")), grant()])
    d = p.decide(request(scopes=("tickets:read", "tickets:delete")), now=NOW)
    assert d.scopes == ("tickets:read",) and d.code == policy.ALLOW_NARROWED


# ---------------------------------------------------------------- invalid requests

INVALID_REQUESTS = [
    *({name: ""} for name in ("tenant", "user", "agent", "session", "task", "tool")),
    *({name: "*"} for name in ("tenant", "user", "agent", "session", "task", "tool")),
    {"tool": "tick*"},
    {"scopes": ()}, {"scopes": ("*",)}, {"scopes": ("tickets:*",)},
    {"ttl": 0}, {"ttl": -5}, {"ttl": 1.5}, {"ttl": "300"},
]


@pytest.mark.parametrize("changes", INVALID_REQUESTS, ids=repr)
def test_malformed_request_is_denied_as_invalid_even_with_a_grant(changes: dict) -> None:
    d = GrantPolicy([grant()]).decide(request(**changes), now=NOW)
    assert (d.allowed, d.code, d.scopes, d.ttl) == (False, policy.INVALID_REQUEST, (), 0)
    assert d.reason


# ---------------------------------------------------------------- composition


@pytest.mark.parametrize("combinator", (AllOf, AnyOf))
def test_empty_composition_denies(combinator: type) -> None:
    d = combinator().decide(request(), now=NOW)
    assert (d.allowed, d.code) == (False, policy.EMPTY_POLICY)


def test_all_of_denies_when_any_member_denies() -> None:
    d = AllOf(GrantPolicy([grant()]), GrantPolicy([])).decide(request(), now=NOW)
    assert (d.allowed, d.code) == (False, policy.NO_GRANT)


def test_all_of_takes_the_narrowest_scopes_and_ttl() -> None:
    wide = GrantPolicy([grant(scopes=("a", "b"), max_ttl=600)])
    narrow = GrantPolicy([grant(scopes=("a",), max_ttl=60)])
    d = AllOf(wide, narrow).decide(request(scopes=("a", "b"), ttl=300), now=NOW)
    assert (d.allowed, d.scopes, d.ttl) == (True, ("a",), 60)


def test_all_of_with_disjoint_members_denies() -> None:
    p = AllOf(GrantPolicy([grant(scopes=("a", "b"))]), GrantPolicy([grant(scopes=("b", "c"))]))
    assert p.decide(request(scopes=("a", "c")), now=NOW).code == policy.SCOPE_NOT_GRANTED


def test_any_of_all_denying_returns_a_denial() -> None:
    d = AnyOf(GrantPolicy([]), GrantPolicy([grant(tool="payments")])).decide(request(), now=NOW)
    assert (d.allowed, d.code) == (False, policy.NO_GRANT)


def test_any_of_returns_the_first_allowing_member() -> None:
    first = GrantPolicy([grant(scopes=("tickets:read",), max_ttl=60)])
    d = AnyOf(GrantPolicy([]), first, GrantPolicy([grant()])).decide(request(), now=NOW)
    assert (d.allowed, d.ttl) == (True, 60)


# ---------------------------------------------------------------- a reason on every decision

POLICIES = {
    "empty": GrantPolicy([]),
    "one": GrantPolicy([grant()]),
    "expired": GrantPolicy([grant(expires_at=NOW)]),
    "approval": GrantPolicy([grant(needs_approval=True)]),
    "all-of-empty": AllOf(),
    "any-of-empty": AnyOf(),
    "all-of": AllOf(GrantPolicy([grant()]), GrantPolicy([grant(max_ttl=60)])),
}
REQUESTS = [request(), request(scopes=("tickets:read", "x")), request(scopes=("x",)),
            request(ttl=9999), request(user="mallory"), request(task=""), request(tenant="*")]


@pytest.mark.parametrize(("name", "r"), list(itertools.product(POLICIES, REQUESTS)))
def test_every_decision_carries_a_known_code_and_a_sentence(name: str, r: AgentRequest) -> None:
    d = POLICIES[name].decide(r, now=NOW)
    assert isinstance(d, Decision)
    assert d.code in policy.REASON_CODES
    assert isinstance(d.reason, str) and len(d.reason.split()) >= 3
    assert d.request is r
    if d.code.startswith("allow"):
        assert d.allowed is True and d.scopes and d.ttl > 0
    elif d.code == policy.NEEDS_APPROVAL:
        # allowed *with* approval: whoever issues must check needs_approval, not only allowed
        assert d.needs_approval is True
    else:
        assert d.allowed is False and d.scopes == () and d.ttl == 0


def test_decision_is_immutable() -> None:
    d = GrantPolicy([grant()]).decide(request(), now=NOW)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.scopes = ("admin",)  # type: ignore[misc]


def test_decision_repr_does_not_dump_the_grant() -> None:
    d = GrantPolicy([grant(note="call ana on +1 555")]).decide(request(), now=NOW)
    assert "555" not in repr(d)


# ---------------------------------------------------------------- the request digest

DIGEST_CHANGES = [
    ("tenant", "globex"), ("user", "bob"), ("agent", "deploy-bot"), ("session", "sess-0002"),
    ("task", "refund"), ("tool", "payments"), ("scopes", ("tickets:read", "tickets:write")),
    ("ttl", 121), ("intent", (("ticket", "T-2"),)),
]


@pytest.mark.parametrize(("field", "value"), DIGEST_CHANGES)
def test_request_digest_changes_when_any_field_changes(field: str, value: object) -> None:
    base = request(intent=(("ticket", "T-1"),))
    changed = dataclasses.replace(base, **{field: value})
    assert changed.digest() != base.digest()


def test_every_request_field_is_in_the_digested_facts() -> None:
    names = {f.name for f in dataclasses.fields(AgentRequest)}
    assert set(request().facts()) == names
    assert {f for f, _ in DIGEST_CHANGES} == names


def test_request_digest_ignores_order_only() -> None:
    a = request(scopes=("b", "a"), intent=(("x", "1"), ("y", "2")))
    b = request(scopes=("a", "b", "a"), intent=(("y", "2"), ("x", "1")))
    assert a.digest() == b.digest() and len(a.digest()) == 64


# ------------------------------------------------------ defects found in review, now fixed


def test_duplicate_intent_keys_do_not_share_a_digest() -> None:
    both = request(intent=(("version", "1.4.2"), ("version", "9.9.9")))
    one = request(intent=(("version", "9.9.9"),))
    assert both != one
    assert both.digest() != one.digest()


@pytest.mark.parametrize("form", ("tickets:any", "tickets:?", "ticket?", "db.%"))
def test_embedded_wildcard_forms_are_refused(form: str) -> None:
    with pytest.raises(ConfigurationError):
        grant(scopes=(form,))


def test_string_instead_of_list_is_refused_at_load() -> None:
    with pytest.raises(ConfigurationError):
        Grant.from_dict(config(scopes="tickets:read"))


def test_non_integer_expiry_is_refused_at_load() -> None:
    with pytest.raises(ConfigurationError):
        Grant.from_dict(config(expires_at="2026-02-01"))


def test_scope_with_whitespace_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        grant(scopes=("tickets:read admin",))


def test_all_of_reason_matches_the_narrowed_decision() -> None:
    wide = GrantPolicy([grant(scopes=("a", "b"), max_ttl=600)])
    narrow = GrantPolicy([grant(scopes=("a",), max_ttl=60)])
    d = AllOf(wide, narrow).decide(request(scopes=("a", "b"), ttl=300), now=NOW)
    assert d.code == policy.ALLOW_NARROWED
    assert "60s" in d.reason


# ---------------------------------------------------------------- more defects found in review, fixed


def test_boolean_ttl_is_an_invalid_request() -> None:
    d = GrantPolicy([grant()]).decide(request(ttl=True), now=NOW)
    assert (d.allowed, d.code) == (False, policy.INVALID_REQUEST)


@pytest.mark.parametrize("scopes", ("tickets:read", ("",)), ids=("bare-string", "empty"))
def test_malformed_request_scopes_are_invalid_not_ungranted(scopes: object) -> None:
    d = GrantPolicy([grant()]).decide(request(scopes=scopes), now=NOW)
    assert (d.allowed, d.code) == (False, policy.INVALID_REQUEST)
