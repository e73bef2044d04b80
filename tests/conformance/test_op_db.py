"""Every operator of torch's OpInfo database round-trips through every capture and code style."""

from __future__ import annotations

import pytest

pytest.importorskip("torch.testing._internal.common_methods_invocations")

from tests.conformance.op_sweep import op_infos, op_name, sweep_op  # noqa: E402
from tests.conformance.roundtrip import FAILED  # noqa: E402

pytestmark = pytest.mark.conformance

INFOS = {op_name(info): info for info in op_infos()}


@pytest.mark.parametrize("name", list(INFOS))
def test_operator_round_trips(name, tmp_path):
    failures = [r for r in sweep_op(INFOS[name], tmp_path) if r.outcome == FAILED]
    assert not failures, "\n".join(f"{r.subject} {r.capture}/{r.style}: {r.detail}" for r in failures)
