"""One round trip of the conformance sweeps: capture, export, load in isolation, compare.

A subject (a module and its inputs) goes through fxgen in every capture and code style:
the written file must parse, load under a fresh module name and give the eager outputs
bit for bit (dtype and shape only where the values are undefined, as for `torch.empty`).
Where it does not, the references that do not involve fxgen decide whose failure it is:
eager must reproduce itself under a fixed seed, and the capture must reproduce eager
(torch.fx's own GraphModule, or the ExportedProgram's module). If one of them fails, the
case is classified as outside fxgen, with that reason; otherwise it is an fxgen failure.
"""

from __future__ import annotations

import ast
import functools
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import fx, nn
from torch.utils import _pytree as pytree

import fxgen
from fxgen.loader import import_isolated
from fxgen.verify import first_difference, run_seeded

STYLES = ("module", "functional")
CAPTURES = ("fx", "export")

#: a further check of a written file: (style, what it loads as, its text) -> what is wrong
Inspect = Callable[[str, Any, str], "str | None"]

EXACT = "exact"  #: bit for bit
SHAPES = "dtype and shape"  #: values undefined (uninitialised memory): compared on metadata
OUTSIDE = "outside fxgen"  #: a reference fails: eager, torch.fx or torch.export
FAILED = "fxgen failure"


@dataclass(frozen=True)
class Result:
    subject: str  #: "add[0]": the operator or module and its sample
    capture: str
    style: str
    outcome: str  #: EXACT, SHAPES, OUTSIDE or FAILED
    detail: str = ""  #: why, for OUTSIDE and FAILED

    @property
    def passed(self) -> bool:
        return self.outcome in (EXACT, SHAPES, OUTSIDE)


INPUT = object()  #: marks where a sample's tensor (an input of the module) goes


class SampleCall(nn.Module):
    """Calls a function or a child module on one sample: the sample's tensors are the
    inputs (`x0, x1, ...`), everything else is a constant."""

    def __init__(self, callee: Callable[..., Any], spec: pytree.TreeSpec, constants: list[Any]) -> None:
        super().__init__()
        if isinstance(callee, nn.Module):
            self.module = callee  # a child: a `call_module` of the captured graph
        else:
            self.function = callee
        self.spec = spec
        self.constants = constants  # the sample's leaves, INPUT where an input goes

    def call(self, *tensors: torch.Tensor) -> Any:
        supplied = iter(tensors)
        leaves = [next(supplied) if leaf is INPUT else leaf for leaf in self.constants]
        args, kwargs = pytree.tree_unflatten(leaves, self.spec)
        callee = self.module if hasattr(self, "module") else self.function
        return callee(*args, **kwargs)


_FORWARDS: dict[int, Callable[..., Any]] = {}


def _forward(arity: int) -> Callable[..., Any]:
    """`forward(self, x0, ..., x{arity-1})`: tracers need named positional parameters."""
    if arity not in _FORWARDS:
        names = ", ".join(f"x{i}" for i in range(arity))
        namespace: dict[str, Any] = {}
        exec(f"def forward(self, {names}):\n    return self.call({names})\n", namespace)
        _FORWARDS[arity] = namespace["forward"]
    return _FORWARDS[arity]


def sample_call(callee: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """A module calling `callee(*args, **kwargs)`, and its inputs: the tensors in them."""
    leaves, spec = pytree.tree_flatten((list(args), dict(kwargs)))
    tensors = tuple(leaf for leaf in leaves if isinstance(leaf, torch.Tensor))
    constants = [INPUT if isinstance(leaf, torch.Tensor) else leaf for leaf in leaves]
    cls = type("SampleCall", (SampleCall,), {"forward": _forward(len(tensors)), "__module__": __name__})
    return cls(callee, spec, constants), tensors


def load_generated(path: Path, style: str) -> Callable[..., Any]:
    """A written file as a callable, imported in isolation: the module style's (and the
    script style's) `load()`, or the functional `forward` bound to its `load_state()`."""
    loaded = import_isolated(path)
    return functools.partial(loaded.forward, loaded.load_state()) if style == "functional" else loaded.load()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200] if text else ''}".rstrip(": ")


def run_quietly(fn: Any, inputs: tuple[Any, ...]) -> Any:
    """`fn(*inputs)` reseeded, as verification runs it, with warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_seeded(fn, inputs, {})


def _reference(module: nn.Module, inputs: tuple[Any, ...], capture: str, expected: Any, values: bool) -> str | None:
    """Why `capture` itself does not reproduce eager, or None when it does."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if capture == "fx":
                captured: Any = fx.symbolic_trace(module)
            else:
                captured = torch.export.export(module, inputs, strict=False).module()
    except Exception as exc:
        tool = "torch.fx cannot trace it" if capture == "fx" else "torch.export cannot capture it"
        return f"{tool}: {_first_line(exc)}"
    try:
        actual = run_quietly(captured, inputs)
    except Exception as exc:
        return f"the {capture} capture fails to run: {_first_line(exc)}"
    diff = first_difference(expected, actual, values=values)
    if diff is not None:
        what = "torch.fx's GraphModule" if capture == "fx" else "the ExportedProgram's module"
        return f"{what} differs from eager: {diff}"
    return None


def round_trip(
    name: str,
    module: nn.Module,
    inputs: tuple[Any, ...],
    folder: Path,
    values: bool = True,
    traced: nn.Module | None = None,
    inspect: Inspect | None = None,
) -> list[Result]:
    """Every capture and style of one subject. `values=False`: its outputs are undefined
    memory (compared on dtype and shape). `traced`: what torch.fx's reference traces
    (default: `module`). `inspect(style, loaded, text)`: a further check of the written
    file, returning what is wrong or None."""
    try:
        expected = run_quietly(module, inputs)
    except Exception as exc:
        return [Result(name, c, s, OUTSIDE, f"eager fails: {_first_line(exc)}") for c in CAPTURES for s in STYLES]
    results = []
    for capture in CAPTURES:
        reasons: list[str | None] = []  # the reference outcome, computed once if needed
        for style in STYLES:
            result = _export(name, module, inputs, folder, capture, style, expected, values, inspect)
            if result.outcome == FAILED:
                if not reasons:
                    reasons.append(_outside_reason(module, traced or module, inputs, capture, expected, values))
                if reasons[0] is not None:
                    result = Result(name, capture, style, OUTSIDE, reasons[0])
            results.append(result)
    return results


def _outside_reason(
    module: nn.Module, traced: nn.Module, inputs: tuple[Any, ...], capture: str, expected: Any, values: bool
) -> str | None:
    """Why eager or the capture itself does not reproduce eager, or None when they do."""
    if values and first_difference(expected, run_quietly(module, inputs)) is not None:
        return "eager does not reproduce itself under a fixed seed"
    return _reference(traced if capture == "fx" else module, inputs, capture, expected, values)


def _export(
    name: str,
    module: nn.Module,
    inputs: tuple[Any, ...],
    folder: Path,
    capture: str,
    style: str,
    expected: Any,
    values: bool,
    inspect: Inspect | None,
) -> Result:
    path = folder / f"{name.translate(str.maketrans('.[]', '___'))}_{capture}_{style}.py"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fxgen.export(module, path, style=style, example_inputs=inputs, capture=capture, verify=values, overwrite=True)
    except fxgen.FxgenError as exc:
        return Result(name, capture, style, FAILED, _first_line(exc))
    except Exception as exc:  # not an FxgenError: a crash
        return Result(name, capture, style, FAILED, f"crash: {_first_line(exc)}")
    text = path.read_text()
    try:
        ast.parse(text)
    except SyntaxError as exc:
        return Result(name, capture, style, FAILED, f"invalid Python: {exc}")
    try:
        generated = load_generated(path, style)
        actual = run_quietly(generated, inputs)
    except Exception as exc:
        return Result(name, capture, style, FAILED, f"the written file fails: {_first_line(exc)}")
    diff = first_difference(expected, actual, values=values)
    if diff is not None:
        return Result(name, capture, style, FAILED, f"silently different: {diff}")
    wrong = inspect(style, generated, text) if inspect is not None and capture == "fx" else None
    if wrong is not None:
        return Result(name, capture, style, FAILED, wrong)
    return Result(name, capture, style, EXACT if values else SHAPES)
