"""fxgen.dynamo_backend: every graph torch.compile captures becomes a readable file."""

from __future__ import annotations

import torch
from torch import nn

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
