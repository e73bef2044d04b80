"""Where in the user's code something happened, written without machine-specific paths.

A location is module-qualified (`mypkg.models:42`), never a file path, so messages and
comments read the same on every machine and in every working directory.
"""

from __future__ import annotations

import functools
import linecache
import os
import re
import sys
import traceback
from types import CodeType, FrameType, TracebackType
from typing import Iterable, NamedTuple

import torch

__all__ = ["Location", "from_stack_trace", "from_traceback", "call_site", "lines_below", "stack_trace"]

_INTERNAL_DIRS = tuple(
    os.path.dirname(os.path.abspath(m.__file__)) + os.sep  # type: ignore[type-var]
    for m in (torch, sys.modules[__package__ or "fxgen"])
)
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>.+)$')


class Location(NamedTuple):
    """A line of user code: `module:line` plus the line's text (a tuple: lowering compares
    the location of every statement with the one before)."""

    module: str
    line: int
    code: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line}"


@functools.lru_cache(maxsize=4096)
def _is_internal(filename: str) -> bool:
    return os.path.abspath(filename).startswith(_INTERNAL_DIRS) or filename.startswith("<")


#: files of the modules in `sys.modules` (the first name imported for a file wins), and
#: the module names already looked at: one lookup per node must not scan every module
_MODULE_FILES: dict[str, str] = {}
_INDEXED: set[str] = set()
_INDEXED_AT = [0]  # len(sys.modules) when last indexed


def _indexed_modules() -> int:
    """Index the modules imported since the last look; the module count it is valid for
    (what cached names depend on: a file of no module, a script, is named by its stem
    until a module of that file is imported)."""
    count = len(sys.modules)
    if count != _INDEXED_AT[0]:  # modules came or went since
        _INDEXED_AT[0] = count
        new = [name for name in list(sys.modules) if name not in _INDEXED]
        main = sys.modules.get("__main__")
        for name in new:
            module = sys.modules.get(name)
            file = getattr(module, "__file__", None)
            if file and module is not main:  # a script, under any alias: named by its file
                _MODULE_FILES.setdefault(os.path.abspath(file), name)
        _INDEXED.update(new)
    return count


def _module_name(filename: str) -> str:
    """The importable name of the module defined in `filename`, else the file's stem."""
    _indexed_modules()
    return _MODULE_FILES.get(os.path.abspath(filename)) or os.path.splitext(os.path.basename(filename))[0]


def from_stack_trace(stack_trace: str | None) -> Location | None:
    """The innermost user frame of an FX `stack_trace` string (outermost frame first)."""
    return _innermost(stack_trace, _indexed_modules()) if stack_trace else None


@functools.lru_cache(maxsize=4096)
def _innermost(stack_trace: str, modules: int) -> Location | None:
    """Cached per indexed module count: a module's name is found again once modules come or go."""
    frames = _user_frames(stack_trace)
    if not frames:
        return None
    file, line, _, code = frames[-1]
    return Location(_module_name(file), line, code)


@functools.lru_cache(maxsize=4096)
def lines_below(stack_trace: str | None, module: type) -> tuple[tuple[str, int, str], ...]:
    """The lines (file, line, code) an operation ran on, from the line of a module of class
    `module`'s `forward` inward (through the helper functions it calls), outermost first;
    the innermost line alone where no frame lies in that `forward`."""
    frames = _user_frames(stack_trace) if stack_trace else ()
    if not frames:
        return ()
    forward, _ = _entered_by(module)
    start = len(frames) - 1
    if forward is not None:
        start = next((i for i in range(start, -1, -1) if _within(frames[i][0], frames[i][1], forward)), start)
    return tuple((file, line, code) for file, line, _, code in frames[start:])


def from_traceback(tb: TracebackType | None) -> Location | None:
    """The innermost user frame of an exception's traceback."""
    frames = [f for f in traceback.extract_tb(tb) if not _is_internal(f.filename)]
    if not frames:
        return None
    frame = frames[-1]
    return Location(_module_name(frame.filename), frame.lineno or 0, (frame.line or "").strip())


def call_site(stack_traces: list[str | None], callee: type) -> str | None:
    """The stack trace of a call of a module of class `callee` whose operations have these
    stack traces: the user frames they all share, without those on the way into the
    module (its `__call__`, the wrappers of decorators on its `forward`) and a line of its
    `forward` itself: every operation on one line of the callee is called from the frame
    before. A callee of torch's own has no line among user frames."""
    frame_lists = [_user_frames(t) for t in dict.fromkeys(stack_traces) if t]  # the operations of a line share one
    if not frame_lists:
        return None
    common = frame_lists[0]
    for frames in frame_lists[1:]:
        n = 0
        while n < min(len(common), len(frames)) and common[n] == frames[n]:
            n += 1
        common = common[:n]
    forward, wrappers = _entered_by(callee)
    if common and forward is not None and _within(common[-1][0], common[-1][1], forward):
        common = common[:-1]
    while common and any(_within(common[-1][0], common[-1][1], code) for code in wrappers):
        common = common[:-1]
    return _formatted(common)


@functools.lru_cache(maxsize=1024)
def _entered_by(callee: type) -> tuple[CodeType | None, tuple[CodeType, ...]]:
    """The code of the `forward` of a module of class `callee` (decorators looked
    through), and the code a call runs on its way into it: the class's own `__call__`,
    the wrappers of decorators on `forward`."""
    functions = [getattr(callee, "forward", None)]
    while hasattr(functions[-1], "__wrapped__"):
        functions.append(functions[-1].__wrapped__)
    call = getattr(callee, "__call__", None)
    wrappers = functions[:-1] + ([call] if call is not None and call is not torch.nn.Module.__call__ else [])
    return getattr(functions[-1], "__code__", None), tuple(f.__code__ for f in wrappers if hasattr(f, "__code__"))


def stack_trace(frame: FrameType | None, known: dict[tuple[tuple[str, int, str], ...], str | None]) -> str | None:
    """The stack trace torch.fx records for a node made in `frame` (`record_stack_traces`),
    its user frames only: from the outermost `forward` inward, without torch's and fxgen's
    own frames, which nothing reads. Walked in Python and formatted once per list of
    frames (`known`, one trace's): torch's symbolized traceback took over half of tracing."""
    frames = []
    while frame is not None:
        frames.append((frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name))
        frame = frame.f_back
    frames.reverse()
    forward = next((i for i, (_, _, func) in enumerate(frames) if func == "forward"), None)
    if forward is None:  # as torch.fx: a node made outside any forward has no stack trace
        return None
    user = tuple(f for f in frames[forward:] if not _is_internal(f[0]))
    if user not in known:
        lines = [(file, line, func, linecache.getline(file, line).strip()) for file, line, func in user]
        known[user] = _formatted(lines)
    return known[user]


def _formatted(frames: Iterable[tuple[str, int, str, str]]) -> str | None:
    """Frames (file, line, function, code) as an FX stack trace, outermost first."""
    return "\n".join(f'  File "{file}", line {line}, in {func}\n    {code}' for file, line, func, code in frames) or None


@functools.lru_cache(maxsize=4096)
def _within(file: str, line: int, code: CodeType) -> bool:
    """Whether `file:line` is a line of `code` (cached: every call of a module asks about
    the same line)."""
    span = _lines(code)
    return span is not None and span[0] <= line <= span[1] and os.path.abspath(file) == os.path.abspath(code.co_filename)


@functools.lru_cache(maxsize=1024)
def _lines(code: CodeType) -> tuple[int, int] | None:
    """The first and last source line of a code object."""
    lines = [line for _, _, line in code.co_lines() if line is not None]
    return (min(lines), max(lines)) if lines else None


@functools.lru_cache(maxsize=4096)
def _user_frames(stack_trace: str) -> tuple[tuple[str, int, str, str], ...]:
    """The user frames of an FX stack trace (cached: every node of a graph asks, several times)."""
    lines = stack_trace.splitlines()
    frames = []
    for i, line in enumerate(lines):
        match = _FRAME.match(line)
        if match and not _is_internal(match["file"]):
            code = lines[i + 1].strip() if i + 1 < len(lines) and not _FRAME.match(lines[i + 1]) else ""
            frames.append((match["file"], int(match["line"]), match["func"], code))
    return tuple(frames)
