"""The pull-request workflow end to end, in a temporary git repository: export, commit,
change the model, the pre-commit hook and `fxgen check` fail with a diff showing the
change, `fxgen check --fix` makes them pass. The same session is docs/workflow.md's
transcript, which must stay current."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import keep_current
from tests.workflow_session import MODEL, Session, run_session, transcript

ROOT = Path(__file__).parent.parent
DOC = ROOT / "docs" / "workflow.md"
SESSION = re.compile(r"(<!-- fxgen:session -->\n```console\n)(.*?)(```\n<!-- fxgen:end -->)", re.S)

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


@pytest.fixture(scope="module")
def steps(tmp_path_factory):
    return run_session(tmp_path_factory.mktemp("workflow") / "repo")


def test_export_commit_change_check_fix(steps):
    install, export, head, commit, changed, fix, recommit = steps
    assert install.code == 0
    assert export.code == 0 and "wrote generated/tiny_gen.py" in export.output
    assert "verified: outputs exact" in export.output
    assert "# source: models.tiny:TinyNet" in head.output and "# inputs: 8x16" in head.output
    assert commit.code == 0 and re.search(r"fxgen check\.+Passed", commit.output)

    # the model changed: the commit is refused, and the diff shows the change
    assert changed.code == 1 and re.search(r"fxgen check\.+Failed", changed.output)
    assert "stale generated/tiny_gen.py" in changed.output
    assert "-        x = torch.relu(x)\n+        x = F.gelu(x)\n" in changed.output
    assert "+import torch.nn.functional as F\n" in changed.output

    assert fix.code == 0 and "fixed generated/tiny_gen.py" in fix.output
    assert " M generated/tiny_gen.py" in fix.output
    assert recommit.code == 0 and "1 generated file: 1 current, 0 stale" in recommit.output


def test_the_published_hook_runs_fxgen_check(steps, tmp_path):
    """`.pre-commit-hooks.yaml` of this repository, tried from a project as users add it."""
    repo = tmp_path / "project"
    repo.mkdir()
    session = Session(repo)
    session.write("models/__init__.py", "")
    session.write("models/tiny.py", MODEL)
    assert session.run("git init -q -b main && fxgen export models.tiny:TinyNet -o tiny_gen.py --input 2x16").code == 0
    session.run("git add -A")
    tried = session.run(f"pre-commit try-repo {ROOT} fxgen-check --all-files")
    assert tried.code == 0, tried.output
    assert re.search(r"fxgen check\.+Passed", tried.output)
    path = repo / "tiny_gen.py"
    path.write_text(path.read_text().replace("torch.relu", "torch.tanh"))
    tried = session.run(f"pre-commit try-repo {ROOT} fxgen-check --all-files")
    assert tried.code == 1 and "-        x = torch.tanh(x)\n+        x = torch.relu(x)\n" in tried.output


def test_workflow_doc_shows_the_real_session(steps, request):
    text = DOC.read_text()
    fresh = SESSION.sub(lambda m: m[1] + transcript(steps) + m[3], text)
    assert SESSION.search(text), "docs/workflow.md has no session block"
    keep_current(request, DOC, fresh, "docs/workflow.md shows an outdated session")

