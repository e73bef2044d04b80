"""Verify: run the generated file and the original on the same inputs and compare exactly.

"Exact" (DESIGN.md): the same output structure and container types; the same dtype,
shape and device for every tensor; equal values, NaN equal to NaN. Both sides run under
the caller's grad mode, reseeded just before running, on their own copies of the inputs.
Where the generated file differs, the original is run once more: if it does not
reproduce itself either (uninitialised memory, an unseeded random source, Python state
that changes between calls), the error says so; `export(verify=False)` writes such a
model anyway. Else the captured program itself is run: where the file reproduces it
exactly, the capture is what differs from the original (a model that computes something
else while traced), and the error says that instead of blaming the file.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import math
import os
from typing import Any, Callable, Iterator

import torch
from torch.fx.immutable_collections import immutable_dict, immutable_list
from torch.utils import _pytree as pytree

from fxgen.capture import normalize_inputs, put_back
from fxgen.errors import VerificationError
from fxgen.loader import import_isolated
from fxgen.unlift import with_plain_dicts

__all__ = ["verify_file", "run_seeded", "first_difference", "EXACT", "WITHIN_TOLERANCE"]

SEED = 0

#: how a file compared with its original (`ExportResult.comparison`)
EXACT = "exact"
WITHIN_TOLERANCE = "within tolerance"


def run_seeded(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """`fn(*args, **kwargs)` on cloned inputs, right after reseeding torch."""
    args, kwargs = pytree.tree_map_only(torch.Tensor, lambda t: t.clone(), (args, kwargs))
    torch.manual_seed(SEED)
    return fn(*args, **kwargs)


def verify_file(
    path: str | os.PathLike[str],
    original: Any,
    example_inputs: Any,
    lowering: str = "module",
    tolerance: dict[str, float] | None = None,
    name: str | None = None,
    *,
    replay: Callable[[], Callable[..., Any]] | None = None,
    capture: str = "fx",
    plain_outputs: bool = False,
) -> str:
    """Load the file at `path` in isolation and compare it with `original` on the inputs
    (exactly, or within `tolerance` where the file says it is approximate). Returns how
    it compared: EXACT or WITHIN_TOLERANCE. `name` is the file's name in messages (`path`
    may be staged); `replay` makes the captured program runnable (`Captured.replay`),
    captured by `capture` ("fx" or "export"); with `plain_outputs`, the file was written
    with `outputs="dict"`."""
    name = name or os.path.basename(path)
    args, kwargs = normalize_inputs(example_inputs)

    def outputs_of(run: Any = None) -> Any:
        """What `run` (by default the original) returns, as the file was asked to return it."""
        value = _run_original(original, args, kwargs, run=run)
        return with_plain_dicts(value) if plain_outputs else value

    expected = outputs_of()
    with _fails_as_verification(name):
        module = import_isolated(path)
        if lowering == "functional":
            generated: Callable[..., Any] = functools.partial(module.forward, module.load_state())
        else:
            generated = module.load()
        actual = run_seeded(generated, args, kwargs)
    diff = first_difference(expected, actual)
    if diff is None:
        return EXACT
    if tolerance is not None and first_difference(expected, actual, tolerance=tolerance) is None:
        return WITHIN_TOLERANCE
    unstable = first_difference(expected, outputs_of())
    if unstable is not None:
        raise VerificationError(
            f"the generated file {name} differs from the original ({diff}), but so does the "
            f"original from itself when run again under the same seed ({unstable}): it returns "
            "uninitialised memory (torch.empty), draws from an unseeded random source, or "
            "depends on Python state that changes between calls. Make it deterministic, or "
            "pass verify=False to write it without comparing."
        )
    if capture == "fx" and first_difference(_as_traced(expected), actual, tolerance=tolerance) is None:
        raise VerificationError(
            f"the generated file {name} returns the original's values, but {diff}: torch.fx records the "
            "OrderedDict the model returns as a plain dict. Capture it with torch.export "
            "(capture='export'), which keeps it, or return a dict."
        )
    if _reproduces_capture(actual, replay, outputs_of, tolerance):
        tracer = "torch.export" if capture == "export" else "torch.fx"
        raise VerificationError(
            f"the generated file {name} does not reproduce the original ({diff}), but it reproduces "
            f"exactly the program {tracer} captured from it: the capture is what differs. The model does "
            "not compute the same while traced as when run (code that asks whether it is traced or "
            "compiled; transformers models with SDPA attention, for one, build their attention mask only "
            'while traced: attn_implementation="eager" avoids it). Make it compute the same while '
            "traced, or pass verify=False to write the captured program as it is."
        )
    raise VerificationError(
        f"the generated file {name} does not reproduce the original: {diff}. "
        "Please report this as an fxgen bug, with the model."
    )


def _reproduces_capture(
    actual: Any,
    replay: Callable[[], Callable[..., Any]] | None,
    outputs_of: Callable[[Any], Any],
    tolerance: dict[str, float] | None,
) -> bool:
    """Whether the file's outputs (`actual`) are the captured program's, run as the
    original was (`outputs_of`)."""
    if replay is None:
        return False
    try:
        captured = outputs_of(replay())
    except Exception:  # a capture that cannot run again tells nothing
        return False
    return first_difference(_as_traced(captured), actual, tolerance=tolerance) is None


def _as_traced(value: Any) -> Any:
    """`value` with the containers torch.fx records as plain ones made plain: its own
    immutable dict and list, and an `OrderedDict` the traced code built."""
    kind = type(value)
    if kind in (dict, immutable_dict, collections.OrderedDict):
        return {k: _as_traced(v) for k, v in value.items()}
    if kind in (list, immutable_list):
        return [_as_traced(v) for v in value]
    if kind is tuple:
        return tuple(_as_traced(v) for v in value)
    return value


@contextlib.contextmanager
def _fails_as_verification(name: str) -> Iterator[None]:
    """An exception while loading or running the generated file: a `VerificationError`."""
    try:
        yield
    except Exception as exc:
        raise VerificationError(
            f"the generated file {name} fails where the original runs: {type(exc).__name__}: {exc}. "
            "Please report this as an fxgen bug, with the model; pass verify=False to write it anyway."
        ) from exc


def _run_original(original: Any, args: tuple[Any, ...], kwargs: dict[str, Any], run: Any = None) -> Any:
    """The outputs of `run` (by default the original itself), with the buffers the
    original's forward updates put back after (a replayed capture runs its modules too)."""
    with put_back(original.buffers() if isinstance(original, torch.nn.Module) else ()):
        return run_seeded(original if run is None else run, args, kwargs)


def first_difference(
    expected: Any,
    actual: Any,
    where: str = "output",
    tolerance: dict[str, float] | None = None,
    values: bool = True,
) -> str | None:
    """Where and how `actual` first differs from `expected`, or None when they are exact
    (with `tolerance`: tensors agree within `torch.isclose(rtol, atol)`; with
    `values=False`: tensors agree in dtype, shape, device and layout)."""
    if type(expected) is not type(actual):
        return f"{where} is {type(actual).__qualname__}, expected {type(expected).__qualname__}"
    if isinstance(expected, torch.Tensor):
        return _tensor_difference(expected, actual, where, tolerance, values)
    if isinstance(expected, (list, tuple)):
        if len(expected) != len(actual):
            return f"{where} has {len(actual)} items, expected {len(expected)}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            diff = first_difference(e, a, f"{where}[{i}]", tolerance, values)
            if diff:
                return diff
        return None
    if isinstance(expected, dict):
        if list(expected) != list(actual):
            return f"{where} has keys {list(actual)}, expected {list(expected)}"
        for key in expected:
            diff = first_difference(expected[key], actual[key], f"{where}[{key!r}]", tolerance, values)
            if diff:
                return diff
        return None
    if isinstance(expected, float) and math.isnan(expected) and math.isnan(actual):
        return None
    if hasattr(expected, "__dict__") and not isinstance(expected, type):
        return first_difference(vars(expected), vars(actual), where, tolerance, values)
    return None if expected == actual else f"{where} is {actual!r}, expected {expected!r}"


#: dtypes CPU kernels cannot compare, and a dtype that holds each of their values exactly
_WIDENED = {torch.complex32: torch.complex64, torch.float8_e4m3fn: torch.float32, torch.float8_e5m2: torch.float32}


def _tensor_difference(
    expected: torch.Tensor, actual: torch.Tensor, where: str, tolerance: dict[str, float] | None, values: bool
) -> str | None:
    for attr in ("dtype", "shape", "device", "layout"):
        if getattr(expected, attr) != getattr(actual, attr):
            return f"{where} has {attr} {getattr(actual, attr)}, expected {getattr(expected, attr)}"
    if not values:
        return None
    e, a = expected.detach(), actual.detach()
    if e.layout != torch.strided:  # sparse COO, CSR, ...
        e, a = e.to_dense(), a.to_dense()
    if e.dtype in _WIDENED:  # no CPU comparison kernels: compare the exact wider values
        e, a = e.to(_WIDENED[e.dtype]), a.to(_WIDENED[e.dtype])
    if torch.equal(e, a):
        return None
    if tolerance is not None and (e.is_floating_point() or e.is_complex()):
        same = torch.isclose(e, a, equal_nan=True, **tolerance)
    else:
        same = e == a
    if e.is_floating_point() or e.is_complex():
        same |= torch.isnan(e) & torch.isnan(a)
    if bool(same.all()):
        return None
    index = tuple(int(i) for i in (~same).nonzero()[0])
    return f"{where}{list(index)} is {a[index].item()!r}, expected {e[index].item()!r}"
