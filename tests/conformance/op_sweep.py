"""The operator sweep: torch's OpInfo database (`op_db`), every operator with CPU float32
samples, its first SAMPLES_PER_OP samples, each as a one-call module round-tripped by
`roundtrip.round_trip` (tensor arguments are the module's inputs, the rest constants).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from tests.conformance.roundtrip import Result, round_trip, sample_call

SAMPLES_PER_OP = 3


def op_infos() -> list[Any]:
    """OpInfos with CPU float32 support, named uniquely (`name.variant`)."""
    from torch.testing._internal.common_methods_invocations import op_db

    return [info for info in op_db if torch.float32 in info.supported_dtypes("cpu")]


def op_name(info: Any) -> str:
    return f"{info.name}.{info.variant_test_name}" if info.variant_test_name else info.name


def samples(info: Any) -> Iterator[tuple[nn.Module, tuple[torch.Tensor, ...]]]:
    """The first samples, seeded. `sample_inputs_func` directly: `info.sample_inputs` looks
    up the calling test with `inspect.stack()`, a quarter of the sweep's time."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for index, sample in enumerate(info.sample_inputs_func(info, "cpu", torch.float32, False)):
            if index == SAMPLES_PER_OP:
                return
            yield sample_call(info.op, (sample.input, *sample.args), sample.kwargs)


def sweep_op(info: Any, folder: Path) -> list[Result]:
    """Every sample, capture and style of one operator."""
    name = op_name(info)
    values = "empty" not in info.name  # empty, empty_like, new_empty...: uninitialised memory
    results = []
    for index, (module, inputs) in enumerate(samples(info)):
        results += round_trip(f"{name}[{index}]", module, inputs, folder, values)
    return results
