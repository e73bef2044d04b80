"""Examples in the docs are produced by the code: each `<!-- fxgen:include PATH -->` block
holds the current text of PATH. `pytest --fxgen-update` rewrites the blocks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(
    r"(<!-- fxgen:include (?P<path>\S+) -->\n```(?P<lang>\w*)\n)(?P<body>.*?)(```\n<!-- fxgen:end -->)", re.S
)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_included_examples_are_current(doc, request):
    text = doc.read_text()

    def current(match: re.Match) -> str:
        return match[1] + (ROOT / match["path"]).read_text() + match[5]

    fresh = BLOCK.sub(current, text)
    if fresh == text:
        return
    if request.config.getoption("--fxgen-update"):
        doc.write_text(fresh)
        return
    stale = [m["path"] for m in BLOCK.finditer(text) if (ROOT / m["path"]).read_text() != m["body"]]
    pytest.fail(f"{doc.name} shows outdated copies of {stale}; run: pytest --fxgen-update", pytrace=False)


def test_reviewing_doc_is_current(request):
    from benchmarks.diff_churn import DOCS, reviewing_doc

    fresh = reviewing_doc()
    if DOCS.read_text() == fresh:
        return
    if request.config.getoption("--fxgen-update"):
        DOCS.write_text(fresh)
        return
    pytest.fail("docs/reviewing.md is outdated; run: pytest --fxgen-update", pytrace=False)
