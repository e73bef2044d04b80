"""Property-based fuzzing: random programs with hostile names, in every style.

`FXGEN_FUZZ=5000 pytest tests/test_fuzz.py` runs a long campaign (the default run takes
FUZZ_EXAMPLES); `python -m tests.fuzz.campaign` records one in docs/robustness.md.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402

from tests.fuzz.check import check_program  # noqa: E402
from tests.fuzz.programs import programs, step_kinds  # noqa: E402

FUZZ_EXAMPLES = int(os.environ.get("FXGEN_FUZZ", "200"))

SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,  # the same programs in every run: CI is deterministic
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def test_every_program_round_trips_or_raises_a_typed_error():
    """Each program exports in every style exactly or raises a typed error; and most of
    them round-trip, since a fuzzer whose programs all end in errors would prove nothing
    (one test, so that the tally is its own wherever a parallel run puts it)."""
    outcomes: Counter = Counter()
    calls: Counter = Counter()  # calls of custom submodules: the hierarchy split and twins

    @SETTINGS
    @given(programs())
    def round_trips_or_raises(drawn):
        module, inputs, program = drawn
        calls.update(step_kinds(module))
        with tempfile.TemporaryDirectory() as folder:
            failures = check_program(module, inputs, Path(folder), outcomes, program.options)
        assert not failures, "\n".join(failures) + "\n\nprogram:\n" + program.describe()

    round_trips_or_raises()
    exact = sum(n for (style, outcome), n in outcomes.items() if outcome == "exact")
    assert exact >= 0.5 * sum(outcomes.values()), outcomes
    assert calls["submodule"] >= FUZZ_EXAMPLES // 10 and calls["again"] >= FUZZ_EXAMPLES // 50, calls


def test_every_program_compiles_through_the_dynamo_backend():
    """The same programs under torch.compile with fxgen's backend: dynamo's graphs (inputs
    named by dynamo, operator nodes, in-place statements) are written, verified and run,
    and the compiled program returns what eager does."""
    import torch

    import fxgen
    from fxgen.verify import first_difference, run_seeded

    @settings(SETTINGS, max_examples=max(1, FUZZ_EXAMPLES // 5))
    @given(programs())
    def compiles(drawn):
        module, inputs, program = drawn
        expected = run_seeded(module, inputs, {})
        torch._dynamo.reset()
        with tempfile.TemporaryDirectory() as folder:
            actual = run_seeded(torch.compile(module, backend=fxgen.dynamo_backend(folder)), inputs, {})
            # a program whose every drawn step eager refused returns its input: no graph
            assert list(Path(folder).glob("graph_*.py")) or not program.steps, "no graph written"
        assert first_difference(expected, actual) is None, first_difference(expected, actual) + "\n" + program.describe()

    compiles()
