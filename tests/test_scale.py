"""A deep graph exports without recursion proportional to its depth (the 100,000-node
figure is recorded in docs/robustness.md by `python -m tests.fuzz.campaign`), and an
lowering leaves nothing of its own for the cycle collector."""

from __future__ import annotations

import gc
import inspect
import subprocess
import sys

import pytest
from torch import fx

from fxgen.capture import capture
from fxgen.lower import lower
from fxgen.render import find_style, render_program
from tests import zoo
from tests.fuzz.campaign import SCALE


def test_a_20000_deep_chain_renders_under_a_recursion_limit_of_1000():
    result = subprocess.run([sys.executable, "-c", SCALE, "20000"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    seconds, lines, before, peak = result.stdout.split()
    assert int(lines) > 20000


@pytest.mark.parametrize("name", ["residual", "transformer_block", "containers"])
@pytest.mark.parametrize("hierarchy", [False, True])
def test_lowering_leaves_nothing_of_fxgens_to_the_cycle_collector(name, hierarchy):
    """Lowering's objects are freed with the program, by reference counting: no reference
    cycle keeps a lowering (and every expression it made) alive until the next collection,
    which walks all of it (a tenth of a second after a 50,000-node graph). Only the fx
    graphs of the classes are left to the collector (an fx graph is a cycle itself)."""
    model, inputs = zoo.ZOO[name]()
    captured = capture(model, method="fx", example_inputs=inputs)
    style = find_style("module")

    def lower_and_render() -> None:
        render_program(lower(captured, example_inputs=inputs, hierarchy=hierarchy), style)

    lower_and_render()  # caches filled first
    gc.collect()
    # what lives now is no garbage of this lowering, even where it is dropped inside the
    # window (an earlier test's dynamo graph, released by a cache of torch's or Python's);
    # alive or kept in gc.garbage until the end, none of these ids is reused meanwhile
    before = {id(obj) for obj in gc.get_objects()}
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        lower_and_render()
        gc.collect()
        made = [obj for obj in gc.garbage if id(obj) not in before]
        left = [obj for obj in made if _made_by_fxgen(obj)]
        graphs_left = [obj for obj in made if isinstance(obj, (fx.Graph, fx.Node))]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert not left, left[:10]
    assert hierarchy or not graphs_left, "a flat lowering makes no fx graph"


def _made_by_fxgen(obj: object) -> bool:
    """An instance of one of fxgen's classes, or a function or method defined in fxgen."""
    module = obj.__module__ if inspect.isfunction(obj) or inspect.ismethod(obj) else type(obj).__module__
    return (module or "").startswith("fxgen")
