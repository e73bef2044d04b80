"""The public entry points: the pipeline stages run in order.

    capture -> lower -> render -> format -> write (-> verify)
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from fxgen.capture import capture as capture_program
from fxgen.capture import normalize_inputs
from fxgen.errors import ExportError
from fxgen.format import Formatter, format_text
from fxgen.functional import TOLERANCE
from fxgen.lower import lower
from fxgen.program import Program
from fxgen.progress import stage
from fxgen.recipe import DEFAULTS as RECORDED_DEFAULTS
from fxgen.recipe import Recipe, describe_inputs, template_dirs_relative
from fxgen.render import (
    Style,
    available_styles,
    find_style,
    reads_statement_meta,
    render_program,
    writes_init_arguments,
)
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
    #: how the outputs compared: "exact", "within tolerance" (the functional style's
    #: attention fast path), or None when not verified
    comparison: str | None = None


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
    source: str | None = None,
    inputs_source: str | None = None,
    path: str | os.PathLike[str] | None = None,
) -> str:
    """The generated source for `obj`, without writing files.

    The text is what `export` writes, less the header line that records the weight
    file's hash. Without `path`, `formatter="auto"` uses black's defaults (there is no
    target project); `formatter=None` returns the unformatted render. `path`: the file the text is
    meant for (nothing is written there): its project's formatter settings are used, and
    template folders are recorded relative to it.
    """
    options = _Options.of(locals())
    chosen = find_style(style, template_dirs)
    target = Path(path) if path is not None else None
    with _collector_paused():
        program, _ = _program(obj, options, chosen, target)
        return _text(program, chosen, template_dirs, formatter, target)


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
    verify: bool = True,
    source: str | None = None,
    inputs_source: str | None = None,
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
    `verify=False` skips running the written file (the inputs still type and name values).

    The header records how the file was made, so `fxgen check` can make it again:
    `source` is the `module:attr` that makes `obj` (default: its class, where importable),
    `inputs_source` the `module:attr` of a function returning `example_inputs` (default:
    their shapes and dtypes are recorded).
    """
    options = _Options.of(locals())
    return write_prepared(_prepare(obj, Path(path), options), overwrite=overwrite, verify=verify)


@dataclass(frozen=True)
class Prepared:
    """A file `export` would write, not yet written: its text and weights."""

    code_path: Path
    style: Style
    text: str
    weights: bytes | None  #: the weight file's bytes (None for listings and pictures)
    example_inputs: Any
    original: Any  #: what was exported, to compare the written file with
    node_count: int
    capture: str
    approximate: bool  #: compared within `functional.TOLERANCE` (the functional style's attention)
    replay: Callable[[], Callable[..., Any]] | None  #: makes the captured program runnable (`Captured.replay`)
    plain_outputs: bool = False  #: written with `outputs="dict"`: dicts where the original returns objects


def prepare_export(obj: Any, path: str | os.PathLike[str], **options: Any) -> Prepared:
    """What `export(obj, path, **options)` would write, without writing anything."""
    arguments = inspect.signature(export).bind(obj, path, **options)
    arguments.apply_defaults()
    return _prepare(obj, Path(path), _Options.of(arguments.arguments))


def _prepare(obj: Any, code_path: Path, options: _Options) -> Prepared:
    chosen = find_style(options.style, options.template_dirs)
    if code_path.suffix != chosen.suffix:
        raise ExportError(f"the output path {str(code_path)!r} must end in {chosen.suffix} for the {options.style!r} style")
    if not code_path.parent.is_dir():
        raise ExportError(f"the folder of {str(code_path)!r} does not exist")
    with _collector_paused():
        program, replay = _program(obj, options, chosen, code_path)
        weights: bytes | None = None
        if chosen.python:
            stage("serializing the weights")
            weights = serialize_weights(program.weights)
            program.header.append(weights_header_line(code_path, weights))
        text = _text(program, chosen, options.template_dirs, options.formatter, code_path)
        approximate = program.functional is not None and program.functional.approximate
        prepared = Prepared(
            code_path, chosen, text, weights, options.example_inputs, program.original, program.node_count,
            program.capture, approximate, replay, options.outputs == "dict" and program.capture == "export",
        )
        del program  # freed while the collector is paused: the collection that follows has less to walk
    return prepared


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector paused while a program is built: it makes many small
    objects that reference counting frees, and each full collection walks the whole heap
    (about half the time of lowering a large graph)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def write_prepared(prepared: Prepared, *, overwrite: bool = False, verify: bool = True) -> ExportResult:
    """Write a prepared file and its weights together, verified first where it has
    example inputs; on any failure nothing is replaced."""
    code_path, style = prepared.code_path, prepared.style
    verified = verify and prepared.example_inputs is not None and style.python
    comparison: list[str] = []

    def check(pair: StagedPair) -> None:
        if verified:
            stage(f"verifying {code_path.name}")
            tolerance = TOLERANCE if prepared.approximate else None
            comparison.append(
                verify_file(
                    pair.staged_code, prepared.original, prepared.example_inputs, style.lowering, tolerance, code_path.name,
                    replay=prepared.replay, capture=prepared.capture, plain_outputs=prepared.plain_outputs,
                )
            )

    stage(f"writing {code_path.name}")
    staged_pair(code_path, prepared.text, prepared.weights, overwrite, check)
    return ExportResult(
        code_path=code_path,
        weights_path=code_path.with_suffix(".pt"),
        style=style.name,
        node_count=prepared.node_count,
        line_count=prepared.text.count("\n"),
        verified=verified,
        capture=prepared.capture,
        comparison=comparison[0] if comparison else None,
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
    template_dirs: Sequence[str | os.PathLike[str]]
    formatter: Formatter
    source: str | None
    inputs_source: str | None

    @classmethod
    def of(cls, arguments: dict[str, Any]) -> "_Options":
        """The options among a call's arguments."""
        return cls(**{f.name: arguments[f.name] for f in fields(cls)})


def _program(
    obj: Any, options: _Options, style: Style, code_path: Path | None
) -> tuple[Program, Callable[[], Callable[..., Any]] | None]:
    """The program to render, and what makes the captured program runnable (`Captured.replay`)."""
    stage(f"capturing ({options.capture})")
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
    stage(f"lowering {sum(1 for _ in captured.graph.nodes):,} nodes")
    program = lower(
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
        record_meta=reads_statement_meta(style, options.template_dirs),
        init_arguments=writes_init_arguments(style, options.template_dirs),
    )
    program.header.extend(_recipe(options, captured.source, captured.method, code_path).lines())
    return program, captured.replay


def _recipe(options: _Options, source: str | None, capture: str, code_path: Path | None) -> Recipe:
    """What the header records: enough for `fxgen check` to make the file again."""
    recorded = {name: getattr(options, name) for name in RECORDED_DEFAULTS}
    if not isinstance(options.formatter, (str, type(None))):
        recorded["formatter"] = "auto"  # a black.Mode object: the project's settings are used again
    recipe = Recipe(
        style=options.style,
        source=options.source or source,
        capture=capture,
        inputs_source=options.inputs_source,
        options={k: v for k, v in recorded.items() if not (type(v) is type(RECORDED_DEFAULTS[k]) and v == RECORDED_DEFAULTS[k])},
        templates=template_dirs_relative(list(options.template_dirs), code_path),
    )
    if options.example_inputs is not None and options.inputs_source is None:
        recipe.inputs = describe_inputs(options.example_inputs)
        if recipe.inputs is None:
            recipe.unrecorded.append("example_inputs")
    if options.dynamic_shapes is not None:
        recipe.unrecorded.append("dynamic_shapes")
    return recipe


def _text(
    program: Program,
    style: Style,
    template_dirs: Sequence[str | os.PathLike[str]],
    formatter: Formatter,
    path: Path | None,
) -> str:
    stage(f"rendering {program.node_count:,} nodes")
    text = render_program(program, style, template_dirs)
    if not style.python:
        return text  # a listing or a picture: written as rendered
    stage(f"formatting {text.count(chr(10)):,} lines")
    return format_text(text, formatter, path, f"the {style.name!r} render")
