"""Golden files: the generated code of every zoo model, byte for byte.

Regenerate with `pytest --fxgen-update` (then read the diff before committing).
"""

from __future__ import annotations

from pathlib import Path

import black
import pytest

import fxgen
from fxgen.write import HEADER_PREFIX
from tests.conftest import GOLDEN_MODE
from tests.zoo import ZOO

GOLDEN = Path(__file__).parent.parent / "golden"


def test_goldens_are_made_with_the_pinned_black():
    pinned = (GOLDEN / "FORMATTER").read_text().split()[1]
    assert black.__version__ == pinned, (
        f"golden/ was made with black {pinned} but black {black.__version__} is installed; "
        "install the dev extra with the project's constraints (scripts/test does) instead of "
        "regenerating the goldens with another release"
    )


@pytest.mark.parametrize("name", sorted(ZOO))
def test_module_style_golden(name, fxgen_golden, tmp_path):
    model, inputs = ZOO[name]()
    golden = fxgen_golden(model, f"golden/module/{name}.py", formatter=GOLDEN_MODE, example_inputs=inputs)
    assert black.format_str(golden, mode=GOLDEN_MODE) == golden

    result = fxgen.export(model, tmp_path / f"{name}.py", example_inputs=inputs, formatter=GOLDEN_MODE)
    assert result.verified
    written = result.code_path.read_text()
    assert written.startswith(HEADER_PREFIX)
    without_hash = "".join(line for line in written.splitlines(True) if not line.startswith("# weights: "))
    assert without_hash == golden


def test_goldens_pass_black_check():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "black", "--check", "--quiet", "--config", "/dev/null", str(GOLDEN)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
