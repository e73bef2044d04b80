"""Copies of FX nodes and graphs, as torch.fx makes them, without its per-node pytree walk.

`Graph.create_node` walks every new node's arguments with pytree to warn about raw
SymInts passed by a tracer; a copy of an existing graph passes nothing new, and that
walk was a third of the time it takes to cut a large graph into classes. Here a node is
created without arguments and then given them (the same node, users and metadata).
"""

from __future__ import annotations

from typing import Any, Callable

from torch import fx

__all__ = ["copy_node", "copy_graph"]


def copy_node(graph: fx.Graph, node: fx.Node, value_of: Callable[[fx.Node], Any]) -> fx.Node:
    """`graph.node_copy(node, value_of)`."""
    result = graph.create_node(node.op, node.target, (), {}, node.name, node.type)
    result.args = fx.map_arg(node.args, value_of)
    result.kwargs = fx.map_arg(node.kwargs, value_of)
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
