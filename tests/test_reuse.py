"""Classes lowered once per reuse key: same files as lowering every module call."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.fx.immutable_collections import immutable_list

import fxgen
import fxgen.lower
from fxgen.reuse import ClassReuse, Unkeyable, argument_key
from tests.reuse_identity import ReuseMismatch
from tests.zoo import ZOO


class Scaled(nn.Module):
    def __init__(self, scale: float) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.drop = nn.Dropout(0.5)
        self.scale = scale

    def forward(self, x):
        return self.drop(self.fc(x)) * self.scale


class AlwaysDropout(nn.Module):
    def forward(self, x):
        return nn.functional.dropout(x, 0.5, training=True)


class Unregistered(nn.Module):
    def __init__(self, offset: float) -> None:
        super().__init__()
        self.offset = torch.full((4,), offset)  # a plain attribute: a constant of the capture

    def forward(self, x):
        return x + self.offset


def _reuses(monkeypatch) -> list[str]:
    """The class hint of every class reused from here on (the test run still lowers
    each reused unit too, to compare: tests/reuse_identity.py)."""
    hits: list[str] = []
    reused = ClassReuse.reused

    def counted(self, key, lower):
        cls = reused(self, key, lower)
        hits.append(cls.original)
        return cls

    monkeypatch.setattr(ClassReuse, "reused", counted)
    return hits


def _without_reuse(monkeypatch, model, **options) -> str:
    with monkeypatch.context() as patch:
        patch.setattr(fxgen.lower, "_reuse_key", lambda lowering: None)
        return fxgen.render(model, **options)


@pytest.mark.parametrize("capture", ["fx", "export"])
def test_equal_module_calls_lower_once_and_write_the_same_file(monkeypatch, capture):
    model = nn.Sequential(*[Scaled(0.5) for _ in range(6)]).eval()
    options = dict(example_inputs=(torch.randn(2, 4),), capture=capture)
    expected = _without_reuse(monkeypatch, model, **options)
    reused = _reuses(monkeypatch)
    assert fxgen.render(model, **options) == expected
    assert reused == ["Scaled"] * 5


def test_calls_that_read_different_things_are_lowered_apart(monkeypatch):
    # scales 0.0 and -0.0 are equal floats that print differently; a dropout's flag reads
    # `self.training` in a module in training mode, and is a plain True in one in eval mode
    model = nn.Sequential(Scaled(0.0), Scaled(-0.0), Scaled(0.0), *[AlwaysDropout() for _ in range(4)]).eval()
    model[4].train()
    model[6].train()
    options = dict(example_inputs=(torch.randn(2, 4),), capture="export")
    expected = _without_reuse(monkeypatch, model, **options)
    reused = _reuses(monkeypatch)
    assert fxgen.render(model, **options) == expected
    # the third call is the first one's; each later dropout is the earlier one in its mode
    # (the first dropout's lowering imports F, which changes no name: F is always taken)
    assert reused == ["Scaled", "AlwaysDropout", "AlwaysDropout"]
    assert "x * -0.0" in expected and "training=True" in expected and "self.training" in expected


def test_units_that_read_constants_are_not_reused(monkeypatch):
    model = nn.Sequential(Unregistered(1.0), Unregistered(2.0), Unregistered(1.0))
    options = dict(example_inputs=(torch.randn(2, 4),), capture="export")
    expected = _without_reuse(monkeypatch, model, **options)
    reused = _reuses(monkeypatch)
    assert fxgen.render(model, **options) == expected
    assert reused == []


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_files_are_the_same_with_and_without_reuse(monkeypatch, name):
    model, inputs = ZOO[name]()
    assert fxgen.render(model, example_inputs=inputs) == _without_reuse(monkeypatch, model, example_inputs=inputs)


def test_a_key_that_misses_a_difference_fails_the_test_run(monkeypatch):
    monkeypatch.setattr(fxgen.lower, "_reuse_key", lambda lowering: lowering.unit.class_hint)
    model = nn.Sequential(Scaled(0.5), Scaled(2.0))
    with pytest.raises(ReuseMismatch, match="differs from its own lowering"):
        fxgen.render(model, example_inputs=(torch.randn(2, 4),))


def test_argument_keys_are_exact():
    assert argument_key(0.0, {}) != argument_key(-0.0, {})
    assert argument_key(True, {}) != argument_key(1, {})
    assert argument_key((1, [2.5, None]), {}) == argument_key((1, [2.5, None]), {})
    assert argument_key(slice(1, 3), {}) != argument_key(slice(1, 4), {})
    # fx keeps list arguments as immutable_list (`x.view([2, -1])`): keyed, as its own kind
    assert argument_key(immutable_list([2, -1]), {}) not in (argument_key([2, -1], {}), argument_key((2, -1), {}))
    with pytest.raises(Unkeyable):
        argument_key(torch.ones(2), {})


@pytest.mark.parametrize("family", ["BERT", "LLaMA"])
def test_transformers_layers_are_lowered_once(monkeypatch, family):
    from tests.conformance.hf_models import build

    model, inputs = build(family)
    options = dict(example_inputs=((), inputs), capture="export")
    expected = _without_reuse(monkeypatch, model, **options)
    reused = _reuses(monkeypatch)
    assert fxgen.render(model, **options) == expected
    layer = {"BERT": "BertLayer", "LLaMA": "LlamaDecoderLayer"}[family]
    assert reused.count(layer) == 1  # the second of two layers
