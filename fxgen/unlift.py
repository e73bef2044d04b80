"""An ExportedProgram's graph as a plain graph over module attributes.

`torch.export` lifts every parameter, buffer and constant into a placeholder
(`p_fc_weight`) and flattens inputs and outputs into pytree leaves. This module undoes
both: lifted placeholders become `get_attr` nodes of their original fully qualified
names (from the graph signature), the user's inputs get their original names (keyword
inputs are marked keyword-only; a structured input is one parameter that the graph
indexes), and the output is rebuilt in its original structure — tuples, lists, dicts,
named tuples and dataclass-like outputs such as transformers' `ModelOutput`, constructed
by a `call_function` of their class.
"""

from __future__ import annotations

import collections
import dataclasses
import inspect
import operator
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import fx, nn
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind, OutputKind
from torch.utils import _pytree as pytree

from fxgen.assignments import assignments_as_setitem
from fxgen.errors import ExportError
from fxgen.fxcopy import copy_graph, copy_node
from fxgen.hierarchy import ALIASES, CONTEXT, ORIGIN, module_stack

__all__ = ["Unlifted", "unlift", "with_plain_dicts", "KEYWORD_ONLY"]

#: `node.meta` key set on placeholders of keyword inputs
KEYWORD_ONLY = "fxgen_keyword_only"


@dataclass
class Unlifted:
    """An exported program as a graph over a module tree."""

    graph: fx.Graph
    root: nn.Module  #: the original model, or one rebuilt from the program's state
    synthetic_root: bool  #: True when `root` was rebuilt (plain modules stand for containers)
    constants: dict[str, torch.Tensor]  #: tensors read by `get_attr` that `root` does not hold
    class_name: str


def unlift(ep: ExportedProgram, original: nn.Module | None, outputs: str = "original") -> Unlifted:
    """Convert `ep` (exported from `original`, when known) into a plain graph."""
    graph = fx.Graph()
    output_args = copy_graph(graph, ep.graph, {})
    graph.output(output_args)
    _inline_context_regions(graph, ep.graph_module)
    root = original if original is not None else _skeleton(ep)
    constants: dict[str, torch.Tensor] = {}
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    specs = ep.graph_signature.input_specs
    if len(placeholders) != len(specs):
        raise ExportError("the exported program's placeholders do not match its graph signature")
    user_inputs = []
    for node, spec in zip(placeholders, specs):
        if spec.kind == InputKind.USER_INPUT:
            user_inputs.append(node)
        elif spec.kind in (InputKind.PARAMETER, InputKind.BUFFER, InputKind.CONSTANT_TENSOR):
            target = str(spec.target)
            if spec.kind == InputKind.CONSTANT_TENSOR and not _has_attr(root, target):
                constants[target] = ep.constants[target]
            elif spec.kind == InputKind.BUFFER and not _has_attr(root, target):
                constants[target] = ep.constants.get(target, ep.state_dict.get(target))
            _replace_with_get_attr(graph, node, target)
        else:
            raise ExportError(
                f"input {node.name!r} of the exported program is a {spec.kind.name} "
                "input, which fxgen cannot write as source."
            )
    _restructure_inputs(graph, user_inputs, ep, original)
    _restructure_outputs(graph, ep, outputs)
    _drop_metadata_checks(graph)
    _unalias_no_op_conversions(graph)
    assignments_as_setitem(graph, constants.get)
    _drop_dead_pure_nodes(graph)
    graph.lint()
    return Unlifted(graph, root, original is None, constants, _class_name(ep, original))


# -- inputs ---------------------------------------------------------------------------


def _replace_with_get_attr(graph: fx.Graph, placeholder: fx.Node, target: str) -> None:
    first = next(n for n in graph.nodes if n.op != "placeholder")
    with graph.inserting_before(first):
        attr = graph.get_attr(target)
    attr.meta = dict(placeholder.meta)
    placeholder.replace_all_uses_with(attr)
    graph.erase_node(placeholder)


def _restructure_inputs(graph: fx.Graph, leaves: list[fx.Node], ep: ExportedProgram, original: nn.Module | None) -> None:
    """Give user inputs their original names; a structured input becomes one parameter."""
    in_spec = ep.call_spec.in_spec
    if in_spec is None:
        return
    args_spec, kwargs_spec = in_spec.children()
    names = _positional_names(ep, original, args_spec.num_children)
    queue = list(leaves)
    first_compute = next((n for n in graph.nodes if n.op != "placeholder"), None)
    entries = [(name, spec, False) for name, spec in zip(names, args_spec.children())]
    entries += [(key, spec, True) for key, spec in zip(kwargs_spec.context, kwargs_spec.children())]
    ordered = []
    for name, spec, keyword in entries:
        if spec.is_leaf():
            node = queue.pop(0)
        else:
            with graph.inserting_before(first_compute):
                node = graph.placeholder(name)
            count = spec.num_leaves
            parts, queue = queue[:count], queue[count:]
            for leaf, path in zip(parts, _leaf_paths(spec)):
                value = node
                with graph.inserting_before(first_compute):
                    for key in path:
                        value = graph.call_function(operator.getitem, (value, key))
                leaf.replace_all_uses_with(value)
                graph.erase_node(leaf)
        node.target = name
        node.meta[KEYWORD_ONLY] = keyword
        ordered.append(node)
    if ordered:  # placeholders first, in the order of the original signature
        head = next(iter(graph.nodes))
        if head is not ordered[0]:
            head.prepend(ordered[0])
        for before, after in zip(ordered, ordered[1:]):
            before.append(after)


def _positional_names(ep: ExportedProgram, original: nn.Module | None, count: int) -> list[str]:
    forward = original.forward if original is not None else ep.module().forward
    params = [
        p.name
        for p in inspect.signature(forward).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    names = params[:count]
    return names + [f"arg{i}" for i in range(len(names), count)]


def _leaf_paths(spec: pytree.TreeSpec) -> list[tuple[Any, ...]]:
    """The index path of every leaf of `spec`, in flattening order."""
    if spec.is_leaf():
        return [()]
    if spec.type in (tuple, list, collections.namedtuple):
        keys: list[Any] = list(range(spec.num_children))
    elif spec.type is dict:
        keys = list(spec.context)
    else:
        raise ExportError(f"an input of type {spec.type.__qualname__} cannot be indexed by generated code")
    return [(key, *rest) for key, child in zip(keys, spec.children()) for rest in _leaf_paths(child)]


# -- outputs --------------------------------------------------------------------------


def _restructure_outputs(graph: fx.Graph, ep: ExportedProgram, outputs: str) -> None:
    """Write buffer and input mutations back, and rebuild the output's structure."""
    output = next(n for n in graph.nodes if n.op == "output")
    flat = list(output.args[0])
    user = []
    for value, spec in zip(flat, ep.graph_signature.output_specs):
        if spec.kind == OutputKind.USER_OUTPUT:
            user.append(value)
        elif spec.kind in (OutputKind.BUFFER_MUTATION, OutputKind.USER_INPUT_MUTATION):
            with graph.inserting_before(output):
                if spec.kind == OutputKind.BUFFER_MUTATION:
                    destination = graph.get_attr(str(spec.target))
                else:
                    destination = next(n for n in graph.nodes if n.op == "placeholder" and n.name == spec.target)
                graph.call_method("copy_", (destination, value))
        else:
            raise ExportError(f"the exported program has a {spec.kind.name} output, which fxgen cannot write")
    out_spec = ep.call_spec.out_spec
    with graph.inserting_before(output):
        result = _build(graph.call_function, out_spec, iter(user), outputs) if out_spec is not None else tuple(user)
    output.args = (result,)


def with_plain_dicts(value: Any) -> Any:
    """`value` as a file written with `outputs="dict"` returns it: dataclasses, named
    tuples and OrderedDicts as plain dicts, the rest as it is."""
    leaves, spec = pytree.tree_flatten(value)
    return _build(lambda kind, args, kwargs: kind(*args, **kwargs), spec, iter(leaves), "dict")


def _build(make: Callable[..., Any], spec: pytree.TreeSpec, leaves: Any, outputs: str) -> Any:
    """The output structure `spec` around `leaves`, each object of a class made by
    `make(cls, args, kwargs)` (a graph's `call_function`, or the call itself)."""
    if spec.is_leaf():
        return next(leaves)
    children = [_build(make, child, leaves, outputs) for child in spec.children()]
    kind = spec.type
    if kind is tuple:
        return tuple(children)
    if kind is list:
        return children
    if kind is dict:
        return dict(zip(spec.context, children))
    if kind is collections.OrderedDict:
        items = dict(zip(spec.context, children))
        return items if outputs == "dict" else make(collections.OrderedDict, (items,), {})
    if kind is type(None):
        return None
    if kind is collections.namedtuple:  # pytree keeps the named tuple's class as context
        cls = spec.context
        fields = dict(zip(cls._fields, children))
        return fields if outputs == "dict" else make(cls, (), fields)
    if pytree.is_structseq_class(kind):  # torch.return_types.*: ATen returns plain tuples
        whole = _indexed_whole(children)
        return make(kind, (whole if whole is not None else tuple(children),), {})
    keys = _field_names(spec.context)
    if dataclasses.is_dataclass(kind) and keys is not None:
        if outputs == "dict":
            return dict(zip(keys, children))
        return make(kind, (), dict(zip(keys, children)))
    raise ExportError(
        f"the output of type {kind.__qualname__} cannot be written as source; return "
        "tuples, lists, dicts, named tuples or dataclasses instead"
    )


# -- `with` regions --------------------------------------------------------------------


def _inline_context_regions(graph: fx.Graph, owner: nn.Module) -> None:
    """Inline `torch.no_grad()`/`torch.autocast(...)` regions, which export captures as
    subgraphs called by a higher-order op; each inlined node records its `with`
    statements (outermost first) in `meta[CONTEXT]`. Any other higher-order op is an error."""
    for node in list(graph.nodes):
        if node.op != "call_function" or not isinstance(node.target, torch._ops.HigherOrderOperator):
            continue
        name = node.target.name()
        if name == "wrap_with_set_grad_enabled":
            enabled, body, *operands = node.args
            context: tuple[Any, ...] = ("set_grad_enabled", bool(enabled))
        elif name == "wrap_with_autocast":
            device, dtype, enabled, cache, body, *operands = node.args
            context = ("autocast", str(device), dtype, bool(enabled), cache)
        else:
            raise ExportError(
                f"node {node.name!r} calls the higher-order operator {name} (torch.cond, "
                "torch.while_loop, torch.map, ...), which fxgen cannot write as source yet. "
                "Export a model whose control flow is static, or capture it with symbolic "
                "tracing (capture='fx')."
            )
        sub = _subgraph(owner, body)
        values = dict(zip([n for n in sub.nodes if n.op == "placeholder"], operands))
        outer = tuple(node.meta.get(CONTEXT, ()))
        result: Any = None
        with graph.inserting_before(node):
            for inner in sub.nodes:
                if inner.op == "placeholder":
                    continue
                if inner.op == "output":
                    result = fx.node.map_arg(inner.args[0], lambda n: values[n])
                    continue
                copy = copy_node(graph, inner, values.__getitem__)
                copy.meta[CONTEXT] = outer + (context,) + tuple(inner.meta.get(CONTEXT, ()))
                copy.meta.setdefault("nn_module_stack", node.meta.get("nn_module_stack"))
                copy.meta[ORIGIN] = copy.name
                values[inner] = copy
        for user in list(node.users):  # results are read as `region[i]`
            user.replace_all_uses_with(result[user.args[1]])
            graph.erase_node(user)
        graph.erase_node(node)
        if not body.users:
            graph.erase_node(body)


def _subgraph(owner: nn.Module, attribute: fx.Node) -> fx.Graph:
    module = owner.get_submodule(str(attribute.target))
    graph = fx.Graph()
    graph.output(copy_graph(graph, module.graph, {}))
    _inline_context_regions(graph, module)
    return graph


# -- clean-up ---------------------------------------------------------------------------

#: checks export inserts about what it saw at capture time (dtype, device, value ranges);
#: the generated file leaves them out, as a device check would pin the model to one device
_METADATA_CHECKS = frozenset(
    op
    for op in (
        getattr(torch.ops.aten, "_assert_tensor_metadata", None),
        getattr(torch.ops.aten, "_assert_scalar", None),
        getattr(torch.ops.aten, "sym_constrain_range_for_size", None),
        getattr(torch.ops.aten, "sym_constrain_range", None),
    )
    if op is not None
    for op in [op.default]
)


def _drop_metadata_checks(graph: fx.Graph) -> None:
    for node in list(graph.nodes):
        if node.op == "call_function" and node.target in _METADATA_CHECKS and not node.users:
            graph.erase_node(node)


_CONVERSIONS = frozenset(
    {torch.ops.aten.to.dtype, torch.ops.aten.to.device, torch.ops.aten.to.dtype_layout, torch.ops.aten.type_as.default}
)


def _unalias_no_op_conversions(graph: fx.Graph) -> None:
    """A conversion to the dtype and device a tensor already has returns the tensor itself,
    so export traces every later use of that tensor as a use of the conversion. Outside
    the module that converts, such uses read the original value again, as the code did."""
    for node in graph.nodes:
        if node.op != "call_function" or node.target not in _CONVERSIONS:
            continue
        source, result = node.args[0], node.meta.get("val")
        before = source.meta.get("val") if isinstance(source, fx.Node) else None
        if not (isinstance(result, torch.Tensor) and isinstance(before, torch.Tensor)):
            continue
        if result.dtype != before.dtype or result.device != before.device or node.kwargs.get("copy"):
            continue
        where = _innermost_module(node)
        for user in list(node.users):
            if _innermost_module(user) != where and not _inside(user, where):
                user.replace_input_with(node, source)
                aliases = source.meta.setdefault(ALIASES, [])
                if node.meta.get(ORIGIN) not in aliases:
                    aliases.append(node.meta.get(ORIGIN))


def _innermost_module(node: fx.Node) -> str:
    stack = module_stack(node)
    return stack[-1][1] if stack else ""


def _inside(node: fx.Node, path: str) -> bool:
    return any(p == path for _, p, _ in module_stack(node))


def _drop_dead_pure_nodes(graph: fx.Graph) -> None:
    """Remove results nobody uses of ops without side effects (export leaves some behind)."""
    for node in reversed(list(graph.nodes)):
        if node.users or node.op not in ("call_function", "get_attr"):
            continue
        target = node.target
        if node.op == "get_attr" or target is operator.getitem:
            graph.erase_node(node)
        elif isinstance(target, torch._ops.OpOverload):
            if not target._schema.is_mutable and torch.Tag.nondeterministic_seeded not in target.tags:
                graph.erase_node(node)


def _field_names(context: Any) -> list[str] | None:
    """The field names a dataclass's pytree context holds: transformers' ModelOutput keeps
    a list of names, `register_dataclass` keeps [names, names of fields that were None]."""
    if isinstance(context, (list, tuple)) and all(isinstance(k, str) for k in context):
        return list(context)
    if isinstance(context, (list, tuple)) and len(context) == 2 and all(isinstance(k, str) for k in context[0]):
        return list(context[0])
    return None


def _indexed_whole(children: list[Any]) -> fx.Node | None:
    """`x` when `children` are exactly `x[0], x[1], ...` of a node that returns all of them."""
    if not children or not all(isinstance(c, fx.Node) and c.target is operator.getitem for c in children):
        return None
    source = children[0].args[0]
    if [c.args for c in children] != [(source, i) for i in range(len(children))]:
        return None
    value = source.meta.get("val") if isinstance(source, fx.Node) else None
    return source if isinstance(value, (tuple, list)) and len(value) == len(children) else None


# -- the model, where only the program is known ------------------------------------------


def _skeleton(ep: ExportedProgram) -> nn.Module:
    """Plain modules holding the program's parameters and buffers under their names, and
    an empty module for every other module the program calls (a dropout, an activation)."""
    root = nn.Module()
    for node in ep.graph.nodes:
        for _, path, _ in module_stack(node):
            if all(part.isidentifier() or part.isdigit() for part in path.split(".")):
                _owner(root, f"{path}.x")
    for spec in ep.graph_signature.input_specs:
        target = str(spec.target) if spec.target is not None else ""
        if spec.kind == InputKind.PARAMETER:
            value = ep.state_dict[target]
            param = value if isinstance(value, nn.Parameter) else nn.Parameter(value, requires_grad=False)
            owner, name = _owner(root, target)
            owner.register_parameter(name, param)
        elif spec.kind == InputKind.BUFFER:
            value = ep.state_dict[target] if spec.persistent else ep.constants[target]
            owner, name = _owner(root, target)
            owner.register_buffer(name, value, persistent=bool(spec.persistent))
    return root


def _owner(root: nn.Module, target: str) -> tuple[nn.Module, str]:
    *path, name = target.split(".")
    module = root
    for part in path:
        if part not in module._modules:
            module.add_module(part, nn.Module())
        module = module._modules[part]
    return module, name


def _has_attr(root: nn.Module, target: str) -> bool:
    value: Any = root
    for part in target.split("."):
        if not hasattr(value, part):
            return False
        value = getattr(value, part)
    return isinstance(value, torch.Tensor)


def _class_name(ep: ExportedProgram, original: nn.Module | None) -> str:
    if original is not None:
        return type(original).__name__
    for node in ep.graph.nodes:
        for key, (path, cls) in (node.meta.get("nn_module_stack") or {}).items():
            if not path:  # the root's own entry
                name = cls if isinstance(cls, str) else cls.__qualname__
                return name.rsplit(".", 1)[-1]
    return "ExportedModel"
