"""Lowered classes reused across module calls whose lowering reads the same things.

A model with N equal layers gives N units of equal code; lowering each costs as much
as the first. `lower` keys each unit by everything its lowering reads (nodes, their
arguments and metadata, the module tree's code) and lowers a key once. Keys are exact:
a value the key cannot hold makes the unit unkeyed, and it is lowered as usual. The
test run lowers every reused unit again and compares (tests/reuse_identity.py).
"""

from __future__ import annotations

import enum
import functools
from typing import Any, Callable

import torch
from torch import fx
from torch.fx.immutable_collections import immutable_dict, immutable_list

from fxgen.program import ClassDef, Statement

__all__ = ["ClassReuse", "EXACT_KINDS", "Unkeyable", "argument_key", "code_key", "shape_key", "value_key"]


class Unkeyable(Exception):
    """A value that a reuse key cannot hold exactly."""


#: the key of empty keyword arguments
_NO_KWARGS = (immutable_dict, ())
#: values that equal each other only when generated code writes them alike
EXACT_KINDS = frozenset({bool, int, str, type(None), type(...), torch.dtype, torch.device, torch.layout, torch.memory_format})


def argument_key(value: Any, index: dict[fx.Node, int]) -> Any:
    """A node argument as a hashable key: graph values by position, literals exactly
    (floats by repr: `0.0 == -0.0`, but they print differently)."""
    kind = type(value)
    if kind is fx.Node:
        return ("node", index[value])
    if kind in EXACT_KINDS:
        return (kind, value)
    if kind is tuple or kind is immutable_list:  # the common containers, first
        return (kind, tuple([argument_key(v, index) for v in value]))
    if kind is immutable_dict and not value:  # most nodes' kwargs
        return _NO_KWARGS
    if isinstance(value, fx.Node):
        return ("node", index[value])
    if isinstance(value, enum.Enum):
        return (kind, value)
    if kind in (float, complex):
        return (kind, repr(value))
    if isinstance(value, (tuple, list)):  # named tuples: the kind tells
        return (kind, tuple([argument_key(v, index) for v in value]))
    if isinstance(value, dict):
        return (kind, tuple([(argument_key(k, index), argument_key(v, index)) for k, v in value.items()]))
    if kind is slice:
        return (kind, argument_key(value.start, index), argument_key(value.stop, index), argument_key(value.step, index))
    raise Unkeyable(kind.__name__)


def value_key(value: Any) -> Any:
    """What lowering reads of a node's recorded value (`meta["val"]`): its kind, and for
    tensors shape, dtype and device."""
    if isinstance(value, torch.Tensor):
        return (type(value), shape_key(value.shape), value.dtype, value.device)
    if type(value) in (tuple, list, torch.Size):
        return (type(value), tuple(value_key(v) for v in value))
    if isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        return (type(value), str(value))
    if isinstance(value, (bool, int, float)):
        return (type(value), repr(value))
    return type(value)


def shape_key(shape: torch.Size) -> tuple[str, ...]:
    """Each size as text (`s0` for a symbolic one); made once per shape of plain sizes."""
    try:
        return _cached_shape_key(shape)
    except TypeError:  # a symbolic size is not hashable
        return tuple([str(d) for d in shape])


@functools.lru_cache(maxsize=4096)
def _cached_shape_key(shape: torch.Size) -> tuple[str, ...]:
    return tuple([str(d) for d in shape])


def code_key(cls: ClassDef) -> tuple[Any, ...]:
    """Everything that makes two classes' code differ, except their names."""
    forward = cls.forward
    return (
        tuple(s.code for s in cls.init),
        tuple((p.name, p.annotation, p.default, p.star, p.keyword_only) for p in forward.params),
        tuple(_statement_key(s) for s in forward.body),
        forward.result.expr,
        tuple(cls.notes),
    )


def _statement_key(statement: Statement) -> tuple[Any, ...]:
    nested = tuple(_statement_key(s) for s in statement.body)
    return (statement.targets, statement.op, statement.expr, statement.comment, tuple(statement.deletes), nested)


class ClassReuse:
    """The classes lowered so far in one export, by reuse key."""

    def __init__(self) -> None:
        self._classes: dict[Any, ClassDef] = {}

    def lowered(self, key: Any, lower: Callable[[], ClassDef]) -> ClassDef:
        """`lower()`, or the class lowered before under `key` (None: not reusable)."""
        if key is None:
            return lower()
        if key in self._classes:
            return self.reused(key, lower)
        cls = self._classes[key] = lower()
        return cls

    def reused(self, key: Any, lower: Callable[[], ClassDef]) -> ClassDef:
        """The class lowered before under `key`; `lower` is what it stands for."""
        return self._classes[key]
