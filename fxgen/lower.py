"""Lowering: a captured graph becomes a `Program`, one small function per FX opcode.

Every piece of code in the `Program` is made here (through `pyexpr` and `naming`), so
templates only arrange ready-made, safe strings.
"""

from __future__ import annotations

import ast
import bisect
import builtins
import functools
import inspect
import io
import itertools
import operator
import tokenize
from typing import Any, Callable, NamedTuple

import torch
from torch import fx, nn
from torch.utils import _pytree as pytree

from fxgen import source
from fxgen.aten import raise_call
from fxgen.capture import Captured
from fxgen.errors import ExportError
from fxgen.functional import DETACHED, approximate_modules, functionalize
from fxgen.graphview import diagram, graph_nodes
from fxgen.hierarchy import CONTEXT, RETURNED, Unit, module_stack, split, submodule
from fxgen.naming import (
    RESERVED,
    Draft,
    Namespace,
    is_attr_name,
    is_token,
    plan_names,
    read_targets,
    sanitize,
    substitute,
    substitute_all,
    token,
)
from fxgen.program import (
    CONTEXT_VERSION,
    ClassDef,
    ExampleInput,
    Function,
    FunctionalSpec,
    LoadSpec,
    Param,
    Program,
    Statement,
    Weights,
)
from fxgen.pyexpr import (
    BINARY_OPERATORS,
    IN_PLACE_OPERATORS,
    UNARY_OPERATORS,
    Expr,
    ExprWriter,
    Imports,
    NoDeviceSource,
    Source,
    binary,
    comment_text,
    formatted_string,
    is_default,
    string_literal,
    unary,
)
from fxgen.reuse import ClassReuse, Unkeyable, argument_key, code_key, shape_key, value_key
from fxgen.tree import ModuleTree, StructureKeys, add_constant, build_tree, join_path
from fxgen.unlift import KEYWORD_ONLY
from fxgen.variants import CLASS_TOKEN, merge_variants

__all__ = ["lower"]

# builtins that fxgen itself writes (`float("inf")`, `getattr(x, "a-b")`, ...): a
# forward parameter may not shadow them
_EMITTED_BUILTINS = frozenset({"float", "complex", "getattr", "slice"})
#: names no variable or input ever takes (also in `naming.RESERVED`), whether imported yet or not
_ALWAYS_TAKEN = frozenset({"self", "torch", "F", "math"})
#: each statement's node -> the user's source line it comes from (None: not known)
_Places = dict[fx.Node, source.Location | None]


class _Writing(NamedTuple):
    """How each class's `forward` is written: `lower`'s options, in
    `_ClassLowering.lower`'s order."""

    reuse_names: bool
    source_comments: str | bool
    record_meta: bool


def lower(
    captured: Captured,
    *,
    style: str = "module",
    class_name: str | None = None,
    example_inputs: tuple[Any, ...] | None = None,
    hierarchy: bool = True,
    reuse_names: bool = True,
    source_comments: str | bool = "auto",
    lowering: str = "module",
    mermaid_depth: int = 2,
    example_kwargs: dict[str, Any] | None = None,
    record_meta: bool = False,
    init_arguments: bool = False,
) -> Program:
    """Lower a captured graph to the `Program` of one generated file.

    `lowering` is what the style renders: "module" (classes; with `hierarchy`, every
    module call that `hierarchy.split` can cut out becomes a class of its own, classes
    with identical code written once) or "graph" (the node listing and the diagram).
    `record_meta`: fill each statement's `meta` (shape, dtype, source line), for styles
    whose templates read it (`render.reads_statement_meta`). `init_arguments`: variants of
    a class that differ only in constructor arguments become one class taking them
    (`fxgen.variants`), for styles whose templates write `init_params`.
    """
    if lowering == "graph":
        return _graph_program(captured, style, mermaid_depth)
    if lowering == "functional":
        return _functional_program(
            captured, style, example_inputs, example_kwargs, _Writing(reuse_names, source_comments, record_meta)
        )
    imports = Imports()
    imports.add_module("torch")
    module_names = Namespace()
    _import_callees(captured.graph, imports, module_names)
    for name in imports.local_names() | {"load"}:
        module_names.reserve(name)
    root_name = _root_class_name(captured.class_name, class_name)
    module_names.reserve(root_name)
    node_count = sum(1 for _ in captured.graph.nodes)
    inline: dict[str, str] = {}  # path -> why its calls stay inline
    apart: frozenset[str] = frozenset()
    node_key = functools.partial(_node_key, captured.constants)
    while True:
        if hierarchy:
            structures = StructureKeys(captured.root, captured.constructors, captured.numbered_modules_are_lists)
            units = split(
                captured.graph, captured.root, root_name, captured.calls, structures, True, inline, node_key, apart
            )
        else:
            units = [Unit("", captured.root, captured.graph, root_name)]
        attempt_imports, attempt_names = imports.copy(), module_names.copy()
        try:
            classes, root_tree, buffers = _lower_units(
                captured, units, attempt_imports, attempt_names, root_name, style, example_inputs,
                _Writing(reuse_names, source_comments, record_meta), init_arguments,
            )
            break
        except _DifferentCalls as exc:  # one module, two calls, two codes: write its calls inline
            inline[exc.path] = "called more than once with different code"
        except _NoDevice as exc:  # its caller reads the device from a tensor of its own
            inline[exc.path] = "it has no tensor to read the device from"
        except _TwinApart as exc:  # a twin would be lowered with other imported names
            apart |= {exc.path}
    imports = attempt_imports
    return Program(
        context_version=CONTEXT_VERSION,
        style=style,
        header=[],  # the recipe, filled in by the api
        example_inputs=_example_inputs(example_kwargs, example_inputs, classes[-1].forward.params, imports),
        imports=imports.lines(),
        classes=classes,
        load=LoadSpec(root_name, bool(buffers), root_tree.load_fixups),
        weights=Weights(functools.partial(_saved_state, captured.root), buffers),
        node_count=node_count,
        capture=captured.method,
        original=captured.original,
    )


def _example_inputs(
    kwargs: dict[str, Any] | None, args: tuple[Any, ...] | None, params: list[Param], imports: Imports
) -> list[ExampleInput]:
    """Recipes for inputs like the example inputs: shape, dtype and integer range."""
    if args is None:
        return []
    writer = ExprWriter(imports, lambda node: Expr(node.name), lambda name: False)
    recipes = []
    values = [(p.name, False, v) for p, v in zip(params, args)] + [(k, True, v) for k, v in (kwargs or {}).items()]
    for name, keyword, value in values:
        source_text, description = _recipe(value, writer)
        recipes.append(ExampleInput(name, string_literal(name), keyword, source_text, comment_text(description)))
    return recipes


def _recipe(value: Any, writer: ExprWriter) -> tuple[str, str]:
    if type(value) in (tuple, list):
        parts = [_recipe(v, writer) for v in value]
        inner = ", ".join(p[0] for p in parts) + ("," if type(value) is tuple and len(parts) == 1 else "")
        text = f"({inner})" if type(value) is tuple else f"[{inner}]"
        return text, f"{type(value).__name__} of " + "; ".join(p[1] for p in parts)
    if type(value) is dict:
        parts = {k: _recipe(v, writer) for k, v in value.items()}
        text = "{" + ", ".join(f"{writer.value(k).text}: {p[0]}" for k, p in parts.items()) + "}"
        return text, "dict of " + "; ".join(f"{k}: {p[1]}" for k, p in parts.items())
    if not isinstance(value, torch.Tensor):
        return writer.value(value).text, type(value).__name__
    shape = ", ".join(str(d) for d in value.shape)
    shape_tuple = f"({shape},)" if value.dim() == 1 else f"({shape})"
    dtype = writer.value(value.dtype).text
    described = f"{str(value.dtype).replace('torch.', '')} {tuple(value.shape)}"
    if value.dtype == torch.bool:
        return f"torch.randint(0, 2, {shape_tuple}).bool()", described
    if value.is_floating_point() or value.is_complex():
        return f"torch.randn({shape_tuple}, dtype={dtype})", described
    low, high = (int(value.min()), int(value.max())) if value.numel() else (0, 0)
    return f"torch.randint({low}, {high + 1}, {shape_tuple}, dtype={dtype})", f"{described} in [{low}, {high}]"


def _graph_program(captured: Captured, style: str, depth: int) -> Program:
    """The program of a listing or picture style: the flat graph and its diagram."""
    nodes = graph_nodes(captured.graph)
    return Program(
        context_version=CONTEXT_VERSION,
        style=style,
        header=[],  # the recipe, filled in by the api
        imports=[],
        classes=[],
        load=LoadSpec(captured.class_name, False, []),
        weights=Weights(dict, {}),
        node_count=len(nodes),
        capture=captured.method,
        original=captured.original,
        graph=nodes,
        diagram=diagram(captured.graph, captured.root, captured.class_name, depth),
    )


def _functional_program(
    captured: Captured,
    style: str,
    example_inputs: tuple[Any, ...] | None,
    example_kwargs: dict[str, Any] | None,
    writing: _Writing,
) -> Program:
    """The program of the functional style: one `forward(state, *inputs)`, no modules."""
    flat = functionalize(captured)
    imports = Imports()
    imports.add_module("torch")
    _import_callees(flat.graph, imports, Namespace({"state", "constants", "forward", "load_state", "load_constants"}))
    lowering = _ClassLowering(flat, Unit("", flat.root, flat.graph, "forward"), imports, style, example_inputs, {})
    lowering.functional = True
    cls, tree = lowering.lower(*writing)
    constants = {**tree.buffers, **lowering.constants_read}
    device = lowering.substitute(lowering.writer.device[1].text) if lowering.writer.device else None
    if lowering.constants_read and device is None:
        device = _first_tensor_input(cls.forward.params)
    return Program(
        context_version=CONTEXT_VERSION,
        style=style,
        header=[],  # the recipe, filled in by the api
        example_inputs=_example_inputs(example_kwargs, example_inputs, cls.forward.params, imports),
        imports=imports.lines(),
        classes=[cls],
        load=LoadSpec(captured.class_name, bool(constants), []),
        weights=Weights(functools.partial(_saved_state, captured.root), constants),
        node_count=sum(1 for _ in captured.graph.nodes),
        capture=captured.method,
        original=captured.original,
        functional=FunctionalSpec(device if lowering.constants_read else None, approximate_modules(captured)),
    )


def _saved_state(root: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict, its trained parameters marked `requires_grad` (saved with the
    tensors): the functional style's `forward(load_state(), x)` then takes the same
    kernels as the original (`matmul` folds differently for tensors that require grad)
    and builds the same autograd graph. `load()` keeps its own modules' flags."""
    trained = {name for name, p in root.named_parameters(remove_duplicate=False) if p.requires_grad}
    return {
        name: tensor.detach().requires_grad_() if name in trained and (tensor.is_floating_point() or tensor.is_complex()) else tensor
        for name, tensor in root.state_dict().items()
    }


def _capture_device(captured: Captured) -> torch.device | None:
    """The device capture ran on: its first tensor input's, else its model's first weight's."""
    for node in captured.graph.find_nodes(op="placeholder"):
        if isinstance(node.meta.get("val"), torch.Tensor):
            return node.meta["val"].device
    return _first_tensor_device(captured.root)


def _first_tensor_input(params: list[Param]) -> str:
    """`x.device` for the first tensor input, else "cpu"."""
    for param in params:
        if param.annotation == "torch.Tensor" and not param.star:
            return f"{param.name}.device"
    return string_literal("cpu")


class _SplitAgain(Exception):
    """The units of `path` must be split otherwise."""

    def __init__(self, path: str) -> None:
        self.path = path


class _DifferentCalls(_SplitAgain):
    pass


class _TwinApart(_SplitAgain):
    pass


class _NoDevice(_SplitAgain):
    pass


def _lower_units(
    captured: Captured,
    units: list[Unit],
    imports: Imports,
    module_names: Namespace,
    root_name: str,
    style: str,
    example_inputs: tuple[Any, ...] | None,
    writing: _Writing,
    init_arguments: bool,
) -> tuple[list[ClassDef], ModuleTree, dict[str, torch.Tensor]]:
    """The classes of `units` (children first), written once per distinct code.

    Class names are chosen last, so that they are stable under small edits: of several
    variants of one class, the one used most keeps the plain name (`Block`), the others
    are `Block_v2`, ... by how many modules use them (first use breaks ties). Until then
    `__init__` code refers to a class by a token."""
    class_of: dict[str, str] = {}  # module path -> class token
    paths: list[str] = []  # the keys of class_of, sorted
    code_of: dict[str, tuple[Any, ...]] = {}
    by_code: dict[tuple[Any, ...], str] = {}  # code -> class token
    keys: dict[tuple[int, str], tuple[Any, ...]] = {}  # (id(class), its hint) -> (hint, code)
    classes: list[ClassDef] = []
    uses: dict[str, int] = {}  # class token -> number of modules using it
    buffers: dict[str, torch.Tensor] = {}
    reuse = ClassReuse()
    lowered: dict[int, tuple[ClassDef, frozenset[str]]] = {}  # id(unit) -> its class, the names it avoided
    imported = _local_names(imports)  # as of now: only lowering a unit imports more
    for unit in units:
        if unit.twin_of is not None:  # `hierarchy.split` found its lowering would repeat another's
            cls, avoided = lowered[id(unit.twin_of)]
            if imported != avoided:
                raise _TwinApart(unit.path)
            # no buffers of its own to add: the root's tree records every non-persistent
            # buffer of the model, and a twin reads no constant (its key would not hold one)
            lowered[id(unit)] = cls, avoided
        else:
            inputs = example_inputs if not unit.path else None
            lowering = _ClassLowering(captured, unit, imports, style, inputs, _descendants(unit.path, class_of, paths))
            avoided = _local_names(imports)
            try:
                cls = reuse.lowered(_reuse_key(lowering) if unit.path else None, lambda: lowering.lower(*writing)[0])
            except NoDeviceSource:
                raise _NoDevice(unit.path) from None
            imported = _local_names(imports)
            tree = lowering.tree
            lowered[id(unit)] = cls, avoided
            buffers.update({join_path(unit.path, k): v for k, v in tree.buffers.items()})
            if not unit.path:
                cls.name = root_name
                classes.append(cls)
                if init_arguments:
                    merge_variants(classes, uses)
                _name_classes(classes, uses, module_names)
                return classes, tree, buffers
        if unit.sequential:
            continue  # stays a torch.nn.Sequential
        key = keys.get((id(cls), unit.class_hint))  # a twin's class is its first's
        if key is None:
            key = keys[id(cls), unit.class_hint] = (unit.class_hint, code_key(cls))
        if code_of.setdefault(unit.path, key) != key:
            raise _DifferentCalls(unit.path)
        if key not in by_code:
            by_code[key] = cls.name = _class_token(len(by_code))
            classes.append(cls)
        if unit.path not in class_of:
            uses[by_code[key]] = uses.get(by_code[key], 0) + 1
            bisect.insort(paths, unit.path)
        class_of[unit.path] = by_code[key]
    raise AssertionError("the root unit comes last")


def _class_token(index: int) -> str:
    return f"\x01{index}\x01"


def _name_classes(classes: list[ClassDef], uses: dict[str, int], names: Namespace) -> None:
    """Give each generated class its name, and write the names into `__init__` code.

    A variant whose `__init__` is its base's writes only `forward`, as a subclass
    (`class Block_v2(Block)`), placed right after the base."""
    by_hint: dict[str, list[ClassDef]] = {}
    for cls in classes[:-1]:
        by_hint.setdefault(sanitize(cls.original), []).append(cls)
    chosen: dict[str, str] = {}
    bases: dict[str, ClassDef] = {}
    for hint, variants in by_hint.items():
        ranked = sorted(variants, key=lambda c: -uses.get(c.name, 0))  # stable: first use breaks ties
        for number, cls in enumerate(ranked, start=1):
            chosen[cls.name] = names.fresh(hint if number == 1 else f"{hint}_v{number}")
            if number > 1 and [s.code for s in cls.init] == [s.code for s in ranked[0].init]:
                bases[cls.name] = ranked[0]
    for cls in classes:
        for statement in cls.init:
            statement.code = CLASS_TOKEN.sub(lambda m: chosen[m.group(0)], statement.code)
    for cls in classes:
        base = bases.get(cls.name)
        cls.name = chosen.get(cls.name, cls.name)
        if base is not None:
            cls.base, cls.inherits_init = chosen.get(base.name, base.name), True
    for cls in [c for c in classes if c.inherits_init]:  # after its base
        classes.remove(cls)
        classes.insert(next(i for i, c in enumerate(classes) if c.name == cls.base) + 1, cls)


_TORCH_OPS = (torch._ops.OperatorBase, torch._ops.OpOverloadPacket)  # written as `torch.ops.<ns>.<op>`


def _import_callees(graph: fx.Graph, imports: Imports, names: Namespace) -> None:
    """Import every called function first, so that no variable takes an imported name."""
    writer = ExprWriter(imports, lambda node: Expr(node.name), names.is_taken)
    for node in graph.nodes:
        target = node.target
        if node.op == "call_function" and not _is_syntax(target) and not isinstance(target, _TORCH_OPS):
            writer.describe = lambda node=node: f"node {node.name!r} ({node.op} {_target_text(node.target)})"
            writer.qualified(target)


def _root_class_name(original: str, requested: str | None) -> str:
    if requested is not None:
        if not is_attr_name(requested) or requested in RESERVED or requested == "load":
            raise ExportError(f"class_name={requested!r} is not a usable Python class name")
        return requested
    name = sanitize(original)
    return name + "_" if name in RESERVED or name == "load" else name


def _descendants(path: str, class_of: dict[str, str], paths: list[str]) -> dict[str, str]:
    """Generated classes below `path`, by name relative to it (`paths`: the keys of
    `class_of`, sorted, so that they are found without scanning every module)."""
    if not path:
        return dict(class_of)
    prefix = path + "."
    below = paths[bisect.bisect_left(paths, prefix) : bisect.bisect_left(paths, path + "/")]  # "/" follows "."
    return {p[len(prefix) :]: class_of[p] for p in below}


def _reuse_key(lowering: _ClassLowering) -> tuple[Any, ...] | None:
    """Everything `_ClassLowering.lower` reads for a class below the root, so that equal
    keys lower to equal code (`fxgen.reuse`); None where a unit reads a constant or a
    value the key cannot hold."""
    unit, module, tree = lowering.unit, lowering.module, lowering.tree
    index: dict[fx.Node, int] = {}
    nodes = []
    try:
        for node in unit.graph.nodes:
            index[node] = len(index)
            nodes.append(
                _node_key(lowering.captured.constants, node, node.target, index, node.meta.get(CONTEXT), unit.path, module)
            )
        key = (
            unit.class_hint, tuple(unit.notes), tuple(nodes),
            tuple(s.code for s in tree.init), tuple(tree.kinds.items()),
            _first_tensor_device(module) if lowering.captured.method == "export" else None,
            _local_names(lowering.imports),
        )
        hash(key)
    except (Unkeyable, TypeError, AttributeError, IndexError, ExportError):  # TypeError: unhashable
        return None
    return key


def _node_key(
    constants: dict[str, torch.Tensor],
    node: fx.Node,
    target: Any,
    index: dict[fx.Node, int],
    context: Any,
    unit_path: str,
    module: nn.Module,
) -> tuple[Any, ...]:
    """What lowering reads of one node of the unit at `unit_path` (`target`, `context`:
    the node's target and `with` regions as that unit's graph has them); raises
    `Unkeyable` (`hierarchy.NodeKey`)."""
    meta = node.meta
    try:
        if node.op == "get_attr":
            read = _attribute_key(constants, unit_path, module, str(target))
        elif node.target in _TRAINING_ARGUMENTS:  # the mode of the module it is in
            path, relative = _running_in(node, unit_path)
            owner = submodule(module, relative) if relative is not None else None
            if relative is not None and owner is None:
                raise Unkeyable(str(target))
            read = (relative, owner.training) if owner is not None else ("outside", path)
        else:
            read = None
    except (AttributeError, IndexError, ExportError) as exc:
        raise Unkeyable(str(target)) from exc
    return (
        node.op, target, node.type, _name_hint(node, target),
        argument_key(node.args, index), argument_key(node.kwargs, index),
        value_key(meta.get("val")), meta.get("stack_trace"), context, bool(meta.get(KEYWORD_ONLY)),
        read,
    )


def _running_in(node: fx.Node, unit_path: str) -> tuple[str, str | None]:
    """The path of the module `node` runs in (its innermost module call), and that path
    relative to the unit at `unit_path` (None where the module is outside the unit)."""
    stack = module_stack(node)
    path = stack[-1][1] if stack else ""
    if not unit_path:
        return path, path
    if path == unit_path or path.startswith(unit_path + "."):
        return path, path[len(unit_path) + 1 :]
    return path, None


def _local_names(imports: Imports) -> frozenset[str]:
    """The imported names a class's lowering avoids, less those always avoided (`F`
    imported by now or not: the same names)."""
    return frozenset(imports.local_names() - _ALWAYS_TAKEN)


def _first_tensor_device(module: nn.Module) -> torch.device | None:
    """The device `device_source` falls back to: the first parameter's, else buffer's."""
    tensor = next(itertools.chain(module.parameters(), module.buffers()), None)
    return None if tensor is None else tensor.device


def _attribute_key(constants: dict[str, torch.Tensor], unit_path: str, module: nn.Module, target: str) -> Any:
    """What a `get_attr` reads: a registered tensor or a module (written by name), or a
    literal; a constant is no part of a key (it becomes the instance's own buffer)."""
    if join_path(unit_path, target) in constants:
        raise Unkeyable(target)
    owner_path, _, name = target.rpartition(".")
    owner = submodule(module, owner_path)  # one walk for the value and its registration
    value = _resolve_attr(module, target) if owner is None else getattr(owner, name, _MISSING)
    if value is _MISSING:  # lowering says what is missing
        raise Unkeyable(target)
    if isinstance(value, nn.Module):
        return "module"
    if isinstance(value, torch.Tensor):
        if owner is None or not _registers(owner, name):
            raise Unkeyable(target)
        return "tensor"
    return argument_key(value, {})


_MISSING = object()  # what `getattr` gives for an attribute that is not there


class _Values:
    """What lowering knows of the values so far, for `ExprWriter`: each node's expression,
    and the node being lowered (for error messages). Apart from `_ClassLowering`, so that
    the writer's callbacks do not point back at the lowering, which holds the writer: that
    cycle kept a lowering and all it made alive until the next collection."""

    __slots__ = ("of", "current")

    def __init__(self) -> None:
        self.of: dict[fx.Node, Expr] = {}
        self.current: fx.Node | None = None

    def value_of(self, node: fx.Node) -> Expr:
        try:
            return self.of[node]
        except KeyError:
            raise ExportError(f"{self.describe()} uses {node.name!r} before it is defined") from None

    def describe(self) -> str:
        node = self.current
        if node is None:
            return ""
        return f"node {node.name!r} ({node.op} {_target_text(node.target)})"


class _ClassLowering:
    """One class: its module tree and its `forward`, one lowering function per opcode."""

    def __init__(
        self,
        captured: Captured,
        unit: Unit,
        imports: Imports,
        style: str,
        example_inputs: tuple[Any, ...] | None,
        classes: dict[str, str],
    ) -> None:
        self.captured = captured
        self.unit = unit
        self.module = unit.module
        self.style = style
        self.example_inputs = example_inputs
        self.imports = imports
        self.names = Namespace(imports.local_names())
        self.known = _Values()
        self.tokens: dict[fx.Node, int] = {}  # a variable's value -> its token's index (`variable`)
        self.tensor_tokens: set[int] = set()
        self.attribute_tokens: set[int] = set()
        self.unpacked: set[fx.Node] = set()  # `x[i]` nodes bound by their source's statement
        self.unpacked_hints: dict[int, list[str]] = {}
        self.stores: set[int] = set()  # statements that assign into a value (`x[0] = v`, `x += y`), by id
        self.returned: fx.Node | None = None  # the node written inside the return statement (`return x + y`)
        self.writer = ExprWriter(self.imports, self.known.value_of, self.names.is_taken, self.known.describe)
        self.tree = build_tree(
            unit.module, self.writer, captured.constructors, captured.numbered_modules_are_lists, classes
        )
        self.functional = False  # the functional style: attributes are `state[...]`
        self.public_calls: set[fx.Node] = set()  # ATen calls written with the public API
        self.constants_read: dict[str, torch.Tensor] = {}

    def lower(
        self, reuse_names: bool = True, source_comments: str | bool = "auto", record_meta: bool = False
    ) -> tuple[ClassDef, ModuleTree]:
        nodes = list(self.unit.graph.nodes)
        params: list[Param] = []
        body: list[Statement] = []
        result: Statement | None = None
        placeholders = [n for n in nodes if n.op == "placeholder"]
        blocked = set(_EMITTED_BUILTINS) | _builtins_called(nodes) | _ALWAYS_TAKEN
        if self.functional:
            blocked |= {"state", "constants"}
            self.names.reserve("state")
            self.names.reserve("constants")
        blocked |= self.imports.local_names()
        for index, node in enumerate(placeholders):
            params.append(self.placeholder(node, index, blocked))
        if self.captured.method == "export" or self.functional:  # devices capture baked in
            self.writer.device = self.device_source(placeholders)
        contexts: list[tuple[Any, ...]] = []
        for node in nodes:
            self.known.current = node
            if node.op == "placeholder":
                continue
            lowered = _LOWERINGS[node.op](self, node)
            if node.op == "output":
                result = lowered
            elif lowered is not None:
                body.append(lowered)
                contexts.append(tuple(node.meta.get(CONTEXT, ())))
        assert result is not None, "an FX graph always ends with an output node"
        if body and not contexts[-1] and _returned_directly(body[-1]):
            last = body.pop()  # `return self.fc(x)`: a value made only to be returned
            inlined = result.expr.replace(last.targets, last.expr)
            if inlined.count(last.expr) == 1:
                result.expr, self.returned = inlined, last.node
                contexts.pop()
            else:
                body.append(last)
        body.append(result)
        places: _Places = {
            s.node: source.from_stack_trace(s.node.meta.get("stack_trace")) for s in body if s.node is not None
        }
        body, contexts = self.name_values(params, body, contexts + [()], reuse_names, places, record_meta)
        body, contexts = body[:-1], contexts[:-1]  # the result comes back named
        _comment_sources(body, source_comments, places, record_meta)
        forward = Function("forward", params, self.blocks(body, contexts), result)
        notes = [comment_text(note) for note in self.unit.notes]
        cls = ClassDef(
            self.unit.class_hint, self.writer.qualified(nn.Module), self.tree.init, forward, notes, self.unit.class_hint
        )
        return cls, self.tree

    # -- helpers --------------------------------------------------------------------

    def bind(self, node: fx.Node, expr: Expr, opcode: str) -> Statement:
        """A statement that computes `expr`; later uses of `node` read its variable, whose
        name `name_values` chooses once the whole body is known. A result that is only
        indexed by constants is unpacked: `q, k, v = x.chunk(3, dim=-1)`."""
        if not node.users:
            return Statement(opcode, node, "", "=", expr.text)
        items = _unpacked_items(node)
        if items is None:
            return Statement(opcode, node, self.variable(node), "=", expr.text)
        targets, hints = self.unpack(items, _name_hint(node))
        statement = Statement(opcode, node, targets, "=", expr.text)
        self.unpacked_hints[id(statement)] = hints
        return statement

    def variable(self, node: fx.Node) -> str:
        """The token of a new variable holding `node`'s value; later uses of `node` read it."""
        index = self.tokens[node] = len(self.tokens)
        value = token(index)
        self.known.of[node] = Expr(value)
        if isinstance(node.meta.get("val"), torch.Tensor):
            self.tensor_tokens.add(index)
        if node.op == "get_attr":
            self.attribute_tokens.add(index)
        return value

    def unpack(self, items: list[fx.Node | None], hint: str) -> tuple[str, list[str]]:
        """The targets that unpack `items` (`a, _, (b, c)`: `_` for an unused item, an item
        only indexed by constants unpacked in turn) and a name hint for each of them."""
        targets, hints = [], []
        for i, item in enumerate(items):
            if item is not None:
                self.unpacked.add(item)
            inner = _unpacked_items(item) if item is not None and item.users else None
            if item is None or not item.users:
                targets.append("_")
                hints.append("_")
            elif inner is not None:  # `out, (h, c) = self.lstm(x)`
                text, inner_hints = self.unpack(inner, f"{hint}_{i}")
                targets.append(f"({text})")
                hints += inner_hints
            else:
                targets.append(self.variable(item))
                hints.append(_returned_as(item) or f"{hint}_{i}")
        return ", ".join(targets), hints

    def name_values(
        self,
        params: list[Param],
        body: list[Statement],
        contexts: list[tuple[Any, ...]],
        reuse: bool,
        places: _Places,
        record_meta: bool,
    ) -> tuple[list[Statement], list[tuple[Any, ...]]]:
        """Choose every variable's name (`naming.plan_names`) and write it into the code
        (and, with `record_meta`, what capture recorded about each value into its `meta`)."""
        user_names = _user_names(body, type(self.module), self.stores)
        unpacked = self.unpacked_hints
        drafts = []
        for s in body:
            node = s.node
            if id(s) in self.stores:  # reads its place, binds nothing
                drafts.append(Draft([], s.expr, [], "", stores=s.targets, line=places.get(node)))
                continue
            if node is not None and node.op == "output" and self.returned is not None:
                node = self.returned  # `return identity + x` ends a skip connection as `+` does
            chain, commutative = _chain(node)
            hints = unpacked.get(id(s)) or [_name_hint(node)]
            drafts.append(
                Draft(read_targets(s.targets), s.expr, hints, chain, commutative, user_names.get(id(s), []), places.get(s.node))
            )
        param_tokens = {self.tokens[p.node]: p.name for p in params}
        plan = plan_names(
            drafts, param_tokens, self.tensor_tokens, self.names, reuse, frozenset(self.attribute_tokens)
        )
        self.names_of = plan.names
        statements, statement_contexts = [], []
        position = 0  # of the next draft of `body` in `plan.drafts`: the plan only inserts aliases, each before a draft
        for draft in plan.drafts:
            context = contexts[position]
            if draft is drafts[position]:
                statement = body[position]
                position += 1
            else:  # a residual kept before its chain (`identity = x`), in the chain's context
                statement = Statement("alias", None, token(draft.binds[0]), "=", draft.expr)
            if draft.deletes:
                statement.deletes = [plan.names[t] for t in draft.deletes]
            if record_meta:
                statement.meta.update(_recorded(statement.node))
            statements.append(statement)
            statement_contexts.append(context)
        texts = substitute_all([s.targets for s in statements] + [d.expr for d in plan.drafts], plan.names)
        for statement, targets, expr in zip(statements, texts, texts[len(statements) :]):
            statement.targets, statement.expr = targets, expr
        return statements, statement_contexts

    def substitute(self, text: str) -> str:
        return substitute(text, self.names_of)

    # -- one function per opcode -------------------------------------------------------

    def placeholder(self, node: fx.Node, index: int, blocked: set[str]) -> Param:
        """An input of `forward`; it keeps the user's name unless generated code needs it."""
        self.known.current = node
        target = str(node.target)
        star = "**" if target.startswith("**") else "*" if target.startswith("*") else ""
        wanted = target[len(star) :]
        if is_attr_name(wanted) and wanted not in blocked:
            blocked.add(wanted)
            self.names.reserve(wanted)
            name = wanted
        else:
            name = self.names.fresh(wanted)
        self.variable(node)
        default = self.writer.value(node.args[0]).text if node.args else None
        keyword_only = bool(node.meta.get(KEYWORD_ONLY))
        return Param("placeholder", node, name, self.annotation(node, index, star), default, star, keyword_only)

    def annotation(self, node: fx.Node, index: int, star: str) -> str | None:
        if star:
            return None
        if isinstance(node.type, type) and node.type in (torch.Tensor, int, float, bool, str):
            return self.writer.qualified(node.type)
        if isinstance(node.meta.get("val"), torch.Tensor):
            return self.writer.qualified(torch.Tensor)
        if self.example_inputs is not None and index < len(self.example_inputs):
            kind = type(self.example_inputs[index])
            if issubclass(kind, torch.Tensor):
                return self.writer.qualified(torch.Tensor)
            if kind in (int, float, bool, str):
                return kind.__name__
        return None

    def blocks(self, statements: list[Statement], contexts: list[tuple[Any, ...]]) -> list[Statement]:
        """Statements with consecutive ones of one no_grad/autocast region in a `with` block."""
        if not any(contexts):  # most functions have none
            return statements
        out: list[Statement] = []
        i = 0
        while i < len(statements):
            if not contexts[i]:
                out.append(statements[i])
                i += 1
                continue
            outer = contexts[i][0]
            j = i
            while j < len(statements) and contexts[j][:1] == (outer,):
                j += 1
            inner = self.blocks(statements[i:j], [c[1:] for c in contexts[i:j]])
            out.append(Statement("with", None, "", "", self.context_manager(outer), body=inner))
            i = j
        return out

    def context_manager(self, context: tuple[Any, ...]) -> str:
        """`torch.no_grad()`, `torch.enable_grad()`, `torch.autocast(...)`."""
        self.imports.add_module("torch")
        if context[0] == "set_grad_enabled":
            return "torch.enable_grad()" if context[1] else "torch.no_grad()"
        _, device, dtype, enabled, cache = context
        kwargs = {"device_type": device, "dtype": dtype}
        if not enabled:
            kwargs["enabled"] = False
        if cache is not None:
            kwargs["cache_enabled"] = cache
        return self.writer.call("torch.autocast", (), kwargs).text

    def state_entry(self, target: str, value: torch.Tensor, detached: bool) -> Expr:
        """`state["fc.weight"]` for the state dict's tensors, `constants["..."]` for the rest."""
        if target in self.state_keys:
            return Expr(f"state[{string_literal(target)}]{'.detach()' if detached else ''}")
        self.constants_read[target] = value
        return Expr(f"constants[{string_literal(target)}]")

    @functools.cached_property
    def state_keys(self) -> set[str]:
        return set(self.module.state_dict())

    def device_source(self, placeholders: list[fx.Node]) -> tuple[torch.device, Expr | None] | None:
        """Capture bakes the inputs' device into calls (`device="cpu"`); the class writes it
        as its first tensor input's device instead, so the file runs on any device. A class
        below the root with neither tensor inputs nor weights cannot (None for the
        expression: its calls are then written inline, in a class that can)."""
        for node in placeholders:
            value = node.meta.get("val")
            if isinstance(value, torch.Tensor):
                return value.device, Expr(f"{self.known.of[node].text}.device")
        for name, tensor in list(self.module.named_parameters()) + list(self.module.named_buffers()):
            return tensor.device, Expr(f"{self.tree.member(name)}.device")  # no tensor input: its weights'
        device = _capture_device(self.captured) if self.unit.path else None
        return None if device is None else (device, None)

    def training_source(self, node: fx.Node, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """A dropout's or batch norm's baked training flag, as the mode of the module it is in."""
        name = _TRAINING_ARGUMENTS.get(target)
        if name is None or self.captured.numbered_modules_are_lists or self.functional:
            return args, kwargs
        _, relative = _running_in(node, self.unit.path)
        module = submodule(self.module, relative) if relative is not None else None
        if module is None:
            return args, kwargs
        position = [a.name for a in target._schema.arguments].index(name)
        flag = kwargs.get(name, args[position] if position < len(args) else None)
        if flag is not module.training:
            return args, kwargs
        source = Source(f"{self.tree.member(relative)}.training")
        if name in kwargs:
            return args, {**kwargs, name: source}
        return args[:position] + (source,) + args[position + 1 :], kwargs

    def get_attr(self, node: fx.Node) -> Statement | None:
        target = str(node.target)
        full = join_path(self.unit.path, target)
        if full in self.captured.constants:
            value = self.captured.constants[full]
        else:
            value = _resolve_attr(self.module, target)
        if isinstance(value, torch.Tensor) and self.functional:
            expr = self.state_entry(target, value, bool(node.meta.get(DETACHED)))
        elif isinstance(value, (torch.Tensor, nn.Module)):
            unregistered = isinstance(value, torch.Tensor) and not _is_registered(self.module, target)
            if unregistered and target not in self.tree.buffers:
                add_constant(self.tree, target, value, self.writer)
            expr = Expr(self.tree.member(target))
        else:
            expr = self.writer.value(value)
        if len(node.users) <= 1:
            self.known.of[node] = expr  # an attribute read once reads best where it is used
            return None
        return self.bind(node, expr, "get_attr")

    def call_function(self, node: fx.Node) -> Statement | None:
        if node in self.unpacked:
            return None
        target = node.target
        args, kwargs = node.args, node.kwargs
        if target in BINARY_OPERATORS and len(args) == 2 and not kwargs:
            symbol, prec = BINARY_OPERATORS[target]
            expr = binary(symbol, prec, self.writer.value(args[0]), self.writer.value(args[1]))
        elif target in UNARY_OPERATORS and len(args) == 1 and not kwargs:
            symbol, prec = UNARY_OPERATORS[target]
            expr = unary(symbol, prec, self.writer.value(args[0]))
        elif target is operator.getitem and len(args) == 2 and not kwargs:
            expr = self.writer.subscript(self.writer.value(args[0]), args[1])
        elif target is builtins.getattr and len(args) == 2 and isinstance(args[1], str) and not kwargs:
            if not node.users:  # an attribute read nothing uses (`x.ndim` of a message torch.fx baked)
                return None
            base = self.writer.value(args[0]).receiver()
            expr = Expr(f"{base}.{args[1]}" if is_attr_name(args[1]) else self.writer.call("getattr", args, {}).text)
            if _formatted_only(node):
                self.known.of[node] = expr  # `f"got {x.ndim}D input"`, as the message reads
                return None
        elif _rewraps_public_result(target, args, self.public_calls):
            self.known.of[node] = self.known.of[args[0]]  # the public function returns `target` itself
            return None
        elif isinstance(target, torch._ops.OpOverload):
            args, kwargs = self.training_source(node, target, args, dict(kwargs))
            expr = raise_call(target, args, kwargs, self.writer, node)
            if not expr.text.startswith("torch.ops."):
                self.public_calls.add(node)
            if target is _aten.sym_size.int:
                self.known.of[node] = expr  # `x.size(0)` reads best where it is used
                return None
            if _returns_its_first_argument(target) and args:
                changed = self.changed_in_place(node, args[0], expr, "call_function")  # `x.add_(y)`
                if changed is not None:
                    return changed
        elif isinstance(target, torch._ops.OpOverloadPacket):
            expr = self.writer.call(f"torch.ops.{target._qualified_op_name.replace('::', '.')}", args, kwargs)
        elif _is_syntax(target):
            form = self.operator_form(node)
            if form is None:
                raise ExportError(f"{self.known.describe()} has a form fxgen cannot write as Python syntax")
            if isinstance(form, Statement):
                return form
            expr = form
        else:
            callee = self.writer.qualified(target)
            expr = self.writer.call(callee, args, _without_defaults(target, kwargs))
            if isinstance(target, type) and _builds_output(node):
                self.known.of[node] = expr  # the returned structure reads best in the return
                return None
        if _number_step_of_its_user(node):
            self.known.of[node] = expr  # `x.view(n, c * h * w)`: as the user wrote it
            return None
        return self.bind(node, expr, "call_function")

    def operator_form(self, node: fx.Node) -> Expr | Statement | None:
        """An operator-module call with no syntax of its own (torch.compile keeps them):
        `abs(x)`, the statement `x[i] = v`, `x += y` on a tensor variable (changed in
        place: the node's value is `x`), `x + y` on a number (immutable); None for others."""
        target, args = node.target, node.args
        if node.kwargs:
            return None
        if target in _BUILTIN_OPERATORS and len(args) == 1:  # `operator.abs(x)` is `abs(x)`
            return self.writer.call(self.writer.qualified(_BUILTIN_OPERATORS[target]), args, {})
        if target is operator.setitem and len(args) == 3 and not node.users:
            place = self.writer.subscript(self.writer.value(args[0]), args[1])
            return self.store(node, place.text, "=", self.writer.value(args[2]).text)
        if target not in IN_PLACE_OPERATORS or len(args) != 2:
            return None
        symbol, prec = BINARY_OPERATORS[IN_PLACE_OPERATORS[target]]
        if _is_number(args[0]):
            return binary(symbol, prec, self.writer.value(args[0]), self.writer.value(args[1]))
        if self.is_tensor_variable(args[0]):
            self.known.of[node] = self.known.of[args[0]]
            return self.store(node, self.known.of[args[0]].text, f"{symbol}=", self.writer.value(args[1]).text)
        return None

    def store(self, node: fx.Node, place: str, op: str, expr: str) -> Statement:
        """A statement that assigns into `place` (`x[0] = v`, `x += y`): it reads `place`'s
        values and binds none."""
        statement = Statement("call_function", node, place, op, expr)
        self.stores.add(id(statement))
        return statement

    def is_tensor_variable(self, value: Any) -> bool:
        """Whether `value` is a tensor held by a variable, its own or the one it was changed
        in place as (`x += y` changes it in place)."""
        if not (isinstance(value, fx.Node) and isinstance(value.meta.get("val"), torch.Tensor)):
            return False
        expr = self.known.of.get(value)
        return expr is not None and is_token(expr.text)

    def call_method(self, node: fx.Node) -> Statement:
        receiver, *args = node.args
        method = str(node.target)
        if method == "format" and type(receiver) is str and not node.kwargs:
            formatted = formatted_string(receiver, [self.writer.value(a) for a in args])
            if formatted is not None and len(node.users) == 1:
                self.known.of[node] = formatted  # `torch._assert(..., f"got {h}")`: where it is read
                return None
            if formatted is not None:
                return self.bind(node, formatted, "call_method")
        base = self.writer.value(receiver).receiver()
        callee = f"{base}.{method}" if is_attr_name(method) else f"getattr({base}, {self.writer.value(method).text})"
        expr = self.writer.call(callee, args, node.kwargs)
        if method in _METADATA_METHODS and _formatted_only(node):
            self.known.of[node] = expr  # `f"got a {x.dim()}D input"`, as the message reads
            return None
        if _changes_its_receiver(method):
            changed = self.changed_in_place(node, receiver, expr, "call_method")
            if changed is not None:
                return changed
        return self.bind(node, expr, "call_method")

    def changed_in_place(self, node: fx.Node, tensor: Any, expr: Expr, opcode: str) -> Statement | None:
        """The statement of a call that changes `tensor` in place and returns it (`y.mul_(2)`):
        later uses of `node` read `tensor`'s variable, and it binds nothing. None where
        `tensor` is no tensor variable, or the return reads the result once (`return
        y.add_(1)` reads best as one statement)."""
        if not self.is_tensor_variable(tensor) or _returned_once(node):
            return None
        self.known.of[node] = self.known.of[tensor]
        return Statement(opcode, node, "", "=", expr.text)

    def call_module(self, node: fx.Node) -> Statement:
        callee = self.tree.member(str(node.target))
        return self.bind(node, self.writer.call(callee, node.args, node.kwargs), "call_module")

    def output(self, node: fx.Node) -> Statement:
        value = node.args[0]
        if type(value) is tuple and len(value) > 1:
            text = ", ".join(self.writer.value(v).text for v in value)
        else:
            text = self.writer.value(value).text
        return Statement("output", node, "", "", text)


_LOWERINGS: dict[str, Callable[[_ClassLowering, fx.Node], Any]] = {
    "get_attr": _ClassLowering.get_attr,
    "call_function": _ClassLowering.call_function,
    "call_method": _ClassLowering.call_method,
    "call_module": _ClassLowering.call_module,
    "output": _ClassLowering.output,
}


_aten = torch.ops.aten
#: ATen overloads whose boolean argument of this name is the module's training flag
_TRAINING_ARGUMENTS = {
    _aten.dropout.default: "train",
    _aten.feature_dropout.default: "train",
    _aten.alpha_dropout.default: "train",
    _aten.feature_alpha_dropout.default: "train",
    _aten.native_dropout.default: "train",
    _aten.batch_norm.default: "training",
}


#: operator-module functions that are a builtin's call: the same special method
_BUILTIN_OPERATORS = {operator.abs: builtins.abs, operator.truth: builtins.bool}

_MERGES = {
    operator.add: True, operator.mul: True, operator.sub: False, operator.truediv: False,
    _aten.add.Tensor: True, _aten.mul.Tensor: True, _aten.sub.Tensor: False, _aten.div.Tensor: False,
}


def _user_names(statements: list[Statement], module: type, stores: set[int]) -> dict[int, list[str | None]]:
    """The names the user's source gave values: the last statement made from a source
    line `a = ...` (or `a, b = ...`) computes what the line assigns to `a` (`stores`: the
    statements that bind nothing, by id). A value a helper function computes is named by
    the outermost line of `module`'s code that names it: the caller's `causal_mask =
    create_causal_mask(...)` before the helper's own `mask = ...`."""
    names: dict[int, list[str | None]] = {}
    lines = [source.lines_below(s.node.meta.get("stack_trace"), module) if s.node is not None else () for s in statements]
    lines.append(())
    for i, statement in enumerate(statements):
        if statement.opcode not in ("call_function", "call_method", "call_module") or id(statement) in stores:
            continue
        here, after = lines[i], lines[i + 1]
        if here == after:  # the statement after goes on with every line of this one
            continue
        for level in range(len(here)):  # outermost first
            if after[: level + 1] == here[: level + 1]:  # the line goes on
                continue
            named = _named_by_line(here[level][2], statement)
            if named is not None:
                names[id(statement)] = named
                break
    _name_changed_receivers(statements, lines, stores, names)
    return names


def _name_changed_receivers(
    statements: list[Statement], lines: list[Any], stores: set[int], names: dict[int, list[str | None]]
) -> None:
    """A value no line names, changed in place by a line that spells it by a variable
    (`y.add_(x)`), takes that variable's name: torch.fx's constant of `y = torch.zeros(3)`
    is copied where `y.add_(x)` reads it, and that copy is `y`."""
    made: dict[fx.Node, Statement] | None = None  # the statement of each value, made once one is asked for
    for statement, here in zip(statements, lines):
        node = statement.node
        if statement.targets or id(statement) in stores or node is None or not node.args:
            continue
        if made is None:
            made = {s.node: s for s in statements if s.node is not None}
        changed = made.get(node.args[0])
        if changed is None or id(changed) in names or len(read_targets(changed.targets)) != 1:
            continue
        spelled = next((n for n in map(_changed_receiver, (code for _, _, code in here)) if n is not None), None)
        if spelled is not None:
            names[id(changed)] = [sanitize(spelled)]


@functools.lru_cache(maxsize=4096)
def _changed_receiver(code: str) -> str | None:
    """`y` for a line `y.add_(x)`: a call that changes a variable in place (cached)."""
    tree = _parsed(code)
    if tree is None or len(tree.body) != 1 or not isinstance(tree.body[0], ast.Expr):
        return None
    call = tree.body[0].value
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name)):
        return None
    return call.func.value.id if _changes_its_receiver(call.func.attr) else None


def _named_by_line(code: str, statement: Statement) -> list[str | None] | None:
    """The names a source line gives the values of its last statement, if it gives them."""
    targets = _assigned_names(code)
    if not targets:
        return None
    bound = read_targets(statement.targets)
    if len(targets) == len(bound):
        return [sanitize(t) if t else None for t in targets]
    if len(bound) == 1 and statement.opcode == "call_module":
        own = _one_of_several(targets, statement.node)
        return None if own is None else [sanitize(own)]
    return None


@functools.lru_cache(maxsize=4096)
def _assigned_names(code: str) -> tuple[str | None, ...] | None:
    """`q` for `q = ...`, `[a, b]` for `a, b = ...`, `x` for `x += ...`; None otherwise
    (cached: every call of a module asks about the same source lines). A stack trace keeps
    only a statement's first line: `q = self.f(` is read by its targets."""
    tree = _parsed(code)
    if tree is None:
        head = _assignment_head(code)
        tree = None if head is None else _parsed(head)
    if tree is None or len(tree.body) != 1:
        return None
    statement = tree.body[0]
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        target = statement.targets[0]
    elif isinstance(statement, (ast.AugAssign, ast.AnnAssign)):
        target = statement.target
    else:
        return None
    if isinstance(target, ast.Name):
        return (target.id,)
    if isinstance(target, ast.Tuple):
        return tuple(_flat_names(target))
    return None


def _parsed(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except SyntaxError:
        return None


#: the operators of assignment statements
_ASSIGNING = frozenset({"=", "+=", "-=", "*=", "/=", "//=", "%=", "@=", "&=", "|=", "^=", ">>=", "<<=", "**="})


def _assignment_head(code: str) -> str | None:
    """`q = 0` for `q = self.f(`, the first line of an assignment whose value goes on over
    more lines; None where the line assigns nothing outside brackets."""
    depth, cut = 0, None
    try:
        for part in tokenize.generate_tokens(io.StringIO(code).readline):
            if part.type != tokenize.OP:
                continue
            if part.string in ("(", "[", "{"):
                depth += 1
            elif part.string in (")", "]", "}"):
                depth -= 1
            elif depth == 0 and part.string in _ASSIGNING:
                cut = part  # the last: `a = b = f(` has two targets, as the whole statement
    except (tokenize.TokenError, SyntaxError):  # the brackets the line leaves open
        pass
    return None if cut is None else f"{code[: cut.start[1]]}{cut.string} 0"


def _flat_names(target: ast.expr) -> list[str | None]:
    """The names a target assigns, nested tuples flattened (`out, (h, c)`: out, h, c), in
    the order `naming.read_targets` lists a statement's targets; None for any other kind of target."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in _flat_names(element)]
    return [None]


#: comments stay within black's line length (88) at a method body's indentation
_COMMENT_WIDTH = 88 - 8 - 2


def _comment_sources(statements: list[Statement], mode: str | bool, places: _Places, record_meta: bool) -> None:
    """Label statements with the user's source line they come from (`# pkg.mod:42  code`),
    and, with `record_meta`, record it in their `meta` (`source`, `source_code`).

    Consecutive statements from one line share one comment, on the first. `mode` "auto"
    labels only lines that became several statements, where mapping back is not obvious;
    True labels every line; False none."""
    if mode is False:
        return
    runs: list[tuple[source.Location, list[Statement]]] = []
    previous = None
    for statement in statements:
        where = places.get(statement.node)
        if where is None:
            previous = None
            continue
        if where == previous:
            runs[-1][1].append(statement)
        else:
            runs.append((where, [statement]))
        previous = where
        statement.comment = None
    for where, run in runs:
        label = str(where)
        if record_meta:
            for statement in run:
                statement.meta["source"] = label
                statement.meta["source_code"] = where.code
        if mode == "auto" and len(run) < 2:
            continue
        code = comment_text(where.code)
        room = max(_COMMENT_WIDTH - len(label) - 2, 24)
        quoted = code if len(code) <= room else code[: room - 3] + "..."
        run[0].comment = f"{comment_text(label)}  {quoted}".rstrip()


def _recorded(node: fx.Node | None) -> dict[str, str]:
    """What capture recorded about a statement's value, for templates: shape and dtype."""
    value = node.meta.get("val") if node is not None else None
    if isinstance(value, torch.Tensor):
        try:
            return _tensor_recorded(value.shape, value.dtype)
        except TypeError:  # a symbolic size is not hashable
            return {"shape": _shape_text(value.shape), "dtype": _dtype_text(value.dtype)}
    if isinstance(value, (tuple, list)) and value and all(isinstance(v, torch.Tensor) for v in value):
        return {"shape": ", ".join(_shape_text(v.shape) for v in value), "dtype": _dtype_text(value[0].dtype)}
    return {}


@functools.lru_cache(maxsize=4096)
def _tensor_recorded(shape: torch.Size, dtype: torch.dtype) -> dict[str, str]:
    """`_recorded` of a tensor of plain sizes, made once per shape and dtype (the caller
    copies it into the statement's own `meta`)."""
    return {"shape": _shape_text(shape), "dtype": _dtype_text(dtype)}


def _shape_text(shape: torch.Size) -> str:
    """`(2, 3)`, as `str(tuple(shape))` writes it (a symbolic size's repr is its text)."""
    sizes = shape_key(shape)
    return f"({sizes[0]},)" if len(sizes) == 1 else f"({', '.join(sizes)})"


@functools.lru_cache(maxsize=None)
def _dtype_text(dtype: torch.dtype) -> str:
    """`float32` for torch.float32."""
    return str(dtype).replace("torch.", "")


def _returned_directly(statement: Statement) -> bool:
    """Whether the statement's single value is used by the return statement alone, as
    the whole returned value or one element of it."""
    node = statement.node
    if node is None or not statement.targets or "," in statement.targets or statement.op != "=":
        return False
    return _returned_once(node)


def _returned_once(node: fx.Node) -> bool:
    """Whether the return statement alone reads the node, once, as the whole returned
    value or one element of it (`return {"a": x}, x` reads it twice)."""
    if list(node.users) != [_output_of(node)]:
        return False
    value = _output_of(node).args[0]
    if value is not node and (type(value) is not tuple or node not in value):
        return False
    found: list[fx.Node] = []
    fx.node.map_arg(value, lambda n: found.append(n) if n is node else None)
    return len(found) == 1


def _changes_its_receiver(method: str) -> bool:
    """Whether a tensor method of this name works in place and returns the tensor itself
    (`mul_`, `add_`, `relu_`; not a special method such as `__add__`)."""
    return method.endswith("_") and not method.endswith("__")


def _returns_its_first_argument(op: torch._ops.OpOverload) -> bool:
    """Whether an ATen overload changes its first argument in place and returns it
    (`add_`, `index_put_`, `copy_`: the schema's `Tensor(a!) self -> Tensor(a!)`)."""
    schema = op._schema
    if len(schema.returns) != 1 or not schema.arguments:
        return False
    returned, first = schema.returns[0].alias_info, schema.arguments[0].alias_info
    return returned is not None and first is not None and returned.is_write and returned.before_set == first.before_set


def _output_of(node: fx.Node) -> fx.Node:
    return next(n for n in reversed(node.graph.nodes) if n.op == "output")


def _unpacked_items(node: fx.Node) -> list[fx.Node | None] | None:
    """The `x[0], x[1], ...` nodes that use a tuple-valued node, one per item (None for an
    unused item), when constant indexing is all that is done with it; else None."""
    value = node.meta.get("val")
    if not isinstance(value, (tuple, list, torch.Size)) or not 1 < len(value) <= 8:
        return None
    items: list[fx.Node | None] = [None] * len(value)
    for user in node.users:
        index = user.args[1] if user.target is operator.getitem and len(user.args) == 2 else None
        if user.op != "call_function" or type(index) is not int or not 0 <= index < len(value):
            return None
        if items[index] is not None:
            return None  # the same item read twice: index it instead
        items[index] = user
    return items


def _returned_as(item: fx.Node) -> str | None:
    """The name the called module gives a value it returns (`position_bias`, from the line
    of its own code that assigns it), for an item of a module call's result."""
    call = item.args[0]
    if not isinstance(call, fx.Node) or call.op != "call_module":
        return None
    return _named_by_callee(item.meta.get(RETURNED), call)


def _one_of_several(targets: tuple[str | None, ...], call: fx.Node) -> str | None:
    """The name of a module call's one value the caller reads, where its line assigns
    several: the one target not `_` (`self_attention_output, _ = self.attention(...)`),
    else the module's own name for the value it returns (`attention_output, attn_weights
    = self.self(...)`, whose code ends `attn_output = ...`)."""
    named = [t for t in targets if t and t != "_"]
    if len(named) == 1:
        return named[0]
    return _named_by_callee(call.meta.get(RETURNED), call)


def _named_by_callee(returned: tuple[str | None, int | None] | None, call: fx.Node) -> str | None:
    """The variable the called module's own line assigns the value it returns (`returned`:
    hierarchy.RETURNED): the line's one target, or the target of the value's index where
    the line unpacks its operation's results (`router_top_value, router_indices = ...`)."""
    if returned is None:
        return None
    trace, index = returned
    where = source.from_stack_trace(trace)
    if where is None or where == _source_line(call):  # a line of the caller's: its own targets name it
        return None
    names = _assigned_names(where.code)
    if names is None:
        return None
    if len(names) == 1:
        return names[0]
    return names[index] if index is not None and index < len(names) else None


def _chain(node: fx.Node) -> tuple[str, bool]:
    """How a statement may take over its input's name (naming.plan_names, rule 2), and
    whether either of its operands may carry the name on (`+`, `*`)."""
    if node.op == "call_module":
        return "module", False
    if node.op == "call_method":
        return "unary", False
    if node.op == "call_function":
        commutative = _MERGES.get(node.target)
        return ("unary", False) if commutative is None else ("merge", commutative)
    return "", False


#: Python number types a graph value may have (sizes and arithmetic on them)
_NUMBERS = (bool, int, float, torch.SymInt, torch.SymFloat, torch.SymBool)


def _is_number(value: Any) -> bool:
    """Whether `value` (a constant, or a node by its recorded value) is a Python number."""
    return isinstance(value.meta.get("val") if isinstance(value, fx.Node) else value, _NUMBERS)


def _number_step_of_its_user(node: fx.Node) -> bool:
    """Whether `node` is arithmetic on Python numbers (an operator or a `math` function of
    sizes, such as `dim // 2`), read once, by an operation of the same source line: it is
    then written inside that operation, as the line has it. Numbers are never rebound and
    their names are chosen after lowering, so the step computes the same value there; a
    step the user assigned on a line of its own keeps its statement and its name."""
    target = node.target
    if len(node.users) != 1 or not (
        target in BINARY_OPERATORS or target in UNARY_OPERATORS or getattr(target, "__module__", None) == "math"
    ):
        return False
    if not isinstance(node.meta.get("val"), _NUMBERS):  # most steps compute tensors
        return False
    if not all(isinstance(n.meta.get("val"), _NUMBERS) for n in node.all_input_nodes):
        return False
    (user,) = node.users
    return _source_line(node) == _source_line(user)


#: tensor methods that read what a tensor is, not its data: a message may format them in place
_METADATA_METHODS = frozenset({"dim", "ndimension", "size", "numel", "nelement", "stride", "element_size"})


def _formatted_only(node: fx.Node) -> bool:
    """Whether a string's `format` call (an f-string in the model) is all that reads `node`."""
    users = node.users
    return bool(users) and all(u.op == "call_method" and u.target == "format" and type(u.args[0]) is str for u in users)


def _source_line(node: fx.Node) -> source.Location | None:
    return source.from_stack_trace(node.meta.get("stack_trace"))


def _builds_output(node: fx.Node) -> bool:
    """Whether a constructed object (named tuple, dataclass) is only part of the return value."""
    (user,) = node.users if len(node.users) == 1 else (None,)
    if user is None:
        return False
    return user.op == "output" or (user.op == "call_function" and isinstance(user.target, type) and _builds_output(user))


def _rewraps_public_result(target: Any, args: tuple[Any, ...], public_calls: set[fx.Node]) -> bool:
    """`torch.return_types.topk(topk)` around an ATen call written as `torch.topk(...)`,
    which already returns that type (the `torch.ops.aten` spelling returns a tuple)."""
    return (
        pytree.is_structseq_class(target)
        and len(args) == 1
        and isinstance(args[0], fx.Node)
        and args[0] in public_calls
    )


def _name_hint(node: fx.Node, target: Any = None) -> str:
    """What a value is called: the module it comes from or the operation that makes it,
    relative to its own class and without torch.fx's global counters (`target`: the
    node's, relative to its class, where its graph is not that class's)."""
    target = node.target if target is None else target
    if node.op in ("call_module", "get_attr", "call_method", "placeholder"):
        return str(target)
    if isinstance(target, torch._ops.OpOverload):
        return target._schema.name.split("::")[-1].strip("_")
    if target is builtins.getattr and isinstance(node.args[1], str):
        return node.args[1]
    return getattr(target, "__name__", node.name).strip("_") or node.name


def _builtins_called(nodes: list[fx.Node]) -> set[str]:
    """Names of builtins the graph calls (`len`, `int`, ...), which inputs must not shadow."""
    return {_BUILTIN_NAMES[node.target] for node in nodes if node.op == "call_function" and node.target in _BUILTIN_NAMES}


#: builtin functions and classes by their names
_BUILTIN_NAMES = {
    value: name for name, value in vars(builtins).items() if callable(value) and getattr(value, "__name__", None) == name
}


def _is_syntax(target: Any) -> bool:
    """Targets written as Python syntax rather than as a call."""
    return (
        target in BINARY_OPERATORS
        or target in UNARY_OPERATORS
        or target is operator.getitem
        or target is builtins.getattr
        or getattr(target, "__module__", None) == "_operator"
    )


def _target_text(target: Any) -> str:
    if isinstance(target, str):
        return target
    module = getattr(target, "__module__", None)
    name = getattr(target, "__qualname__", None) or getattr(target, "__name__", repr(target))
    return f"{module}.{name}" if module else name


@functools.lru_cache(maxsize=None)
def _defaults(target: Callable[..., Any]) -> dict[str, Any]:
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return {}
    return {name: p.default for name, p in params.items() if p.default is not inspect.Parameter.empty}


def _without_defaults(target: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments minus those equal to the callee's own default (`_stacklevel=3`)."""
    try:
        defaults = _defaults(target)
    except TypeError:  # unhashable callable
        return dict(kwargs)
    return {k: v for k, v in kwargs.items() if k not in defaults or not is_default(v, defaults[k])}


def _resolve_attr(root: nn.Module, target: str) -> Any:
    value: Any = root
    for part in target.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise ExportError(f"the graph reads {target!r}, which the module does not have") from None
    return value


def _is_registered(root: nn.Module, target: str) -> bool:
    """Whether `target` is a parameter, buffer or submodule of a module under `root`."""
    owner_path, _, name = target.rpartition(".")
    owner = submodule(root, owner_path)
    return owner is not None and _registers(owner, name)


def _registers(owner: nn.Module, name: str) -> bool:
    """Whether `name` is a parameter, buffer or submodule of `owner`."""
    return name in owner._parameters or name in owner._buffers or name in owner._modules
