"""Rebuilding torch.nn modules from constructor calls, checked against the original."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrizations

import fxgen.modules
from fxgen.modules import Constructor, constructor_for, difference
from fxgen.pyexpr import Expr, ExprWriter, Imports
from fxgen.tree import ConstructorCache, build_tree

MODULES = {
    "linear": lambda: nn.Linear(3, 4, bias=False),
    "linear_double": lambda: nn.Linear(3, 4, dtype=torch.float64),
    "bilinear": lambda: nn.Bilinear(2, 3, 4),
    "conv1d": lambda: nn.Conv1d(2, 4, 3, stride=2, padding="valid", dilation=2),
    "conv2d": lambda: nn.Conv2d(3, 6, (3, 5), padding=(1, 2), groups=3, padding_mode="reflect"),
    "conv3d": lambda: nn.Conv3d(2, 2, 3, padding="same"),
    "conv_transpose2d": lambda: nn.ConvTranspose2d(4, 2, 3, stride=2, output_padding=1),
    "batchnorm1d": lambda: nn.BatchNorm1d(5, affine=False, track_running_stats=False),
    "batchnorm2d": lambda: nn.BatchNorm2d(5, eps=1e-3, momentum=None),
    "instancenorm": lambda: nn.InstanceNorm2d(3, affine=True),
    "groupnorm": lambda: nn.GroupNorm(2, 4),
    "layernorm": lambda: nn.LayerNorm([4, 5], elementwise_affine=False),
    "rmsnorm": lambda: nn.RMSNorm(6, eps=1e-6),
    "embedding": lambda: nn.Embedding(10, 3, padding_idx=2, max_norm=1.0),
    "embedding_frozen": lambda: nn.Embedding.from_pretrained(torch.randn(5, 2)),
    "embedding_bag": lambda: nn.EmbeddingBag(10, 3, mode="max"),
    "dropout": lambda: nn.Dropout(0.25, inplace=True),
    "relu": lambda: nn.ReLU(),
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "gelu": lambda: nn.GELU(approximate="tanh"),
    "prelu": lambda: nn.PReLU(3, init=0.1),
    "softmax": lambda: nn.Softmax(dim=1),
    "hardtanh": lambda: nn.Hardtanh(-2.0, 2.0),
    "maxpool2d": lambda: nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
    "avgpool2d": lambda: nn.AvgPool2d(2, count_include_pad=False),
    "adaptive": lambda: nn.AdaptiveAvgPool2d((None, 3)),
    "flatten": lambda: nn.Flatten(0, -2),
    "unflatten": lambda: nn.Unflatten(1, (2, 3)),
    "upsample": lambda: nn.Upsample(scale_factor=2.0, mode="bilinear", align_corners=False),
    "pixel_shuffle": lambda: nn.PixelShuffle(2),
    "identity": lambda: nn.Identity(),
    "lstm": lambda: nn.LSTM(4, 8, num_layers=2, dropout=0.1, bidirectional=True, proj_size=3),
    "gru": lambda: nn.GRU(4, 8, batch_first=True, bias=False),
    "rnn_relu": lambda: nn.RNN(4, 8, nonlinearity="relu"),
    "lstm_cell": lambda: nn.LSTMCell(3, 5),
    "mha": lambda: nn.MultiheadAttention(8, 2, dropout=0.1, bias=False, add_bias_kv=True, kdim=4, vdim=6),
    "encoder_layer": lambda: nn.TransformerEncoderLayer(8, 2, 16, activation="gelu", norm_first=True),
    "decoder_layer": lambda: nn.TransformerDecoderLayer(8, 2, 16, batch_first=True, bias=False),
    "encoder": lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 3, norm=nn.LayerNorm(8), enable_nested_tensor=False),
    "transformer": lambda: nn.Transformer(8, 2, 1, 1, 16),
    "cross_entropy": lambda: nn.CrossEntropyLoss(weight=torch.ones(3), label_smoothing=0.1),
    "weight_norm": lambda: parametrizations.weight_norm(nn.Linear(3, 3), dim=1),
    "spectral_norm": lambda: parametrizations.spectral_norm(nn.Conv2d(2, 2, 3), n_power_iterations=2),
    "legacy_weight_norm": lambda: torch.nn.utils.weight_norm(nn.Linear(3, 3)),
    "legacy_spectral_norm": lambda: torch.nn.utils.spectral_norm(nn.Linear(3, 3)),
}


def rebuild_source(module: nn.Module) -> tuple[str, Imports]:
    holder = nn.Module()
    holder.m = module
    imports = Imports()
    writer = ExprWriter(imports, lambda node: Expr(node.name), lambda name: False)
    tree = build_tree(holder, writer, ConstructorCache(), numbered_modules_are_lists=False)
    (statement,) = [s for s in tree.init if s.kind == "module"]
    return statement.code.split(" = ", 1)[1], imports


@pytest.mark.parametrize("name", sorted(MODULES))
def test_builtin_module_is_rebuilt_by_its_constructor(name):
    torch.manual_seed(0)
    original = MODULES[name]()
    assert isinstance(constructor_for(original), Constructor), constructor_for(original)
    source, imports = rebuild_source(original)
    namespace: dict = {}
    exec("\n".join(imports.lines()), namespace)
    rebuilt = eval(source, namespace)
    assert difference(original, rebuilt) is None
    assert repr(rebuilt) == repr(original)
    assert "torch.empty" not in source or name == "cross_entropy"


def test_constructor_arguments_read_like_the_repr():
    assert rebuild_source(nn.Linear(4, 5))[0] == "torch.nn.Linear(in_features=4, out_features=5, bias=True)"
    assert rebuild_source(nn.Conv2d(3, 8, 3, padding=1))[0] == (
        "torch.nn.Conv2d(in_channels=3, out_channels=8, kernel_size=3, stride=1, padding=1)"
    )
    assert rebuild_source(nn.ReLU())[0] == "torch.nn.ReLU()"


def test_a_changed_attribute_is_found():
    module = nn.Linear(3, 3)
    module.extra_setting = "changed"
    reason = constructor_for(module)
    assert isinstance(reason, str) and "extra_setting" in reason


def test_difference_names_what_differs():
    a = nn.TransformerEncoderLayer(8, 2, batch_first=True)
    b = nn.TransformerEncoderLayer(8, 2, batch_first=False)
    assert "batch_first" in difference(a, b)
    assert "dtype" in difference(nn.Linear(2, 2), nn.Linear(2, 2, dtype=torch.float64)) or "float64" in difference(
        nn.Linear(2, 2), nn.Linear(2, 2, dtype=torch.float64)
    )
    assert difference(nn.GELU(), nn.GELU(approximate="tanh")) is not None


def test_frozen_parameters_are_recorded():
    module = nn.Linear(2, 2)
    module.bias.requires_grad_(False)
    constructor = constructor_for(module)
    assert constructor.requires_grad == {"bias": False}


def test_equal_constructors_share_their_text_and_only_they_do():
    holder = nn.Module()
    leaves = {
        "a": nn.Linear(4, 4), "b": nn.Linear(4, 4), "c": nn.Linear(4, 4, bias=False), "d": nn.Linear(4, 5),
        "e": nn.LeakyReLU(0.0), "f": nn.LeakyReLU(-0.0), "g": nn.ELU(1.0), "h": nn.ELU(2.0),
        "i": nn.Dropout(0.5), "j": nn.Dropout(0.5, inplace=True),
    }
    for name, leaf in leaves.items():
        holder.add_module(name, leaf)
    writer = ExprWriter(Imports(), lambda node: Expr(node.name), lambda name: False)
    tree = build_tree(holder, writer, ConstructorCache(), numbered_modules_are_lists=False)
    built = {s.path: s.code.split(" = ", 1)[1] for s in tree.init if s.kind == "module"}
    assert built == {name: rebuild_source(leaf)[0] for name, leaf in leaves.items()}
    assert built["e"] != built["f"] and "-0.0" in built["f"]


def test_one_candidate_is_built_per_configuration_and_each_module_is_still_checked(monkeypatch):
    """Modules of one configuration are checked against one module built for it; what
    differs in one of them is still found, and a candidate is kept only per configuration
    (floats by their text: 0.0 and -0.0 build different modules)."""
    built = []
    build = fxgen.modules._build
    monkeypatch.setattr(fxgen.modules, "_build", lambda cls, *args: built.append(cls) or build(cls, *args))
    cache = ConstructorCache()
    plain, frozen, changed, widened = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 4)
    frozen.weight.requires_grad_(False)
    changed.extra_setting = "changed"
    widened.weight = nn.Parameter(torch.randn(4, 5))
    results = [cache.get(m) for m in (plain, frozen, changed, widened, nn.LeakyReLU(0.0), nn.LeakyReLU(-0.0))]
    assert results[0] == Constructor(nn.Linear, {"in_features": 4, "out_features": 4, "bias": True})
    assert results[1].requires_grad == {"weight": False} and results[0].requires_grad == {}
    assert isinstance(results[2], str) and "extra_setting" in results[2]
    assert isinstance(results[3], str) and "(4, 5)" in results[3]
    assert results[4].kwargs["negative_slope"] == 0.0 and str(results[5].kwargs["negative_slope"]) == "-0.0"
    assert built == [nn.Linear, nn.LeakyReLU, nn.LeakyReLU]
    cache.copy().get(nn.Linear(4, 4))  # a copy keeps what was built
    assert len(built) == 3
    layers = [nn.TransformerEncoderLayer(8, 2) for _ in range(2)] + [nn.TransformerEncoderLayer(8, 2, activation="gelu")]
    relu, _, gelu = [cache.get(layer) for layer in layers]  # a function argument keyed by identity
    assert built[3:] == [nn.TransformerEncoderLayer] * 2 and relu.kwargs.get("activation") is None
    assert gelu.kwargs["activation"] is torch.nn.functional.gelu


def test_a_candidate_depends_on_the_default_dtype():
    """A constructor builds in the default dtype, so a candidate made under another one is
    not reused: the float64 Linear is checked against a float64 build and needs no `dtype`."""
    cache = ConstructorCache()
    assert cache.get(nn.Linear(2, 2)).kwargs.get("dtype") is None
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        assert cache.get(nn.Linear(2, 2)).kwargs.get("dtype") is None
        assert cache.get(nn.Linear(2, 2, dtype=torch.float32)).kwargs["dtype"] == torch.float32
    finally:
        torch.set_default_dtype(previous)
