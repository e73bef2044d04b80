"""The code passes ruff's checks for errors, unused names, import order and blank lines."""

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
#: blank lines between and inside definitions, as black leaves them (pycodestyle's E30x:
#: a preview rule in ruff, stable under the ruff release constraints.txt pins)
BLANK_LINES = ["--preview", "--select", "E301,E302,E303,E305,E306"]
PATHS = ["fxgen", "tests", "benchmarks", "examples"]


@pytest.mark.parametrize("rules", [RULES, BLANK_LINES], ids=["errors-names-imports", "blank-lines"])
def test_ruff_check_is_clean(rules):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", *rules, "--output-format", "concise", *PATHS],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
