"""The module sweep: torch's ModuleInfo database (`module_db`), each module built from its
constructor samples and called on its forward samples, in eval mode (and in training
mode where the two differ), round-tripped by `roundtrip.round_trip`.

In the module style the module must be a leaf call rebuilt by a constructor call (never
pickled) whose `repr` equals the original's; in the functional style it is lowered to
functional code.
"""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from tests.conformance.roundtrip import Result, round_trip, sample_call

#: samples per module and mode in the default run; FXGEN_SWEEP=full takes them all
SAMPLES_PER_MODE = None if os.environ.get("FXGEN_SWEEP") == "full" else 3


def module_infos() -> list[Any]:
    from torch.testing._internal.common_modules import module_db

    return [info for info in module_db if torch.float32 in info.dtypes]


def module_name(info: Any) -> str:
    return info.name


def samples(info: Any) -> Iterator[tuple[str, nn.Module, nn.Module, tuple[torch.Tensor, ...]]]:
    """(mode, the sample module, the built module, inputs) for each sample, seeded."""
    modes = ["eval", "train"] if info.train_and_eval_differ else ["eval"]
    for mode in modes:
        torch.manual_seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inputs = info.module_inputs_func(info, device="cpu", dtype=torch.float32, requires_grad=False, training=mode == "train")
            for sample in inputs[:SAMPLES_PER_MODE]:
                built = info.module_cls(*sample.constructor_input.args, **sample.constructor_input.kwargs)
                built.train(mode == "train")
                forward = sample.forward_input
                if info.is_lazy:  # lazy modules take their shapes from a first call
                    built(*copy.deepcopy(forward.args), **copy.deepcopy(forward.kwargs))
                module, tensors = sample_call(built, forward.args, forward.kwargs)
                yield mode, module, built, tensors


def sweep_module(info: Any, folder: Path) -> list[Result]:
    """Every sample, capture and style of one module."""
    results = []
    counts: dict[str, int] = {}
    for mode, module, built, inputs in samples(info):
        index = counts[mode] = counts.get(mode, -1) + 1
        name = f"{module_name(info)}.{mode}[{index}]"
        results += round_trip(name, module, inputs, folder, traced=built, inspect=_rebuilt(built))
    return results


def _rebuilt(original: nn.Module) -> Any:
    """The module-style check: a constructor call whose module has the original's repr."""

    def inspect(style: str, loaded: Any, text: str) -> str | None:
        if style != "module":
            return "the functional file defines a class" if "\nclass " in text else None
        call = f"torch.nn.{type(original).__name__}("
        if call not in text:
            return f"not rebuilt by a constructor call ({call}...)"
        if repr(loaded.module) != repr(original):
            return f"rebuilt as {loaded.module!r}, expected {original!r}"
        return None

    return inspect
