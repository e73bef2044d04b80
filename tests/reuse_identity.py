"""Every reused class compared with the class its own lowering gives.

`fxgen.reuse` lowers units of equal reuse keys once. The test run wraps itself in
`compared_with_lowering()` (conftest.py), and so do the campaigns that run outside
pytest: each reuse lowers the unit anyway, and a class with other code raises
`ReuseMismatch` (a BaseException, so that no `except Exception` accepts it as a typed
error).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from fxgen.reuse import ClassReuse, code_key


class ReuseMismatch(BaseException):
    """A reused class differs from what lowering its own unit gives."""


@contextlib.contextmanager
def compared_with_lowering() -> Iterator[None]:
    reused = ClassReuse.reused

    def compared(self, key, lower):
        result = reused(self, key, lower)
        own = lower()
        if code_key(own) != code_key(result):
            raise ReuseMismatch(f"a reused class differs from its own lowering:\n{code_key(result)}\n{code_key(own)}")
        return result

    ClassReuse.reused = compared
    try:
        yield
    finally:
        ClassReuse.reused = reused
