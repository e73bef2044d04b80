"""Shared test helpers."""

from __future__ import annotations

import warnings

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


def pytest_collection_modifyitems(items):
    """Docs include golden files: check them last, so that one `--fxgen-update` run
    refreshes the goldens first and then the copies in the docs."""
    items.sort(key=lambda item: item.path.name == "test_docs.py")
