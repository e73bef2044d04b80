"""Strings from the model can never become code: names of modules, parameters and
buffers, dict keys, string constants, the class name and its docstring stay inside
their literal or comment, and names that NFKC-normalise alike reach their own attribute.
The generated file's AST holds exactly the statements the graph calls for."""

from __future__ import annotations

import ast

import torch
from torch import nn

import fxgen
from fxgen.loader import import_isolated
from fxgen.verify import first_difference, run_seeded

EVIL = [
    'q"uote', "a'b", "back\\slash", "new\nline", "car\rriage", '"""', "nul\x00", "#hash",
    "sep\u2028line", "para\u2029", "esc\x1b[0m", "ﬁ", "fi", "import os", "x); import os; (",
    "__import__('os')", "class", "self", "torch", "F",
]
PAYLOAD = "__import__('os').system('echo pwned')"


def _evil_model() -> nn.Module:
    def forward(self, x):
        for name in EVIL:
            x = getattr(self, name)(x) * getattr(self, f"{name} scale")
        return {key: x + i for i, key in enumerate(EVIL)}, 'a "string"\nconstant """ ' + PAYLOAD

    def init(self):
        nn.Module.__init__(self)
        for i, name in enumerate(EVIL):
            self.add_module(name, nn.Linear(4, 4))
            self.register_buffer(f"{name} scale", torch.full((4,), float(i + 1)))

    doc = 'Doc """ with\nnewlines\r and ' + PAYLOAD
    cls = type("Evil\nimport os", (nn.Module,), {"__init__": init, "forward": forward, "__doc__": doc})
    torch.manual_seed(0)
    return cls()


def test_hostile_strings_stay_literals_and_reach_their_own_attributes(tmp_path):
    model = _evil_model()
    inputs = (torch.randn(2, 4),)
    result = fxgen.export(model, tmp_path / "evil_gen.py", example_inputs=inputs)
    assert result.comparison == "exact"  # ﬁ and fi called in their order, every key kept
    text = result.code_path.read_text(encoding="utf-8")
    tree = ast.parse(text)

    # no character that ends a line or a literal outside a string escape
    assert not any(c in text for c in "\r\x00\u2028\u2029\x1b")
    # top level: imports of torch only, the classes, load()
    for statement in tree.body:
        assert isinstance(statement, (ast.Import, ast.ImportFrom, ast.ClassDef, ast.FunctionDef)), ast.dump(statement)
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            assert {a.name for a in statement.names} <= {"torch", "torch.nn.functional"}
    # the payload never becomes a name, an attribute or a call
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    attributes = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert not ({"os", "__import__", "system"} & (names | attributes))
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert set(EVIL) <= strings | attributes

    # forward: one module call and one multiplication per name, then the outputs
    root = next(s for s in tree.body if isinstance(s, ast.ClassDef) and any(
        isinstance(f, ast.FunctionDef) and f.name == "forward" for f in s.body))
    forward = next(f for f in root.body if isinstance(f, ast.FunctionDef) and f.name == "forward")
    calls = [n for n in ast.walk(forward) if isinstance(n, ast.Call)]
    lookups = [c for c in calls if isinstance(c.func, ast.Name) and c.func.id == "getattr"]
    assert all(ast.unparse(c.args[0]) == "self" and isinstance(c.args[1], ast.Constant) for c in lookups)
    assert len(calls) - len(lookups) == len(EVIL)  # the module calls; nothing else is called
    products = [n for n in ast.walk(forward) if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Mult)]
    assert len(products) == len(EVIL)

    loaded = import_isolated(result.code_path).load()
    assert first_difference(run_seeded(model, inputs, {}), run_seeded(loaded, inputs, {})) is None
    assert [k for k, _ in loaded.named_children()] == EVIL
    assert list(loaded.state_dict()) == list(model.state_dict())


def test_every_style_of_the_hostile_model_parses(tmp_path):
    model = _evil_model()
    inputs = (torch.randn(2, 4),)
    for style in fxgen.styles():
        text = fxgen.render(model, style=style, example_inputs=inputs)
        assert not any(c in text for c in "\r\x00\u2028\u2029\x1b"), style
        if style in ("module", "functional", "script"):
            ast.parse(text)
        assert "\nimport os" not in text, style
