"""A deep graph exports without recursion proportional to its depth (the 100,000-node
figure is recorded in docs/robustness.md by `python -m tests.fuzz.campaign`)."""

from __future__ import annotations

import subprocess
import sys

from tests.fuzz.campaign import SCALE


def test_a_20000_deep_chain_renders_under_a_recursion_limit_of_1000():
    result = subprocess.run([sys.executable, "-c", SCALE, "20000"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    seconds, lines, before, peak = result.stdout.split()
    assert int(lines) > 20000
