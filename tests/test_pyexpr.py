"""Literals and operators written by pyexpr evaluate to exactly the original value."""

from __future__ import annotations

import dataclasses
import itertools
import math
import operator
import random

import pytest
import torch
import torch.nn.functional as F

from fxgen.errors import ExportError
from fxgen.pyexpr import (
    BINARY_OPERATORS,
    UNARY_OPERATORS,
    Expr,
    ExprWriter,
    Imports,
    binary,
    formatted_string,
    string_literal,
    unary,
)
from tests.zoo import Pair, clipped_norm


def writer() -> ExprWriter:
    return ExprWriter(Imports(), lambda node: Expr(node.name), lambda name: False)


def evaluate(text: str, imports: Imports) -> object:
    namespace: dict = {}
    exec("\n".join(imports.lines()), namespace)
    return eval(text, namespace)


def same(a: object, b: object) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


@dataclasses.dataclass
class Options:
    chunk: int | None = None
    policy: str = "auto"
    dtype: torch.dtype | None = None


@dataclasses.dataclass(eq=False)
class Opaque:
    value: int = 0


LITERALS = [
    0, -1, 2**70, -(2**70), True, False, None, ..., 1.5, -2.25, 1e-05, 1e300, float("inf"), -float("inf"),
    float("nan"), -0.0, 0.0, 3 + 4j, complex(float("inf"), -0.0), "plain", 'quote"s', "it's", "both '\"",
    "back\\slash", "new\nline\r\x00\u2028\u2029", '"""', "#", "ﬁ", b"bytes\x00\xff", (), (1,), (1, (2, [3, {"k": 4}])),
    [], {}, {"a": 1, 2: "b"}, slice(None), slice(1, None, -1), torch.float16, torch.bfloat16, torch.int64,
    torch.bool, torch.complex64, torch.device("cpu"), torch.device("cuda", 1), torch.contiguous_format,
    torch.channels_last, torch.strided, torch.sparse_coo, torch.Size([2, 3]), torch.Size([]),
    Pair(first=1, second=(2, 3)), Options(), Options(chunk=4, dtype=torch.float16),
]


@pytest.mark.parametrize("value", LITERALS, ids=lambda v: repr(v)[:40])
def test_literal_evaluates_to_the_same_value(value):
    w = writer()
    text = w.value(value).text
    assert same(evaluate(text, w.imports), value), text


@pytest.mark.parametrize("value", ["a\nb", "\r", "x\u2028y", "\x00", '"""', "'''", "\\", "#", "\x1b[0m"])
def test_string_literal_stays_on_one_line_and_round_trips(value):
    text = string_literal(value)
    assert "\n" not in text and "\r" not in text and "\u2028" not in text and "\x00" not in text
    assert eval(text) == value


@pytest.mark.parametrize(
    "template",
    ["got {}", "{}{}", 'a "quoted" {} and {{braces}}', "it's {}", "both ' and \" {}", "back\\slash\n{}\x00", "\u2603 {} \u2604"],
)
def test_a_format_call_is_an_f_string_that_formats_alike(template):
    values = [Expr("first"), Expr("second")][: template.count("{}") - template.count("{{}}")]
    text = formatted_string(template, values).text
    assert text.startswith("f") and "\n" not in text
    names = {"first": 3, "second": [1.5]}
    assert eval(text, names) == template.format(*(names[v.text] for v in values))


@pytest.mark.parametrize(("template", "value"), [("{0}", "x"), ("{x}", "x"), ("{!r}", "x"), ("{:>4}", "x"), ("{}", 'a["k"]'), ("{}", "a[1:2]"), ("{", "x")])
def test_a_format_call_an_f_string_cannot_hold_as_it_is_stays_a_call(template, value):
    assert formatted_string(template, [Expr(value)]) is None


def test_functions_are_written_the_way_people_write_them():
    w = writer()
    assert w.value(torch.sum).text == "torch.sum"
    assert w.value(F.softmax).text == "F.softmax"
    assert w.value(F.linear).text == "F.linear"
    assert w.value(torch.nn.Linear).text == "torch.nn.Linear"
    assert w.value(math.sqrt).text == "math.sqrt"
    assert w.value(len).text == "len"
    assert w.value(clipped_norm).text == "clipped_norm"
    assert w.value(torch._chunk_cat).text == "torch._chunk_cat"  # private builtins of torch's C namespaces
    assert w.value(torch._C._VariableFunctions.meshgrid).text == "torch._C._VariableFunctions.meshgrid"
    assert w.imports.lines() == [
        "import math",
        "import torch",
        "import torch.nn.functional as F",
        "from tests.zoo import clipped_norm",
    ]


def local_function():
    def inner(x):
        return x

    return inner


@pytest.mark.parametrize(
    "value, message",
    [
        (lambda x: x, "lambda"),
        (local_function(), "inside another function"),
        (operator.add, "operator"),
        (object(), "cannot be written as source"),
        (Opaque(3), "cannot be written as source"),  # no equality: a rebuilt copy proves nothing
        (torch.ones(2), "tensor value"),
    ],
)
def test_values_without_source_raise_export_error(value, message):
    with pytest.raises(ExportError, match=message):
        writer().value(value)


def test_a_dataclass_constant_is_its_constructor_call_without_defaults():
    w = writer()
    assert w.value(Options(chunk=4)).text == "Options(chunk=4)"
    assert w.value(Options()).text == "Options()"


def test_subscripts_use_slice_syntax():
    w = writer()
    base = Expr("x")
    assert w.subscript(base, (slice(None), slice(1, 5))).text == "x[:, 1:5]"
    assert w.subscript(base, (..., slice(None, None, 2))).text == "x[..., ::2]"
    assert w.subscript(base, (0, None, slice(-1, None))).text == "x[0, None, -1:]"
    assert w.subscript(base, (0,)).text == "x[0,]"
    assert w.subscript(base, ()).text == "x[()]"
    assert w.subscript(Expr("a + b", binary("+", BINARY_OPERATORS[operator.add][1], Expr("a"), Expr("b")).prec), 0).text == "(a + b)[0]"


def _random_expression(rng: random.Random, depth: int, leaves: dict[str, object]):
    """A random operator tree as (python value, Expr)."""
    if depth == 0 or rng.random() < 0.25:
        name = rng.choice(list(leaves))
        return leaves[name], Expr(name)
    if rng.random() < 0.2:
        op = rng.choice([operator.neg, operator.pos, operator.invert])
        value, expr = _random_expression(rng, depth - 1, leaves)
        symbol, prec = UNARY_OPERATORS[op]
        try:
            result = op(value)
        except TypeError:  # `~` of a float, or of None from a failed operand
            result = None
        return result, unary(symbol, prec, expr)
    op = rng.choice([operator.add, operator.sub, operator.mul, operator.floordiv, operator.mod, operator.pow,
                     operator.lshift, operator.rshift, operator.and_, operator.or_, operator.xor,
                     operator.lt, operator.eq, operator.ge])
    left_value, left = _random_expression(rng, depth - 1, leaves)
    right_value, right = _random_expression(rng, depth - 1, leaves)
    symbol, prec = BINARY_OPERATORS[op]
    try:
        value = None if left_value is None or right_value is None else op(left_value, right_value)
    except (ZeroDivisionError, ValueError, OverflowError, TypeError):
        value = None
    return value, binary(symbol, prec, left, right)


def test_operator_trees_keep_their_meaning():
    rng = random.Random(1234)
    leaves = {"a": 3, "b": -2, "c": 1, "d": 2}
    checked = 0
    for _ in range(3000):
        value, expr = _random_expression(rng, 4, leaves)
        if value is None or (isinstance(value, int) and abs(value) > 10**6):
            continue
        try:
            got = eval(expr.text, {}, dict(leaves))
        except (ZeroDivisionError, ValueError, OverflowError, MemoryError):
            continue
        assert got == value and type(got) is type(value), expr.text
        checked += 1
    assert checked > 1000


@pytest.mark.parametrize("left, right", list(itertools.product([-2, 2, -0.5], [-1, 3])))
def test_power_with_negative_operands(left, right):
    w = writer()
    expr = binary("**", BINARY_OPERATORS[operator.pow][1], w.value(left), w.value(right))
    assert eval(expr.text) == left**right
