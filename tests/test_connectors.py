"""Connectors: the catalogue of operations per tool and scope, exact matching, and credential injection.

Every catalogue operation is pinned with one example call and the scope it needs; every
variation of that call an agent could try (a longer path, a prefix, ``..``, percent-encoding,
a trailing slash, a query string, another case) is refused. ``inject`` puts the credential in
the one header the service reads, and nothing that prints a connector or its injected headers
shows the credential.
"""

from __future__ import annotations

import copy
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course import connectors
from course.connectors import CATALOG, PUBLIC_NAMES, TOOLS, Connector, InjectedHeaders, Operation, by_tool
from course.secretstore import Secret

CREDENTIAL = "sk_live_4f9a1c2e7b7d_do_not_print"

# (tool, method, path, scope): one example per catalogue operation (checked to cover them all).
EXAMPLES = [
    ("tickets", "GET", "/tickets", "tickets:read"),
    ("tickets", "GET", "/tickets/T-1042", "tickets:read"),
    ("tickets", "POST", "/tickets", "tickets:write"),
    ("tickets", "POST", "/tickets/T-1042/comments", "tickets:write"),
    ("payments", "GET", "/charges", "payments:read"),
    ("payments", "POST", "/charges", "payments:charge"),
    ("payments", "POST", "/refunds", "payments:refund"),
    ("deploy:staging", "POST", "/environments/staging/deployments", "deploy:write"),
    ("deploy:staging", "GET", "/environments/staging/deployments", "deploy:read"),
    ("deploy:staging", "GET", "/environments/staging/deployments/d-17", "deploy:read"),
    ("deploy:production", "POST", "/environments/production/deployments", "deploy:write"),
    ("deploy:production", "GET", "/environments/production/deployments", "deploy:read"),
    ("deploy:production", "GET", "/environments/production/deployments/d-17", "deploy:read"),
    ("files", "GET", "/files", "files:read"),
]

# How an agent might bend an allowed path; each must be refused for every example.
PATH_VARIANTS = {
    "extends the path": lambda p: p + "/extra",
    "extends the last segment": lambda p: p + "x",
    "prefix": lambda p: p[:-1],
    "trailing slash": lambda p: p + "/",
    "double slash": lambda p: p.replace("/", "//", 1),
    "dot-dot at the end": lambda p: p + "/..",
    "dot-dot back into it": lambda p: p + "/../" + p.rsplit("/", 1)[-1],
    "dot segment": lambda p: "/." + p,
    "percent-encoded dot-dot": lambda p: p + "/%2e%2e",
    "percent-encoded slash": lambda p: p.replace("/", "%2F", 1),
    "percent-encoded letter": lambda p: p[:-1] + "%" + format(ord(p[-1]), "02x"),
    "query string": lambda p: p + "?admin=1",
    "empty query": lambda p: p + "?",
    "fragment": lambda p: p + "#x",
    "matrix parameter": lambda p: p + ";x=1",
    "upper-case path": lambda p: p.upper(),
    "capitalised path": lambda p: "/" + p[1:].capitalize(),
    "no leading slash": lambda p: p[1:],
    "absolute URL": lambda p: "http://evil.test" + p,
    "leading space": lambda p: " " + p,
    "trailing newline": lambda p: p + "\n",
    "trailing CRLF and header": lambda p: p + "\r\nX-Injected: 1",
    "NUL byte": lambda p: p + "\x00",
    "backslash": lambda p: p.replace("/", "\\", 1),
    "tab": lambda p: p + "\t",
    "full-width slash": lambda p: p.replace("/", "\uff0f", 1),
    "Cyrillic look-alike": lambda p: p.replace("e", "\u0435", 1) if "e" in p else p + "\u0435",
}

# These change only the last segment's length, so on an id pattern they may name another id.
ID_VARIANTS = frozenset({"extends the path", "extends the last segment", "prefix"})


def connector(tool: str) -> Connector:
    return by_tool()[tool]


def secret() -> Secret:
    return Secret(CREDENTIAL, name="tickets")


# ---------------------------------------------------------------- the catalogue, exactly


def test_examples_cover_every_operation_of_the_catalogue() -> None:
    found = {(tool, connector(tool).operation_for(method, path)) for tool, method, path, _ in EXAMPLES}
    every = {(c.tool, op) for c in CATALOG for op in c.operations}
    assert found == every


@pytest.mark.parametrize(("tool", "method", "path", "scope"), EXAMPLES, ids=lambda v: str(v))
def test_each_catalogue_call_is_its_operation_with_its_scope(tool: str, method: str, path: str,
                                                            scope: str) -> None:
    op = connector(tool).operation_for(method, path)
    assert op is not None and (op.method, op.scope) == (method, scope)
    assert op.matches(method, path)


@pytest.mark.parametrize("variant", PATH_VARIANTS)
@pytest.mark.parametrize(("tool", "method", "path", "scope"), EXAMPLES, ids=lambda v: str(v))
def test_a_bent_path_is_not_an_operation(tool: str, method: str, path: str, scope: str,
                                         variant: str) -> None:
    bent = PATH_VARIANTS[variant](path)
    assert bent != path
    op = connector(tool).operation_for(method, bent)
    if op is not None:
        # only a longer or shorter *id* is still a call: the same operation's id pattern, under the
        # same collection, needing the same scope (T-1042 -> T-104, d-17 -> d-17x, .../extra)
        assert variant in ID_VARIANTS, f"{variant}: {bent!r} matched {op}"
        assert (op.method, op.scope) == (method, scope) and "(/" in op.pattern
        assert bent.rsplit("/", 1)[0] in (path, path.rsplit("/", 1)[0])


@pytest.mark.parametrize(("tool", "method", "path", "scope"), EXAMPLES, ids=lambda v: str(v))
def test_a_call_of_one_tool_is_not_an_operation_of_another(tool: str, method: str, path: str,
                                                           scope: str) -> None:
    for other in CATALOG:
        if other.tool != tool:
            assert other.operation_for(method, path) is None, other.tool


def test_a_staging_deployment_is_not_a_production_one() -> None:
    staging = connector("deploy:staging")
    assert staging.operation_for("POST", "/environments/production/deployments") is None
    assert staging.operation_for("GET", "/environments/production/deployments/d-1") is None


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/tickets/t-1042"),            # ids are upper case
    ("GET", "/tickets/T_1042"),            # no underscore in an id
    ("GET", "/tickets/T-1042/comments"),   # comments are POST only
    ("POST", "/tickets/T-1042"),           # no POST on a ticket itself
    ("POST", "/tickets//comments"),        # an empty id
    ("POST", "/tickets/T-1/comments/1"),
    ("GET", "/tickets/T-1/T-2"),
])
def test_ticket_paths_outside_the_patterns_are_refused(method: str, path: str) -> None:
    assert connector("tickets").operation_for(method, path) is None


@pytest.mark.parametrize(("tool", "path", "is_call"), [
    ("tickets", "/tickets/extra", False),                           # ticket ids are upper case
    ("tickets", "/tickets/T-104", True),
    ("deploy:staging", "/environments/staging/deployments/extra", True),  # any word is a deployment id
    ("deploy:staging", "/environments/staging/deployments/a/b", False),
])
def test_which_longer_paths_are_ids_is_pinned(tool: str, path: str, is_call: bool) -> None:
    assert (connector(tool).operation_for("GET", path) is not None) is is_call


def test_an_id_of_dashes_matches_the_ticket_pattern() -> None:
    """Pinned as the code intends: the pattern checks the id's characters, the service its existence."""
    assert connector("tickets").operation_for("GET", "/tickets/-") is not None


def test_the_empty_path_and_the_root_are_refused_everywhere() -> None:
    for c in CATALOG:
        for method in ("GET", "POST"):
            assert c.operation_for(method, "") is None
            assert c.operation_for(method, "/") is None


# ---------------------------------------------------------------- the method


@pytest.mark.parametrize("method", ["get", "Get", "gEt"])
def test_the_method_is_matched_in_any_ascii_case(method: str) -> None:
    """Pinned: the catalogue upper-cases the method, as the HTTP client does when it sends it."""
    op = connector("tickets").operation_for(method, "/tickets")
    assert op is not None and op.method == "GET"


@pytest.mark.parametrize("method", [
    "po\u017ft",      # "poſt".upper() == "POST": was matched (and sent) as a POST
    "P\u00d6ST", "G\u0415T",  # an umlaut, a Cyrillic Е
    "\uff27\uff25\uff34",  # full-width GET
])
def test_a_method_that_only_upper_cases_into_a_catalogue_method_is_refused(method: str) -> None:
    for c in CATALOG:
        for example_tool, _, path, _ in EXAMPLES:
            if example_tool == c.tool:
                assert c.operation_for(method, path) is None
                assert not any(op.matches(method, path) for op in c.operations)


@pytest.mark.parametrize("method", ["HEAD", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT",
                                    "", " GET", "GET ", "GET\n", "GE T", "G*T", "POST\r\nX: 1"])
def test_a_method_outside_the_catalogue_is_refused(method: str) -> None:
    for tool, _, path, _ in EXAMPLES:
        assert connector(tool).operation_for(method, path) is None


def test_a_post_only_path_is_not_open_to_get() -> None:
    assert connector("payments").operation_for("GET", "/refunds") is None
    assert connector("deploy:production").operation_for("PUT", "/environments/production/deployments") is None


@pytest.mark.parametrize(("method", "path"), [
    (None, "/tickets"), (b"GET", "/tickets"), (1, "/tickets"), ("GET", None), ("GET", b"/tickets"),
    ("GET", ["/tickets"]), (["GET"], "/tickets"),
])
def test_arguments_that_are_not_strings_are_refused_not_crashed_on(method: object, path: object) -> None:
    c = connector("tickets")
    assert c.operation_for(method, path) is None  # type: ignore[arg-type]
    assert not any(op.matches(method, path) for op in c.operations)  # type: ignore[arg-type]


_PATH_CHARS = st.sampled_from(list("/tickets/T-12comentsfil.%2e?#;\\ \n_Az") + ["..", "%2F", "\u017f"])


@settings(max_examples=400, deadline=None)
@given(method=st.sampled_from(["GET", "POST", "get", "post"]),
       path=st.lists(_PATH_CHARS, max_size=14).map("".join))
def test_whatever_path_is_tried_only_a_full_pattern_match_is_an_operation(method: str, path: str) -> None:
    for c in CATALOG:
        op = c.operation_for(method, path)
        if op is not None:
            assert op in c.operations and op.method == method.upper()
            assert op.matches(method, path)
            assert not any(bad in path for bad in ("..", "%", "?", "#", ";", "\\", "//", " ", "\n"))
            assert path.startswith("/") and not path.endswith("/")


# ---------------------------------------------------------------- catalogue invariants


def test_tool_names_are_unique_and_by_tool_lists_them_all() -> None:
    assert len(set(TOOLS)) == len(TOOLS) == len(CATALOG)
    assert set(by_tool()) == set(TOOLS)


def test_every_operation_is_an_upper_case_method_and_a_scope_of_its_own_tool_family() -> None:
    for c in CATALOG:
        assert c.operations
        for op in c.operations:
            assert op.method in ("GET", "POST")
            assert op.scope.split(":")[0] == c.tool.split(":")[0]


def test_no_two_operations_of_a_tool_claim_the_same_call() -> None:
    for tool, method, path, _ in EXAMPLES:
        assert sum(op.matches(method, path) for op in connector(tool).operations) == 1


def test_no_credential_a_connector_injects_is_a_public_name() -> None:
    assert not {c.secret for c in CATALOG} & PUBLIC_NAMES


def test_only_the_files_tool_asks_the_refresh_keeper() -> None:
    assert [c.tool for c in CATALOG if c.uses_oauth] == ["files"]


# ---------------------------------------------------------------- injection


@pytest.mark.parametrize(("tool", "header", "value"), [
    ("tickets", "Authorization", "Bearer " + CREDENTIAL),
    ("payments", "X-Api-Key", CREDENTIAL),
    ("deploy:staging", "Authorization", "Bearer " + CREDENTIAL),
    ("deploy:production", "Authorization", "Bearer " + CREDENTIAL),
    ("files", "Authorization", "Bearer " + CREDENTIAL),
])
def test_inject_puts_the_credential_in_the_one_header_the_service_reads(tool: str, header: str,
                                                                        value: str) -> None:
    headers = connector(tool).inject(secret())
    assert dict(headers) == {header: value}
    assert type(dict(headers)) is dict  # what the HTTP client copies and sends


def test_every_catalogue_connector_is_covered_by_the_injection_table() -> None:
    assert {c.header for c in CATALOG} == {"Authorization", "X-Api-Key"}
    assert {(c.header, c.scheme) for c in CATALOG} == {("Authorization", "Bearer "), ("X-Api-Key", "")}


def test_the_raw_key_service_gets_no_bearer_prefix_and_bearer_services_no_raw_key() -> None:
    assert not connector("payments").inject(secret())["X-Api-Key"].startswith("Bearer")
    assert "X-Api-Key" not in connector("tickets").inject(secret())


@pytest.mark.parametrize("tool", TOOLS)
def test_no_print_of_injected_headers_shows_the_credential(tool: str) -> None:
    headers = connector(tool).inject(secret())
    shown = [repr(headers), str(headers), f"{headers}", f"{headers!r}", f"{headers:>200}",
             format(headers, "s"), repr([headers]), repr({"h": headers})]
    for text in shown:
        assert CREDENTIAL not in text and CREDENTIAL[:12] not in text
        assert connector(tool).header in text  # the name still says what it is
    assert isinstance(headers, InjectedHeaders)


def test_injected_headers_refuse_pickling_copying_and_changes() -> None:
    headers = connector("tickets").inject(secret())
    with pytest.raises(TypeError):
        pickle.dumps(headers)
    for clone in (copy.copy, copy.deepcopy):
        with pytest.raises(TypeError):
            clone(headers)
    with pytest.raises(TypeError):
        headers["Authorization"] = "Bearer other"  # type: ignore[index]
    with pytest.raises(AttributeError):
        headers._items = {}  # type: ignore[misc]


@pytest.mark.parametrize("tool", TOOLS)
def test_no_print_of_a_connector_or_its_operations_shows_a_credential(tool: str) -> None:
    c = connector(tool)
    c.inject(secret())
    texts = [repr(c), str(c), repr(c.operations), repr(CATALOG)]
    assert not any(CREDENTIAL in t for t in texts)


def test_a_connector_holds_only_the_secret_name_never_a_value() -> None:
    assert all(not isinstance(getattr(c, f), Secret) for c in CATALOG
               for f in ("tool", "service", "secret", "header", "scheme"))
    assert connectors.Connector.__slots__  # no instance dict to stash a credential in later


def test_an_operation_is_a_frozen_value() -> None:
    op = Operation(method="GET", pattern="/x", scope="x:read")
    with pytest.raises(AttributeError):
        op.pattern = ".*"  # type: ignore[misc]
