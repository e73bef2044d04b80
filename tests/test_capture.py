"""torch.fx capture records each value's type, shape and dtype by running the graph once."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils import _pytree as pytree

from fxgen import capture as capture_module
from fxgen.capture import capture
from tests.zoo import ZOO


def described(value):
    """What lowering and the styles read of a recorded value."""
    if isinstance(value, torch.Tensor):
        return (torch.Tensor, value.shape, value.stride(), value.dtype, value.device, value.requires_grad)
    return pytree.tree_map(described, value) if isinstance(value, (tuple, list, dict)) else (type(value), value)


def recorded(model, inputs):
    graph = capture(model, example_inputs=inputs).graph
    return {node.name: described(node.meta["val"]) for node in graph.nodes if "val" in node.meta}


@pytest.mark.parametrize("name", sorted(ZOO))
def test_the_real_run_records_what_fake_tensors_record(name, monkeypatch):
    model, inputs = ZOO[name]()
    real = recorded(model, inputs)

    def fail(mode, tensor):
        raise MemoryError("the real run does not fit")

    monkeypatch.setattr(capture_module, "_described", fail)  # the real run fails: fake tensors instead
    fake = recorded(model, inputs)
    assert real and real == fake


class Noisy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(4)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(self.norm(x)) + torch.rand_like(x)


def test_recording_leaves_the_model_and_the_random_state_as_they_were():
    model = Noisy().train()
    x = torch.randn(8, 4)
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    state = torch.random.get_rng_state()
    graph = capture(model, example_inputs=(x,)).graph
    assert all(isinstance(n.meta.get("val"), torch.Tensor) for n in graph.nodes if n.op != "output")
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(b, buffers[name]) for name, b in model.named_buffers())
