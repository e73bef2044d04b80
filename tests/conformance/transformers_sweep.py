"""Export every transformers family of `hf_models.py` through torch.export and fxgen."""

from __future__ import annotations

import ast
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import fxgen
from tests.conformance.hf_models import FAMILIES, build


@dataclass
class FamilyResult:
    family: str
    model: str
    nodes: int = 0
    classes: int = 0
    lines: int = 0
    aten_fallbacks: int = 0
    seconds: float = 0.0
    outcome: str = "exact"


def export_family(family: str, folder: Path) -> tuple[FamilyResult, str]:
    """Export one family's model into `folder` (verified exactly) and describe the result.

    Beyond the exact outputs, the loaded file must have the original's state_dict keys and
    run after `.to("meta")`, which fails on any device captured into the code."""
    model, inputs = build(family)
    result = FamilyResult(family, type(model).__name__)
    start = time.perf_counter()
    try:
        exported = fxgen.export(model, folder / "model_gen.py", example_inputs=((), inputs), capture="export")
    except fxgen.FxgenError as exc:
        result.outcome = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        return result, ""
    result.seconds = time.perf_counter() - start
    loaded = fxgen.load(exported.code_path)
    if list(loaded.state_dict()) != list(model.state_dict()):
        result.outcome = "state_dict keys differ"
    try:
        loaded.to("meta")(**{name: value.to("meta") for name, value in inputs.items()})
    except Exception as exc:
        result.outcome = f"does not run on another device: {exc}"
    text = exported.code_path.read_text()
    result.nodes = exported.node_count
    result.lines = exported.line_count
    result.classes = sum(isinstance(node, ast.ClassDef) for node in ast.parse(text).body)
    result.aten_fallbacks = text.count("torch.ops.aten.")
    return result, text


def sweep() -> list[FamilyResult]:
    results = []
    for family in FAMILIES:
        with tempfile.TemporaryDirectory() as folder:
            results.append(export_family(family, Path(folder))[0])
    return results
