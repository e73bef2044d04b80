"""Render: a `Program` becomes source text through the Jinja templates of a style.

One environment is built in one place. Loader order: the user's template folders, then
the built-in style, then `_common`, then the built-in root (so a template can extend
`module/file.py.jinja` by its full name). A template error names the template file and
line.
"""

from __future__ import annotations

import functools
import os
import traceback
from pathlib import Path
from typing import Sequence

import jinja2

from fxgen.errors import FxgenError, TemplateError
from fxgen.program import Program

__all__ = ["render_program", "TEMPLATES", "OPCODES", "style_names"]

TEMPLATES = Path(__file__).parent / "templates"
OPCODES = ("placeholder", "get_attr", "call_function", "call_method", "call_module", "output")
FILE_TEMPLATE = "file.py.jinja"


def style_names() -> list[str]:
    """The built-in styles (folders of `fxgen/templates` that are not `_common`)."""
    return sorted(p.name for p in TEMPLATES.iterdir() if p.is_dir() and not p.name.startswith("_"))


def render_program(program: Program, style: str, template_dirs: Sequence[str | os.PathLike[str]] = ()) -> str:
    """The text of the generated file (unformatted)."""
    env = _environment(style, tuple(str(Path(d)) for d in template_dirs))
    try:
        template = env.get_template(FILE_TEMPLATE)
        return template.render(program=program)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template {exc.filename or exc.name}, line {exc.lineno}: {exc.message}") from exc
    except FxgenError:
        raise
    except Exception as exc:
        raise TemplateError(f"{_template_location(exc)}: {type(exc).__name__}: {exc}") from exc


@functools.lru_cache(maxsize=32)
def _environment(style: str, template_dirs: tuple[str, ...]) -> jinja2.Environment:
    if style not in style_names():
        raise FxgenError(f"unknown style {style!r}; the built-in styles are {', '.join(style_names())}")
    for folder in template_dirs:
        if not Path(folder).is_dir():
            raise FxgenError(f"template folder {folder!r} does not exist")
    loader = jinja2.ChoiceLoader(
        [jinja2.FileSystemLoader(list(template_dirs))] if template_dirs else []
    )
    loader.loaders.extend(
        [
            jinja2.FileSystemLoader(str(TEMPLATES / style)),
            jinja2.FileSystemLoader(str(TEMPLATES / "_common")),
            jinja2.FileSystemLoader(str(TEMPLATES)),
        ]
    )
    return jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def _template_location(exc: BaseException) -> str:
    """`template NAME, line N` of the innermost template frame of a rendering error."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith(".jinja")]
    if not frames:
        return "template"
    frame = frames[-1]
    try:
        name = str(Path(frame.filename).relative_to(TEMPLATES))
    except ValueError:
        name = frame.filename
    return f"template {name}, line {frame.lineno}"
