"""Every failure a user can cause is a typed FxgenError that says what to do."""

from __future__ import annotations

import operator

import pytest
import torch
from torch import fx, nn

import fxgen
from fxgen import CaptureError, ExportError, FxgenError, VerificationError
from tests.error_examples import TracedOtherwise
from tests.zoo import ZOO, SeedModel


class DataDependent(nn.Module):
    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow
            return x
        return -x


def test_untraceable_model_names_the_users_source_line():
    with pytest.raises(CaptureError) as info:
        fxgen.render(DataDependent())
    message = str(info.value)
    assert "DataDependent.forward" in message
    assert "tests.test_errors:19" in message and "if x.sum() > 0" in message
    assert "torch.export" in message


def graph_module_calling(target) -> fx.GraphModule:
    graph = fx.Graph()
    x = graph.placeholder("x")
    graph.output(graph.call_function(target, (x,)))
    return fx.GraphModule(nn.Module(), graph)


def local_helper(x):
    return x * 2


local_helper.__module__ = "__main__"


@pytest.mark.parametrize(
    "target, message",
    [
        (lambda x: x + 1, "lambda"),
        (local_helper, "__main__"),
    ],
)
def test_calls_that_cannot_be_written_name_the_node(target, message):
    with pytest.raises(ExportError) as info:
        fxgen.render(graph_module_calling(target))
    assert message in str(info.value) and "call_function" in str(info.value)


def test_hooks_are_not_dropped_silently(tmp_path):
    model = SeedModel()
    model.linear.register_forward_hook(lambda module, args, out: out * 2)
    with pytest.raises(ExportError, match=r"module 'linear' \(Linear\) has forward hook.*drop_hooks=True"):
        fxgen.render(model)
    assert "self.linear(" in fxgen.render(model, drop_hooks=True)
    root_hooked = SeedModel()
    root_hooked.register_forward_pre_hook(lambda module, args: args)
    with pytest.raises(ExportError, match="the root module has forward pre-hook"):
        fxgen.render(root_hooked)


class SideEffect(nn.Module):
    """A Python attribute changes on every call, so the traced constant goes stale."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return x * self.calls, x


def test_mismatch_raises_verification_error_and_writes_nothing(tmp_path):
    target = tmp_path / "side_gen.py"
    with pytest.raises(VerificationError, match=r"output\[0\]\[0, 0\] is .*, expected.*so does the original"):
        fxgen.export(SideEffect(), target, example_inputs=(torch.ones(2, 2),))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("capture, tracer", [("fx", "torch.fx"), ("export", "torch.export")])
def test_a_capture_that_differs_from_the_model_is_named_as_the_cause(tmp_path, capture, tracer):
    with pytest.raises(VerificationError) as info:
        fxgen.export(TracedOtherwise(), tmp_path / "traced_gen.py", example_inputs=(torch.ones(2),), capture=capture)
    message = str(info.value)
    assert "output[0] is 2.0, expected 3.0" in message
    assert f"reproduces exactly the program {tracer} captured" in message and "verify=False" in message
    assert "fxgen bug" not in message
    assert list(tmp_path.iterdir()) == []
    written = fxgen.export(TracedOtherwise(), tmp_path / "traced_gen.py", example_inputs=(torch.ones(2),),
                           capture=capture, verify=False)
    assert torch.equal(fxgen.load(written.code_path)(torch.ones(2)), torch.full((2,), 2.0))  # the capture, as it is


class Symmetric(nn.Module):
    def forward(self, weight):
        return weight.triu() + weight.triu(1).T


def test_the_capture_is_compared_as_torch_fx_traced_it(tmp_path):
    """A module fxgen traces through (a user parametrization: no constructor call rebuilds
    it) changes the graph after capture; the capture that verification runs is torch.fx's."""
    model = nn.Sequential(nn.Linear(2, 2), TracedOtherwise())
    torch.nn.utils.parametrize.register_parametrization(model[0], "weight", Symmetric())
    assert "triu" in fxgen.render(model, example_inputs=(torch.ones(1, 2),))  # traced through
    with pytest.raises(VerificationError, match="reproduces exactly the program torch.fx captured"):
        fxgen.export(model, tmp_path / "sym_gen.py", example_inputs=(torch.ones(1, 2),))


def test_a_file_that_differs_from_a_faithful_capture_is_reported_as_a_bug(tmp_path):
    from fxgen.capture import capture
    from fxgen.verify import verify_file

    model, inputs = ZOO["seed"]()
    path = fxgen.export(model, tmp_path / "seed_gen.py", example_inputs=inputs).code_path
    path.write_text(path.read_text().replace("x.relu()", "x.sigmoid()"))  # what an fxgen bug would do
    captured = capture(model, example_inputs=inputs)
    with pytest.raises(VerificationError, match=r"does not reproduce the original: output.*report this as an fxgen bug"):
        verify_file(path, model, inputs, replay=captured.replay, capture=captured.method)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda p: fxgen.export(SeedModel(), p / "model.txt"), ExportError, "must end in .py"),
        (lambda p: fxgen.export(SeedModel(), p / "missing" / "m.py"), ExportError, "does not exist"),
        (lambda p: fxgen.render(SeedModel(), style="nope"), FxgenError, "unknown style 'nope'"),
        (lambda p: fxgen.render(SeedModel(), class_name="not valid"), ExportError, "class_name"),
        (lambda p: fxgen.render(SeedModel(), formatter="yapf"), FxgenError, "unknown formatter"),
        (lambda p: fxgen.render(SeedModel(), template_dirs=[p / "none"]), FxgenError, "does not exist"),
        (lambda p: fxgen.render(operator.add), CaptureError, "nn.Module"),
    ],
)
def test_bad_arguments(tmp_path, call, error, message):
    with pytest.raises(error, match=message):
        call(tmp_path)

