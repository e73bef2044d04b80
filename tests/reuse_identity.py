"""Every reused class compared with the class its own lowering gives.

`fxgen.reuse` lowers units of equal reuse keys once, and `hierarchy.split` does not
even cut out a module call whose unit would repeat an earlier one (a twin). The test run
wraps itself in `compared_with_lowering()` (conftest.py), and so do the campaigns that
run outside pytest: each reuse lowers the unit anyway, and every split with twins is
split and lowered again without them; a class, `__init__`, import or buffer that
differs raises `ReuseMismatch` (a BaseException, so that no `except Exception` accepts
it as a typed error).
"""

from __future__ import annotations

import contextlib
import inspect
from typing import Any, Iterator

import fxgen.lower
from fxgen.reuse import ClassReuse, code_key


class ReuseMismatch(BaseException):
    """A reused class differs from what lowering its own unit gives."""


#: True while the comparison lowers a split again without twins (tests that count
#: reuses count the export's own)
checking = False


@contextlib.contextmanager
def compared_with_lowering() -> Iterator[None]:
    reused = ClassReuse.reused

    def compared(self, key, lower):
        result = reused(self, key, lower)
        own = lower()
        if code_key(own) != code_key(result):
            raise ReuseMismatch(f"a reused class differs from its own lowering:\n{code_key(result)}\n{code_key(own)}")
        return result

    ClassReuse.reused = compared
    try:
        with _compared_without_twins():
            yield
    finally:
        ClassReuse.reused = reused


@contextlib.contextmanager
def _compared_without_twins() -> Iterator[None]:
    split, lower_units = fxgen.lower.split, fxgen.lower._lower_units
    plain_splits: dict[int, list[Any]] = {}  # id(units with twins) -> the same split without twins

    parameters = inspect.signature(split)

    def split_both(*args, **kwargs):
        units = split(*args, **kwargs)
        if any(unit.twin_of is not None for unit in units):
            without_twins = parameters.bind(*args, **kwargs)
            without_twins.arguments["node_key"] = None  # no key: no twins
            plain_splits[id(units)] = split(*without_twins.args, **without_twins.kwargs)
        return units

    def lowered_both(captured, units, imports, names, *rest):
        plain_units = plain_splits.pop(id(units), None)
        plain_imports, plain_names = imports.copy(), names.copy()
        result = lower_units(captured, units, imports, names, *rest)
        if plain_units is None:
            return result
        global checking
        checking = True
        try:
            plain = lower_units(captured, plain_units, plain_imports, plain_names, *rest)
        except Exception as exc:
            raise ReuseMismatch(f"without twins, lowering raises {exc!r}") from exc
        finally:
            checking = False
        twins, alone = _summary(result, imports), _summary(plain, plain_imports)
        if twins != alone:
            raise ReuseMismatch(f"twins change the lowering:\n{twins}\n{alone}")
        return result

    fxgen.lower.split, fxgen.lower._lower_units = split_both, lowered_both
    try:
        yield
    finally:
        fxgen.lower.split, fxgen.lower._lower_units = split, lower_units


def _summary(lowered: Any, imports: Any) -> Any:
    classes, tree, buffers = lowered
    return (
        [(c.name, c.base, c.inherits_init, code_key(c)) for c in classes],
        [s.code for s in tree.init],
        tree.load_fixups,
        {name: id(tensor) for name, tensor in buffers.items()},
        imports.lines(),
    )
