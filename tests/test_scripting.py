"""Generated modules work wherever an nn.Module works: TorchScript and torch.compile."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch

import fxgen
from fxgen.verify import first_difference, run_seeded
from tests.zoo import ZOO


def _plain(value):
    """TorchScript gives each compilation unit its own named-tuple type: compare fields."""
    if isinstance(value, tuple) and hasattr(type(value), "_fields"):
        return (type(value).__name__, tuple(_plain(v) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@pytest.fixture
def generated(tmp_path):
    def make(name):
        model, inputs = ZOO[name]()
        result = fxgen.export(model, tmp_path / f"{name}.py", example_inputs=inputs)
        return model, inputs, fxgen.load(result.code_path)

    return make


@pytest.mark.parametrize("name", sorted(ZOO))
def test_generated_module_scripts_wherever_the_original_does(name, generated):
    model, inputs, loaded = generated(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript's deprecation warning
        try:
            original = torch.jit.script(copy.deepcopy(model))
        except Exception:
            pytest.skip("the original model is not scriptable")
        scripted = torch.jit.script(loaded)
    expected = _plain(run_seeded(original, inputs, {}))
    assert first_difference(expected, _plain(run_seeded(scripted, inputs, {}))) is None


@pytest.mark.parametrize("name", sorted(ZOO))
def test_generated_module_compiles_without_graph_breaks_wherever_the_original_does(name, generated):
    model, inputs, loaded = generated(name)
    torch._dynamo.reset()
    try:
        torch.compile(copy.deepcopy(model), fullgraph=True, backend="aot_eager")(*inputs)
    except Exception:
        pytest.skip("the original model does not compile with fullgraph=True")
    torch._dynamo.reset()
    compiled = torch.compile(loaded, fullgraph=True, backend="aot_eager")
    actual, expected = run_seeded(compiled, inputs, {}), run_seeded(model, inputs, {})
    assert type(actual) is type(expected)
    torch.testing.assert_close(actual, expected, equal_nan=True)  # compilation may decompose ops
