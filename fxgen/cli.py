"""The `fxgen` command (also `python -m fxgen`): export, check, styles.

Exit codes: 0 success (every checked file current), 1 stale files found by `check`,
2 a usage error or a failure the user can fix (the message says how; `--debug` adds the
traceback).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Sequence

import fxgen
from fxgen.check import check_file, find_generated, fix_file
from fxgen.errors import FxgenError, InputSpecError
from fxgen.progress import Progress, showing
from fxgen.recipe import make_inputs
from fxgen.sources import build_inputs, build_model

__all__ = ["main"]

USAGE_ERROR = 2
#: the commands that capture models, run under a fixed string-hash seed unless the caller
#: set one (`run`): a model that iterates a `set` of strings is captured in an order that
#: follows Python's string hashing (transformers models with several `layer_types`)
CAPTURING = ("export", "check")
HASH_SEED = "0"


def run() -> None:
    """The `fxgen` command and `python -m fxgen`: `main()`, restarted under `HASH_SEED`
    where a capturing command would otherwise run under a random one, so that every
    process writes the same file and `fxgen check` finds it current."""
    argv = sys.argv[1:]
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    if command in CAPTURING and os.environ.get("PYTHONHASHSEED") is None:
        environment = {**os.environ, "PYTHONHASHSEED": HASH_SEED}
        restarted = [sys.executable, "-m", "fxgen", *argv]
        if os.name == "posix":
            os.execve(sys.executable, restarted, environment)
        raise SystemExit(subprocess.call(restarted, env=environment))
    raise SystemExit(main(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return USAGE_ERROR
    progress = Progress()
    try:
        with showing(progress):
            return int(args.run(args, progress))
    except FxgenError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"fxgen {args.command}: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except Exception as exc:  # not one of fxgen's errors: most likely a bug in fxgen
        if args.debug:
            traceback.print_exc()
        print(
            f"fxgen {args.command}: internal error: {type(exc).__name__}: {exc}\n"
            "rerun with --debug for the traceback, and please report it",
            file=sys.stderr,
        )
        return USAGE_ERROR
    except KeyboardInterrupt:
        print(f"fxgen {args.command}: interrupted; no file was changed half-way", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fxgen", description="Turn PyTorch programs into readable, runnable Python source.")
    parser.add_argument("--version", action="version", version=f"fxgen {_version()}")
    parser.set_defaults(debug=False)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show the traceback of an error")
    commands = parser.add_subparsers(title="commands", dest="command")

    export = commands.add_parser(
        "export", parents=[common], help="write a model as a Python file (and its weights)",
        description="Write MODULE:ATTR (an nn.Module instance, a class constructible without "
        "arguments, or a zero-argument factory; built after torch.manual_seed(0)) as a file.",
    )
    export.add_argument("model", metavar="MODULE:ATTR")
    export.add_argument("-o", "--output", required=True, type=Path, help="the file to write (its weights go beside it)")
    export.add_argument("--style", default="module", help="the code style (see `fxgen styles`; default: module)")
    export.add_argument(
        "--input", action="append", default=[], metavar="SPEC", dest="input_specs",
        help="an example input: SHAPE[:DTYPE[:LOW..HIGH]] such as 1x3x224x224, 2x16:int64 or "
        "mask=2x16:bool (a keyword input); repeat for each input",
    )
    export.add_argument("--inputs", metavar="MODULE:ATTR", help="a function returning the example inputs (a tuple)")
    export.add_argument("--capture", choices=["fx", "export", "auto"], default="fx", help="symbolic tracing, torch.export, or fx then export")
    export.add_argument("--template-dir", action="append", default=[], metavar="DIR", help="a folder of user templates and styles")
    export.add_argument("--class-name", help="the name of the generated root class")
    export.add_argument(
        "--formatter", choices=["auto", "black", "black-full", "ruff", "none"], default="auto",
        help="default: the target project's (black or ruff); black-full runs black on the whole file (same output, slower)",
    )
    export.add_argument("--no-verify", action="store_true", help="do not run the written file against the model")
    export.add_argument("--overwrite", action="store_true", help="replace a file that fxgen did not generate")
    export.set_defaults(run=_export)

    check = commands.add_parser(
        "check", parents=[common], help="fail when a generated file is not what its source makes now",
        description="Find fxgen-generated files, make each again from the recipe in its header, "
        "and print a diff for every stale one (exit 1). Models are imported from the current folder.",
    )
    check.add_argument("paths", nargs="*", default=["."], metavar="PATH", help="files or folders (default: .)")
    check.add_argument("--fix", action="store_true", help="rewrite the stale files")
    check.set_defaults(run=_check)

    styles = commands.add_parser("styles", parents=[common], help="list the code styles")
    styles.add_argument("--template-dir", action="append", default=[], metavar="DIR", help="also list the styles in DIR")
    styles.set_defaults(run=_styles)
    return parser


def _export(args: argparse.Namespace, progress: Progress) -> int:
    progress.show(f"building {args.model}")
    model = build_model(args.model)
    if args.inputs and args.input_specs:
        raise InputSpecError("give the example inputs either with --input specs or with --inputs MODULE:ATTR, not both")
    inputs = build_inputs(args.inputs) if args.inputs else make_inputs(args.input_specs) if args.input_specs else None
    result = fxgen.export(
        model,
        args.output,
        style=args.style,
        example_inputs=inputs,
        capture=args.capture,
        template_dirs=args.template_dir,
        class_name=args.class_name,
        formatter=None if args.formatter == "none" else args.formatter,
        overwrite=args.overwrite,
        verify=not args.no_verify,
        source=args.model,
        inputs_source=args.inputs,
    )
    progress.clear()
    written = f"wrote {result.code_path} ({result.line_count} lines)"
    if result.code_path.suffix == ".py":
        written += f" and {result.weights_path} ({_size(result.weights_path)})"
    print(written)
    print(f"  {result.node_count} nodes, style {result.style}, capture {result.capture}")
    if result.verified:
        print(f"  verified: outputs {result.comparison} on the example inputs")
    elif inputs is None:
        print("  not verified: no example inputs (give --input SPEC or --inputs MODULE:ATTR)")
    else:
        print("  not verified" + (" (--no-verify)" if args.no_verify else f": the {result.style} style is not code"))
    return 0


def _check(args: argparse.Namespace, progress: Progress) -> int:
    paths = find_generated(args.paths)
    if not paths:
        print(f"no fxgen-generated files under {' '.join(args.paths)}")
        return 0
    stale, failed = [], []
    for index, path in enumerate(paths, 1):
        progress.prefix = f"[{index}/{len(paths)}] {path}: "
        progress.show("")
        try:
            checked = check_file(path)
        except FxgenError as exc:
            progress.clear()
            failed.append(path)
            print(f"error: {path}: {exc}", file=sys.stderr)
            continue
        if not checked.stale:
            continue
        progress.clear()
        stale.append(path)
        if args.fix:
            progress.show("rewriting")
            fix_file(checked)
            progress.clear()
            print(f"fixed {path}: " + "; ".join(checked.problems))
        else:
            print(f"stale {path}: " + "; ".join(checked.problems))
            sys.stdout.write(checked.diff)
    progress.prefix = ""
    progress.clear()
    current = len(paths) - len(stale) - len(failed)
    files = f"{len(paths)} generated file{'' if len(paths) == 1 else 's'}"
    summary = f"{files}: {current} current, {len(stale)} {'fixed' if args.fix else 'stale'}"
    print(summary + (f", {len(failed)} could not be checked" if failed else ""))
    if stale and not args.fix:
        print("run `fxgen check --fix` to rewrite the stale files, then review and commit them")
    if failed:
        return USAGE_ERROR
    return 1 if stale and not args.fix else 0


def _styles(args: argparse.Namespace, progress: Progress) -> int:
    found = fxgen.styles(args.template_dir)
    width = max(map(len, found))
    for name, description in found.items():
        print(f"{name:<{width}}  {description}")
    return 0


def _size(path: Path) -> str:
    size = path.stat().st_size
    return f"{size} bytes" if size < 1024 else f"{size / 1024:.1f} KiB" if size < 1024**2 else f"{size / 1024**2:.1f} MiB"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fxgen")
    except PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    raise SystemExit(main())
