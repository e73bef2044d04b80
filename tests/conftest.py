"""Shared test helpers."""

from __future__ import annotations

import difflib
import warnings
from pathlib import Path

import black
import pytest

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
    text; any difference fails the test that caused it."""
    from fxgen import format as formatting

    fast = formatting.format_like_black

    def compared(text, mode, tree=None):
        result = fast(text, mode, tree)
        whole = black.format_str(text, mode=mode)
        if result != whole:
            diff = "".join(difflib.unified_diff(whole.splitlines(True), result.splitlines(True), "black", "fast path"))
            raise AssertionError(f"the black fast path differs from black on the whole text:\n{diff[:4000]}")
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(formatting, "format_like_black", compared)
        yield


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
