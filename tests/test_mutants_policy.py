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
