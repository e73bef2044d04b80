"""pytest plugin: golden files of generated code (registered as the `pytest11` entry point).

    def test_model_is_current(fxgen_golden):
        fxgen_golden(MyModel(), "golden/model_gen.py", example_inputs=(x,))

The fixture renders the model and compares the text with the file; a difference fails
with a unified diff and the command that updates the file. `pytest --fxgen-update`
writes the files instead (creating missing ones) and lists what changed; a partial run
never deletes a file.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Callable

import pytest

UPDATE_OPTION = "--fxgen-update"
_UPDATED = pytest.StashKey[list]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fxgen")
    group.addoption(
        UPDATE_OPTION,
        action="store_true",
        default=False,
        help="write fxgen golden files instead of comparing them",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_UPDATED] = []


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    updated = config.stash.get(_UPDATED, [])
    if updated:
        terminalreporter.section("fxgen goldens updated")
        for line in updated:
            terminalreporter.write_line(line)


@pytest.fixture
def fxgen_golden(request: pytest.FixtureRequest) -> Callable[..., str]:
    """`fxgen_golden(obj, path, **render_options)`: compare (or update) a golden file."""
    config = request.config

    def check(obj: Any, path: str | Path, **options: Any) -> str:
        import fxgen

        golden = Path(path)
        if not golden.is_absolute():
            golden = config.rootpath / golden
        text = fxgen.render(obj, path=golden, **options)  # formatted with the golden's project settings
        old = golden.read_text(encoding="utf-8") if golden.exists() else None
        if text == old:
            return text
        shown = _shown(golden, config.rootpath)
        if config.getoption(UPDATE_OPTION):
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(text, encoding="utf-8")
            config.stash[_UPDATED].append(f"{'created' if old is None else 'updated'} {shown}")
            return text
        if old is None:
            pytest.fail(f"golden file {shown} does not exist; create it with: pytest {UPDATE_OPTION}", pytrace=False)
        diff = "".join(
            difflib.unified_diff(old.splitlines(True), text.splitlines(True), f"{shown} (golden)", f"{shown} (generated)")
        )
        pytest.fail(
            f"generated code differs from the golden file {shown}:\n{diff}\n"
            f"If the new output is right, update the goldens with: pytest {UPDATE_OPTION}",
            pytrace=False,
        )

    return check


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
