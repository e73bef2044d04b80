"""Format: rendered text becomes exactly what black makes of it.

The formatter is chosen in one place. `"auto"` and `"black"` use black with the settings
of the project the file is written into (the nearest `pyproject.toml` with `[tool.black]`,
read with black's own helpers; black's defaults where there is none, and always for
text that is not written to a path). A `black.Mode` is used as given (fxgen's own
goldens use one, so they do not depend on any surrounding configuration). `None`
leaves the text as rendered.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Union

import black

from fxgen.errors import ExportError, FormatError

__all__ = ["Formatter", "format_text", "black_mode", "check_syntax"]

Formatter = Union[str, black.Mode, None]

_CHOICES = ("auto", "black", None)


def format_text(text: str, formatter: Formatter, path: Path | None = None) -> str:
    """`text` formatted as `formatter` says, for a file to be written at `path`."""
    if formatter is None:
        return text
    if isinstance(formatter, black.Mode):
        mode = formatter
    elif formatter in ("auto", "black"):
        mode = black_mode(path)
    else:
        raise FormatError(
            f"unknown formatter {formatter!r}: use 'auto', 'black', a black.Mode, or None (unformatted)"
        )
    try:
        return black.format_str(text, mode=mode)
    except Exception as exc:  # black reports invalid input with its own exception types
        raise FormatError(f"black could not format the generated code: {exc}") from exc


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
    """Refuse to write text that is not valid Python (a bug in a template or in fxgen)."""
    try:
        ast.parse(text)
    except SyntaxError as exc:
        line = text.splitlines()[exc.lineno - 1] if exc.lineno else ""
        raise ExportError(
            f"{what} is not valid Python (line {exc.lineno}: {exc.msg}: {line.strip()!r}); "
            "nothing was written. If a user template is involved, check it; otherwise "
            "please report this as an fxgen bug."
        ) from exc
