"""Every black fast-path result compared with black run on the whole text.

The test run wraps itself in `compared_with_black()` (conftest.py), and so do the
campaigns that run outside pytest (the fuzz campaign, the conformance report): any
difference raises `FastPathMismatch`, which no `except Exception` (fxgen's own error
wrapping, a test's "a typed error is fine") can take for an ordinary failure.
"""

from __future__ import annotations

import contextlib
import difflib
from typing import Iterator

import black

from fxgen import format as formatting


class FastPathMismatch(BaseException):
    """The black fast path gave another text than black on the whole text."""


@contextlib.contextmanager
def compared_with_black() -> Iterator[None]:
    fast = formatting.format_like_black

    def compared(text, mode):
        result = fast(text, mode)
        whole = black.format_str(text, mode=mode)
        if result != whole:
            diff = "".join(difflib.unified_diff(whole.splitlines(True), result.splitlines(True), "black", "fast path"))
            raise FastPathMismatch(f"the black fast path differs from black on the whole text:\n{diff[:4000]}")
        return result

    formatting.format_like_black = compared
    try:
        yield
    finally:
        formatting.format_like_black = fast
