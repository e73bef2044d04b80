"""The `fxgen` command line, in process: export, check, styles and their error messages.

The whole pull-request workflow in a real git repository (subprocesses, pre-commit) is
`test_workflow.py`."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import fxgen
from fxgen.cli import main
from fxgen.recipe import describe_inputs, make_inputs, read_recipe

_packages = itertools.count()

MODEL = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return torch.relu(self.fc(x))


net = Net()


def make():
    return Net()


def inputs():
    return (torch.randn(2, 8),)


class NeedsWidth(nn.Module):
    def __init__(self, width):
        super().__init__()


class Branchy(nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x
        return -x


not_a_model = 3
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A folder with a model package of its own name (modules are cached per process)."""
    package = f"cli_models_{next(_packages)}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text(MODEL)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return package


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("attr", ["net", "Net", "make"])
def test_export_takes_an_instance_a_class_or_a_factory(project, capsys, attr):
    code, out, err = run(capsys, "export", f"{project}:{attr}", "-o", "net_gen.py", "--input", "2x8")
    assert code == 0, err
    assert out.splitlines()[0].startswith("wrote net_gen.py (")
    assert "and net_gen.pt (" in out
    assert "nodes, style module, capture fx" in out
    assert "verified: outputs exact on the example inputs" in out
    assert err == ""  # no progress line: stderr is not a terminal
    recipe = read_recipe(Path("net_gen.py").read_text())
    assert (recipe.source, recipe.inputs, recipe.style) == (f"{project}:{attr}", "2x8", "module")


def test_export_records_options_and_check_uses_them(project, capsys):
    argv = ["export", f"{project}:Net", "-o", "net.py", "--inputs", f"{project}:inputs", "--capture", "export"]
    code, out, err = run(capsys, *argv, "--class-name", "Small", "--style", "functional")
    assert code == 0, err
    text = Path("net.py").read_text()
    assert f"# inputs-from: {project}:inputs\n" in text
    assert "# style: functional, capture: export\n" in text
    assert "# options: class_name='Small'\n" in text
    assert run(capsys, "check", "net.py")[0] == 0


def test_check_reports_current_stale_and_fixes(project, capsys):
    assert run(capsys, "export", f"{project}:Net", "-o", "a_gen.py", "--input", "2x8")[0] == 0
    assert run(capsys, "export", f"{project}:make", "-o", "b_gen.py")[0] == 0
    code, out, _ = run(capsys, "check")
    assert code == 0 and "2 generated files: 2 current, 0 stale" in out

    text = Path("a_gen.py").read_text()
    Path("a_gen.py").write_text(text.replace("torch.relu(", "torch.sigmoid("))
    code, out, _ = run(capsys, "check")
    assert code == 1
    assert "stale a_gen.py: its code differs from what the recipe makes now" in out
    assert "-        return torch.sigmoid(" in out and "+        return torch.relu(" in out
    assert "run `fxgen check --fix`" in out

    code, out, _ = run(capsys, "check", "--fix")
    assert code == 0 and "fixed a_gen.py" in out
    assert Path("a_gen.py").read_text() == text
    assert run(capsys, "check")[0] == 0


def test_a_weight_file_that_does_not_match_its_hash_is_stale(project, capsys):
    assert run(capsys, "export", f"{project}:Net", "-o", "net_gen.py")[0] == 0
    weights = torch.load("net_gen.pt", weights_only=True)
    weights["state_dict"]["fc.bias"] = weights["state_dict"]["fc.bias"].detach() + 1
    torch.save(weights, "net_gen.pt")
    code, out, _ = run(capsys, "check", "net_gen.py")
    assert code == 1
    assert "its weight file net_gen.pt does not match the sha256 its header records" in out
    assert run(capsys, "check", "--fix")[0] == 0
    assert run(capsys, "check")[0] == 0


def test_check_fails_with_the_reason_when_the_source_is_gone(project, capsys):
    assert run(capsys, "export", f"{project}:Net", "-o", "net_gen.py")[0] == 0
    path = Path("net_gen.py")
    path.write_text(path.read_text().replace(f"# source: {project}:Net", "# source: nowhere_such:Net"))
    code, out, err = run(capsys, "check")
    assert code == 2
    assert "error: net_gen.py: cannot import 'nowhere_such'" in err
    assert "1 could not be checked" in out
    assert "Traceback" not in err


def test_check_needs_a_recorded_source(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    graph_module = torch.fx.symbolic_trace(torch.nn.Sequential(torch.nn.ReLU()))
    fxgen.export(graph_module, "gm_gen.py")
    code, _, err = run(capsys, "check")
    assert code == 2 and "records no source" in err and "source='module:attr'" in err


def test_check_refuses_a_file_fxgen_did_not_write(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("mine.py").write_text("x = 1\n")
    code, out, err = run(capsys, "check", "mine.py")
    assert code == 2 and "mine.py was not generated by fxgen" in err
    code, out, _ = run(capsys, "check")
    assert code == 0 and "no fxgen-generated files" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["export", "no_such_module_xyz:Net", "-o", "o.py"], "cannot import 'no_such_module_xyz'"),
        (["export", "{p}:missing", "-o", "o.py"], "has no attribute 'missing'"),
        (["export", "{p}:not_a_model", "-o", "o.py"], "is a int, not a model"),
        (["export", "{p}:NeedsWidth", "-o", "o.py"], "needs arguments (width)"),
        (["export", "{p}", "-o", "o.py"], "is not MODULE:ATTR"),
        (["export", "{p}:Net", "-o", "o.py", "--input", "2by8"], "cannot read the input spec '2by8'"),
        (["export", "{p}:Net", "-o", "o.py", "--input", "2x8:float99"], "unknown dtype 'float99'"),
        (["export", "{p}:Net", "-o", "o.txt"], "must end in .py"),
        (["export", "{p}:Branchy", "-o", "o.py"], "if x.sum() > 0:"),  # the user's source line
    ],
)
def test_user_mistakes_are_one_clear_message_and_exit_2(project, capsys, argv, message):
    code, out, err = run(capsys, *[a.format(p=project) for a in argv])
    assert code == 2
    assert message in err, err
    assert "Traceback" not in err
    assert not Path("o.py").exists()


def test_debug_shows_the_traceback(project, capsys):
    code, _, err = run(capsys, "export", f"{project}:missing", "-o", "o.py", "--debug")
    assert code == 2 and "Traceback" in err


def test_bad_arguments_are_usage_errors(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["export", "--capture", "sideways", "x:y", "-o", "o.py"])
    assert exit_.value.code == 2
    assert "invalid choice: 'sideways'" in capsys.readouterr().err


def test_styles_lists_built_in_and_user_styles(tmp_path, capsys):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "style.json").write_text('{"name": "compact", "description": "my style", "extends": "module"}')
    code, out, _ = run(capsys, "styles", "--template-dir", str(tmp_path))
    assert code == 0
    lines = out.splitlines()
    for name, description in fxgen.styles().items():
        assert any(line.split()[0] == name and line.endswith(description) for line in lines)


def test_python_dash_m_fxgen_runs_the_command_line():
    result = subprocess.run([sys.executable, "-m", "fxgen", "styles"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "module" in [line.split()[0] for line in result.stdout.splitlines()]


def test_progress_is_shown_on_a_terminal_only(project, tmp_path):
    """In a pseudo-terminal the stages are shown on one rewritten line; in a pipe nothing."""
    import pty

    command = [sys.executable, "-m", "fxgen", "export", f"{project}:Net", "-o", "tty_gen.py", "--input", "2x8"]
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    piped = subprocess.run(command, capture_output=True, text=True, env=env)
    assert piped.returncode == 0 and piped.stderr == ""
    main_fd, child_fd = pty.openpty()
    with subprocess.Popen(command, stdin=child_fd, stdout=child_fd, stderr=child_fd, env=env) as child:
        os.close(child_fd)
        shown = b""
        while True:
            try:
                chunk = os.read(main_fd, 4096)
            except OSError:  # the terminal closed
                break
            if not chunk:
                break
            shown += chunk
    os.close(main_fd)
    assert child.returncode == 0
    assert b"\r\x1b[Kformatting" in shown and b"\r\x1b[Kverifying tty_gen.py" in shown
    assert b"\r\x1b[Kserializing the weights" in shown and b"\r\x1b[Kwriting tty_gen.py" in shown
    assert b"wrote tty_gen.py" in shown


def test_input_specs_round_trip():
    inputs = (torch.randn(2, 3), torch.tensor(5), torch.tensor([3, 9, 5, 4]), torch.ones(2, dtype=torch.bool))
    spec = describe_inputs(inputs)
    assert spec == "2x3, scalar:int64:5..5, 4:int64:3..9, 2:bool"
    made = make_inputs(spec)
    assert describe_inputs(made) == spec
    assert [(t.shape, t.dtype) for t in made] == [(t.shape, t.dtype) for t in inputs]
    assert describe_inputs(((torch.zeros(1),), {"mask": torch.zeros(2, dtype=torch.bool)})) == "1, mask=2:bool"
    assert describe_inputs((torch.zeros(1), 3)) is None  # not all tensors: not recordable
    assert make_inputs(spec)[0].equal(made[0])  # seeded: the same in every call


def test_the_recipe_survives_hostile_strings():
    recipe = textwrap.dedent(
        """\
        # @generated by fxgen. Do not edit by hand; regenerate instead.
        # source: pkg.m:make
        # style: module
        # options: class_name='A\\nB', hierarchy=False
        # templates: ['../t,x']
        """
    )
    read = read_recipe(recipe + "import torch\n")
    assert read.options == {"class_name": "A\nB", "hierarchy": False}
    assert read.templates == ["../t,x"]
    assert read_recipe("\n".join(f"# {line}" for line in read.lines()) + "\n") == read


SET_ORDERED = """
import torch
from torch import nn


class Scales(nn.Module):
    '''Adds one term per name, in the order a `set` of strings iterates.'''

    def forward(self, x):
        out = x
        for name in set(["gate", "up", "down", "norm", "attn", "mlp"]):
            out = out * len(name) + 1
        return out
"""


def test_capturing_commands_restart_under_a_fixed_hash_seed(monkeypatch):
    """Without PYTHONHASHSEED, `export` and `check` start again under seed 0 (where
    `execve` would replace the process, the call is recorded instead); other commands,
    and any seed the caller set, run as they are."""
    from fxgen import cli

    restarts, runs = [], []

    def execve(path, argv, env):
        restarts.append((path, argv, env["PYTHONHASHSEED"]))
        raise SystemExit(0)

    monkeypatch.setattr(os, "execve", execve)
    monkeypatch.setattr(os, "name", "posix")
    monkeypatch.setattr(cli, "main", lambda argv: runs.append(argv) or 0)
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    for argv in (["export", "m:Net", "-o", "a.py"], ["check", "--debug"], ["styles"], ["--version"]):
        monkeypatch.setattr(sys, "argv", ["fxgen", *argv])
        with pytest.raises(SystemExit):
            cli.run()
    assert restarts == [
        (sys.executable, [sys.executable, "-m", "fxgen", "export", "m:Net", "-o", "a.py"], "0"),
        (sys.executable, [sys.executable, "-m", "fxgen", "check", "--debug"], "0"),
    ]
    assert runs == [["styles"], ["--version"]]
    monkeypatch.setenv("PYTHONHASHSEED", "random")
    monkeypatch.setattr(sys, "argv", ["fxgen", "export", "m:Net", "-o", "a.py"])
    with pytest.raises(SystemExit):
        cli.run()
    assert len(restarts) == 2 and runs[-1] == ["export", "m:Net", "-o", "a.py"]


def test_a_set_ordered_model_gives_the_same_file_in_every_process(tmp_path):
    """The model's own `set` iterates in another order under another hash seed (checked
    here); the command writes the file of seed 0 wherever no seed is set."""
    (tmp_path / "set_ordered.py").write_text(SET_ORDERED)
    orders = {
        seed: subprocess.run(
            [sys.executable, "-c", 'print(list(set(["gate", "up", "down", "norm", "attn", "mlp"])))'],
            env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True, text=True, check=True,
        ).stdout
        for seed in ("0", "1")
    }
    assert orders["0"] != orders["1"]
    written = {}
    for seed in (None, "0"):
        env = {key: value for key, value in os.environ.items() if key != "PYTHONHASHSEED"}
        env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
        if seed is not None:
            env["PYTHONHASHSEED"] = seed
        output = f"set_{seed}_gen.py"
        command = [sys.executable, "-m", "fxgen", "export", "set_ordered:Scales", "-o", output, "--input", "2x3"]
        subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
        written[seed] = (tmp_path / output).read_text().split("\n", 6)[-1]  # below the header
    assert written[None] == written["0"]
