"""Vault policy: deny by default, exact grants, narrowing, expiring exceptions, reasons everywhere.

Every security property of :mod:`course.policy` gets a negative test here: what
must be refused is refused, with the reason code a log or a grader keys on.
The last section pins defects a review found (and that were then fixed).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course import policy
from course.errors import ConfigurationError, InvalidRequestError
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

# Well typed but not allowed: the policy denies these, with a reason the access log records.
INVALID_REQUESTS = [
    *({name: "*"} for name in ("tenant", "user", "agent", "session", "task", "tool")),
    {"tool": "tick*"},
    {"scopes": ()}, {"scopes": ("*",)}, {"scopes": ("tickets:*",)}, {"scopes": ("",)},
    {"scopes": ("tickets:read admin",)},
    {"ttl": 0}, {"ttl": -5},
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
            request(ttl=9999), request(user="mallory"), request(task="*"), request(tenant="*")]


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


def test_duplicate_intent_names_are_refused_not_merged() -> None:
    # Once they digested differently from the single name; now they cannot be built at all.
    with pytest.raises(InvalidRequestError, match="twice"):
        request(intent=(("version", "1.4.2"), ("version", "9.9.9")))


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


def test_boolean_ttl_is_refused_when_the_request_is_built() -> None:
    with pytest.raises(InvalidRequestError, match="ttl"):
        request(ttl=True)


def test_empty_scope_is_invalid_not_ungranted() -> None:
    d = GrantPolicy([grant()]).decide(request(scopes=("",)), now=NOW)
    assert (d.allowed, d.code) == (False, policy.INVALID_REQUEST)


# ------------------------------------------- issue 7 item 12a: the intent is typed, digests are typed

# Values Python calls equal (1 == 1.0 == True, 0 == -0.0 == False) or that str() merges.
DISTINCT_VALUES = ["100", 100, 100.0, "1", 1, 1.0, True, "True", "true", 0, 0.0, -0.0, False,
                   "False", None, "None", "null", ""]


def test_intent_values_of_different_types_give_different_digests() -> None:
    intent_digests = {policy.intent_digest({"amount": v}) for v in DISTINCT_VALUES}
    request_digests = {request(intent=(("amount", v),)).digest() for v in DISTINCT_VALUES}
    assert len(intent_digests) == len(request_digests) == len(DISTINCT_VALUES)


@pytest.mark.parametrize(("approved", "sent"), [("100", 100), (100, "100"), ("True", True),
                                                (1, True), (1, 1.0), (True, 1.0), (None, "None")])
def test_approval_for_one_type_does_not_match_a_call_with_another(approved: object, sent: object) -> None:
    r = request(intent=(("amount", approved),))
    assert r.intent_digest() != policy.intent_digest({"amount": sent})
    assert r.intent_digest() == policy.intent_digest({"amount": approved})


def test_requests_differing_only_in_intent_type_are_unequal() -> None:
    # The generated __eq__ would say equal (1 == True): equality follows the digest instead.
    one, true, one_f = (request(intent=(("n", v),)) for v in (1, True, 1.0))
    assert one != true and one != one_f and true != one_f
    assert len({one, true, one_f}) == 3
    assert request(intent=(("n", 1),)) == one and hash(request(intent=(("n", 1),))) == hash(one)


def test_intent_digest_is_sha256_of_canonical_typed_json() -> None:
    import hashlib

    body = {"b": [1, 1.0, True, None, "\u00fc"], "a": {"y": False, "x": "1"}}
    expected = b'{"a":{"x":"1","y":false},"b":[1,1.0,true,null,"\xc3\xbc"]}'
    assert policy.intent_digest(body) == hashlib.sha256(expected).hexdigest()


def test_nested_call_bodies_digest_canonically_and_typed() -> None:
    a = {"release": {"version": "1.4.2", "regions": ["eu", "us"], "canary": 5}}
    b = {"release": {"canary": 5, "regions": ["eu", "us"], "version": "1.4.2"}}
    assert policy.intent_digest(a) == policy.intent_digest(b)
    for changed in ({"release": {**a["release"], "canary": 5.0}},
                    {"release": {**a["release"], "canary": "5"}},
                    {"release": {**a["release"], "regions": ["us", "eu"]}},
                    {"release": [a["release"]]}):
        assert policy.intent_digest(changed) != policy.intent_digest(a)


def test_string_pairs_from_callers_that_still_stringify_are_accepted() -> None:
    r = request(intent=(("version", "1.4.2"), ("ticket", "T-1")))
    assert r.intent == (("ticket", "T-1"), ("version", "1.4.2"))
    assert r.intent_digest() == policy.intent_digest({"version": "1.4.2", "ticket": "T-1"})


def test_intent_pairs_may_arrive_as_lists_as_the_wire_carries_them() -> None:
    assert request(intent=[["amount", 100]]) == request(intent=(("amount", 100),))


def test_facts_keep_types_and_round_trip_through_json() -> None:
    r = request(intent=(("amount", 100), ("note", "100"), ("dry_run", False), ("rate", 0.5),
                        ("ref", None)))
    wire = json.loads(json.dumps(r.facts()))
    assert wire["intent"] == [["amount", 100], ["dry_run", False], ["note", "100"], ["rate", 0.5],
                              ["ref", None]]
    again = AgentRequest(**wire)
    assert again == r and again.digest() == r.digest()


_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(),
                     st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=6), _SCALARS, max_size=5))
def test_the_vault_and_the_broker_digest_the_same_arguments_alike(arguments: dict) -> None:
    # The vault digests the request's intent; the broker digests the body after it crossed the wire.
    r = request(intent=tuple(arguments.items()))
    assert r.intent_digest() == policy.intent_digest(json.loads(json.dumps(arguments)))


@pytest.mark.parametrize("intent", [
    (("amount", [100]),), (("amount", {"value": 100}),), (("amount", (1, 2)),),
    (("amount", math.nan),), (("amount", math.inf),), (("amount", -math.inf),),
    (("amount", b"100"),), (("amount", object()),), ((1, "x"),), ((None, "x"),),
    (("version", "1.4.2"), ("version", "1.4.2")), (("version", "1"), ("version", 1)),
    (("version",),), (("version", "1", "2"),), "version=1.4.2", {"version": "1.4.2"}, None,
], ids=lambda v: re.sub(r" at 0x[0-9a-f]+", "", repr(v)))  # stable ids: xdist workers must agree
def test_malformed_intent_is_refused_when_the_request_is_built(intent: object) -> None:
    with pytest.raises(InvalidRequestError) as err:
        request(intent=intent)
    assert err.value.code == "invalid_request"


def _deep(levels: int) -> dict:
    body: dict = {"leaf": 1}
    for _ in range(levels):
        body = {"next": body}
    return body


@pytest.mark.parametrize("arguments", [
    {"amount": math.nan}, {"amount": [1, math.inf]}, {1: "x"}, {"a": {2: "x"}}, {"a": object()},
    {"a": {1, 2}}, {"a": b"x"}, _deep(200), {"a": 10 ** 5000},
], ids=["nan", "inf-in-array", "int-key", "nested-int-key", "object", "set", "bytes", "too-deep",
        "int-too-long-to-print"])
def test_intent_digest_refuses_arguments_that_are_not_plain_json(arguments: object) -> None:
    with pytest.raises(InvalidRequestError):
        policy.intent_digest(arguments)  # type: ignore[arg-type]


# ---------------------------------------- design review: the request's shape is refused at construction

MALFORMED_REQUESTS = [
    *({name: ""} for name in ("tenant", "user", "agent", "session", "task", "tool")),
    *({name: None} for name in ("tenant", "user", "agent", "session", "task", "tool")),
    {"user": 7}, {"tool": ["tickets"]}, {"session": b"sess-0001"},
    {"scopes": "tickets:read"}, {"scopes": b"tickets:read"}, {"scopes": None},
    {"scopes": ("tickets:read", 7)}, {"scopes": {"tickets:read"}}, {"scopes": [["tickets:read"]]},
    {"ttl": True}, {"ttl": False}, {"ttl": 1.5}, {"ttl": 300.0}, {"ttl": "300"}, {"ttl": None},
]


@pytest.mark.parametrize("changes", MALFORMED_REQUESTS, ids=repr)
def test_request_of_the_wrong_shape_is_refused_at_construction(changes: dict) -> None:
    with pytest.raises(InvalidRequestError) as err:
        request(**changes)
    assert err.value.code == "invalid_request"


def test_bare_string_scopes_never_reach_the_policy() -> None:
    # Once kept as-is, then a TypeError deep in the vault, so the denial was never logged.
    with pytest.raises(InvalidRequestError, match="scopes"):
        request(scopes="tickets:read")
    with pytest.raises(InvalidRequestError):
        dataclasses.replace(request(), scopes="tickets:read")


def test_scopes_given_as_a_list_are_accepted_as_the_wire_carries_them() -> None:
    assert request(scopes=["tickets:read", "tickets:comment"]).scopes == ("tickets:comment", "tickets:read")


# ------------------------------------------- issue 7 item 9: every malformed config is a ConfigurationError

BAD_FIELDS = [
    ("max_ttl", True), ("max_ttl", 300.0), ("max_ttl", "300"), ("max_ttl", None),
    ("needs_approval", 1), ("needs_approval", "yes"), ("needs_approval", None),
    ("expires_at", True), ("expires_at", 1.5), ("expires_at", [1]),
    ("tasks", "triage"), ("tasks", [["triage"]]), ("tasks", {"triage": 1}), ("tasks", None),
    ("scopes", [1, "tickets:read"]), ("scopes", [{"x": 1}]), ("scopes", [None]),
    ("tenant", ["acme"]), ("tenant", {"x": 1}), ("user", 5), ("agent", True), ("tool", 1.5),
    ("note", 5), ("note", None),
]


@pytest.mark.parametrize(("field", "value"), BAD_FIELDS, ids=repr)
def test_wrong_field_type_in_config_names_the_entry_and_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigurationError) as err:
        GrantPolicy.from_config([config(), config(**{field: value})])
    assert str(err.value).startswith("grant #1:")
    assert repr(field) in str(err.value)


@pytest.mark.parametrize("entry", [None, 7, "tenant=acme", ["tenant", "acme"], True, 1.5], ids=repr)
def test_config_entry_that_is_not_an_object_is_refused_by_index(entry: object) -> None:
    with pytest.raises(ConfigurationError, match="^grant #0:"):
        GrantPolicy.from_config([entry])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match="^grant #2:"):
        GrantPolicy.from_config([config(), config(), entry])  # type: ignore[list-item]


@pytest.mark.parametrize("items", [None, 7, "grants", b"grants", {"tenant": "acme"}, True], ids=repr)
def test_config_that_is_not_a_list_is_refused(items: object) -> None:
    with pytest.raises(ConfigurationError):
        GrantPolicy.from_config(items)  # type: ignore[arg-type]


def test_unknown_and_missing_fields_are_named_with_the_index() -> None:
    with pytest.raises(ConfigurationError, match=r"^grant #1: .*admin_override"):
        GrantPolicy.from_config([config(), config(admin_override=True)])
    with pytest.raises(ConfigurationError, match="^grant #0: .*1"):
        GrantPolicy.from_config([{**config(), 1: "x"}])  # a non-string key, mixed with string keys
    item = config()
    del item["scopes"]
    with pytest.raises(ConfigurationError, match="^grant #0: .*'scopes'"):
        GrantPolicy.from_config([item])


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
_FIELD_VALUES = _JSON | st.sampled_from([["triage"], ["tickets:read"], 300, True, None, "acme"])
_NEAR_GRANT = st.builds(
    lambda base, changes, drop: {k: v for k, v in {**base, **changes}.items() if k not in drop},
    st.just(config()),
    st.dictionaries(st.sampled_from(sorted(GRANT_FIELDS) + ["needs_approval", "expires_at", "note",
                                                             "extra"]), _FIELD_VALUES, max_size=3),
    st.sets(st.sampled_from(sorted(GRANT_FIELDS)), max_size=2))


@settings(max_examples=400, deadline=None)
@given(st.one_of(_JSON, st.lists(st.one_of(_NEAR_GRANT, _JSON), max_size=4)))
def test_from_config_on_any_json_raises_only_configuration_error(items: object) -> None:
    try:
        loaded = GrantPolicy.from_config(items)  # type: ignore[arg-type]
    except ConfigurationError:
        return
    assert isinstance(loaded, GrantPolicy)
    assert all(isinstance(g, Grant) for g in loaded.grants)


def test_intent_that_could_not_be_digested_is_refused_at_construction() -> None:
    with pytest.raises(InvalidRequestError):
        request(intent=(("amount", 10 ** 5000),))


# ------------------------------------------- issue 13 "policy": one outcome, reason codes as an enum

Outcome = policy.Outcome
Reason = policy.Reason


def test_each_outcome_gives_exactly_one_pair_of_allowed_and_needs_approval() -> None:
    r = request()
    pairs = {
        Outcome.ALLOW: (policy.ALLOW, ("tickets:read",), 60, (True, False)),
        Outcome.NEEDS_APPROVAL: (policy.NEEDS_APPROVAL, ("tickets:read",), 60, (True, True)),
        Outcome.DENY: (policy.NO_GRANT, (), 0, (False, False)),
    }
    for outcome, (code, scopes, ttl, expected) in pairs.items():
        d = Decision(outcome=outcome, code=code, reason="for a test", request=r, scopes=scopes, ttl=ttl)
        assert (d.allowed, d.needs_approval) == expected
        assert d.outcome is outcome


def test_a_denial_that_needs_approval_cannot_be_built() -> None:
    with pytest.raises(ConfigurationError, match="denied and need approval"):
        Decision(allowed=False, needs_approval=True, code=policy.NO_GRANT, reason="x y z",
                 request=request())


@pytest.mark.parametrize(("allowed", "needs", "outcome"), [
    (True, False, Outcome.ALLOW), (True, None, Outcome.ALLOW),
    (True, True, Outcome.NEEDS_APPROVAL), (False, False, Outcome.DENY), (False, None, Outcome.DENY)])
def test_the_old_keywords_still_build_the_matching_outcome(allowed: bool, needs: bool | None,
                                                             outcome: policy.Outcome) -> None:
    code = {Outcome.ALLOW: policy.ALLOW, Outcome.NEEDS_APPROVAL: policy.NEEDS_APPROVAL,
            Outcome.DENY: policy.NO_GRANT}[outcome]
    extra = {} if needs is None else {"needs_approval": needs}
    d = Decision(allowed=allowed, code=code, reason="for a test", request=request(), **extra)
    assert d.outcome is outcome


@pytest.mark.parametrize("keywords", [
    dict(outcome=Outcome.ALLOW, allowed=False),
    dict(outcome=Outcome.ALLOW, allowed=True, needs_approval=True),
    dict(outcome=Outcome.ALLOW, needs_approval=True),
    dict(outcome=Outcome.NEEDS_APPROVAL, allowed=True),
    dict(outcome=Outcome.NEEDS_APPROVAL, needs_approval=False),
    dict(outcome=Outcome.DENY, allowed=True),
    dict(outcome=Outcome.DENY, needs_approval=True),
], ids=repr)
def test_old_keywords_that_contradict_the_outcome_are_refused(keywords: dict) -> None:
    code = policy.NO_GRANT if keywords["outcome"] is Outcome.DENY else policy.ALLOW
    with pytest.raises(ConfigurationError):
        Decision(code=code, reason="for a test", request=request(), **keywords)


@pytest.mark.parametrize("keywords", [
    {}, dict(needs_approval=True), dict(allowed=1), dict(allowed="yes"), dict(allowed=True, needs_approval=1),
    dict(outcome="allow"), dict(outcome=True),
], ids=repr)
def test_a_decision_without_a_well_typed_outcome_is_refused(keywords: dict) -> None:
    with pytest.raises(ConfigurationError):
        Decision(code=policy.ALLOW, reason="for a test", request=request(), **keywords)


def test_allowed_and_needs_approval_are_read_only() -> None:
    d = GrantPolicy([grant(needs_approval=True)]).decide(request(), now=NOW)
    assert (d.allowed, d.needs_approval) == (True, True)
    for name, value in (("allowed", True), ("needs_approval", False), ("outcome", Outcome.ALLOW)):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(d, name, value)
        with pytest.raises(dataclasses.FrozenInstanceError):
            delattr(d, name)
    assert d.needs_approval is True


@pytest.mark.parametrize(("outcome", "code"), [
    (Outcome.DENY, policy.ALLOW), (Outcome.DENY, policy.ALLOW_NARROWED),
    (Outcome.DENY, policy.NEEDS_APPROVAL),
    (Outcome.ALLOW, policy.NO_GRANT), (Outcome.NEEDS_APPROVAL, policy.GRANT_EXPIRED),
    (Outcome.ALLOW, policy.NEEDS_APPROVAL),  # a consumer keying on the code would ask for an approval
])
def test_a_code_that_contradicts_the_outcome_is_refused(outcome: policy.Outcome, code: str) -> None:
    with pytest.raises(ConfigurationError):
        Decision(outcome=outcome, code=code, reason="for a test", request=request())


def test_an_allow_code_on_a_decision_that_needs_approval_is_kept() -> None:
    """The unsafe wildcard policy builds this (code "allow", needs_approval from its grant)."""
    d = Decision(allowed=True, needs_approval=True, code="allow", reason="matched a grant",
                 request=request(), scopes=("tickets:read",), ttl=60)
    assert (d.allowed, d.needs_approval, d.code) == (True, True, Reason.ALLOW)


@pytest.mark.parametrize("code", ["allowed", "ALLOW", "no-grant", "", "approval_required", 7, None])
def test_a_code_outside_the_reason_enum_is_refused(code: object) -> None:
    with pytest.raises(ConfigurationError):
        policy.deny(request(), code, "for a test")  # type: ignore[arg-type]


def test_a_string_code_is_stored_as_the_enum_member() -> None:
    d = policy.deny(request(), "no_grant", "for a test")
    assert d.code is Reason.NO_GRANT and type(d.code) is Reason


def test_reason_codes_are_strings_that_compare_print_and_serialise_as_before() -> None:
    d = GrantPolicy([]).decide(request(), now=NOW)
    assert d.code == "no_grant" and "no_grant" == d.code
    assert isinstance(d.code, str) and hash(d.code) == hash("no_grant")
    assert f"{d.code}" == str(d.code) == "no_grant" and f"{d.code:<10}|" == "no_grant  |"
    assert json.dumps({"reason": d.code}) == '{"reason": "no_grant"}'
    assert {"no_grant": 1}[d.code] == 1


def test_module_constants_are_the_enum_members_and_reason_codes_lists_them_all() -> None:
    for member in Reason:
        assert getattr(policy, member.name) is member
    assert policy.REASON_CODES == tuple(m.value for m in Reason)
    assert all(type(c) is str for c in policy.REASON_CODES)  # the notebook prints them as before


def test_every_code_the_policies_produce_is_a_reason_member_and_every_member_is_produced() -> None:
    policies = {**POLICIES,
                "any-of": AnyOf(GrantPolicy([grant(expires_at=NOW)]), GrantPolicy([])),
                "all-of-approval": AllOf(GrantPolicy([grant(needs_approval=True)]), GrantPolicy([grant()])),
                "all-of-disjoint": AllOf(GrantPolicy([grant(scopes=("a",))]),
                                         GrantPolicy([grant(scopes=("b",))]))}
    requests = [*REQUESTS, request(scopes=("a", "b"))]
    produced = set()
    for p in policies.values():
        for r in requests:
            d = p.decide(r, now=NOW)
            assert type(d.code) is Reason, (d.code, type(d.code))
            produced.add(d.code)
    assert produced == set(Reason)


def test_replace_keeps_the_outcome_and_refuses_a_contradiction() -> None:
    d = GrantPolicy([grant()]).decide(request(), now=NOW)
    assert dataclasses.replace(d, ttl=10).outcome is Outcome.ALLOW
    with pytest.raises(ConfigurationError):
        dataclasses.replace(d, outcome=Outcome.DENY)  # an allow code on a denial


def test_decision_repr_shows_the_outcome() -> None:
    d = GrantPolicy([grant(needs_approval=True)]).decide(request(), now=NOW)
    assert "outcome=<Outcome.NEEDS_APPROVAL" in repr(d)


# -------------------------------- issue 13 "policy": AllOf / AnyOf name every failing rule

EXPIRED = GrantPolicy([grant(expires_at=NOW)])
EMPTY = GrantPolicy([])
OPEN = GrantPolicy([grant()])


def test_all_of_names_every_failing_rule_with_the_first_failing_code() -> None:
    d = AllOf(EMPTY, OPEN, EXPIRED).decide(request(), now=NOW)
    assert (d.allowed, d.code, d.scopes, d.ttl) == (False, policy.NO_GRANT, (), 0)
    assert "2 of 3 rules deny" in d.reason
    assert "rule 1 (no_grant): no grant exists in tenant 'acme'" in d.reason
    assert "rule 3 (grant_expired)" in d.reason and "rule 2" not in d.reason


def test_all_of_combined_code_follows_rule_order_not_severity() -> None:
    d = AllOf(OPEN, EXPIRED, EMPTY).decide(request(), now=NOW)
    assert d.code == policy.GRANT_EXPIRED
    assert d.reason.index("rule 2 (grant_expired)") < d.reason.index("rule 3 (no_grant)")


def test_any_of_denial_names_every_rule_with_the_first_rules_code() -> None:
    d = AnyOf(EXPIRED, EMPTY).decide(request(), now=NOW)
    assert (d.allowed, d.code) == (False, policy.GRANT_EXPIRED)  # was the last rule's: no_grant
    assert "2 of 2 rules deny" in d.reason
    assert "rule 1 (grant_expired)" in d.reason and "rule 2 (no_grant)" in d.reason


def test_nested_combinations_keep_every_failing_rule_in_the_reason() -> None:
    d = AnyOf(AllOf(OPEN, EXPIRED), EMPTY).decide(request(), now=NOW)
    assert d.code == policy.GRANT_EXPIRED
    assert "grant_expired" in d.reason and "no_grant" in d.reason


def test_combined_denial_repeats_the_same_code_once_per_rule() -> None:
    d = AllOf(EMPTY, EMPTY).decide(request(), now=NOW)
    assert d.reason.count("(no_grant)") == 2


@pytest.mark.parametrize("order", ("approval-first", "approval-last"))
def test_all_of_needs_approval_when_any_member_needs_it(order: str) -> None:
    """Mutation survivor (issue 14): AllOf dropping needs_approval passed every old test."""
    approval = GrantPolicy([grant(needs_approval=True)])
    members = (approval, OPEN) if order == "approval-first" else (OPEN, approval)
    d = AllOf(*members).decide(request(), now=NOW)
    assert (d.allowed, d.needs_approval, d.code) == (True, True, policy.NEEDS_APPROVAL)
    assert d.outcome is Outcome.NEEDS_APPROVAL
    assert d.scopes == ("tickets:read",)


def test_all_of_without_any_approval_member_needs_none() -> None:
    d = AllOf(OPEN, GrantPolicy([grant(max_ttl=60)])).decide(request(), now=NOW)
    assert (d.allowed, d.needs_approval) == (True, False)


def test_any_of_returns_the_allowing_members_need_for_approval() -> None:
    d = AnyOf(EMPTY, GrantPolicy([grant(needs_approval=True)]), OPEN).decide(request(), now=NOW)
    assert (d.allowed, d.needs_approval) == (True, True)


# -------------------------------- issue 14 survivors: two live grants, expiry in combinations, many scopes

def test_two_live_grants_are_never_merged_into_their_union() -> None:
    p = GrantPolicy([grant(scopes=("a",)), grant(scopes=("b",))])
    d = p.decide(request(scopes=("a", "b")), now=NOW)
    assert d.allowed and len(d.scopes) == 1 and d.code == policy.ALLOW_NARROWED


def test_of_two_live_grants_the_one_sharing_most_scopes_wins_and_its_cap_and_approval_apply() -> None:
    wide = grant(scopes=("a", "b"), max_ttl=60, needs_approval=True)
    narrow = grant(scopes=("a",), max_ttl=600)
    for grants in ((wide, narrow), (narrow, wide)):
        d = GrantPolicy(grants).decide(request(scopes=("a", "b"), ttl=300), now=NOW)
        assert (d.scopes, d.ttl, d.needs_approval, d.grant) == (("a", "b"), 60, True, wide)


def test_of_two_equally_good_live_grants_the_first_wins() -> None:
    first = grant(scopes=("a", "x"), max_ttl=60)
    second = grant(scopes=("a", "y"), max_ttl=120, needs_approval=True)
    d = GrantPolicy([first, second]).decide(request(scopes=("a",), ttl=300), now=NOW)
    assert (d.grant, d.ttl, d.needs_approval) == (first, 60, False)
    d = GrantPolicy([second, first]).decide(request(scopes=("a",), ttl=300), now=NOW)
    assert (d.grant, d.ttl, d.needs_approval) == (second, 120, True)


def test_grant_expiry_inside_all_of_denies_from_expires_at_on() -> None:
    p = AllOf(GrantPolicy([grant(expires_at=NOW + 100)]), OPEN)
    assert p.decide(request(), now=NOW + 99).allowed is True
    d = p.decide(request(), now=NOW + 100)
    assert (d.allowed, d.code, d.scopes, d.ttl) == (False, policy.GRANT_EXPIRED, (), 0)
    assert "rule 1 (grant_expired)" in d.reason


def test_grant_expiry_inside_any_of_falls_back_to_the_standing_rule() -> None:
    temporary = GrantPolicy([grant(scopes=("a", "b"), expires_at=NOW + 100)])
    standing = GrantPolicy([grant(scopes=("a",), max_ttl=60)])
    p = AnyOf(temporary, standing)
    assert p.decide(request(scopes=("a", "b")), now=NOW + 99).scopes == ("a", "b")
    d = p.decide(request(scopes=("a", "b")), now=NOW + 100)
    assert (d.allowed, d.scopes, d.ttl) == (True, ("a",), 60)
    d = AnyOf(temporary, GrantPolicy([grant(expires_at=NOW + 50)])).decide(request(), now=NOW + 100)
    assert (d.allowed, d.code) == (False, policy.GRANT_EXPIRED)


def test_a_request_for_several_scopes_gets_all_granted_ones_in_order() -> None:
    d = GrantPolicy([grant(scopes=("c", "a", "b"))]).decide(request(scopes=("b", "c", "a")), now=NOW)
    assert (d.code, d.scopes) == (policy.ALLOW, ("a", "b", "c"))


def test_all_of_keeps_every_scope_all_members_share() -> None:
    p = AllOf(GrantPolicy([grant(scopes=("a", "b", "c", "d"))]), GrantPolicy([grant(scopes=("b", "c", "e"))]))
    d = p.decide(request(scopes=("a", "b", "c")), now=NOW)
    assert (d.allowed, d.code, d.scopes) == (True, policy.ALLOW_NARROWED, ("b", "c"))
    assert "'a'" in d.reason
