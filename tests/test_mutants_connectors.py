"""Connectors: the deploy entries and the pattern cache, built in the test itself (issue 14).

The catalogue is built when the module is imported, and mutation testing imports it once,
before any mutant is switched on: so no test of ``CATALOG`` could see a mutant of ``_deploy``
or of the pattern cache, and 45 of them (every field of both deploy connectors: the tool, the
secret, the header, the scheme, which method needs which scope on which path) survived. Here
``_deploy`` and ``_compiled`` are called by the test, and what they build is compared with the
catalogue as written down in the course.
"""

from __future__ import annotations

import copy
import pickle
import uuid

import pytest

from course import connectors
from course.connectors import Connector, InjectedHeaders, Operation
from tests.test_connectors import secret  # the suite's own helper


@pytest.mark.parametrize("env", ["staging", "production"])
def test_a_deploy_connector_is_exactly_the_catalogued_one(env: str) -> None:
    base = f"/environments/{env}/deployments"
    expected = Connector(
        tool=f"deploy:{env}", service="deploy", secret=f"deploy:{env}", header="Authorization",
        scheme="Bearer ",
        operations=(Operation(method="POST", pattern=base, scope="deploy:write"),
                    Operation(method="GET", pattern=base + r"(/[A-Za-z0-9_\-]+)?", scope="deploy:read")),
    )
    built = connectors._deploy(env)
    assert built == expected
    assert dict(built.inject(secret())) == {"Authorization": f"Bearer {secret().reveal()}"}
    assert built.operation_for("POST", base).scope == "deploy:write"
    assert built.operation_for("GET", base + "/d-17").scope == "deploy:read"
    other = "production" if env == "staging" else "staging"
    assert built.operation_for("POST", f"/environments/{other}/deployments") is None


def test_a_pattern_is_compiled_on_first_use_and_kept() -> None:
    fresh = uuid.uuid4().hex  # a pattern no earlier run in this process has compiled
    pattern = rf"/mutants-only-{fresh}-[0-9]+"
    assert pattern not in connectors._PATTERNS
    compiled = connectors._compiled(pattern)
    assert compiled.fullmatch(f"/mutants-only-{fresh}-42") is not None
    assert connectors._PATTERNS[pattern] is compiled and connectors._compiled(pattern) is compiled


def test_a_double_slash_is_refused_even_where_a_pattern_would_take_it() -> None:
    loose = Connector(tool="files2", service="files", secret="files", header="Authorization",
                      scheme="Bearer ",
                      operations=(Operation(method="GET", pattern=r"/files/[a-z/]*", scope="files:read"),))
    assert loose.operation_for("GET", "/files/a/b") is not None
    assert loose.operation_for("GET", "/files//etc") is None


def test_injected_headers_show_names_only_and_refuse_copies() -> None:
    headers = InjectedHeaders({"Authorization": "Bearer x-secret", "X-Api-Key": "k-secret"})
    assert repr(headers) == "InjectedHeaders({'Authorization': '***', 'X-Api-Key': '***'})"
    for attempt in (lambda: copy.copy(headers), lambda: pickle.dumps(headers)):
        with pytest.raises(TypeError) as err:
            attempt()
        assert str(err.value) == "injected headers refuse to be pickled or copied"
