"""Python expressions as text: literals, operators with precedence, qualified names.

Everything here returns an `Expr`, a piece of source text together with the precedence
of its outermost operator, so that combining expressions adds exactly the parentheses
Python needs. Strings from the model reach source only through `string_literal`, which
escapes every character that could end the literal or the line.
"""

from __future__ import annotations

import builtins
import dataclasses
import enum
import functools
import importlib
import inspect
import math
import re
import string
import types
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import torch
from torch.fx.immutable_collections import immutable_dict, immutable_list

from fxgen.errors import ExportError

__all__ = [
    "Prec",
    "Expr",
    "Source",
    "Imports",
    "ExprWriter",
    "NoDeviceSource",
    "string_literal",
    "formatted_string",
    "float_literal",
    "comment_text",
    "is_default",
    "BINARY_OPERATORS",
    "UNARY_OPERATORS",
]


class Prec(enum.IntEnum):
    """Python operator precedence, lowest first (the language reference's table)."""

    TUPLE = 0  # a bare `a, b` (only as a whole statement's value)
    TERNARY = 1
    OR = 2
    AND = 3
    NOT = 4
    COMPARE = 5
    BIT_OR = 6
    BIT_XOR = 7
    BIT_AND = 8
    SHIFT = 9
    ARITH = 10
    TERM = 11
    UNARY = 12
    POWER = 13
    ATOM = 14


@dataclass(frozen=True)
class Source:
    """A value that is already source code (e.g. `self.training`), as an argument."""

    text: str


class Expr:
    """Source text of an expression and the precedence of its outermost operator; an
    immutable value (a plain slotted class: lowering makes several per node, and a frozen
    dataclass's `__init__` cost three times as much)."""

    __slots__ = ("text", "prec", "number")

    def __init__(self, text: str, prec: Prec = Prec.ATOM, number: bool = False) -> None:
        self.text = text
        self.prec = prec
        #: True for number literals, which need parentheses before `.attr` (`(1).real`).
        self.number = number

    def __eq__(self, other: object) -> bool:
        if type(other) is not Expr:
            return NotImplemented
        return (self.text, self.prec, self.number) == (other.text, other.prec, other.number)

    def __hash__(self) -> int:
        return hash((self.text, self.prec, self.number))

    def __repr__(self) -> str:
        return f"Expr(text={self.text!r}, prec={self.prec!r}, number={self.number!r})"

    def at_least(self, prec: Prec) -> str:
        """The text, parenthesised unless it binds at least as tightly as `prec`."""
        return self.text if self.prec >= prec else f"({self.text})"

    def receiver(self) -> str:
        """The text as the left side of `.attr`, `[index]` or `(call)`."""
        if self.number or self.prec < Prec.ATOM:
            return f"({self.text})"
        return self.text


# operator-module function -> (syntax, precedence); comparisons do not chain in a graph.
BINARY_OPERATORS: dict[Callable[..., Any], tuple[str, Prec]] = {}
UNARY_OPERATORS: dict[Callable[..., Any], tuple[str, Prec]] = {}
#: in-place operator-module function (`operator.iadd`) -> its binary function (`operator.add`)
IN_PLACE_OPERATORS: dict[Callable[..., Any], Callable[..., Any]] = {}


def _register_operators() -> None:
    import operator

    for name, symbol, prec in [
        ("add", "+", Prec.ARITH),
        ("sub", "-", Prec.ARITH),
        ("mul", "*", Prec.TERM),
        ("truediv", "/", Prec.TERM),
        ("floordiv", "//", Prec.TERM),
        ("mod", "%", Prec.TERM),
        ("matmul", "@", Prec.TERM),
        ("pow", "**", Prec.POWER),
        ("lshift", "<<", Prec.SHIFT),
        ("rshift", ">>", Prec.SHIFT),
        ("and_", "&", Prec.BIT_AND),
        ("xor", "^", Prec.BIT_XOR),
        ("or_", "|", Prec.BIT_OR),
        ("eq", "==", Prec.COMPARE),
        ("ne", "!=", Prec.COMPARE),
        ("lt", "<", Prec.COMPARE),
        ("le", "<=", Prec.COMPARE),
        ("gt", ">", Prec.COMPARE),
        ("ge", ">=", Prec.COMPARE),
        ("is_", "is", Prec.COMPARE),
        ("is_not", "is not", Prec.COMPARE),
    ]:
        BINARY_OPERATORS[getattr(operator, name)] = (symbol, prec)
        in_place = getattr(operator, f"i{name.rstrip('_')}", None)
        if in_place is not None and prec is not Prec.COMPARE:
            IN_PLACE_OPERATORS[in_place] = getattr(operator, name)
    for name, symbol, prec in [
        ("neg", "-", Prec.UNARY),
        ("pos", "+", Prec.UNARY),
        ("invert", "~", Prec.UNARY),
        ("not_", "not ", Prec.NOT),
    ]:
        UNARY_OPERATORS[getattr(operator, name)] = (symbol, prec)


_register_operators()


def binary(symbol: str, prec: Prec, left: Expr, right: Expr) -> Expr:
    """`left <symbol> right` with the parentheses Python's grammar requires."""
    if prec is Prec.POWER:
        # right-associative; the right operand may be a unary expression (`2 ** -x`)
        lhs, rhs = left.at_least(Prec.ATOM), right.at_least(Prec.UNARY)
    elif prec is Prec.COMPARE:
        # comparisons chain (`a < b < c`), so neither side may be a bare comparison
        lhs, rhs = left.at_least(Prec.BIT_OR), right.at_least(Prec.BIT_OR)
    else:
        lhs, rhs = left.at_least(prec), right.at_least(Prec(prec + 1))
    return Expr(f"{lhs} {symbol} {rhs}", prec)


def unary(symbol: str, prec: Prec, operand: Expr) -> Expr:
    """`<symbol>operand`, e.g. `-x`, `~mask`, `not flag`."""
    return Expr(f"{symbol}{operand.at_least(prec)}", prec)


@functools.lru_cache(maxsize=4096, typed=True)
def string_literal(value: str | bytes) -> str:
    """A str/bytes literal, double-quoted where that needs no extra escapes.

    `repr` escapes quotes, backslashes, newlines, NUL and every non-printable character
    (U+2028 included), so the literal can never end early or span lines. Cached: module
    names and keys are written again and again.
    """
    text = repr(value)
    prefix = "b" if isinstance(value, bytes) else ""
    body = text[len(prefix) :]
    if body[0] == "'" and '"' not in body[1:-1]:
        body = '"' + body[1:-1].replace("\\'", "'") + '"'
    return prefix + body


#: printable characters that stand for a field while the literal parts are escaped
_FIELD_MARKERS = "\u2603\u2604\u2605\u2606\u2607"
#: the text of a value an f-string's field holds as it is: names (tokens before naming),
#: attributes, calls and subscripts without quotes, colons, braces or backslashes
_FIELD_VALUE = re.compile("[\\w.()\\[\\], \x00-]+")


def formatted_string(template: str, values: list[Expr]) -> Expr | None:
    """`template.format(*values)` as an f-string (`f"got {h}"`), or None where the template
    has fields other than `{}` or a value cannot stand inside a field as it is."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return None
    fields = [(name, spec, conversion) for _, name, spec, conversion in parsed if name is not None]
    if len(fields) != len(values) or any(field != ("", "", None) for field in fields):
        return None
    if not all(_FIELD_VALUE.fullmatch(value.text) for value in values):
        return None
    parts, part = [], ""
    for literal, name, _, _ in parsed:
        part += literal
        if name is not None:
            parts.append(part)
            part = ""
    parts.append(part)
    marker = next((m for m in _FIELD_MARKERS if m not in template), None)
    if marker is None:
        return None
    literal = string_literal(marker.join(p.replace("{", "{{").replace("}", "}}") for p in parts))
    pieces = literal[1:-1].split(marker)
    body = pieces[0] + "".join(f"{{{value.text}}}{piece}" for value, piece in zip(values, pieces[1:]))
    return Expr(f"f{literal[0]}{body}{literal[-1]}")


def comment_text(text: str) -> str:
    """`text` made safe for a one-line comment: control and line-separator characters
    (newline, CR, U+2028, NUL, ...) are written as escapes, never as themselves."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def is_default(value: Any, default: Any) -> bool:
    """Whether `value` is exactly a parameter's default (same type and value)."""
    if default is inspect.Parameter.empty or type(value) is not type(default):
        return False
    if isinstance(value, float) and math.isnan(value) and math.isnan(default):
        return True
    try:
        return bool(value == default)
    except Exception:
        return False


def float_literal(value: float) -> Expr:
    """A float literal that round-trips exactly: `1.5`, `-0.0`, `float("inf")`, `float("nan")`."""
    if math.isnan(value):
        return Expr('float("nan")')
    if math.isinf(value):
        return Expr('float("inf")') if value > 0 else Expr('-float("inf")', Prec.UNARY)
    text = repr(value)
    if text.startswith("-"):
        return Expr(text, Prec.UNARY, number=True)
    return Expr(text, number=True)


def int_literal(value: int) -> Expr:
    text = repr(value)
    return Expr(text, Prec.UNARY if value < 0 else Prec.ATOM, number=True)


class Imports:
    """The import lines a generated file needs, in a stable order."""

    def __init__(self) -> None:
        self._plain: set[str] = set()
        self._from: dict[tuple[str, str], str] = {}  # (module, name) -> alias
        self._taken: dict[str, tuple[str, str]] = {}  # alias -> (module, name)

    def copy(self) -> "Imports":
        other = Imports()
        other._plain = set(self._plain)
        other._from = dict(self._from)
        other._taken = dict(self._taken)
        return other

    def add_module(self, module: str) -> None:
        """`import <module>` (or `import torch.nn.functional as F`)."""
        self._plain.add(module)

    def add_from(self, module: str, name: str, reserved: Callable[[str], bool]) -> str:
        """`from <module> import <name>`; returns the local name (aliased on a clash)."""
        key = (module, name)
        if key in self._from:
            return self._from[key]
        alias, n = name, 0
        while alias in self._taken or reserved(alias):
            n += 1
            alias = f"{name}_{n}"
        self._from[key] = alias
        self._taken[alias] = key
        return alias

    def local_names(self) -> set[str]:
        """Names the imports bind at module level."""
        names = {"F" if m == "torch.nn.functional" else m.split(".")[0] for m in self._plain}
        return names | set(self._taken)

    def lines(self) -> list[str]:
        """Import statements: standard library, then torch, then the rest; sorted."""

        def group(module: str) -> int:
            top = module.split(".")[0]
            return 0 if top == "math" else 1 if top == "torch" else 2

        plain = [
            (group(m), m, "import torch.nn.functional as F" if m == "torch.nn.functional" else f"import {m}")
            for m in self._plain
        ]
        names_by_module: dict[str, list[str]] = {}
        for (module, name), alias in self._from.items():
            names_by_module.setdefault(module, []).append(name if alias == name else f"{name} as {alias}")
        froms = [
            (group(module), module, f"from {module} import {', '.join(sorted(names))}")
            for module, names in names_by_module.items()
        ]
        return [line for _, _, line in sorted(plain) + sorted(froms)]


def _public_callables(namespace: Any, prefix: str, accept: Callable[[str, Any], bool]) -> Iterable[tuple[int, str, str]]:
    for name in sorted(vars(namespace)):
        if name.startswith("_"):
            continue
        obj = getattr(namespace, name, None)
        if obj is None or isinstance(obj, types.ModuleType) or not accept(name, obj):
            continue
        yield id(obj), name, f"{prefix}.{name}" if prefix else name


def _is_function(obj: Any) -> bool:
    return callable(obj) and not isinstance(obj, type)


_PUBLIC_NAMES: dict[int, str] | None = None
_PUBLIC_OBJECTS: list[Any] = []  # keeps the indexed objects alive so ids stay unique


def public_names() -> dict[int, str]:
    """id(object) -> how a person writes it: `F.relu`, `torch.sum`, `math.sqrt`, `len`."""
    global _PUBLIC_NAMES
    if _PUBLIC_NAMES is not None:
        return _PUBLIC_NAMES
    import torch.nn.functional as F

    table: dict[int, str] = {}

    def accept_functional(name: str, obj: Any) -> bool:
        module = getattr(obj, "__module__", None)
        return _is_function(obj) and (
            module in ("torch.nn.functional", "torch._C._nn") or getattr(torch, name, None) is obj
        )

    def accept_torch(name: str, obj: Any) -> bool:
        module = getattr(obj, "__module__", None) or "torch"
        return callable(obj) and module.startswith("torch")

    sources = [
        (F, "F", accept_functional),
        (torch, "torch", accept_torch),
        (torch.nn, "torch.nn", accept_torch),
        (torch.nn.utils, "torch.nn.utils", accept_torch),
        (torch.nn.utils.parametrizations, "torch.nn.utils.parametrizations", accept_torch),
        (torch.linalg, "torch.linalg", accept_torch),
        (torch.fft, "torch.fft", accept_torch),
        (torch.special, "torch.special", accept_torch),
        (torch.Tensor, "torch.Tensor", lambda name, obj: callable(obj)),
        (math, "math", lambda name, obj: callable(obj)),
        (builtins, "", lambda name, obj: callable(obj)),
    ]
    for namespace, prefix, accept in sources:
        candidates: dict[int, list[tuple[str, str]]] = {}
        for key, name, text in _public_callables(namespace, prefix, accept):
            candidates.setdefault(key, []).append((name, text))
            _PUBLIC_OBJECTS.append(getattr(namespace, name))
        for key, options in candidates.items():
            if key in table:
                continue
            obj = getattr(namespace, options[0][0])
            own = getattr(obj, "__name__", None)
            # an alias shares its object with the original name: prefer `obj.__name__`
            best = next((text for name, text in options if name == own), options[0][1])
            table[key] = best
    _PUBLIC_NAMES = table
    return table


#: torch's C namespaces, whose functions report no importable module of their own
_TORCH_NAMESPACES = {
    "torch": torch,
    "torch._C._nn": torch._C._nn,
    "torch._C._linalg": torch._C._linalg,
    "torch._C._fft": torch._C._fft,
    "torch._C._special": torch._C._special,
    "torch._C._VariableFunctions": torch._C._VariableFunctions,  # shadowed by Python wrappers
}


def _torch_private_name(obj: Any) -> str | None:
    """`torch._chunk_cat` for a private builtin of one of torch's C namespaces."""
    name = getattr(obj, "__name__", None)
    if not isinstance(name, str) or not isinstance(obj, types.BuiltinFunctionType):
        return None
    return next((f"{prefix}.{name}" for prefix, ns in _TORCH_NAMESPACES.items() if getattr(ns, name, None) is obj), None)


def _resolve(module: str, qualname: str) -> Any:
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _reachable(module: str, qualname: str, obj: Any) -> bool:
    """Whether `module.qualname`, read attribute by attribute from the top package, is `obj`
    (a submodule can be shadowed by a function of the same name)."""
    parts = f"{module}.{qualname}".split(".")
    value: Any = importlib.import_module(parts[0])
    for part in parts[1:]:
        value = getattr(value, part, None)
    return value is obj


class NoDeviceSource(Exception):
    """Code would write the device capture ran on, with no tensor to read it from."""


class ExprWriter:
    """Writes Python values as source expressions, collecting the imports they need.

    `value_of` turns an `fx.Node` found inside an argument into the expression that
    holds its value; `reserved` says whether a name is taken in the generated file.
    """

    def __init__(
        self,
        imports: Imports,
        value_of: Callable[[torch.fx.Node], Expr],
        reserved: Callable[[str], bool],
        describe: Callable[[], str] = lambda: "",
    ) -> None:
        self.imports = imports
        self.value_of = value_of
        self.reserved = reserved
        self.describe = describe  # names the node being written, for error messages
        #: (device, expression): write that device as the expression (`x.device`); with
        #: None for the expression, writing it raises `NoDeviceSource`
        self.device: tuple[torch.device, Expr | None] | None = None

    # -- names --------------------------------------------------------------------

    def qualified(self, obj: Any) -> str:
        """How generated code refers to a function, class or other global object."""
        public = public_names().get(id(obj))
        if public is not None:
            root = public.split(".")[0]
            if root == "F":
                self.imports.add_module("torch.nn.functional")
            elif root in ("torch", "math"):
                self.imports.add_module(root)
            return public
        private = _torch_private_name(obj)
        if private is not None:
            self.imports.add_module("torch")
            return private
        module = getattr(obj, "__module__", None)
        qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
        what = f"{self.describe()}: {obj!r}" if self.describe() else repr(obj)
        if not module or not qualname:
            raise ExportError(
                f"{what} has no importable name, so generated code cannot refer to it. "
                "Use a function or class defined at the top level of an importable module."
            )
        if "<lambda>" in qualname or "<locals>" in qualname:
            raise ExportError(
                f"{what} is a lambda or a function defined inside another function, which "
                "generated code cannot import. Define it at the top level of a module."
            )
        if module == "__main__":
            raise ExportError(
                f"{what} is defined in __main__, which the generated file cannot import. "
                "Move it into an importable module."
            )
        if module in ("operator", "_operator"):
            raise ExportError(
                f"{what} is an `operator` function used as a value; generated code writes "
                "operators as syntax and never imports `operator`. Use a lambda-free helper "
                "defined in your own module instead."
            )
        try:
            found = _resolve(module, qualname)
        except Exception:
            found = None
        if found is not obj:
            raise ExportError(
                f"{what} cannot be imported as {module}.{qualname}. Define it at the top "
                "level of an importable module."
            )
        if (module == "torch" or module.startswith("torch.")) and _reachable(module, qualname, obj):
            self.imports.add_module(module)
            return f"{module}.{qualname}"
        head, _, rest = qualname.partition(".")
        local = self.imports.add_from(module, head, self.reserved)
        return f"{local}.{rest}" if rest else local

    # -- values -------------------------------------------------------------------

    def value(self, value: Any) -> Expr:
        """A Python value (possibly holding graph nodes) as an expression."""
        if isinstance(value, torch.fx.Node):
            return self.value_of(value)
        if isinstance(value, Source):
            return Expr(value.text, Prec.ATOM if value.text.replace(".", "").isidentifier() else Prec.TUPLE)
        if value is None or value is True or value is False:
            return Expr(repr(value))
        if value is Ellipsis:
            return Expr("...")
        if type(value) is int:
            return int_literal(value)
        if type(value) is float:
            return float_literal(value)
        if type(value) is complex:
            real, imag = self.value(value.real), self.value(value.imag)
            return Expr(f"complex({real.text}, {imag.text})")
        if type(value) in (str, bytes):
            return Expr(string_literal(value))
        if isinstance(value, torch.dtype):
            return Expr(self._torch_constant(value, str(value)))
        if isinstance(value, (torch.memory_format, torch.layout)):
            return Expr(self._torch_constant(value, str(value)))
        if isinstance(value, torch.qscheme):
            return Expr(self._torch_constant(value, str(value)))
        if isinstance(value, torch.device):
            if self.device is not None and value == self.device[0]:
                if self.device[1] is None:
                    raise NoDeviceSource(self.describe())
                return self.device[1]
            self.imports.add_module("torch")
            return Expr(f"torch.device({string_literal(str(value))})")
        if isinstance(value, torch.Size):
            self.imports.add_module("torch")
            return Expr(f"torch.Size({self.sequence(value, '[', ']').text})")
        if isinstance(value, slice):
            parts = ", ".join(self.value(v).text for v in (value.start, value.stop, value.step))
            return Expr(f"slice({parts})")
        if isinstance(value, tuple) and hasattr(type(value), "_fields"):
            callee = self.qualified(type(value))
            fields = ", ".join(
                f"{name}={self.value(v).text}" for name, v in zip(type(value)._fields, value)
            )
            return Expr(f"{callee}({fields})")
        if type(value) is tuple:
            return self.sequence(value, "(", ")")
        if type(value) in (list, immutable_list):
            return self.sequence(value, "[", "]")
        if type(value) in (dict, immutable_dict):
            items = ", ".join(
                f"{self.value(k).text}: {self.value(v).text}" for k, v in value.items()
            )
            return Expr("{" + items + "}")
        if isinstance(value, torch.Tensor):
            raise ExportError(
                f"{self.describe()}: a tensor value inside a call's arguments cannot be "
                "written as source. Register it as a buffer of the module and use that."
            )
        if isinstance(value, enum.Enum):
            return Expr(f"{self.qualified(type(value))}.{value.name}")
        if callable(value) and (inspect.isroutine(value) or isinstance(value, type)):
            return Expr(self.qualified(value))
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            rebuilt = self._dataclass(value)
            if rebuilt is not None:
                return rebuilt
        raise ExportError(
            f"{self.describe()}: the constant {type(value).__qualname__} object cannot be "
            "written as source code. Pass it as an input, or use a plain Python value."
        )

    def _dataclass(self, value: Any) -> Expr | None:
        """`Options(batch_chunk_size=4)`: a dataclass constant rebuilt from the fields its
        constructor takes (defaults dropped), where the rebuilt object equals it."""
        cls = type(value)
        fields = [f for f in dataclasses.fields(value) if f.init]
        kwargs = {f.name: getattr(value, f.name) for f in fields}
        try:
            equal = cls.__eq__ is not object.__eq__ and cls(**kwargs) == value
        except Exception:
            equal = False
        if not equal:
            return None
        shown = [
            f"{f.name}={self.value(kwargs[f.name]).text}"
            for f in fields
            if f.default is dataclasses.MISSING or not is_default(kwargs[f.name], f.default)
        ]
        return Expr(f"{self.qualified(cls)}({', '.join(shown)})")

    def sequence(self, values: Iterable[Any], open_: str, close: str) -> Expr:
        items = [self.value(v).text for v in values]
        if open_ == "(" and len(items) == 1:
            return Expr(f"({items[0]},)")
        return Expr(open_ + ", ".join(items) + close)

    def _torch_constant(self, value: Any, text: str) -> str:
        module, _, name = text.rpartition(".")
        if module != "torch" or getattr(torch, name, None) is not value:
            raise ExportError(f"{self.describe()}: {value!r} has no public torch name.")
        self.imports.add_module("torch")
        return text

    # -- composite expressions ----------------------------------------------------

    def call(self, callee: str, args: Iterable[Any], kwargs: dict[str, Any]) -> Expr:
        """`callee(args..., name=value...)`; non-identifier keywords go through `**{}`."""
        parts = [self.value(a).text for a in args]
        odd = {}
        for name, v in kwargs.items():
            if name.isidentifier() and not _keyword(name):
                parts.append(f"{name}={self.value(v).text}")
            else:
                odd[name] = v
        if odd:
            parts.append("**" + self.value(odd).text)
        return Expr(f"{callee}({', '.join(parts)})")

    def subscript(self, base: Expr, index: Any) -> Expr:
        """`base[index]` with slices written as `a:b:c` and tuples without parentheses."""
        if type(index) is tuple and index:
            inner = ", ".join(self._index_item(i) for i in index)
            if len(index) == 1:
                inner += ","
        else:
            inner = self._index_item(index)
        return Expr(f"{base.receiver()}[{inner}]")

    def _index_item(self, item: Any) -> str:
        if isinstance(item, slice):
            parts = ["" if v is None else self.value(v).at_least(Prec.TERNARY) for v in (item.start, item.stop)]
            text = ":".join(parts)
            if item.step is not None:
                text += ":" + self.value(item.step).at_least(Prec.TERNARY)
            return text
        return self.value(item).at_least(Prec.TERNARY)


def _keyword(name: str) -> bool:
    import keyword

    return keyword.iskeyword(name)
