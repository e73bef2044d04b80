"""Safe loading: the generated `load()` reads weights with `weights_only=True`, and a
broken weight file is one error that names the file and the key."""

from __future__ import annotations

import ast

import pytest
import torch

import fxgen
from fxgen.loader import import_isolated
from tests.zoo import ZOO


@pytest.fixture
def exported(tmp_path):
    model, inputs = ZOO["mlp"]()
    result = fxgen.export(model, tmp_path / "mlp_gen.py", example_inputs=inputs)
    return result.code_path, result.weights_path


def _edit_state(weights_path, edit):
    weights = torch.load(weights_path, weights_only=True)
    edit(weights["state_dict"])
    torch.save(weights, weights_path)


def _load_error(code_path, style_call="load"):
    module = import_isolated(code_path)
    with pytest.raises(RuntimeError) as error:
        getattr(module, style_call)()
    return str(error.value)


def test_a_truncated_file_names_the_file(exported):
    code, weights = exported
    weights.write_bytes(weights.read_bytes()[:200])
    message = _load_error(code)
    assert message.startswith(f"cannot load {weights} into MLP: ")


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda s: s.pop("fc2.bias"), 'Missing key(s) in state_dict: "fc2.bias"'),
        (lambda s: s.__setitem__("fc3.weight", torch.zeros(1)), 'Unexpected key(s) in state_dict: "fc3.weight"'),
        (lambda s: s.__setitem__("fc1.weight", torch.zeros(2, 2)), "size mismatch for fc1.weight"),
    ],
    ids=["missing", "unexpected", "shape"],
)
def test_a_broken_state_names_the_file_and_the_key(exported, edit, expected):
    code, weights = exported
    _edit_state(weights, edit)
    message = _load_error(code)
    assert message.startswith(f"cannot load {weights} into MLP: ") and expected in message


def test_a_weight_file_with_code_in_it_is_refused(exported, capsys):
    """`weights_only=True`: a pickle that would run code is not loaded."""
    code, weights = exported

    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    torch.save({"state_dict": Payload()}, weights)
    message = _load_error(code)
    assert f"cannot load {weights} into MLP" in message and "Unsupported global" in message
    assert "this must never run" not in capsys.readouterr().out


def test_the_functional_state_loader_names_the_file(tmp_path):
    model, inputs = ZOO["mlp"]()
    result = fxgen.export(model, tmp_path / "mlp_fn.py", style="functional", example_inputs=inputs)
    result.weights_path.write_bytes(b"not a zip file")
    message = _load_error(result.code_path, "load_state")
    assert message.startswith(f"cannot load the state from {result.weights_path}: ")


def test_every_python_style_loads_with_weights_only(tmp_path):
    for style in ("module", "functional", "script"):
        model, inputs = ZOO["buffers"]()
        text = fxgen.render(model, style=style, example_inputs=inputs)
        loads = [
            call
            for call in ast.walk(ast.parse(text))
            if isinstance(call, ast.Call) and ast.unparse(call.func) == "torch.load"
        ]
        assert loads and all(
            any(k.arg == "weights_only" and ast.literal_eval(k.value) is True for k in call.keywords) for call in loads
        ), style
