"""fxgen.dynamo_backend: every graph torch.compile captures becomes a readable file."""

from __future__ import annotations

import operator

import torch
from torch import fx, nn

import fxgen
from fxgen.dynamo import readable_input_name
from fxgen.loader import import_isolated


class WithBreak(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(2)])

    def forward(self, x):
        y = self.fc(x).relu()
        torch._dynamo.graph_break()
        for layer in self.layers:
            y = layer(y)
        return torch.softmax(y, dim=-1)


def test_each_graph_is_written_with_readable_inputs_and_runs(tmp_path):
    torch._dynamo.reset()
    torch.manual_seed(0)
    model, x = WithBreak(), torch.randn(2, 4)
    compiled = torch.compile(model, backend=fxgen.dynamo_backend(tmp_path))
    assert torch.equal(compiled(x), model(x))
    files = sorted(p.name for p in tmp_path.glob("graph_*.py"))
    assert files == ["graph_000.py", "graph_001.py"]
    first = (tmp_path / "graph_000.py").read_text()
    assert "def forward(self, fc_weight: torch.Tensor, fc_bias: torch.Tensor, x: torch.Tensor):" in first
    second = (tmp_path / "graph_001.py").read_text()
    assert "layers_0_weight" in second and "L_self" not in second
    graph = import_isolated(tmp_path / "graph_000.py").load()
    (out,) = graph(model.fc.weight, model.fc.bias, x)
    assert torch.equal(out, model.fc(x).relu())
    assert "graph_001.py" in (tmp_path / "index.md").read_text()


def test_readable_names():
    assert readable_input_name("L_self_modules_layers_modules_0_parameters_weight_") == "layers_0_weight"
    assert readable_input_name("L_self_buffers_running_mean_") == "running_mean"
    assert readable_input_name("L_x_") == "x"


class InPlace(nn.Module):
    """What torch.compile keeps as `operator.setitem` and `operator.iadd` nodes."""

    def forward(self, x, n: int):
        y = x.clone()
        y[:, 0] = 0.0
        y += x
        n += 1
        return y * n


def test_assignments_into_values_are_written_as_statements(tmp_path):
    torch._dynamo.reset()
    model, x = InPlace(), torch.randn(2, 3)
    compiled = torch.compile(model, backend=fxgen.dynamo_backend(tmp_path), dynamic=False)
    assert torch.equal(compiled(x, 2), model(x, 2))
    text = (tmp_path / "graph_000.py").read_text()
    assert "[:, 0] = 0.0\n" in text and " += x\n" in text, text
    assert "operator" not in text
    (out,) = import_isolated(tmp_path / "graph_000.py").load()(x)
    assert torch.equal(out, model(x, 2))


def test_in_place_operators_keep_the_graphs_meaning(tmp_path):
    """`operator.iadd` on a tensor changes it in place (`y += x`, and the result is `y`); on
    a number it is `n + 1`; the value is returned as the changed tensor, not folded away;
    `operator.abs(n)` is `abs(n)`."""
    graph = fx.Graph()
    x, n = graph.placeholder("x"), graph.placeholder("n")
    y = graph.call_method("clone", (x,))
    graph.call_function(operator.setitem, (y, (slice(None), 0), 0.0))
    total = graph.call_function(operator.iadd, (y, x))
    size = graph.call_function(operator.abs, (graph.call_function(operator.neg, (n,)),))
    graph.output((total, graph.call_function(operator.iadd, (size, 1))))
    module = fx.GraphModule(nn.Module(), graph)
    x = torch.randn(2, 3)
    exported = fxgen.export(module, tmp_path / "in_place_gen.py", example_inputs=(x, 2))
    assert exported.comparison == "exact"
    text = exported.code_path.read_text()
    assert "clone = x.clone()\n        clone[:, 0] = 0.0\n        clone += x\n        abs_1 = abs(-n)\n        return clone, abs_1 + 1\n" in text, text
    assert "operator" not in text
    out, m = fxgen.load(exported.code_path)(x, 2)
    assert torch.equal(out, module(x, 2)[0]) and m == 3


class HostileNames(nn.Module):
    """Parameters `class` and `self` and a submodule `0`, read as `class`, `self` and
    `0_weight`: no parameter names; and `a.b` beside `a_b`, both read as `a_b`."""

    def __init__(self):
        super().__init__()
        self.register_parameter("class", nn.Parameter(torch.randn(3)))
        self.register_parameter("self", nn.Parameter(torch.randn(3)))
        self.add_module("0", nn.Linear(3, 3))
        self.a = nn.Module()
        self.a.b = nn.Parameter(torch.randn(3))
        self.a_b = nn.Parameter(torch.randn(3))

    def forward(self, x):
        return getattr(self, "0")(x * getattr(self, "class")) + self.a.b + self.a_b - getattr(self, "self")


def test_inputs_whose_readable_name_is_no_identifier_keep_dynamos_name(tmp_path):
    torch._dynamo.reset()
    model, x = HostileNames(), torch.randn(2, 3)
    assert torch.equal(torch.compile(model, backend=fxgen.dynamo_backend(tmp_path))(x), model(x))
    text = (tmp_path / "graph_000.py").read_text()
    assert "a_b: torch.Tensor" in text and "class:" not in text, text
