"""Golden files: every zoo model in every built-in style, byte for byte.

Regenerate with `pytest --fxgen-update` (then read the diff before committing).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import black
import pytest

import fxgen
from fxgen.render import find_style
from fxgen.write import HEADER_PREFIXES
from tests.conftest import GOLDEN_MODE
from tests.zoo import ZOO

GOLDEN = Path(__file__).parent.parent / "golden"
STYLES = ["module", "functional", "script", "ir", "mermaid"]


def test_goldens_are_made_with_the_pinned_black():
    pinned = (GOLDEN / "FORMATTER").read_text().split()[1]
    assert black.__version__ == pinned, (
        f"golden/ was made with black {pinned} but black {black.__version__} is installed; "
        "install the dev extra with the project's constraints (scripts/test does) instead of "
        "regenerating the goldens with another release"
    )


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("name", sorted(ZOO))
def test_golden(name, style, fxgen_golden, tmp_path):
    model, inputs = ZOO[name]()
    suffix = find_style(style).suffix
    golden = fxgen_golden(model, f"golden/{style}/{name}{suffix}", style=style, formatter=GOLDEN_MODE, example_inputs=inputs)
    if suffix == ".py":
        assert black.format_str(golden, mode=GOLDEN_MODE) == golden

    result = fxgen.export(model, tmp_path / f"{name}{suffix}", style=style, example_inputs=inputs, formatter=GOLDEN_MODE)
    assert result.verified == (suffix == ".py")  # code styles are imported and run against the model
    written = result.code_path.read_text()
    assert written.startswith(HEADER_PREFIXES)
    without_hash = "".join(line for line in written.splitlines(True) if not line.startswith("# weights: "))
    assert without_hash == golden


def test_goldens_pass_black_check():
    result = subprocess.run(
        [sys.executable, "-m", "black", "--check", "--quiet", "--config", "/dev/null", str(GOLDEN)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
