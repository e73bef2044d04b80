"""The functional style: forward(state, *inputs) over the state dict, usable with torch.func."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import fxgen
from fxgen.functional import APPROXIMATE, TABLE
from fxgen.loader import import_isolated
from fxgen.verify import first_difference
from tests.zoo import ZOO


def _functional(model, inputs, tmp_path, **options):
    result = fxgen.export(model, tmp_path / "model_gen.py", style="functional", example_inputs=inputs, **options)
    return import_isolated(result.code_path)


def _floating(state):
    return {k: v for k, v in state.items() if v.is_floating_point()}


@pytest.mark.parametrize("name", ["mlp", "cnn"])
@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_grad_of_the_state_equals_autograd_on_the_original(name, training, tmp_path):
    model, (x,) = ZOO[name]()
    model.train(training)
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0  # the same loss on both sides without sharing a generator
    generated = _functional(copy.deepcopy(model), (x,), tmp_path)
    state = generated.load_state()
    target = torch.arange(x.shape[0]) % 4

    def loss(trainable, fixed):
        return F.cross_entropy(generated.forward({**fixed, **trainable}, x), target)

    trainable = _floating(state)
    fixed = {k: v for k, v in state.items() if k not in trainable}
    grads = torch.func.grad(loss)(trainable, fixed)

    F.cross_entropy(model(x), target).backward()
    expected = {name: p.grad for name, p in model.named_parameters()}
    assert set(grads) == set(expected) | {k for k, v in model.state_dict().items() if v.is_floating_point()}
    for key, value in expected.items():
        assert first_difference(value, grads[key], key) is None
    for key in set(grads) - set(expected):  # buffers (BatchNorm statistics) get no gradient
        assert not grads[key].any()


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_vmap_over_a_batch_matches_the_batched_call(name, tmp_path):
    model, (x,) = ZOO[name]()
    model.eval()
    generated = _functional(model, (x,), tmp_path)
    state = generated.load_state()
    samples = x.unsqueeze(1)  # a batch of single-sample batches
    mapped = torch.func.vmap(generated.forward, in_dims=(None, 0))(state, samples)
    with torch.no_grad():
        expected = model(x)
    torch.testing.assert_close(mapped.squeeze(1), expected)


def test_state_is_the_state_dict_and_constants_live_in_the_file(tmp_path):
    model, inputs = ZOO["buffers"]()
    generated = _functional(model, inputs, tmp_path)
    state = generated.load_state()
    assert list(state) == list(model.state_dict())
    for key, value in model.state_dict().items():
        assert torch.equal(state[key], value)
    text = (tmp_path / "model_gen.py").read_text()
    assert 'constants["offset"]' in text and 'state["running"]' in text
    assert "nn.Module" not in text
    non_persistent = set(dict(model.named_buffers())) - set(model.state_dict())
    assert non_persistent and set(generated.load_constants()) >= non_persistent


def test_every_table_entry_writes_the_functional_call(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, stride=2, padding=1, dilation=1, groups=1),
        nn.BatchNorm2d(4).eval(),
        nn.ReLU(),
        nn.MaxPool2d(2, stride=1),
        nn.GroupNorm(2, 4),
        nn.SiLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Identity(),
        nn.Linear(4, 6),
        nn.LayerNorm(6),
        nn.Tanh(),
        nn.Dropout(0.5).eval(),
        nn.Sigmoid(),
        nn.Softmax(dim=-1),
    ).eval()
    _functional(model, (torch.randn(2, 3, 8, 8),), tmp_path)  # verified exactly by export
    text = (tmp_path / "model_gen.py").read_text()
    for call in ("F.conv2d(", "F.batch_norm(", "F.relu(", "F.max_pool2d(", "F.group_norm(", "F.silu(",
                 "F.adaptive_avg_pool2d(", ".flatten(", "F.linear(", "F.layer_norm(", "torch.tanh(",
                 "F.dropout(", "torch.sigmoid(", "F.softmax("):
        assert call in text, call
    assert "torch.ops." not in text


class _SelfAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x):
        return self.attention(x, x, x, need_weights=False)[0]


@pytest.mark.parametrize(
    "module, shape",
    [
        (nn.LSTM(4, 6, batch_first=True), (2, 3, 4)),
        (nn.BatchNorm1d(4), (5, 4)),
        (nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect"), (1, 2, 5, 5)),
        (nn.PReLU(), (3, 4)),
        (_SelfAttention(), (2, 3, 8)),
        (nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True), (2, 3, 8)),
    ],
    ids=["lstm", "batchnorm1d_train", "conv_reflect", "prelu", "attention", "encoder_layer"],
)
def test_modules_without_a_table_entry_are_captured_with_make_fx(module, shape, tmp_path):
    """Exact, verified by export (with grad enabled, attention takes no fused fast path)."""
    torch.manual_seed(0)
    model = nn.Sequential(module)
    generated = _functional(model, (torch.randn(shape),), tmp_path)
    text = (tmp_path / "model_gen.py").read_text()
    assert "nn.Module" not in text and "class " not in text
    assert list(generated.load_state()) == list(model.state_dict())


def test_attention_fast_path_is_verified_within_the_documented_tolerance(tmp_path):
    model, inputs = ZOO["builtin_transformer"]()
    with torch.no_grad():
        result = fxgen.export(model, tmp_path / "model_gen.py", style="functional", example_inputs=inputs)
    assert result.verified
    assert any(issubclass(cls, nn.TransformerEncoderLayer) for cls in APPROXIMATE)


def test_the_table_covers_the_common_layers():
    for cls in (nn.Linear, nn.Conv2d, nn.BatchNorm2d, nn.LayerNorm, nn.Embedding, nn.GELU):
        assert cls in TABLE


def test_load_state_marks_the_trained_parameters(tmp_path):
    model, inputs = ZOO["tied_weights"]()
    state = _functional(model, inputs, tmp_path).load_state()
    trained = {name for name, p in model.named_parameters(remove_duplicate=False) if p.requires_grad}
    assert trained and trained != set(state)  # the frozen parameter and the buffer stay plain
    assert {name for name, t in state.items() if t.requires_grad} == trained


class _Gaussian(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.loss = nn.GaussianNLLLoss(eps=1e-3)

    def forward(self, x, target, var):
        return self.loss(x, target, var)


def test_functional_calls_inside_a_module_stay_whole(tmp_path):
    """torch.fx keeps `F.gaussian_nll_loss` whole; make_fx could not even capture it
    (its argument check is data-dependent Python)."""
    inputs = (torch.randn(4, 3), torch.randn(4, 3), torch.rand(4, 1) + 0.1)
    _functional(_Gaussian(), inputs, tmp_path)
    text = (tmp_path / "model_gen.py").read_text()
    assert "F.gaussian_nll_loss(x, target, var, eps=0.001)" in text
