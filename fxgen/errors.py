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
    """A template failed to render; the message names the template file and line."""


class FormatError(FxgenError):
    """The formatter rejected the rendered text or its configuration."""
