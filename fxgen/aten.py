"""ATen raising: each overload in `TABLE` is written with the public API a person uses.

`aten.linear.default(x, w, b)` becomes `F.linear(x, w, b)`, `aten.add.Tensor(x, y)` becomes
`x + y`, `aten.view.default(x, [2, -1])` becomes `x.view(2, -1)`, `aten.slice.Tensor`
becomes `x[:, 1:5]`. Arguments equal to their default are dropped and keywords are used
where the public API takes them. An entry is in the table only if it gives bit-identical
values with the same aliasing (a view stays a view, a copy stays a copy); each entry is
tested on real sample inputs (tests/test_aten.py). An overload without an entry, or a
call an entry does not fit, is written as `torch.ops.aten.<op>.<overload>(...)`, which is
always exact.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F

from fxgen.pyexpr import BINARY_OPERATORS, Expr, ExprWriter, Prec, binary, is_default, unary

__all__ = ["TABLE", "Raising", "raise_call", "op_source"]

aten = torch.ops.aten
_MAX_INDEX = sys.maxsize  # an omitted slice end, as export records it


class Call:
    """One call of an overload: its arguments bound to the schema's names."""

    def __init__(self, op: torch._ops.OpOverload, args: tuple[Any, ...], kwargs: dict[str, Any], writer: ExprWriter, node: Any) -> None:
        self.op = op
        self.writer = writer
        self.node = node
        schema = op._schema.arguments
        self.defaults = {a.name: a.default_value for a in schema if a.has_default_value()}
        self.values: dict[str, Any] = dict(self.defaults)
        for a, value in zip(schema, args):
            self.values[a.name] = value
        self.values.update(kwargs)
        self.names = [a.name for a in schema]

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def default(self, name: str) -> bool:
        """Whether the argument has its schema default (or is absent)."""
        if name not in self.defaults:
            return False
        value, default = self.values[name], self.defaults[name]
        if name == "pin_memory" and value is False:
            return True  # not pinned, the same as unspecified
        if default is None:
            return value is None
        if isinstance(default, (list, tuple)) and isinstance(value, (list, tuple)):
            return list(value) == list(default)
        return is_default(value, default) or (type(default) is int and type(value) is float and value == default)

    def source(self, name: str) -> Expr:
        return self.writer.value(self.values[name])


@dataclass(frozen=True)
class Raising:
    """How one overload is written: `write` returns the expression, or None to fall back."""

    write: Callable[[Call], Expr | None]
    #: OpInfo names whose samples exercise this overload (for its test)
    samples: tuple[str, ...] = field(default=())


TABLE: dict[Any, Raising] = {}


def raise_call(op: Any, args: tuple[Any, ...], kwargs: dict[str, Any], writer: ExprWriter, node: Any = None) -> Expr:
    """The public-API expression for one call of `op` (or the exact `torch.ops` call)."""
    entry = TABLE.get(op)
    if entry is not None:
        expr = entry.write(Call(op, args, kwargs, writer, node))
        if expr is not None:
            return expr
    return writer.call(op_source(op, writer), args, kwargs)


def op_source(op: Any, writer: ExprWriter) -> str:
    """`torch.ops.<namespace>.<name>.<overload>`, importing the module that defines a
    custom operator (`torch.library.custom_op`) so that the file can call it."""
    writer.imports.add_module("torch")
    packet = op._schema.name.split("::")
    namespace, name = packet if len(packet) == 2 else ("aten", packet[0])
    if namespace not in ("aten", "prims"):
        definition = _custom_op_definitions().get(f"{namespace}::{name}")
        module = getattr(getattr(definition, "_init_fn", None), "__module__", None)
        if module and module != "__main__":
            writer.imports.add_module(module)
    overload = op._overloadname if hasattr(op, "_overloadname") else "default"
    return f"torch.ops.{namespace}.{name}.{overload or 'default'}"


def _custom_op_definitions() -> dict[str, Any]:
    try:
        from torch._library.custom_ops import OPDEFS
    except ImportError:  # a torch without the custom_op registry
        return {}
    return OPDEFS


# -- building blocks ----------------------------------------------------------------------


def _args(
    call: Call, positional: tuple[str, ...], keywords: tuple[str, ...], ignored: tuple[str, ...], star: str = ""
) -> tuple[list[str], list[str]] | None:
    """Source of positional and keyword arguments, or None if an unmapped argument is set."""
    mapped = set(positional) | {k.split("=")[0] for k in keywords} | set(ignored) | {star}
    for name in call.names:
        if name not in mapped and not call.default(name):
            return None  # the public API has no way to say this
    pos = []
    for name in positional:
        pos.append(call.source(name).text)
    while pos and positional[len(pos) - 1] in call.defaults and call.default(positional[len(pos) - 1]):
        pos.pop()
    kws = []
    for item in keywords:
        schema_name, _, public = item.partition("=")
        if schema_name in call.values and not call.default(schema_name):
            kws.append(f"{public or schema_name}={call.source(schema_name).text}")
    return pos, kws


def function(fn: Callable[..., Any], *positional: str, keywords: tuple[str, ...] = (), ignored: tuple[str, ...] = (), star: str = "") -> Callable[[Call], Expr | None]:
    """`fn(positional..., keyword=...)`; `star` names a list argument written unpacked."""

    def write(call: Call) -> Expr | None:
        parts = _args(call, positional, keywords, ignored, star)
        if parts is None:
            return None
        pos, kws = parts
        if star:
            pos.extend(call.writer.value(v).text for v in call[star])
        return Expr(f"{call.writer.qualified(fn)}({', '.join(pos + kws)})")

    return write


def method(name: str, *positional: str, keywords: tuple[str, ...] = (), ignored: tuple[str, ...] = (), star: str = "") -> Callable[[Call], Expr | None]:
    """`self.name(positional..., keyword=...)` (the first schema argument is the receiver)."""

    def write(call: Call) -> Expr | None:
        receiver = call.names[0]
        parts = _args(call, (receiver, *positional), keywords, ignored, star)
        if parts is None:
            return None
        pos, kws = parts
        if star:
            values = call[star]
            if isinstance(values, (list, tuple)) and not values:
                pos.append(call.writer.value(list(values)).text)  # `x.permute([])`: nothing to unpack
            else:
                pos.extend(call.writer.value(v).text for v in (values if isinstance(values, (list, tuple)) else [values]))
        self_expr = call.source(receiver).receiver()
        return Expr(f"{self_expr}.{name}({', '.join(pos[1:] + kws)})")

    return write


def operator_(symbol: str, left: str = "self", right: str = "other", when: Callable[[Call], bool] = lambda c: True) -> Callable[[Call], Expr | None]:
    """`left <symbol> right` where `when` holds (e.g. `alpha == 1`)."""
    prec = next(p for s, p in BINARY_OPERATORS.values() if s == symbol)

    def write(call: Call) -> Expr | None:
        if not when(call):
            return None
        return binary(symbol, prec, call.source(left), call.source(right))

    return write


def prefix(symbol: str, prec: Prec = Prec.UNARY) -> Callable[[Call], Expr | None]:
    return lambda call: unary(symbol, prec, call.source("self"))


def first(*writers: Callable[[Call], Expr | None]) -> Callable[[Call], Expr | None]:
    """The first writer that fits."""

    def write(call: Call) -> Expr | None:
        for writer in writers:
            expr = writer(call)
            if expr is not None:
                return expr
        return None

    return write


def register(ops: Any, write: Callable[[Call], Expr | None], *samples: str) -> None:
    for op in ops if isinstance(ops, (list, tuple)) else [ops]:
        TABLE[op] = Raising(write, samples)


def _alpha_is_one(call: Call) -> bool:
    return call.default("alpha")


def _rank(call: Call) -> int | None:
    value = getattr(call.values.get("self"), "meta", {}).get("val")
    return value.dim() if isinstance(value, torch.Tensor) else None


def _subscript_at(call: Call, dim: int, item: Any) -> Expr | None:
    """`x[:, ..., item]` with `item` at dimension `dim` (negative dims need the rank)."""
    if dim < 0:
        rank = _rank(call)
        if rank is None:
            return None
        dim += rank
    index = tuple([slice(None)] * dim + [item])
    return call.writer.subscript(call.source("self"), index if len(index) > 1 else index[0])


def _slice(call: Call) -> Expr | None:
    start, end, step = call["start"], call["end"], call["step"]
    if end == _MAX_INDEX:
        end = None
    if start == 0:
        start = None
    return _subscript_at(call, call["dim"], slice(start, end, None if step == 1 else step))


def _select(call: Call) -> Expr | None:
    return _subscript_at(call, call["dim"], call["index"])


def _index(call: Call) -> Expr | None:
    indices = list(call["indices"])
    if not indices:
        return None
    index = tuple(slice(None) if i is None else i for i in indices)
    return call.writer.subscript(call.source("self"), index if len(index) > 1 else index[0])


def _to_copy(call: Call) -> Expr | None:
    """`x.to(dtype, copy=True)`: a copy even where the dtype already matches."""
    if not (call.default("layout") and call.default("pin_memory")):
        return None
    parts = []
    for name in ("device", "dtype", "non_blocking", "memory_format"):
        if not call.default(name):
            parts.append(f"{name}={call.source(name).text}")
    return Expr(f"{call.source('self').receiver()}.to({', '.join(parts + ['copy=True'])})")


def _to_dtype_layout(call: Call) -> Expr | None:
    """`x.to(dtype=..., device=...)`; `Tensor.to` cannot change the layout, so only strided."""
    if not (call.default("layout") or call["layout"] == torch.strided):
        return None
    keywords = ("dtype", "device", "non_blocking", "copy", "memory_format")
    return method("to", keywords=keywords, ignored=("layout",))(call)


def _softmax_internal(call: Call) -> Expr | None:
    if call["half_to_float"]:
        return None
    return Expr(f"{call.writer.qualified(torch.softmax)}({call.source('self').text}, dim={call.source('dim').text})")


def _embedding(call: Call) -> Expr | None:
    """`F.embedding(indices, weight, padding_idx=...)`; F passes a negative index as -1 + n."""
    if not call.default("scale_grad_by_freq") or not call.default("sparse"):
        return None
    padding = call["padding_idx"]
    if not isinstance(padding, int) or padding < -1:
        return None
    extra = "" if padding == -1 else f", padding_idx={padding}"
    return Expr(f"{call.writer.qualified(F.embedding)}({call.source('indices').text}, {call.source('weight').text}{extra})")


def _attribute(name: str) -> Callable[[Call], Expr | None]:
    """`self.name` (a property: `x.T`)."""
    return lambda call: Expr(f"{call.source('self').receiver()}.{name}")


def _interpolate(mode: str, antialias: bool = False) -> Callable[[Call], Expr | None]:
    """`F.interpolate(x, size=..., mode=...)` (or `scale_factor=...`): the call to the
    overload that `F.interpolate` makes for `mode` (and `antialias`), which passes a size
    or scales, not both."""

    def write(call: Call) -> Expr | None:
        size, scales = call["output_size"], call["scale_factors"]
        if (size is None) == (scales is None):
            return None
        given = f"scale_factor={call.source('scale_factors').text}" if size is None else f"size={call.source('output_size').text}"
        parts = [call.source("input").text, given, f"mode={call.writer.value(mode).text}"]
        if "align_corners" in call.values:
            parts.append(f"align_corners={call.source('align_corners').text}")
        if antialias:
            parts.append("antialias=True")
        return Expr(f"{call.writer.qualified(F.interpolate)}({', '.join(parts)})")

    return write


#: `reduction` as ATen numbers it (`at::Reduction`) and as `torch.nn.functional` names it
_REDUCTIONS = {0: "none", 1: "mean", 2: "sum"}


def _cross_entropy(call: Call) -> Expr | None:
    """`F.cross_entropy(input, target, ...)`, its reduction by name."""
    reduction = _REDUCTIONS.get(call["reduction"])
    if reduction is None:
        return None
    parts = [call.source("self").text, call.source("target").text]
    for name in ("weight", "ignore_index", "label_smoothing"):
        if not call.default(name):
            parts.append(f"{name}={call.source(name).text}")
    if reduction != "mean":
        parts.append(f"reduction={call.writer.value(reduction).text}")
    return Expr(f"{call.writer.qualified(F.cross_entropy)}({', '.join(parts)})")


def _max_pool2d_with_indices(call: Call) -> Expr | None:
    """`F.max_pool2d(x, ..., return_indices=True)` (an empty `stride` is the kernel size, as F's None)."""
    parts = _args(call, ("self",), ("kernel_size", "stride", "padding", "dilation", "ceil_mode"), ())
    if parts is None:
        return None
    pos, kws = parts
    return Expr(f"{call.writer.qualified(F.max_pool2d)}({', '.join(pos + kws + ['return_indices=True'])})")


#: `grid_sampler`'s numbered modes as `F.grid_sample` names them (it numbers them so)
_GRID_MODES = {0: "bilinear", 1: "nearest", 2: "bicubic"}
_GRID_PADDINGS = {0: "zeros", 1: "border", 2: "reflection"}


def _grid_sample(call: Call) -> Expr | None:
    """`F.grid_sample(input, grid, mode=..., padding_mode=..., align_corners=...)`."""
    mode, padding = _GRID_MODES.get(call["interpolation_mode"]), _GRID_PADDINGS.get(call["padding_mode"])
    if mode is None or padding is None or type(call["align_corners"]) is not bool:
        return None
    parts = [call.source("input").text, call.source("grid").text]
    if mode != "bilinear":
        parts.append(f"mode={call.writer.value(mode).text}")
    if padding != "zeros":
        parts.append(f"padding_mode={call.writer.value(padding).text}")
    parts.append(f"align_corners={call.source('align_corners').text}")  # F warns where it is left out
    return Expr(f"{call.writer.qualified(F.grid_sample)}({', '.join(parts)})")


def _batch_norm(call: Call) -> Expr | None:
    names = ("input", "running_mean", "running_var", "weight", "bias")
    parts = [call.source(n).text for n in names]
    parts += [f"training={call.source('training').text}", f"momentum={call.source('momentum').text}", f"eps={call.source('eps').text}"]
    return Expr(f"{call.writer.qualified(F.batch_norm)}({', '.join(parts)})")


# -- the table ----------------------------------------------------------------------------

_BINARY = [
    ("+", [aten.add.Tensor, aten.add.Scalar], _alpha_is_one, "add"),
    ("-", [aten.sub.Tensor, aten.sub.Scalar, aten.subtract.Tensor, aten.subtract.Scalar], _alpha_is_one, "sub"),
    ("*", [aten.mul.Tensor, aten.mul.Scalar, aten.multiply.Tensor, aten.multiply.Scalar], None, "mul"),
    ("/", [aten.div.Tensor, aten.div.Scalar, aten.divide.Tensor, aten.divide.Scalar, aten.true_divide.Tensor], None, "div"),
    ("@", [aten.matmul.default], None, "matmul"),
    ("==", [aten.eq.Tensor, aten.eq.Scalar], None, "eq"),
    ("!=", [aten.ne.Tensor, aten.ne.Scalar], None, "ne"),
    ("<", [aten.lt.Tensor, aten.lt.Scalar], None, "lt"),
    ("<=", [aten.le.Tensor, aten.le.Scalar], None, "le"),
    (">", [aten.gt.Tensor, aten.gt.Scalar], None, "gt"),
    (">=", [aten.ge.Tensor, aten.ge.Scalar], None, "ge"),
    ("&", [aten.bitwise_and.Tensor, aten.bitwise_and.Scalar], None, "bitwise_and"),
    ("|", [aten.bitwise_or.Tensor, aten.bitwise_or.Scalar], None, "bitwise_or"),
    ("^", [aten.bitwise_xor.Tensor, aten.bitwise_xor.Scalar], None, "bitwise_xor"),
    ("//", [aten.floor_divide.default], None, "floor_divide"),
    ("%", [aten.remainder.Tensor, aten.remainder.Scalar], None, "remainder"),
]
for _symbol, _ops, _when, _sample in _BINARY:
    _fallback = function(getattr(torch, _sample), "self", "other", keywords=("alpha",))
    register(_ops, first(operator_(_symbol, when=_when or (lambda c: True)), _fallback), _sample)
register(aten.pow.Tensor_Scalar, operator_("**", right="exponent"), "pow")
register(aten.pow.Tensor_Tensor, operator_("**", right="exponent"), "pow")
register(aten.pow.Scalar, operator_("**", right="exponent"), "pow")
register([aten.rsub.Scalar, aten.rsub.Tensor], operator_("-", left="other", right="self", when=_alpha_is_one), "rsub")
register([aten.div.Tensor_mode, aten.div.Scalar_mode], function(torch.div, "self", "other", keywords=("rounding_mode",)), "div")
for _op, _function in [
    (aten.atan2.default, torch.atan2), (aten.logaddexp.default, torch.logaddexp),
    (aten.logaddexp2.default, torch.logaddexp2), (aten.hypot.default, torch.hypot), (aten.fmax.default, torch.fmax),
    (aten.fmin.default, torch.fmin), (aten.copysign.Tensor, torch.copysign), (aten.fmod.Tensor, torch.fmod),
    (aten.xlogy.Tensor, torch.xlogy), (aten.nextafter.default, torch.nextafter),
]:
    register(_op, function(_function, "self", "other"), _op._schema.name.split("::")[1])
register(aten.neg.default, prefix("-"), "neg")
register(aten.bitwise_not.default, prefix("~"), "bitwise_not")

for _name in [
    "abs", "exp", "log", "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid", "relu", "erf", "floor", "ceil",
    "sign", "reciprocal", "log1p", "expm1", "logical_not", "isnan", "isinf", "exp2", "tan", "atan",
    "log2", "trunc", "isfinite", "square", "acos", "acosh", "asin", "asinh", "atanh", "cosh", "sinh", "lgamma",
    "digamma", "i0", "sinc", "deg2rad", "rad2deg", "frac", "signbit",
]:
    register(getattr(aten, _name).default, function(getattr(torch, _name), "self"), _name)
register(aten.round.default, function(torch.round, "self"), "round")
register(aten.clamp.default, function(torch.clamp, "self", keywords=("min", "max")), "clamp")
register(aten.clamp_min.default, function(torch.clamp, "self", keywords=("min",)), "clamp")
register(aten.clamp_max.default, function(torch.clamp, "self", keywords=("max",)), "clamp")
register(aten.clamp.Tensor, function(torch.clamp, "self", keywords=("min", "max")), "clamp")
register(aten.clamp_min.Tensor, function(torch.clamp_min, "self", "min"), "clamp_min")
register(aten.clamp_max.Tensor, function(torch.clamp_max, "self", "max"), "clamp_max")
register(aten.round.decimals, function(torch.round, "self", keywords=("decimals",)), "round")
register(aten.polygamma.default, function(torch.polygamma, "n", "self"), "polygamma")
register(aten.mvlgamma.default, function(torch.mvlgamma, "self", "p"), "mvlgamma")

# nn.functional
register(aten.linear.default, function(F.linear, "input", "weight", "bias"), "nn.functional.linear")
register(aten.layer_norm.default, function(F.layer_norm, "input", "normalized_shape", "weight", "bias", keywords=("eps",), ignored=("cudnn_enable",)), "nn.functional.layer_norm")
register(aten.group_norm.default, function(F.group_norm, "input", "num_groups", "weight", "bias", keywords=("eps",), ignored=("cudnn_enabled",)), "nn.functional.group_norm")
register(aten.batch_norm.default, _batch_norm, "nn.functional.batch_norm")
register(aten.embedding.default, _embedding, "nn.functional.embedding")
register(aten.gelu.default, function(F.gelu, "self", keywords=("approximate",)), "nn.functional.gelu")
register(aten.silu.default, function(F.silu, "self"), "nn.functional.silu")
register(aten.softmax.int, function(torch.softmax, "self", keywords=("dim", "dtype")), "softmax")
register(aten.log_softmax.int, function(torch.log_softmax, "self", keywords=("dim", "dtype")), "log_softmax")
register(aten._softmax.default, _softmax_internal, "softmax")
register(aten.dropout.default, function(F.dropout, "input", keywords=("p", "train=training")), "nn.functional.dropout")
register(
    aten.scaled_dot_product_attention.default,
    function(F.scaled_dot_product_attention, "query", "key", "value", keywords=("attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")),
    "nn.functional.scaled_dot_product_attention",
)
for _dims in (1, 2, 3):  # `padding="same"` is an overload of its own
    _conv = getattr(F, f"conv{_dims}d")
    _write = function(_conv, "input", "weight", "bias", keywords=("stride", "padding", "dilation", "groups"))
    register([getattr(aten, f"conv{_dims}d").default, getattr(aten, f"conv{_dims}d").padding], _write, f"nn.functional.conv{_dims}d")
register(aten.softplus.default, function(F.softplus, "self", keywords=("beta", "threshold")), "nn.functional.softplus")
register(aten.log_sigmoid.default, function(F.logsigmoid, "self"), "nn.functional.logsigmoid")
register(aten.cross_entropy_loss.default, _cross_entropy, "nn.functional.cross_entropy")
register(aten.adaptive_avg_pool1d.default, function(F.adaptive_avg_pool1d, "self", "output_size"), "nn.functional.adaptive_avg_pool1d")
register(aten.max_pool2d_with_indices.default, _max_pool2d_with_indices, "nn.functional.max_pool2d")
register(aten.im2col.default, function(F.unfold, "self", "kernel_size", keywords=("dilation", "padding", "stride")), "nn.functional.unfold")
for _op, _mode in [
    (aten.upsample_nearest1d.vec, "nearest"), (aten.upsample_nearest2d.vec, "nearest"),
    (aten.upsample_nearest3d.vec, "nearest"), (aten._upsample_nearest_exact1d.vec, "nearest-exact"),
    (aten._upsample_nearest_exact2d.vec, "nearest-exact"), (aten._upsample_nearest_exact3d.vec, "nearest-exact"),
    (aten.upsample_linear1d.vec, "linear"), (aten.upsample_bilinear2d.vec, "bilinear"),
    (aten.upsample_bicubic2d.vec, "bicubic"), (aten.upsample_trilinear3d.vec, "trilinear"),
]:
    register(_op, _interpolate(_mode), "nn.functional.interpolate")
for _op, _mode in [(aten._upsample_bilinear2d_aa.vec, "bilinear"), (aten._upsample_bicubic2d_aa.vec, "bicubic")]:
    register(_op, _interpolate(_mode, antialias=True), "nn.functional.interpolate")
register(aten.col2im.default, function(F.fold, "self", "output_size", "kernel_size", keywords=("dilation", "padding", "stride")), "nn.functional.fold")
register(aten.max_pool1d.default, function(F.max_pool1d, "self", keywords=("kernel_size", "stride", "padding", "dilation", "ceil_mode")), "nn.functional.max_pool1d")
register(aten.max_pool2d.default, function(F.max_pool2d, "self", keywords=("kernel_size", "stride", "padding", "dilation", "ceil_mode")), "nn.functional.max_pool2d")
register(aten.avg_pool2d.default, function(F.avg_pool2d, "self", keywords=("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")), "nn.functional.avg_pool2d")
register(aten.adaptive_avg_pool2d.default, function(F.adaptive_avg_pool2d, "self", keywords=("output_size",)), "nn.functional.adaptive_avg_pool2d")
register(aten.hardtanh.default, function(F.hardtanh, "self", keywords=("min_val", "max_val")), "nn.functional.hardtanh")
register(aten.leaky_relu.default, function(F.leaky_relu, "self", keywords=("negative_slope",)), "nn.functional.leaky_relu")
register(aten.glu.default, function(F.glu, "self", keywords=("dim",)), "nn.functional.glu")
register(aten.grid_sampler.default, _grid_sample, "nn.functional.grid_sample")

# views and shapes
register(aten.view.default, method("view", star="size"), "view")
register(aten.reshape.default, method("reshape", star="shape"), "reshape")
register(aten.permute.default, method("permute", star="dims"), "permute")
register(aten.expand.default, method("expand", star="size", ignored=()), "expand")
register(aten.transpose.int, method("transpose", "dim0", "dim1"), "transpose")
register(aten.swapaxes.default, method("swapaxes", "axis0", "axis1"), "transpose")
register(aten.swapdims.default, method("swapdims", "dim0", "dim1"), "transpose")
register(aten.t.default, method("t"), "t")
register(aten.numpy_T.default, _attribute("T"), "T")
register(aten.alias.default, lambda call: call.writer.subscript(call.source("self"), ...), "__getitem__")
register(aten.mT.default, _attribute("mT"), "mT")
register(aten.mH.default, _attribute("mH"), "mH")
register(aten.broadcast_to.default, method("broadcast_to", "size"), "broadcast_to")
register(aten.broadcast_tensors.default, function(torch.broadcast_tensors, star="tensors"), "broadcast_tensors")
register(aten.unsqueeze.default, method("unsqueeze", "dim"), "unsqueeze")
register(aten.squeeze.dim, method("squeeze", "dim"), "squeeze")
register(aten.squeeze.dims, method("squeeze", "dim"), "squeeze")
register(aten.flatten.using_ints, method("flatten", "start_dim", "end_dim"), "flatten")
register(aten.unflatten.int, method("unflatten", "dim", "sizes"), "unflatten")
register(aten.contiguous.default, method("contiguous", keywords=("memory_format",)), "contiguous")
register(aten.chunk.default, method("chunk", "chunks", keywords=("dim",)), "chunk")
register(aten.split.Tensor, method("split", "split_size", keywords=("dim",)), "split")
register(aten.split_with_sizes.default, method("split", "split_sizes", keywords=("dim",)), "split")
register(aten.unbind.int, method("unbind", keywords=("dim",)), "unbind")
register(aten.slice.Tensor, _slice, "__getitem__")
register(aten.select.int, _select, "__getitem__")
register(aten.index.Tensor, _index, "__getitem__")
register(aten.repeat.default, method("repeat", star="repeats"), "repeat")
register(aten.clone.default, method("clone", keywords=("memory_format",)), "clone")
register(aten.masked_fill.Scalar, method("masked_fill", "mask", "value"), "masked_fill")
register(aten.masked_fill.Tensor, method("masked_fill", "mask", "value"), "masked_fill")
register(aten.type_as.default, method("type_as", "other"), "type_as")
register(aten.to.dtype, method("to", "dtype", keywords=("non_blocking", "copy", "memory_format")), "to")
register(aten._to_copy.default, _to_copy, "to")
register(aten.detach.default, method("detach"), "detach")

# reductions and the rest
register(aten.sum.dim_IntList, method("sum", keywords=("dim", "keepdim", "dtype")), "sum")
register(aten.sum.default, method("sum", keywords=("dtype",)), "sum")
register(aten.mean.dim, method("mean", keywords=("dim", "keepdim", "dtype")), "mean")
register(aten.mean.default, method("mean", keywords=("dtype",)), "mean")
register(aten.amax.default, method("amax", keywords=("dim", "keepdim")), "amax")
register(aten.max.dim, method("max", keywords=("dim", "keepdim")), "max")
register(aten.argmax.default, method("argmax", keywords=("dim", "keepdim")), "argmax")
register(aten.cumsum.default, method("cumsum", keywords=("dim", "dtype")), "cumsum")
register(aten.cumprod.default, method("cumprod", keywords=("dim", "dtype")), "cumprod")
register(aten.amin.default, method("amin", keywords=("dim", "keepdim")), "amin")
register(aten.logsumexp.default, function(torch.logsumexp, "self", "dim", keywords=("keepdim",)), "logsumexp")
register(aten.scatter_reduce.two, method("scatter_reduce", "dim", "index", "src", "reduce", keywords=("include_self",)), "scatter_reduce")
register(aten.index_reduce.default, method("index_reduce", "dim", "index", "source", "reduce", keywords=("include_self",)), "index_reduce")
register(aten.dot.default, function(torch.dot, "self", "tensor"), "dot")
register(aten.vdot.default, function(torch.vdot, "self", "other"), "vdot")
register(aten.mv.default, function(torch.mv, "self", "vec"), "mv")
register(aten.addmv.default, function(torch.addmv, "self", "mat", "vec", keywords=("beta", "alpha")), "addmv")
register(aten.addr.default, function(torch.addr, "self", "vec1", "vec2", keywords=("beta", "alpha")), "addr")
register(aten.addbmm.default, function(torch.addbmm, "self", "batch1", "batch2", keywords=("beta", "alpha")), "addbmm")
register(aten.addcmul.default, function(torch.addcmul, "self", "tensor1", "tensor2", keywords=("value",)), "addcmul")
register(aten.addcdiv.default, function(torch.addcdiv, "self", "tensor1", "tensor2", keywords=("value",)), "addcdiv")
register(aten.cummax.default, method("cummax", "dim"), "cummax")
register(aten.cummin.default, method("cummin", "dim"), "cummin")
register(aten.cross.default, function(torch.cross, "self", "other", keywords=("dim",)), "cross")
register(aten.block_diag.default, function(torch.block_diag, star="tensors"), "block_diag")
register(aten.cartesian_prod.default, function(torch.cartesian_prod, star="tensors"), "cartesian_prod")
register(aten.combinations.default, function(torch.combinations, "self", keywords=("r", "with_replacement")), "combinations")
register(aten.sum_to_size.default, method("sum_to_size", star="size"), "sum_to_size")
register(aten.unsafe_chunk.default, method("unsafe_chunk", "chunks", keywords=("dim",)), "unsafe_chunk")
register(aten.pairwise_distance.default, function(F.pairwise_distance, "x1", "x2", keywords=("p", "eps", "keepdim")), "nn.functional.pairwise_distance")
register(aten.linalg_svd.default, function(torch.linalg.svd, "A", keywords=("full_matrices", "driver")), "linalg.svd")
register(aten.linalg_qr.default, function(torch.linalg.qr, "A", keywords=("mode",)), "linalg.qr")
register(aten.linalg_norm.default, function(torch.linalg.norm, "self", keywords=("ord", "dim", "keepdim", "dtype")), "linalg.norm")
register(aten.linalg_matrix_norm.str_ord, function(torch.linalg.matrix_norm, "self", keywords=("ord", "dim", "keepdim", "dtype")), "linalg.matrix_norm")
register(aten.cholesky_inverse.default, function(torch.cholesky_inverse, "self", keywords=("upper",)), "cholesky_inverse")
register(aten.cholesky_solve.default, function(torch.cholesky_solve, "self", "input2", keywords=("upper",)), "cholesky_solve")
for _name in ["resolve_conj", "resolve_neg", "conj_physical", "view_as_complex"]:
    register(getattr(aten, _name).default, function(getattr(torch, _name), "self"), _name)
register(aten.complex.default, function(torch.complex, "real", "imag"), "complex")
register(aten.positive.default, prefix("+"), "positive")
register(aten.cat.default, function(torch.cat, "tensors", keywords=("dim",)), "cat")
register(aten.stack.default, function(torch.stack, "tensors", keywords=("dim",)), "stack")
register(aten.where.self, function(torch.where, "condition", "self", "other"), "where")
register(aten.bmm.default, function(torch.bmm, "self", "mat2"), "bmm")
register(aten.mm.default, function(torch.mm, "self", "mat2"), "mm")
register(aten.addmm.default, function(torch.addmm, "self", "mat1", "mat2", keywords=("beta", "alpha")), "addmm")
register(aten.baddbmm.default, function(torch.baddbmm, "self", "batch1", "batch2", keywords=("beta", "alpha")), "baddbmm")
register(aten.tril.default, method("tril", "diagonal"), "tril")
register(aten.triu.default, method("triu", "diagonal"), "triu")
register(aten.gather.default, function(torch.gather, "self", "dim", "index", keywords=("sparse_grad",)), "gather")
register(aten.index_select.default, function(torch.index_select, "self", "dim", "index"), "index_select")
register(aten.topk.default, function(torch.topk, "self", "k", keywords=("dim", "largest", "sorted")), "topk")
register(aten.meshgrid.indexing, function(torch.meshgrid, keywords=("indexing",), star="tensors"), "meshgrid")
register(aten.real.default, function(torch.real, "self"), "real")
register(aten.fft_fftn.default, function(torch.fft.fftn, "self", keywords=("s", "dim", "norm")), "fft.fftn")
register(aten.einsum.default, function(torch.einsum, "equation", "tensors", keywords=("path",)), "einsum")
register(aten.outer.default, function(torch.outer, "self", "vec2"), "outer")
register(aten.full.default, function(torch.full, "size", "fill_value", keywords=("dtype", "layout", "device", "pin_memory")), "full")
register(aten.zeros.default, function(torch.zeros, "size", keywords=("dtype", "layout", "device", "pin_memory")), "zeros")
register(aten.ones.default, function(torch.ones, "size", keywords=("dtype", "layout", "device", "pin_memory")), "ones")
register(aten.randn.default, function(torch.randn, "size", keywords=("dtype", "layout", "device", "pin_memory")), "randn")
register(aten.rand.default, function(torch.rand, "size", keywords=("dtype", "layout", "device", "pin_memory")), "rand")
for _name in ["randn_like", "rand_like"]:
    _keywords = ("dtype", "layout", "device", "pin_memory", "memory_format")
    register(getattr(aten, _name).default, function(getattr(torch, _name), "self", keywords=_keywords), _name)
register(aten.arange.default, function(torch.arange, "end", keywords=("dtype", "layout", "device", "pin_memory")), "arange")
register(aten.arange.start, function(torch.arange, "start", "end", keywords=("dtype", "layout", "device", "pin_memory")), "arange")
register(aten.arange.start_step, function(torch.arange, "start", "end", "step", keywords=("dtype", "layout", "device", "pin_memory")), "arange")
register(aten.zeros_like.default, function(torch.zeros_like, "self", keywords=("dtype", "layout", "device", "pin_memory", "memory_format")), "zeros_like")
register(aten.ones_like.default, function(torch.ones_like, "self", keywords=("dtype", "layout", "device", "pin_memory", "memory_format")), "ones_like")
register(aten.full_like.default, function(torch.full_like, "self", "fill_value", keywords=("dtype", "layout", "device", "pin_memory", "memory_format")), "full_like")
register(aten.sym_size.int, method("size", "dim"), "size")
register(aten.__and__.Tensor, operator_("&"), "bitwise_and")
register(aten.__or__.Tensor, operator_("|"), "bitwise_or")
register(aten.where.ScalarOther, function(torch.where, "condition", "self", "other"), "where")
register(aten.where.ScalarSelf, function(torch.where, "condition", "self", "other"), "where")
register(aten.to.device, method("to", "device", "dtype", keywords=("non_blocking", "copy", "memory_format")), "to")
register(aten.to.dtype_layout, _to_dtype_layout, "to")
for _name in ["new_ones", "new_zeros", "new_empty"]:
    register(getattr(aten, _name).default, method(_name, "size", keywords=("dtype", "layout", "device", "pin_memory")), _name)
register(aten.new_full.default, method("new_full", "size", "fill_value", keywords=("dtype", "layout", "device", "pin_memory")), "new_full")

register(aten.lift_fresh_copy.default, method("clone"), "clone")
register(aten.repeat_interleave.self_int, method("repeat_interleave", "repeats", keywords=("dim", "output_size")), "repeat_interleave")
register(aten.pad.default, function(F.pad, "self", "pad", keywords=("mode", "value")), "nn.functional.pad")
register(aten.min.other, function(torch.min, "self", "other"), "min")
register(aten.max.other, function(torch.max, "self", "other"), "max")
register(aten.maximum.default, function(torch.maximum, "self", "other"), "maximum")
register(aten.minimum.default, function(torch.minimum, "self", "other"), "minimum")
register(aten.roll.default, method("roll", "shifts", "dims"), "roll")
register(aten.sort.default, method("sort", keywords=("dim", "descending")), "sort")
register(aten.histc.default, function(torch.histc, "self", keywords=("bins", "min", "max")), "histc")
register(aten.empty_like.default, function(torch.empty_like, "self", keywords=("dtype", "layout", "device", "pin_memory", "memory_format")), "empty_like")
register(aten.diff.default, function(torch.diff, "self", keywords=("n", "dim", "prepend", "append")), "diff")
register(aten.index_put_.default, method("index_put_", "indices", "values", keywords=("accumulate",)), "index_put")
register(aten.flip.default, method("flip", "dims"), "flip")
register(aten.expand_as.default, method("expand_as", "other"), "expand_as")
register(aten.view_as.default, method("view_as", "other"), "view_as")
register(aten.logical_and.default, function(torch.logical_and, "self", "other"), "logical_and")
register(aten.logical_or.default, function(torch.logical_or, "self", "other"), "logical_or")
register(aten.any.default, method("any"), "any")
register(aten.all.default, method("all"), "all")
register(aten.argmin.default, method("argmin", keywords=("dim", "keepdim")), "argmin")
register(aten.narrow.default, method("narrow", "dim", "start", "length"), "narrow")
register(aten.scatter.src, function(torch.scatter, "self", "dim", "index", "src"), "scatter")
register(aten.scatter.value, function(torch.scatter, "self", "dim", "index", "value"), "scatter")
register(aten.index_add.default, method("index_add", "dim", "index", "source", keywords=("alpha",)), "index_add")
register(aten.masked_scatter.default, method("masked_scatter", "mask", "source"), "masked_scatter")
register(aten.reshape_as.default, method("reshape_as", "other"), "reshape_as")
register(aten.tile.default, method("tile", "dims"), "tile")
register(aten.item.default, method("item"), "item")
register(aten.argsort.default, method("argsort", keywords=("dim", "descending")), "argsort")
register(aten.argsort.stable, function(torch.argsort, "self", keywords=("stable", "dim", "descending")), "argsort")
register(aten.var.dim, method("var", "dim", keywords=("unbiased", "keepdim")), "var")
register(aten.var.correction, method("var", keywords=("dim", "correction", "keepdim")), "var")
register(aten.bucketize.Tensor, function(torch.bucketize, "self", "boundaries", keywords=("out_int32", "right")), "bucketize")
register(aten.where.Scalar, function(torch.where, "condition", "self", "other"), "where")
register(aten.polar.default, function(torch.polar, "abs", "angle"), "polar")
register(aten.view_as_real.default, function(torch.view_as_real, "self"), "view_as_real")
register(aten.eye.default, function(torch.eye, "n", keywords=("dtype", "layout", "device", "pin_memory")), "eye")
register(aten.eye.m, function(torch.eye, "n", "m", keywords=("dtype", "layout", "device", "pin_memory")), "eye")
register(aten.scalar_tensor.default, function(torch.scalar_tensor, "s", keywords=("dtype", "layout", "device", "pin_memory")), "scalar_tensor")
register(aten.squeeze.default, method("squeeze"), "squeeze")
register(aten.max.default, method("max"), "max")
register(aten.min.default, method("min"), "min")
register(aten.all.dim, method("all", "dim", keywords=("keepdim",)), "all")
register(aten.any.dim, method("any", "dim", keywords=("keepdim",)), "any")
register(aten.concat.default, function(torch.concat, "tensors", keywords=("dim",)), "cat")
register(aten.unfold.default, method("unfold", "dimension", "size", "step"), "unfold")
register(aten.linspace.default, function(torch.linspace, "start", "end", "steps", keywords=("dtype", "layout", "device", "pin_memory")), "linspace")
register(aten.nonzero.default, method("nonzero"), "nonzero")
register(aten.erfinv.default, function(torch.erfinv, "self"), "erfinv")
register(aten.linalg_vector_norm.default, function(torch.linalg.vector_norm, "self", keywords=("ord", "dim", "keepdim", "dtype")), "linalg.vector_norm")

# in-place methods: the same kernel as their overload, on the same tensor
for _name, _positional in [
    ("add_", ("other",)), ("sub_", ("other",)), ("mul_", ("other",)), ("div_", ("other",)),
    ("copy_", ("src",)), ("fill_", ("value",)), ("masked_fill_", ("mask", "value")), ("zero_", ()),
    ("relu_", ()), ("sigmoid_", ()), ("tanh_", ()), ("clamp_", ()), ("neg_", ()), ("exp_", ()),
    ("detach_", ()), ("masked_scatter_", ("mask", "source")), ("index_fill_", ("dim", "index", "value")),
    ("scatter_", ("dim", "index", "value")), ("scatter_", ("dim", "index", "src")), ("floor_divide_", ("other",)),
]:
    for _overload in getattr(aten, _name).overloads():
        _op = getattr(getattr(aten, _name), _overload)
        _names = [a.name for a in _op._schema.arguments]
        _keywords = ("alpha", "non_blocking", "min", "max", "rounding_mode")
        _required = {a.name for a in _op._schema.arguments[1:] if not a.has_default_value()}
        if str(_op._schema.arguments[0].type) != "Tensor" or not set(_positional) <= set(_names) or _required - {*_positional, *_keywords}:
            continue  # overloads on lists (`add_.t`) or with other arguments (`reduce=`) are not this method
        register(_op, method(_name, *_positional, keywords=_keywords), _name.rstrip("_"))
