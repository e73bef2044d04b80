"""Where in the user's code something happened, written without machine-specific paths.

A location is module-qualified (`mypkg.models:42`), never a file path, so messages and
comments read the same on every machine and in every working directory.
"""

from __future__ import annotations

import os
import re
import sys
import traceback
from dataclasses import dataclass
from types import TracebackType

import torch

__all__ = ["Location", "from_stack_trace", "from_traceback"]

_INTERNAL_DIRS = tuple(
    os.path.dirname(os.path.abspath(m.__file__)) + os.sep  # type: ignore[type-var]
    for m in (torch, sys.modules[__package__ or "fxgen"])
)
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>.+)$')


@dataclass(frozen=True)
class Location:
    """A line of user code: `module:line` plus the line's text."""

    module: str
    line: int
    code: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line}"


def _is_internal(filename: str) -> bool:
    return os.path.abspath(filename).startswith(_INTERNAL_DIRS) or filename.startswith("<")


def _module_name(filename: str) -> str:
    """The importable name of the module defined in `filename`, else the file's stem."""
    target = os.path.abspath(filename)
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and os.path.abspath(file) == target and name != "__main__":
            return name
    return os.path.splitext(os.path.basename(filename))[0]


def from_stack_trace(stack_trace: str | None) -> Location | None:
    """The innermost user frame of an FX `stack_trace` string (outermost frame first)."""
    if not stack_trace:
        return None
    lines = stack_trace.splitlines()
    found = None
    for i, line in enumerate(lines):
        match = _FRAME.match(line)
        if match and not _is_internal(match["file"]):
            code = lines[i + 1].strip() if i + 1 < len(lines) and not _FRAME.match(lines[i + 1]) else ""
            found = (match["file"], int(match["line"]), code)
    if found is None:
        return None
    return Location(_module_name(found[0]), found[1], found[2])


def from_traceback(tb: TracebackType | None) -> Location | None:
    """The innermost user frame of an exception's traceback."""
    frames = [f for f in traceback.extract_tb(tb) if not _is_internal(f.filename)]
    if not frames:
        return None
    frame = frames[-1]
    return Location(_module_name(frame.filename), frame.lineno or 0, (frame.line or "").strip())
