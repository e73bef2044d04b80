"""Every entry of the ATen raising table is exact and keeps aliasing, on real samples.

For each entry, torch's own OpInfo samples (and a few hand-written ones where no OpInfo
produces the overload) are traced to the pre-dispatch ATen level that torch.export
records. Every call of the entry's overload found there is written by fxgen as a
one-call program, run, and compared with the overload itself: the values must be
exact and each output must alias the same inputs (a view stays a view, a copy a copy).
"""

from __future__ import annotations

import functools
import gc
import itertools
from typing import Any, Callable

import pytest
import torch
from torch import fx, nn
from torch.fx.experimental.proxy_tensor import make_fx
from torch.utils import _pytree as pytree

import fxgen
from fxgen.aten import TABLE
from fxgen.loader import import_isolated
from fxgen.verify import first_difference

op_db = pytest.importorskip("torch.testing._internal.common_methods_invocations").op_db

SAMPLES_PER_OPINFO = 4
CALLS_PER_ENTRY = 6
#: overloads whose values are undefined (uninitialised memory): compared on metadata only
UNINITIALISED = {torch.ops.aten.empty_like.default, torch.ops.aten.new_empty.default}

aten = torch.ops.aten

#: calls no OpInfo sample reaches at the pre-dispatch level: (function, inputs)
EXTRA_SAMPLES: dict[Any, list[tuple[Callable[..., Any], tuple[Any, ...]]]] = {
    aten.lift_fresh_copy.default: [(lambda x: x + torch.tensor([1.0, 2.0]), (torch.randn(3, 2),))],
    aten.swapaxes.default: [(lambda x: x.swapaxes(0, -1), (torch.randn(2, 3, 4),))],
    aten.swapdims.default: [(lambda x: x.swapdims(1, 0), (torch.randn(2, 3),))],
    aten.col2im.default: [(lambda x: torch.nn.functional.fold(x, (4, 5), (2, 2)), (torch.randn(1, 12, 12),)),
                          (lambda x: torch.nn.functional.fold(x, (5, 5), 2, dilation=2, padding=1, stride=2), (torch.randn(12, 4),))],
    aten._upsample_bicubic2d_aa.vec: [(lambda x: torch.nn.functional.interpolate(x, size=(6, 7), mode="bicubic", antialias=True), (torch.randn(1, 2, 3, 4),))],
    aten._upsample_bilinear2d_aa.vec: [(lambda x: torch.nn.functional.interpolate(x, scale_factor=0.5, mode="bilinear", antialias=True), (torch.randn(1, 2, 8, 8),))],
    aten.detach_.default: [(lambda x: (x * 2).detach_(), (torch.randn(3),))],
    aten._to_copy.default: [(lambda x: x.to(torch.float64), (torch.randn(3),)), (lambda x: x.to(torch.int32), (torch.randn(3),))],
    aten.to.dtype: [(lambda x: x.to(torch.float32), (torch.randn(3),))],
    aten.to.device: [(lambda x: x.to("cpu", torch.float64), (torch.randn(3),))],
    aten.to.dtype_layout: [(lambda x: x.to(dtype=torch.float64, device="cpu"), (torch.randn(3),))],
    aten._softmax.default: [(lambda x: torch.ops.aten._softmax(x, 1, False), (torch.randn(2, 3),))],
    aten.new_ones.default: [(lambda x: x.new_ones((2, 3)), (torch.randn(3),))],
    aten.new_zeros.default: [(lambda x: x.new_zeros((2,), dtype=torch.int64), (torch.randn(3),))],
    aten.new_full.default: [(lambda x: x.new_full((2,), 4.5), (torch.randn(3),))],
    aten.new_empty.default: [(lambda x: x.new_empty((2, 2)), (torch.randn(3),))],
    aten.zeros.default: [(lambda x: torch.zeros(2, 3) + x, (torch.randn(3),))],
    aten.ones.default: [(lambda x: torch.ones(2, 3, dtype=torch.float64) * x, (torch.randn(3),))],
    aten.full.default: [(lambda x: torch.full((2, 3), -0.5) + x, (torch.randn(3),))],
    aten.arange.default: [(lambda x: torch.arange(3) * x, (torch.randn(3),))],
    aten.arange.start: [(lambda x: torch.arange(1, 4) + x, (torch.randn(3),))],
    aten.arange.start_step: [(lambda x: torch.arange(0, 6, 2, dtype=torch.float32) + x, (torch.randn(3),))],
    aten.dropout.default: [(lambda x: torch.nn.functional.dropout(x, 0.5, True), (torch.randn(8),)),
                           (lambda x: torch.nn.functional.dropout(x, 0.1, False), (torch.randn(8),))],
    aten.contiguous.default: [(lambda x: x.t().contiguous(), (torch.randn(2, 3),))],
    aten.index_put_.default: [(lambda x, i, v: x.clone().index_put_((i,), v), (torch.randn(5), torch.tensor([0, 3]), torch.randn(2)))],
    aten.masked_fill_.Scalar: [(lambda x, m: x.clone().masked_fill_(m, 1.5), (torch.randn(4), torch.tensor([True, False, True, False])))],
    aten.copy_.default: [(lambda x, y: x.clone().copy_(y), (torch.randn(3), torch.randn(3)))],
    aten.fill_.Scalar: [(lambda x: x.clone().fill_(2.0), (torch.randn(3),))],
    aten.zero_.default: [(lambda x: x.clone().zero_(), (torch.randn(3),))],
    aten.relu_.default: [(lambda x: x.clone().relu_(), (torch.randn(3),))],
    aten.sigmoid_.default: [(lambda x: x.clone().sigmoid_(), (torch.randn(3),))],
    aten.tanh_.default: [(lambda x: x.clone().tanh_(), (torch.randn(3),))],
    aten.neg_.default: [(lambda x: x.clone().neg_(), (torch.randn(3),))],
    aten.exp_.default: [(lambda x: x.clone().exp_(), (torch.randn(3),))],
    aten.clamp_.default: [(lambda x: x.clone().clamp_(-0.5, 0.5), (torch.randn(3),))],
    aten.add_.Tensor: [(lambda x, y: x.clone().add_(y, alpha=2), (torch.randn(3), torch.randn(3)))],
    aten.sub_.Tensor: [(lambda x, y: x.clone().sub_(y), (torch.randn(3), torch.randn(3)))],
    aten.mul_.Tensor: [(lambda x, y: x.clone().mul_(y), (torch.randn(3), torch.randn(3)))],
    aten.div_.Tensor: [(lambda x, y: x.clone().div_(y), (torch.randn(3), torch.randn(3)))],
    aten.__and__.Tensor: [(lambda x, y: x & y, (torch.tensor([True, False]), torch.tensor([True, True])))],
    aten.__or__.Tensor: [(lambda x, y: x | y, (torch.tensor([True, False]), torch.tensor([False, False])))],
    aten.where.ScalarOther: [(lambda c, x: torch.where(c, x, -3.0), (torch.tensor([True, False]), torch.randn(2)))],
    aten.where.ScalarSelf: [(lambda c, x: torch.where(c, 2.5, x), (torch.tensor([True, False]), torch.randn(2)))],
    aten.embedding.default: [(lambda w, i: torch.nn.functional.embedding(i, w, padding_idx=1), (torch.randn(5, 3), torch.tensor([[0, 1], [4, 1]])))],
    aten.batch_norm.default: [(lambda x, m, v: torch.nn.functional.batch_norm(x, m.clone(), v.clone(), training=True), (torch.randn(4, 3), torch.zeros(3), torch.ones(3)))],
    aten.conv1d.padding: [(lambda x, w: torch.nn.functional.conv1d(x, w, padding="same", dilation=2), (torch.randn(2, 3, 9), torch.randn(4, 3, 3)))],
    aten.conv2d.padding: [(lambda x, w, b: torch.nn.functional.conv2d(x, w, b, padding="same"), (torch.randn(1, 2, 6, 6), torch.randn(3, 2, 4, 4), torch.randn(3))),
                          (lambda x, w: torch.nn.functional.conv2d(x, w, padding="valid", stride=2), (torch.randn(1, 2, 6, 6), torch.randn(3, 2, 3, 3)))],
    aten.multiply.Tensor: [(lambda x, y: torch.multiply(x, y), (torch.randn(3), torch.randn(2, 3)))],
    aten.multiply.Scalar: [(lambda x: torch.ops.aten.multiply.Scalar(x, 2.5), (torch.randn(3),))],
    aten.divide.Tensor: [(lambda x, y: torch.divide(x, y), (torch.randn(3), torch.randn(2, 3)))],
    aten.divide.Scalar: [(lambda x: torch.ops.aten.divide.Scalar(x, 3.0), (torch.randn(3),))],
    aten.true_divide.Tensor: [(lambda x, y: torch.true_divide(x, y), (torch.randn(3), torch.randn(2, 3)))],
    aten.subtract.Tensor: [(lambda x, y: torch.subtract(x, y), (torch.randn(3), torch.randn(3))),
                           (lambda x, y: torch.subtract(x, y, alpha=2), (torch.randn(3), torch.randn(3)))],
    aten.subtract.Scalar: [(lambda x: torch.ops.aten.subtract.Scalar(x, 1.5), (torch.randn(3),))],
    aten.div.Scalar_mode: [(lambda x: torch.ops.aten.div.Scalar_mode(x, 2.5, rounding_mode="floor"), (torch.randn(4),))],
    aten.rand.default: [(lambda x: torch.rand(2, 3) + x, (torch.randn(3),))],
    aten.alias.default: [(lambda x: x[...], (torch.randn(2, 3),)), (lambda x: x[...], (torch.tensor(1.5),))],
    aten.rand_like.default: [(lambda x: torch.rand_like(x, dtype=torch.float64), (torch.randn(3),))],
}
for _function, _input in [
    (lambda x: torch.nn.functional.interpolate(x, size=(5, 7), mode="nearest"), torch.randn(1, 2, 3, 4)),
    (lambda x: torch.nn.functional.interpolate(x, scale_factor=2.0, mode="nearest"), torch.randn(1, 2, 3, 4)),
    (lambda x: torch.nn.functional.interpolate(x, scale_factor=(1.5, 2.0, 0.5), mode="nearest"), torch.randn(1, 2, 3, 4, 4)),
    (lambda x: torch.nn.functional.interpolate(x, size=(5, 7), mode="nearest-exact"), torch.randn(1, 2, 3, 4)),
    (lambda x: torch.nn.functional.interpolate(x, size=(2, 5, 3), mode="nearest-exact"), torch.randn(1, 2, 3, 4, 4)),
    (lambda x: torch.nn.functional.interpolate(x, scale_factor=1.7, mode="bilinear", align_corners=True), torch.randn(1, 2, 3, 4)),
]:
    for _op in {
        4: [aten.upsample_nearest2d.vec, aten._upsample_nearest_exact2d.vec, aten.upsample_bilinear2d.vec],
        5: [aten.upsample_nearest3d.vec, aten._upsample_nearest_exact3d.vec],
    }[_input.dim()]:
        EXTRA_SAMPLES.setdefault(_op, []).append((_function, (_input,)))


def _direct(op: Any, *args: Any, **kwargs: Any) -> tuple[Callable[..., Any], tuple[Any, ...]]:
    """A sample that calls the overload itself on the tensors among `args`."""
    tensors = tuple(a for a in args if isinstance(a, torch.Tensor))

    def call(*values: torch.Tensor) -> Any:
        it = iter(values)
        return op(*[next(it) if isinstance(a, torch.Tensor) else a for a in args], **kwargs)

    return call, tensors


def _x() -> torch.Tensor:
    return torch.randn(3, 4)


def _ints() -> torch.Tensor:
    return torch.tensor([[3, -7, 12], [0, 5, -1]])


for _op, _samples in {
    aten.add.Scalar: [_direct(aten.add.Scalar, _x(), 2.5), _direct(aten.add.Scalar, _x(), 2, alpha=3)],
    aten.sub.Scalar: [_direct(aten.sub.Scalar, _x(), 0.5)],
    aten.mul.Scalar: [_direct(aten.mul.Scalar, _x(), -3)],
    aten.div.Scalar: [_direct(aten.div.Scalar, _x(), 7.0)],
    aten.remainder.Scalar: [_direct(aten.remainder.Scalar, _ints(), 4)],
    aten.rsub.Scalar: [_direct(aten.rsub.Scalar, _x(), 1.0), _direct(aten.rsub.Scalar, _x(), 1.0, alpha=2)],
    aten.pow.Tensor_Scalar: [_direct(aten.pow.Tensor_Scalar, _x(), 2), _direct(aten.pow.Tensor_Scalar, _x().abs(), 0.5)],
    aten.eq.Scalar: [_direct(aten.eq.Scalar, _ints(), 0)],
    aten.ne.Scalar: [_direct(aten.ne.Scalar, _ints(), 5)],
    aten.lt.Scalar: [_direct(aten.lt.Scalar, _x(), 0.0)],
    aten.le.Scalar: [_direct(aten.le.Scalar, _x(), 0.1)],
    aten.gt.Scalar: [_direct(aten.gt.Scalar, _x(), -0.1)],
    aten.ge.Scalar: [_direct(aten.ge.Scalar, _ints(), 0)],
    aten.bitwise_and.Scalar: [_direct(aten.bitwise_and.Scalar, _ints(), 6)],
    aten.bitwise_or.Scalar: [_direct(aten.bitwise_or.Scalar, _ints(), 6)],
    aten.bitwise_xor.Scalar: [_direct(aten.bitwise_xor.Scalar, _ints(), 6)],
    aten.relu.default: [_direct(aten.relu.default, _x())],
    aten.clamp.default: [_direct(aten.clamp.default, _x(), -0.5, 0.5), _direct(aten.clamp.default, _x(), None, 0.2)],
    aten.clamp_min.default: [_direct(aten.clamp_min.default, _x(), 0.0)],
    aten.clamp_max.default: [_direct(aten.clamp_max.default, _x(), 0.0)],
    aten.detach.default: [_direct(aten.detach.default, _x())],
    aten.type_as.default: [_direct(aten.type_as.default, _x(), _ints())],
    aten.to.dtype_layout: [_direct(aten.to.dtype_layout, _x(), dtype=torch.float64, layout=torch.strided)],
    aten._to_copy.default: [_direct(aten._to_copy.default, _x(), dtype=torch.float64), _direct(aten._to_copy.default, _x())],
    aten.add_.Scalar: [_direct(aten.add_.Scalar, _x(), 1.5)],
    aten.sub_.Scalar: [_direct(aten.sub_.Scalar, _x(), 1.5)],
    aten.mul_.Scalar: [_direct(aten.mul_.Scalar, _x(), 1.5)],
    aten.div_.Scalar: [_direct(aten.div_.Scalar, _x(), 1.5)],
    aten.div_.Scalar_mode: [_direct(aten.div_.Scalar_mode, _x(), 2.0, rounding_mode="floor")],
    aten.div_.Tensor_mode: [_direct(aten.div_.Tensor_mode, _x(), _x(), rounding_mode="trunc")],
    aten.copy_.default: [_direct(aten.copy_.default, _x(), _x())],
    aten.fill_.Tensor: [_direct(aten.fill_.Tensor, _x(), torch.tensor(2.5))],
    aten.clamp_.Tensor: [_direct(aten.clamp_.Tensor, _x(), torch.tensor(-0.1), torch.tensor(0.1))],
    aten.masked_fill_.Tensor: [_direct(aten.masked_fill_.Tensor, _x(), _x() > 0, torch.tensor(0.5))],
    aten.masked_scatter_.default: [_direct(aten.masked_scatter_.default, _x(), _x() > 0, torch.randn(12))],
    aten.index_fill_.int_Scalar: [_direct(aten.index_fill_.int_Scalar, _x(), 1, torch.tensor([0, 2]), -1.0)],
    aten.index_fill_.int_Tensor: [_direct(aten.index_fill_.int_Tensor, _x(), 0, torch.tensor([1]), torch.tensor(3.0))],
    aten.pow.Scalar: [_direct(aten.pow.Scalar, 2.0, _x()), _direct(aten.pow.Scalar, -3, torch.tensor([0, 1, 2, 3]))],
    aten.scatter.value: [_direct(aten.scatter.value, _x(), 1, torch.tensor([[0, 1], [2, 3], [1, 0]]), 1.5)],
    aten.scatter_.value: [_direct(aten.scatter_.value, _x(), 0, torch.tensor([[0, 1, 2, 0]]), -2.0)],
    aten.scatter_.src: [_direct(aten.scatter_.src, _x(), 1, torch.tensor([[3], [0], [1]]), _x())],
    aten.concat.default: [_direct(aten.concat.default, [_x(), _x()], 1)],
    aten.floor_divide_.Tensor: [_direct(aten.floor_divide_.Tensor, _x(), _x())],
    aten.floor_divide_.Scalar: [_direct(aten.floor_divide_.Scalar, _ints(), 4)],
    aten.view_as_real.default: [_direct(aten.view_as_real.default, torch.randn(3, dtype=torch.complex64))],
    aten.where.Scalar: [_direct(aten.where.Scalar, torch.tensor([True, False, True]), 1.5, -2)],
}.items():
    EXTRA_SAMPLES.setdefault(_op, []).extend(_samples)


def _comparable(value: Any, op: Any) -> Any:
    """Multiple results as a plain list: ATen gives a list or tuple where the public API
    gives a tuple or named tuple, and graphs only ever index them."""
    return list(value) if isinstance(value, (list, tuple)) else value


def _tensor_samples(info: Any) -> list[Any]:
    """The first samples of an OpInfo. What is left of its generator sits in a reference
    cycle; left to the collector, its no_grad cleanup could run inside a later trace
    (`_record`, an export) and make that trace fail. So the collector is paused while the
    samples are taken (nothing made meanwhile leaves the youngest generation) and that
    generation is collected right after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        for dtype in (torch.float32, torch.int64, torch.bool):
            if dtype in info.supported_dtypes("cpu"):
                try:
                    return list(itertools.islice(info.sample_inputs("cpu", dtype), SAMPLES_PER_OPINFO))
                except Exception:
                    return []
        return []
    finally:
        gc.collect(0)
        if enabled:
            gc.enable()


@functools.lru_cache(maxsize=None)
def _opinfos(name: str) -> list[Any]:
    return [info for info in op_db if info.name == name]


def _record(function: Callable[..., Any], inputs: tuple[Any, ...]) -> list[tuple[Any, tuple, dict]]:
    """The concrete arguments of every table overload that `function` calls, pre-dispatch."""
    try:
        graph = make_fx(function, pre_dispatch=True)(*inputs)
    except Exception:
        return []
    calls = []

    class Recorder(fx.Interpreter):
        def run_node(self, node: fx.Node) -> Any:
            if node.op == "call_function" and node.target in TABLE:
                args, kwargs = self.fetch_args_kwargs_from_env(node)
                clone = lambda v: v.clone() if isinstance(v, torch.Tensor) else v  # noqa: E731
                calls.append((node.target, pytree.tree_map(clone, args), pytree.tree_map(clone, kwargs)))
            return super().run_node(node)

    torch.manual_seed(0)
    try:
        Recorder(graph).run(*inputs)
    except Exception:
        return []
    return calls


@functools.lru_cache(maxsize=None)
def _calls_from_opinfo(name: str) -> list[tuple[Any, tuple, dict]]:
    calls = []
    for info in _opinfos(name):
        for sample in _tensor_samples(info):
            leaves, spec = pytree.tree_flatten((sample.input, sample.args, sample.kwargs))
            tensors = tuple(leaf for leaf in leaves if isinstance(leaf, torch.Tensor))

            def call(*values: torch.Tensor, info=info, leaves=leaves, spec=spec) -> Any:
                it = iter(values)
                rebuilt = [next(it) if isinstance(leaf, torch.Tensor) else leaf for leaf in leaves]
                inp, args, kwargs = pytree.tree_unflatten(rebuilt, spec)
                return info.op(inp, *args, **kwargs)

            calls.extend(_record(call, tensors))
    return calls


#: concrete calls of overloads that tracing concrete tensors folds away (sizes are ints)
DIRECT_CALLS: dict[Any, list[tuple[tuple, dict]]] = {
    aten.sym_size.int: [((torch.randn(2, 5, 3), 1), {}), ((torch.randn(4), -1), {})],
    aten.item.default: [((torch.tensor(2.5),), {}), ((torch.tensor([7]),), {})],
}


def calls_for(op: Any) -> list[tuple[tuple, dict]]:
    if op in DIRECT_CALLS:
        return DIRECT_CALLS[op]
    found = []
    for name in TABLE[op].samples:
        found.extend(c for c in _calls_from_opinfo(name) if c[0] is op)
    for function, inputs in EXTRA_SAMPLES.get(op, []):
        found.extend(c for c in _record(function, inputs) if c[0] is op)
    return [(args, kwargs) for _, args, kwargs in found[:CALLS_PER_ENTRY]]


def one_call_program(op: Any, args: tuple, kwargs: dict) -> tuple[fx.GraphModule, list[torch.Tensor]]:
    """A graph calling `op` once: tensor arguments are inputs, the rest constants."""
    graph = fx.Graph()
    tensors: list[torch.Tensor] = []

    def placeholder(value: Any) -> Any:
        if not isinstance(value, torch.Tensor):
            return value
        node = graph.placeholder(f"t{len(tensors)}")
        node.meta["val"] = value
        tensors.append(value)
        return node

    call_args, call_kwargs = pytree.tree_map(placeholder, (args, kwargs))
    graph.output(graph.call_function(op, tuple(call_args), dict(call_kwargs)))
    return fx.GraphModule(nn.Module(), graph), tensors


def _aliases(outputs: Any, inputs: list[torch.Tensor]) -> list[list[bool]]:
    flat = [t for t in pytree.tree_leaves(outputs) if isinstance(t, torch.Tensor)]
    return [[o.untyped_storage().data_ptr() == i.untyped_storage().data_ptr() for i in inputs] for o in flat]


def check(op: Any, args: tuple, kwargs: dict, tmp_path: Any) -> bool:
    """Whether fxgen raised this call; asserts exactness and aliasing either way."""
    program, tensors = one_call_program(op, args, kwargs)
    text = fxgen.render(program, formatter=None, hierarchy=False)
    path = tmp_path / f"call_{abs(hash(text))}.py"
    path.write_text(text)
    generated = getattr(import_isolated(path), type(program).__name__)()
    expected_inputs = [t.clone() for t in tensors]
    actual_inputs = [t.clone() for t in tensors]
    position = {id(t): i for i, t in enumerate(tensors)}
    swap = lambda v: expected_inputs[position[id(v)]] if isinstance(v, torch.Tensor) else v  # noqa: E731
    torch.manual_seed(0)
    expected = op(*pytree.tree_map(swap, args), **pytree.tree_map(swap, kwargs))
    torch.manual_seed(0)
    actual = generated(*actual_inputs)
    if op in UNINITIALISED:
        assert (actual.shape, actual.dtype) == (expected.shape, expected.dtype)
    else:
        expected, actual = _comparable(expected, op), _comparable(actual, op)
        assert first_difference(expected, actual) is None, (text, first_difference(expected, actual))
        assert first_difference(expected_inputs, actual_inputs) is None, "in-place effect on the inputs differs"
    assert _aliases(actual, actual_inputs) == _aliases(expected, expected_inputs), f"aliasing differs:\n{text}"
    return "torch.ops.aten." not in text


@pytest.mark.parametrize("op", sorted(TABLE, key=str), ids=str)
def test_table_entry_is_exact_and_keeps_aliasing(op, tmp_path):
    calls = calls_for(op)
    assert calls, f"no sample reaches {op}; add one to EXTRA_SAMPLES"
    raised = [check(op, args, kwargs, tmp_path) for args, kwargs in calls]
    assert any(raised), f"the entry for {op} fits none of its {len(calls)} sample calls"
