"""Random programs for the fuzzer (hypothesis strategies).

A program is an `nn.Module` whose `forward` applies a drawn list of steps to a pool of
values (the inputs first): arithmetic and comparisons, reductions, views, indexing,
cat/stack/chunk/unbind, matmul, activations, in-place ops on clones, assertions whose
messages format computed values, calls of built-in modules with drawn hyperparameters,
parameters and buffers, dtype and device moves and string arguments, with constants
such as inf, nan, -0.0 and huge ints, and custom submodules (programs of their own,
nested two deep, of classes that may share a name) called once or again on other
values, their result read whole, by item or not at all, and pairs of one class that
differ only in a built-in module's hyperparameters (variants). Submodules, parameters,
buffers and messages get hostile names, and the output is a nested tuple/list/dict with
hostile keys. Each step is tried on the example inputs while the program is drawn, and
kept only where eager runs it, so every program runs.
"""

from __future__ import annotations

import math
import textwrap
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F
from hypothesis import strategies as st
from torch import nn

#: names a model may give its modules, parameters, buffers and output keys, chosen to
#: collide with Python, with torch, with what fxgen writes, and with each other
HOSTILE_NAMES = [
    "class", "def", "None", "True", "lambda", "import", "return", "print", "len", "list", "dict",
    "getattr", "float", "slice", "torch", "F", "math", "self", "forward", "load", "load_state",
    "state", "weights", "model", "path", "x", "x0", "input", "linear", "add", "relu", "getattr_1",
    "mul", "output", "__dunder__", "_private", "θ", "名前", "ﬁ", "fi", "with space", "with-dash",
    "1leading", "a" * 200, "0", "_", "a'b", 'q"uote', "back\\slash", "new\nline", "car\rriage",
    '"""', "nul\x00", "#hash", "sep\u2028line", "para\u2029", "bell\x07", "{brace}",
]

CONSTANTS = [math.inf, -math.inf, math.nan, -0.0, 0.5, 3, -7, 2**62, 1e-30, True]

SHAPES = [(2, 3), (2, 3, 4), (4,), (3, 1, 2)]


@dataclass
class Step:
    text: str  #: what the step does, for the failure report
    run: Callable[[nn.Module, list[Any]], Any]
    kind: str = ""  #: "submodule" (a custom submodule's first call) or "again" (a later one)


@dataclass
class Program:
    """What a drawn program is made of; `module()` builds it."""

    inputs: tuple[torch.Tensor, ...]
    steps: list[Step] = field(default_factory=list)
    output: Any = None  #: nested tuple/list/dict of value indices
    options: dict[str, Any] = field(default_factory=dict)  #: export options (`hierarchy`, ...) drawn for it

    def describe(self) -> str:
        steps = "\n".join(f"v{len(self.inputs) + i} = {s.text}" for i, s in enumerate(self.steps))
        return steps + f"\nreturn {self.output!r}" + (f"\n(exported with {self.options})" if self.options else "")


class Fuzzed(nn.Module):
    """The module of a drawn program."""

    def __init__(self) -> None:
        super().__init__()
        self._steps: list[Step] = []
        self._output: Any = None
        self._arity = 0  #: how many inputs `forward` takes (a submodule's, for calling it again)

    def forward(self, *inputs: torch.Tensor) -> Any:
        values = list(inputs)
        for step in self._steps:
            values.append(step.run(self, values))
        return _gather(self._output, values)


def _gather(spec: Any, values: list[Any]) -> Any:
    if isinstance(spec, int):
        return values[spec]
    if isinstance(spec, dict):
        return {key: _gather(v, values) for key, v in spec.items()}
    return type(spec)(_gather(v, values) for v in spec)


def _forward_with(arity: int) -> Callable[..., Any]:
    """A `forward(self, x0, ...)` with named parameters (tracers need them)."""
    names = ", ".join(f"x{i}" for i in range(arity))
    namespace: dict[str, Any] = {}
    exec(f"def forward(self, {names}):\n    return Fuzzed.forward(self, {names})\n", {"Fuzzed": Fuzzed}, namespace)
    return namespace["forward"]


def _add_child(module: nn.Module, name: str, child: Any, kind: str, persistent: bool = True) -> str | None:
    """Register under `name`, or None where the name is taken (torch would replace a
    parameter or buffer of that name, which earlier steps use) or refused (a `.`)."""
    if hasattr(module, name):
        return None
    try:
        if kind == "module":
            module.add_module(name, child)
        elif kind == "parameter":
            module.register_parameter(name, child)
        else:
            module.register_buffer(name, child, persistent=persistent)
    except (KeyError, TypeError):
        return None
    return name


BINARY = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b,
    "**": lambda a, b: a**b, "<": lambda a, b: a < b, "==": lambda a, b: a == b, "maximum": torch.maximum,
}
UNARY = {
    "relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "neg": lambda a: -a, "abs": torch.abs,
    "gelu(tanh)": lambda a: F.gelu(a, approximate="tanh"), "softmax(-1)": lambda a: F.softmax(a, dim=-1),
    "leaky_relu(0.3)": lambda a: F.leaky_relu(a, 0.3), "sum": lambda a: a.sum(), "mean(0)": lambda a: a.mean(0),
    "amax(-1, keepdim)": lambda a: a.amax(-1, keepdim=True), "argmax(0)": lambda a: a.argmax(0),
    "view(-1)": lambda a: a.view(-1), "reshape(-1, 1)": lambda a: a.reshape(-1, 1), "t(0,-1)": lambda a: a.transpose(0, -1),
    "permute(rev)": lambda a: a.permute(*reversed(range(a.dim()))), "unsqueeze(0)": lambda a: a.unsqueeze(0),
    "flatten": lambda a: a.flatten(), "[0]": lambda a: a[0], "[:, 1:]": lambda a: a[:, 1:], "[None]": lambda a: a[None],
    "[..., -1]": lambda a: a[..., -1], "[::2]": lambda a: a[::2], "cat0": lambda a: torch.cat([a, a], dim=0),
    "stack": lambda a: torch.stack([a, a * 2]), "chunk(2,-1)[1]": lambda a: a.chunk(2, dim=-1)[-1],
    "unbind(0)[0]": lambda a: a.unbind(0)[0], "matmul T": lambda a: a @ a.transpose(-2, -1),
    "clone.add_(1.5)": lambda a: a.clone().add_(1.5), "clone.mul_(-0.0)": lambda a: a.clone().mul_(-0.0),
    "relu_(clone)": lambda a: torch.relu_(a.clone()), "to(float64)": lambda a: a.to(torch.float64),
    "to('cpu')": lambda a: a.to("cpu"), "to(device cpu)": lambda a: a.to(torch.device("cpu")),
    "half": lambda a: a.half(), "pad(1,1) value 2": lambda a: F.pad(a, (1, 1), mode="constant", value=2.0),
    "einsum ...i->...": lambda a: torch.einsum("...i->...", a), "shape[-1] * a": lambda a: a * a.shape[-1],
    "where(a > 0)": lambda a: torch.where(a > 0, a, torch.zeros_like(a)),
}


def _add_into(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    x = a.clone()
    x += b
    return x


def _scale_by(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    x = a.clone()
    x *= b
    return x


def _first_row_set(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    x = a.clone()
    x[0] = b.mean()
    return x


def _last_column_set(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    x = a.clone()
    x[..., -1] = 0.5
    return x


def _prefix_set(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    x = a.clone()
    x[:1] = b[:1]
    return x


def _masked_set(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    x = a.clone()
    x[b > 0] = -1.0
    return x


def _checked(a: torch.Tensor, text: str) -> torch.Tensor:
    """`a`, after an assertion whose message formats what the program computes (torch.fx
    keeps the text its proxies printed; fxgen writes the f-string again)."""
    torch._assert(a.dim() >= 0, f"{text} {{literal}} {a.dim()}D {a.shape}")
    return a


#: steps that change a copy of a value in place: statements that store (`x += y`, `x[i] = v`)
IN_PLACE = {
    "x = a.clone(); x += b": _add_into,
    "x = a.clone(); x *= b": _scale_by,
    "x = a.clone(); x[0] = b.mean()": _first_row_set,
    "x = a.clone(); x[..., -1] = 0.5": _last_column_set,
    "x = a.clone(); x[:1] = b[:1]": _prefix_set,
    "x = a.clone(); x[b > 0] = -1.0": _masked_set,
}
MODULES: dict[str, Callable[[torch.Tensor, Any], nn.Module]] = {
    "Linear": lambda v, d: nn.Linear(v.shape[-1], d(st.integers(1, 5)), bias=d(st.booleans())),
    "LayerNorm": lambda v, d: nn.LayerNorm(v.shape[-1], eps=d(st.sampled_from([1e-5, 1e-3, 0.1])), elementwise_affine=d(st.booleans())),
    "ReLU": lambda v, d: nn.ReLU(),
    "GELU": lambda v, d: nn.GELU(approximate=d(st.sampled_from(["none", "tanh"]))),
    "Softmax": lambda v, d: nn.Softmax(dim=d(st.integers(-v.dim(), v.dim() - 1))),
    "Dropout": lambda v, d: nn.Dropout(d(st.sampled_from([0.0, 0.5]))).eval(),
    "Flatten": lambda v, d: nn.Flatten(d(st.integers(0, max(v.dim() - 1, 0)))),
    "Conv1d": lambda v, d: nn.Conv1d(v.shape[-2], d(st.integers(1, 3)), kernel_size=d(st.integers(1, 2)), padding=d(st.integers(0, 1))),
    "Identity": lambda v, d: nn.Identity(),
}


#: class names the nested modules may take: plain, shared by several classes, or hostile
CLASS_NAMES = ["Block", "Block", "Fuzzed", "Linear", "F", "torch", "forward", "class", "名前", "_private", "Block_v2"]
#: how deep custom submodules nest (the hierarchy split, twin calls, classes in classes)
MAX_DEPTH = 2
#: the lowering options a program is also exported with
OPTIONS = st.fixed_dictionaries(
    {"hierarchy": st.booleans(), "reuse_names": st.booleans(), "source_comments": st.sampled_from([True, False, "auto"])}
)


@st.composite
def programs(draw: Any) -> tuple[nn.Module, tuple[torch.Tensor, ...], Program]:
    """A module, its example inputs, and the program it runs."""
    torch.manual_seed(draw(st.integers(0, 2**16)))  # inputs, parameters, module initialisation
    inputs = tuple(torch.randn(draw(st.sampled_from(SHAPES))) for _ in range(draw(st.integers(1, 3))))
    module, program = _draw_module(draw, inputs, "Fuzzed", 0)
    program.options = draw(OPTIONS)
    return module.eval(), inputs, program


def _draw_module(draw: Any, inputs: tuple[torch.Tensor, ...], class_name: str, depth: int) -> tuple[Fuzzed, Program]:
    """A `Fuzzed` module of class `class_name` whose steps run on `inputs`: the program
    itself at depth 0, a custom submodule of it below."""
    cls = type(class_name, (Fuzzed,), {"forward": _forward_with(len(inputs)), "__module__": __name__})
    module = cls()
    program = Program(inputs)
    values: list[Any] = list(inputs)
    for _ in range(draw(st.integers(1, 8 if depth == 0 else 4))):
        step = _draw_step(draw, module, values, depth)
        if step is None:
            continue
        try:
            with torch.no_grad():
                value = step.run(module, values)
        except Exception:  # eager refuses it (a shape, a dtype): not a program
            continue
        if not isinstance(value, torch.Tensor):
            continue
        program.steps.append(step)
        values.append(value)
    indices = st.integers(0, len(values) - 1)
    if depth:  # a submodule returns a value (perhaps an input) or a pair
        program.output = draw(st.one_of(indices, st.tuples(indices, indices)))
    else:
        keys = st.sampled_from(HOSTILE_NAMES)
        program.output = draw(
            st.recursive(
                indices,
                lambda inner: st.one_of(
                    st.tuples(inner, inner), st.lists(inner, min_size=1, max_size=3), st.dictionaries(keys, inner, min_size=1, max_size=3)
                ),
                max_leaves=4,
            )
        )
    module._steps, module._output = program.steps, program.output
    return module, program


def _draw_step(draw: Any, module: nn.Module, values: list[Any], depth: int) -> Step | None:
    kinds = ["unary", "unary", "binary", "constant", "module", "parameter", "index", "in_place", "message"]
    if depth < MAX_DEPTH:
        kinds += ["submodule", "again", "again", "variant", "variant"]
    kind = draw(st.sampled_from(kinds))
    if kind in ("submodule", "again"):
        return _draw_call(draw, module, values, depth, kind == "again")
    if kind == "variant":
        return _draw_variant(draw, module, values)
    i = draw(st.integers(0, len(values) - 1))
    if kind == "unary":
        name = draw(st.sampled_from(sorted(UNARY)))
        f = UNARY[name]
        return Step(f"{name}(v{i})", lambda m, v: f(v[i]))
    if kind == "binary":
        j = draw(st.integers(0, len(values) - 1))
        name = draw(st.sampled_from(sorted(BINARY)))
        f = BINARY[name]
        return Step(f"v{i} {name} v{j}", lambda m, v: f(v[i], v[j]))
    if kind == "in_place":
        j = draw(st.integers(0, len(values) - 1))
        name = draw(st.sampled_from(sorted(IN_PLACE)))
        f = IN_PLACE[name]
        return Step(f"{name} with a = v{i}, b = v{j}", lambda m, v: f(v[i], v[j]))
    if kind == "constant":
        c = draw(st.sampled_from(CONSTANTS))
        name = draw(st.sampled_from(["+", "*", "**", "<", "maximum"]))
        f = BINARY[name] if name != "maximum" else (lambda a, b: torch.clamp(a, min=b))
        return Step(f"v{i} {name} {c!r}", lambda m, v: f(v[i], c))
    name = draw(st.sampled_from(HOSTILE_NAMES))
    value = values[i]
    if kind == "message":
        return Step(f"v{i} checked, message {name!r}", lambda m, v: _checked(v[i], name))
    if kind == "module":
        type_name = draw(st.sampled_from(sorted(MODULES)))
        try:
            child = MODULES[type_name](value, draw)
        except Exception:
            return None
        if _add_child(module, name, child, "module") is None:
            return None
        return Step(f"self.{name!r}: {child!r}(v{i})", lambda m, v: getattr(m, name)(v[i]))
    if kind == "parameter":
        tensor = torch.randn(value.shape[-1:] if value.dim() else ())
        if _add_child(module, name, nn.Parameter(tensor), "parameter") is None:
            return None
        return Step(f"v{i} * param {name!r}", lambda m, v: v[i] * getattr(m, name))
    length = value.shape[0] if value.dim() else 0
    if not length:
        return None
    index = torch.tensor(draw(st.lists(st.integers(-length, length - 1), min_size=1, max_size=3)))
    persistent = draw(st.booleans())
    if _add_child(module, name, index, "buffer", persistent) is None:
        return None
    return Step(f"v{i}[buffer {name!r} (persistent={persistent})]", lambda m, v: v[i][getattr(m, name)])


def _draw_call(draw: Any, module: nn.Module, values: list[Any], depth: int, again: bool) -> Step | None:
    """A call of a custom submodule: a new one, or again one called before (on other
    values: a twin where they match, another call where they do not); the step reads
    its result, or one item of a pair."""
    if again:
        called = [name for name, child in module.named_children() if isinstance(child, Fuzzed)]
        if not called:
            return None
        name = draw(st.sampled_from(called))
        arity = getattr(module, name)._arity
    else:
        name = draw(st.sampled_from(HOSTILE_NAMES))
        arity = draw(st.integers(1, 2))
    args = [draw(st.integers(0, len(values) - 1)) for _ in range(arity)]
    if not again:
        inputs = tuple(values[a] for a in args)
        child, body = _draw_module(draw, inputs, draw(st.sampled_from(CLASS_NAMES)), depth + 1)
        child._arity = arity
        if _add_child(module, name, child, "module") is None:
            return None
        defined = f"  # {type(child).__name__!r}:\n" + textwrap.indent(body.describe(), "    ")
    item = draw(st.sampled_from([0, 1])) if isinstance(getattr(module, name)._output, tuple) else None
    text = f"self.{name!r}({', '.join(f'v{a}' for a in args)})" + ("" if item is None else f"[{item}]")
    text += "" if again else defined

    def call(m: nn.Module, v: list[Any]) -> Any:
        result = getattr(m, name)(*[v[a] for a in args])
        return result if item is None else result[item]

    return Step(text, call, "again" if again else "submodule")


#: built-in modules whose drawn hyperparameters keep every shape (two blocks holding one
#: differ only in a constructor argument: `fxgen/variants.py` writes them as one class)
RETUNABLE = ("LayerNorm", "GELU", "Softmax", "Dropout")


def _draw_variant(draw: Any, module: nn.Module, values: list[Any]) -> Step | None:
    """A call of two submodules of one class, one after the other, each holding a
    built-in module of one type with its own drawn hyperparameters (a LayerNorm's eps,
    GELU's approximation): variants of one class, twins where the draws agree."""
    i = draw(st.integers(0, len(values) - 1))
    type_name = draw(st.sampled_from(RETUNABLE))
    cls = type(draw(st.sampled_from(CLASS_NAMES)), (Fuzzed,), {"forward": _forward_with(1), "__module__": __name__})
    inner = draw(st.sampled_from(HOSTILE_NAMES))
    names = []
    for _ in range(2):
        block = cls()
        block._arity, block._output = 1, 1
        try:
            child = MODULES[type_name](values[i], draw)
        except Exception:
            return None
        if _add_child(block, inner, child, "module") is None:
            return None
        block._steps = [Step(f"self.{inner!r}(v0)", lambda m, v: getattr(m, inner)(v[0]))]
        name = draw(st.sampled_from(HOSTILE_NAMES))
        if _add_child(module, name, block, "module") is None:
            return None
        names.append(name)
    first, second = names

    def call(m: nn.Module, v: list[Any]) -> Any:
        return getattr(m, second)(getattr(m, first)(v[i]))

    return Step(f"self.{second!r}(self.{first!r}(v{i}))  # two {cls.__name__!r} holding a {type_name}", call, "variant")


def step_kinds(module: nn.Module) -> Counter:
    """How many calls of custom submodules a drawn module makes, first and later ones,
    at every depth (so that a test can tell the strategy still draws them)."""
    return Counter(step.kind for m in module.modules() if isinstance(m, Fuzzed) for step in m._steps if step.kind)
