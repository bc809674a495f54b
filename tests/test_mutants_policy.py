"""Policy: the edges mutation testing showed no test pinned (issue 14).

The depth limit of a digested call body at its boundary, nested values checked at every
level (a non-string key inside a list would otherwise be stringified by the encoder, so two
different bodies would share one digest), lone surrogates kept distinct, combined policies
keeping the request, the first rule's grant and the right reason code, and the facts an
error message names for whoever reads it (the field, the type, the limit), never its prose.
"""

from __future__ import annotations

import re

import pytest

from course import policy
from course.errors import ConfigurationError, InvalidRequestError
from course.policy import AgentRequest, AllOf, AnyOf, Decision, Grant, GrantPolicy
from tests.test_policy import NOW, REQUEST_FIELDS, grant  # the suite's own helpers


def request(**changes: object) -> AgentRequest:
    return AgentRequest(**{**REQUEST_FIELDS, **changes})  # type: ignore[arg-type]


def nested_lists(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = [value]
    return value


def nested_dicts(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = {"k": value}
    return value


# --- the depth limit, exactly ---------------------------------------------------------------------

@pytest.mark.parametrize("nest", [nested_lists, nested_dicts], ids=["lists", "objects"])
def test_call_body_nested_to_the_limit_digests_and_one_level_more_is_refused(nest) -> None:
    assert policy.MAX_JSON_DEPTH == 32
    at_limit = {"a": nest(policy.MAX_JSON_DEPTH - 1)}  # the body is level 0, "a" level 1, ...
    assert len(policy.intent_digest(at_limit)) == 64
    with pytest.raises(InvalidRequestError) as err:
        policy.intent_digest({"a": nest(policy.MAX_JSON_DEPTH)})
    assert str(policy.MAX_JSON_DEPTH) in str(err.value).split()


def test_half_the_depth_limit_is_well_inside_it() -> None:
    assert policy.intent_digest({"a": nested_lists(policy.MAX_JSON_DEPTH // 2 + 1)})
    assert policy.intent_digest({"a": nested_dicts(policy.MAX_JSON_DEPTH // 2 + 1)})


# --- every level is checked, not only the top --------------------------------------------------------

@pytest.mark.parametrize("body", [
    {"a": [{1: "x"}]}, {"a": [[{True: "x"}]]}, {"a": {"b": {1: "x"}}}, {"a": {"b": [{None: "x"}]}},
], ids=["int-key-in-list", "bool-key-in-lists", "int-key-in-objects", "null-key-in-object-list"])
def test_a_non_string_key_at_any_depth_is_refused(body) -> None:
    """json.dumps would write the key 1 as "1": two different bodies, one digest."""
    with pytest.raises(InvalidRequestError):
        policy.intent_digest(body)


@pytest.mark.parametrize("body", [{"a": [{"b"}]}, {"a": {"b": [b"x"]}}, {"a": [[1, {"c": object()}]]}])
def test_a_non_json_value_at_any_depth_is_refused_naming_its_type(body) -> None:
    with pytest.raises(InvalidRequestError) as err:
        policy.intent_digest(body)
    assert {"set", "bytes", "object"} & set(re.findall(r"\w+", str(err.value)))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_nan_and_infinity_nested_are_refused(value) -> None:
    for body in ({"a": value}, {"a": [value]}, {"a": {"b": value}}):
        with pytest.raises(InvalidRequestError):
            policy.intent_digest(body)


def test_lone_surrogates_digest_and_stay_distinct() -> None:
    one, other = policy.intent_digest({"a": "\ud800"}), policy.intent_digest({"a": "\ud801"})
    assert one != other
    assert policy.canonical_json({"a": "\ud800"}) == b'{"a":"\xed\xa0\x80"}'


def test_requests_that_differ_hash_apart() -> None:
    requests = [request(), request(ttl=121), request(task="refund"), request(intent=(("n", 1),))]
    assert len({hash(r) for r in requests}) == len(requests)
    assert hash(request()) == hash(request())


# --- grants: wildcard characters exactly ---------------------------------------------------------------

@pytest.mark.parametrize("value", ["X-Ray", "Xavier", "XX"])
def test_a_name_with_letters_that_are_not_wildcards_is_accepted(value) -> None:
    assert grant(user=value).user == value
    assert grant(tool=value).tool == value


@pytest.mark.parametrize("ch", list("*?%[]"))
def test_each_wildcard_character_is_refused(ch) -> None:
    with pytest.raises(ConfigurationError):
        grant(user=f"ana{ch}")


def test_grant_errors_name_the_wrong_type() -> None:
    with pytest.raises(ConfigurationError) as err:
        Grant.from_dict("tenant=acme")  # type: ignore[arg-type]
    assert "str" in str(err.value).split()
    with pytest.raises(ConfigurationError) as err:
        grant(scopes="tickets:read")
    assert "str" in str(err.value).split()
    with pytest.raises(ConfigurationError) as err:
        GrantPolicy.from_config("grants")  # type: ignore[arg-type]
    assert "str" in str(err.value).split()


# --- decisions: the field an error names ---------------------------------------------------------------

@pytest.mark.parametrize("field", ["allowed", "needs_approval"])
def test_a_non_bool_decision_flag_is_refused_naming_it(field) -> None:
    with pytest.raises(ConfigurationError) as err:
        Decision(code=policy.ALLOW, reason="r", request=request(), **{field: "yes"})
    assert repr(field) in str(err.value)
    other = {"allowed", "needs_approval"} - {field}
    assert repr(other.pop()) not in str(err.value)


def test_decision_errors_name_the_wrong_type_and_the_flags_as_given() -> None:
    with pytest.raises(ConfigurationError) as err:
        Decision(code=policy.ALLOW, reason="r", request=request(), outcome="allow")  # type: ignore[arg-type]
    assert "str" in str(err.value).split()
    with pytest.raises(ConfigurationError) as err:
        Decision(code=7, reason="r", request=request(), outcome=policy.Outcome.ALLOW)  # type: ignore[arg-type]
    assert "int" in str(err.value).split()
    with pytest.raises(ConfigurationError) as err:
        Decision(code=policy.ALLOW, reason="r", request=request(), outcome=policy.Outcome.ALLOW,
                 allowed=True, needs_approval=True)
    assert "needs_approval=True" in str(err.value)


# --- combined policies keep the request, the first grant, the right code -------------------------------

def test_all_of_denial_for_disjoint_scopes_keeps_the_request_and_a_reason() -> None:
    r = request(scopes=("a", "b"))
    d = AllOf(GrantPolicy([grant(scopes=("a",))]), GrantPolicy([grant(scopes=("b",))])).decide(r, now=NOW)
    assert (d.allowed, d.code, d.request) == (False, policy.SCOPE_NOT_GRANTED, r)
    assert isinstance(d.reason, str) and d.reason


@pytest.mark.parametrize("combinator", [AllOf, AnyOf])
def test_combined_denial_keeps_the_request_and_a_reason(combinator) -> None:
    r = request()
    d = combinator(GrantPolicy([]), GrantPolicy([grant(tool="payments")])).decide(r, now=NOW)
    assert d.allowed is False and d.request == r
    assert "rule 1 (no_grant)" in d.reason and "rule 2 (no_grant)" in d.reason


def test_all_of_allowing_carries_the_first_rules_grant() -> None:
    first, second = grant(note="first"), grant(note="second", max_ttl=200)
    d = AllOf(GrantPolicy([first]), GrantPolicy([second])).decide(request(), now=NOW)
    assert d.allowed and d.grant is first


def test_all_of_with_nothing_narrowed_is_a_plain_allow() -> None:
    d = AllOf(GrantPolicy([grant()]), GrantPolicy([grant()])).decide(request(), now=NOW)
    assert (d.code, d.ttl, d.scopes) == (policy.ALLOW, 120, ("tickets:read",))


def test_all_of_narrowing_only_the_ttl_says_narrowed() -> None:
    d = AllOf(GrantPolicy([grant()]), GrantPolicy([grant(max_ttl=60)])).decide(request(), now=NOW)
    assert (d.code, d.ttl, d.scopes) == (policy.ALLOW_NARROWED, 60, ("tickets:read",))


def test_all_of_narrowing_only_the_scopes_says_narrowed() -> None:
    r = request(scopes=("tickets:read", "tickets:comment"))
    d = AllOf(GrantPolicy([grant()]), GrantPolicy([grant(scopes=("tickets:read",))])).decide(r, now=NOW)
    assert (d.code, d.ttl, d.scopes) == (policy.ALLOW_NARROWED, 120, ("tickets:read",))


# --- what each decision and refusal says ------------------------------------------------------------
# A decision's reason is the ``detail`` of the vault's decision line, and a refused request's
# reason is what the learner's notebook prints: each is asserted exactly (issue 14's
# message-only mutants).


def _reason(decision: Decision) -> tuple[str, str]:
    return decision.code.value, decision.reason


def test_each_grant_decision_says_what_was_granted_or_why_not() -> None:
    expired = GrantPolicy([grant(expires_at=NOW)])
    approval = GrantPolicy([grant(needs_approval=True)])
    plain = GrantPolicy([grant()])
    assert _reason(expired.decide(request(), now=NOW)) == (
        "grant_expired", "the only grant for this request was a temporary exception that has ended")
    assert _reason(approval.decide(request(), now=NOW)) == (
        "needs_approval", "allowed only with a human approval of this exact request")
    assert _reason(plain.decide(request(), now=NOW)) == (
        "allow", "granted ['tickets:read'] on 'tickets' for 120s")
    narrowed = plain.decide(request(scopes=("tickets:read", "tickets:close"), ttl=900), now=NOW)
    assert _reason(narrowed) == (
        "allow_narrowed", "granted ['tickets:read'] on 'tickets' for 300s; dropped ungranted scopes "
                          "['tickets:close'] and capped ttl from 900s to 300s")


def test_each_combined_decision_says_which_rules_decided() -> None:
    plain, other = GrantPolicy([grant()]), GrantPolicy([grant(scopes=("tickets:comment",))])
    none = GrantPolicy([])
    assert _reason(AllOf().decide(request(), now=NOW)) == ("empty_policy", "an empty policy allows nothing")
    assert _reason(AnyOf().decide(request(), now=NOW)) == ("empty_policy", "an empty policy allows nothing")
    both = request(scopes=("tickets:read", "tickets:comment"))
    assert _reason(AllOf(GrantPolicy([grant(scopes=("tickets:read",))]), other).decide(both, now=NOW)) == (
        "scope_not_granted", "the policies share no granted scope")
    denied = AllOf(plain, none).decide(request(), now=NOW)
    assert _reason(denied) == ("no_grant", "not every rule allows (1 of 2 rules deny): rule 2 (no_grant): "
                                           + none.decide(request(), now=NOW).reason)
    nobody = AnyOf(none, none).decide(request(), now=NOW)
    one = none.decide(request(), now=NOW).reason
    assert _reason(nobody) == ("no_grant", f"no rule allows (2 of 2 rules deny): rule 1 (no_grant): {one}; "
                                           f"rule 2 (no_grant): {one}")
    assert _reason(AllOf(plain, GrantPolicy([grant(needs_approval=True)])).decide(request(), now=NOW)) == (
        "needs_approval", "allowed only with a human approval of this exact request")
    assert _reason(AllOf(plain, plain).decide(request(), now=NOW)) == (
        "allow", "granted ['tickets:read'] on 'tickets' for 120s")


@pytest.mark.parametrize(("changes", "message"), [
    ({"intent": "version=1"}, "the request's intent must be a list of (name, value) pairs"),
    ({"intent": [("version",)]}, "the request's intent must be a list of (name, value) pairs"),
    ({"intent": [(1, "x")]}, "the request's intent names an argument with a non-string"),
    ({"intent": [("v", [1])]}, "the request's intent argument 'v' must be a JSON scalar (string, integer, "
                               "finite number, boolean or null)"),
    ({"scopes": "tickets:read"}, "the request's scopes must be a list of strings"),
    ({"ttl": 1.5}, "the request's ttl must be a whole number of seconds"),
    ({"user": ""}, "the request's user must be a non-empty string"),
])
def test_each_malformed_request_says_what_is_wrong(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRequestError) as err:
        request(**changes)
    assert err.value.reason == message


def test_validation_denials_say_what_is_wrong() -> None:
    plain = GrantPolicy([grant()])
    for changes, reason in [({"scopes": ()}, "the request must name concrete scopes, as a list"),
                            ({"ttl": 0}, "the request's ttl must be a positive number of seconds")]:
        assert _reason(plain.decide(request(**changes), now=NOW)) == ("invalid_request", reason)


@pytest.mark.parametrize(("value", "message"), [
    ({1: "x"}, "the value has a key that is not a string"),
    ([float("nan")], "the value holds a number JSON cannot carry (NaN or infinity)"),
    (10 ** 5000, "the value cannot be written as canonical JSON"),
], ids=["non-str-key", "nan", "huge-int"])
def test_canonical_json_says_what_it_cannot_carry(value: object, message: str) -> None:
    with pytest.raises(InvalidRequestError) as err:
        policy.canonical_json(value)
    assert err.value.reason == message


def test_call_arguments_that_are_no_object_or_no_json_say_so() -> None:
    with pytest.raises(InvalidRequestError) as err:
        policy.intent_digest(["not", "an", "object"])  # type: ignore[arg-type]
    assert err.value.reason == "the call's arguments must be a JSON object"
    with pytest.raises(InvalidRequestError) as err:
        policy.intent_digest({"a": [{"b": float("inf")}]})
    assert err.value.reason == "the call's arguments holds a number JSON cannot carry (NaN or infinity)"
    with pytest.raises(InvalidRequestError) as err:
        request(intent=[("n", 10 ** 5000)])
    assert err.value.reason == "the request cannot be written as canonical JSON"


def _config_error(make) -> str:
    with pytest.raises(ConfigurationError) as err:
        make()
    return str(err.value)


def test_each_bad_grant_says_which_field_and_why() -> None:
    said = [_config_error(lambda changes=changes: grant(**changes)) for changes in (
        {"tasks": ()}, {"expires_at": 1.5}, {"needs_approval": 1}, {"note": 5},
        {"scopes": ("tickets: read",)}, {"scopes": ("tickets:*",)})]
    assert said == [
        "grant field 'tasks' needs at least one entry",
        "grant field 'expires_at' must be a Unix time in whole seconds, or None",
        "grant field 'needs_approval' must be true or false",
        "grant field 'note' must be a string",
        "grant field 'scopes' contains whitespace ('tickets: read')",
        "grant field 'scopes' is a wildcard ('tickets:*'); grants are exact",
    ]


def test_each_inconsistent_decision_says_what_contradicts_what() -> None:
    r = request()
    Outcome = policy.Outcome
    said = [_config_error(make) for make in (
        lambda: Decision(code="allow", reason="x", request=r, allowed=False, needs_approval=True),
        lambda: Decision(code="allow", reason="x", request=r),
        lambda: Decision(code="allow", reason="x", request=r, outcome=Outcome.ALLOW, needs_approval=True),
        lambda: Decision(code="nope", reason="x", request=r, outcome=Outcome.ALLOW),
        lambda: Decision(code="no_grant", reason="x", request=r, outcome=Outcome.ALLOW),
        lambda: Decision(code="needs_approval", reason="x", request=r, outcome=Outcome.ALLOW),
    )]
    assert said == [
        "a decision cannot be denied and need approval: pick one outcome",
        "a decision needs an outcome (or allowed=)",
        "needs_approval=True contradicts outcome 'allow'",
        f"'nope' is not a reason code of the policy (one of {list(policy.REASON_CODES)})",
        "code 'no_grant' contradicts the outcome 'allow'",
        "code 'needs_approval' on a decision that does not need approval",
    ]
    decision = GrantPolicy([grant()]).decide(r, now=NOW)
    with pytest.raises(policy.FrozenInstanceError) as err:
        decision.ttl = 3600  # type: ignore[misc]
    assert str(err.value) == "cannot assign to field 'ttl'"
