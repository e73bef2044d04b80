"""Every module of torch's ModuleInfo database is rebuilt (module style) or lowered to
functional code (functional style) and reproduces the original, in every capture."""

from __future__ import annotations

import pytest

pytest.importorskip("torch.testing._internal.common_modules")

from tests.conformance.module_sweep import module_infos, module_name, sweep_module  # noqa: E402
from tests.conformance.roundtrip import FAILED  # noqa: E402

pytestmark = pytest.mark.conformance

INFOS = {module_name(info): info for info in module_infos()}


@pytest.mark.parametrize("name", list(INFOS))
def test_module_round_trips(name, tmp_path):
    failures = [r for r in sweep_module(INFOS[name], tmp_path) if r.outcome == FAILED]
    assert not failures, "\n".join(f"{r.subject} {r.capture}/{r.style}: {r.detail}" for r in failures)
