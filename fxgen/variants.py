"""Variants of one class that differ only in constructor arguments, written as one class.

A model often builds one block type with other hyperparameters in each stage
(MobileNet's `ConvLayer(in_channels=8, out_channels=48)`, then 16 and 96, ...). Lowered
apart, each configuration is a class of its own (`ConvLayer_v2`, `ConvLayer_v3`, ...)
whose `forward` is the same text. Where every difference between such variants lies in
the value of one keyword argument of a call in `__init__` (`out_channels=48` against
`out_channels=96`), they become one class whose `__init__` takes those values
(`def __init__(self, in_channels, out_channels)`), and each place that built a variant
passes its values (`ConvLayer(in_channels=8, out_channels=48)`). The sizes of a
parameter's `torch.empty(16)` count as its `size` (`size_0`, `size_1`, ... for more
dimensions): an RMSNorm of 8 and one of 32 features are `RMSNorm(size=8)` and
`RMSNorm(size=32)`. Slots of one keyword with equal values in every variant share an
argument; slots of different keywords never do, even where their values agree (a stride
is not a padding). Merged classes may make their parents mergeable in turn, so the pass
repeats until nothing changes.
"""

from __future__ import annotations

import io
import keyword
import re
import tokenize
from typing import Any

from fxgen.program import ClassDef
from fxgen.reuse import code_key

__all__ = ["merge_variants", "CLASS_TOKEN"]

#: how lowering refers to a generated class in `__init__` code until classes are named
CLASS_TOKEN = re.compile("\x01(\\d+)\x01")
#: a class token spelled as a name while a statement is tokenized
_TOKEN_NAME = re.compile(r"__fxgen_class_(\d+)__")
#: names a literal token may have besides numbers and strings
_LITERAL_NAMES = frozenset({"True", "False", "None"})

#: a statement with its keyword arguments' literal values taken out: (the text with each
#: value replaced by a slot mark, the slots' (keyword, value text) in order, the names
#: the statement reads as variables: an argument must not hide them)
_Skeleton = tuple[str, list[tuple[str, str]], set[str]]


def merge_variants(classes: list[ClassDef], uses: dict[str, int]) -> None:
    """Merge the variants in `classes` (children first; the last, the root, is never
    merged): remove each merged class, give the class it merged into its `init_params`,
    rewrite every `__init__` that built a merged class to pass its values, and add its
    uses (by class token) to the class it merged into."""
    while _merge_once(classes, uses):
        pass


def _merge_once(classes: list[ClassDef], uses: dict[str, int]) -> bool:
    groups: dict[Any, list[tuple[ClassDef, list[_Skeleton]]]] = {}
    for cls in classes[:-1]:
        if cls.init_params:  # merged already: its code has arguments, not values
            continue
        skeletons = [s for s in map(_skeleton, (statement.code for statement in cls.init)) if s is not None]
        if not skeletons or len(skeletons) < len(cls.init):
            continue
        shape = tuple((s.kind, s.path, skeleton[0]) for s, skeleton in zip(cls.init, skeletons))
        groups.setdefault((cls.original, code_key(cls)[1:], shape), []).append((cls, skeletons))
    calls: dict[str, str] = {}  # class token of each member -> the call that builds it now
    merged: set[str] = set()  # the members merged into another
    for members in groups.values():
        if len(members) > 1:
            calls.update(_merge(members, uses))
            merged.update(cls.name for cls, _ in members[1:])
    if not calls:
        return False
    pattern = re.compile("|".join(re.escape(token) + r"\(\)" for token in calls))
    for cls in classes:
        for statement in cls.init:
            statement.code = pattern.sub(lambda m: calls[m.group(0)[:-2]], statement.code)
    classes[:] = [cls for cls in classes if cls.name not in merged]
    return True


def _merge(members: list[tuple[ClassDef, list[_Skeleton]]], uses: dict[str, int]) -> dict[str, str]:
    """Merge `members` (equal but for their slots' values) into the first: its slots that
    differ become arguments. The call that builds each member, by its class token."""
    first, skeletons = members[0]
    slots = [(index, place) for index, (_, values, _) in enumerate(skeletons) for place in range(len(values))]
    columns = [tuple(sk[index][1][place][1] for _, sk in members) for index, place in slots]
    keywords = [skeletons[index][1][place][0] for index, place in slots]
    names: dict[tuple[str, tuple[str, ...]], str] = {}  # (keyword, its values in every member) -> argument
    taken = {"self"}.union(*(read for _, _, read in skeletons))
    argument_of: dict[int, str] = {}
    for column, (values, word, (index, _)) in enumerate(zip(columns, keywords, slots)):
        if len(set(values)) == 1:
            continue
        if (word, values) not in names:
            names[word, values] = _fresh(word, first.init[index].path, taken)
        argument_of[column] = names[word, values]
    columns_of = {name: values for (_, values), name in names.items()}
    filled = iter(range(len(slots)))
    for statement, (code, values, _) in zip(first.init, skeletons):
        parts = code.split(_SLOT)
        text = parts[0]
        for (_, value), part in zip(values, parts[1:]):
            column = next(filled)
            text += argument_of.get(column, value) + part
        statement.code = _TOKEN_NAME.sub(lambda m: f"\x01{m.group(1)}\x01", text)
    first.init_params = list(columns_of)
    calls = {}
    for number, (cls, _) in enumerate(members):
        arguments = ", ".join(f"{name}={values[number]}" for name, values in columns_of.items())
        calls[cls.name] = f"{first.name}({arguments})"
        if number:
            uses[first.name] = uses.get(first.name, 0) + uses.pop(cls.name, 0)
    return calls


def _fresh(word: str, path: str, taken: set[str]) -> str:
    """An argument name for a keyword's value: the keyword itself, else prefixed by the
    attribute it builds (`conv2_in_channels`), else numbered."""
    owner = path.rpartition(".")[2]
    candidates = [word, f"{owner}_{word}" if owner.isidentifier() else word]
    name = next((c for c in candidates if c not in taken and not keyword.iskeyword(c)), None)
    number = 1
    while name is None or name in taken or keyword.iskeyword(name):
        number += 1
        name = f"{word}_{number}"
    taken.add(name)
    return name


_SLOT = "\x02"  # marks a slot in a skeleton's text


def _skeleton(code: str) -> _Skeleton | None:
    """`code` with the literal value of each keyword argument, and each size of a
    parameter's or buffer's `torch.empty(...)`, taken out (`f(a=1, b=x)` -> `f(a=\x02,
    b=x)`, [("a", "1")]; `torch.empty(16)` -> `torch.empty(\x02)`, [("size", "16")]);
    None where the statement cannot be tokenized."""
    if "__fxgen_class_" in code:  # a name of the model's spelled as a class token would be: left as it is
        return None
    text = CLASS_TOKEN.sub(lambda m: f"__fxgen_class_{m.group(1)}__", code)
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type not in _LAYOUT]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    read = {t.string for i, t in enumerate(tokens) if t.type == tokenize.NAME and not _is_member_or_keyword(tokens, i)}
    out: list[str] = []
    values: list[tuple[str, str]] = []
    at = 0
    calls: list[tuple[bool, list[int]]] = []  # open brackets: (a `torch.empty(` call, its sizes' slots)
    for i, token in enumerate(tokens):
        if token.string in ("(", "[", "{"):
            calls.append((token.string == "(" and [t.string for t in tokens[max(i - 3, 0) : i]] == _EMPTY, []))
            continue
        if token.string in (")", "]", "}") and calls:
            _, sizes = calls.pop()
            for dim, slot in enumerate(sizes):  # `torch.empty(16)`: `size`; `torch.empty(48, 3)`: `size_0`, `size_1`
                values[slot] = ("size" if len(sizes) == 1 else f"size_{dim}", values[slot][1])
            continue
        if not 0 < i < len(tokens) - 1 or tokens[i + 1].string not in (",", ")"):
            continue
        if tokens[i - 1].string == "=" and i >= 2 and _is_keyword(tokens, i - 2):
            keyword = tokens[i - 2].string  # a keyword argument's value, not `x = 1`
            if not (token.type in (tokenize.NUMBER, tokenize.STRING) or token.string in _LITERAL_NAMES):
                continue
        elif calls and calls[-1][0] and tokens[i - 1].string in ("(", ",") and token.type == tokenize.NUMBER:
            keyword = ""  # a size of `torch.empty(...)`: named once the call closes
            calls[-1][1].append(len(values))
        else:
            continue
        start = offsets[token.start[0] - 1] + token.start[1]
        end = offsets[token.end[0] - 1] + token.end[1]
        out.append(text[at:start] + _SLOT)
        values.append((keyword, token.string))
        at = end
    out.append(text[at:])
    return "".join(out), values, read


def _is_member_or_keyword(tokens: list[tokenize.TokenInfo], i: int) -> bool:
    """Whether the name at `i` is an attribute (`.conv`) or an argument's keyword (`(stride=`)."""
    return (i > 0 and tokens[i - 1].string == ".") or _is_keyword(tokens, i)


def _is_keyword(tokens: list[tokenize.TokenInfo], i: int) -> bool:
    """Whether the token at `i` is an argument's keyword: a name after `(` or `,`, before `=`."""
    return (
        0 < i < len(tokens) - 1 and tokens[i].type == tokenize.NAME
        and tokens[i + 1].string == "=" and tokens[i - 1].string in ("(", ",")
    )


_EMPTY = ["torch", ".", "empty"]  # how `tree.tensor_source` writes a parameter's or buffer's shape
_LAYOUT = frozenset({tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER})
