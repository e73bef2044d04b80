"""Hierarchy: a flat graph cut into one graph per module call, for nested classes.

Every node records the module calls it happened in (`nn_module_stack`). A call whose
nodes form one contiguous block becomes a graph of its own, and the parent calls it
(`hidden = self.layer[3](hidden, mask)`); its inputs are the values it reads from
outside, named after the parameters they were passed as where capture recorded the
call, and its outputs are the values read after it. A call of a built-in leaf module
(`torch.nn.Linear`, ...) that takes one tensor and returns one becomes a plain call of
that module. Where a boundary cannot be cut cleanly the call is left inline and a note
says why.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import fx, nn

from fxgen import source
from fxgen.fxcopy import copy_graph, copy_node
from fxgen.modules import SINGLE_TENSOR_MODULES
from fxgen.reuse import Unkeyable, argument_key, value_key
from fxgen.tree import StructureKeys

__all__ = ["Unit", "split", "ORIGIN"]

#: `node.meta` key: the node's name in the captured graph, used by recorded calls
ORIGIN = "fxgen_origin"
#: `node.meta` key: names of other captured nodes that hold the very same value
ALIASES = "fxgen_aliases"
#: `node.meta` key: the `with` regions (no_grad, autocast) a node runs in, outermost first
CONTEXT = "fxgen_context"


def origins(node: fx.Node) -> set[str]:
    """The captured names under which recorded calls may refer to `node`'s value."""
    names = set(node.meta.get(ALIASES, ()))
    if node.meta.get(ORIGIN) is not None:
        names.add(node.meta[ORIGIN])
    return names


@dataclass
class Unit:
    """One class of the generated file: the graph of one module's calls."""

    path: str  #: qualified name of the module in the root ("" for the root)
    module: nn.Module
    graph: fx.Graph  #: `get_attr`/`call_module` targets are relative to `module`
    class_hint: str  #: the original class's name
    notes: list[str] = field(default_factory=list)  #: why some calls stayed inline
    #: True for an `nn.Sequential` whose forward is its children's chain: it stays a
    #: `torch.nn.Sequential`, with no class of its own
    sequential: bool = False
    #: a unit cut earlier whose lowering this one's would repeat (`NodeKey`); `graph`
    #: is that unit's, and it is not lowered again
    twin_of: Unit | None = None


@dataclass(frozen=True)
class Call:
    """One recorded call of a module: its arguments by parameter name."""

    args: tuple[Any, ...]  #: positional arguments; an `Origin` stands for a graph value
    kwargs: dict[str, Any]
    names: tuple[str, ...]  #: the parameter name of each positional argument


@dataclass(frozen=True)
class Origin:
    """A value of the captured graph, by its node's original name."""

    name: str


#: what lowering reads of a node, for a unit at a path: (node, its target relative to the
#: unit, positions of the unit's values, its `with` regions in the unit, unit path,
#: unit module) -> key; raises `Unkeyable` (lower.py's reuse key, shared)
NodeKey = Callable[[fx.Node, Any, dict[fx.Node, int], Any, str, nn.Module], Any]


def split(
    graph: fx.Graph,
    root: nn.Module,
    class_name: str,
    calls: dict[str, list[Call]],
    structures: StructureKeys,
    collapse: bool,
    inline: frozenset[str] = frozenset(),
    node_key: NodeKey | None = None,
    apart: frozenset[str] = frozenset(),
) -> list[Unit]:
    """Units for a copy of `graph`: children before their parents, the root unit last.

    A module called more than once gives one unit per call (same `path`); the caller
    checks that their code is the same and otherwise splits again with that path in
    `inline`. With `node_key`, a call whose unit would repeat an earlier one (equal
    nodes by `node_key`, equal module subtrees, equal recorded calls inside) is not cut
    out again: it and its subtree become twins of that unit (`Unit.twin_of`), except at
    the paths in `apart`."""
    copy = fx.Graph()
    copy.output(copy_graph(copy, graph, {}))
    splitter = _Splitter(root, calls, structures, collapse, inline, _call_indices(graph), node_key, apart)
    top = Unit("", root, copy, class_name)
    splitter.visit(top, 0)
    return splitter.units


def _call_indices(graph: fx.Graph) -> dict[str, int]:
    """Each module call (`nn_module_stack` key) -> its index among its module's recorded
    calls: calls of one module are recorded in the order they run, the graph's order."""
    indices: dict[str, int] = {}
    counts: dict[str, int] = {}
    for node in graph.nodes:
        for key, (path, _) in (node.meta.get("nn_module_stack") or {}).items():
            if key not in indices:
                indices[key] = counts.get(path, 0)
                counts[path] = indices[key] + 1
    return indices


#: the entry torch.export records for nodes outside any module call
_NO_MODULE = "_empty_nn_module_stack_from_metadata_hook"


def module_stack(node: fx.Node) -> list[tuple[str, str, str]]:
    """The module calls a node happened in, outermost first, the root excluded:
    (call key, qualified name, class name)."""
    entries = []
    for key, (path, cls) in (node.meta.get("nn_module_stack") or {}).items():
        if not path or str(path) == _NO_MODULE:
            continue
        name = cls if isinstance(cls, str) else cls.__qualname__
        entries.append((key, str(path), name.rsplit(".", 1)[-1]))
    return entries


class _Splitter:
    def __init__(
        self,
        root: nn.Module,
        calls: dict[str, list[Call]],
        structures: StructureKeys,
        collapse: bool,
        inline: frozenset[str],
        call_indices: dict[str, int],
        node_key: NodeKey | None,
        apart: frozenset[str],
    ) -> None:
        self.root = root
        self.calls = calls
        self.structures = structures
        self.cache = structures.cache
        self.collapse = collapse
        self.inline = inline
        self.call_indices = call_indices
        self.node_key = node_key
        self.apart = apart | inline
        self.units: list[Unit] = []
        self.firsts: dict[Any, Unit] = {}  # twin key -> the unit cut for it
        self.subtrees: dict[int, list[Unit]] = {}  # id(unit) -> its units, itself last
        self.siblings: set[int] = set()  # ids of the units cut so far by the visit cutting now
        self.stacks: dict[int, tuple[Any, list[tuple[str, str, str]]]] = {}

    def visit(self, unit: Unit, depth: int) -> None:
        start = len(self.units)
        graph = unit.graph
        _hoist_attributes(graph)
        groups: dict[str, list[fx.Node]] = {}
        info: dict[str, tuple[str, str]] = {}
        for node in graph.nodes:
            if node.op == "get_attr":
                continue  # a read, not a step: hoisted above, it goes to the unit that uses it (`cut`)
            entries = self.scope(node, unit.path)
            if len(entries) > depth:
                key, path, cls = entries[depth]
                groups.setdefault(key, []).append(node)
                info[key] = (path, cls)
        children = []
        self.siblings = set()
        for key, nodes in groups.items():
            path, cls = info[key]
            child = self.cut(unit, key, path, cls, nodes, depth)
            if child is not None:
                children.append(child)
                self.siblings.add(id(child))
        for child in children:
            if child.twin_of is None:
                self.visit(child, depth + 1)
            else:
                self.repeat(child)
        unit.sequential = _is_plain_sequential(unit)
        self.units.append(unit)
        self.subtrees[id(unit)] = self.units[start:]

    def scope(self, node: fx.Node, unit_path: str) -> list[tuple[str, str, str]]:
        """The module calls a node is inside, outermost first: (call key, path, class name)."""
        entries = self.stack(node)
        if node.op == "call_module" and entries and entries[-1][1] == _join(unit_path, str(node.target)):
            return entries[:-1]  # a leaf call belongs to the module that makes it
        return entries

    def stack(self, node: fx.Node) -> list[tuple[str, str, str]]:
        """`module_stack(node)`, read once per recorded stack (copies of a node share it)."""
        recorded = node.meta.get("nn_module_stack")
        hit = self.stacks.get(id(recorded))
        if hit is None or hit[0] is not recorded:
            hit = self.stacks[id(recorded)] = (recorded, module_stack(node))
        return hit[1]

    def repeat(self, twin: Unit) -> None:
        """A twin's units: its first's subtree, at the twin's paths."""
        first = twin.twin_of
        assert first is not None
        start = len(self.units)
        for unit in self.subtrees[id(first)]:
            relative = unit.path[len(first.path) + 1 :]
            path, module = (_join(twin.path, relative), twin.module.get_submodule(relative)) if relative else (twin.path, twin.module)
            self.units.append(Unit(path, module, unit.graph, unit.class_hint, list(unit.notes), unit.sequential, unit))
        self.subtrees[id(twin)] = self.units[start:]

    def cut(self, unit: Unit, key: str, path: str, cls: str, nodes: list[fx.Node], depth: int) -> Unit | None:
        """Replace one call's nodes by a call node; the child unit, or None if none."""
        graph = unit.graph
        relative = self.relative_name(unit, path)
        try:
            module = unit.module.get_submodule(relative or "-")
        except AttributeError:
            unit.notes.append(f"{relative or path}: not a submodule of {unit.class_hint}, so its code is inline")
            return None
        if not _contiguous(graph, nodes):
            unit.notes.append(f"{relative}: its operations interleave with others, so its code is inline")
            return None
        members = functools.cache(lambda: _member_names(module))  # for tied names only
        inside = set(nodes)
        inputs: list[fx.Node] = []
        attributes: list[fx.Node] = []  # the child's own attributes, read in the parent so far
        for node in nodes:
            for value in node.all_input_nodes:
                if value in inside or value in inputs or value in attributes:
                    continue
                if value.op == "get_attr" and _relative_target(str(value.target), relative, members, unit.module) is not None:
                    attributes.append(value)
                    continue
                inputs.append(value)
        for node in nodes:
            if node.op in ("get_attr", "call_module") and _relative_target(str(node.target), relative, members, unit.module) is None:
                unit.notes.append(f"{relative}: it uses {node.target!r} of another module, so its code is inline")
                return None
        outputs = [n for n in nodes if any(u not in inside for u in n.users)]
        recorded = self.recorded(path, key)
        if self.collapse and self.collapsible(module, inputs, outputs, recorded):
            self.replace(graph, nodes, outputs, relative, _call_arguments(recorded, inputs), key, module)
            _drop_unused_attributes(graph, attributes)
            return None
        if path in self.inline:
            note = f"{relative}: called more than once with different code, so its code is inline"
            if note not in unit.notes:
                unit.notes.append(note)
            return None
        retarget = lambda t: _relative_target(t, relative, members, unit.module)  # noqa: E731
        sizes = _sizes_from_inputs(inputs)
        passed, names = _named_inputs([value for value in inputs if value not in sizes], recorded)
        twin_key = self.twin_key(path, module, depth, attributes + nodes, passed, names, sizes, outputs, retarget)
        first = self.firsts.get(twin_key) if twin_key is not None else None
        if first is not None and id(first) not in self.subtrees and id(first) not in self.siblings:
            first = twin_key = None  # repeated only once visited: a sibling's visit comes first, a cousin's may not
        if first is None:
            child = Unit(path, module, _extract(attributes + nodes, passed, names, sizes, outputs, retarget), cls)
            if twin_key is not None:
                self.firsts.setdefault(twin_key, child)
        else:
            child = Unit(path, module, first.graph, cls, twin_of=first)
        self.replace(graph, nodes, outputs, relative, (tuple(passed), {}), key, module)
        _drop_unused_attributes(graph, attributes)
        return child

    def relative_name(self, unit: Unit, path: str) -> str | None:
        """The name under `unit` of the module at `path`: capture names a module shared by
        several owners by one path, so one shared into `unit` is found by identity."""
        if not unit.path:
            return path
        if path.startswith(unit.path + "."):
            return path[len(unit.path) + 1 :]
        try:
            module = self.root.get_submodule(path)
        except AttributeError:
            return None
        return _member_names(unit.module).get(id(module))

    def recorded(self, path: str, key: str) -> Call | None:
        calls = self.calls.get(path, [])
        index = self.call_indices.get(key, len(calls))
        return calls[index] if index < len(calls) else None

    def twin_key(
        self,
        path: str,
        module: nn.Module,
        depth: int,
        nodes: list[fx.Node],
        inputs: list[fx.Node],
        names: list[str],
        sizes: dict[fx.Node, tuple[fx.Node, int]],
        outputs: list[fx.Node],
        retarget: Callable[[str], str | None],
    ) -> Any:
        """Everything the child's graph, its own cuts and their lowering depend on, with
        paths relative to the child and values by position; None where a part has no
        exact key (the child is then cut out as usual)."""
        if self.node_key is None or any(p == path or p.startswith(path + ".") for p in self.apart):
            return None
        index: dict[fx.Node, int] = {}
        positions: dict[str, tuple[int, int]] = {}  # captured name -> (value, rank of the name)

        def place(node: fx.Node, aliases: set[str]) -> None:
            index[node] = len(index)
            for rank, name in enumerate(sorted(aliases)):
                positions.setdefault(name, (index[node], rank))

        for value in inputs:
            place(value, origins(value))
        for value in sizes:
            place(value, {value.meta[ORIGIN]} if value.meta.get(ORIGIN) is not None else set())
        calls: dict[str, tuple[int, str]] = {}  # calls made inside the child -> (number, path)
        try:
            keys: list[Any] = [
                tuple((name, value_key(value.meta.get("val"))) for name, value in zip(names, inputs)),
                tuple((index[tensor], dim, value_key(value.meta.get("val"))) for value, (tensor, dim) in sizes.items()),
                self.structures.key(module),
            ]
            shared = _shared_context([n for n in nodes if n.op != "get_attr"] or nodes)
            for node in nodes:
                place(node, origins(node))
                target = retarget(str(node.target)) if node.op in ("get_attr", "call_module") else node.target
                context = node.meta.get(CONTEXT)
                if context:
                    context = tuple(context)[len(shared) :]
                stack = []
                for key, inner, cls in self.stack(node)[depth + 1 :]:
                    if not inner.startswith(path + "."):
                        return None
                    number = calls.setdefault(key, (len(calls), inner))[0]
                    stack.append((number, inner[len(path) + 1 :], cls))
                keys.append((self.node_key(node, target, index, context, path, module), tuple(stack)))
            keys.append(tuple(index[value] for value in outputs))
            for key, (_, inner) in calls.items():  # recorded arguments name the inputs of units inside
                keys.append(_call_key(self.recorded(inner, key), positions))
            key = tuple(keys)
            hash(key)
        except (Unkeyable, TypeError):  # TypeError: unhashable
            return None
        return key

    def collapsible(self, module: nn.Module, inputs: list[fx.Node], outputs: list[fx.Node], recorded: Call | None) -> bool:
        """A built-in leaf that takes one tensor and returns one: a plain module call."""
        if not isinstance(module, SINGLE_TENSOR_MODULES) or not self.cache.is_leaf(module):
            return False
        if len(outputs) != 1 or not isinstance(outputs[0].meta.get("val"), torch.Tensor):
            return False
        if recorded is None:
            return len(inputs) == 1
        passed = [a for a in list(recorded.args) + list(recorded.kwargs.values()) if isinstance(a, Origin)]
        return len(inputs) == 1 and len(passed) == 1 and passed[0].name in origins(inputs[0])

    def replace(
        self,
        graph: fx.Graph,
        nodes: list[fx.Node],
        outputs: list[fx.Node],
        target: str,
        arguments: tuple[tuple[Any, ...], dict[str, Any]],
        key: str,
        module: nn.Module,
    ) -> None:
        """Put one `call_module` of `target` (`module`) where `nodes` were."""
        args, kwargs = arguments
        with graph.inserting_before(nodes[0]):
            call = graph.call_module(target, args, kwargs)
            stack = nodes[0].meta.get("nn_module_stack") or {}
            keys = list(stack)
            call.meta["nn_module_stack"] = {k: stack[k] for k in keys[: keys.index(key)]}
            call.meta["stack_trace"] = source.call_site([n.meta.get("stack_trace") for n in nodes], type(module).forward)
            shared = _shared_context(nodes)
            if shared:  # the call runs inside the region; the callee's code does not repeat it
                call.meta[CONTEXT] = shared
            if len(outputs) == 1:
                call.meta["val"] = outputs[0].meta.get("val")
                call.meta[ORIGIN] = outputs[0].meta.get(ORIGIN)
                call.meta[ALIASES] = outputs[0].meta.get(ALIASES, [])
                outputs[0].replace_all_uses_with(call)
            else:
                for i, out in enumerate(outputs):
                    item = graph.call_function(operator.getitem, (call, i))
                    item.meta = dict(out.meta)
                    item.meta["nn_module_stack"] = call.meta["nn_module_stack"]
                    out.replace_all_uses_with(item)
        for node in reversed(nodes):
            graph.erase_node(node)


def _shared_context(nodes: list[fx.Node]) -> tuple[Any, ...]:
    """The `with` regions every node of a call is inside (the longest common prefix)."""
    contexts = [tuple(n.meta.get(CONTEXT, ())) for n in nodes]
    shared = contexts[0]
    for context in contexts[1:]:
        while context[: len(shared)] != shared:
            shared = shared[:-1]
    return shared


def _drop_unused_attributes(graph: fx.Graph, attributes: list[fx.Node]) -> None:
    for node in attributes:
        if not node.users:
            graph.erase_node(node)


def _is_plain_sequential(unit: Unit) -> bool:
    """Whether the unit is an `nn.Sequential` calling each child once, in order, in a chain."""
    module = unit.module
    if type(module) is not nn.Sequential or not unit.path:
        return False
    nodes = [n for n in unit.graph.nodes]
    placeholders = [n for n in nodes if n.op == "placeholder"]
    calls = [n for n in nodes if n.op == "call_module"]
    if len(placeholders) != 1 or len(calls) != len(module._modules) or len(nodes) != len(calls) + 2:
        return False
    previous = placeholders[0]
    for call, name in zip(calls, module._modules):
        if call.target != name or call.args != (previous,) or call.kwargs or len(previous.users) != 1:
            return False
        previous = call
    return nodes[-1].args == (previous,)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _call_arguments(recorded: Call | None, inputs: list[fx.Node]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The collapsed call's arguments: as recorded (values mapped to nodes), else the input."""
    if recorded is None:
        return tuple(inputs), {}
    by_origin = {name: n for n in inputs for name in origins(n)}

    def value(v: Any) -> Any:
        return by_origin[v.name] if isinstance(v, Origin) else v

    return tuple(value(a) for a in recorded.args), {k: value(v) for k, v in recorded.kwargs.items()}


def _hoist_attributes(graph: fx.Graph) -> None:
    """Move attribute reads right after the placeholders (they read, never compute)."""
    anchor = None
    for node in graph.nodes:
        if node.op == "placeholder":
            anchor = node
    for node in list(graph.nodes):
        if node.op == "get_attr":
            if anchor is None:
                next(iter(graph.nodes)).prepend(node)
            else:
                anchor.append(node)
            anchor = node


def _contiguous(graph: fx.Graph, nodes: list[fx.Node]) -> bool:
    """Whether `nodes` (in graph order) follow each other with nothing in between: a walk
    from the first, never the whole graph (a cut per module call would be quadratic)."""
    inside = set(nodes)
    node = nodes[0]
    for _ in range(len(inside)):
        if node not in inside:
            return False
        if node is nodes[-1]:
            return True
        node = node.next
    return False


def _member_names(module: nn.Module) -> dict[int, str]:
    """id(tensor or module) -> its name relative to `module` (aliases included)."""
    names: dict[int, str] = {}
    for name, value in list(module.named_parameters(remove_duplicate=False)) + list(module.named_buffers(remove_duplicate=False)):
        names.setdefault(id(value), name)
    for name, value in module.named_modules(remove_duplicate=False):
        if name:
            names.setdefault(id(value), name)
    return names


def _relative_target(target: str, relative: str, members: Callable[[], dict[int, str]], parent: nn.Module) -> str | None:
    """`target` (relative to the parent) as seen from the child at `relative`, or None.

    A tensor the child owns under another name (a tied weight) is found by identity."""
    if target.startswith(relative + "."):
        return target[len(relative) + 1 :]
    value: Any = parent
    for part in target.split("."):
        value = getattr(value, part, None)
    return members().get(id(value)) if value is not None else None


def _sizes_from_inputs(inputs: list[fx.Node]) -> dict[fx.Node, tuple[fx.Node, int]]:
    """Size inputs (symbolic ints) that a tensor input's shape already holds: the child
    reads them as `x.size(d)` instead of taking them as arguments."""
    sizes = {}
    for value in inputs:
        size = value.meta.get("val")
        if not isinstance(size, torch.SymInt):
            continue
        for tensor in inputs:
            shape = getattr(tensor.meta.get("val"), "shape", ())
            dims = [d for d, n in enumerate(shape) if isinstance(n, torch.SymInt) and n.node.expr == size.node.expr]
            if isinstance(tensor.meta.get("val"), torch.Tensor) and dims:
                sizes[value] = (tensor, dims[0])
                break
    return sizes


def _call_key(call: Call | None, positions: dict[str, tuple[int, int]]) -> Any:
    """A recorded call as a key: graph values by position (and rank among the value's
    names), literals exactly; raises `Unkeyable` for a value from outside the child."""
    if call is None:
        return None

    def value(v: Any) -> Any:
        if isinstance(v, Origin):
            if v.name not in positions:
                raise Unkeyable(v.name)
            return ("value", positions[v.name])
        if type(v) in (tuple, list):
            return (type(v), tuple(value(item) for item in v))
        return argument_key(v, {})

    return (tuple(value(a) for a in call.args), tuple((k, value(v)) for k, v in call.kwargs.items()), call.names)


def _extract(
    nodes: list[fx.Node],
    inputs: list[fx.Node],
    names: list[str],
    sizes: dict[fx.Node, tuple[fx.Node, int]],
    outputs: list[fx.Node],
    retarget: Any,
) -> fx.Graph:
    """The child's own graph: a placeholder per input, its sizes, its nodes, its outputs."""
    graph = fx.Graph()
    values: dict[fx.Node, fx.Node] = {}
    for value, name in zip(inputs, names):
        placeholder = graph.placeholder(name)
        placeholder.meta = {k: v for k, v in value.meta.items() if k in ("val", "tensor_meta", ORIGIN, ALIASES)}
        values[value] = placeholder
    for value, (tensor, dim) in sizes.items():
        size = graph.call_function(torch.ops.aten.sym_size.int, (values[tensor], dim))
        size.meta = {k: v for k, v in value.meta.items() if k in ("val", ORIGIN)}
        values[value] = size
    shared = _shared_context([n for n in nodes if n.op != "get_attr"] or nodes)
    for node in nodes:
        copy = copy_node(graph, node, values.__getitem__)
        if copy.op in ("get_attr", "call_module"):
            copy.target = retarget(str(copy.target))
        if copy.meta.get(CONTEXT):
            copy.meta[CONTEXT] = tuple(copy.meta[CONTEXT])[len(shared) :]
        values[node] = copy
    result = values[outputs[0]] if len(outputs) == 1 else tuple(values[o] for o in outputs)
    graph.output(result)
    return graph


def _named_inputs(inputs: list[fx.Node], recorded: Call | None) -> tuple[list[fx.Node], list[str]]:
    """Each input named after the parameter it was passed as, else after its value; those
    passed as parameters first, in the order of `forward`'s signature."""
    by_origin: dict[str, str] = {}
    order: dict[str, int] = {}  # parameter name -> place in the signature

    def note(name: str, value: Any) -> None:
        order.setdefault(name, len(order))
        if isinstance(value, Origin):
            by_origin.setdefault(value.name, name)
        elif type(value) in (tuple, list):  # `position_embeddings=(cos, sin)`
            for i, item in enumerate(value):
                note(f"{name}_{i}", item)

    if recorded is not None:
        for name, value in list(zip(recorded.names, recorded.args)) + list(recorded.kwargs.items()):
            note(name, value)
    names: list[str] = []
    for value in inputs:
        found = [by_origin[o] for o in sorted(origins(value)) if o in by_origin]
        # without a recorded call, a name of the callee's own, so that equal classes match
        base = found[0] if found else "n" if isinstance(value.meta.get("val"), (int, torch.SymInt)) else "x"
        name, count = base, 0
        while name in names:
            count += 1
            name = f"{base}_{count}"
        names.append(name)
    ranked = sorted(range(len(inputs)), key=lambda i: order.get(names[i], len(order)))
    return [inputs[i] for i in ranked], [names[i] for i in ranked]
