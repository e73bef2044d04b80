"""What the fuzzer demands of one program, in every style.

A code style's file must parse, be black-stable, load in isolation and give the eager
outputs bit for bit; or fxgen raises a typed `FxgenError`. Each code style captures with
`capture="auto"` (torch.fx where it traces) and the default options, and the module
style once more with torch.export, whose graphs reach the hierarchy split by another
road (`nn_module_stack`, ATen operations, lifted parameters), with the program's drawn
options (`hierarchy`, `reuse_names`, `source_comments`). A listing or picture style
renders or raises an `FxgenError`. Where the generated file differs from eager, torch's
own module of the capture is the reference (torch.fx's GraphModule, torch.export's
`module()`): if it differs too, the case is torch's (counted, not a failure). Anything
else is a failure: a crash, invalid Python, unstable formatting, a silently different
result.
"""

from __future__ import annotations

import ast
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import black
import torch
from torch import fx, nn

import fxgen
from fxgen.verify import first_difference
from tests.conformance.roundtrip import load_generated, run_quietly

CODE_STYLES = ("module", "functional", "script")
#: the exports checked: (label in the outcomes, style, capture, with the program's drawn options)
EXPORTS = (
    *((style, style, "auto", False) for style in CODE_STYLES),
    ("module, torch.export, drawn options", "module", "export", True),
)
OTHER_STYLES = ("ir", "mermaid")

EXACT, TYPED_ERROR, OUTSIDE = "exact", "FxgenError", "outside fxgen"


def check_program(
    module: nn.Module, inputs: tuple[Any, ...], folder: Path, outcomes: Counter, options: dict[str, Any] | None = None
) -> list[str]:
    """The failures of one program over every style (empty when it holds); counts the
    outcomes per export in `outcomes`. `options`: keywords for the exports that take the
    program's drawn options."""
    expected = run_quietly(module, inputs)
    failures = []
    for label, style, capture, drawn in EXPORTS:
        outcome = _code_style(module, inputs, folder, style, capture, (options or {}) if drawn else {}, expected)
        if outcome not in (EXACT, TYPED_ERROR, OUTSIDE):
            failures.append(f"{label}: {outcome}")
        outcomes[label, outcome if outcome in (EXACT, TYPED_ERROR, OUTSIDE) else "FAILED"] += 1
    for style in OTHER_STYLES:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fxgen.render(module, style=style, example_inputs=inputs, capture="auto")
        except fxgen.FxgenError:
            pass
        except Exception as exc:
            failures.append(f"{style}: crash {type(exc).__name__}: {exc}")
    return failures


def _code_style(
    module: nn.Module, inputs: tuple[Any, ...], folder: Path, style: str, capture: str, options: dict[str, Any], expected: Any
) -> str:
    path = folder / f"fuzzed_{style}.py"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fxgen.export(
                module, path, style=style, example_inputs=inputs, capture=capture, verify=False, overwrite=True, **options
            )
    except fxgen.FxgenError:
        return TYPED_ERROR
    except Exception as exc:
        return f"crash {type(exc).__name__}: {exc}"
    text = path.read_text(encoding="utf-8")
    try:
        ast.parse(text)
    except SyntaxError as exc:
        return f"invalid Python: {exc}"
    if black.format_str(text, mode=black.Mode()) != text:
        return "not black-stable"
    try:
        actual = run_quietly(load_generated(path, style), inputs)
    except Exception as exc:
        return f"the written file fails: {type(exc).__name__}: {exc}"
    if first_difference(expected, actual) is None:
        return EXACT
    if _torch_differs(module, inputs, capture, expected):
        return OUTSIDE
    return f"silently different: {first_difference(expected, actual)}"


def _torch_differs(module: nn.Module, inputs: tuple[Any, ...], capture: str, expected: Any) -> bool:
    """Whether eager itself, or torch's own module of the capture (torch.fx's GraphModule,
    torch.export's `module()`), does not reproduce eager."""
    if first_difference(expected, run_quietly(module, inputs)) is not None:
        return True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            captured = torch.export.export(module, inputs).module() if capture == "export" else fx.symbolic_trace(module)
        return first_difference(expected, run_quietly(captured, inputs)) is not None
    except Exception:
        return True
