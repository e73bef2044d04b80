"""The errors fxgen raises for failures a user can cause.

Every message names what failed (the node, and the user's source line where the graph
records it) and what to do instead.
"""

from __future__ import annotations

__all__ = [
    "FxgenError",
    "CaptureError",
    "ExportError",
    "VerificationError",
    "TemplateError",
    "FormatError",
    "SourceError",
    "InputSpecError",
    "CheckError",
    "LoadError",
]


class FxgenError(Exception):
    """Base class of every error fxgen raises on purpose."""


class CaptureError(FxgenError):
    """The program could not be captured into a graph."""


class ExportError(FxgenError):
    """The captured program cannot be written as faithful source code."""


class VerificationError(FxgenError):
    """The generated file does not reproduce the original program exactly."""


class TemplateError(FxgenError):
    """A style or template folder is wrong (unknown style, missing folder), or a template
    failed to render; the message names the template file and line."""


class FormatError(FxgenError):
    """The formatter rejected the rendered text or its configuration."""


class SourceError(FxgenError):
    """A `module:attr` (CLI, `fxgen check`) that does not name a model or example inputs."""


class InputSpecError(FxgenError):
    """An example-input spec (`2x16:int64`) that cannot be read."""


class CheckError(FxgenError):
    """A generated file that `fxgen check` cannot make again (no recorded source, or a
    header that could not record everything)."""


class LoadError(FxgenError):
    """`fxgen.load` was given a file that is not an fxgen module-style file."""
