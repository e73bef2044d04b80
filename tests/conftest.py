"""Shared test helpers."""

from __future__ import annotations

import warnings
from pathlib import Path

import black
import pytest

from tests.black_identity import compared_with_black
from tests.reuse_identity import compared_with_lowering

#: The explicit formatter settings fxgen's own goldens are made with (black defaults,
#: independent of any pyproject.toml around the checkout).
GOLDEN_MODE = black.Mode()


@pytest.fixture(autouse=True)
def _quiet_known_warnings():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
        warnings.filterwarnings("ignore", message="enable_nested_tensor is True")
        yield


@pytest.fixture(autouse=True, scope="session")
def _black_identity():
    """Every formatting the tests cause through the fast path (goldens, conformance
    sweeps, fuzzed programs, every other export) is compared with black run on the whole
    text; any difference fails the test that caused it. Likewise every class reused
    across module calls (`fxgen.reuse`) is compared with its own lowering."""
    with compared_with_black(), compared_with_lowering():
        yield


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """`--fxgen-update` runs in one process, whatever `-n` says: the docs that include
    golden files must be refreshed after the goldens (see below), and workers run in no
    set order."""
    if config.getoption("--fxgen-update") and getattr(config.option, "numprocesses", None):
        config.option.numprocesses = 0


def pytest_collection_modifyitems(items):
    """Docs include golden files: check them last, so that one `--fxgen-update` run
    refreshes the goldens first and then the copies in the docs."""
    items.sort(key=lambda item: item.path.name == "test_docs.py")


def keep_current(request: pytest.FixtureRequest, doc: Path, fresh: str, problem: str) -> None:
    """Pass when `doc` holds `fresh`; with `--fxgen-update` write it; otherwise fail
    saying `problem` and how to refresh it."""
    if doc.exists() and doc.read_text() == fresh:
        return
    if request.config.getoption("--fxgen-update"):
        doc.write_text(fresh)
        return
    pytest.fail(f"{problem}; run: pytest --fxgen-update", pytrace=False)
