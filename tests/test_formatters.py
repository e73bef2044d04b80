"""The target project's formatter: black with its `[tool.black]` settings, or `ruff format`
with its ruff settings, so the written file passes that project's own check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import black
import pytest

import fxgen
from fxgen.errors import FormatError
from fxgen.format import project_formatter
from tests.conftest import GOLDEN_MODE
from tests.zoo import ZOO

ruff = pytest.importorskip("ruff.__main__")


def _project(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "project"
    (root / "pkg").mkdir(parents=True)
    (root / ".git").mkdir()  # the project root, as black and ruff find it
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def _export(root: Path, **options) -> str:
    model, inputs = ZOO["mlp"]()
    return fxgen.export(model, root / "pkg" / "mlp_gen.py", example_inputs=inputs, **options).code_path.read_text()


def _passes(command: list[str], root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *command, "pkg/mlp_gen.py"], cwd=root, capture_output=True, text=True)


BLACK_SETTINGS = """\
[tool.black]
line-length = 60
target-version = ["py310"]
skip-string-normalization = true
preview = true
"""

RUFF_SETTINGS = """\
[tool.ruff]
line-length = 60

[tool.ruff.format]
quote-style = "single"
"""


def test_black_settings_of_the_project_pass_its_black_check(tmp_path):
    root = _project(tmp_path, {"pyproject.toml": BLACK_SETTINGS})
    text = _export(root)
    assert _passes(["black", "--check"], root).returncode == 0
    assert "        self.fc1 = torch.nn.Linear(\n" in text  # wrapped at 60 columns
    assert text != fxgen.render(ZOO["mlp"]()[0], formatter=GOLDEN_MODE, example_inputs=ZOO["mlp"]()[1])


@pytest.mark.parametrize(
    "files",
    [{"pyproject.toml": RUFF_SETTINGS}, {"ruff.toml": RUFF_SETTINGS.replace("tool.ruff.", "").replace("[tool.ruff]\n", "")}],
    ids=["pyproject", "ruff.toml"],
)
def test_a_ruff_project_gets_exactly_what_ruff_format_makes(tmp_path, files):
    root = _project(tmp_path, files)
    text = _export(root)
    result = _passes(["ruff", "format", "--check"], root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "path = __file__.rpartition('.')[0] + '.pt'" in text  # quote-style = "single"
    model, inputs = ZOO["mlp"]()
    raw = fxgen.render(model, formatter=None, example_inputs=inputs)
    ruff_made = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", "pkg/mlp_gen.py", "-"],
        input=raw, cwd=root, capture_output=True, text=True, check=True,
    ).stdout
    header, body = text.split("import torch", 1)
    assert body == ruff_made.split("import torch", 1)[1]  # the header's weight line differs from render


def test_black_wins_where_the_project_configures_both(tmp_path):
    root = _project(tmp_path, {"pyproject.toml": BLACK_SETTINGS + "\n" + RUFF_SETTINGS})
    assert project_formatter(root / "pkg" / "x.py") == "black"
    _export(root)
    assert _passes(["black", "--check"], root).returncode == 0


def test_no_settings_means_black_defaults(tmp_path):
    root = _project(tmp_path, {"pyproject.toml": "[project]\nname = 'p'\n"})
    assert project_formatter(root / "pkg" / "x.py") == "black"
    text = _export(root)
    assert black.format_str(text, mode=black.Mode()) == text


def test_the_search_stops_at_the_project_root(tmp_path):
    (tmp_path / "ruff.toml").write_text("line-length = 60\n")  # above the project: not its settings
    root = _project(tmp_path, {})
    assert project_formatter(root / "pkg" / "x.py") == "black"


def test_an_explicit_formatter_overrides_the_project(tmp_path):
    ruff_project = _project(tmp_path / "a", {"pyproject.toml": RUFF_SETTINGS})
    text = _export(ruff_project, formatter="black")
    assert '"' in text.split("import torch", 1)[1]  # black's quotes, not the project's ruff ones
    assert _passes(["black", "--check"], ruff_project).returncode == 0
    black_project = _project(tmp_path / "b", {"pyproject.toml": BLACK_SETTINGS})
    _export(black_project, formatter="ruff")
    assert _passes(["ruff", "format", "--check"], black_project).returncode == 0
    assert _passes(["black", "--check"], black_project).returncode == 1  # not the project's black


def test_a_missing_ruff_is_a_clear_error(tmp_path, monkeypatch):
    root = _project(tmp_path, {"pyproject.toml": RUFF_SETTINGS})
    monkeypatch.setitem(sys.modules, "ruff.__main__", None)  # import fails
    with pytest.raises(FormatError, match="ruff is not installed: pip install ruff, or pass formatter='black'"):
        _export(root)
    assert not (root / "pkg" / "mlp_gen.py").exists()


def test_an_unreadable_pyproject_is_a_clear_error(tmp_path):
    root = _project(tmp_path, {"pyproject.toml": "[tool.black\n"})
    with pytest.raises(FormatError, match="cannot read .*pyproject.toml"):
        _export(root)
