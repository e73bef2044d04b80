"""Speed of fxgen against the references it must beat, as ratios measured in one run.

- render: `fxgen.render(formatter=None)` less the capture (lower + render, no
  formatting) vs torch.fx's `Graph.python_code` on the same graph; target <= 1.0x.
- export: `fxgen.export(verify=False)` less the capture (lower + render + format +
  write) vs `black.format_str` alone on the final text; target: 10x faster at 10k nodes (ratio <= 0.1), the 50k export at most 6x the 10k.
- forward: the generated module's median latency vs the eager original and vs its
  GraphModule; target <= 1.02x eager.
- load: importing the generated file and `load()` vs building the GraphModule.

Synthetic graphs are residual stacks (`x = x + relu(fc(x)) * 0.5`, 4 nodes per block).

    python -m benchmarks.performance          # print
    python -m benchmarks.performance --docs   # and rewrite docs/performance.md
"""

from __future__ import annotations

import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import black
import torch
from torch import fx, nn

import fxgen
from fxgen.capture import capture
from fxgen.loader import import_isolated

DOCS = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
SIZES = {1_000: 5, 10_000: 3, 50_000: 1}  # nodes -> repeats


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        return x + torch.relu(self.fc(x)) * 0.5


def stack(nodes: int) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(*[Block() for _ in range(max(1, (nodes - 2) // 4))])


def median_time(run: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def codegen_rows() -> list[str]:
    rows = [
        "| graph nodes | python_code | lower + render | ratio | black on the text | export (no capture) | ratio |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    x = torch.randn(2, 8)
    exports = {}
    for nodes, repeats in SIZES.items():
        model = stack(nodes)
        graph = fx.symbolic_trace(model).graph
        reference = median_time(lambda: graph.python_code("self"), repeats)
        captured = median_time(lambda: capture(model, example_inputs=(x,)), repeats)
        rendered = median_time(lambda: fxgen.render(model, formatter=None, example_inputs=(x,)), repeats) - captured
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "stack_gen.py"

            def export() -> Any:
                return fxgen.export(model, path, example_inputs=(x,), formatter=black.Mode(), verify=False, overwrite=True)

            exported = median_time(export, repeats) - captured
            text = path.read_text()
        formatted = median_time(lambda: black.format_str(text, mode=black.Mode()), repeats)
        exports[nodes] = exported
        rows.append(
            f"| {nodes:,} | {reference:.3f} s | {rendered:.3f} s | {rendered / reference:.1f}x | "
            f"{formatted:.2f} s | {exported:.2f} s | {exported / formatted:.2f}x |"
        )
    growth = exports[50_000] / exports[10_000]
    return rows + ["", f"Export growth from 10k to 50k nodes: {growth:.1f}x (target <= 6x)."]


def forward_rows() -> list[str]:
    from tests.zoo import ZOO

    rows = [
        "| model | eager | GraphModule | generated | vs eager | vs GraphModule | load() | GraphModule build | ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in ("mlp", "cnn", "transformer_block", "residual"):
        model, inputs = ZOO[name]()
        inputs = tuple(torch.cat([t] * 32) for t in inputs)  # a batch that takes milliseconds
        model.eval()
        graph_module = fx.symbolic_trace(model)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"{name}_gen.py"
            fxgen.export(model, path, example_inputs=inputs, verify=False)
            generated = import_isolated(path).load()
            loading = median_time(lambda: import_isolated(path).load(), 5)
        building = median_time(lambda: fx.GraphModule(model, graph_module.graph), 5)
        with torch.no_grad():
            times = {k: median_time(lambda m=m: m(*inputs), 50) for k, m in
                     (("eager", model), ("gm", graph_module), ("gen", generated))}
        rows.append(
            f"| {name} | {times['eager'] * 1e3:.2f} ms | {times['gm'] * 1e3:.2f} ms | {times['gen'] * 1e3:.2f} ms | "
            f"{times['gen'] / times['eager']:.3f}x | {times['gen'] / times['gm']:.3f}x | "
            f"{loading * 1e3:.1f} ms | {building * 1e3:.1f} ms | {loading / building:.1f}x |"
        )
    return rows


def report() -> list[str]:
    return [
        f"torch {torch.__version__}, black {black.__version__}, Python {platform.python_version()}, "
        f"{platform.machine()}, CPU; medians of repeated in-process runs.",
        "",
        "### Code generation (residual stacks; capture excluded)",
        "",
        *codegen_rows(),
        "",
        "### Generated code at run time (zoo models, batch x32, no_grad)",
        "",
        *forward_rows(),
    ]


def main() -> None:
    lines = report()
    print("\n".join(lines))
    if "--docs" in sys.argv:
        head = DOCS.read_text().split("<!-- fxgen:measured -->")[0] if DOCS.exists() else ""
        DOCS.write_text(head + "<!-- fxgen:measured -->\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
