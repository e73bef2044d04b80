"""Examples in the docs are produced by the code: each `<!-- fxgen:include PATH -->` block
holds the current text of PATH (`PATH#lang`: the first ```lang fence inside PATH).
`pytest --fxgen-update` rewrites the blocks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import keep_current

ROOT = Path(__file__).parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(
    r"(<!-- fxgen:include (?P<path>\S+) -->\n```(?P<lang>\w*)\n)(?P<body>.*?)(```\n<!-- fxgen:end -->)", re.S
)


def _included(path: str) -> str:
    file, _, fence = path.partition("#")
    text = (ROOT / file).read_text()
    if not fence:
        return text
    found = re.search(rf"^```{fence}\n(.*?)^```$", text, re.S | re.M)
    assert found, f"{file} has no ```{fence} block"
    return found[1]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_included_examples_are_current(doc, request):
    text = doc.read_text()

    fresh = BLOCK.sub(lambda m: m[1] + _included(m["path"]) + m[5], text)
    stale = [m["path"] for m in BLOCK.finditer(text) if _included(m["path"]) != m["body"]]
    keep_current(request, doc, fresh, f"{doc.name} shows outdated copies of {stale}")


def test_reviewing_doc_is_current(request):
    from benchmarks.diff_churn import DOCS, reviewing_doc

    keep_current(request, DOCS, reviewing_doc(), "docs/reviewing.md is outdated")


CONTEXT = re.compile(r"(<!-- fxgen:context -->\n)(.*?)(<!-- fxgen:end -->)", re.S)


def context_reference() -> str:
    """Markdown tables of every dataclass in fxgen/program.py: field, type and its `#:` doc;
    a property, with its return type and its docstring's first line."""
    import ast

    source = (ROOT / "fxgen" / "program.py").read_text()
    tree = ast.parse(source)
    lines = source.splitlines()
    out = []
    for node in tree.body:
        if not isinstance(node, ast.ClassDef) or not any(
            ast.unparse(d).split("(")[0] == "dataclass" for d in node.decorator_list  # `@dataclass(slots=True)` too
        ):
            continue
        out += [f"### `{node.name}`", "", " ".join(ast.get_docstring(node).split("\n\n")[0].split()), "", "| field | type | meaning |", "| --- | --- | --- |"]
        for item in node.body:
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                line = lines[item.lineno - 1]
                doc = line.split("#:", 1)[1].strip() if "#:" in line else _comment_above(lines, item.lineno - 1)
                kind = ast.unparse(item.annotation).replace("|", "or")
                out.append(f"| `{item.target.id}` | `{kind}` | {doc.replace('|', '/')} |")
            elif isinstance(item, ast.FunctionDef) and any(ast.unparse(d).endswith("property") for d in item.decorator_list):
                doc = ast.get_docstring(item).split("\n")[0].rstrip(".")
                kind = ast.unparse(item.returns).replace("|", "or")
                out.append(f"| `{item.name}` | `{kind}` | {doc[0].lower() + doc[1:]} (read only) |")
        out.append("")
    return "\n".join(out)


def _comment_above(lines: list[str], index: int) -> str:
    """The `#:` comment lines right above line `index`, joined."""
    start = index
    while start and lines[start - 1].strip().startswith("#:"):
        start -= 1
    return " ".join(line.strip()[2:].strip() for line in lines[start:index])


def test_template_context_reference_is_current(request):
    doc = ROOT / "docs" / "templates.md"
    text = doc.read_text()
    fresh = CONTEXT.sub(lambda m: m[1] + context_reference() + "\n" + m[3], text)
    keep_current(request, doc, fresh, "docs/templates.md does not match fxgen/program.py")


def test_readme_lists_every_built_in_style():
    import fxgen

    rows = {f"| `{name}` | {description} |" for name, description in fxgen.styles().items()}
    assert rows <= set((ROOT / "README.md").read_text().splitlines())
