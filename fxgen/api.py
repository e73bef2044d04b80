"""The public entry points: the pipeline stages run in order.

    capture -> lower -> render -> format -> write (-> verify)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Sequence

from fxgen.capture import capture as capture_program
from fxgen.capture import normalize_inputs
from fxgen.errors import ExportError
from fxgen.format import Formatter, check_syntax, format_text
from fxgen.functional import TOLERANCE
from fxgen.lower import lower
from fxgen.program import Program
from fxgen.render import Style, available_styles, find_style, render_program
from fxgen.verify import verify_file
from fxgen.write import StagedPair, serialize_weights, staged_pair, weights_header_line

__all__ = ["ExportResult", "export", "render", "styles"]


@dataclass(frozen=True)
class ExportResult:
    """What `export` wrote."""

    code_path: Path  #: the generated Python file
    weights_path: Path  #: the weight file beside it
    style: str  #: the style it was written in
    node_count: int  #: nodes in the captured graph
    line_count: int  #: lines in the code file
    verified: bool  #: whether outputs were compared with the original (needs example_inputs)
    capture: str = "fx"  #: how the program was captured: "fx" (symbolic tracing) or "export"


def styles(template_dirs: Sequence[str | os.PathLike[str]] = ()) -> dict[str, str]:
    """The styles fxgen can write, with a one-line description each (built-in styles and
    the user styles found in `template_dirs`)."""
    return available_styles(template_dirs)


def render(
    obj: Any,
    *,
    style: str = "module",
    template_dirs: Sequence[str | os.PathLike[str]] = (),
    formatter: Formatter = "auto",
    example_inputs: Any = None,
    class_name: str | None = None,
    drop_hooks: bool = False,
    capture: str = "fx",
    outputs: str = "original",
    hierarchy: bool = True,
    dynamic_shapes: Any = None,
    reuse_names: bool = True,
    source_comments: str | bool = "auto",
    mermaid_depth: int = 2,
) -> str:
    """The generated source for `obj`, without writing files.

    The text is what `export` writes, less the header line that records the weight
    file's hash. `formatter="auto"` uses black's defaults here (there is no target
    project); `formatter=None` returns the unformatted render.
    """
    options = _Options.of(locals())
    chosen = find_style(style, template_dirs)
    program = _program(obj, options, chosen)
    return _text(program, chosen, template_dirs, formatter, None)


def export(
    obj: Any,
    path: str | os.PathLike[str],
    *,
    style: str = "module",
    example_inputs: Any = None,
    class_name: str | None = None,
    template_dirs: Sequence[str | os.PathLike[str]] = (),
    formatter: Formatter = "auto",
    overwrite: bool = False,
    drop_hooks: bool = False,
    capture: str = "fx",
    outputs: str = "original",
    hierarchy: bool = True,
    dynamic_shapes: Any = None,
    reuse_names: bool = True,
    source_comments: str | bool = "auto",
    mermaid_depth: int = 2,
) -> ExportResult:
    """Write `obj` as a Python file at `path` with its weights beside it (`<stem>.pt`).

    With `example_inputs`, the written file is loaded in isolation, run, and compared
    exactly with `obj`; a mismatch raises `VerificationError` and nothing is replaced.
    `capture` is "fx" (symbolic tracing), "export" (`torch.export.export(strict=False)`,
    which needs `example_inputs`: a tuple, or an `(args, kwargs)` pair) or "auto" (fx, and
    export where fx fails); an ExportedProgram may also be passed as `obj`. `outputs="dict"`
    returns plain dicts instead of dataclass outputs (a torch-only file); `hierarchy=False`
    writes one flat `forward` instead of a class per module type. `dynamic_shapes` is passed
    to `torch.export.export` (sizes then read `x.size(0)` instead of a captured constant).
    `reuse_names=False` gives every value a name of its own (no `x = self.conv1(x)` chains).
    `source_comments`: "auto" labels each source line that became several statements with
    `# module:line  code`; True labels every line; False none. `mermaid_depth`: how many
    levels of submodules the mermaid style draws as boxes before collapsing them.
    """
    code_path = Path(path)
    options = _Options.of(locals())
    chosen = find_style(style, template_dirs)
    if code_path.suffix != chosen.suffix:
        raise ExportError(f"the output path {str(path)!r} must end in {chosen.suffix} for the {style!r} style")
    if not code_path.parent.is_dir():
        raise ExportError(f"the folder of {str(path)!r} does not exist")
    program = _program(obj, options, chosen)
    weights = serialize_weights(program.weights) if chosen.python else None
    if weights is not None:
        program.header.append(weights_header_line(code_path, weights))
    text = _text(program, chosen, template_dirs, formatter, code_path)
    verified = example_inputs is not None and chosen.python

    def check(pair: StagedPair) -> None:
        if verified:
            approximate = program.functional is not None and program.functional.approximate
            tolerance = TOLERANCE if approximate else None
            verify_file(pair.staged_code, program.original, example_inputs, chosen.lowering, tolerance)

    staged_pair(code_path, text, weights, overwrite, check)
    return ExportResult(
        code_path=code_path,
        weights_path=code_path.with_suffix(".pt"),
        style=style,
        node_count=program.node_count,
        line_count=text.count("\n"),
        verified=verified,
        capture=program.capture,
    )


@dataclass(frozen=True)
class _Options:
    """The options of `export`/`render` that shape the program."""

    style: str
    example_inputs: Any
    class_name: str | None
    drop_hooks: bool
    capture: str
    outputs: str
    hierarchy: bool
    dynamic_shapes: Any
    reuse_names: bool
    source_comments: str | bool
    mermaid_depth: int

    @classmethod
    def of(cls, arguments: dict[str, Any]) -> "_Options":
        """The options among a call's arguments."""
        return cls(**{f.name: arguments[f.name] for f in fields(cls)})


def _program(obj: Any, options: _Options, style: Style) -> Program:
    captured = capture_program(
        obj,
        method=options.capture,
        example_inputs=options.example_inputs,
        drop_hooks=options.drop_hooks,
        outputs=options.outputs,
        dynamic_shapes=options.dynamic_shapes,
    )
    inputs = options.example_inputs
    args, kwargs = normalize_inputs(inputs) if inputs is not None else (None, None)
    return lower(
        captured,
        style=options.style,
        lowering=style.lowering,
        class_name=options.class_name,
        example_inputs=args,
        example_kwargs=kwargs,
        hierarchy=options.hierarchy,
        reuse_names=options.reuse_names,
        source_comments=options.source_comments,
        mermaid_depth=options.mermaid_depth,
    )


def _text(
    program: Program,
    style: Style,
    template_dirs: Sequence[str | os.PathLike[str]],
    formatter: Formatter,
    path: Path | None,
) -> str:
    text = render_program(program, style, template_dirs)
    if not style.python:
        return text  # a listing or a picture: written as rendered
    check_syntax(text, f"the {style.name!r} render")
    return format_text(text, formatter, path)
