"""Render: a `Program` becomes source text through the Jinja templates of a style.

A style is a folder of templates with a `style.json` that says what it makes
(`description`, file `suffix`, whether the text is `python` to format and check, the
`lowering` its context needs, the `file` template, and the style it `extends`). Built-in
styles live in `fxgen/templates/<style>/`; a user folder passed in `template_dirs` either
overrides templates of the chosen style by name, or holds styles of its own
(`<dir>/<style>/style.json`).

One environment is built per (style, folders). Loader order: the user's style folder
and folders, then the style's built-in chain (the style, the style it extends, ...),
then `_common`, then the built-in root (so a template can extend `module/file.py.jinja`
by its full name). A template error names the template file and line.
"""

from __future__ import annotations

import functools
import json
import os
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import jinja2
import jinja2.meta
import jinja2.nodes

from fxgen.errors import FxgenError, TemplateError
from fxgen.program import Program

__all__ = [
    "render_program", "TEMPLATES", "OPCODES", "Style", "find_style", "available_styles", "reads_statement_meta",
    "writes_init_arguments",
]

TEMPLATES = Path(__file__).parent / "templates"
OPCODES = ("placeholder", "get_attr", "call_function", "call_method", "call_module", "output")
LOWERINGS = ("module", "functional", "graph")


@dataclass(frozen=True)
class Style:
    """What a style makes (its `style.json`)."""

    name: str
    description: str
    suffix: str  #: the generated file's suffix: ".py", ".txt", ".md"
    python: bool  #: formatted by black, checked by `ast.parse`, written with its weights
    lowering: str  #: the Program it renders: "module", "functional" or "graph"
    file: str  #: the template that makes the whole file
    folders: tuple[Path, ...]  #: its template folders, most specific first


def available_styles(template_dirs: Sequence[str | os.PathLike[str]] = ()) -> dict[str, str]:
    """Style name -> description: the built-in styles and those in `template_dirs`."""
    found = {}
    for folder in [TEMPLATES, *(Path(d) for d in template_dirs)]:
        for child in sorted(folder.iterdir()) if folder.is_dir() else []:
            if (child / "style.json").is_file():
                found[child.name] = _read_json(child / "style.json").get("description", "")
    return found


def find_style(name: str, template_dirs: Sequence[str | os.PathLike[str]] = ()) -> Style:
    """The style called `name`: a user style from `template_dirs`, else a built-in one."""
    folders: list[Path] = []
    spec: dict = {}
    current: str | None = name
    seen = set()
    while current is not None:
        if current in seen:
            raise TemplateError(f"style {name!r} extends itself through {current!r}")
        seen.add(current)
        folder = _style_folder(current, template_dirs)
        if folder is None:
            known = ", ".join(available_styles(template_dirs))
            raise TemplateError(f"unknown style {current!r}; the styles are {known}")
        folders.append(folder)
        own = _read_json(folder / "style.json")
        spec = {**own, **spec}  # the more specific style wins
        current = own.get("extends")
    lowering = spec.get("lowering", "module")
    if lowering not in LOWERINGS:
        raise TemplateError(f"style {name!r}: unknown lowering {lowering!r} (use one of {', '.join(LOWERINGS)})")
    return Style(
        name=name,
        description=spec.get("description", ""),
        suffix=spec.get("suffix", ".py"),
        python=bool(spec.get("python", True)),
        lowering=lowering,
        file=spec.get("file", "file.py.jinja"),
        folders=tuple(folders),
    )


def render_program(program: Program, style: Style, template_dirs: Sequence[str | os.PathLike[str]] = ()) -> str:
    """The text of the generated file (unformatted)."""
    env = _style_environment(style, template_dirs)
    try:
        template = env.get_template(style.file)
        return template.render(program=program)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template {exc.filename or exc.name}, line {exc.lineno}: {exc.message}") from exc
    except FxgenError:
        raise
    except Exception as exc:
        raise TemplateError(f"{_template_location(exc)}: {type(exc).__name__}: {exc}") from exc


def reads_statement_meta(style: Style, template_dirs: Sequence[str | os.PathLike[str]] = ()) -> bool:
    """Whether a template of the style may read a statement's `meta` (shape, dtype,
    source line): one names `meta` (`stmt.meta`, `stmt["meta"]`, `stmt|attr("meta")`),
    or names a template only at render time, which is not read here. Lowering records
    `meta` only then: the built-in styles never read it, and recording it was 8% of
    lowering and rendering a large graph."""
    _, named, dynamic = _templates(_style_environment(style, template_dirs), style.file)
    return "meta" in named or dynamic


def writes_init_arguments(style: Style, template_dirs: Sequence[str | os.PathLike[str]] = ()) -> bool:
    """Whether the style writes `ClassDef.init_params` (the arguments of a class made of
    several variants): a template of it names them, and none writes `def __init__(self):`
    as templates did before classes took arguments (a user's `class` block that would
    drop them), so lowering merges variants only for styles that write them."""
    named = _templates(_style_environment(style, template_dirs), style.file)[1]
    return "init_params" in named and _ARGUMENTLESS_INIT not in named


def _style_environment(style: Style, template_dirs: Sequence[str | os.PathLike[str]]) -> jinja2.Environment:
    # a folder that holds the chosen style (or one it extends) is a library of styles;
    # any other folder overrides the style's templates by name
    holders = {folder.parent for folder in style.folders}
    return _environment(style, tuple(str(Path(d)) for d in template_dirs if Path(d) not in holders))


def _style_folder(name: str, template_dirs: Sequence[str | os.PathLike[str]]) -> Path | None:
    for folder in [*(Path(d) / name for d in template_dirs), TEMPLATES / name]:
        if (folder / "style.json").is_file() and not name.startswith("_"):
            return folder
    return None


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TemplateError(f"cannot read {path}: {exc}") from exc


@functools.lru_cache(maxsize=32)
def _environment(style: Style, overrides: tuple[str, ...]) -> jinja2.Environment:
    for folder in overrides:
        if not Path(folder).is_dir():
            raise TemplateError(f"template folder {folder!r} does not exist")
    paths = [*overrides, *(str(f) for f in style.folders), str(TEMPLATES / "_common"), str(TEMPLATES)]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(paths),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    used = {name.rsplit("/", 1)[-1] for name in _templates(env, style.file)[0]}
    for folder in overrides:
        own = {p.name for p in Path(folder).glob("*.jinja")}
        if not own & used:
            raise TemplateError(
                f"template folder {folder} overrides nothing the style {style.name!r} uses "
                f"(its templates: {', '.join(sorted(own)) or 'none'}; the style uses "
                f"{', '.join(sorted(used))}). Name a file after one of those, or pass a style "
                "folder of your own."
            )
    return env


def _templates(env: jinja2.Environment, name: str) -> tuple[set[str], set[str], bool]:
    """Every template `name` imports, includes or extends, transitively (found or not);
    what of `_WATCHED` they name or hold; and whether one names a template only at render time.
    Read anew each time (a template edited between exports counts), parsed once per text."""
    seen: set[str] = set()
    named: set[str] = set()
    pending, dynamic = [name], False
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            source, _, _ = env.loader.get_source(env, current)  # type: ignore[union-attr]
            references, names = _template_facts(env, source)
        except jinja2.TemplateNotFound:
            continue
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"template {exc.filename or current}, line {exc.lineno}: {exc.message}") from exc
        pending.extend(r for r in references if r)
        named |= names
        dynamic = dynamic or None in references
    return seen, named, dynamic


#: text of a template that writes `__init__` without arguments
_ARGUMENTLESS_INIT = "def __init__(self):"
#: what in a template changes what lowering makes: the names `meta` and `init_params`
#: (read by the template), and the text `_ARGUMENTLESS_INIT` (held by it)
_WATCHED = frozenset({"meta", "init_params", _ARGUMENTLESS_INIT})


@functools.lru_cache(maxsize=256)
def _template_facts(env: jinja2.Environment, source: str) -> tuple[tuple[str | None, ...], frozenset[str]]:
    """The templates a template's text names (None: one named only at render time), and
    what of `_WATCHED` it names (`stmt.meta`, `stmt["meta"]`, `stmt|attr("meta")`) or holds."""
    tree = env.parse(source)
    names = set()
    for node in tree.find_all((jinja2.nodes.Getattr, jinja2.nodes.Const, jinja2.nodes.Name)):
        if isinstance(node, jinja2.nodes.Getattr):
            names.add(node.attr)
        elif isinstance(node, jinja2.nodes.Const) and isinstance(node.value, str):
            names.add(node.value)
        elif isinstance(node, jinja2.nodes.Name):
            names.add(node.name)
    if _ARGUMENTLESS_INIT in source:
        names.add(_ARGUMENTLESS_INIT)
    return tuple(jinja2.meta.find_referenced_templates(tree)), frozenset(names & _WATCHED)


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
