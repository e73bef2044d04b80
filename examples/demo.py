"""Export a small model with fxgen, show the generated file, and run it.

    python examples/demo.py [OUTPUT_DIR]     (default: out/demo)
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import torch

import fxgen

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")


class MyModule(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.param = torch.nn.Parameter(torch.rand(3, 4))
        self.linear = torch.nn.Linear(4, 5)

    def forward(self, x):
        return torch.topk(torch.sum(self.linear(x + self.linear.weight).relu(), dim=-1), 3)


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "out/demo")
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model, x = MyModule(), torch.randn(5, 4)
    result = fxgen.export(model, out / "model_gen.py", example_inputs=(x,))
    print(result.code_path.read_text())
    print(f"# wrote {result.code_path} ({result.line_count} lines) and {result.weights_path}")
    print(f"# {result.node_count} graph nodes; verified against the original: {result.verified}")
    loaded = fxgen.load(result.code_path)
    print(f"# fxgen.load(...)(x) == model(x): {torch.equal(loaded(x).values, model(x).values)}")


if __name__ == "__main__":
    main()
