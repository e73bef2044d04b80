"""The black fast path gives exactly black's output, and black sees only what needs it.

Besides these tests, every export the test run makes is compared with whole-file black
(`_black_identity` in conftest.py): goldens, conformance sweeps, fuzzed programs.
"""

from __future__ import annotations

import ast
import keyword
import os
import sysconfig
from pathlib import Path

import black
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fxgen
from fxgen import blackfast
from tests.zoo import ZOO

GOLDEN = Path(__file__).parent.parent / "golden"

# Texts that each exercise one rule the fast path must respect.
CASES = {
    "plain run": "x = 1\ny = f(x, 2)\nz = x + y\n",
    "spacing black fixes": "x=1\ny = f( x,2 )\nz = x+y\nw = x ** 2 + y**-1\n",
    "magic trailing comma": "x = f(a, b,)\ny = [1, 2,]\nz = (a,)\n",
    "long lines at depths": (
        "def f():\n    value = some_function_name(first_argument_value, second_argument_value, third_one)\n"
        "    if value:\n        other = value.attribute.method(keyword_argument=1, another_keyword=2, third=3)\n"
        "class C:\n    x = [element_number_one, element_number_two, element_number_three, element_four]\n"
    ),
    "strings black rewrites": "x = 'a'\ny = \"it's\"\nz = u\"x\"\nw = f('{x}')\nv = '''t'''\n",
    "plain strings beside others": (
        'x = "a""b"\ny = """t"""\nz = b"x" b"y"\nw = f("a b", \'c\')\nv = g("x:y", "")\nu = "é"\n'
        't = h("0", 1e-05, 0.5, x1)\n'
    ),
    "long line with single quotes": "x = function_name_that_is_long('first string argument', 'second string argument', 3)\n",
    "numbers black rewrites": "x = 1E5\ny = 0XFF\nz = 1.\nw = 10J\nv = 1_000\n",
    "redundant parentheses": "x = (a)\ny = (1)\nprint((a))\nfor (i) in (b):\n    pass\n",
    "comments": "x = 1\n# a comment\ny = 2\n#no space\nz = 3\n# trailing space   \nw = 4\n    # odd indent\nv = 5\n",
    "comment before a def": "x = 1\n# about f\ndef f():\n    pass\ny = 2\n",
    "imports then statements": "import os\nx = 1\ndef f():\n    import sys\n    y = 2\n",
    "blank lines": "x = 1\n\n\n\ny = 2\ndef f():\n\n    a = 1\n\n\n    b = 2\nclass C:\n\n    z = 1\n",
    "docstrings": 'def f():\n    """Doc."""\n    x = 1\nclass C:\n    \'\'\'doc\'\'\'\n    y = 2\n',
    "dummy bodies": "def f(): ...\nclass C:\n    ...\nx = ...\n",
    "semicolons and backslashes": "x = 1; y = 2\nz = 1 + \\\n    2\nw = 3\n",
    "compound one-liners": "if x: y = 1\nfor i in z: w = i\nwhile a: b = 1\n",
    "version features": "x = (y := 1)\nz = lambda a: a\nw = f(*a, **k)\nv = 1_0\nasync def g():\n    await h()\n",
    "unpacking after a call": "x = f(*args)\ny = [*a, *b]\nz = {**a}\n",
    "two-space indentation": "def f():\n  x = 1\n  y = 2\n  if x:\n    z = 3\n",
    "decorators": "@decorator\ndef f():\n    x = 1\n@other(1)\nclass C:\n    y = 1\n",
    "try and with": "try:\n    x = 1\nexcept E as e:\n    y = 2\nelse:\n    z = 3\nfinally:\n    w = 4\nwith a as b:\n    c = 1\n",
    "match": "match x:\n    case 1:\n        y = 2\n    case _:\n        z = 3\n",
    "non-ascii": "résumé = 1\nx = 'é'\ny = 2\n",
    "fmt off": "x = [1,2]\n# fmt: off\ny = [1,2]\n# fmt: on\nz = [1,2]\n",
    "tabs": "def f():\n\tx = 1\n",
    "soft keywords as names": "match = 1\ncase = 2\ntype = 3\n_ = 4\nprint = 5\n",
    "chained and augmented": "a = b = c\nx += 1\ny **= 2\nz @= w\n",
    "subscripts and slices": "x = a[1:2]\ny = a[lower + offset : upper]\nz = a[:, 0]\nw = a[x+1 :]\n",
    "return and flow": "def f():\n    x = 1\n    return x\n    y = 2\n    raise E\n    z = 3\n",
    "returns and dels": (
        "def f(a, b):\n    del a\n    del (a), b\n    del(a)\n    return\n\n\n\ndef g():\n    return (a)\n"
        "def h():\n    return a, b\n    return (a, b)\n    return *a, b\n    x = 1\n"
        "def k():\n    return some_function_name(first_argument_value, second_argument_value, third_one_x)\n"
        "class C:\n    def m(self):\n        return 1\n    y = 2\nreturn_value = 3\n"
    ),
    "placeholder-like text": "fxgen_run_0_ = 1\nx = 2\n",
    "brackets and hashes in strings": "x = f(\"(\", \"#\", ')')\ny = \"[\" + '{'  # ( [\nz = g(\"}\")\n",
    "multi-line strings": (
        'x = """\ny = (\n  z = 1\n"""\nw = 2\ns = f(\'\'\'a\n#b\'\'\', "c")\nv = 3\n'
        'def f():\n    """Doc.\n\n    x = 1\n    """\n    y = \'\'\'\\\'\'\'\'\n    z = 1\n'
    ),
    "keyword before a string": 'x = a if b else"s"\ny = 1\n',
    "prefixed strings": "x = rb\"\\d(\" + b'['\ny = Rb'\\''\nz = 1\n",
    "fields of f-strings": "x = f\"{a['b']}\"\ny = f'{{x}}'\nz = 1\nw = f'{x:{y}}'\nv = 2\n",
    "float with a dotted exponent": "x = 1.e5\ny = 2\n",
    "lines alike but for digits": (
        "x1 = f(1.5, \"a2\", 'b3', 10)\nx2 = f(2.5, \"a3\", 'b4', 20)\nx3 = f(0.5, \"a9\", 'b9', 00)\n"
        "v1 = some_function_name(first_argument_value, 1.5e-05, \"second_argument_1\", third_one_x1, 12)\n"
        "v2 = some_function_name(first_argument_value, 2.5E-05, \"second_argument_2\", third_one_x2, 13)\n"
        "v3 = some_function_name(first_argument_value, 2.5e-05, \"second_argument_3\", third_one_x3, 14)\n"
    ),
    "first line": "x = 1\n",
    "long def lines where an f-string sets the versions": (
        "class A:\n    def forward(self, *, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor):\n"
        "        x = 1\n\n\ndef load(path=None):\n    message = f\"cannot load {path}\"\n"
    ),
    "whole classes and defs": (
        "import torch\n\n\nclass A(torch.nn.Module):\n    def __init__(self):\n        x = 1\n\n"
        "    def forward(self, x: torch.Tensor, *, y=None):\n        # a comment\n        return x\n\n\n"
        "class B(torch.nn.Module):\n    def forward(self, x: torch.Tensor):\n        return x\n\n\n"
        "def f(a, b: int = 1, **c) -> int:\n    def g():\n        return a\n\n    return g\n\n\nx = 1\n"
    ),
    "whole classes and defs, spaced otherwise": (
        "class A:\n    def f(self):\n        x = 1\nclass B:\n    def f(self):\n        x = 1\n\n"
        "class C:\n    def f(self):\n        x = 1\n\n\n\nclass D:\n\n    def f(self):\n\n        x = 1\n\n\n"
        "class E:\n    def f(self):\n        x = 1\n\n\nclass F:\n\n    def f(self):\n\n        x = 1\n\n\n"
        "class G:\n    def f(self):\n        x = 1\n\n\n\n    def g(self):\n        x = 1\n\n\n\n"
    ),
    "whole classes and defs in other company": (
        "class A:\n    def f(self):\n        x = 1\n\n\n# about B\nclass B:\n    def f(self):\n        x = 1\n"
        "# about C\n\n\nclass C:\n    def f(self):\n        x = 1\n\n\n@decorated\ndef d():\n    x = 1\n\n\n"
        "def e():\n    x = 1\n\n\n# about f\ndef f():\n    x = 1\n\n\nimport os\n\n\ndef g():\n    x = 1\n\n\n"
        "def h():\n    x = 1\n    # trailing\n\n\ndef i():\n    x = 1\n\n\nif x:\n    y = 1\n"
    ),
    "long def lines in classes": (
        "class A:\n    def forward(self, *, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor):\n"
        "        x = 1\n\n    def other(self, first_argument_name, second_argument_name, third_argument_name, fourth):\n"
        "        x = 1\n\n\ndef top_level(first_argument_name, *, second_argument_name, third_argument_name=None, x=1):\n"
        "    x = 1\n\n\ndef g(self, *args: torch.Tensor, first_argument_name: torch.Tensor, **second_argument_name):\n"
        "    x = 1\n"
    ),
    "comments indented after classes": (
        "class A:\n    def f(self):\n        x = 1\n    # about g\n    def g(self):\n        x = 1\n\n\n"
        "class B:\n    def f(self):\n        x = 1\n        # trailing\n\n\nclass C:\n    x = 1\n    # trailing\ny = 1\n"
    ),
    "whole classes and defs black changes": (
        "class A:\n    x = 1\n\n\nclass B(a.b,c):\n    def f(self,x):\n        x = 1\n\n\n"
        "def g(a = None, *args, b: int=1):\n    x = 1\n\n\ndef h(self):\n    #tight\n    x = 1\n\n\n"
        "def k(self):\n    x = 1\n    # trailing space \n    y = 1\n\n\n"
        "def m(self, first_argument_name, second_argument_name, third_argument_name, fourth_one_xy):\n"
        "    x = 1\n\n\ndef n():\n    \"\"\"Doc.\"\"\"\n    x = 1\n"
    ),
    "empty": "",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_as_black(name):
    text = CASES[name]
    expected = black.format_str(text, mode=black.Mode())
    assert blackfast.format_like_black(text, black.Mode()) == expected


@pytest.mark.parametrize("mode", [black.Mode(line_length=40), black.Mode(string_normalization=False), black.Mode(magic_trailing_comma=False), black.Mode(target_versions={black.TargetVersion.PY38})])
@pytest.mark.parametrize("name", ["spacing black fixes", "magic trailing comma", "long lines at depths", "strings black rewrites", "comments"])
def test_same_as_black_in_other_modes(name, mode):
    text = CASES[name]
    assert blackfast.format_like_black(text, mode) == black.format_str(text, mode=mode)


NAMES = st.one_of(
    st.sampled_from(["x", "self", "torch", "fc", "print", "type", "match", "_", "résumé", "getattr"]),
    st.from_regex(r"[a-z_][a-z0-9_]{0,30}", fullmatch=True).filter(lambda n: not keyword.iskeyword(n)),
)
ATOMS = st.one_of(
    NAMES,
    st.sampled_from(["0", "1", "10", "1E5", "0XFF", "1_000", "0.5", "1e-05", "1.", "1J", "2499"]),
    st.sampled_from(['"abc"', "'abc'", "\"it's\"", "'say \"hi\"'", 'f"{x}"', 'b"x"', 'u"x"', '""', '"a b/c:d"', '"0"']),
    st.sampled_from(["None", "True", "...", "[]", "()", "{}"]),
)
OPERATORS = st.sampled_from([" + ", "+", " * ", " ** ", "**", " - ", " @ ", " // ", " == ", " and ", " if x else "])


def _expressions():
    def extend(inner):
        names = NAMES
        return st.one_of(
            st.tuples(inner, OPERATORS, inner).map("".join),
            st.tuples(names, st.lists(inner, max_size=4), st.sampled_from(["", ",", ", ", ""])).map(
                lambda t: f"{t[0]}({', '.join(t[1])}{t[2] if t[1] else ''})"
            ),
            st.tuples(names, st.lists(st.tuples(names, inner), min_size=1, max_size=3)).map(
                lambda t: f"{t[0]}({', '.join(f'{k}={v}' for k, v in t[1])})"
            ),
            st.tuples(inner, names).map(lambda t: f"{t[0]}.{t[1]}"),
            st.tuples(inner, inner).map(lambda t: f"{t[0]}[{t[1]}]"),
            st.tuples(inner, inner).map(lambda t: f"{t[0]}[{t[1]}:]"),
            st.lists(inner, min_size=1, max_size=4).map(lambda items: "(" + ", ".join(items) + ")"),
            st.lists(inner, max_size=4).map(lambda items: "[" + ", ".join(items) + "]"),
            inner.map(lambda e: f"-{e}"),
            inner.map(lambda e: f"({e})"),
            st.tuples(names, inner).map(lambda t: f"*{t[0]}" if t[1] else t[0]),
        )

    return st.recursive(ATOMS, extend, max_leaves=12)


EXPRESSIONS = _expressions()
SIMPLE = st.one_of(
    st.tuples(NAMES, EXPRESSIONS).map(lambda t: f"{t[0]} = {t[1]}"),
    st.tuples(NAMES, NAMES, EXPRESSIONS).map(lambda t: f"{t[0]}.{t[1]} = {t[2]}"),
    st.tuples(NAMES, st.sampled_from(["+=", "*=", "="]), EXPRESSIONS).map(" ".join),
    EXPRESSIONS,
    EXPRESSIONS.map(lambda e: f"return {e}"),
    st.lists(NAMES, min_size=1, max_size=3).map(lambda names: "del " + ", ".join(names)),
    st.sampled_from(["pass", "return x", "del x", "import os", "from a import b", "x: int = 1", "a = b = c", "x = 1; y = 2",
                     "# a comment", "#tight comment", "# spaced comment   ", "", "", "\"\"\"a docstring\"\"\"", "raise E", "x = 1 + \\\n    2",
                     "x = '''\nfrom (\n  y = [1\n'''", "s = f(\"\"\"a\nb\"\"\", '#')", "x = f'{y}(' + f\"{{\""]),
)


@st.composite
def programs(draw, depth=0):
    lines = []
    for _ in range(draw(st.integers(1, 6))):
        if depth < 3 and draw(st.integers(0, 4)) == 0:
            header = draw(st.sampled_from(["def f(self, x):", "class C:", "if x:", "for i in y:", "with z as w:", "@decorator\ndef g():"]))
            lines.append(header)
            body = draw(programs(depth + 1))
            lines.extend("    " + line if line else line for line in body.split("\n"))
        else:
            lines.extend(draw(SIMPLE).split("\n"))
    return "\n".join(lines)


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(programs())
def test_random_programs_same_as_black(text):
    text += "\n"
    try:
        ast.parse(text)
    except SyntaxError:
        return
    for mode in (black.Mode(), black.Mode(line_length=30)):
        try:
            expected = black.format_str(text, mode=mode)
        except Exception:
            with pytest.raises(Exception):
                blackfast.format_like_black(text, mode)
            continue
        assert blackfast.format_like_black(text, mode) == expected
    _assert_scan_agrees(text)


GENERATED_LINES = st.sampled_from([
    "x = 1", "self.fc = torch.nn.Linear(in_features=8, out_features=8)", "a.b = f(c)", "x = self.fc(x)",
    "y = torch.relu(x)", "del x", 'getattr(self, "0").fc = torch.nn.Linear(in_features=8, out_features=8, bias=True)',
])
ASSIGNMENTS = st.one_of(GENERATED_LINES, GENERATED_LINES, st.tuples(NAMES, EXPRESSIONS).map(lambda t: f"{t[0]} = {t[1]}"))
CLASS_LINES = st.sampled_from(["class C:", "class C(torch.nn.Module):", "class C(a.b, c):", "class C(a.b,c):"])
DEF_LINES = st.sampled_from([
    "def f():", "def f(self, x):", "def f(self,x):", "def f(self, x: torch.Tensor, *, y=None):",
    "def f(a, b: int = 1, **c) -> int:", "def f(a, b: int=1):", "def f(*args, key=\"value\"):", "def f(a, /, b):",
    "async def f():", "@decorator\ndef f():",
    "def f(self, first_argument_name, second_argument_name, third_argument_name, fourth_one_x):",
    "def forward(self, *, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor):",
    "def forward(self, input_ids: torch.Tensor, *args, attention_mask: torch.Tensor, **keywords: int):",
])
TOP_LEVEL_LINES = [
    "x = 1", "import os", "# about", "@decorator\ndef d():\n    x = 1", '"""Doc."""', "if x:\n    y = 1", 'm = f"{x}"',
]
ODD_LINES = st.sampled_from(["", "# a comment", "#tight", "# trailing ", '"""Doc."""', "pass"])


@st.composite
def whole_items(draw, depth=0):
    """A class or def whose body is plain statements, comments, blank lines and more of these."""
    is_class = draw(st.booleans())
    lines = draw(CLASS_LINES if is_class else DEF_LINES).split("\n")
    for number in range(draw(st.integers(1, 4))):
        kind = draw(st.integers(0, 5)) if number else 2  # a statement first: a body is never only blank lines
        if kind == 0 and depth < 2:
            inner = draw(whole_items(depth + 1))
        elif kind == 1:
            inner = draw(ODD_LINES)
        else:
            inner = draw(ASSIGNMENTS if is_class else st.one_of(ASSIGNMENTS, EXPRESSIONS.map(lambda e: f"return {e}")))
        lines.extend("    " + line if line else line for line in inner.split("\n"))
    return "\n".join(lines)


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.one_of(whole_items(), whole_items(), whole_items(), st.sampled_from(TOP_LEVEL_LINES)),
                          st.sampled_from([0, 1, 2, 2, 2, 3])), min_size=2, max_size=8))
def test_files_of_classes_and_defs_same_as_black(parts):
    """Whole classes and defs cut out of the skeleton: in every company, with any spacing."""
    text = "".join(part + "\n" * (blank + 1) for part, blank in parts)
    try:
        ast.parse(text)
    except SyntaxError:
        return
    for mode in (black.Mode(), black.Mode(line_length=30)):
        assert blackfast.format_like_black(text, mode) == black.format_str(text, mode=mode)


EDITS = st.sampled_from([*"()[]{}'\"#\\:=,.\n 0b8", ""])  # what a character becomes ("": deleted)


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(programs(), st.lists(st.tuples(st.integers(0, 10**6), EDITS), min_size=1, max_size=3))
def test_random_edits_are_python_exactly_where_the_parser_says(text, edits):
    """The syntax proof accepts a text exactly where `ast.parse` does (programs with a few
    characters replaced, inserted or deleted: mostly not Python)."""
    for position, character in edits:
        position %= len(text) + 1
        rest = text[position + 1 :] if position % 2 else text[position:]  # replaced, or inserted before
        text = text[:position] + character + rest
    text += "\n"
    try:
        ast.parse(text)
    except SyntaxError:
        with pytest.raises(SyntaxError):
            blackfast.format_like_black(text, black.Mode())
        return
    try:
        expected = black.format_str(text, mode=black.Mode())
    except Exception:
        return  # Python that black does not take: not the proof's business
    assert blackfast.format_like_black(text, black.Mode()) == expected


def _assert_scan_agrees(text):
    """The scan marks only lines where a statement starts (what a wrong scan could break),
    and every plain statement that starts with a name, `return` or `del` (what it is for)."""
    lines = text.split("\n")
    scanned = blackfast._scanned(lines)
    if scanned is None:
        return
    tree = ast.parse(text)
    starts = {(s.lineno - 1, s.col_offset) for s in ast.walk(tree) if isinstance(s, ast.stmt)}
    assert set(scanned) <= starts
    wanted = {(i, c) for i, c in blackfast._parsed(tree, lines) if blackfast._STATEMENT_START.match(lines[i][c:])}
    assert wanted <= set(scanned)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_scan_agrees_with_the_parser(name):
    _assert_scan_agrees(CASES[name])


def test_the_scan_agrees_with_the_parser_on_every_golden():
    goldens = sorted(GOLDEN.rglob("*.py"))
    assert len(goldens) > 40
    for path in goldens:
        _assert_scan_agrees(path.read_text())
    assert all(blackfast._scanned(path.read_text().split("\n")) is not None for path in GOLDEN.glob("*/*.py"))


def _installed_sources(every: int) -> list[str]:
    """Every `every`-th Python file installed beside torch and black that parses and that the
    fast path takes (FXGEN_SWEEP=full: every one): texts nobody wrote for these tests."""
    files = sorted(Path(sysconfig.get_paths()["purelib"]).rglob("*.py"))
    texts = []
    for path in files if os.environ.get("FXGEN_SWEEP") == "full" else files[::every]:
        try:
            text = path.read_text(encoding="utf-8")
            ast.parse(text)
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        if not blackfast._WHOLE_FILE_ONLY.search(text):
            texts.append(text)
    return texts


def test_the_scan_agrees_with_the_parser_on_installed_packages():
    texts = _installed_sources(every=40)
    assert len(texts) > 100
    for text in texts:
        _assert_scan_agrees(text)


def test_same_as_black_on_installed_packages():
    texts = [text for text in _installed_sources(every=300) if 20 < text.count("\n") < 600]
    assert len(texts) > 10
    for text in texts:
        try:
            expected = black.format_str(text, mode=black.Mode())
        except Exception:  # a file black itself cannot format
            continue
        assert blackfast.format_like_black(text, black.Mode()) == expected


INVALID = [
    "x = 0123\ny = 1\n",  # a shape spelled `1` would hide it
    "x = 18\nx = 08\n",  # lines alike but for their digits
    "x = 0b11\nx = 0b12\n",
    "x = 0o11\nx = 0o19\n",
    "x = a b\ny = 1\n",
    "x = 1\n    y = 2\n",
    "def f(:\n    x = 1\n",
    "def f():\n    x = 1\n  y = 2\n",
    "x = (1,\ny = 2\n",
    "x = 1)\ny = 2\n",
    "x = 'abc\ny = 1\n",
    'x = """abc\ny = 1\n',
    "x = 1 +\ny = 2\n",
    "return return\n",
    "del f()\nx = 1\n",
    "f() = 1\nx = 1\n",
    "x = f(a for a in b, c)\n",
    "class C:\nx = 1\n",
    "x = 1\nelse:\n    y = 2\n",
]


@pytest.mark.parametrize("text", INVALID)
def test_text_that_is_not_python_is_refused(text):
    with pytest.raises(SyntaxError):
        ast.parse(text)
    with pytest.raises(SyntaxError):
        blackfast.format_like_black(text, black.Mode())


def test_the_syntax_is_proven_without_parsing_the_whole_text(monkeypatch):
    model = torch.nn.Sequential(*[layer for _ in range(40) for layer in (torch.nn.Linear(4, 4), torch.nn.ReLU())])
    text = fxgen.render(model, example_inputs=(torch.ones(1, 4),), formatter=None)
    parsed = []
    parse = ast.parse
    monkeypatch.setattr(ast, "parse", lambda source, *a, **k: parsed.append(source) or parse(source, *a, **k))
    assert blackfast.format_like_black(text, black.Mode()) == black.format_str(text, mode=black.Mode())
    assert parsed and text not in parsed and sum(p.count("\n") for p in parsed) < text.count("\n") / 2


def test_black_sees_only_the_skeleton(monkeypatch):
    model, inputs = ZOO["residual"]()
    text = fxgen.render(model, example_inputs=inputs, formatter=None, hierarchy=False)
    seen = []
    monkeypatch.setattr(blackfast, "black_whole", lambda t, mode: seen.append(t) or black.format_str(t, mode=mode))
    assert blackfast.format_like_black(text, black.Mode()) == black.format_str(text, mode=black.Mode())
    assert len(seen) == 1 and seen[0].count("\n") < text.count("\n") / 2


def test_black_does_not_see_classes_it_leaves_alone(monkeypatch):
    """Every class is proven as it is by its shape: black sees a placeholder class instead."""
    model, inputs = ZOO["residual"]()
    text = fxgen.render(model, example_inputs=inputs, formatter=None)
    seen = []
    monkeypatch.setattr(blackfast, "black_whole", lambda t, mode: seen.append(t) or black.format_str(t, mode=mode))
    assert blackfast.format_like_black(text, black.Mode()) == black.format_str(text, mode=black.Mode())
    classes = [line for line in text.split("\n") if line.startswith("class ")]
    assert len(seen) == 1 and len(classes) == 3
    assert not any(line in seen[0] for line in classes) and seen[0].count("class fxgen_run_item_") == 3


@pytest.mark.parametrize(
    "mode",
    [black.Mode(preview=True), black.Mode(unstable=True), black.Mode(is_pyi=True)],
    ids=["preview", "unstable", "pyi"],
)
def test_other_styles_are_formatted_whole(mode, monkeypatch):
    text = CASES["spacing black fixes"]
    seen = []
    monkeypatch.setattr(blackfast, "black_whole", lambda t, m: seen.append(t) or black.format_str(t, mode=m))
    assert blackfast.format_like_black(text, mode) == black.format_str(text, mode=mode)
    assert seen == [text]


def test_another_black_release_is_used_whole(monkeypatch):
    monkeypatch.setattr(black, "__version__", "99.1.0")
    assert not blackfast.fast_path_applies(black.Mode())
    seen = []
    monkeypatch.setattr(blackfast, "black_whole", lambda t, m: seen.append(t) or black.format_str(t, mode=m))
    text = CASES["plain run"]
    assert blackfast.format_like_black(text, black.Mode()) == black.format_str(text, mode=black.Mode())
    assert seen == [text]


def test_the_verified_release_is_the_pinned_one():
    pinned = (GOLDEN / "FORMATTER").read_text().split()[1]
    assert blackfast.VERIFIED_BLACK == pinned == black.__version__


def test_black_full_formats_the_whole_text(monkeypatch):
    model, inputs = ZOO["mlp"]()
    calls = []
    original = black.format_str
    monkeypatch.setattr(black, "format_str", lambda t, mode: calls.append(t) or original(t, mode=mode))
    full = fxgen.render(model, example_inputs=inputs, formatter="black-full")
    assert len(calls) == 1 and calls[0].count("\n") >= full.count("\n") - 5
    fast = fxgen.render(model, example_inputs=inputs, formatter="black")

    def code(text):  # the header's options line records the formatter asked for
        return [line for line in text.splitlines() if not line.startswith("# options:")]

    assert code(full) == code(fast)


def test_a_fast_path_that_differs_from_black_fails_the_run(monkeypatch):
    from fxgen import format as formatting
    from tests.black_identity import FastPathMismatch, compared_with_black

    model, inputs = ZOO["mlp"]()
    monkeypatch.setattr(formatting, "format_like_black", lambda text, mode: text + "\n")  # a stray line
    with compared_with_black(), pytest.raises(FastPathMismatch, match="differs from black on the whole text"):
        fxgen.render(model, example_inputs=inputs, formatter="black")

