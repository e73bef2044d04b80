"""Black's output at a fraction of black's cost: black formats only what needs it.

Almost every line fxgen renders is a one-line statement that black either leaves as it
is or lays out the same way as every other statement of its *shape*. Black's layout of a
statement depends on its tokens' kinds and lengths, on the spelling of keywords,
operators, strings and numbers, and on its indentation, never on which names it uses. So:

- a statement that fits on its line is checked by its shape with every name spelled `a`
  (all unknown shapes in one black call); a shape black leaves alone proves every
  statement of that shape stays as it is;
- any other statement is laid out by black once per shape with every name, plain string
  and integer replaced by one of the same length, at its indentation, and its own tokens
  are put back into that layout.

Runs of such statements (with the comments between them) are cut out of the text, each
replaced by one placeholder statement, and black formats what remains: class and def
lines, blank lines, imports and anything unusual. The runs, laid out, go back where
black left their placeholders. A placeholder is the same kind of line, for black's
blank-line rules, as the statements it stands for (a plain statement: not an import,
definition, decorator, comment or docstring; the verified release has no rule of its own
for `return` or `del` lines). Statements whose tokens change
the target versions black infers (walrus, f-strings, numeric underscores, unpacking
stars, lambda, await, yield) stay in the skeleton, so it infers the versions the text does.

Used only with the black release it was verified against (`VERIFIED_BLACK`) and black's
stable style; any other black, preview or unstable styles, stubs and texts with `fmt:`
directives, tabs or form feeds are formatted by black as a whole. The tests compare it
with whole-file black on every golden, conformance output and fuzzed program.
"""

from __future__ import annotations

import ast
import functools
import keyword
import re
from dataclasses import dataclass
from typing import Iterator

import black

__all__ = ["VERIFIED_BLACK", "fast_path_applies", "format_like_black", "black_whole"]

#: the black release whose output the fast path was proven equal to
VERIFIED_BLACK = "26.10.1"

_KEPT_NAMES = frozenset(keyword.kwlist) | {"_", "case", "match", "type", "print", "exec"}
_NAME = r"\b(?!(?:" + "|".join(sorted(_KEPT_NAMES)) + r")\b)[A-Za-z_]\w*"
_IDENTIFIER = re.compile(_NAME)
_STRING = r"""[bBrRuU]{0,2}(?:'''.*?'''|\"\"\".*?\"\"\"|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
_NUMBER = r"\.?\d(?:[\w.]|(?<=[eE])[+-])*"  # digits, letters, dots, an exponent's sign
_TOKEN = re.compile(f"(?P<string>{_STRING})|(?P<number>{_NUMBER})|(?P<name>{_NAME})")
_INTEGER = re.compile(r"(?<![\w.])\d+(?![\w.])")  # once names are spelled `a`
_PLAIN_STRING = re.compile(r'"[\w .,:/-]*"')  # black keeps it, whatever its letters
#: a line whose only quotes are plain strings standing alone (no prefix, no neighbouring quote)
_ONLY_PLAIN_STRINGS = re.compile(r"""(?:[^"'\\]|(?<![\w"])"[\w .,:/-]*"(?!"))*""")
# tokens that change the target versions black infers, or need a grammar of their own
_UNPACKING = re.compile(r"(?:[(\[{,=]|\breturn)\s*\*")  # `return *a, b` too
_FORMATTED_STRING = re.compile(r"""\b(?:[rR]?[fFtT]|[fFtT][rR])['"]""")
_NUMERIC_UNDERSCORE = re.compile(r"(?<!\w)\d[\w.]*_")
_DIGIT_UNDERSCORE = re.compile(r"\d_")  # cheap first check
# texts black must see whole: directives that switch formatting off, tabs, form feeds
_WHOLE_FILE_ONLY = re.compile(r"fmt:|yapf:|[\t\f\r\v]")
_PLACEHOLDER = "fxgen_run_{}_"
_PLACEHOLDER_LINE = re.compile(r"( *)fxgen_run_(\d+)_")


def fast_path_applies(mode: black.Mode) -> bool:
    """Whether `mode` is black's stable style under the verified release."""
    return (
        black.__version__ == VERIFIED_BLACK
        and not (mode.preview or mode.unstable or mode.enabled_features)
        and not (mode.is_pyi or mode.is_ipynb or mode.skip_source_first_line)
    )


def format_like_black(text: str, mode: black.Mode, tree: ast.Module | None = None) -> str:
    """`black.format_str(text, mode=mode)`, with black run only on what needs it.

    `tree` is `ast.parse(text)` where the caller has it already."""
    if not fast_path_applies(mode) or _WHOLE_FILE_ONLY.search(text) or "fxgen_run_" in text:
        return black_whole(text, mode)
    lines = text.split("\n")
    runs = _runs(tree if tree is not None else ast.parse(text), lines, mode)
    if not runs:
        return black_whole(text, mode)
    skeleton = _skeleton(lines, runs)
    return _fill(black_whole(skeleton, mode), runs) or black_whole(text, mode)


def black_whole(text: str, mode: black.Mode) -> str:
    """Black on the whole text: the skeleton, and every text the fast path does not take."""
    return black.format_str(text, mode=mode)


@dataclass
class _Run:
    """Consecutive statements of one block, and their lines as black lays them out."""

    first: int  #: index of its first line in the text
    last: int  #: index of its last line
    indent: int
    laid_out: list[str]


def _runs(tree: ast.Module, lines: list[str], mode: black.Mode) -> list[_Run]:
    """Runs of statements black lays out without seeing their context, in text order."""
    bodies = [[s for s in body if _plain(s, lines)] for body in _bodies(tree.body)]
    shapes: dict[str, str | None] = {}  # line -> its short shape; None where it must not be in a run
    for body in bodies:
        for statement in body:
            line = lines[statement.lineno - 1]
            if line not in shapes:
                shapes[line] = None if _changes_versions(line) else _short_shape(line) if len(line) <= mode.line_length else ""
    stable = _stable_shapes({shape for shape in shapes.values() if shape}, mode)
    runs = []
    for body in bodies:
        current: _Run | None = None
        for statement in body:
            start = statement.lineno - 1
            shape = shapes[lines[start]]
            if shape is None:
                laid_out = None
            elif shape in stable:
                laid_out = [lines[start]]
            else:
                laid_out = _laid_out(lines[start], statement.col_offset, mode)
            if laid_out is None:
                current = None
            elif current is not None and _only_comments(lines, current.last + 1, start, current.indent):
                current.laid_out += lines[current.last + 1 : start] + laid_out
                current.last = start
            else:
                current = _Run(start, start, statement.col_offset, laid_out)
                runs.append(current)
    return sorted(runs, key=lambda run: run.first)


def _bodies(statements: list[ast.stmt]) -> Iterator[list[ast.stmt]]:
    """Every list of statements in a module: its body and the bodies nested in it."""
    yield statements
    for statement in statements:
        for field in ("body", "orelse", "finalbody"):
            inner = getattr(statement, field, None)
            if inner and isinstance(inner, list) and isinstance(inner[0], ast.stmt):
                yield from _bodies(inner)
        for clause in [*getattr(statement, "handlers", ()), *getattr(statement, "cases", ())]:
            yield from _bodies(clause.body)


def _plain(statement: ast.stmt, lines: list[str]) -> bool:
    """A one-line assignment, call, `return` or `del`, alone on its line."""
    if isinstance(statement, ast.Expr):
        if isinstance(statement.value, ast.Constant):  # docstrings, `...` bodies
            return False
    elif not isinstance(statement, (ast.Assign, ast.AugAssign, ast.Return, ast.Delete)):
        return False
    if statement.end_lineno != statement.lineno:
        return False
    line = lines[statement.lineno - 1]
    if not line.isascii() or statement.end_col_offset != len(line):
        return False
    if line[: statement.col_offset].strip(" "):
        return False
    return statement.lineno < 2 or not lines[statement.lineno - 2].endswith("\\")


def _changes_versions(line: str) -> bool:
    """Whether the line has a token that changes the target versions black infers."""
    if ":=" in line or "lambda" in line or "await" in line or "async" in line or "yield" in line:
        return True
    if "*" in line and _UNPACKING.search(line):
        return True
    if ("'" in line or '"' in line) and _FORMATTED_STRING.search(line):
        return True
    return _DIGIT_UNDERSCORE.search(line) is not None and _NUMERIC_UNDERSCORE.search(line) is not None


def _short_shape(line: str) -> str:
    """The statement with every name spelled `a`, every plain string `"a"`, every integer `1`."""
    line = line.lstrip(" ")
    if "'" not in line and '"' not in line:
        return _INTEGER.sub("1", _IDENTIFIER.sub("a", line))
    if _ONLY_PLAIN_STRINGS.fullmatch(line):  # the same, after one substitution without a callback
        return _INTEGER.sub("1", _IDENTIFIER.sub("a", _PLAIN_STRING.sub('"a"', line)))
    return _TOKEN.sub(_short_token, line)


def _short_token(match: re.Match[str]) -> str:
    token = match.group(0)
    if match.group("name"):
        return "a"
    if match.group("number"):
        return "1" if token.isdigit() else token
    return '"a"' if _PLAIN_STRING.fullmatch(token) else token


#: shape verdicts: a dict, not an lru_cache like `_layout`, because unknown shapes are
#: looked up together and asked of black in one call
_STABLE: dict[tuple[black.Mode, str], bool] = {}
_MAX_SHAPES = 100_000


def _stable_shapes(shapes: set[str], mode: black.Mode) -> set[str]:
    """The shapes black leaves as they are: all unknown ones asked in one call, one by one
    only where that call changed something."""
    unknown = sorted(s for s in shapes if (mode, s) not in _STABLE)
    if len(_STABLE) + len(unknown) > _MAX_SHAPES:
        _STABLE.clear()  # a long-lived process: start again rather than grow without bound
    if unknown:
        together = "\n".join(unknown) + "\n"
        all_stable = _black_or_none(together, mode) == together
        for shape in unknown:
            _STABLE[(mode, shape)] = all_stable or _black_or_none(shape + "\n", mode) == shape + "\n"
    return {s for s in shapes if _STABLE[(mode, s)]}


def _laid_out(line: str, indent: int, mode: black.Mode) -> list[str] | None:
    """The statement as black lays it out: its shape's layout with its own tokens put back;
    None where its strings are not all plain (black may rewrite them)."""
    tokens: list[str] = []
    try:
        shape = _TOKEN.sub(lambda match: _blank(match, tokens), line[indent:])
    except _NotPlain:
        return None
    pieces = _layout(shape, indent, mode)
    if pieces is None or len(pieces) != len(tokens) + 1:
        return None
    parts = [pieces[0]]
    for token, piece in zip(tokens, pieces[1:]):
        parts += (token, piece)
    return "".join(parts).split("\n")


def _blank(match: re.Match[str], tokens: list[str]) -> str:
    """A token's stand-in of the same length (kept where it is not a name, plain string or
    integer); the token itself goes to `tokens`."""
    token = match.group(0)
    if match.group("string"):
        if not _PLAIN_STRING.fullmatch(token):
            raise _NotPlain
        tokens.append(token)
        return '"' + "x" * (len(token) - 2) + '"'
    if match.group("number") and not token.isdigit():
        return token
    tokens.append(token)
    return ("1" if match.group("number") else "a") * len(token)


class _NotPlain(Exception):
    pass


@functools.lru_cache(maxsize=4096)
def _layout(shape: str, indent: int, mode: black.Mode) -> tuple[str, ...] | None:
    """Black's lines for the statement `shape` at `indent` (inside `if a:` blocks), as the
    text between its stand-ins."""
    depth = indent // 4
    if indent != depth * 4:
        return None
    opening = "".join("    " * level + "if a:\n" for level in range(depth))
    formatted = _black_or_none(opening + " " * indent + shape + "\n", mode)
    if formatted is None or not formatted.startswith(opening):
        return None
    pieces, position = [], len(opening)
    for match in _TOKEN.finditer(formatted, position):
        token = match.group(0)
        if match.group("number") and not token.isdigit():
            continue  # kept as it is, not a stand-in
        pieces.append(formatted[position : match.start()])
        position = match.end()
    pieces.append(formatted[position:-1])
    return tuple(pieces)


def _black_or_none(text: str, mode: black.Mode) -> str | None:
    try:
        return black.format_str(text, mode=mode)
    except Exception:  # a shape black cannot parse is simply not used
        return None


def _only_comments(lines: list[str], start: int, stop: int, indent: int) -> bool:
    """Whether lines[start:stop] are all comments at `indent` that black leaves as they are."""
    for line in lines[start:stop]:
        body = line[indent:]
        if (
            len(line) - len(body) != indent
            or line[:indent].strip(" ")
            or not body.startswith("# ")
            or body != body.rstrip()
            or not body.isascii()
            or "type:" in body
        ):
            return False
    return True


def _skeleton(lines: list[str], runs: list[_Run]) -> str:
    """The text with each run replaced by its placeholder statement."""
    kept, position = [], 0
    for index, run in enumerate(runs):
        kept.extend(lines[position : run.first])
        kept.append(" " * run.indent + _PLACEHOLDER.format(index))
        position = run.last + 1
    kept.extend(lines[position:])
    return "\n".join(kept)


def _fill(formatted: str, runs: list[_Run]) -> str | None:
    """The formatted skeleton with each placeholder replaced by its run laid out; None where
    black moved a placeholder somewhere its run cannot go (an indentation black changes)."""
    out, found = [], 0
    for line in formatted.split("\n"):
        match = _PLACEHOLDER_LINE.fullmatch(line)
        if match is None:
            out.append(line)
            continue
        run = runs[int(match.group(2))]
        if len(match.group(1)) != run.indent or int(match.group(2)) != found:
            return None
        out.extend(run.laid_out)
        found += 1
    return "\n".join(out) if found == len(runs) else None
