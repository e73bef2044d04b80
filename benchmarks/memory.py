"""Peak activation memory of generated code vs torch.fx's GraphModule and the original.

Peak = the largest total size of tensor storages that `forward` has created and still
holds, under `torch.no_grad()`, measured by a TorchDispatchMode that sees every result
and weak references that see every release. Parameters, buffers and inputs do not count.

Two generated files per model: flat (`hierarchy=False`, one forward like the
GraphModule's; target <= 1.05 x GraphModule) and the default one class per module type
(target <= 1.0 x the original eager model: a module call keeps its input alive until it
returns, in the original as in the generated code, which a flat GraphModule avoids).

    python -m benchmarks.memory
"""

from __future__ import annotations

import tempfile
import weakref
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

import fxgen
from benchmarks.models import FlatResidualMLP, ResidualMLP
from tests.zoo import ResidualNet, TransformerBlock


class LiveBytes(TorchDispatchMode):
    """Tracks the bytes of live storages created by operations; `peak` is the maximum."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, list[int]] = {}  # storage pointer -> [bytes, live tensors]
        self.current = 0
        self.peak = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for tensor in pytree.tree_leaves(out):
            if isinstance(tensor, torch.Tensor):
                self.track(tensor)
        return out

    def track(self, tensor: torch.Tensor) -> None:
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        if key not in self.live:
            self.live[key] = [storage.nbytes(), 0]
            self.current += storage.nbytes()
            self.peak = max(self.peak, self.current)
        self.live[key][1] += 1
        weakref.finalize(tensor, self.release, key)

    def release(self, key: int) -> None:
        entry = self.live.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            self.current -= entry[0]
            del self.live[key]


def peak_bytes(module: Callable[..., Any], inputs: tuple[Any, ...]) -> int:
    with torch.no_grad():
        tracker = LiveBytes()
        with tracker:
            module(*inputs)
        return tracker.peak


class StackedTransformer(nn.Module):
    def __init__(self, depth: int = 8) -> None:
        super().__init__()
        self.layers = nn.ModuleList([TransformerBlock(32, 4) for _ in range(depth)])

    def forward(self, x, mask):
        for layer in self.layers:
            x = layer(x, mask)
        return x


def cases() -> dict[str, tuple[nn.Module, tuple[Any, ...]]]:
    torch.manual_seed(0)
    return {
        "residual MLP, 40 blocks": (ResidualMLP(40, 256).eval(), (torch.randn(64, 256),)),
        "residual MLP, 40 blocks in one forward": (FlatResidualMLP(40, 256).eval(), (torch.randn(64, 256),)),
        "CNN (residual blocks)": (ResidualNet().eval(), (torch.randn(16, 3, 32, 32),)),
        "transformer encoder, 8 layers": (
            StackedTransformer().eval(),
            (torch.randn(8, 64, 32), torch.ones(8, 64, dtype=torch.long)),
        ),
    }


def measure() -> list[tuple[str, int, int, int, int]]:
    """(case, eager, GraphModule, generated flat, generated with classes) peak bytes."""
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for i, (name, (model, inputs)) in enumerate(cases().items()):
            peaks = []
            for hierarchy in (False, True):
                path = Path(folder) / f"model_{i}_{hierarchy}.py"
                result = fxgen.export(model, path, example_inputs=inputs, hierarchy=hierarchy)
                peaks.append(peak_bytes(fxgen.load(result.code_path), inputs))
            eager, fx = peak_bytes(model, inputs), peak_bytes(torch.fx.symbolic_trace(model), inputs)
            rows.append((name, eager, fx, peaks[0], peaks[1]))
    return rows


def report() -> list[str]:
    lines = [
        "Peak activation memory under no_grad, KiB (targets: flat <= 1.05 x GraphModule;",
        "with classes <= 1.0 x eager)",
        "",
        "| model | eager | GraphModule | flat | flat / GraphModule | classes | classes / eager |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, eager, fx, flat, nested in measure():
        lines.append(
            f"| {name} | {eager // 1024} | {fx // 1024} | {flat // 1024} | {flat / fx:.2f} | "
            f"{nested // 1024} | {nested / eager:.2f} |"
        )
    return lines


def main() -> None:
    print("\n".join(report()))


if __name__ == "__main__":
    main()
