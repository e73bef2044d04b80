"""fxgen: turn PyTorch programs into readable, runnable Python source.

    import fxgen
    fxgen.export(model, "model_gen.py", example_inputs=(x,))  # model_gen.py + model_gen.pt
    model = fxgen.load("model_gen.py")
"""

from fxgen.api import ExportResult, export, render, styles
from fxgen.dynamo import dynamo_backend
from fxgen.errors import (
    CaptureError,
    CheckError,
    ExportError,
    FormatError,
    FxgenError,
    InputSpecError,
    LoadError,
    SourceError,
    TemplateError,
    VerificationError,
)
from fxgen.loader import load

__all__ = [
    "export",
    "render",
    "load",
    "styles",
    "dynamo_backend",
    "ExportResult",
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
