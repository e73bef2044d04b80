"""Write docs/conformance.md from the conformance sweeps.

    python -m tests.conformance.report            # what the default test run sweeps
    FXGEN_SWEEP=full python -m tests.conformance.report   # every module sample
"""

from __future__ import annotations

import collections
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch

from tests.black_identity import compared_with_black
from tests.reuse_identity import compared_with_lowering

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "docs" / "conformance.md"


def transformers_section() -> list[str]:
    import transformers

    from tests.conformance.transformers_sweep import sweep

    start = time.perf_counter()
    results = sweep()
    exact = sum(r.outcome == "exact" for r in results)
    lines = [
        "## transformers models through torch.export",
        "",
        f"transformers {transformers.__version__}: tiny random-weight models built from configs",
        "(`tests/conformance/hf_models.py`), captured with `torch.export.export(strict=False)`,",
        "exported by fxgen in the module style, loaded in isolation and compared with the",
        "original exactly. `aten` counts calls left as `torch.ops.aten.*` (no public spelling).",
        "",
        f"**{exact} of {len(results)} families exact** ({time.perf_counter() - start:.0f} s).",
        "",
        "| family | model | graph nodes | classes | lines | aten | outcome |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r.family} | {r.model} | {r.nodes} | {r.classes} | {r.lines} | {r.aten_fallbacks} | {r.outcome} |"
        )
    return lines


def _swept(items: list[Any], sweep: Callable[[Any, Path], list[Any]]) -> tuple[list[Any], float]:
    start = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for item in items:
            results += sweep(item, Path(folder))
    return results, time.perf_counter() - start


def _totals(results: list[Any]) -> list[str]:
    """One row per capture and style: the outcomes, and exact over what torch reproduces."""
    from tests.conformance.roundtrip import CAPTURES, EXACT, FAILED, OUTSIDE, SHAPES, STYLES

    lines = [
        "| capture | style | cases | exact | dtype and shape | outside fxgen | fxgen failures | reproduced |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for capture in CAPTURES:
        for style in STYLES:
            mine = [r for r in results if r.capture == capture and r.style == style]
            count = collections.Counter(r.outcome for r in mine)
            target = len(mine) - count[OUTSIDE]
            share = f"{100 * (count[EXACT] + count[SHAPES]) / target:.1f}%" if target else "-"
            lines.append(
                f"| {capture} | {style} | {len(mine)} | {count[EXACT]} | {count[SHAPES]} | "
                f"{count[OUTSIDE]} | {count[FAILED]} | {share} |"
            )
    return lines


def _classified(results: list[Any]) -> list[str]:
    """The cases outside fxgen, one row per subject and capture, with the reason."""
    from tests.conformance.roundtrip import FAILED, OUTSIDE

    rows: dict[tuple[str, str, str], list[str]] = {}
    for r in results:
        if r.outcome in (OUTSIDE, FAILED):
            subject, _, sample = r.subject.partition("[")
            reason = r.detail.replace("|", "/").replace("\n", " ")
            if len(reason) > 140:
                reason = reason[:137] + "..."
            key = (subject, r.capture, ("fxgen failure: " if r.outcome == FAILED else "") + reason)
            if f"[{sample}" not in rows.setdefault(key, []):
                rows[key].append(f"[{sample}")
    lines = ["| subject | capture | samples | reason |", "| --- | --- | --- | --- |"]
    for (subject, capture, reason), samples in sorted(rows.items()):
        lines.append(f"| {subject} | {capture} | {' '.join(samples)} | {reason} |")
    return lines


def op_section() -> list[str]:
    from tests.conformance.op_sweep import SAMPLES_PER_OP, op_infos, sweep_op

    infos = op_infos()
    results, seconds = _swept(infos, sweep_op)
    return [
        "## torch's operators (OpInfo `op_db`)",
        "",
        f"{len(infos)} operators with CPU float32 samples, the first {SAMPLES_PER_OP} samples of each",
        "(`tests/conformance/op_sweep.py`): each sample is a one-call module (its tensors are",
        "the inputs, the rest constants), captured by symbolic tracing and by torch.export,",
        "written in the module and the functional style, loaded in isolation and compared with",
        "eager under the same seed, bit for bit (`empty*` on dtype and shape). A case fxgen does",
        "not reproduce is classified *outside fxgen* when eager does not reproduce itself or",
        "the capture does not (torch.fx's GraphModule, the ExportedProgram's module); any other",
        "is an fxgen failure. *reproduced*: exact (or dtype and shape) over the cases that are",
        f"not outside. {len(results)} cases in {seconds:.0f} s.",
        "",
        *_totals(results),
        "",
        "Classified cases:",
        "",
        *_classified(results),
    ]


def module_section() -> list[str]:
    from tests.conformance.module_sweep import SAMPLES_PER_MODE, module_infos, sweep_module

    infos = module_infos()
    results, seconds = _swept(infos, sweep_module)
    sampled = (
        "every constructor and forward sample (`FXGEN_SWEEP=full`; the default test run "
        "takes the first 3 samples per module and mode, to fit its time budget)"
        if SAMPLES_PER_MODE is None
        else f"the first {SAMPLES_PER_MODE} samples per mode (the default test run; "
        "`FXGEN_SWEEP=full` takes every sample)"
    )
    return [
        "## torch's modules (ModuleInfo `module_db`)",
        "",
        f"{len(infos)} modules with float32 support, {sampled}, in eval mode and also in",
        "training mode where the two differ (`tests/conformance/module_sweep.py`). The module",
        "is called by a small root module; in the module style it must stay a leaf call rebuilt",
        "by a constructor call (never pickled) whose `repr` equals the original's, in the",
        "functional style it is lowered to functional code. Compared and classified as above",
        f"(the fx reference traces the module itself). {len(results)} cases in {seconds:.0f} s.",
        "",
        *_totals(results),
        "",
        "Classified cases:",
        "",
        *_classified(results),
    ]


def main() -> None:
    with compared_with_black(), compared_with_lowering():
        sections = [op_section(), module_section(), transformers_section()]
    header = [
        "# Conformance",
        "",
        "Generated by `python -m tests.conformance.report`; do not edit by hand.",
        f"torch {torch.__version__}, Python {platform.python_version()}, {platform.machine()}, CPU.",
        "",
    ]
    text = "\n".join(header + [line for section in sections for line in section + [""]])
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(text)
    print(f"wrote {REPORT.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
