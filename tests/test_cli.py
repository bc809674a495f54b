"""The command line's exit codes are a contract: they must fail when the property fails."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from course import redteam, walkthrough
from course.revocation import RevocationList
from course.service import ServiceThread


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "course", *args], capture_output=True, text=True,
                          timeout=300)


def test_walkthrough_holds_every_invariant_and_prints_no_secret():
    done = run_cli("walkthrough")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all invariants held" in done.stdout
    assert "sk_live_" not in done.stdout and "eyJ" not in done.stdout
    assert done.stderr == ""


def test_walkthrough_holds_every_invariant_in_a_service_thread_too():
    out = io.StringIO()
    assert walkthrough.run(out, start=ServiceThread) == 0, out.getvalue()


def test_walkthrough_fails_when_revocation_is_not_enforced(monkeypatch):
    monkeypatch.setattr(RevocationList, "check", lambda self, claims, kid: None)
    out = io.StringIO()
    assert walkthrough.run(out, start=ServiceThread) == 1  # a patch reaches a thread, not a child
    assert "[FAIL] a token of the revoked session is refused" in out.getvalue()


def test_redteam_cli_exits_zero_only_when_both_ways_hold():
    done = run_cli("redteam", "--json")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    outcomes = json.loads(done.stdout)
    assert len({o["attack"] for o in outcomes}) >= 15
    for o in outcomes:
        assert o["succeeded"] == (o["wiring"] == "naive"), o


def test_redteam_catches_a_half_hardened_wiring(monkeypatch):
    """A hardened wiring whose verifier forgets revocation must show the attack succeeding."""
    monkeypatch.setattr(RevocationList, "check", lambda self, claims, kid: None)
    attacks = [a for a in redteam.ATTACKS if a.name == "revoked-session"]
    outcomes = redteam.run_suite({"hardened": redteam.hardened_wiring}, attacks=attacks)
    assert outcomes[0].succeeded
    assert not redteam.as_expected(outcomes)


@pytest.mark.slow
def test_bench_reports_every_ratio_as_json():
    done = run_cli("bench", "--quick", "--json")
    assert done.returncode == 0, done.stderr
    figures = {f["name"]: f for f in json.loads(done.stdout)}
    assert {"token", "broker", "revocation", "log", "log-durable"} <= set(figures)
    for f in figures.values():
        assert f["kit_us"] > 0 and f["baseline_us"] > 0 and f["ratio"] > 0
