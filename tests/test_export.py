"""fxgen.export / fxgen.load end to end: the generated module matches the original."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import black
import pytest
import torch
from torch import nn

import fxgen
import fxgen.verify
from fxgen.verify import first_difference
from tests.conftest import GOLDEN_MODE
from tests.zoo import ZOO, AwkwardNames, Buffers, Gate, GatedLinear, SeedModel, TiedWeights, TrainingModes

ALLOWED_IMPORTS = {"math", "torch", "torch.nn.functional"}


def export_and_load(model, tmp_path, inputs=None, **options):
    result = fxgen.export(model, tmp_path / "model_gen.py", example_inputs=inputs, **options)
    return result, fxgen.load(result.code_path)


def test_seed_example(tmp_path):
    torch.manual_seed(0)
    model, x = SeedModel(), torch.randn(5, 4)
    result, loaded = export_and_load(model, tmp_path, (x,))
    assert result.verified and result.weights_path.exists() and result.node_count == 8
    text = result.code_path.read_text()
    assert "class SeedModel(torch.nn.Module):" in text
    assert "self.linear = torch.nn.Linear(in_features=4, out_features=5, bias=True)" in text
    assert "self.param = torch.nn.Parameter(torch.empty(3, 4))" in text
    assert "def forward(self, x: torch.Tensor):" in text
    assert "x = x + self.linear.weight" in text and "torch.sum(x, dim=-1)" in text
    assert "def load(path=None, map_location=\"cpu\"):" in text
    assert first_difference(model(x), loaded(x)) is None
    assert list(loaded.state_dict()) == list(model.state_dict())


def test_graph_module_keeps_only_what_its_graph_uses(tmp_path):
    torch.manual_seed(0)
    gm = torch.fx.symbolic_trace(SeedModel())
    result, loaded = export_and_load(gm, tmp_path, (torch.randn(5, 4),))
    assert "param" not in result.code_path.read_text()
    assert list(loaded.state_dict()) == list(gm.state_dict()) == ["linear.weight", "linear.bias"]


def test_names_that_break_torch_fx_printer_export_and_run(tmp_path):
    torch.manual_seed(0)
    model, x = AwkwardNames(), torch.randn(2, 4)
    tracer = torch.fx.Tracer()
    graph = tracer.trace(model)
    with pytest.raises(SyntaxError):  # torch.fx's own printer writes `self.blocks.class`
        torch.fx.GraphModule(model, graph)
    result, loaded = export_and_load(model, tmp_path, (x,))
    text = result.code_path.read_text()
    assert 'self.blocks["class"]' in text and 'getattr(self, "with-dash")' in text
    assert 'self.blocks["two words"]' in text and 'getattr(self, "lambda")' in text
    assert torch.equal(loaded(x), model(x))
    assert list(loaded.state_dict()) == list(model.state_dict())


def test_state_ties_modes_and_buffers_survive_loading(tmp_path):
    torch.manual_seed(0)
    tied = TiedWeights()
    _, loaded = export_and_load(tied, tmp_path, (torch.tensor([[1, 2]]),))
    assert loaded.head.weight is loaded.embed.weight
    assert not loaded.frozen.requires_grad and loaded.embed.weight.requires_grad
    assert len(list(loaded.parameters())) == len(list(tied.parameters()))

    modes = TrainingModes()
    modes.backbone.eval()
    _, loaded = export_and_load(modes, _fresh(tmp_path, "modes"))
    assert [m.training for m in loaded.modules()] == [m.training for m in modes.modules()]
    assert [p.requires_grad for p in loaded.parameters()] == [p.requires_grad for p in modes.parameters()]

    buffers = Buffers().eval()
    _, loaded = export_and_load(buffers, _fresh(tmp_path, "buffers"), (torch.randn(3, 4),))
    assert torch.equal(loaded.scale, buffers.scale) and "scale" not in loaded.state_dict()
    assert loaded.unused is None and "steps" in loaded.state_dict()
    assert not any(t.is_meta for t in list(loaded.parameters()) + list(loaded.buffers()))


class _SharedGate(nn.Module):
    """One gate module owned by the root and by two callers, called from all three."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = Gate()
        self.first = GatedLinear(self.gate)
        self.second = GatedLinear(self.gate)

    def forward(self, x):
        return self.second(self.gate(self.first(x), gate=x))


def test_a_module_shared_by_several_owners_is_one_class_tied_into_each(tmp_path):
    torch.manual_seed(0)
    model = _SharedGate()
    result, loaded = export_and_load(model, tmp_path, (torch.randn(2, 4),))
    text = result.code_path.read_text()
    assert "def forward(self, hidden: torch.Tensor, gate: torch.Tensor):" in text
    assert "self.first.gate = self.gate\n        self.second.gate = self.gate\n" in text
    assert loaded.first.gate is loaded.gate is loaded.second.gate


class _Scale(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(4))

    def forward(self, x):
        return x * self.weight + 1


class _Scales(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.first = _Scale()
        self.second = _Scale()

    def forward(self, x):
        return self.second(self.first(x).relu())


def test_modules_that_read_their_own_parameters_are_classes(tmp_path):
    # symbolic tracing records each attribute read inside the module that reads it; the
    # reads are hoisted to the top of the caller and go to the class that uses them
    torch.manual_seed(0)
    result, _ = export_and_load(_Scales(), tmp_path, (torch.randn(2, 4),))
    text = result.code_path.read_text()
    assert "class Scale(torch.nn.Module):" in text and "interleave" not in text
    assert "x = x * self.weight" in text and "x = self.first(x)" in text


def test_a_generated_file_that_fails_to_run_is_a_verification_error(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(fxgen.verify, "run_seeded", lambda fn, args, kwargs: fn(*args, **kwargs) if fn is model else broken())
    model = SeedModel()
    with pytest.raises(fxgen.VerificationError, match="seed_gen.py fails where the original runs: RuntimeError: boom"):
        fxgen.export(model, tmp_path / "seed_gen.py", example_inputs=(torch.randn(5, 4),))
    assert list(tmp_path.iterdir()) == []


def _fresh(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    return folder


def test_generated_files_import_only_torch_math_and_user_modules(tmp_path):
    for name, factory in ZOO.items():
        model, inputs = factory()
        tree = ast.parse(fxgen.render(model, example_inputs=inputs))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert {a.name for a in node.names} <= ALLOWED_IMPORTS, (name, ast.unparse(node))
            elif isinstance(node, ast.ImportFrom):
                assert node.module not in ("fxgen", "operator") and not node.module.startswith("fxgen.")
                assert node.module.startswith("tests."), (name, ast.unparse(node))


def test_render_without_formatter_is_the_raw_template_output():
    torch.manual_seed(0)
    raw = fxgen.render(SeedModel(), formatter=None)
    ast.parse(raw)
    assert "# options: formatter=None\n" in raw  # recorded: `fxgen check` leaves it unformatted too
    raw = raw.replace("# options: formatter=None\n", "")
    assert black.format_str(raw, mode=GOLDEN_MODE) == fxgen.render(SeedModel(), formatter=GOLDEN_MODE)


def test_auto_formatter_uses_the_target_projects_black_settings(tmp_path):
    project = tmp_path / "project"
    (project / "pkg").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[tool.black]\nline-length = 40\nskip-string-normalization = true\n")
    torch.manual_seed(0)
    result = fxgen.export(SeedModel(), project / "pkg" / "model_gen.py")
    text = result.code_path.read_text()
    mode = black.Mode(line_length=40, string_normalization=False)
    assert black.format_str(text, mode=mode) == text
    assert "        self.linear = torch.nn.Linear(\n" in text  # wrapped at 40 columns
    assert text != fxgen.render(SeedModel(), formatter=GOLDEN_MODE)


def test_output_is_identical_across_processes_and_folders(tmp_path):
    script = textwrap.dedent(
        """
        import sys, torch, fxgen
        from tests.zoo import ZOO
        model, inputs = ZOO["containers"]()
        fxgen.export(model, sys.argv[1], example_inputs=inputs)
        """
    )
    root = Path(__file__).parent.parent
    outputs = []
    for seed, folder in [("0", "a"), ("12345", "b")]:
        target = _fresh(tmp_path, folder) / "model_gen.py"
        env = {"PYTHONHASHSEED": seed, "PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}
        subprocess.run([sys.executable, "-c", script, str(target)], cwd=target.parent, env=env, check=True)
        outputs.append((target.read_bytes(), target.with_suffix(".pt").read_bytes()))
    assert outputs[0] == outputs[1]


class CountsCalls(nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return x * self.calls


def test_an_original_that_does_not_reproduce_itself_is_named_as_the_cause(tmp_path):
    with pytest.raises(fxgen.VerificationError, match="so does the original from itself.*verify=False"):
        fxgen.export(CountsCalls(), tmp_path / "m.py", example_inputs=(torch.ones(2),))
    assert list(tmp_path.iterdir()) == []
    model, inputs = ZOO["seed"]()
    assert fxgen.export(model, tmp_path / "seed.py", example_inputs=inputs).comparison == "exact"


def test_verify_false_writes_without_running(tmp_path):
    calls = []

    class Counting(nn.Module):
        def forward(self, x):
            return x * 2

    model = Counting()
    model.register_forward_hook(lambda *args: calls.append(1))
    result = fxgen.export(model, tmp_path / "m.py", example_inputs=(torch.rand(2),), verify=False, drop_hooks=True)
    assert not result.verified and result.comparison is None and not calls
    assert "x: torch.Tensor" in result.code_path.read_text()  # the inputs still type the signature


class StructseqOutput(nn.Module):
    def forward(self, x):
        return torch.cummax(x, 0), torch.topk(x, 2)


@pytest.mark.parametrize("capture", ["fx", "export"])
def test_torch_return_types_survive_both_captures(capture, tmp_path):
    result = fxgen.export(StructseqOutput(), tmp_path / "m.py", example_inputs=(torch.randn(5),), capture=capture)
    assert result.comparison == "exact"  # same types: torch.return_types.cummax, not a tuple
    assert "torch.return_types.topk(" not in result.code_path.read_text()  # torch.topk returns one already


@pytest.mark.parametrize("style", ["module", "script"])
def test_only_writing_the_weights_makes_the_state_dict(tmp_path, monkeypatch, style):
    """`render` never reads the weights, so it never pays for the state dict; `export` does
    (the functional style reads the state dict's keys to write `state[...]`)."""
    model, inputs = ZOO["residual"]()
    made = []
    state_dict = nn.Module.state_dict
    monkeypatch.setattr(nn.Module, "state_dict", lambda self, *a, **k: made.append(self) or state_dict(self, *a, **k))
    fxgen.render(model, example_inputs=inputs, style=style)
    assert model not in made
    fxgen.export(model, tmp_path / "model_gen.py", example_inputs=inputs, style=style, verify=False)
    assert model in made


class _Probe(nn.Module):
    def forward(self, x):
        return (x * 2).sum()


class _UnusedCalls(nn.Module):
    """Calls whose results nothing reads: a submodule's and a dropout's (in training
    mode, which torch.export keeps: it draws random numbers)."""

    def __init__(self) -> None:
        super().__init__()
        self.probe = _Probe()
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        self.probe(x)
        self.drop(x)
        return self.fc(x)


@pytest.mark.parametrize("capture", ["fx", "export"])
def test_a_module_call_whose_result_nothing_reads_is_still_made(tmp_path, capture):
    # the call is a statement and its class returns None: the code runs as it did, random
    # numbers drawn included (before, such a class had no return and lowering failed on
    # an assertion; found by a fuzzing run with another seed)
    torch.manual_seed(0)
    result, _ = export_and_load(_UnusedCalls(), tmp_path, (torch.randn(2, 4),), capture=capture)
    text = result.code_path.read_text()
    assert "\n        self.drop(x)\n" in text and "return self.fc(x)" in text
    if capture == "fx":  # torch.export drops the probe's operations: nothing reads them
        assert "class Probe(torch.nn.Module):" in text and "\n        self.probe(x)\n" in text
    assert "return None" in text


class _ReturnsOneValueTwice(nn.Module):
    def forward(self, a, b):
        b = torch.nn.functional.gelu(b)
        x = a.clone()
        x += a
        return {"p": x, "q": b}, x


@pytest.mark.parametrize("capture", ["fx", "export"])
def test_a_value_the_return_reads_twice_is_computed_once(tmp_path, capture):
    # the last statement was inlined into the return wherever it was one item of the
    # returned tuple, though the dict read it too: `return {"p": x.add_(a)}, x.add_(a)`
    # added twice more (found by a fuzzing run with another seed)
    inputs = (torch.randn(4), torch.randn(3))
    result, _ = export_and_load(_ReturnsOneValueTwice(), tmp_path, inputs, capture=capture)
    forward = result.code_path.read_text().split("def forward")[1].split("\ndef load")[0]
    assert result.verified and forward.count(" + ") + forward.count(".add_(") == 1, forward
