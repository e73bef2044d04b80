"""Rebuilding the module tree as source: constructor calls for `torch.nn` modules.

A built-in module is written as the constructor call a person would write
(`torch.nn.Conv2d(in_channels=3, out_channels=8, kernel_size=3, padding=1)`), never
pickled. The arguments come from a per-class table where attributes do not match the
constructor's signature, and from the signature otherwise; a module is built from
those arguments (once per configuration of an export) and the original compared with
it (every non-tensor attribute, recursively, and every parameter's and buffer's shape
and dtype) before the call is used. A module that cannot be rebuilt faithfully is
reported with the first difference found.
"""

from __future__ import annotations

import functools
import inspect
import math
import re
import types
import warnings
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn
from torch.nn.parameter import is_lazy
from torch.nn.utils import parametrizations as parametrizations_api
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import _SpectralNorm, _WeightNorm
from torch.nn.utils.spectral_norm import SpectralNorm
from torch.nn.utils.weight_norm import WeightNorm
from torch.utils.hooks import RemovableHandle

from fxgen.pyexpr import is_default
from fxgen.reuse import EXACT_KINDS, Unkeyable, argument_key

__all__ = [
    "Candidates",
    "Constructor",
    "Wrapper",
    "EmptyTensor",
    "constructor_for",
    "constructor_key",
    "is_builtin",
    "is_container",
    "difference",
]

#: forward pre-hooks that a rebuilt module gets back from its constructor call
REBUILT_HOOKS = (WeightNorm, SpectralNorm)

#: built-in modules whose forward takes one tensor and returns one tensor
SINGLE_TENSOR_MODULES = (
    nn.Linear, nn.Identity, nn.Flatten, nn.Unflatten, nn.Embedding,
    nn.modules.conv._ConvNd, nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.RMSNorm,
    nn.LocalResponseNorm, nn.modules.dropout._DropoutNd,
    nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.Mish, nn.Tanh, nn.Sigmoid, nn.Hardswish, nn.Hardsigmoid,
    nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.Softplus, nn.Softsign, nn.Softmax, nn.LogSoftmax,
    nn.Softmin, nn.PReLU, nn.Hardtanh, nn.Threshold, nn.Tanhshrink, nn.GLU, nn.LogSigmoid,
    nn.Hardshrink, nn.Softshrink,
    nn.modules.pooling._AvgPoolNd, nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._LPPoolNd,
    nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd,  # without return_indices
    nn.Upsample, nn.PixelShuffle, nn.PixelUnshuffle, nn.modules.padding._ConstantPadNd,
    nn.modules.padding._ReflectionPadNd, nn.modules.padding._ReplicationPadNd, nn.ZeroPad2d,
    nn.Unfold, nn.Fold, nn.ChannelShuffle,
)

CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict, nn.ParameterList, nn.ParameterDict)

# Attributes every nn.Module has; compared separately (tensors, children) or not at all
# (hooks are checked by capture, training mode is restored by `load()`).
_MODULE_BOOKKEEPING = frozenset(vars(nn.Module())) | {"_compiled_call_impl"}

#: attributes libraries set on modules for their own bookkeeping, never read by forward
#: (transformers marks initialised modules with `_is_hf_initialized`; torch.jit.script
#: adds `__overloads__` to every module it scripts)
_LIBRARY_BOOKKEEPING = frozenset({"_is_hf_initialized", "__overloads__"})


#: modules built to check constructor calls against, by configuration (`_candidate_key`)
Candidates = dict[tuple[Any, ...], nn.Module | str]


@dataclass
class Wrapper:
    """A torch function applied to the constructed module, e.g. `weight_norm(m, dim=0)`."""

    function: Callable[..., nn.Module]
    kwargs: dict[str, Any]


@dataclass
class Constructor:
    """A verified constructor call that rebuilds one module."""

    cls: type
    #: keyword arguments in signature order; an nn.Module value is itself a Constructor
    kwargs: dict[str, Any]
    #: parameter name -> requires_grad, where it differs from what the constructor gives
    requires_grad: dict[str, bool] = field(default_factory=dict)
    #: applied in order to the constructed module (parametrizations such as weight_norm)
    wrappers: list[Wrapper] = field(default_factory=list)


def is_builtin(module: nn.Module) -> bool:
    """Whether the module's class is one of torch's own (`torch.nn`, `torch.ao.nn`)."""
    name = type(module).__module__
    return name.startswith("torch.nn.") or name.startswith("torch.ao.nn.")


def is_container(module: nn.Module) -> bool:
    return type(module) in CONTAINERS


def constructor_for(module: nn.Module, candidates: Candidates | None = None) -> Constructor | str:
    """The constructor call that rebuilds `module`, or why there is none (`candidates`:
    modules built for earlier calls, by configuration, shared by the calls of one export)."""
    tensors = _own_tensors(module)
    if any(is_lazy(t) for t in tensors):
        return "it has uninitialized (lazy) parameters"
    wrappers = _wrappers(module)
    if isinstance(wrappers, str):
        return wrappers
    cls = type(module).__bases__[0] if parametrize.is_parametrized(module) else type(module)
    signature = _signature(cls)
    if signature is None:
        return f"the constructor of {cls.__qualname__} has no inspectable signature"
    kwargs: dict[str, Any] = {}
    table = _TABLE.get(cls, {})
    for name, param in signature.items():
        if name in table:
            value = table[name](module)
        elif name == "dtype":
            value = _dtype_argument(tensors)
        elif name == "device" or (name.startswith("_") and getattr(module, name, None) is None):
            continue  # private arguments count only where they left a tensor (`_random_samples`)
        elif hasattr(module, name):
            value = _argument_from_attribute(module, name, param)
        elif param.default is inspect.Parameter.empty:
            return f"{cls.__qualname__} has no attribute for the required argument {name!r}"
        else:
            continue
        if isinstance(value, _Unrebuildable):
            return value.reason
        kwargs[name] = value
    shown = _shown_arguments(module, signature, kwargs)
    attempts = [_simplified(kwargs), kwargs] if _simplified(kwargs) != kwargs else [kwargs]
    reason = ""
    for attempt in attempts:
        candidate = _candidate(cls, attempt, wrappers, {} if candidates is None else candidates)
        if isinstance(candidate, str):
            reason = candidate
            continue
        diff = difference(module, candidate)
        if diff is None:
            kept = {k: v for k, v in attempt.items() if k in shown or not is_default(v, signature[k].default)}
            return Constructor(cls, kept, _requires_grad_changes(module, candidate), wrappers)
        reason = f"a module rebuilt from {_call_text(cls, attempt)} differs: {diff}"
    return reason


# -- argument extraction ------------------------------------------------------------


class _Unrebuildable:
    def __init__(self, reason: str) -> None:
        self.reason = reason


@functools.lru_cache(maxsize=1024)
def _signature(cls: type) -> dict[str, inspect.Parameter] | None:
    """The constructor's arguments (cached: a model's leaves are a few classes, each
    asked about again and again); the caller only reads the result."""
    init = _INIT_OVERRIDES.get(cls, cls.__init__)
    try:
        params = inspect.signature(init).parameters
    except (TypeError, ValueError):
        return None
    skip = _SKIP_ARGUMENTS.get(cls, set())
    return {
        name: p
        for name, p in list(params.items())[1:]
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and name not in skip
    }


def _argument_from_attribute(module: nn.Module, name: str, param: inspect.Parameter) -> Any:
    value = getattr(module, name)
    if isinstance(value, torch.Tensor) or value is None:
        if isinstance(param.default, bool):
            return value is not None  # `bias=True` creates the `bias` parameter
        if value is None:
            return None
        if name in module._buffers:
            # e.g. a loss's `weight`: an uninitialised placeholder, restored from the state dict
            return EmptyTensor(tuple(value.shape), value.dtype)
        return _Unrebuildable(f"argument {name!r} of {type(module).__qualname__} is a tensor")
    if isinstance(value, nn.Module):
        nested = constructor_for(value)
        if isinstance(nested, str):
            return _Unrebuildable(f"argument {name!r}: {nested}")
        return nested
    return value


@dataclass(frozen=True)
class EmptyTensor:
    """`torch.empty(shape, dtype=...)` as a constructor argument."""

    shape: tuple[int, ...]
    dtype: torch.dtype


def _dtype_argument(tensors: list[torch.Tensor]) -> torch.dtype | None:
    dtypes = {t.dtype for t in tensors if t.is_floating_point()}
    if len(dtypes) == 1:
        (dtype,) = dtypes
        return None if dtype == torch.get_default_dtype() else dtype
    return None


def _own_tensors(module: nn.Module) -> list[torch.Tensor]:
    """The module's parameters, then its buffers (its children's too), each once."""
    return [t for _, t in _named_tensors(module, "_parameters") + _named_tensors(module, "_buffers")]


def _named_tensors(module: nn.Module, kind: str) -> list[tuple[str, torch.Tensor]]:
    """`module.named_parameters()` (kind "_parameters") or `named_buffers()` ("_buffers"):
    each tensor once, under its first name; read directly where the module has no
    children, as most leaves (torch's generators cost more than the rest of a check)."""
    if module._modules:
        return list(module.named_parameters() if kind == "_parameters" else module.named_buffers())
    seen: set[int] = set()
    named = []
    for name, tensor in getattr(module, kind).items():
        if tensor is not None and id(tensor) not in seen:
            seen.add(id(tensor))
            named.append((name, tensor))
    return named


def _shown_arguments(module: nn.Module, signature: dict[str, inspect.Parameter], kwargs: dict[str, Any]) -> set[str]:
    """Required arguments, plus those the module's own `repr` shows as `name=...`."""
    try:
        extra = module.extra_repr()
    except Exception:
        extra = ""
    shown = {name for name, p in signature.items() if p.default is inspect.Parameter.empty}
    return shown | {name for name in kwargs if re.search(rf"\b{re.escape(name)}=", extra)}


def _simplified(kwargs: dict[str, Any]) -> dict[str, Any]:
    """`kernel_size=(3, 3)` -> `kernel_size=3`: a tuple of equal ints as one int."""
    out = {}
    for name, value in kwargs.items():
        if type(value) is tuple and value and all(type(v) is int and v == value[0] for v in value):
            value = value[0]
        out[name] = value
    return out


def _candidate(cls: type, kwargs: dict[str, Any], wrappers: list[Wrapper], candidates: Candidates) -> nn.Module | str:
    """`_build(cls, kwargs, wrappers)`, made once per configuration in `candidates`: a
    model's leaves are mostly a few configurations (`Linear(8, 8)` again and again), and
    building one costs several times what comparing the original with it does. The
    candidate is only read (compared with each original), never changed; one built on the
    CPU (where the meta device fails) is not kept, since it holds real tensors."""
    key = _candidate_key(cls, kwargs, wrappers)
    found = candidates.get(key) if key is not None else None
    if found is not None:
        return found
    built = _build(cls, kwargs, wrappers)
    if key is not None and (isinstance(built, str) or all(t.is_meta for t in _own_tensors(built))):
        candidates[key] = built
    return built


def _candidate_key(cls: type, kwargs: dict[str, Any], wrappers: list[Wrapper]) -> tuple[Any, ...] | None:
    """Everything `_build` reads, exactly, or None where an argument has no exact key."""
    try:
        key = (torch.get_default_dtype(), constructor_key(Constructor(cls, kwargs, {}, wrappers)))
        hash(key)
    except (Unkeyable, TypeError):  # TypeError: unhashable
        return None
    return key


def constructor_key(value: Any) -> Any:
    """A constructor call (or an argument of one) as a key: equal keys, equal calls
    (plain literals by type and value, floats by repr: `0.0` and `-0.0` apart); raises
    `Unkeyable` for an argument with no exact key."""
    if isinstance(value, Constructor):
        return (
            Constructor, value.cls, _arguments_key(value.kwargs), tuple(value.requires_grad.items()),
            tuple([(w.function, _arguments_key(w.kwargs)) for w in value.wrappers]),
        )
    if isinstance(value, EmptyTensor):
        return (EmptyTensor, tuple(value.shape), value.dtype)
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType)):
        return (type(value), value)  # by identity (`activation=F.relu`): one function, one text
    return argument_key(value, {})


def _arguments_key(kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """A constructor's keyword arguments as a key (plain literals keyed in place: a
    model's leaves are mostly `Linear(8, 8)` again and again)."""
    return tuple([(k, (type(v), v) if type(v) in EXACT_KINDS else constructor_key(v)) for k, v in kwargs.items()])


def _build(cls: type, kwargs: dict[str, Any], wrappers: list[Wrapper] = []) -> nn.Module | str:
    real = {k: _materialise(v) for k, v in kwargs.items()}
    errors = []
    for device in ("meta", "cpu"):
        try:
            with warnings.catch_warnings(), torch.device(device):
                warnings.simplefilter("ignore")
                module = cls(**real)
                for wrapper in wrappers:
                    module = wrapper.function(module, **wrapper.kwargs)
                return module
        except Exception as exc:  # a constructor may reject what we passed
            errors.append(f"{type(exc).__name__}: {exc}")
    return f"{_call_text(cls, kwargs)} fails: {errors[-1]}"


def _materialise(value: Any) -> Any:
    if isinstance(value, Constructor):
        built = _build(value.cls, value.kwargs, value.wrappers)
        if isinstance(built, str):
            raise ValueError(built)
        return built
    if isinstance(value, EmptyTensor):
        return torch.empty(value.shape, dtype=value.dtype)
    return value


def _call_text(cls: type, kwargs: dict[str, Any]) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return f"{cls.__name__}({args})"


def _requires_grad_changes(original: nn.Module, candidate: nn.Module) -> dict[str, bool]:
    built = dict(_named_tensors(candidate, "_parameters"))
    return {
        name: p.requires_grad
        for name, p in _named_tensors(original, "_parameters")
        if name in built and built[name].requires_grad != p.requires_grad
    }


# -- faithfulness check ---------------------------------------------------------------


def difference(original: nn.Module, candidate: nn.Module, path: str = "") -> str | None:
    """The first way `candidate` differs from `original`, or None when they match.

    Compares the class, every non-tensor attribute (recursively), every parameter's and
    buffer's name, shape and dtype, which buffers persist, and every child module.
    """
    where = path or type(original).__name__
    if _class_of(original) is not _class_of(candidate):
        return f"{where} is {type(candidate).__name__}, not {type(original).__name__}"
    hooks = [type(h) for h in original._forward_pre_hooks.values()]
    if hooks != [type(h) for h in candidate._forward_pre_hooks.values()]:
        return f"{where} has forward pre-hooks {hooks}"
    ignored = _MODULE_BOOKKEEPING | _LIBRARY_BOOKKEEPING
    a_vars = {k: v for k, v in vars(original).items() if k not in ignored}
    b_vars = {k: v for k, v in vars(candidate).items() if k not in ignored}
    if a_vars.keys() != b_vars.keys():
        return f"{where} has attributes {sorted(b_vars)} instead of {sorted(a_vars)}"
    for key, value in a_vars.items():
        diff = _value_difference(value, b_vars[key], f"{where}.{key}")
        if diff:
            return diff
    for kind in ("_parameters", "_buffers"):
        a, b = getattr(original, kind), getattr(candidate, kind)
        if list(a) != list(b):
            return f"{where} has {kind[1:]} {list(b)} instead of {list(a)}"
        for name in a:
            diff = _value_difference(a[name], b[name], f"{where}.{name}")
            if diff:
                return diff
    if original._non_persistent_buffers_set != candidate._non_persistent_buffers_set:
        return f"{where} has different non-persistent buffers"
    if list(original._modules) != list(candidate._modules):
        return f"{where} has children {list(candidate._modules)} instead of {list(original._modules)}"
    for name, child in original._modules.items():
        other = candidate._modules[name]
        if (child is None) != (other is None):
            return f"{where}.{name} is {other!r} instead of {child!r}"
        if child is not None:
            diff = difference(child, other, f"{where}.{name}")
            if diff:
                return diff
    return None


def _class_of(module: nn.Module) -> type:
    """The class, seeing through the class that parametrize creates per module."""
    return type(module).__bases__[0] if parametrize.is_parametrized(module) else type(module)


#: attribute values compared by `==` alone (most of a module's attributes)
_PLAIN = frozenset({int, str, bool, type(None), bytes})


def _value_difference(a: Any, b: Any, where: str) -> str | None:
    kind = type(a)
    if kind in _PLAIN and type(b) is kind:  # the common case first: what the rules below give it
        return None if a == b else f"{where} is {b!r}, not {a!r}"
    if isinstance(a, RemovableHandle) and isinstance(b, RemovableHandle):
        return None  # the handle of a hook the constructor registers (lazy modules)
    if isinstance(a, weakref.ref) and isinstance(b, weakref.ref):
        a, b = a(), b()
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
            return f"{where} is {type(b).__name__}, not {type(a).__name__}"
        if a.shape != b.shape or a.dtype != b.dtype or type(a) is not type(b):
            return f"{where} is {type(b).__name__}{tuple(b.shape)} {b.dtype}, not {tuple(a.shape)} {a.dtype}"
        return None
    if isinstance(a, nn.Module) and isinstance(b, nn.Module):
        return difference(a, b, where)
    if type(a) is not type(b):
        return f"{where} is {b!r}, not {a!r}"
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return f"{where} has {len(b)} items, not {len(a)}"
        for i, (x, y) in enumerate(zip(a, b)):
            diff = _value_difference(x, y, f"{where}[{i}]")
            if diff:
                return diff
        return None
    if isinstance(a, dict):
        if list(a) != list(b):
            return f"{where} has keys {list(b)}, not {list(a)}"
        for key in a:
            diff = _value_difference(a[key], b[key], f"{where}[{key!r}]")
            if diff:
                return diff
        return None
    if isinstance(a, float) and math.isnan(a) and math.isnan(b):
        return None
    if callable(a) and not hasattr(a, "__dict__") or inspect.isroutine(a) or isinstance(a, type):
        return None if a is b else f"{where} is {b!r}, not {a!r}"
    try:
        equal = a == b
    except Exception:
        equal = False
    if equal is True:
        return None
    if hasattr(a, "__dict__") and type(a).__eq__ is object.__eq__:
        return _value_difference(vars(a), vars(b), where)
    return f"{where} is {b!r}, not {a!r}"


# -- parametrizations ---------------------------------------------------------------------


def _wrappers(module: nn.Module) -> list[Wrapper] | str:
    """The weight_norm/spectral_norm calls that give `module` its parametrizations."""
    wrappers = []
    for hook in module._forward_pre_hooks.values():
        if isinstance(hook, WeightNorm):
            wrappers.append(Wrapper(torch.nn.utils.weight_norm, {"name": hook.name, "dim": hook.dim}))
        elif isinstance(hook, SpectralNorm):
            kwargs = {"name": hook.name, "n_power_iterations": hook.n_power_iterations, "eps": hook.eps, "dim": hook.dim}
            wrappers.append(Wrapper(torch.nn.utils.spectral_norm, kwargs))
    if parametrize.is_parametrized(module):
        for name, parametrizations in module.parametrizations.items():
            for p in parametrizations:
                if type(p) is _WeightNorm:
                    wrappers.append(Wrapper(parametrizations_api.weight_norm, {"name": name, "dim": p.dim}))
                elif type(p) is _SpectralNorm:
                    kwargs = {"name": name, "n_power_iterations": p.n_power_iterations, "eps": p.eps, "dim": p.dim}
                    wrappers.append(Wrapper(parametrizations_api.spectral_norm, kwargs))
                else:
                    return f"its parametrization {type(p).__qualname__} has no known constructor"
    for wrapper in wrappers:
        defaults = inspect.signature(wrapper.function).parameters
        wrapper.kwargs = {k: v for k, v in wrapper.kwargs.items() if not is_default(v, defaults[k].default)}
    return wrappers


# -- the per-class table ------------------------------------------------------------------
# Only where attributes do not mirror the constructor's arguments.


def _layer_args(layer: Callable[[nn.Module], nn.Module]) -> dict[str, Callable[[nn.Module], Any]]:
    """Arguments of the Transformer*Layer constructors, read from the built layer."""
    return {
        "d_model": lambda m: layer(m).self_attn.embed_dim,
        "nhead": lambda m: layer(m).self_attn.num_heads,
        "dim_feedforward": lambda m: layer(m).linear1.out_features,
        "dropout": lambda m: layer(m).dropout.p,
        "activation": lambda m: _activation(layer(m).activation),
        "layer_norm_eps": lambda m: layer(m).norm1.eps,
        "batch_first": lambda m: layer(m).self_attn.batch_first,
        "norm_first": lambda m: layer(m).norm_first,
        "bias": lambda m: layer(m).linear1.bias is not None,
    }


def _activation(value: Any) -> Any:
    if isinstance(value, nn.Module):
        nested = constructor_for(value)
        return _Unrebuildable(f"activation: {nested}") if isinstance(nested, str) else nested
    return value


def _nested(module: nn.Module | None) -> Any:
    if module is None:
        return None
    nested = constructor_for(module)
    return _Unrebuildable(nested) if isinstance(nested, str) else nested


_TABLE: dict[type, dict[str, Callable[[nn.Module], Any]]] = {
    nn.MultiheadAttention: {
        "bias": lambda m: m.in_proj_bias is not None,
        "add_bias_kv": lambda m: m.bias_k is not None,
    },
    nn.TransformerEncoderLayer: _layer_args(lambda m: m),
    nn.TransformerDecoderLayer: _layer_args(lambda m: m),
    nn.TransformerEncoder: {
        "encoder_layer": lambda m: _nested(m.layers[0]),
        "num_layers": lambda m: len(m.layers),
        "norm": lambda m: _nested(m.norm),
    },
    nn.TransformerDecoder: {
        "decoder_layer": lambda m: _nested(m.layers[0]),
        "num_layers": lambda m: len(m.layers),
        "norm": lambda m: _nested(m.norm),
    },
    nn.Transformer: {
        **_layer_args(lambda m: m.encoder.layers[0]),
        "num_encoder_layers": lambda m: len(m.encoder.layers),
        "num_decoder_layers": lambda m: len(m.decoder.layers),
        "custom_encoder": lambda m: None,
        "custom_decoder": lambda m: None,
    },
}
if hasattr(nn, "LinearCrossEntropyLoss"):  # torch >= 2.11: its projection holds these two
    _TABLE[nn.LinearCrossEntropyLoss] = {
        "in_features": lambda m: m.linear.in_features,
        "bias": lambda m: m.linear.bias is not None,
    }


def _rnn_signature(  # type: ignore[no-untyped-def]
    self,
    input_size,
    hidden_size,
    num_layers=1,
    nonlinearity="tanh",
    bias=True,
    batch_first=False,
    dropout=0.0,
    bidirectional=False,
    device=None,
    dtype=None,
):
    """The documented signature of `nn.RNN`, whose own `__init__` is `(*args, **kwargs)`."""


# Classes whose own __init__ is `(*args, **kwargs)`: the signature they document.
_INIT_OVERRIDES: dict[type, Callable[..., Any]] = {
    nn.LSTM: nn.RNNBase.__init__,
    nn.GRU: nn.RNNBase.__init__,
    nn.RNN: _rnn_signature,
}
_SKIP_ARGUMENTS: dict[type, set[str]] = {nn.LSTM: {"mode"}, nn.GRU: {"mode", "proj_size"}}
