"""No secret in the clear, anywhere: the repository, command output, reprs, errors and logs.

The course teaches a leak detector; its own repository must pass it. Every
real lab credential (every seed the course and its tests use, every tenant,
every encoded form) and every known credential shape is looked for. Shapes
that tests plant on purpose are allow-listed, with a reason, in
tests/data/leak_allowlist.json; a real credential is never allowed.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
from pathlib import Path

import pytest

from course import errors, redteam, walkthrough
from course.agent import lab_world_and_vault
from course.policy import AgentRequest
from course.redact import Redactor
from course.secretstore import Secret
from course.world import CREDENTIAL_NAMES, TENANTS, World

REPO = Path(__file__).resolve().parent.parent
SEEDS = ("lab", "test", "bench", "attacker")


def lab_credentials(seeds=SEEDS) -> list[Secret]:
    out = []
    for seed in seeds:
        with World.start(seed=seed) as world:
            for tenant in TENANTS:
                for name in CREDENTIAL_NAMES:
                    if name != "oauth:client_id":
                        secret = world.credential(tenant, name)
                        out.append(Secret(secret.reveal(), name=f"{seed}/{tenant}/{name}"))
    return out


@pytest.fixture(scope="module")
def detector() -> Redactor:
    return Redactor(lab_credentials())


def tracked_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    return [REPO / n for n in names if (REPO / n).is_file()]


def test_repository_passes_its_own_leak_detector(detector: Redactor) -> None:
    allow = {(a["path"], a["shape"]) for a in
             json.loads((REPO / "tests/data/leak_allowlist.json").read_text())["allowed"]}
    problems = []
    for path in tracked_files():
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            text = path.read_bytes().decode("latin-1")
        rel = path.relative_to(REPO).as_posix()
        for f in detector.find(text):
            if f.form == "shape" and rel.startswith("tests/") and (rel, f.name) in allow:
                continue
            problems.append(f"{rel}:{f.start} {f.name} ({f.form})")
    assert not problems, "credentials in the repository:\n" + "\n".join(problems)


def test_leak_detector_would_catch_a_committed_credential(detector: Redactor) -> None:
    """The scan above can fail: a lab credential pasted into a file is found, encoded or not."""
    value = lab_credentials(("lab",))[0].reveal()
    import base64
    for planted in (value, base64.b64encode(value.encode()).decode(), value.encode().hex()):
        assert detector.find(f"config = {planted!r}\n")


def test_command_output_holds_no_credential(detector: Redactor) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert walkthrough.run(out) == 0
        outcomes = redteam.run_suite()
        print(redteam.table(outcomes), redteam.as_json(outcomes))
    assert not detector.find(out.getvalue())


def test_reprs_errors_and_logs_hold_no_credential(detector: Redactor) -> None:
    with lab_world_and_vault("lab") as lab:
        session = lab.open_session()
        issued = lab.vault.request(AgentRequest(
            tenant="acme", user="alice", agent="helpdesk-bot", session=session.id, task="triage",
            tool="tickets", scopes=("tickets:read",)))
        seen = [repr(x) for x in (lab, lab.world, lab.store, lab.vault, lab.broker, lab.log,
                                  lab.refresh, lab.vault.keys, issued, session)]
        seen += [str(lab.store.get("acme", n)) for n in lab.store.names("acme")]
        bob = lab.open_session(user="bob")
        pay = lab.vault.request(AgentRequest(
            tenant="acme", user="bob", agent="helpdesk-bot", session=bob.id, task="refund",
            tool="payments", scopes=("payments:refund",)))
        seen.append(lab.broker.call(pay.token, tool="payments", method="POST", path="/refunds",
                                    json={}).body)  # the service echoes the key in this error
        for bad in (dict(token="x.y.z"), dict(token=issued.token, tool="payments"),
                    dict(token=issued.token, path="/tickets/../oauth/token")):
            call = dict(token=issued.token, tool="tickets", method="GET", path="/tickets") | bad
            try:
                lab.broker.call(call.pop("token"), **call)
            except errors.VaultLabError as exc:
                seen += [str(exc), repr(exc)]
        agent = lab.brokered_agent()
        report = agent.run("triage T-1003")
        seen += [*agent.trace, *report.observations, *report.lines(), repr(agent)]
        seen += list(lab.log.lines())
    found = detector.find("\n".join(seen))
    assert not found, sorted({f"{f.name} ({f.form})" for f in found})
    assert issued.token not in "\n".join(seen)
