"""The example session of docs/workflow.md, run for real.

A fresh git repository with a small model package; the `fxgen` command exports a model,
the file is committed, the model changes, `fxgen check` fails with a diff, `--fix`
rewrites the file, and a pre-commit hook runs the check. `run_session` returns every
command with its real output and exit code; `test_workflow.py` checks them and keeps
the transcript in docs/workflow.md current (`pytest --fxgen-update` rewrites it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

MODEL = '''\
import torch
from torch import nn


class TinyNet(nn.Module):
    """A two-layer perceptron."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(16, 32)
        self.out = nn.Linear(32, 4)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x)))
'''

CHANGED = MODEL.replace("torch.relu(self.hidden(x))", "torch.nn.functional.gelu(self.hidden(x))")

PRE_COMMIT_CONFIG = """\
repos:
  - repo: local
    hooks:
      - id: fxgen-check
        name: fxgen check
        entry: fxgen check
        language: system
        pass_filenames: false
        always_run: true
"""


@dataclass(frozen=True)
class Step:
    command: str  #: as typed at the prompt
    output: str  #: stdout and stderr together, as a terminal shows them
    code: int  #: the exit code


class Session:
    """A shell in `folder` with fxgen's environment on PATH; `run` records each command."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.steps: list[Step] = []
        bin_dir = str(Path(sys.executable).parent)
        self.env = {
            **os.environ,
            "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
            "GIT_AUTHOR_NAME": "Ada",
            "GIT_AUTHOR_EMAIL": "ada@example.com",
            "GIT_COMMITTER_NAME": "Ada",
            "GIT_COMMITTER_EMAIL": "ada@example.com",
            "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
            "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "PRE_COMMIT_HOME": str(folder.parent / "pre-commit-home"),
            "PYTHONWARNINGS": "ignore",
            "NO_COLOR": "1",
        }
        self.env.pop("PYTHONPATH", None)

    def run(self, command: str) -> Step:
        result = subprocess.run(
            ["bash", "-c", command], cwd=self.folder, env=self.env, text=True, timeout=600,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,  # one stream, in the order shown
        )
        step = Step(command, result.stdout, result.returncode)
        self.steps.append(step)
        return step

    def write(self, path: str, text: str) -> None:
        target = self.folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def run_session(folder: Path) -> list[Step]:
    """The whole session in `folder` (created, must not exist)."""
    folder.mkdir(parents=True)
    session = Session(folder)
    session.write("models/__init__.py", "")
    session.write("models/tiny.py", MODEL)
    session.write("generated/.gitkeep", "")
    session.write(".pre-commit-config.yaml", PRE_COMMIT_CONFIG)
    session.run("git init -q -b main && git add -A && git commit -qm 'A model package'")
    session.steps.clear()  # the setup is not part of the transcript

    session.run("pre-commit install")
    session.run("fxgen export models.tiny:TinyNet -o generated/tiny_gen.py --input 8x16")
    session.run("head -n 6 generated/tiny_gen.py")
    session.run("git add generated && git commit -qm 'Generated TinyNet'")
    session.write("models/tiny.py", CHANGED)
    session.run("git diff --stat && git commit -qam 'TinyNet: GELU'")
    session.run("fxgen check --fix && git status --short")
    session.run("git commit -qam 'TinyNet: GELU' && fxgen check")
    return session.steps


def transcript(steps: list[Step]) -> str:
    """The steps as a console block's body: `$ command`, output, and non-zero exit codes."""
    lines = []
    for step in steps:
        lines.append(f"$ {step.command}")
        if step.output.strip():
            lines.append(step.output.rstrip("\n"))
        if step.code:
            lines.append(f"[exit code {step.code}]")
    return "\n".join(lines) + "\n"
