"""Verify: run the generated file and the original on the same inputs and compare exactly.

"Exact" (DESIGN.md): the same output structure and container types; the same dtype,
shape and device for every tensor; equal values, NaN equal to NaN. Both sides run under
the caller's grad mode, reseeded just before running, on their own copies of the inputs.
"""

from __future__ import annotations

import functools
import math
import os
from typing import Any, Callable

import torch
from torch.utils import _pytree as pytree

from fxgen.capture import normalize_inputs
from fxgen.errors import VerificationError
from fxgen.loader import import_isolated

__all__ = ["verify_file", "run_seeded", "first_difference"]

SEED = 0


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
) -> None:
    """Load the file at `path` in isolation and compare it with `original` on the inputs
    (exactly, or within `tolerance` where the file says it is approximate)."""
    args, kwargs = normalize_inputs(example_inputs)
    module = import_isolated(path)
    if lowering == "functional":
        state = module.load_state()
        generated = functools.partial(module.forward, state)
    else:
        generated = module.load()
    buffers = _snapshot_buffers(original)
    try:
        expected = run_seeded(original, args, kwargs)
    finally:
        _restore_buffers(buffers)
    actual = run_seeded(generated, args, kwargs)
    diff = first_difference(expected, actual, tolerance=tolerance)
    if diff is not None:
        raise VerificationError(
            f"the generated file {os.path.basename(path)} does not reproduce the original: {diff}. "
            "Please report this as an fxgen bug, with the model."
        )


def first_difference(
    expected: Any, actual: Any, where: str = "output", tolerance: dict[str, float] | None = None
) -> str | None:
    """Where and how `actual` first differs from `expected`, or None when they are exact
    (or, with `tolerance`, tensors agree within `torch.isclose(rtol, atol)`)."""
    if type(expected) is not type(actual):
        return f"{where} is {type(actual).__qualname__}, expected {type(expected).__qualname__}"
    if isinstance(expected, torch.Tensor):
        return _tensor_difference(expected, actual, where, tolerance)
    if isinstance(expected, (list, tuple)):
        if len(expected) != len(actual):
            return f"{where} has {len(actual)} items, expected {len(expected)}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            diff = first_difference(e, a, f"{where}[{i}]", tolerance)
            if diff:
                return diff
        return None
    if isinstance(expected, dict):
        if list(expected) != list(actual):
            return f"{where} has keys {list(actual)}, expected {list(expected)}"
        for key in expected:
            diff = first_difference(expected[key], actual[key], f"{where}[{key!r}]", tolerance)
            if diff:
                return diff
        return None
    if isinstance(expected, float) and math.isnan(expected) and math.isnan(actual):
        return None
    if hasattr(expected, "__dict__") and not isinstance(expected, type):
        return first_difference(vars(expected), vars(actual), where, tolerance)
    return None if expected == actual else f"{where} is {actual!r}, expected {expected!r}"


def _tensor_difference(
    expected: torch.Tensor, actual: torch.Tensor, where: str, tolerance: dict[str, float] | None
) -> str | None:
    for attr in ("dtype", "shape", "device", "layout"):
        if getattr(expected, attr) != getattr(actual, attr):
            return f"{where} has {attr} {getattr(actual, attr)}, expected {getattr(expected, attr)}"
    e, a = expected.detach(), actual.detach()
    if e.is_sparse:
        e, a = e.to_dense(), a.to_dense()
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


def _snapshot_buffers(module: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Buffers a forward may update in place (batch-norm statistics), to put back after."""
    if not isinstance(module, torch.nn.Module):
        return []
    return [(b, b.detach().clone()) for b in module.buffers() if b is not None]


def _restore_buffers(saved: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    with torch.no_grad():
        for buffer, value in saved:
            buffer.copy_(value)
