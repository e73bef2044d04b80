"""The captured graph as plain data: a node listing (`ir`) and a picture (`mermaid`).

Both are computed here, escaped and ready to print: `graph_nodes` writes each node in
torch.fx's own notation (`%name`, `call_function[target=torch.sum]`, `{dim: -1}`) but
never with a memory address; `diagram` groups the steps into their modules, collapsing
modules deeper than a given depth into single boxes, with labels safe inside Mermaid's
quotes.
"""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import fx, nn

from fxgen.hierarchy import module_stack, submodule
from fxgen.program import Diagram, DiagramBox, DiagramGroup, GraphNode
from fxgen.pyexpr import public_names

__all__ = ["graph_nodes", "diagram"]


def graph_nodes(graph: fx.Graph) -> list[GraphNode]:
    """Every node, as torch.fx's `Graph.__str__` lists it (without addresses)."""
    listed = []
    for node in graph.nodes:
        listed.append(
            GraphNode(
                node=node,
                name=node.name,
                opcode=node.op,
                target=_target(node),
                args=_return_value(node.args[0]) if node.op == "output" else _fx_arg(tuple(node.args)),
                kwargs=_fx_arg(dict(node.kwargs)),
                users=len(node.users),
                type=_type(node.type),
                module=_module_of(node),
            )
        )
    return listed


def diagram(graph: fx.Graph, root: nn.Module, class_name: str, depth: int) -> Diagram:
    """The program as nested module boxes, collapsed below `depth` levels of submodules."""
    top = DiagramGroup("model", _label(class_name), None)
    groups: dict[str, DiagramGroup] = {"": top}
    box_of: dict[fx.Node, str] = {}
    collapsed: dict[str, DiagramBox] = {}
    count = 0

    def group(path: tuple[str, ...], classes: tuple[str, ...]) -> DiagramGroup:
        key = ".".join(path)
        if key not in groups:
            parent = group(path[:-1], classes[:-1])
            name = path[-1].rsplit(".", 1)[-1] if "." in path[-1] else path[-1]
            new = DiagramGroup(f"g{len(groups)}", _label(f"{name} · {classes[-1]}"), parent.id)
            parent.groups.append(new)
            groups[key] = new
        return groups[key]

    for node in graph.nodes:
        if node.op == "get_attr":
            continue
        entries = module_stack(node)
        if node.op == "call_module" and entries and entries[-1][1] == node.target:
            entries = entries[:-1]
        paths = tuple(path for _, path, _ in entries)
        classes = tuple(cls for _, _, cls in entries)
        if len(paths) > depth:  # inside a module drawn as one box
            key = paths[depth]
            if key not in collapsed:
                owner = group(paths[:depth], classes[:depth])
                collapsed[key] = DiagramBox(f"n{count}", _label(f"{key} · {classes[depth]}"), "module")
                owner.boxes.append(collapsed[key])
                count += 1
            box_of[node] = collapsed[key].id
            continue
        owner = group(paths, classes)
        box = DiagramBox(f"n{count}", _label(_step_label(node, root, paths[-1] if paths else "")), _shape(node))
        owner.boxes.append(box)
        box_of[node] = box.id
        count += 1
    edges: list[tuple[str, str]] = []
    for node in graph.nodes:
        for source in node.all_input_nodes:
            if source in box_of and node in box_of and box_of[source] != box_of[node]:
                edge = (box_of[source], box_of[node])
                if edge not in edges:
                    edges.append(edge)
    return Diagram(top, edges)


def _step_label(node: fx.Node, root: nn.Module, inside: str) -> str:
    if node.op == "call_module":
        target = str(node.target)
        module = submodule(root, target)
        cls = "module" if module is None else type(module).__name__
        name = target[len(inside) + 1 :] if inside and target.startswith(inside + ".") else target
        return f"{name} · {cls}"
    if node.op == "call_function":
        target = node.target
        if isinstance(target, torch._ops.OpOverload):
            return target._schema.name.split("::")[-1]
        return getattr(target, "__name__", str(node.name))
    if node.op == "call_method":
        return f".{node.target}()"
    return "output" if node.op == "output" else str(node.target)


def _shape(node: fx.Node) -> str:
    return {"placeholder": "input", "output": "output", "call_module": "module"}.get(node.op, "op")


_SAFE = re.compile(r"[A-Za-z0-9 _.:,()\[\]/+*=·@-]")


def _label(text: str) -> str:
    """`text` as Mermaid reads it inside `["..."]`: anything else as an entity (`#35;`)."""
    return "".join(c if _SAFE.fullmatch(c) else f"#{ord(c)};" for c in text)


def _module_of(node: fx.Node) -> str:
    if node.op == "call_module":
        return str(node.target)
    entries = module_stack(node)
    return entries[-1][1] if entries else ""


def _target(node: fx.Node) -> str:
    target = node.target
    if node.op != "call_function":
        return _printable(str(target))
    if isinstance(target, torch._ops.OpOverload):
        namespace, name = target._schema.name.split("::")
        return f"torch.ops.{namespace}.{name}.{target._overloadname}"
    return _callable_name(target)


def _callable_name(target: Any) -> str:
    public = public_names().get(id(target))
    if public is not None and "." not in public:
        return f"builtins.{public}"
    if public is not None:
        return public.replace("F.", "torch.nn.functional.", 1) if public.startswith("F.") else public
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__qualname__", None) or getattr(target, "__name__", None) or type(target).__name__
    module = "operator" if module == "_operator" else module
    return _printable(f"{module}.{name}" if module else name)


def _fx_arg(value: Any) -> str:
    """torch.fx's notation for an argument: `%node`, `(a, b)`, `[a]`, `{key: value}`."""
    if isinstance(value, fx.Node):
        return f"%{value.name}"
    if isinstance(value, tuple) and not hasattr(type(value), "_fields"):
        items = ", ".join(_fx_arg(v) for v in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    if isinstance(value, list):
        return "[" + ", ".join(_fx_arg(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_printable(str(k))}: {_fx_arg(v)}" for k, v in value.items()) + "}"
    if value is None or isinstance(value, (bool, int, float, complex, slice, str, torch.dtype, torch.device,
                                          torch.memory_format, torch.layout, torch.Size)) or value is Ellipsis:
        return _printable(str(value))
    if callable(value):
        return _callable_name(value)
    if isinstance(value, torch.Tensor):
        return f"tensor(shape={list(value.shape)}, dtype={value.dtype})"
    return f"<{type(value).__qualname__}>"


def _return_value(value: Any) -> str:
    """The returned value as torch.fx prints it: Python's `str` of it, nodes by name."""
    if isinstance(value, fx.Node):
        return value.name
    if isinstance(value, (tuple, list)) and not hasattr(type(value), "_fields"):
        items = ", ".join(_return_value(v) for v in value)
        if isinstance(value, list):
            return f"[{items}]"
        return f"({items},)" if len(value) == 1 else f"({items})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_printable(repr(k))}: {_return_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return _printable(repr(value))
    return _fx_arg(value)


def _type(annotation: Any) -> str | None:
    if annotation is None:
        return None
    if isinstance(annotation, type):
        return _callable_name(annotation)
    return _printable(re.sub(r" at 0x[0-9a-f]+", "", str(annotation)))


def _printable(text: str) -> str:
    """One line, no control characters (a listing is text a reviewer reads)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
