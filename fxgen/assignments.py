"""Assignments into part of a tensor, as the user wrote them: `x[0] = v`, `x[mask] = v`.

torch.export records `x[:, -1] = v` as the views it takes and an in-place call on the last
(`select = x[:, -1]`, `select.fill_(v)`), and `x[mask] = v` as `x.index_put_([mask], v)`.
Both become the `operator.setitem(x, index, v)` call torch.fx and dynamo record for the
same line, which lowering writes as the statement `x[:, -1] = v`. Only what is exactly
that: views no other node reads, a fill or copy whose result nothing reads, a plain
`index_put_` (not accumulating); index bounds that are numbers.
"""

from __future__ import annotations

import math
import operator
from typing import Any, Callable

import torch
from torch import fx

aten = torch.ops.aten

__all__ = ["assignments_as_setitem"]

#: the in-place calls that write their second argument into a view
_WRITES = (aten.fill_.Scalar, aten.fill_.Tensor, aten.copy_.default)
_VIEWS = (aten.select.int, aten.slice.Tensor)
_WHOLE = 2**63 - 1  # the end ATen records for a slice without one
#: how torch.export makes a tensor written in the model (`torch.tensor(0.1)`) each call
_CONSTANT_STEPS = (aten.detach_.default, aten.lift_fresh_copy.default)


def assignments_as_setitem(graph: fx.Graph, tensor_of: Callable[[str], Any]) -> None:
    """Rewrite each assignment into part of a tensor as one `operator.setitem` node
    (`tensor_of`: the tensor a `get_attr` target reads, to write a constant as a number)."""
    for node in list(graph.nodes):
        if node.op != "call_function":
            continue
        if node.target in _WRITES and not node.users and _plain_write(node):
            views = _view_chain(node.args[0])
            index = _index(views) if views else None
            if index is not None:
                value = _number(node.args[1], node.args[0], tensor_of)
                _replace(graph, node, views[0].args[0], index, node.args[1], value, views)
        elif node.target is aten.index_put_.default and _plain_index_put(node):
            base, indices, value = node.args[:3]
            node.replace_all_uses_with(base)  # an in-place call returns its input
            items = tuple(slice(None) if i is None else i for i in indices)
            index = items[0] if len(items) == 1 else items
            _replace(graph, node, base, index, value, _number(value, base, tensor_of), [])


def _plain_write(node: fx.Node) -> bool:
    return len(node.args) == 2 and not node.kwargs.get("non_blocking")


def _plain_index_put(node: fx.Node) -> bool:
    accumulate = node.kwargs.get("accumulate", node.args[3] if len(node.args) > 3 else False)
    return len(node.args) >= 3 and not accumulate and isinstance(node.args[1], (list, tuple)) and len(node.args[1]) > 0


def _view_chain(view: Any) -> list[fx.Node]:
    """The views from a base tensor to `view`, outermost first (empty where `view` is no
    view only its write reads)."""
    chain: list[fx.Node] = []
    while isinstance(view, fx.Node) and view.op == "call_function" and view.target in _VIEWS and len(view.users) == 1:
        chain.append(view)
        view = view.args[0]
    return chain[::-1]


def _index(views: list[fx.Node]) -> Any:
    """The index of the base that the chain of views takes (`(slice(None), -1)` for
    `x[:, -1]`); None where it is not one index of numbers over distinct dimensions."""
    value = views[0].args[0].meta.get("val") if isinstance(views[0].args[0], fx.Node) else None
    if not isinstance(value, torch.Tensor):
        return None
    dims = list(range(value.dim()))  # the base's dimension of each dimension of the view so far
    items: dict[int, Any] = {}
    for view in views:
        dim = view.args[1] if len(view.args) > 1 else 0
        if view.kwargs or not isinstance(dim, int) or not dims or dims[dim % len(dims)] in items:
            return None
        base_dim = dims[dim % len(dims)]
        if view.target is aten.select.int:
            item = view.args[2]
            if not isinstance(item, int):
                return None
            del dims[dim % len(dims)]
        else:
            start, end, step = (list(view.args[2:5]) + [None, None, 1][len(view.args[2:5]) :])[:3]
            if not all(isinstance(b, int) or b is None for b in (start, end, step)):
                return None
            item = slice(start or None, None if end is None or end >= _WHOLE else end, None if step == 1 else step)
        items[base_dim] = item
    index = tuple(items.get(d, slice(None)) for d in range(max(items) + 1))
    return index[0] if len(index) == 1 else index


def _number(value: Any, target: Any, tensor_of: Callable[[str], Any]) -> Any:
    """The number a constant `value` assigns where it writes exactly what the tensor does
    into `target`'s dtype (`x[0] = 0.5` reaches export as a lifted `tensor(0.5)`); else
    `value` itself."""
    lifted = value
    if isinstance(lifted, fx.Node) and lifted.target is aten.detach_.default and len(lifted.users) == 1:
        lifted = lifted.args[0]  # `torch.tensor(0.1)` written in the model: lifted, then detached
    if not (isinstance(lifted, fx.Node) and lifted.target is aten.lift_fresh_copy.default and len(lifted.users) == 1):
        return value
    source, kept = lifted.args[0], target.meta.get("val") if isinstance(target, fx.Node) else None
    if not (isinstance(source, fx.Node) and source.op == "get_attr" and isinstance(kept, torch.Tensor)):
        return value
    tensor = tensor_of(str(source.target))
    if not isinstance(tensor, torch.Tensor) or tensor.dim() != 0 or tensor.is_complex():
        return value
    written = _bits(tensor.to(kept.dtype))
    for number in _numbers(tensor):
        if _bits(torch.full((), number, dtype=kept.dtype)) == written:
            return number
    return value


def _numbers(tensor: torch.Tensor) -> list[Any]:
    """Python numbers for a 0-dim tensor, the shortest first."""
    if tensor.dtype is torch.bool:
        return [bool(tensor)]
    if not tensor.is_floating_point():
        return [int(tensor)]
    number = float(tensor)
    if number != number or number in (math.inf, -math.inf):
        return [number]
    return [float(f"{number:.{digits}g}") for digits in range(1, 18)]


def _bits(tensor: torch.Tensor) -> bytes:
    return bytes(tensor.reshape(1).view(torch.uint8).tolist())


def _replace(
    graph: fx.Graph, write: fx.Node, base: Any, index: Any, written: Any, value: Any, views: list[fx.Node]
) -> None:
    """`write` (and the views only it read) as `base[index] = value`; `written`: what
    `write` wrote, dropped where `value` is the number it holds."""
    with graph.inserting_before(write):
        setitem = graph.call_function(operator.setitem, (base, index, value))
    setitem.meta = dict(write.meta)
    setitem.meta.pop("val", None)
    graph.erase_node(write)
    for view in reversed(views):
        graph.erase_node(view)
    while isinstance(written, fx.Node) and written.target in _CONSTANT_STEPS and not written.users:
        graph.erase_node(written)  # the constant, now a number (its attribute read goes with dead code)
        written = written.args[0]
