"""The unsafe pieces say so: constructing one warns where a person will see it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from course import unsafe


@pytest.mark.parametrize("build", [
    lambda: unsafe.UnsafeTrustingVerifier(audience="tickets"),
    lambda: unsafe.UnsafeWildcardPolicy([{"tool": "*"}]),
])
def test_constructing_an_unsafe_piece_warns(monkeypatch, build):
    monkeypatch.setattr(unsafe, "_warned", set())
    with pytest.warns(unsafe.UnsafeWarning, match="UNSAFE piece in use"):
        build()


def test_the_warning_reaches_stderr_of_a_plain_program():
    """No handler, no filter configured: the warning is still printed (the NullHandler hid it)."""
    code = "from course import unsafe; unsafe.UnsafeWildcardPolicy([])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert "UnsafeWarning: UNSAFE piece in use: UnsafeWildcardPolicy" in done.stderr


def test_it_warns_once_per_piece_and_process(monkeypatch, recwarn):
    monkeypatch.setattr(unsafe, "_warned", set())
    for _ in range(3):
        unsafe.UnsafeWildcardPolicy([])
    assert [w.category for w in recwarn.list] == [unsafe.UnsafeWarning]
