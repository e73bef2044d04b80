"""Progress on a terminal: one status line that long operations rewrite, and nothing at
all when stderr is not a terminal (CI logs, pipes, tests).

The pipeline reports its stages with `stage("formatting 12,345 lines")`; nothing is shown
unless a caller (the CLI) has opened a `Progress` around it.
"""

from __future__ import annotations

import contextvars
import sys
from contextlib import contextmanager
from typing import IO, Iterator

__all__ = ["Progress", "stage", "showing"]

_CURRENT: contextvars.ContextVar["Progress | None"] = contextvars.ContextVar("fxgen_progress", default=None)


class Progress:
    """A status line on `stream`, shown only when it is a terminal (or `enabled=True`)."""

    def __init__(self, stream: IO[str] | None = None, enabled: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._shown = False
        self.prefix = ""

    def show(self, text: str) -> None:
        if self.enabled:
            self.stream.write(f"\r\x1b[K{self.prefix}{text}")
            self.stream.flush()
            self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False


@contextmanager
def showing(progress: Progress) -> Iterator[Progress]:
    """Report the pipeline's stages on `progress` inside the block; clear it after."""
    token = _CURRENT.set(progress)
    try:
        yield progress
    finally:
        _CURRENT.reset(token)
        progress.clear()


def stage(text: str) -> None:
    """Report a stage of the pipeline to the progress line, if one is open."""
    progress = _CURRENT.get()
    if progress is not None:
        progress.show(text)
