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

import bisect
import functools
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable

import torch
from torch import fx, nn

from fxgen.fxcopy import copy_node, new_node
from fxgen.modules import SINGLE_TENSOR_MODULES
from fxgen.reuse import Unkeyable, argument_key, value_key
from fxgen.source import call_site
from fxgen.tree import StructureKeys, join_path, submodule

__all__ = ["Unit", "split", "ORIGIN", "module_stack", "submodule"]

#: `node.meta` key: the node's name in the captured graph, used by recorded calls
ORIGIN = "fxgen_origin"
#: `node.meta` key: names of other captured nodes that hold the very same value
ALIASES = "fxgen_aliases"
#: `node.meta` key: the `with` regions (no_grad, autocast) a node runs in, outermost first
CONTEXT = "fxgen_context"
#: `node.meta` key of a module call with one output, or of an item of one with several:
#: where the callee computes the value it returns, as (stack trace, the index of the value
#: among the results of its operation, for an item of a tuple: `a, b = x.topk(k)`)
RETURNED = "fxgen_returned"


def origins(node: fx.Node) -> set[str]:
    """The captured names under which recorded calls may refer to `node`'s value."""
    return _origins(node.meta)


def _origins(meta: dict[str, Any]) -> set[str]:
    names = set(meta.get(ALIASES, ()))
    if meta.get(ORIGIN) is not None:
        names.add(meta[ORIGIN])
    return names


#: what a unit's placeholder keeps of its caller's node's metadata, and what a size read
#: from a tensor input keeps
_INPUT_META = ("val", "tensor_meta", ORIGIN, ALIASES)
_SIZE_META = ("val", ORIGIN)


def _kept(meta: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if k in keys}


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
    inline: Mapping[str, str] = MappingProxyType({}),
    node_key: NodeKey | None = None,
    apart: frozenset[str] = frozenset(),
) -> list[Unit]:
    """Units made of `graph`'s nodes (the graph is not changed): children before their
    parents, the root unit last.

    A module called more than once gives one unit per call (same `path`); the caller
    checks that their code is the same and otherwise splits again with that path in
    `inline` (path -> why its calls stay inline). With `node_key`, a call whose unit
    would repeat an earlier one (equal nodes by `node_key`, equal module subtrees, equal
    recorded calls inside) is not cut out again: it and its subtree become twins of that
    unit (`Unit.twin_of`), except at the paths in `apart`."""
    splitter = _Splitter(root, calls, structures, collapse, inline, _call_indices(graph), node_key, apart)
    splitter.visit(Unit("", root, fx.Graph(), class_name), _Source(list(graph.nodes)), 0)
    splitter.unkeyed.clear()  # its key makers point back at the splitter: a cycle left to the collector
    return splitter.units


@dataclass
class _Source:
    """What a unit's graph is built from: captured nodes, seen from the unit. Each
    captured node is copied once, into the innermost unit it belongs to."""

    nodes: list[fx.Node]  #: in graph order (the root's: the whole captured graph)
    #: values read from outside: (captured node, the caller's node for it); each becomes a
    #: placeholder (in order, named by `names`), or a size of a tensor input (`sizes`)
    inputs: list[tuple[fx.Node, fx.Node]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    #: size inputs read from a tensor input instead: captured size -> (captured tensor, dim)
    sizes: dict[fx.Node, tuple[fx.Node, int]] = field(default_factory=dict)
    outputs: list[fx.Node] = field(default_factory=list)  #: captured nodes the caller reads
    retarget: Callable[[str], str | None] = str  #: a captured target as seen from the unit
    strip: int = 0  #: how many outer `with` regions the callers hold

    def target(self, node: fx.Node) -> Any:
        """The node's target as seen from the unit."""
        return self.retarget(str(node.target)) if node.op in ("get_attr", "call_module") else node.target

    def context(self, node: fx.Node) -> Any:
        """The node's `with` regions inside the unit."""
        context = node.meta.get(CONTEXT)
        return tuple(context)[self.strip :] if context else context


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


class _LocalNodes(dict):
    """Captured node -> the unit's node for it. Attribute reads are hoisted (they read,
    never compute): placed right after the placeholders, in captured order, but made only
    once something in the unit reads them, or at the end (`make_hoisted`), so that a read
    a cut takes into its call is never made (BERT's weights were made and erased again at
    every level of nesting)."""

    def __init__(self, splitter: _Splitter, graph: fx.Graph, source: _Source) -> None:
        super().__init__()
        self.splitter, self.graph, self.source = splitter, graph, source
        self.reads: list[fx.Node] = []  # the captured reads to hoist, in order
        self.hoisted: dict[fx.Node, int] = {}  # captured read -> its place among them
        self.made: list[int] = []  # places of the reads made so far, sorted
        self.anchor: fx.Node | None = None  # the last placeholder: the hoisted come after it

    def hoist(self, reads: list[fx.Node]) -> None:
        self.reads, self.hoisted = reads, {read: place for place, read in enumerate(reads)}
        self.anchor = next(reversed(self.graph.nodes), None)

    def is_hoisted(self, node: fx.Node) -> bool:
        return node in self.hoisted

    def __missing__(self, node: fx.Node) -> fx.Node:
        place = self.hoisted[node]  # a KeyError for any other node, as a dict gives
        at = bisect.bisect(self.made, place)
        if at < len(self.made):  # before the next one made
            where = self.graph.inserting_before(self[self.reads[self.made[at]]])
        elif at:  # after the previous one
            where = self.graph.inserting_after(self[self.reads[self.made[at - 1]]])
        elif self.anchor is not None:
            where = self.graph.inserting_after(self.anchor)
        else:
            where = self.graph.inserting_before(None)  # the graph's start
        with where:
            copy = self[node] = self.splitter.copy(self.graph, node, self.source, self)
        self.made.insert(at, place)
        return copy

    def make_hoisted(self, but: set[fx.Node]) -> None:
        """Make every hoisted read not made yet, except those in `but`."""
        for read in self.reads:
            if read not in but and read not in self:
                self[read]  # made by __missing__


class _Splitter:
    def __init__(
        self,
        root: nn.Module,
        calls: dict[str, list[Call]],
        structures: StructureKeys,
        collapse: bool,
        inline: Mapping[str, str],
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
        self.apart = apart | frozenset(inline)
        self.units: list[Unit] = []
        self.firsts: dict[Any, Unit] = {}  # twin key -> the unit cut for it
        #: a sketch of twin keys (equal keys have equal sketches) -> the first unit cut for
        #: it and how to make its key, until a second call has that sketch (then None)
        self.unkeyed: dict[Any, tuple[Unit, Callable[[], Any]] | None] = {}
        self.subtrees: dict[int, list[Unit]] = {}  # id(unit) -> its units, itself last
        self.siblings: set[int] = set()  # ids of the units cut so far by the visit cutting now
        self.stacks: dict[int, tuple[Any, list[tuple[str, str, str]]]] = {}
        self.members: dict[int, dict[int, str]] = {}  # id(module) -> `_member_names(module)`

    def visit(self, unit: Unit, source: _Source, depth: int) -> None:
        start = len(self.units)
        for child, child_source in self.build(unit, source, depth):
            if child_source is None:
                self.repeat(child)
            else:
                self.visit(child, child_source, depth + 1)
        unit.sequential = _is_plain_sequential(unit)
        self.units.append(unit)
        self.subtrees[id(unit)] = self.units[start:]

    def build(self, unit: Unit, source: _Source, depth: int) -> list[tuple[Unit, _Source | None]]:
        """Fill `unit.graph` from `source`: placeholders, attribute reads (hoisted: they
        read, never compute), sizes, then the nodes, each module call that can be cut out
        as one call node. The children cut out, with their sources (None: a twin)."""
        graph = unit.graph
        local = _LocalNodes(self, graph, source)
        callers = dict(source.inputs)
        passed = [(value, caller) for value, caller in source.inputs if value not in source.sizes]
        for (value, caller), name in zip(passed, source.names):
            local[value] = graph.placeholder(name)
            local[value].meta = _kept(caller.meta, _INPUT_META)
        for node in source.nodes:
            if node.op == "placeholder":
                local[node] = self.copy(graph, node, source, local)
        local.hoist([node for node in source.nodes if node.op == "get_attr"])  # made where read
        rest = [node for node in source.nodes if node.op not in ("placeholder", "get_attr")]
        for value, (tensor, dim) in source.sizes.items():
            local[value] = new_node(graph, "call_function", torch.ops.aten.sym_size.int, (local[tensor], dim), {})
            local[value].meta = _kept(callers[value].meta, _SIZE_META)
        groups: dict[str, list[fx.Node]] = {}
        info: dict[str, tuple[str, str]] = {}
        for node in rest:
            entries = self.scope(node, unit.path, source.target(node))
            if len(entries) > depth:
                key, path, cls = entries[depth]
                groups.setdefault(key, []).append(node)
                info[key] = (path, cls)
        starts = {nodes[0]: key for key, nodes in groups.items()}
        position = {node: i for i, node in enumerate(rest)}
        children: list[tuple[Unit, _Source | None]] = []
        moved: set[fx.Node] = set()  # captured attribute reads a cut took into its call
        cut: set[fx.Node] = set()
        self.siblings = set()
        for node in rest:
            key = starts.get(node)
            if key is not None:
                path, cls = info[key]
                nodes = groups[key]
                contiguous = position[nodes[-1]] - position[nodes[0]] == len(nodes) - 1
                if self.cut(unit, source, local, key, path, cls, nodes, contiguous, depth, moved, children):
                    cut.update(nodes)
            if node not in cut:
                local[node] = self.copy(graph, node, source, local)
        local.make_hoisted(but=moved)  # as the captured graph has them, unless a call took them
        if source.outputs:
            outputs = [local[o] for o in source.outputs]
            graph.output(outputs[0] if len(outputs) == 1 else tuple(outputs))
        elif unit.path:  # a call whose result nothing reads: it returns None, as its code runs
            graph.output(None)
        return children

    def copy(self, graph: fx.Graph, node: fx.Node, source: _Source, local: dict[fx.Node, fx.Node]) -> fx.Node:
        """A captured node in the unit's graph: its target and `with` regions as the unit sees them."""
        copy = copy_node(graph, node, local.__getitem__)
        if copy.op in ("get_attr", "call_module") and source.target(node) != copy.target:
            copy.target = source.target(node)
        if copy.meta.get(CONTEXT):
            copy.meta[CONTEXT] = source.context(node)
        return copy

    def scope(self, node: fx.Node, unit_path: str, target: Any) -> list[tuple[str, str, str]]:
        """The module calls a node is inside, outermost first: (call key, path, class name)
        (`target`: the node's, as seen from the unit)."""
        entries = self.stack(node)
        if node.op == "call_module" and entries and entries[-1][1] == join_path(unit_path, str(target)):
            return entries[:-1]  # a leaf call belongs to the module that makes it
        return entries

    def stack(self, node: fx.Node) -> list[tuple[str, str, str]]:
        """`module_stack(node)`, read once per node (each depth of the split asks again)."""
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
            path, module = join_path(twin.path, relative), submodule(twin.module, relative)
            assert module is not None, "a twin's subtree has its first's modules"
            self.units.append(Unit(path, module, unit.graph, unit.class_hint, list(unit.notes), unit.sequential, unit))
        self.subtrees[id(twin)] = self.units[start:]

    def cut(
        self,
        unit: Unit,
        source: _Source,
        local: _LocalNodes,
        key: str,
        path: str,
        cls: str,
        nodes: list[fx.Node],
        contiguous: bool,
        depth: int,
        moved: set[fx.Node],
        children: list[tuple[Unit, _Source | None]],
    ) -> bool:
        """One call's nodes as one call node in `unit.graph`, or False where its code stays
        inline. A child unit cut out goes to `children`, with its source (None: a twin)."""
        relative = self.relative_name(unit, path)
        module = submodule(unit.module, relative) if relative is not None else None
        if relative is None or module is None:
            unit.notes.append(f"{relative or path}: not a submodule of {unit.class_hint}, so its code is inline")
            return False
        if not contiguous:
            unit.notes.append(f"{relative}: its operations interleave with others, so its code is inline")
            return False
        members = functools.partial(self.member_names, module)  # for tied names only
        retarget = lambda t: _relative_target(t, relative, members, unit.module)  # noqa: E731
        inside = set(nodes)
        inputs: dict[fx.Node, fx.Node] = {}  # the caller's node -> the captured value it stands for
        attributes: dict[fx.Node, None] = {}  # hoisted attribute reads of the child's own attributes
        for node in nodes:
            for value in node.all_input_nodes:
                if value in inside or value in attributes:
                    continue
                if local.is_hoisted(value) and retarget(str(source.target(value))) is not None:
                    attributes[value] = None
                    continue
                seen = local[value]
                if seen not in inputs:
                    inputs[seen] = value
        for node in nodes:
            if node.op == "call_module" and retarget(str(source.target(node))) is None:
                unit.notes.append(f"{relative}: it uses {source.target(node)!r} of another module, so its code is inline")
                return False
        outputs = [n for n in nodes if not inside.issuperset(n.users)]
        recorded = self.recorded(path, key)
        seen_inputs = list(inputs)
        if self.collapse and self.collapsible(module, seen_inputs, outputs, recorded):
            self.call(unit.graph, source, local, nodes, outputs, relative, _call_arguments(recorded, seen_inputs), key, module)
            moved.update(attributes)
            return True
        if path in self.inline:
            note = f"{relative}: {self.inline[path]}, so its code is inline"
            if note not in unit.notes:
                unit.notes.append(note)
            return False
        sizes = _sizes_from_inputs(seen_inputs)
        passed, names = _named_inputs([value for value in seen_inputs if value not in sizes], recorded)
        child_source = _Source(
            [*attributes, *nodes],
            [(inputs[seen], seen) for seen in passed + list(sizes)],
            names,
            {inputs[size]: (inputs[tensor], dim) for size, (tensor, dim) in sizes.items()},
            outputs,
            lambda t: _then(source.retarget(t), retarget),
        )
        contexts = [source.context(n) or () for n in nodes]
        child_source.strip = source.strip + len(_shared_context(contexts))
        key_of = functools.partial(self.twin_key, path, module, depth, child_source)
        sketch = _sketch(module, child_source)
        seen = sketch in self.unkeyed  # else the first call of its sketch: no twin before it
        first = twin_key = None
        if seen:
            pending = self.unkeyed[sketch]
            if pending is not None:  # the first call of the sketch: now that it may have a twin, key it
                earlier, earlier_key_of = pending
                earlier_key = earlier_key_of()
                if earlier_key is not None:
                    self.firsts.setdefault(earlier_key, earlier)
                self.unkeyed[sketch] = None
            twin_key = key_of()
            first = self.firsts.get(twin_key) if twin_key is not None else None
        if first is not None and id(first) not in self.subtrees and id(first) not in self.siblings:
            first = twin_key = None  # repeated only once visited: a sibling's visit comes first, a cousin's may not
        if first is None:
            child = Unit(path, module, fx.Graph(), cls)
            if not seen:
                self.unkeyed[sketch] = (child, key_of)
            elif twin_key is not None:
                self.firsts.setdefault(twin_key, child)
        else:
            child = Unit(path, module, first.graph, cls, twin_of=first)
        self.call(unit.graph, source, local, nodes, outputs, relative, (tuple(passed), {}), key, module)
        moved.update(attributes)
        children.append((child, child_source if first is None else None))
        self.siblings.add(id(child))
        return True

    def relative_name(self, unit: Unit, path: str) -> str | None:
        """The name under `unit` of the module at `path`: capture names a module shared by
        several owners by one path, so one shared into `unit` is found by identity."""
        if not unit.path:
            return path
        if path.startswith(unit.path + "."):
            return path[len(unit.path) + 1 :]
        module = submodule(self.root, path)
        return None if module is None else self.member_names(unit.module).get(id(module))

    def member_names(self, module: nn.Module) -> dict[int, str]:
        """`_member_names(module)`, made once per module (the root keeps the ids unique)."""
        names = self.members.get(id(module))
        if names is None:
            names = self.members[id(module)] = _member_names(module)
        return names

    def recorded(self, path: str, key: str) -> Call | None:
        calls = self.calls.get(path, [])
        index = self.call_indices.get(key, len(calls))
        return calls[index] if index < len(calls) else None

    def twin_key(self, path: str, module: nn.Module, depth: int, source: _Source) -> Any:
        """Everything the child's graph, its own cuts and their lowering depend on, with
        paths relative to the child and values by position; None where a part has no
        exact key (the child is then cut out as usual)."""
        if self.node_key is None or any(p == path or p.startswith(path + ".") for p in self.apart):
            return None
        index: dict[fx.Node, int] = {}
        positions: dict[str, tuple[int, int]] = {}  # captured name -> (value, rank of the name)

        def place(node: fx.Node, meta: dict[str, Any]) -> None:
            """`node` at the next position; each of its captured names at it, with its rank."""
            position = index[node] = len(index)
            if not meta.get(ALIASES):  # its own name alone, as most nodes
                if meta.get(ORIGIN) is not None:
                    positions.setdefault(meta[ORIGIN], (position, 0))
                return
            for rank, name in enumerate(sorted(_origins(meta))):
                positions.setdefault(name, (position, rank))

        callers = dict(source.inputs)
        for value, caller in source.inputs:
            place(value, _kept(caller.meta, _SIZE_META if value in source.sizes else _INPUT_META))
        calls: dict[str, tuple[int, str]] = {}  # calls made inside the child -> (number, path)
        stacks = []
        for node in source.nodes:
            place(node, node.meta)
            stack = []
            for key, inner, cls in self.stack(node)[depth + 1 :]:
                if not inner.startswith(path + "."):
                    return None
                number = calls.setdefault(key, (len(calls), inner))[0]
                stack.append((number, inner[len(path) + 1 :], cls))
            stacks.append(tuple(stack))
        try:
            # recorded arguments name the inputs of units inside; first, as the cheap part
            # that fails where a call inside is passed an argument with no exact key
            keys: list[Any] = [_call_key(self.recorded(inner, key), positions) for key, (_, inner) in calls.items()]
            keys += [
                tuple((name, value_key(caller.meta.get("val"))) for name, (_, caller) in zip(source.names, source.inputs)),
                tuple((index[tensor], dim, value_key(callers[size].meta.get("val"))) for size, (tensor, dim) in source.sizes.items()),
                self.structures.key(module),
                tuple(index[value] for value in source.outputs),
            ]
            for node, stack in zip(source.nodes, stacks):
                node_key = self.node_key(node, source.target(node), index, source.context(node), path, module)
                keys.append((node_key, stack))
            key = tuple(keys)
            hash(key)
        except (Unkeyable, TypeError):  # TypeError: unhashable
            return None
        return key

    def collapsible(self, module: nn.Module, inputs: list[fx.Node], outputs: list[fx.Node], recorded: Call | None) -> bool:
        """A built-in leaf that takes one tensor and returns one: a plain module call."""
        if not isinstance(module, SINGLE_TENSOR_MODULES) or not self.cache.is_leaf(module):
            return False
        if getattr(module, "return_indices", False):  # a max pool returning its indices too
            return False
        if len(outputs) != 1 or not isinstance(outputs[0].meta.get("val"), torch.Tensor):
            return False
        if recorded is None:
            return len(inputs) == 1
        passed = [a for a in list(recorded.args) + list(recorded.kwargs.values()) if isinstance(a, Origin)]
        return len(inputs) == 1 and len(passed) == 1 and passed[0].name in origins(inputs[0])

    def call(
        self,
        graph: fx.Graph,
        source: _Source,
        local: _LocalNodes,
        nodes: list[fx.Node],
        outputs: list[fx.Node],
        target: str,
        arguments: tuple[tuple[Any, ...], dict[str, Any]],
        key: str,
        module: nn.Module,
    ) -> None:
        """One `call_module` of `target` (`module`) where `nodes` would be; what the caller
        reads of them reads the call (or an item of it)."""
        args, kwargs = arguments
        call = new_node(graph, "call_module", target, args, kwargs)
        stack = nodes[0].meta.get("nn_module_stack") or {}
        keys = list(stack)
        call.meta["nn_module_stack"] = {k: stack[k] for k in keys[: keys.index(key)]}
        call.meta["stack_trace"] = call_site([n.meta.get("stack_trace") for n in nodes], type(module))
        shared = _shared_context([source.context(n) or () for n in nodes])
        if shared:  # the call runs inside the region; the callee's code does not repeat it
            call.meta[CONTEXT] = shared
        if len(outputs) == 1:
            call.meta["val"] = outputs[0].meta.get("val")
            call.meta[ORIGIN] = outputs[0].meta.get(ORIGIN)
            call.meta[ALIASES] = outputs[0].meta.get(ALIASES, [])
            call.meta[RETURNED] = _returned(outputs[0])
            local[outputs[0]] = call
            return
        call.meta["val"] = tuple(out.meta.get("val") for out in outputs)  # unpacked where it is read
        for i, out in enumerate(outputs):
            item = new_node(graph, "call_function", operator.getitem, (call, i), {})
            item.meta = dict(out.meta)
            if out.meta.get(CONTEXT):
                item.meta[CONTEXT] = source.context(out)
            item.meta["nn_module_stack"] = call.meta["nn_module_stack"]
            item.meta[RETURNED] = _returned(out)
            local[out] = item


def _returned(out: fx.Node) -> tuple[str | None, int | None]:
    """Where the callee computes a value it returns (see RETURNED)."""
    index = out.args[1] if out.target is operator.getitem and type(out.args[1]) is int else None
    return out.meta.get("stack_trace"), index


def _sketch(module: nn.Module, source: _Source) -> Any:
    """What every twin key of a call holds and costs nothing to make: equal keys have
    equal sketches (the module's type is part of its structure key)."""
    return type(module), len(source.nodes), len(source.inputs), len(source.outputs)


def _shared_context(contexts: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    """The `with` regions every node of a call is inside (the longest common prefix)."""
    shared = tuple(contexts[0])
    for context in contexts[1:]:
        context = tuple(context)
        while context[: len(shared)] != shared:
            shared = shared[:-1]
    return shared


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


def _call_arguments(recorded: Call | None, inputs: list[fx.Node]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The collapsed call's arguments: as recorded (values mapped to nodes), else the input."""
    if recorded is None:
        return tuple(inputs), {}
    by_origin = {name: n for n in inputs for name in origins(n)}

    def value(v: Any) -> Any:
        return by_origin[v.name] if isinstance(v, Origin) else v

    return tuple(value(a) for a in recorded.args), {k: value(v) for k, v in recorded.kwargs.items()}


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


def _then(target: str | None, retarget: Callable[[str], str | None]) -> str | None:
    return None if target is None else retarget(target)


def _call_key(call: Call | None, positions: dict[str, tuple[int, int]]) -> Any:
    """A recorded call as a key: graph values by position (and rank among the value's
    names), literals exactly. A value no node of the child has (made outside it, and read
    neither by the child nor by the call: `attention_mask` that eager attention ignores)
    is keyed only as such: it names no input inside, and only counts as an argument
    that is a graph value (`collapsible`)."""
    if call is None:
        return None
    args = tuple(_argument_key(a, positions) for a in call.args)
    return (args, tuple((k, _argument_key(v, positions)) for k, v in call.kwargs.items()), call.names)


def _argument_key(value: Any, positions: dict[str, tuple[int, int]]) -> Any:
    """One argument of `_call_key` (a function, not a closure calling itself: that is a
    reference cycle, left for the collector, for every call keyed)."""
    if isinstance(value, Origin):
        if value.name not in positions:
            return ("outside",)
        return ("value", positions[value.name])
    if type(value) in (tuple, list):
        return (type(value), tuple(_argument_key(item, positions) for item in value))
    return argument_key(value, {})


def _named_inputs(inputs: list[fx.Node], recorded: Call | None) -> tuple[list[fx.Node], list[str]]:
    """Each input named after the parameter it was passed as, else after its value; those
    passed as parameters first, in the order of `forward`'s signature."""
    by_origin: dict[str, str] = {}
    order: dict[str, int] = {}  # parameter name -> place in the signature
    if recorded is not None:
        for name, value in list(zip(recorded.names, recorded.args)) + list(recorded.kwargs.items()):
            _note_parameter(name, value, by_origin, order)
    bases = []
    for value in inputs:
        found = [by_origin[o] for o in sorted(origins(value)) if o in by_origin]
        # without a recorded call, a name of the callee's own, so that equal classes match
        bases.append((found[0], 0) if found else ("n" if isinstance(value.meta.get("val"), (int, torch.SymInt)) else "x", 1))
    names = [""] * len(inputs)
    for i in sorted(range(len(inputs)), key=lambda i: bases[i][1]):  # the parameters' own names first
        base = name = bases[i][0]
        count = 0
        while name in names:
            count += 1
            name = f"{base}_{count}"
        names[i] = name
    ranked = sorted(range(len(inputs)), key=lambda i: order.get(names[i], len(order)))
    return [inputs[i] for i in ranked], [names[i] for i in ranked]


def _note_parameter(name: str, value: Any, by_origin: dict[str, str], order: dict[str, int]) -> None:
    """Note that `value` was passed as parameter `name` (the items of a tuple as `name_0`,
    ...: `position_embeddings=(cos, sin)`) for `_named_inputs`."""
    order.setdefault(name, len(order))
    if isinstance(value, Origin):
        by_origin.setdefault(value.name, name)
    elif type(value) in (tuple, list):
        for i, item in enumerate(value):
            _note_parameter(f"{name}_{i}", item, by_origin, order)
