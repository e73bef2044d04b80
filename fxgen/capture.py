"""Capture: turn what the user passed into an `fx.Graph` and the module it refers to.

`method="fx"`: an `nn.Module` is traced with a `torch.fx.Tracer` (recording stack traces)
straight into a `Graph`; fxgen never builds a `GraphModule` from it, because torch.fx's
printer fails on legal module names such as `class`. A `GraphModule` is used as given
(its graph is copied, never changed). Built-in modules stay leaf calls when `modules.py`
can rebuild them faithfully; any other called module is traced through and inlined.

`method="export"`: the model is captured with `torch.export.export(..., strict=False)`,
and an `ExportedProgram` (captured here or passed in) is turned into a plain graph over
module attributes by `unlift.py`. `method="auto"` tries `fx` first, then `export`.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import operator
import re
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import torch
from torch import fx, nn
from torch.nn.parameter import is_lazy
from torch.utils import _pytree as pytree

from fxgen import source
from fxgen.errors import CaptureError, ExportError
from fxgen.fxcopy import copy_graph
from fxgen.hierarchy import ORIGIN, Call, Origin, submodule
from fxgen.modules import REBUILT_HOOKS
from fxgen.pyexpr import IN_PLACE_OPERATORS
from fxgen.splice import inline_call
from fxgen.tree import ConstructorCache
from fxgen.unlift import unlift

logger = logging.getLogger("fxgen")

__all__ = ["Captured", "capture", "normalize_inputs", "CAPTURE_METHODS"]


@dataclass
class Captured:
    """A captured program."""

    graph: fx.Graph  #: the graph, owned by fxgen (safe to change)
    root: nn.Module  #: the module the graph's `get_attr`/`call_module` targets refer to
    original: Any  #: what the user passed, run again by verification
    class_name: str  #: the original class name
    #: True when plain modules with children named 0..n-1 stand for lists (a GraphModule's,
    #: or a tree rebuilt from an ExportedProgram's state)
    numbered_modules_are_lists: bool
    source: str | None  #: `module:Class` of the original class where importable
    constructors: ConstructorCache  #: rebuild results, shared with lowering
    #: tensors the tracer found that are not attributes of the model, by `get_attr` target
    constants: dict[str, torch.Tensor]
    method: str = "fx"  #: how the graph was captured: "fx" or "export"
    #: module path -> its recorded calls, in order (argument names for hierarchy.py)
    calls: dict[str, list[Call]] = field(default_factory=dict)
    #: makes the captured program itself runnable, called as the original is (verification
    #: runs it to tell a capture that differs from the original from a file that differs
    #: from its capture); None where the original is the captured program
    replay: Callable[[], Callable[..., Any]] | None = None


class _Proxy(fx.Proxy):
    """torch.fx's proxy, which also records an assignment into it (`x[:, 0] = v`) as the
    `operator.setitem` call dynamo records for it (torch.fx stops at it)."""

    def __setitem__(self, index: Any, value: Any) -> None:
        self.tracer.create_proxy("call_function", operator.setitem, (self, index, value), {})

    def __getattr__(self, name: str) -> fx.proxy.Attribute:
        return _Attribute(self, name)

    def __repr__(self) -> str:  # how a proxy formats into a string: `_formatted_values` looks for it
        self.tracer.formatted = True
        return fx.Proxy.__repr__(self)


class _Attribute(fx.proxy.Attribute):
    """An attribute of a proxy (`x.data`), which records an assignment into it too."""

    __setitem__ = _Proxy.__setitem__
    __repr__ = _Proxy.__repr__


class _Tracer(fx.Tracer):
    """torch.fx's tracer, recording stack traces, every module call's arguments, and
    assignments into part of a value."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: dict[str, list[Call]] = {}
        self.stack_traces: dict[Any, str | None] = {}  # made by `source.stack_trace`, not by torch's
        self.formatted = False  # whether a proxy was formatted into a string (`f"got {h}"`)

    def create_node(self, kind: str, target: Any, *args: Any, **kwargs: Any) -> fx.Node:
        if kind == "call_method" and target == "__setitem__":  # `t[i] = proxy` on a tensor torch.fx made
            kind, target = "call_function", operator.setitem
        node = super().create_node(kind, target, *args, **kwargs)
        if not node.stack_trace:
            node.stack_trace = source.stack_trace(sys._getframe(1), self.stack_traces)
        return node

    def proxy(self, node: fx.Node) -> fx.Proxy:
        return _Proxy(node, self)

    def call_module(self, m: nn.Module, forward: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call = _recorded_call(m, args, kwargs, lambda v: v.node.name if isinstance(v, fx.Proxy) else None)
        if call is not None:
            self.calls.setdefault(self.path_of_module(m), []).append(call)
        return super().call_module(m, forward, args, kwargs)


def _recorded_call(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], origin: Any) -> Call | None:
    """The arguments of one module call bound to `forward`'s parameters (values the graph
    computes as `Origin`s), or None where they cannot be bound."""
    try:
        signature = inspect.signature(module.forward)
        bound = signature.bind(*args, **kwargs)
    except (TypeError, ValueError):
        return None

    def value(v: Any) -> Any:
        if type(v) in (tuple, list):
            return type(v)(value(item) for item in v)
        name = origin(v)
        return Origin(name) if name is not None else v

    names: list[str] = []
    for name, param in signature.parameters.items():
        if name not in bound.arguments:
            continue
        if param.kind is param.VAR_POSITIONAL:
            names.extend(f"{name}_{i}" for i in range(len(bound.arguments[name])))
        elif param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            names.append(name)
    positional = tuple(value(v) for v in bound.args)
    return Call(positional, {k: value(v) for k, v in bound.kwargs.items()}, tuple(names[: len(positional)]))


CAPTURE_METHODS = ("fx", "export", "auto")


def capture(
    obj: Any,
    *,
    method: str = "fx",
    example_inputs: Any = None,
    drop_hooks: bool = False,
    outputs: str = "original",
    dynamic_shapes: Any = None,
) -> Captured:
    """Capture `obj` (an nn.Module, a GraphModule or an ExportedProgram) into a graph."""
    if method not in CAPTURE_METHODS:
        raise CaptureError(f"unknown capture method {method!r}; use one of {', '.join(CAPTURE_METHODS)}")
    if outputs not in ("original", "dict"):
        raise CaptureError(f"outputs={outputs!r}: use 'original' or 'dict'")
    if isinstance(obj, torch.export.ExportedProgram):
        for node in obj.graph.nodes:
            node.meta.setdefault(ORIGIN, node.name)
        return _from_exported(obj, {}, None, outputs)
    if not isinstance(obj, nn.Module):
        raise CaptureError(
            f"cannot capture a {type(obj).__qualname__}: pass an nn.Module, a torch.fx.GraphModule "
            "or a torch.export.ExportedProgram"
        )
    if method == "export":
        return _from_exported(*_export(obj, example_inputs, dynamic_shapes), obj, outputs)
    if method == "auto":
        try:
            return _symbolic(obj, drop_hooks, example_inputs)
        except CaptureError as fx_error:
            try:
                captured = _from_exported(*_export(obj, example_inputs, dynamic_shapes), obj, outputs)
            except CaptureError as export_error:
                raise CaptureError(f"{fx_error}\nThen torch.export failed too: {export_error}") from export_error
            logger.info("torch.fx could not trace %s; captured it with torch.export", type(obj).__name__)
            return captured
    return _symbolic(obj, drop_hooks, example_inputs)


def normalize_inputs(example_inputs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """`(args...)`, or `(args, kwargs)` for keyword inputs, as an (args, kwargs) pair."""
    if isinstance(example_inputs, tuple) and len(example_inputs) == 2 and isinstance(example_inputs[1], dict):
        if isinstance(example_inputs[0], tuple):
            return example_inputs[0], example_inputs[1]
    if isinstance(example_inputs, (tuple, list)):
        return tuple(example_inputs), {}
    return (example_inputs,), {}


def _symbolic(obj: nn.Module, drop_hooks: bool, example_inputs: Any = None) -> Captured:
    constants: dict[str, torch.Tensor] = {}
    if isinstance(obj, fx.GraphModule):
        graph = fx.Graph()
        output = copy_graph(graph, obj.graph, {})
        graph.output(output)
        for node in graph.nodes:
            node.meta[ORIGIN] = node.name
    calls: dict[str, list[Call]] = {}
    if not isinstance(obj, fx.GraphModule):
        graph = _trace(obj, "", constants, calls)
    root = obj
    lazy = [name for name, t in list(root.named_parameters()) + list(root.named_buffers()) if is_lazy(t)]
    if lazy:
        raise ExportError(
            f"{lazy[0]!r} is an uninitialized parameter of a lazy module; run the model once "
            "on an example input before exporting it, so that its shapes are known."
        )
    cache = ConstructorCache()
    _check_hooks(root, "", drop_hooks, is_root=True)
    _inline_unrebuildable(graph, root, cache, drop_hooks, constants)
    graph_module = isinstance(obj, fx.GraphModule)
    if example_inputs is not None:
        _copied_where_read(graph, _record_values(graph, root, constants, *normalize_inputs(example_inputs)))
    return Captured(
        graph=graph,
        root=root,
        original=obj,
        class_name=type(obj).__name__,
        numbered_modules_are_lists=graph_module,
        source=None if graph_module else _importable_name(type(obj)),
        constructors=cache,
        constants=constants,
        calls=calls,
        replay=None if graph_module else functools.partial(_traced_program, root),
    )


def _record_values(
    graph: fx.Graph, root: nn.Module, constants: dict[str, torch.Tensor], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> set[str]:
    """Run the graph once on copies of the example inputs, recording each value in
    `node.meta["val"]` as torch.export does (naming, annotations and the functional style
    read their type, shape and dtype): a tensor as a `RecordedValue`. The run is real, as
    torch.fx's `ShapeProp` runs, with the random state and the buffers and constants it
    changes put back: on fake tensors each operation took about 0.5 ms, 25 times the real
    run of small example inputs and half of exporting the 10k-node stack. Where the real
    run fails (too large for this machine), the graph runs on fake tensors instead. Best
    effort: a graph neither can run stays unannotated.

    Returns the constants (tensors the tracer made once, `torch.zeros(3)` in `forward`)
    that the real run changed in place or returned: the model makes a new one every
    call, so the file must too."""
    inputs = _graph_inputs(graph, args, kwargs)
    changed = [*root.buffers(), *constants.values(), *_parameters_written(graph, root)]
    versions = {name: tensor._version for name, tensor in constants.items()}
    try:
        with put_back(changed), torch.random.fork_rng(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            copies = pytree.tree_map_only(torch.Tensor, torch.clone, inputs)
            result = _Recorder(root, graph, constants, RecordedValue).run(*copies)
            returned = {t.untyped_storage().data_ptr() for t in pytree.tree_leaves(result) if isinstance(t, torch.Tensor)}
            return {  # read before they are put back (which counts as a change)
                name
                for name, tensor in constants.items()
                if tensor._version != versions[name] or tensor.untyped_storage().data_ptr() in returned - {0}
            }
    except Exception:
        pass
    from torch._subclasses.fake_tensor import FakeTensorMode

    mode = FakeTensorMode(allow_non_fake_inputs=True)
    try:
        with mode, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _Recorder(root, graph, constants).run(*pytree.tree_map_only(torch.Tensor, mode.from_tensor, inputs))
    except Exception:
        for node in graph.nodes:
            node.meta.pop("val", None)
    return set()


@contextlib.contextmanager
def put_back(tensors: Iterable[torch.Tensor | None]) -> Iterator[None]:
    """Run the block, then give each of `tensors` back the values it had before (a run of
    the model updates batch-norm statistics in place, say)."""
    saved = [(t, t.detach().clone()) for t in tensors if t is not None]
    try:
        yield
    finally:
        with torch.no_grad():
            for tensor, before in saved:
                tensor.copy_(before)


def _parameters_written(graph: fx.Graph, root: nn.Module) -> list[torch.Tensor]:
    """The parameters the graph changes in place (`self.w.add_(1)`, `self.w[0] = 0`,
    `self.w.data.mul_(2)`), which the example run must put back. Only those are copied
    (a frozen backbone copied whole would double an export's memory); a parameter that
    requires grad cannot be changed in place outside `no_grad`, which tracing drops."""
    written = []
    for node in graph.nodes:
        if not (_in_place(node, root) and node.args):
            continue
        value = node.args[0]
        while isinstance(value, fx.Node) and value.op == "call_function" and value.target in (getattr, operator.getitem):
            value = value.args[0]  # `.data`, `[0]`
        if isinstance(value, fx.Node) and value.op == "get_attr":
            owner, _, name = str(value.target).rpartition(".")
            tensor = getattr(submodule(root, owner), name, None)
            if isinstance(tensor, nn.Parameter):
                written.append(tensor)
    return written


def _in_place(node: fx.Node, root: nn.Module) -> bool:
    """Whether `node` changes its first argument in place."""
    if node.op == "call_module":
        return bool(getattr(submodule(root, str(node.target)), "inplace", False))
    if node.op not in ("call_method", "call_function"):
        return False
    if node.target is operator.setitem or node.target in IN_PLACE_OPERATORS or node.kwargs.get("inplace"):
        return True
    name = str(node.target) if node.op == "call_method" else getattr(node.target, "__name__", "")
    return name.startswith("__i") or (name.endswith("_") and not name.startswith("_"))


def _copied_where_read(graph: fx.Graph, targets: set[str]) -> None:
    """Read each of these constants as a copy (`self._tensor_constant0.clone()`), a new
    tensor every call as the model's own `torch.zeros(...)` is: torch.fx made it once, and
    a file changing or returning that one tensor would carry its changes to the next call."""
    copies: dict[str, fx.Node] = {}  # torch.fx reads the one tensor again for each use: one copy serves all
    for node in [n for n in graph.nodes if n.op == "get_attr" and n.target in targets]:
        if node.target in copies:
            node.replace_all_uses_with(copies[str(node.target)])
            graph.erase_node(node)
            continue
        with graph.inserting_after(node):
            copy = copies[str(node.target)] = graph.call_method("clone", (node,))
        node.replace_all_uses_with(copy, delete_user_cb=lambda user: user is not copy)
        copy.meta = {key: value for key, value in node.meta.items() if key != ORIGIN}
        if isinstance(node.meta.get("val"), torch.Tensor):
            copy.meta["val"] = RecordedValue(node.meta["val"])


class RecordedValue(torch.Tensor):
    """A tensor's shape, strides, dtype, device and `requires_grad`, without its data: what
    capture records of a tensor the real run made. Not a fake tensor: making the first
    `FakeTensorMode` imports torch._dynamo, a second of every process's first export
    (and a fake tensor took 18 us to make, this 3 us). Nothing runs on it."""

    @staticmethod
    def __new__(cls, tensor: torch.Tensor) -> RecordedValue:
        return torch.Tensor._make_wrapper_subclass(  # type: ignore[attr-defined,no-any-return]
            cls, tensor.shape, strides=tensor.stride(), storage_offset=tensor.storage_offset(), dtype=tensor.dtype,
            device=tensor.device, layout=tensor.layout, requires_grad=tensor.requires_grad,
        )

    @classmethod
    def __torch_dispatch__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        raise TypeError(f"{func} cannot run on a recorded value: it has no data (run on its fake())")

    def fake(self, mode: Any) -> torch.Tensor:
        """A fake tensor of `mode` like this value, for running code on it."""
        from torch._subclasses.fake_tensor import FakeTensor

        meta = torch.empty_strided(self.shape, self.stride(), dtype=self.dtype, device="meta")
        return FakeTensor(mode, meta.requires_grad_(self.requires_grad), self.device)

    def __deepcopy__(self, memo: dict[int, Any]) -> RecordedValue:
        return self  # a description, never changed

    def __repr__(self, *, tensor_contents: Any = None) -> str:
        return f"RecordedValue(shape={tuple(self.shape)}, dtype={self.dtype}, device={self.device})"


class _GraphRunner(fx.Interpreter):
    """Runs a captured graph over `root`, reading the tensors the tracer found outside
    the model (`constants`) by their `get_attr` targets."""

    def __init__(self, root: nn.Module, graph: fx.Graph, constants: dict[str, torch.Tensor]) -> None:
        super().__init__(root, graph=graph)
        self.constants = constants

    def fetch_attr(self, target: str) -> Any:
        return self.constants[target] if target in self.constants else super().fetch_attr(target)


class _Recorder(_GraphRunner):
    """Records each node's value in `node.meta["val"]`: tensors as `describe` makes them
    (the values themselves by default: fake tensors), attributes as they are."""

    def __init__(
        self,
        root: nn.Module,
        graph: fx.Graph,
        constants: dict[str, torch.Tensor],
        describe: Callable[[torch.Tensor], Any] | None = None,
    ) -> None:
        super().__init__(root, graph, constants)
        self.describe = describe

    def run_node(self, node: fx.Node) -> Any:
        value = super().run_node(node)
        described = self.describe is not None and node.op != "get_attr"
        node.meta["val"] = pytree.tree_map_only(torch.Tensor, self.describe, value) if described else value
        return value


def _graph_inputs(graph: fx.Graph, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
    """The value of each placeholder of a traced graph for a call with `args` and `kwargs`."""
    inputs = []
    for i, node in enumerate(n for n in graph.nodes if n.op == "placeholder"):
        name = str(node.target).lstrip("*")
        inputs.append(args[i] if i < len(args) else kwargs.get(name, node.args[0] if node.args else None))
    return inputs


def _traced_program(root: nn.Module) -> Callable[..., Any]:
    """`root` traced by torch.fx again, as capture traced it before fxgen changed the graph
    (modules it cannot rebuild inlined), as a function called as `root` is."""
    constants: dict[str, torch.Tensor] = {}
    graph = _trace(root, "", constants)

    def run(*args: Any, **kwargs: Any) -> Any:
        return _GraphRunner(root, graph, constants).run(*_graph_inputs(graph, args, kwargs))

    return run


@contextlib.contextmanager
def _every_user_frame() -> Iterator[None]:
    """Stack traces with every user frame, as symbolic tracing records them: torch.export
    (non-strict) keeps only the frames of `forward` methods, so an operation of a helper
    function (`apply_rotary_pos_emb`) had only its caller's line, and its value no name of
    its own (`q_embed`). Where torch's tracer has no such filter, nothing changes."""
    from torch.fx.experimental import proxy_tensor

    tracer = getattr(proxy_tensor, "_ModuleStackTracer", None)
    keep = getattr(tracer, "_filter_traceback_frames", None)
    if tracer is None or keep is None or not hasattr(tracer, "_record_forward_stack_traces_only"):
        yield
        return

    def every_frame(self: Any, frames: Any) -> Any:
        forward_only = self._record_forward_stack_traces_only
        self._record_forward_stack_traces_only = False  # from the first `forward` inward, torch's own frames left out
        try:
            return keep(self, frames)
        finally:
            self._record_forward_stack_traces_only = forward_only

    own = "_filter_traceback_frames" in vars(tracer)
    tracer._filter_traceback_frames = every_frame
    try:
        yield
    finally:
        if own:
            tracer._filter_traceback_frames = keep
        else:
            del tracer._filter_traceback_frames


def _export(
    model: nn.Module, example_inputs: Any, dynamic_shapes: Any = None
) -> tuple[torch.export.ExportedProgram, dict[str, list[Call]]]:
    """`torch.export.export(strict=False)`, recording each submodule call's arguments."""
    if example_inputs is None:
        raise CaptureError("capturing with torch.export needs example_inputs (a tuple, or an (args, kwargs) pair)")
    args, kwargs = normalize_inputs(example_inputs)
    calls: dict[str, list[Call]] = {}

    def record(path: str) -> Any:
        def hook(module: nn.Module, hook_args: tuple[Any, ...], hook_kwargs: dict[str, Any]) -> None:
            call = _recorded_call(module, hook_args, hook_kwargs, _traced_name)
            if call is not None:
                calls.setdefault(path, []).append(call)

        return hook

    handles = [
        m.register_forward_pre_hook(record(name), with_kwargs=True) for name, m in model.named_modules() if name
    ]
    try:
        with _every_user_frame():
            ep = torch.export.export(model, args, kwargs, dynamic_shapes=dynamic_shapes, strict=False)
    except Exception as exc:
        where = source.from_traceback(exc.__traceback__)
        at = f" at {where} (`{where.code}`)" if where and where.code else ""
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CaptureError(
            f"torch.export could not capture {type(model).__qualname__}{at}: {type(exc).__name__}: "
            f"{first_line}. Make the model exportable (see torch.export's message above), or "
            "capture it with symbolic tracing (capture='fx')."
        ) from exc
    finally:
        for handle in handles:
            handle.remove()
    placeholders = [n.name for n in ep.graph.nodes if n.op == "placeholder"]
    for node in ep.graph.nodes:
        node.meta[ORIGIN] = node.name

    def final_name(traced: str) -> str:  # placeholders are renamed after tracing: argN_1
        if traced.startswith("arg") and "_" in traced and traced[3:].split("_")[0].isdigit():
            index = int(traced[3:].split("_")[0])
            return placeholders[index] if index < len(placeholders) else traced
        return traced

    for recorded in calls.values():
        for i, call in enumerate(recorded):
            recorded[i] = _rename_origins(call, final_name)
    return ep, calls


def _traced_name(value: Any) -> str | None:
    """The graph node that computes `value` while torch.export traces (None: a constant)."""
    if not isinstance(value, torch.Tensor):
        return None
    try:
        from torch.fx.experimental import proxy_tensor

        mode = proxy_tensor.get_proxy_mode()
        if mode is None:
            return None
        return proxy_tensor.get_proxy_slot(value, mode.tracer).proxy.node.name
    except Exception:  # internal API; without it, inputs are named after their values
        return None


def _rename_origins(call: Call, rename: Any) -> Call:
    def value(v: Any) -> Any:
        if type(v) in (tuple, list):
            return type(v)(value(item) for item in v)
        return Origin(rename(v.name)) if isinstance(v, Origin) else v

    return Call(tuple(value(a) for a in call.args), {k: value(v) for k, v in call.kwargs.items()}, call.names)


def _from_exported(
    ep: torch.export.ExportedProgram, calls: dict[str, list[Call]], original: nn.Module | None, outputs: str
) -> Captured:
    unlifted = unlift(ep, original, outputs)
    return Captured(
        graph=unlifted.graph,
        root=unlifted.root,
        original=original if original is not None else ep.module(),
        class_name=unlifted.class_name,
        numbered_modules_are_lists=unlifted.synthetic_root,
        source=_importable_name(type(original)) if original is not None else None,
        constructors=ConstructorCache(),
        constants=unlifted.constants,
        method="export",
        calls=calls,
        replay=ep.module if original is not None else None,
    )


def _trace(
    module: nn.Module, path: str, constants: dict[str, torch.Tensor], calls: dict[str, list[Call]] | None = None
) -> fx.Graph:
    """Trace `module` (at `path` in the root) without leaving anything on it.

    torch.fx stores tensors it meets that are not attributes of the model on the traced
    module itself (`_tensor_constant0`); fxgen takes them off again into `constants`, so
    the user's model is unchanged and a second export numbers them the same way.
    """
    before = set(vars(module))
    tracer = _Tracer()
    try:
        graph = tracer.trace(module)
    except Exception as exc:
        where = source.from_traceback(exc.__traceback__)
        at = f" at {where} (`{where.code}`)" if where and where.code else f" at {where}" if where else ""
        name = type(module).__qualname__
        export = "capture the model with torch.export instead (capture='export' or 'auto')"
        advice = (
            "Data-dependent control flow cannot be traced symbolically: make the value a constant, "
            f"move that code into a submodule that fxgen keeps as a leaf call, or {export}."
            if isinstance(exc, fx.proxy.TraceError)
            else f"Change that line, or {export}."
        )
        raise CaptureError(f"torch.fx could not trace {name}.forward{at}: {type(exc).__name__}: {exc}. {advice}") from exc
    finally:
        for name in set(vars(module)) - before:
            constants[f"{path}.{name}" if path else name] = getattr(module, name)
            delattr(module, name)
    if tracer.formatted:
        _formatted_values(graph)
    for node in graph.nodes:
        node.meta[ORIGIN] = node.name
    if calls is not None:
        for module_path, recorded in tracer.calls.items():
            calls.setdefault(f"{path}.{module_path}" if path and module_path else path or module_path, []).extend(recorded)
    return graph


#: how torch.fx's proxy prints itself into a string (`f"got {h}"` while tracing)
_PROXY_TEXT = re.compile(r"Proxy\(([A-Za-z_][A-Za-z0-9_]*)\)")


def _formatted_values(graph: fx.Graph) -> None:
    """Each string argument that formatted a traced value while tracing (`f"got {h}"`
    gives "got Proxy(getitem_1)"; torch.fx keeps that text) becomes a `str.format` call
    on the value, made right before its reader: the file formats the value when it runs,
    as the model does, instead of quoting a name of the trace."""
    made: dict[str, fx.Node] = {}
    for node in list(graph.nodes):

        def formatted(value: Any) -> Any:
            if type(value) is not str or "Proxy(" not in value:
                return value
            pieces = _PROXY_TEXT.split(value)  # text, name, text, ..., text
            values = [made.get(name) for name in pieces[1::2]]
            if not values or None in values:
                return value
            template = "{}".join(text.replace("{", "{{").replace("}", "}}") for text in pieces[::2])
            with graph.inserting_before(node):
                call = graph.call_method("format", (template, *values))
            call.meta.update({key: node.meta[key] for key in ("nn_module_stack", "stack_trace") if key in node.meta})
            return call

        if node.op not in ("placeholder", "get_attr"):
            node.args = fx.node.map_aggregate(node.args, formatted)
            node.kwargs = fx.node.map_aggregate(node.kwargs, formatted)
        made[node.name] = node


def _inline_unrebuildable(
    graph: fx.Graph, root: nn.Module, cache: ConstructorCache, drop_hooks: bool, constants: dict[str, torch.Tensor]
) -> None:
    """Replace each call of a module fxgen cannot rebuild by the module's traced body."""
    pending = [n for n in graph.nodes if n.op == "call_module"]
    while pending:
        node = pending.pop(0)
        module = root.get_submodule(node.target)
        if cache.is_leaf(module):
            _check_hooks(module, node.target, drop_hooks, is_root=False)
            continue
        why = cache.get(module)
        try:
            sub = _trace(module, str(node.target), constants)
        except CaptureError as exc:
            reason = why if isinstance(why, str) else "it is not a torch.nn module"
            raise ExportError(
                f"node {node.name!r} calls {node.target!r} ({type(module).__qualname__}), which "
                f"fxgen can neither rebuild ({reason}) nor trace through ({exc})."
            ) from exc
        pending.extend(_splice(graph, node, sub))


def _splice(graph: fx.Graph, call: fx.Node, sub: fx.Graph) -> list[fx.Node]:
    """Inline `sub` (the traced body of module `call.target`) in place of `call`."""
    module_path = str(call.target)
    bound = _bind_inputs(call, [n for n in sub.nodes if n.op == "placeholder"])
    added = inline_call(graph, call, sub, bound, lambda target: f"{module_path}.{target}")
    return [n for n in added if n.op == "call_module"]


def _bind_inputs(call: fx.Node, params: list[fx.Node]) -> dict[fx.Node, Any]:
    """Match a call's arguments to the callee's placeholders (defaults where omitted)."""
    kinds = inspect.Parameter

    def parameter(p: fx.Node) -> inspect.Parameter:
        target = str(p.target)
        kind = (
            kinds.VAR_KEYWORD if target.startswith("**")
            else kinds.VAR_POSITIONAL if target.startswith("*")
            else kinds.POSITIONAL_OR_KEYWORD
        )
        default = p.args[0] if p.args else kinds.empty
        return inspect.Parameter(target.lstrip("*"), kind, default=default)

    signature = inspect.Signature([parameter(p) for p in params])
    try:
        arguments = signature.bind(*call.args, **call.kwargs)
    except TypeError as exc:
        raise ExportError(f"node {call.name!r}: cannot match its arguments to {call.target}.forward: {exc}")
    arguments.apply_defaults()
    return {p: arguments.arguments[str(p.target).lstrip("*")] for p in params}


def _check_hooks(module: nn.Module, path: str, drop_hooks: bool, is_root: bool) -> None:
    """Hooks on the root and on leaf calls do not survive tracing; say so instead of dropping them."""
    hooks = {
        "forward pre-hook": module._forward_pre_hooks,
        "forward hook": module._forward_hooks,
        "backward hook": module._backward_hooks,
        "backward pre-hook": module._backward_pre_hooks,
    }
    found = [
        f"{kind} {getattr(hook, '__qualname__', type(hook).__qualname__)}"
        for kind, table in hooks.items()
        for hook in table.values()
        if not isinstance(hook, REBUILT_HOOKS)
    ]
    if found and not drop_hooks:
        where = "the root module" if is_root else f"module {path!r} ({type(module).__qualname__})"
        raise ExportError(
            f"{where} has {', '.join(found)}, which the generated file would not run. "
            "Remove the hooks, or pass drop_hooks=True to export without them."
        )


def _importable_name(cls: type) -> str | None:
    module, qualname = cls.__module__, cls.__qualname__
    if module == "__main__" or "<locals>" in qualname:
        return None
    return f"{module}:{qualname}"
