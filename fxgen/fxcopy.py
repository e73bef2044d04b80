"""Copies of FX nodes and graphs, as torch.fx makes them, without its per-node pytree walk.

`Graph.create_node` walks every new node's arguments with pytree to warn about raw
SymInts passed by a tracer; a copy of an existing graph passes nothing new, and that
walk was a third of the time it takes to cut a large graph into classes. Here a node is
created without arguments and then given them (the same node, users and metadata),
through the `args` and `kwargs` properties themselves: `Node.__setattr__` would also
take the node out of the graph's lookup table by opcode and target and put it back,
which arguments do not change (a third of the time to make a node).
"""

from __future__ import annotations

from typing import Any, Callable

from torch import fx

__all__ = ["copy_node", "copy_graph", "new_node"]


def new_node(
    graph: fx.Graph, op: str, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any], name: str | None = None, type_: Any = None
) -> fx.Node:
    """`graph.create_node(op, target, args, kwargs, name, type_)` for arguments that hold
    graph values and literals only (no tracer's SymInts to warn about)."""
    if name is None and type(target) is str and target == target.lower() and not target.startswith("__"):
        name = target  # the name fx would make of it, without its camel-case regex
    result = graph.create_node(op, target, (), {}, name, type_)
    object.__setattr__(result, "args", args)  # the property's setter: users are updated
    object.__setattr__(result, "kwargs", kwargs)
    return result


def copy_node(graph: fx.Graph, node: fx.Node, value_of: Callable[[fx.Node], Any]) -> fx.Node:
    """`graph.node_copy(node, value_of)`."""
    args, kwargs = fx.map_arg(node.args, value_of), fx.map_arg(node.kwargs, value_of)
    result = new_node(graph, node.op, node.target, args, kwargs, node.name, node.type)
    result.meta.clear()  # in place: assigning an attribute of a node in a graph re-files it in fx's lookup table
    result.meta.update(node.meta)
    return result


def copy_graph(graph: fx.Graph, source: fx.Graph, values: dict[fx.Node, Any]) -> Any:
    """`graph.graph_copy(source, values)`: every node of `source` copied into `graph`
    (except those `values` already maps); the copied output value, or None."""
    for node in source.nodes:
        if node in values:
            continue
        if node.op == "output":
            return fx.map_arg(node.args[0], values.__getitem__)
        values[node] = copy_node(graph, node, values.__getitem__)
    return None
