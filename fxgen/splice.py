"""Inlining: a module call replaced by the graph of what the module does."""

from __future__ import annotations

import operator
from typing import Any, Callable

from torch import fx

from fxgen.fxcopy import copy_node

__all__ = ["inline_call"]


def inline_call(
    graph: fx.Graph,
    call: fx.Node,
    body: fx.Graph,
    inputs: dict[fx.Node, Any],
    retarget: Callable[[str], str],
    stack: dict[str, Any] | None = None,
) -> list[fx.Node]:
    """Put `body`'s nodes in place of `call` and return them.

    `inputs` gives the value of each of `body`'s placeholders; `retarget` maps its
    attribute and module targets to names in `graph`; `stack` is prepended to each inlined
    node's module stack. The call's result is replaced by `body`'s output: a value, or a
    (nested) tuple whose items the call's users index by constants."""
    values: dict[fx.Node, Any] = {}
    added = []
    result: Any = None
    with graph.inserting_before(call):
        for node in body.nodes:
            if node.op == "placeholder":
                values[node] = inputs[node]
                continue
            if node.op == "output":
                result = fx.node.map_arg(node.args[0], lambda n: values[n])
                continue
            copy = copy_node(graph, node, values.__getitem__)
            if copy.op in ("get_attr", "call_module"):
                copy.target = retarget(str(copy.target))
            copy.meta["stack_trace"] = call.meta.get("stack_trace")
            if stack is not None:
                copy.meta["nn_module_stack"] = {**stack, **(node.meta.get("nn_module_stack") or {})}
            values[node] = copy
            added.append(copy)
    _replace(graph, call, result)
    graph.erase_node(call)
    return added


def _replace(graph: fx.Graph, node: fx.Node, value: Any) -> None:
    """Make `node`'s users read `value`: a node, or a (nested) tuple of them that users
    index by constants or take whole."""
    if isinstance(value, fx.Node):
        node.replace_all_uses_with(value)
        return
    for user in list(node.users):
        indexed = user.target is operator.getitem and isinstance(user.args[1], int)
        if indexed and isinstance(value, (tuple, list)):
            _replace(graph, user, value[user.args[1]])
            graph.erase_node(user)
        else:
            user.args = fx.node.map_arg(user.args, lambda n: value if n is node else n)
            user.kwargs = fx.node.map_arg(user.kwargs, lambda n: value if n is node else n)
