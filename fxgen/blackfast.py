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

Such statements are found without parsing the text: a scan that follows brackets,
strings and comments marks every whole logical line that starts with a name, `return` or
`del`, and the distinct shapes of those lines are parsed together (a name spelled `a` is
as valid as any other); a line whose shape is one plain statement may be cut out. The
skeleton left is parsed too, so the text is proven to be Python without `ast.parse` of
the whole text (a fifth of a large export's time). Where the scan is unsure (backslash
continuations, f-string fields it cannot follow) or a proof fails, the whole text is
parsed, which also gives a text that is not Python its own SyntaxError.

Runs of such statements (with the comments between them) are cut out of the text, each
replaced by one placeholder statement, the same kind of line, for black's blank-line
rules, as the statements it stands for (a plain statement: not an import, definition,
decorator, comment or docstring; the verified release has no rule of its own for
`return` or `del` lines). Statements whose tokens change the target versions black
infers (walrus, f-strings, numeric underscores, unpacking stars, lambda, await, yield)
stay in the skeleton, so it infers the versions the text does.

The skeleton is what remains: class and def lines, blank lines, imports and anything
unusual. A top-level class or def in it that holds only placeholders, comments and plain
class and def lines (no decorator, `/`, type parameter or trailing comma: nothing that
changes the versions black infers), and that black leaves as it is (checked by its
shape: names spelled `a`, comments `# a`) is cut out too. A def line too long for the
line is laid out by its shape like a long statement, where that layout does not depend
on the versions black infers (a comma after a last parameter that follows `*` does,
unless the text has an f-string). The item's placeholder is a class or def with a
one-statement body, which black's blank-line rules treat as the item itself, unless an
indented comment follows it. Black formats what remains; the items, then the runs, laid
out, go back where black left their placeholders.

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
from typing import Callable, Iterator

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
#: a decimal integer once names are spelled `a` (not `0123`, which is not Python: the shape must not be either)
_INTEGER = re.compile(r"(?<![\w.])(?:0+|[1-9]\d*)(?![\w.])")
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
#: placeholders: a text that holds `fxgen_run_` is formatted whole, so these names are free
_PLACEHOLDER = "fxgen_run_{}_"
_PLACEHOLDER_LINE = re.compile(r"^(?P<indent> *)fxgen_run_(?P<index>\d+)_$", re.MULTILINE)


def fast_path_applies(mode: black.Mode) -> bool:
    """Whether `mode` is black's stable style under the verified release."""
    return (
        black.__version__ == VERIFIED_BLACK
        and not (mode.preview or mode.unstable or mode.enabled_features)
        and not (mode.is_pyi or mode.is_ipynb or mode.skip_source_first_line)
    )


def format_like_black(text: str, mode: black.Mode) -> str:
    """`black.format_str(text, mode=mode)`, with black run only on what needs it.

    Raises SyntaxError where `text` is not Python. Where the fast path applies, that is
    proven without parsing the whole text: the skeleton is parsed, and each statement cut
    out of it is parsed by its shape (a name spelled `a` is as valid as any other)."""
    if not fast_path_applies(mode) or _WHOLE_FILE_ONLY.search(text) or "fxgen_run_" in text:
        ast.parse(text)
        return black_whole(text, mode)
    lines = text.split("\n")
    found = _proven(lines, mode)
    if found is None:  # the scan is unsure or misjudged, or the text is not Python: the parser decides
        runs = _runs(lines, _parsed(ast.parse(text), lines), mode)
        skeleton = _skeleton(lines, runs)
        found = runs, skeleton, ast.parse(skeleton)
    runs, skeleton, tree = found
    skeleton, items = _cut_items(skeleton.split("\n"), tree, mode)
    formatted = _put_in_place(black_whole(skeleton, mode), _ITEM_PLACEHOLDER, [(0, item.laid_out) for item in items])
    return (
        formatted is not None and _put_in_place(formatted, _PLACEHOLDER_LINE, [(r.indent, r.laid_out) for r in runs])
    ) or black_whole(text, mode)


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


#: digits 2-9 spelled 1. Lines alike but for such digits have shapes alike: what black does
#: with a statement and whether it is Python do not depend on a digit's value, except in
#: binary and octal numbers (`_RADIX`), in escapes (whose digits decide a warning) and in
#: leading zeros (a 0 stays itself); lines with a radix prefix or a backslash are not
#: taken as alike.
_DIGITS_ALIKE = str.maketrans("23456789", "11111111")
_RADIX = re.compile(r"0[bBoO]")


def _proven(lines: list[str], mode: black.Mode) -> tuple[list[_Run], str, ast.Module] | None:
    """The runs the scan finds, the skeleton they leave and its syntax tree, where the runs'
    shapes and the skeleton parse, which proves the whole text is Python; None where the
    scan is unsure or a parse fails."""
    statements = _scanned(lines)
    if statements is None:
        return None
    shapes = _shapes(lines, statements)
    plain = _plain_shapes({shape for shape in shapes.values() if shape})
    if plain is None:
        return None
    runs = _runs(lines, statements, mode, {line: shape if shape in plain else None for line, shape in shapes.items()})
    skeleton = _skeleton(lines, runs)
    try:
        tree = ast.parse(skeleton)
    except SyntaxError:
        return None
    return runs, skeleton, tree


def _runs(
    lines: list[str], statements: list[tuple[int, int]], mode: black.Mode, shapes: dict[str, str | None] | None = None
) -> list[_Run]:
    """Runs of statements black lays out without seeing their context, in text order
    (`shapes`: each line's, where already known)."""
    if shapes is None:
        shapes = _shapes(lines, statements)
    width = mode.line_length
    stable = _stable_shapes({shape for line, shape in shapes.items() if shape and len(line) <= width}, mode)
    layouts = _Layouts(mode)
    runs: list[_Run] = []
    current: _Run | None = None
    for index, indent in statements:
        line = lines[index]
        shape = shapes[line]
        if shape is None:
            laid_out = None
        elif shape in stable and len(line) <= width:
            laid_out = [line]
        else:
            laid_out = layouts.laid_out(line, indent)
        if laid_out is None:
            current = None
        elif current is not None and current.indent == indent and _only_comments(lines, current.last + 1, index, indent):
            current.laid_out += lines[current.last + 1 : index] + laid_out
            current.last = index
        else:
            current = _Run(index, index, indent, laid_out)
            runs.append(current)
    return runs


def _shapes(lines: list[str], statements: list[tuple[int, int]]) -> dict[str, str | None]:
    """Each distinct line's short shape; None where it must not be in a run. Lines alike
    but for digits (`_DIGITS_ALIKE`) are shaped once."""
    shapes: dict[str, str | None] = {}
    alike: dict[str, str | None] = {}  # the same, by the line with its digits alike
    for index, _ in statements:
        line = lines[index]
        if line in shapes:
            continue
        key = None if "\\" in line or _RADIX.search(line) else line.translate(_DIGITS_ALIKE)
        if key is not None and key in alike:
            shapes[line] = alike[key]
            continue
        shapes[line] = None if _changes_versions(line) else _short_shape(line)
        if key is not None:
            alike[key] = shapes[line]
    return shapes


def _parsed(tree: ast.Module, lines: list[str]) -> list[tuple[int, int]]:
    """(line index, indentation) of the text's plain statements, in text order."""
    return sorted((s.lineno - 1, s.col_offset) for body in _bodies(tree.body) for s in body if _plain(s, lines))


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
    if not _plain_kind(statement) or statement.end_lineno != statement.lineno:
        return False
    line = lines[statement.lineno - 1]
    if not line.isascii() or statement.end_col_offset != len(line):
        return False
    if line[: statement.col_offset].strip(" "):
        return False
    return statement.lineno < 2 or not lines[statement.lineno - 2].endswith("\\")


def _plain_kind(statement: ast.stmt) -> bool:
    if isinstance(statement, ast.Expr):
        return not isinstance(statement.value, ast.Constant)  # docstrings, `...` bodies
    return isinstance(statement, (ast.Assign, ast.AugAssign, ast.Return, ast.Delete))


def _plain_shapes(shapes: set[str]) -> set[str] | None:
    """The shapes that are each one plain statement, parsed together; None where they do
    not all parse."""
    ordered = sorted(shapes)
    try:
        tree = ast.parse("\n".join(ordered))
    except SyntaxError:
        return None
    starting: dict[int, list[ast.stmt]] = {}
    for statement in tree.body:
        starting.setdefault(statement.lineno, []).append(statement)
    plain = set()
    for number, shape in enumerate(ordered, 1):
        found = starting.get(number, [])
        if len(found) == 1 and _plain_kind(found[0]) and found[0].end_lineno == number:
            if found[0].col_offset == 0 and found[0].end_col_offset == len(shape):
                plain.add(shape)
    return plain


# The scan: where logical lines start, found without parsing the text.
_SCAN_SPECIAL = re.compile(r"""['"#\\]""")
_MAYBE_FIELDS = re.compile(r"""[fFtT][rR]?['"]""")  # an f-string or t-string, or `if"a"`
_ONE_LINE_STRINGS = re.compile(r"""'[^'\n]*'|"[^"\n]*"|#.*""")  # without backslashes
_SCAN_LEXEME = re.compile(r"""[()\[\]{}#\\]|'''|\"\"\"|['"]""")
_STRING_END = {
    "'": re.compile(r"(?:\\.|[^\\\n'])*'"),
    '"': re.compile(r'(?:\\.|[^\\\n"])*"'),
    "'''": re.compile(r"(?:\\.|[^\\])*?'''"),
    '"""': re.compile(r'(?:\\.|[^\\])*?"""'),
}
_PREFIX_LETTERS = frozenset("bBrRuUfFtT")
_FIELD_PREFIX_LETTERS = frozenset("fFtT")
#: a line that may be a plain statement starts with `return`, `del` or a name that is not a keyword
_STATEMENT_START = re.compile(
    r"(?:return|del)\b|(?!(?:" + "|".join(sorted(_KEPT_NAMES - {"_", "print", "exec"})) + r")\b)[A-Za-z_]"
)


def _scanned(lines: list[str]) -> list[tuple[int, int]] | None:
    """(line index, indentation) of every line that is a whole logical line starting with
    a name, `return` or `del`: the statements that may be plain, to be proven so by their
    shapes. None where the scan is unsure (a backslash outside strings, an f-string whose
    fields the scan cannot follow, brackets that do not balance)."""
    found = []
    depth, quote = 0, None  # brackets and the triple quote open at the start of a line
    for index, line in enumerate(lines):
        whole = depth == 0 and quote is None
        code = line if quote is None else None
        if code is not None and _SCAN_SPECIAL.search(code) is not None:
            code = _one_line_code(code)
        if code is not None:
            depth += code.count("(") + code.count("[") + code.count("{")
            depth -= code.count(")") + code.count("]") + code.count("}")
        else:
            state = _scan_line(line, depth, quote)
            if state is None:
                return None
            depth, quote = state
        if depth < 0:
            return None
        if whole and depth == 0 and quote is None and line.isascii():
            body = line.lstrip(" ")
            if _STATEMENT_START.match(body):
                found.append((index, len(line) - len(body)))
    return found if depth == 0 and quote is None else None


def _one_line_code(line: str) -> str | None:
    """The line without its strings and comment, where it has no triple quote, backslash
    or f-string and every string ends on it (most lines with strings); else None."""
    if "'''" in line or '"""' in line or "\\" in line or _MAYBE_FIELDS.search(line):
        return None
    code = _ONE_LINE_STRINGS.sub("", line)
    return None if "'" in code or '"' in code else code


def _scan_line(line: str, depth: int, quote: str | None) -> tuple[int, str | None] | None:
    """The bracket depth and the triple quote open after `line`; None where unsure."""
    position = 0
    while True:
        if quote is not None:
            end = _STRING_END[quote].match(line, position)
            if end is None:  # a triple-quoted string goes on; a one-quote one is an error
                return (depth, quote) if len(quote) == 3 else None
            if not _fields_closed(line, position, end.end() - len(quote)):
                return None
            position, quote = end.end(), None
        lexeme = _SCAN_LEXEME.search(line, position)
        if lexeme is None or lexeme.group() == "#":
            return depth, None
        token = lexeme.group()
        if token == "\\":
            return None
        if token in "([{":
            depth += 1
        elif token in ")]}":
            depth -= 1
        else:
            quote = token
        position = lexeme.end()


def _fields_closed(line: str, start: int, end: int) -> bool:
    """Whether the string whose text is line[start:end] may end there: not an f-string
    (or t-string) with a field still open (from Python 3.12 a field may hold the string's
    own quotes)."""
    opening = start
    while opening > 0 and line[opening - 1] in "'\"":
        opening -= 1
    prefix_start = opening
    while prefix_start > 0 and line[prefix_start - 1].isalnum():
        prefix_start -= 1
    prefix = set(line[prefix_start:opening])
    if opening - prefix_start > 2 or not prefix <= _PREFIX_LETTERS or not prefix & _FIELD_PREFIX_LETTERS:
        return True
    text = line[start:end].replace("{{", "").replace("}}", "")
    return text.count("{") == text.count("}")


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
        return "1" if _INTEGER.fullmatch(token) else token
    return '"a"' if _PLAIN_STRING.fullmatch(token) else token


#: shape verdicts: a dict, not an lru_cache like `_layout`, because unknown shapes are
#: looked up together and asked of black in one call
_STABLE: dict[tuple[black.Mode, str], bool] = {}
_MAX_SHAPES = 100_000


def _stable_shapes(shapes: set[str], mode: black.Mode, separator: str = "\n") -> set[str]:
    """The shapes black leaves as they are: all unknown ones asked in one call (one after
    another, `separator` between them), one by one only where that call changed something."""
    unknown = sorted(s for s in shapes if (mode, s) not in _STABLE)
    if len(_STABLE) + len(unknown) > _MAX_SHAPES:
        _STABLE.clear()  # a long-lived process: start again rather than grow without bound
    if unknown:
        together = separator.join(unknown) + "\n"
        all_stable = _black_or_none(together, mode) == together
        for shape in unknown:
            _STABLE[(mode, shape)] = all_stable or _black_or_none(shape + "\n", mode) == shape + "\n"
    return {s for s in shapes if _STABLE[(mode, s)]}


class _Layouts:
    """Long statements of one text as black lays them out: each statement's shape's layout
    with its own tokens put back. Statements that differ only in digits inside names,
    plain strings and integers (`getattr(self, "7").fc = ...` for every block) are blanked
    once: the next one's text outside those tokens is compared, and its tokens are taken
    at the same places."""

    def __init__(self, mode: black.Mode) -> None:
        self.mode = mode
        self.known: dict[tuple[str, int], tuple[str, list[tuple[int, int]], tuple[str, ...]]] = {}

    def laid_out(self, line: str, indent: int) -> list[str] | None:
        """The statement's lines; None where its strings are not all plain (black may
        rewrite them) or its shape has no layout."""
        key = (line.translate(_DIGITS_ALIKE), indent)
        known = self.known.get(key)
        if known is not None and _same_outside(line, known[0], known[1]):
            return _put_back(known[2], line, known[1])
        found = _stand_in_layout(line, indent, lambda shape: _layout(shape, indent, self.mode))
        if found is None:
            return None
        self.known[key] = (line, *found)
        return _put_back(found[1], line, found[0])


def _stand_in_layout(
    line: str, indent: int, lay_out: Callable[[str], tuple[str, ...] | None]
) -> tuple[list[tuple[int, int]], tuple[str, ...]] | None:
    """Where the line's tokens are, and the text around them as `lay_out` lays out the
    line's shape with a stand-in for each; None where `_blanked` or `lay_out` finds none."""
    blanked = _blanked(line, indent)
    if blanked is None:
        return None
    shape, spans = blanked
    pieces = lay_out(shape)
    if pieces is None or len(pieces) != len(spans) + 1:
        return None
    return spans, pieces


def _blanked(line: str, indent: int) -> tuple[str, list[tuple[int, int]]] | None:
    """The statement with each name, plain string and integer replaced by a stand-in of the
    same length, and where those tokens are; None where a string is not plain."""
    parts, spans, position = [], [], indent
    for match in _TOKEN.finditer(line, indent):
        token, kind = match.group(), match.lastgroup
        if kind == "string":
            if not _PLAIN_STRING.fullmatch(token):
                return None
            stand_in = '"' + "x" * (len(token) - 2) + '"'
        elif kind == "number":
            if not token.isdigit():
                continue  # kept as it is: black may respell it
            stand_in = "1" * len(token)
        else:
            stand_in = "a" * len(token)
        parts += (line[position : match.start()], stand_in)
        spans.append(match.span())
        position = match.end()
    parts.append(line[position:])
    return "".join(parts), spans


def _same_outside(line: str, other: str, spans: list[tuple[int, int]]) -> bool:
    """Whether two lines of one length agree everywhere outside `spans`."""
    position = 0
    for start, end in spans:
        if line[position:start] != other[position:start]:
            return False
        position = end
    return line[position:] == other[position:]


def _put_back(pieces: tuple[str, ...], line: str, spans: list[tuple[int, int]]) -> list[str]:
    """The layout `pieces` with the line's own tokens (at `spans`) between them."""
    parts = [pieces[0]]
    for (start, end), piece in zip(spans, pieces[1:]):
        parts += (line[start:end], piece)
    return "".join(parts).split("\n")


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
    return _between_stand_ins(formatted[len(opening) : -1])


def _between_stand_ins(formatted: str) -> tuple[str, ...]:
    """The text around the stand-ins of a shape black laid out."""
    pieces, position = [], 0
    for match in _TOKEN.finditer(formatted):
        token = match.group(0)
        if match.group("number") and not token.isdigit():
            continue  # kept as it is, not a stand-in
        pieces.append(formatted[position : match.start()])
        position = match.end()
    pieces.append(formatted[position:])
    return tuple(pieces)


@functools.lru_cache(maxsize=1024)
def _def_layout(shape: str, indent: int, mode: black.Mode, f_strings: bool) -> tuple[str, ...] | None:
    """Black's lines for the def line `shape` (top-level, or a method at `indent` 4), as the
    text between its stand-ins. Whether black puts a comma after a last parameter that
    follows a `*` depends on the target versions it infers from the whole text: the
    layout is taken only where it is the same with and without an f-string in the text
    (which makes black infer 3.6 or later), or where `f_strings` says the text has one."""
    opening = {0: "", 4: "class a:\n"}.get(indent)
    if opening is None:
        return None
    layouts = []
    for body in ("a", 'f"{a}"'):
        closing = "\n" + " " * (indent + 4) + body + "\n"
        formatted = _black_or_none(opening + " " * indent + shape + closing, mode)
        if formatted is None or not formatted.startswith(opening) or not formatted.endswith(closing):
            return None
        layouts.append(formatted[len(opening) : len(formatted) - len(closing)])
    if layouts[0] != layouts[1] and not f_strings:
        return None
    return _between_stand_ins(layouts[1])


def _black_or_none(text: str, mode: black.Mode) -> str | None:
    try:
        return black.format_str(text, mode=mode)
    except Exception:  # a shape black cannot parse is simply not used
        return None


def _only_comments(lines: list[str], start: int, stop: int, indent: int) -> bool:
    """Whether lines[start:stop] are all comments at `indent` that black leaves as they are."""
    for line in lines[start:stop]:
        body = line[indent:]
        if len(line) - len(body) != indent or line[:indent].strip(" ") or not _kept_comment(body):
            return False
    return True


def _kept_comment(comment: str) -> bool:
    """Whether black leaves a comment line (without its indentation) as it is, whatever its words."""
    return comment.startswith("# ") and comment == comment.rstrip() and comment.isascii() and "type:" not in comment


def _skeleton(lines: list[str], runs: list[_Run]) -> str:
    """The text with each run replaced by its placeholder statement."""
    kept, position = [], 0
    for index, run in enumerate(runs):
        kept.extend(lines[position : run.first])
        kept.append(" " * run.indent + _PLACEHOLDER.format(index))
        position = run.last + 1
    kept.extend(lines[position:])
    return "\n".join(kept)


# Whole classes and functions: cut out of the skeleton where black leaves them as they are.
_ITEM_NAME = "fxgen_run_item_{}_"
_ITEM_PLACEHOLDER = re.compile(
    r"^(?P<indent>)(?:class|def) fxgen_run_item_(?P<index>\d+)_(?:\(\))?:\n    fxgen_run_item_(?P=index)_$", re.MULTILINE
)
_DOTTED = r"a(?:\.a)*"
_PARAMETER = rf"(?:\*\*?)?a(?:: {_DOTTED}(?: = (?:None|True|False|1|\"a\"))?|=(?:None|True|False|1|\"a\"))?|\*"
#: the shapes of the class and def lines an item may hold: dotted names for bases and
#: annotations, a few constants for defaults; no trailing comma, `/`, type parameters or
#: `async`, nothing that changes the target versions black infers or how it lays out a line
#: that fits
_HEADER = re.compile(
    rf"class a(?:\({_DOTTED}(?:, {_DOTTED})*\))?:|def a\((?:(?:{_PARAMETER})(?:, (?:{_PARAMETER}))*)?\)(?: -> {_DOTTED})?:"
)


@dataclass
class _Item:
    """A top-level class or def that may be cut out of the skeleton."""

    first: int  #: index of its first line in the skeleton
    stop: int  #: index of the line after its last
    kind: str  #: "class" or "def"
    shape: str  #: its lines with names spelled `a` and comments `# a`
    laid_out: list[str]  #: its lines as black lays them out


def _cut_items(lines: list[str], tree: ast.Module, mode: black.Mode) -> tuple[str, list[_Item]]:
    """The skeleton with each top-level class and def that black leaves as it is (proven by
    its shape) replaced by a placeholder of its kind (`class fxgen_run_item_0_:` and one
    statement); and those items."""
    found = list(_items(lines, tree, mode))
    stable = _stable_shapes({item.shape for item in found}, mode, "\n\n\n")
    kept: list[str] = []
    items: list[_Item] = []
    position = 0
    for item in found:
        if item.shape in stable:
            name = _ITEM_NAME.format(len(items))
            kept += lines[position : item.first]
            kept += [f"class {name}:" if item.kind == "class" else f"def {name}():", f"    {name}"]
            items.append(item)
            position = item.stop
    kept += lines[position:]
    return "\n".join(kept), items


def _items(lines: list[str], tree: ast.Module, mode: black.Mode) -> Iterator[_Item]:
    """Every top-level class and def that may be cut out. Its placeholder is a class
    or def too, with a one-statement body, so black's blank lines around it are the item's
    own, wherever it is; except that a comment indented after it would follow a shallower
    body (black gives it another blank line), so the next line that is not blank must be a
    top-level one."""
    f_strings = None  # whether the text has an f-string: looked up where a long def needs it
    for node in tree.body:
        if type(node) not in (ast.ClassDef, ast.FunctionDef):
            continue
        first, stop = node.lineno - 1, node.end_lineno or node.lineno
        following = next((line for line in lines[stop:] if line), "")
        if following.startswith(" "):
            continue
        item = lines[first:stop]
        if f_strings is None and any(len(line) > mode.line_length for line in item):
            f_strings = any(isinstance(inner, ast.JoinedStr) for inner in ast.walk(tree))
        found = _item_shape(item, mode, bool(f_strings))
        if found is not None:
            yield _Item(first, stop, "class" if type(node) is ast.ClassDef else "def", *found)


def _item_shape(lines: list[str], mode: black.Mode, f_strings: bool) -> tuple[str, list[str]] | None:
    """The item with every name spelled `a` and every comment `# a`, and its lines with
    each def line too long for the line length laid out (`_def_layout`); None where a line
    is not a blank line, a run's placeholder, a comment black leaves as it is or a class or
    def line of `_HEADER`'s shapes, or is too long and not such a def line."""
    shaped, laid_out = [], []
    for line in lines:
        body = line.lstrip(" ")
        indent = len(line) - len(body)
        if body.startswith(("class ", "def ")) and _HEADER.fullmatch(shape := _short_shape(body)):
            shaped.append(" " * indent + shape)
            if len(line) <= mode.line_length:
                laid_out.append(line)
                continue
            found = _stand_in_layout(line, indent, lambda blanked: _def_layout(blanked, indent, mode, f_strings))
            if not body.startswith("def ") or found is None:
                return None
            laid_out += _put_back(found[1], line, found[0])
            continue
        if len(line) > mode.line_length:
            return None
        if not body:
            shaped.append(line)
        elif _PLACEHOLDER_LINE.fullmatch(line):
            shaped.append(" " * indent + "a")
        elif _kept_comment(body):
            shaped.append(" " * indent + "# a")
        else:
            return None
        laid_out.append(line)
    return "\n".join(shaped), laid_out


def _put_in_place(formatted: str, placeholder: re.Pattern[str], cuts: list[tuple[int, list[str]]]) -> str | None:
    """The formatted skeleton with the n-th match of `placeholder` replaced by the lines of
    cut n, (indentation, lines); None where black moved, reordered or changed one."""
    parts, position, found = [], 0, 0
    for match in placeholder.finditer(formatted):
        if found == len(cuts) or int(match["index"]) != found or len(match["indent"]) != cuts[found][0]:
            return None
        parts += (formatted[position : match.start()], "\n".join(cuts[found][1]))
        position = match.end()
        found += 1
    parts.append(formatted[position:])
    return "".join(parts) if found == len(cuts) else None
