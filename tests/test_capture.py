"""torch.fx capture records each value's type, shape and dtype by running the graph once."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode
from torch.utils import _pytree as pytree

import fxgen
from fxgen import capture as capture_module
from fxgen import source
from fxgen.capture import RecordedValue, capture
from tests.zoo import ZOO


def described(value):
    """What lowering and the styles read of a recorded value."""
    if isinstance(value, torch.Tensor):
        return (torch.Tensor, value.shape, value.stride(), value.dtype, value.device, value.requires_grad)
    return pytree.tree_map(described, value) if isinstance(value, (tuple, list, dict)) else (type(value), value)


def recorded(model, inputs, kind):
    captured = capture(model)
    graph = captured.graph
    capture_module._record_values(graph, captured.root, captured.constants, inputs, {})
    values = {node.name: node.meta["val"] for node in graph.nodes if "val" in node.meta}
    ran = [node.name for node in graph.nodes if node.op not in ("get_attr", "output")]  # attributes are kept as they are
    tensors = [v for name in ran for v in pytree.tree_leaves(values.get(name))]
    assert all(isinstance(v, kind) for v in tensors if isinstance(v, torch.Tensor))
    return {name: described(value) for name, value in values.items()}


@pytest.mark.parametrize("name", sorted(ZOO))
def test_the_real_run_records_what_fake_tensors_record(name, monkeypatch):
    model, inputs = ZOO[name]()
    real = recorded(model, inputs, RecordedValue)

    def fail(tensor):
        raise MemoryError("the real run does not fit")

    monkeypatch.setattr(capture_module, "RecordedValue", fail)  # the real run fails: fake tensors instead
    fake = recorded(model, inputs, FakeTensor)
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


def test_a_recorded_value_describes_a_tensor_and_runs_nothing():
    value = RecordedValue(torch.randn(3, 4, requires_grad=True).t())
    assert (value.shape, value.stride(), value.dtype, value.requires_grad) == ((4, 3), (1, 4), torch.float32, True)
    assert repr(value) == "RecordedValue(shape=(4, 3), dtype=torch.float32, device=cpu)"
    with pytest.raises(TypeError, match="cannot run on a recorded value"):
        torch.add(value, 1)
    fake = value.fake(FakeTensorMode())
    assert isinstance(fake, FakeTensor) and described(fake) == described(value)


def test_an_fx_export_does_not_import_torch_dynamo(tmp_path):
    """Fake tensors need torch._dynamo, about a second to import: the first export of a
    process (the CLI's only one) must not pay it where the real run records every value."""
    code = (
        "import sys, fxgen\n"
        "from tests.zoo import ZOO\n"
        "model, inputs = ZOO['residual']()\n"
        f"fxgen.export(model, {str(tmp_path / 'm.py')!r}, example_inputs=inputs)\n"
        "assert 'torch._dynamo' not in sys.modules, 'torch._dynamo was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=__file__.rsplit("/tests/", 1)[0])


class TorchStackTraces(capture_module._Tracer):
    """fxgen's tracer with torch.fx's own stack traces (`record_stack_traces`)."""

    def __init__(self) -> None:
        super().__init__()
        self.record_stack_traces = True


@pytest.mark.parametrize("name", sorted(n for n in ZOO if n != "graph_module"))
def test_stack_traces_hold_the_user_frames_torch_records(name):
    model, _ = ZOO[name]()
    ours, torchs = capture_module._Tracer().trace(model), TorchStackTraces().trace(model)
    frames = [
        (source._user_frames(a.stack_trace or ""), source._user_frames(b.stack_trace or ""))
        for a, b in zip(ours.nodes, torchs.nodes, strict=True)
    ]
    assert any(mine for mine, _ in frames) and all(mine == theirs for mine, theirs in frames)


class FreshTensors(nn.Module):
    def forward(self, x):
        y = torch.zeros(3)  # torch.fx makes it once, as a constant
        y.add_(x)
        steps = torch.arange(3.0)  # returned: a caller may change it
        return y, steps, x + torch.ones(3)  # torch.ones(3) is only read


def test_a_constant_the_model_changes_or_returns_is_new_every_call(tmp_path):
    model, x = FreshTensors(), torch.ones(3)
    result = fxgen.export(model, tmp_path / "fresh.py", example_inputs=(x,), capture="fx")
    text = result.code_path.read_text()
    assert result.verified and text.count(".clone()") == 2, text
    loaded = fxgen.load(result.code_path)
    first = loaded(x)
    first[1].add_(100)  # the caller changes what it was given
    for expected, actual in zip(model(x), loaded(x)):
        assert torch.equal(expected, actual)


class Assigning(nn.Module):
    def forward(self, x):
        y = x.clone()
        y[0] = x.mean()
        y[..., -1] = 0.5
        z = torch.zeros(4, 3)
        z[1:3] = y
        return z


def test_torch_fx_captures_assignments_into_part_of_a_tensor(tmp_path):
    result = fxgen.export(Assigning(), tmp_path / "assigning.py", example_inputs=(torch.randn(2, 3),), capture="fx")
    text = result.code_path.read_text()
    assert result.verified and result.capture == "fx"
    for line in ("y[0] = x\n", "y[..., -1] = 0.5\n", "clone = self._tensor_constant0.clone()\n", "clone[1:3] = y\n"):
        assert line in text, text


class Counting(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.calls = nn.Parameter(torch.zeros(1), requires_grad=False)
        self.scale = nn.Parameter(torch.ones(3), requires_grad=False)

    def forward(self, x):
        self.calls.add_(1)
        self.scale.data[0] = 2.0
        return x * self.scale + self.calls


def test_the_example_run_puts_back_the_parameters_the_model_changes(tmp_path):
    model = Counting()
    result = fxgen.export(model, tmp_path / "counting.py", example_inputs=(torch.ones(3),), verify=False)
    assert torch.equal(model.calls, torch.zeros(1)) and torch.equal(model.scale, torch.ones(3))
    loaded = fxgen.load(result.code_path)
    assert torch.equal(loaded.calls, torch.zeros(1)) and torch.equal(loaded.scale, torch.ones(3))
    assert torch.equal(loaded(torch.ones(3)), Counting()(torch.ones(3)))


class Accumulating(nn.Module):
    def forward(self, x):
        total = torch.zeros(3)  # a constant of the block, passed in by its caller
        total.add_(x)
        return total


class TwoCalls(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = Accumulating()

    def forward(self, x):
        return self.block(x), self.block(x * 2)


def test_each_call_of_a_block_copies_its_own_constant_and_keeps_its_parameter_name(tmp_path):
    model, x = TwoCalls(), torch.ones(3)
    result = fxgen.export(model, tmp_path / "two_calls.py", example_inputs=(x,))
    text = result.code_path.read_text()
    # the constant comes from outside the block: the parameter `x` keeps its name
    assert result.verified and "def forward(self, x: torch.Tensor, x_1: torch.Tensor):" in text, text
    # and the copy takes the block's own name for it (`total.add_(x)`)
    assert "total = x_1.clone()\n" in text and "total.add_(x)\n" in text, text
    loaded = fxgen.load(result.code_path)
    for _ in range(2):
        assert all(torch.equal(a, b) for a, b in zip(loaded(x), model(x)))


class Checks(nn.Module):
    def forward(self, x):
        torch._assert(x.ndim == 2, f"expected 2D input (got {x.ndim}D input)")
        return x * 2


def test_an_attribute_read_only_a_message_formats_is_read_in_the_message(tmp_path):
    # the f-string reads `x.ndim` while traced, and the message formats it again at run time
    result = fxgen.export(Checks(), tmp_path / "checks.py", example_inputs=(torch.randn(2, 4),))
    body = result.code_path.read_text().split("def forward", 1)[1]
    assert result.verified and "ndim = x.ndim" in body and "\n        x.ndim\n" not in body, body
    assert 'torch._assert(ndim == 2, f"expected 2D input (got {x.ndim}D input)")' in body, body


class ChecksItsInput(nn.Module):
    image_size = 4

    def forward(self, x):
        n, h = x.shape
        torch._assert(h == self.image_size, f"Wrong image height! Expected {self.image_size} but got {h} (batch {n})!")
        torch._assert(n > 0, f'odd {{braces}} "quotes" \\ back\n{h}')
        torch._assert(x.dim() == 2, f"expected a 2D input, got {x.dim()}D")
        return x * 2


def test_a_message_that_formats_a_traced_value_formats_it_when_the_file_runs(tmp_path):
    # torchvision's ViT: `torch._assert(h == self.image_size, f"... but got {h}!")`; the
    # message torch.fx records reads "but got Proxy(getitem_1)!", a name of the trace
    model = ChecksItsInput()
    result = fxgen.export(model, tmp_path / "checks_gen.py", example_inputs=(torch.randn(2, 4),))
    body = result.code_path.read_text().split("def forward", 1)[1]
    assert result.verified and "Proxy(" not in body and "n, h = x.shape" in body, body
    assert 'f"Wrong image height! Expected 4 but got {h} (batch {n})!"' in body, body
    assert 'f"expected a 2D input, got {x.dim()}D"' in body, body  # a size read for the message alone
    loaded = fxgen.load(result.code_path)
    for bad, message in ((torch.randn(3, 5), "Wrong image height! Expected 4 but got 5 (batch 3)!"),
                         (torch.randn(0, 4), 'odd {braces} "quotes" \\ back\n4')):
        for module in (model, loaded):
            with pytest.raises(AssertionError) as raised:
                module(bad)
            assert str(raised.value) == message
