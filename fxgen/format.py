"""Format: rendered text becomes exactly what the target project's formatter makes of it.

The formatter is chosen in one place. `"black"` gives black's output with the settings of
the project the file is written into (found as black finds them: the nearest folder with
`.git`, `.hg` or a `pyproject.toml` with `[tool.black]`; black's defaults where there is
none, and always for text that is not written to a path), computed by `fxgen.blackfast`,
which runs black only on the statements that need it; `"black-full"` runs black on the
whole text (the same output, slower). `"ruff"` runs `ruff format`
on the text as if it were the file at the path, so ruff finds the project's settings
itself. `"auto"` picks ruff where the project formats with ruff (a `pyproject.toml` with
`[tool.ruff]` and no `[tool.black]`, or a `ruff.toml`, on the way up to the project
root), black otherwise. A `black.Mode` is used as given (fxgen's own goldens use one, so
they do not depend on any surrounding configuration). `None` leaves the text as rendered.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Union

import black

from fxgen.blackfast import format_like_black
from fxgen.errors import ExportError, FormatError

if sys.version_info >= (3, 11):
    import tomllib as _toml
else:  # black depends on tomli before Python 3.11
    import tomli as _toml

__all__ = ["Formatter", "format_text", "black_mode", "project_formatter", "ruff_format", "check_syntax"]

Formatter = Union[str, black.Mode, None]


def format_text(text: str, formatter: Formatter, path: Path | None = None, what: str = "the text") -> str:
    """`text` formatted as `formatter` says, for a file to be written at `path`; an
    ExportError names `what` where the text is not valid Python."""
    if formatter == "auto":
        formatter = project_formatter(path)
    if formatter is None or formatter == "ruff":
        check_syntax(text, what)
        return text if formatter is None else ruff_format(text, path)
    if isinstance(formatter, black.Mode):
        mode = formatter
    elif formatter in ("black", "black-full"):
        mode = black_mode(path)
    else:
        raise FormatError(
            f"unknown formatter {formatter!r}: use 'auto', 'black', 'black-full', 'ruff', a black.Mode, "
            "or None (unformatted)"
        )
    whole = formatter == "black-full"
    if whole:
        check_syntax(text, what)
    try:  # the fast path proves the syntax itself, mostly without parsing the whole text
        return black.format_str(text, mode=mode) if whole else format_like_black(text, mode)
    except SyntaxError as exc:
        raise _not_python(text, what, exc) from exc
    except Exception as exc:  # black reports invalid input with its own exception types
        raise FormatError(f"black could not format the generated code: {exc}") from exc


def project_formatter(path: Path | None) -> str:
    """"ruff" where the project of a file at `path` formats with ruff, else "black"."""
    if path is None:
        return "black"
    for folder in Path(path).resolve().parents:
        pyproject = folder / "pyproject.toml"
        tools = _tools(pyproject) if pyproject.is_file() else {}
        if "black" in tools:
            return "black"
        if "ruff" in tools or (folder / "ruff.toml").is_file() or (folder / ".ruff.toml").is_file():
            return "ruff"
        if (folder / ".git").exists() or (folder / ".hg").is_dir():
            break
    return "black"


def _tools(pyproject: Path) -> dict:
    try:
        with open(pyproject, "rb") as f:
            return dict(_toml.load(f).get("tool", {}))
    except (OSError, ValueError) as exc:
        raise FormatError(f"cannot read {pyproject}: {exc}") from exc


def ruff_format(text: str, path: Path | None) -> str:
    """What `ruff format` makes of `text` as the file at `path` (ruff finds its settings)."""
    command = [_ruff_binary(), "format", "--quiet"]
    if path is not None:
        command += ["--stdin-filename", str(Path(path).resolve())]
    result = subprocess.run([*command, "-"], input=text, capture_output=True, text=True, encoding="utf-8")
    if result.returncode != 0:
        raise FormatError(f"ruff could not format the generated code: {result.stderr.strip()}")
    return result.stdout


def _ruff_binary() -> str:
    try:
        from ruff.__main__ import find_ruff_bin
    except ImportError:
        raise FormatError(
            "the project formats with ruff (its pyproject.toml has [tool.ruff] and no [tool.black]), "
            "but ruff is not installed: pip install ruff, or pass formatter='black'"
        ) from None
    return str(find_ruff_bin())


def black_mode(path: Path | None) -> black.Mode:
    """black's settings for a file at `path`: its project's `[tool.black]`, else defaults."""
    if path is None:
        return black.Mode()
    root, _ = black.find_project_root((str(Path(path).resolve().parent),))
    pyproject = root / "pyproject.toml" if root is not None else None
    if pyproject is None or not pyproject.is_file():
        return black.Mode()
    try:
        config = black.parse_pyproject_toml(str(pyproject))
    except Exception as exc:
        raise FormatError(f"cannot read the black settings in {pyproject}: {exc}") from exc
    return _mode_from_config(config, pyproject)


def _mode_from_config(config: dict, pyproject: Path) -> black.Mode:
    versions = set()
    for name in config.get("target_version", []) or []:
        try:
            versions.add(black.TargetVersion[str(name).upper()])
        except KeyError:
            raise FormatError(f"{pyproject}: unknown black target-version {name!r}") from None
    try:
        return black.Mode(
            target_versions=versions,
            line_length=int(config.get("line_length", black.DEFAULT_LINE_LENGTH)),
            string_normalization=not config.get("skip_string_normalization", False),
            magic_trailing_comma=not config.get("skip_magic_trailing_comma", False),
            preview=bool(config.get("preview", False)),
            unstable=bool(config.get("unstable", False)),
        )
    except (TypeError, ValueError) as exc:
        raise FormatError(f"{pyproject}: invalid black settings: {exc}") from exc


def check_syntax(text: str, what: str) -> None:
    """Refuses text that is not valid Python (a bug in a template or in fxgen)."""
    try:
        ast.parse(text)
    except SyntaxError as exc:
        raise _not_python(text, what, exc) from exc


def _not_python(text: str, what: str, exc: SyntaxError) -> ExportError:
    line = text.splitlines()[exc.lineno - 1] if exc.lineno else ""
    return ExportError(
        f"{what} is not valid Python (line {exc.lineno}: {exc.msg}: {line.strip()!r}); "
        "nothing was written. If a user template is involved, check it; otherwise "
        "please report this as an fxgen bug."
    )
