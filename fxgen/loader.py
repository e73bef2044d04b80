"""Importing generated files in isolation, and `fxgen.load`."""

from __future__ import annotations

import importlib.util
import itertools
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from torch import nn

from fxgen.errors import LoadError

__all__ = ["import_isolated", "load"]

_counter = itertools.count()


def import_isolated(path: str | os.PathLike[str]) -> ModuleType:
    """Import a generated file under a fresh module name, sharing nothing with earlier imports.

    The module stays in `sys.modules` under that unique name, because TorchScript and
    pickling look classes up there.
    """
    path = Path(path)
    name = f"_fxgen_generated_{path.stem.replace('.', '_').replace('-', '_')}_{os.getpid()}_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LoadError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load(path: str | os.PathLike[str], map_location: Any = "cpu") -> nn.Module:
    """Import the generated file at `path` in isolation and return its `load()` result."""
    module = import_isolated(path)
    loader = getattr(module, "load", None)
    if not callable(loader):
        raise LoadError(f"{path} has no load() function; is it an fxgen module-style file?")
    return loader(map_location=map_location)
