"""Names in generated code: when a name may be written as syntax, and unique variables.

The identifier rule (DESIGN.md): a name is written as attribute syntax (`self.conv1`)
only when it is a Python identifier, not a keyword, unchanged by NFKC normalisation
(Python normalises identifiers, so `self.ﬁ` would reach `self.fi`) and not subject to
private name mangling inside a class (`self.__x` would reach `self._Cls__x`). Every
other name is written as a string: `self.blocks["class"]`, `getattr(self, "with-dash")`.
"""

from __future__ import annotations

import builtins
import keyword
import re
import unicodedata

from fxgen.pyexpr import string_literal

__all__ = ["is_attr_name", "attribute", "Namespace", "RESERVED", "sanitize"]

#: Names a generated variable may never take: they are used by generated code itself.
RESERVED = frozenset(
    set(keyword.kwlist)
    | set(keyword.softkwlist)
    | set(dir(builtins))
    | {"self", "torch", "F", "math"}
)


def is_attr_name(name: str) -> bool:
    """Whether `obj.<name>` reaches exactly the attribute called `name`."""
    return (
        name.isidentifier()
        and not keyword.iskeyword(name)
        and unicodedata.normalize("NFKC", name) == name
        and not (name.startswith("__") and not name.endswith("__"))
    )


def attribute(base: str, name: str) -> str:
    """`base.name`, or `getattr(base, "name")` where the identifier rule forbids syntax."""
    if is_attr_name(name):
        return f"{base}.{name}"
    return f"getattr({base}, {string_literal(name)})"


def sanitize(hint: str) -> str:
    """A plain ASCII identifier derived from `hint` (not yet checked for clashes)."""
    text = unicodedata.normalize("NFKC", hint)
    text = re.sub(r"[^0-9a-zA-Z_]+", "_", text).strip("_") or "v"
    text = re.sub(r"_+", "_", text)
    if text[0].isdigit():
        text = "_" + text
    if text.startswith("__"):
        text = text.lstrip("_") or "v"
    return text


class Namespace:
    """Hands out unique variable names: `add`, `add_1`, … never a reserved word."""

    def __init__(self, taken: set[str] | frozenset[str] = frozenset()) -> None:
        self._taken = set(taken)
        self._next: dict[str, int] = {}

    def reserve(self, name: str) -> None:
        self._taken.add(name)

    def copy(self) -> "Namespace":
        other = Namespace(self._taken)
        other._next = dict(self._next)
        return other

    def is_taken(self, name: str) -> bool:
        return name in self._taken or name in RESERVED

    def fresh(self, hint: str) -> str:
        """A new name based on `hint`, distinct from every name handed out or reserved."""
        base = sanitize(hint)
        if not self.is_taken(base):
            self._taken.add(base)
            return base
        n = self._next.get(base, 1)
        while self.is_taken(f"{base}_{n}"):
            n += 1
        self._next[base] = n + 1
        name = f"{base}_{n}"
        self._taken.add(name)
        return name
