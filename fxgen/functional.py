"""Functional lowering: every module call becomes functional code over named tensors.

For the `functional` style. A built-in module in `TABLE` is replaced by the functional
call its own `forward` makes (`nn.Linear` -> `F.linear(x, weight, bias)`); any other
module's forward is traced with torch.fx, which keeps functional calls whole
(`F.gaussian_nll_loss(...)`), or where that fails (LSTM, attention: data-dependent
Python) captured with `make_fx` (pre-dispatch, as torch.export records operations), and
its operations inlined, which the ATen table then writes with the public API.
Either way, the module's parameters and buffers become `get_attr` nodes of their
qualified names, which the style writes as `state["fc.weight"]`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch._guards import detect_fake_mode
from torch.func import functional_call
from torch.fx.experimental.proxy_tensor import make_fx

from fxgen.capture import Captured, RecordedValue
from fxgen.errors import ExportError
from fxgen.fxcopy import copy_graph
from fxgen.hierarchy import module_stack, submodule
from fxgen.splice import inline_call

__all__ = ["functionalize", "TABLE", "APPROXIMATE", "TOLERANCE", "DETACHED", "approximate_modules"]

#: Modules whose eager forward takes fused kernels (the attention and transformer-layer
#: "fast path", `torch._native_multi_head_attention` and friends) that no public
#: functional call reproduces bit for bit: their functional form agrees to float32
#: rounding, within TOLERANCE, and files that contain them are verified within it.
APPROXIMATE = (
    nn.MultiheadAttention,
    nn.TransformerEncoderLayer,
    nn.TransformerDecoderLayer,
    nn.TransformerEncoder,
    nn.TransformerDecoder,
    nn.Transformer,
)
TOLERANCE = {"rtol": 1.3e-6, "atol": 1e-5}  # torch.testing's float32 defaults

Lowering = Callable[["_Call"], Any]


class _Call:
    """One module call being replaced: its module, arguments and where to put nodes."""

    def __init__(self, graph: fx.Graph, node: fx.Node, module: nn.Module) -> None:
        self.graph = graph
        self.node = node
        self.module = module
        self.path = str(node.target)

    @property
    def input(self) -> Any:
        return self.node.args[0]

    def tensor(self, name: str) -> fx.Node | None:
        """The module's parameter or buffer `name` as a `get_attr` node (None if it is None)."""
        if getattr(self.module, name, None) is None:
            return None
        node = self.graph.get_attr(f"{self.path}.{name}")
        node.meta["val"] = getattr(self.module, name)
        return node

    def function(self, target: Callable[..., Any], *args: Any, **kwargs: Any) -> fx.Node:
        return self.graph.call_function(target, args, kwargs)

    def options(self, **values: tuple[Any, Any]) -> dict[str, Any]:
        """Keyword arguments that differ from their defaults, `(3, 3)` written as `3`:
        `options(stride=(m.stride, 1))` is `{}` when the stride is (1, 1)."""
        chosen = {}
        for name, (value, default) in values.items():
            if isinstance(value, tuple) and value and all(v == value[0] for v in value):
                value = value[0]
            if value != default:
                chosen[name] = value
        return chosen


def _conv(call: _Call) -> Any:
    m = call.module
    functions = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
    if m.padding_mode != "zeros" or len(call.node.args) != 1 or call.node.kwargs:
        return None
    options = call.options(stride=(m.stride, 1), padding=(m.padding, 0), dilation=(m.dilation, 1), groups=(m.groups, 1))
    return call.function(functions[len(m.kernel_size)], call.input, call.tensor("weight"), call.tensor("bias"), **options)


def _batch_norm(call: _Call) -> Any:
    m = call.module
    if m.training and m.track_running_stats:
        return None  # updates its statistics (and count): captured with its own forward
    training = m.training or (m.running_mean is None and m.running_var is None)
    return call.function(
        F.batch_norm, call.input, call.tensor("running_mean"), call.tensor("running_var"), call.tensor("weight"),
        call.tensor("bias"), training=training, momentum=0.0 if m.momentum is None else m.momentum, eps=m.eps,
    )


TABLE: dict[type, Lowering] = {
    nn.Linear: lambda c: c.function(F.linear, c.input, c.tensor("weight"), c.tensor("bias")),
    nn.Conv1d: _conv,
    nn.Conv2d: _conv,
    nn.Conv3d: _conv,
    nn.BatchNorm1d: _batch_norm,
    nn.BatchNorm2d: _batch_norm,
    nn.BatchNorm3d: _batch_norm,
    nn.LayerNorm: lambda c: c.function(
        F.layer_norm, c.input, c.module.normalized_shape, c.tensor("weight"), c.tensor("bias"), eps=c.module.eps
    ),
    nn.GroupNorm: lambda c: c.function(
        F.group_norm, c.input, c.module.num_groups, c.tensor("weight"), c.tensor("bias"), eps=c.module.eps
    ),
    nn.Embedding: lambda c: c.function(
        F.embedding, c.input, c.tensor("weight"),
        **c.options(padding_idx=(c.module.padding_idx, None), max_norm=(c.module.max_norm, None),
                    norm_type=(c.module.norm_type, 2.0), scale_grad_by_freq=(c.module.scale_grad_by_freq, False),
                    sparse=(c.module.sparse, False)),
    ),
    nn.Dropout: lambda c: c.function(
        F.dropout, c.input, p=c.module.p, training=c.module.training, **c.options(inplace=(c.module.inplace, False))
    ),
    nn.ReLU: lambda c: c.function(F.relu, c.input, **c.options(inplace=(c.module.inplace, False))),
    nn.GELU: lambda c: c.function(F.gelu, c.input, **c.options(approximate=(c.module.approximate, "none"))),
    nn.SiLU: lambda c: c.function(F.silu, c.input, **c.options(inplace=(c.module.inplace, False))),
    nn.Tanh: lambda c: c.function(torch.tanh, c.input),
    nn.Sigmoid: lambda c: c.function(torch.sigmoid, c.input),
    nn.Softmax: lambda c: c.function(F.softmax, c.input, dim=c.module.dim),
    nn.LogSoftmax: lambda c: c.function(F.log_softmax, c.input, dim=c.module.dim),
    nn.Flatten: lambda c: c.graph.call_method("flatten", (c.input, c.module.start_dim, c.module.end_dim)),
    nn.Identity: lambda c: c.input,
    nn.MaxPool2d: lambda c: None if c.module.return_indices else c.function(
        F.max_pool2d, c.input, c.module.kernel_size,
        **c.options(stride=(c.module.stride, c.module.kernel_size), padding=(c.module.padding, 0),
                    dilation=(c.module.dilation, 1), ceil_mode=(c.module.ceil_mode, False)),
    ),
    nn.AdaptiveAvgPool2d: lambda c: c.function(F.adaptive_avg_pool2d, c.input, c.module.output_size),
}


def functionalize(captured: Captured) -> Captured:
    """A copy of `captured` whose graph calls no modules."""
    graph = fx.Graph()
    graph.output(copy_graph(graph, captured.graph, {}))
    constants = dict(captured.constants)
    pending = [node for node in graph.nodes if node.op == "call_module"]
    while pending:
        node = pending.pop(0)
        module = captured.root.get_submodule(str(node.target))
        lowering = TABLE.get(type(module))
        single_input = len(node.args) == 1 and not node.kwargs
        with graph.inserting_before(node):
            value = lowering(_Call(graph, node, module)) if lowering is not None and single_input else None
        if value is None:
            added = _inline_symbolic(graph, node, module, constants)
            if added is None:
                added = _inline_traced(graph, node, module, constants)
            pending += [n for n in added if n.op == "call_module"]
            continue
        node.replace_all_uses_with(value)
        if isinstance(value, fx.Node):
            value.meta.update({k: v for k, v in node.meta.items() if k not in value.meta})
        graph.erase_node(node)
    _detach_statistics(graph)
    return dataclasses.replace(captured, graph=graph, constants=constants)


#: meta key of a `get_attr` the functional style reads as `state[...].detach()`
DETACHED = "fxgen_detached"
#: where batch norm takes its running statistics: positions in its arguments
_STATISTICS = {F.batch_norm: (1, 2), torch.ops.aten.batch_norm.default: (3, 4)}


def _detach_statistics(graph: fx.Graph) -> None:
    """Read batch norms' running statistics as `state[...].detach()`: batch norm is not
    differentiable in them, and the original never trains them, so `torch.func.grad`
    over every floating-point entry of `state` gives them a zero gradient (their in-place
    updates in training mode still reach the tensors in `state`)."""
    for node in list(graph.nodes):
        for index in _STATISTICS.get(node.target, ()):  # type: ignore[call-overload]
            statistic = node.args[index] if index < len(node.args) else None
            if isinstance(statistic, fx.Node) and statistic.op == "get_attr":
                with graph.inserting_before(node):
                    detached = graph.get_attr(str(statistic.target))  # its own read, used once
                detached.meta.update(statistic.meta)
                detached.meta[DETACHED] = True
                node.update_arg(index, detached)
                if not statistic.users:
                    graph.erase_node(statistic)


def approximate_modules(captured: Captured) -> dict[str, str]:
    """The modules of `captured` whose functional form is not bit-exact: those it calls,
    and those whose operations it recorded (torch.export records through every module)."""
    found = {}
    for node in captured.graph.nodes:
        paths = [str(node.target)] if node.op == "call_module" else []
        paths += [path for _, path, _ in module_stack(node)]
        for path in paths:
            module = submodule(captured.root, path)
            if isinstance(module, APPROXIMATE):
                found[path] = type(module).__name__
    return dict(sorted(found.items()))


def _inline_symbolic(
    graph: fx.Graph, node: fx.Node, module: nn.Module, constants: dict[str, torch.Tensor]
) -> list[fx.Node] | None:
    """Replace a module call by its forward as torch.fx traces it (functional calls such as
    `F.gaussian_nll_loss(...)` stay whole), or return None where tracing fails."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = fx.symbolic_trace(module)
    except Exception:
        return None
    placeholders = [n for n in traced.graph.nodes if n.op == "placeholder"]
    inputs: dict[fx.Node, Any] = {}
    for index, placeholder in enumerate(placeholders):
        name = str(placeholder.target).lstrip("*")
        if index < len(node.args):
            inputs[placeholder] = node.args[index]
        elif name in node.kwargs:
            inputs[placeholder] = node.kwargs[name]
        elif placeholder.args:  # the parameter's default
            inputs[placeholder] = placeholder.args[0]
        else:
            return None
    if len(node.args) > len(placeholders) or set(node.kwargs) - {str(p.target) for p in placeholders}:
        return None  # *args or **kwargs: tracing saw none of them
    _record_values(traced, [inputs[p].meta.get("val") if isinstance(inputs[p], fx.Node) else inputs[p] for p in placeholders])
    path = str(node.target)
    for attribute in (n for n in traced.graph.nodes if n.op == "get_attr"):
        value = _attribute(traced, str(attribute.target))
        if isinstance(value, torch.Tensor) and not _owns(module, str(attribute.target)):
            constants[f"{path}.{attribute.target}"] = value  # a constant tracing made
    stack = dict(node.meta.get("nn_module_stack") or {})
    return inline_call(graph, node, traced.graph, inputs, lambda target: f"{path}.{target}", stack)


def _record_values(traced: fx.GraphModule, values: list[Any]) -> None:
    """Run `traced` on fake tensors of the values recorded for the call's inputs, recording
    its own nodes' values (modules it calls may need them for `make_fx`). Best effort."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    mode = detect_fake_mode([v for v in values if isinstance(v, torch.Tensor)])
    if mode is None:
        mode = FakeTensorMode(allow_non_fake_inputs=True)
    values = [v.fake(mode) if isinstance(v, RecordedValue) else v for v in values]

    class Recorder(fx.Interpreter):
        def run_node(self, n: fx.Node) -> Any:
            n.meta["val"] = super().run_node(n)
            return n.meta["val"]

    try:
        with mode, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Recorder(traced).run(*values)
    except Exception:
        for n in traced.graph.nodes:
            n.meta.pop("val", None)


def _attribute(root: nn.Module, target: str) -> Any:
    value: Any = root
    for part in target.split("."):
        value = getattr(value, part)
    return value


def _owns(module: nn.Module, target: str) -> bool:
    """Whether `target` is a parameter or buffer of `module` (not a traced constant)."""
    owner, _, name = target.rpartition(".")
    holder = submodule(module, owner)
    return holder is not None and (name in holder._parameters or name in holder._buffers)


def _inline_traced(
    graph: fx.Graph, node: fx.Node, module: nn.Module, constants: dict[str, torch.Tensor]
) -> list[fx.Node]:
    """Replace a module call by the operations `make_fx` records for its forward."""
    tensors = dict(module.named_parameters(remove_duplicate=False))
    tensors.update(module.named_buffers(remove_duplicate=False))
    names = list(tensors)
    flat_args, spec = torch.utils._pytree.tree_flatten((node.args, dict(node.kwargs)))
    # one input per distinct value: `attention(x, x, x)` must trace the `query is key` path
    nodes = list(dict.fromkeys(a for a in flat_args if isinstance(a, fx.Node)))
    examples = []
    for value in nodes:
        example = value.meta.get("val")
        if not isinstance(example, (torch.Tensor, int, float, bool)):
            raise ExportError(
                f"node {node.name!r} calls {node.target!r} ({type(module).__name__}), which the "
                "functional style captures with make_fx; that needs the values recorded from "
                "example inputs: pass example_inputs"
            )
        if isinstance(example, torch.Tensor):  # strides decide some decompositions
            example = torch.empty_strided(example.shape, example.stride(), dtype=example.dtype).zero_()
        examples.append(example)

    def run(*flat: Any) -> Any:
        state = dict(zip(names, flat[: len(names)]))
        values = dict(zip(nodes, flat[len(names) :]))
        rebuilt = [values[a] if isinstance(a, fx.Node) else a for a in flat_args]
        args, kwargs = torch.utils._pytree.tree_unflatten(rebuilt, spec)
        return functional_call(module, state, tuple(args), kwargs)

    try:
        with contextlib.nullcontext() if torch.is_grad_enabled() else torch.no_grad():
            traced = make_fx(run, pre_dispatch=True)(*tensors.values(), *examples)
            body = traced.graph
    except Exception as exc:
        raise ExportError(
            f"node {node.name!r} calls {node.target!r} ({type(module).__name__}), which the "
            f"functional style could not capture with make_fx: {type(exc).__name__}: {exc}"
        ) from exc
    placeholders = [n for n in body.nodes if n.op == "placeholder"]
    path = str(node.target)
    inputs: dict[fx.Node, Any] = {}
    with graph.inserting_before(node):
        for placeholder, name in zip(placeholders, names):
            attribute = graph.get_attr(f"{path}.{name}")
            attribute.meta["val"] = tensors[name]
            inputs[placeholder] = attribute
    inputs.update(zip(placeholders[len(names) :], nodes))
    for attribute in (n for n in body.nodes if n.op == "get_attr"):  # tensors make_fx kept
        constants[f"{path}.{attribute.target}"] = getattr(traced, str(attribute.target))
    return inline_call(graph, node, body, inputs, lambda target: f"{path}.{target}", dict(node.meta.get("nn_module_stack") or {}))


