"""The code passes ruff's checks for errors, unused names and import order."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ruff")

ROOT = Path(__file__).parent.parent
#: what the project enforces (no config file: a [tool.ruff] table would also make
#: fxgen format its own demo output with ruff, as it does for any ruff project)
RULES = ["--select", "F,I,E7,E9", "--line-length", "120"]


def test_ruff_check_is_clean():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", *RULES, "--output-format", "concise", "fxgen", "tests", "benchmarks", "examples"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
