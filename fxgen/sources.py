"""Models and example inputs named as `module:attr`, as the CLI and `fxgen check` take them.

`module:attr` names an `nn.Module` instance, an `nn.Module` class constructible without
arguments, or a function of no arguments that returns a model (an `nn.Module`, a
GraphModule or an ExportedProgram). Modules are imported and models built after
`torch.manual_seed(0)`, so randomly initialised weights are the same in every run.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from typing import Any

import torch
from torch import nn

from fxgen.errors import SourceError

__all__ = ["build_model", "build_inputs", "resolve"]

SEED = 0


def resolve(reference: str) -> Any:
    """The object `module:attr` names (`attr` may be dotted), importing from the current
    folder first, as `python -m` does."""
    module_name, sep, attr = reference.partition(":")
    if not sep or not module_name or not attr:
        raise SourceError(f"{reference!r} is not MODULE:ATTR (for example mypkg.models:Net)")
    if "" not in sys.path:
        sys.path.insert(0, "")
    torch.manual_seed(SEED)  # a model made while its module is imported is seeded too
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise SourceError(f"cannot import {module_name!r} (from {reference!r}): {exc}") from exc
    except Exception as exc:  # the user's module raised while being imported
        raise SourceError(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}") from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise SourceError(f"{module_name!r} has no attribute {attr!r} (from {reference!r})")
        obj = getattr(obj, part)
    return obj


def build_model(reference: str) -> Any:
    """The model `reference` names: the instance, a new instance of the class, or what the
    factory returns, built after seeding torch's generator."""
    obj = resolve(reference)
    if _is_model(obj):
        return obj
    if not callable(obj):
        raise SourceError(
            f"{reference!r} is a {type(obj).__name__}, not a model: name an nn.Module instance, "
            "an nn.Module class constructible without arguments, or a function returning a model"
        )
    _needs_no_arguments(obj, reference, "a model")
    torch.manual_seed(SEED)
    try:
        model = obj()
    except Exception as exc:
        raise SourceError(f"building the model with {reference}() failed: {type(exc).__name__}: {exc}") from exc
    if not _is_model(model):
        raise SourceError(f"{reference}() returned a {type(model).__name__}, not an nn.Module or ExportedProgram")
    return model


def build_inputs(reference: str) -> Any:
    """The example inputs the function `reference` returns (called after seeding)."""
    function = resolve(reference)
    if not callable(function) or isinstance(function, (type, nn.Module)):
        raise SourceError(f"{reference!r} is not a function returning the example inputs")
    _needs_no_arguments(function, reference, "the example inputs")
    torch.manual_seed(SEED)
    try:
        inputs = function()
    except Exception as exc:
        raise SourceError(f"{reference}() failed: {type(exc).__name__}: {exc}") from exc
    return inputs if isinstance(inputs, tuple) else (inputs,)


def _is_model(obj: Any) -> bool:
    return isinstance(obj, (nn.Module, torch.export.ExportedProgram))


def _needs_no_arguments(obj: Any, reference: str, what: str) -> None:
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return
    required = [
        p.name
        for p in signature.parameters.values()
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if required:
        raise SourceError(
            f"{reference} needs arguments ({', '.join(required)}) to make {what}; "
            "name a zero-argument function that makes it instead"
        )
