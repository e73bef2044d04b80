"""The torch.export front end: ExportedPrograms become readable, hierarchical source."""

from __future__ import annotations

import ast
import collections
import dataclasses
from typing import NamedTuple

import pytest
import torch
from torch import nn

import fxgen
from fxgen import CaptureError
from fxgen.verify import first_difference
from tests.zoo import ZOO, ResidualNet, TransformerBlock


def export_and_load(obj, tmp_path, inputs, **options):
    result = fxgen.export(obj, tmp_path / "model_gen.py", example_inputs=inputs, **options)
    return result, fxgen.load(result.code_path)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_every_zoo_model_exports_through_torch_export(name, tmp_path):
    model, inputs = ZOO[name]()
    result, _ = export_and_load(model, tmp_path, inputs, capture="export")
    assert result.verified and result.capture == "export"
    text = result.code_path.read_text()
    assert "p_" not in "".join(line.split("#")[0] for line in text.splitlines() if "def forward" in line)
    assert "capture: export" in text


def test_an_exported_program_is_accepted_as_it_is(tmp_path):
    torch.manual_seed(0)
    model, x, mask = TransformerBlock().eval(), torch.randn(2, 5, 16), torch.ones(2, 5, dtype=torch.long)
    ep = torch.export.export(model, (x,), {"mask": mask}, strict=False)
    result, loaded = export_and_load(ep, tmp_path, ((x,), {"mask": mask}))
    assert result.verified
    assert list(loaded.state_dict()) == list(model.state_dict())
    assert first_difference(model(x, mask=mask), loaded(x, mask=mask)) is None
    assert "def forward(self, x: torch.Tensor, *, mask: torch.Tensor):" in result.code_path.read_text()


class Pair(NamedTuple):
    total: torch.Tensor
    parts: list


@dataclasses.dataclass
class Output:
    logits: torch.Tensor
    hidden: tuple


class Structured(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, pair, options, *, scale):
        a, b = pair
        hidden = self.fc(a + b * options["w"]) * scale
        return Output(logits=hidden.sum(-1), hidden=(hidden, Pair(total=hidden + 1, parts=[a, b])))


torch.utils._pytree.register_dataclass(Output)


def structured_inputs():
    return ((torch.randn(2, 4), torch.randn(2, 4)), {"w": torch.randn(4)}), {"scale": torch.tensor(2.0)}


def test_pytree_inputs_and_outputs_are_written_out(tmp_path):
    torch.manual_seed(0)
    model, inputs = Structured(), structured_inputs()
    result, loaded = export_and_load(model, tmp_path, inputs, capture="export")
    text = result.code_path.read_text()
    assert "def forward(self, pair, options, *, scale: torch.Tensor):" in text
    assert "pair[0]" in text and 'options["w"]' in text
    assert "return Output(" in text and "from tests.test_export_capture import Output, Pair" in text
    args, kwargs = inputs
    assert first_difference(model(*args, **kwargs), loaded(*args, **kwargs)) is None
    assert "_in_spec" not in text and "_out_spec" not in text


def test_outputs_dict_gives_a_torch_only_file(tmp_path):
    torch.manual_seed(0)
    model, (args, kwargs) = Structured(), structured_inputs()
    text = fxgen.render(model, example_inputs=(args, kwargs), capture="export", outputs="dict")
    assert "from tests" not in text and "import tests" not in text
    loaded_text = " ".join(text.split())
    assert 'return { "logits": ' in loaded_text and '{"total": ' in loaded_text


class Branchy(nn.Module):
    def forward(self, x):
        if x.shape[0] > 1:  # fine for torch.export (a static shape), not for torch.fx
            return x.cos()
        return x.sin()


def test_auto_capture_falls_back_to_export_and_says_so(tmp_path, caplog):
    caplog.set_level("INFO", logger="fxgen")
    result, loaded = export_and_load(Branchy(), tmp_path, (torch.randn(3, 2),), capture="auto")
    assert result.capture == "export"
    assert "captured it with torch.export" in caplog.text
    assert fxgen.export(ResidualNet().eval(), tmp_path / "r.py", capture="auto").capture == "fx"


class Hopeless(nn.Module):
    def forward(self, x):
        if x.sum().item() > 0:  # data-dependent: neither tracer can capture it
            return x
        return -x


def test_when_neither_tracer_can_capture_the_error_names_the_source_line():
    with pytest.raises(CaptureError) as info:
        fxgen.render(Hopeless(), example_inputs=(torch.randn(3),), capture="auto")
    message = str(info.value)
    assert "tests.test_export_capture:" in message and "x.sum().item() > 0" in message
    assert "torch.export" in message


def test_hierarchy_writes_one_class_per_module_type_and_flat_on_request():
    torch.manual_seed(0)
    model, inputs = ZOO["residual"]()
    nested = fxgen.render(model, example_inputs=inputs, capture="export")
    classes = [n.name for n in ast.parse(nested).body if isinstance(n, ast.ClassDef)]
    assert classes == ["BasicBlock", "BasicBlock_v2", "ResidualNet"]
    assert "self.layer1 = torch.nn.Sequential(BasicBlock(), BasicBlock())" in nested
    flat = fxgen.render(model, example_inputs=inputs, capture="export", hierarchy=False)
    assert [n.name for n in ast.parse(flat).body if isinstance(n, ast.ClassDef)] == ["ResidualNet"]


class Devices(nn.Module):
    def __init__(self):
        super().__init__()
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        positions = torch.arange(x.shape[-1], device=x.device)
        return self.drop(x) + torch.nn.functional.dropout(x, 0.25, self.training) * positions


def test_baked_devices_and_training_flags_follow_the_model(tmp_path):
    model = Devices().train()
    x = torch.randn(2, 6)
    result, loaded = export_and_load(model, tmp_path, (x,), capture="export")
    text = result.code_path.read_text()
    assert "device=x.device" in text and 'torch.device("cpu")' not in text
    assert "training=self.training" in text
    torch.manual_seed(3)
    expected = model(x)
    torch.manual_seed(3)
    assert torch.equal(loaded(x), expected)
    loaded.eval()
    assert torch.equal(loaded(x), model.eval()(x))
    on_meta = loaded.to("meta")(x.to("meta"))
    assert on_meta.device.type == "meta"


class Positions(nn.Module):  # no tensor input, no weights: called with a shape and a device
    def forward(self, shape, device):
        return torch.arange(shape[-1], dtype=torch.float32, device=device)


class WithPositions(nn.Module):
    def __init__(self):
        super().__init__()
        self.pos = Positions()

    def forward(self, x):
        return x + self.pos(x.shape, x.device)


def test_a_module_with_no_tensor_to_read_the_device_from_is_written_inline(tmp_path):
    # torch.export records the device the module made its tensor on; `Positions` could
    # only write it as the capture's own device, so its caller writes its code instead
    x = torch.randn(2, 4)
    result, loaded = export_and_load(WithPositions(), tmp_path, (x,), capture="export")
    text = result.code_path.read_text()
    assert 'torch.device("cpu")' not in text and "class Positions" not in text, text
    assert "# pos: it has no tensor to read the device from, so its code is inline" in text, text
    assert "torch.arange(4, dtype=torch.float32, device=x.device)" in text, text
    assert loaded.to("meta")(x.to("meta")).device.type == "meta"


def test_aten_calls_are_raised_to_the_public_api():
    torch.manual_seed(0)
    model, inputs = ZOO["transformer_block"]()
    text = fxgen.render(model, example_inputs=inputs, capture="export")
    assert "torch.ops.aten" not in text
    for spelling in ("torch.softmax(", ".view(", ".transpose(1, 2)", ".masked_fill(", " @ ", "self.qkv(x)"):
        assert spelling in text


def test_dynamic_dimensions_give_code_for_other_sizes(tmp_path):
    from torch.export import Dim

    torch.manual_seed(0)
    model = TransformerBlock().eval()
    x, mask = torch.randn(2, 5, 16), torch.ones(2, 5, dtype=torch.long)
    batch, length = Dim("batch", max=64), Dim("length", max=128)
    dynamic = {"x": {0: batch, 1: length}, "mask": {0: batch, 1: length}}
    result, loaded = export_and_load(model, tmp_path, (x, mask), capture="export", dynamic_shapes=dynamic)
    text = result.code_path.read_text()
    assert "x.size(0)" in text and "view(2, 5" not in text
    for shape in [(1, 3), (7, 11)]:
        other_x, other_mask = torch.randn(*shape, 16), torch.ones(*shape, dtype=torch.long)
        assert torch.equal(loaded(other_x, other_mask), model(other_x, other_mask))


def test_a_user_exported_dynamic_program_has_one_class_per_layer_type(tmp_path):
    from torch.export import Dim

    torch.manual_seed(0)
    model, inputs = ZOO["residual"]()
    ep = torch.export.export(model, inputs, dynamic_shapes=({0: Dim.AUTO},), strict=False)
    text = fxgen.render(ep)
    classes = [n.name for n in ast.parse(text).body if isinstance(n, ast.ClassDef)]
    assert classes.count("BasicBlock") == 1 and "ResidualNet" in classes
    result, loaded = export_and_load(ep, tmp_path, inputs)
    bigger = torch.randn(5, 3, 8, 8)
    assert torch.equal(loaded(bigger), model(bigger))


class Regions(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        y = self.fc(x)
        with torch.no_grad():
            frozen = self.fc(y * 2)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = self.fc(frozen + y)
        return y + frozen, low


def test_no_grad_and_autocast_regions_are_with_blocks(tmp_path):
    torch.manual_seed(0)
    model, x = Regions(), torch.randn(2, 4)
    result, loaded = export_and_load(model, tmp_path, (x,), capture="export")
    text = result.code_path.read_text()
    assert "with torch.no_grad():" in text and "with torch.autocast(" in text
    expected, actual = model(x), loaded(x)
    assert first_difference(expected, actual) is None
    assert actual[0].requires_grad and actual[1].dtype == torch.bfloat16


class Conditional(nn.Module):
    def forward(self, x):
        return torch.cond(x.sum() > 0, lambda v: v.cos(), lambda v: v.sin(), (x,))


def test_other_higher_order_ops_are_a_clear_error():
    with pytest.raises(fxgen.ExportError, match=r"node 'cond' calls the higher-order operator cond .*capture='fx'"):
        fxgen.render(Conditional(), example_inputs=(torch.randn(3),), capture="export")


class Assignments(nn.Module):
    def forward(self, a, b, wide):
        x = a.clone()
        x[0] = b.mean()
        x[..., -1] = 0.5
        x[:1, 1:] = b[:1, 1:] * 2
        x[1][2] = 7
        x[b > 0] = -1.0
        wide = wide.clone()
        wide[0] = torch.tensor(0.1)  # a float32 0.1 written into float64
        y = x.clone()
        y.index_put_((torch.tensor([0]),), b[:1], accumulate=True)  # adds: no assignment
        view = y[1]
        view.fill_(3.0)  # the view is read again: no assignment
        return x, wide, y, view


def test_assignments_into_part_of_a_tensor_read_as_written(tmp_path):
    """torch.export records `x[:, -1] = 0.5` as a view and an in-place fill of it, and
    `x[mask] = v` as `index_put_`: the file assigns as the user did, numbers included."""
    inputs = (torch.randn(2, 3), torch.randn(2, 3), torch.randn(2, dtype=torch.float64))
    result, _ = export_and_load(Assignments(), tmp_path, inputs, capture="export")
    assert result.verified
    text = result.code_path.read_text()
    lines = ("x[0] = mean", "x[:, -1] = 0.5", "x[:1, 1:] = ", "x[1, 2] = 7", "] = -1.0", "wide[0] = 0.10000000149011612")
    for line in lines:
        assert line in text, line
    assert "fill_(" in text and "index_put_(" in text, text
    assert text.count("= self.lifted_tensor_") == 1, text  # only the index tensor is no number


class Segmentation(nn.Module):  # torchvision's segmentation models return an OrderedDict
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)

    def forward(self, x):
        result = collections.OrderedDict()
        result["out"] = self.conv(x)
        return result


def test_an_ordered_dict_output_is_kept_by_export_and_named_by_fx(tmp_path):
    x = torch.randn(2, 3, 4, 4)
    result, loaded = export_and_load(Segmentation(), tmp_path, (x,), capture="export")
    assert 'return OrderedDict({"out": x})' in result.code_path.read_text()
    assert type(loaded(x)) is collections.OrderedDict
    with pytest.raises(fxgen.VerificationError, match=r"torch.fx records the OrderedDict .*capture='export'"):
        fxgen.export(Segmentation(), tmp_path / "fx.py", example_inputs=(x,))


class SharedPos(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 4)

    def forward(self, x):
        return self.proj(x) + x


class SharesPos(nn.Module):
    def __init__(self, pos):
        super().__init__()
        self.pos = pos  # the root's own module
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(self.pos(x))


class SharedByBlocks(nn.Module):  # timm's CoaT shares its position encoders so
    def __init__(self):
        super().__init__()
        self.pos = SharedPos()
        self.blocks = nn.ModuleList([SharesPos(self.pos), SharesPos(self.pos)])

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


def test_a_module_shared_under_a_path_it_is_never_called_by_is_its_class_there_too(tmp_path):
    # torch.export records the calls under blocks.0.pos only; `self.pos` must still be a
    # `SharedPos()`, not an empty module that the ties then put into every block
    x = torch.randn(2, 4)
    result, loaded = export_and_load(SharedByBlocks(), tmp_path, (x,), capture="export")
    text = result.code_path.read_text()
    assert "self.pos = SharedPos()" in text and "self.blocks[0].pos = self.pos" in text, text
    assert loaded.blocks[0].pos is loaded.pos


class Pools(nn.Module):
    def __init__(self):
        super().__init__()
        self.pool = nn.MaxPool2d(2)
        self.with_indices = nn.MaxPool2d(2, return_indices=True)

    def forward(self, x):
        out, indices = self.with_indices(x)
        return self.pool(x) + out, indices


def test_a_max_pool_is_its_constructor_call_unless_it_returns_indices(tmp_path):
    result, _ = export_and_load(Pools(), tmp_path, (torch.randn(2, 3, 8, 8),), capture="export")
    text = result.code_path.read_text()
    assert "self.pool = torch.nn.MaxPool2d(" in text and "self.pool(x)" in text, text
    assert "class MaxPool2d" in text  # the one returning indices: its own class, as captured


def test_outputs_dict_is_verified_against_the_original_as_dicts(tmp_path):
    torch.manual_seed(0)
    model, inputs = Structured(), structured_inputs()
    result = fxgen.export(model, tmp_path / "plain.py", example_inputs=inputs, capture="export", outputs="dict")
    assert result.verified and result.comparison == "exact"
    x = torch.randn(2, 3, 4, 4)
    segmentation = fxgen.export(Segmentation(), tmp_path / "seg.py", example_inputs=(x,), capture="export", outputs="dict")
    assert segmentation.verified and 'return {"out": x}' in segmentation.code_path.read_text()
