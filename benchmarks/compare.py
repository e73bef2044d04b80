"""Lowering and rendering at another revision against the working tree, taking turns.

A change to lowering is judged against the code before it, on the same graph, in
separate processes that take turns (on this shared machine a pure-Python loop swings by
a fifth from run to run, and the load drifts: runs in turns drift alike), each side's
best time over all its runs. The other revision is checked out in a temporary `git
worktree`; each side captures the graph with its own fxgen and times `lower` +
`render_program` with the cycle collector paused, as the pipeline pauses it, beside
`Graph.python_code` on the same graph.

    python -m benchmarks.compare HEAD~1                       # the flat 10k stack
    python -m benchmarks.compare main --case BERT --repeats 20
    python -m benchmarks.compare 5774b3a --case classes --rounds 6

The other revision needs `benchmarks/performance.py` with `stack`, `transformers_model`,
`python_code` and `collector_paused` (every revision since the performance runner).
"""

from __future__ import annotations

import argparse
import inspect
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: graphs to time: the residual stack printed flat or with classes, or a transformers family
CASES = ("flat", "classes", "BERT", "GPT-2", "LLaMA")


def time_here(root: Path, case: str, nodes: int, repeats: int) -> tuple[float, float]:
    """The best lower + render and the best `python_code` time of `case`, with the fxgen
    and benchmarks of the checkout at `root` (run in a process of its own)."""
    sys.path.insert(0, str(root))
    import torch

    import fxgen
    from benchmarks import performance
    from fxgen.capture import capture, normalize_inputs
    from fxgen.lower import lower
    from fxgen.render import find_style, render_program

    if Path(fxgen.__file__).resolve().parent != root / "fxgen":
        raise SystemExit(f"imported fxgen from {fxgen.__file__}, not from {root}")
    if case in ("flat", "classes"):
        model, inputs, method = performance.stack(nodes), (torch.randn(2, 8),), "fx"
    else:
        model, kwargs = performance.transformers_model(case)
        inputs, method = ((), kwargs), "export"
    args, kwargs = normalize_inputs(inputs)
    captured = capture(model, method=method, example_inputs=inputs)
    # each run starts from the capture as capture left it (revisions before
    # `performance.as_captured` shared one cache of constructor calls between runs)
    fresh = getattr(performance, "as_captured", lambda captured: captured)
    style = find_style("module")
    # as an export in the module style lowers (revisions before classes took arguments lack the option)
    options = {"init_arguments": True} if "init_arguments" in inspect.signature(lower).parameters else {}
    lowered, printed = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        performance.python_code(captured.graph)
        printed.append(time.perf_counter() - start)
        run = fresh(captured)
        with performance.collector_paused():
            start = time.perf_counter()
            program = lower(
                run, style="module", lowering="module", example_inputs=args, example_kwargs=kwargs,
                hierarchy=case != "flat", **options,
            )
            render_program(program, style)
            lowered.append(time.perf_counter() - start)
            del program
    return min(lowered), min(printed)


def best_of(runs: list[tuple[str, float, float]]) -> dict[str, tuple[float, float]]:
    """Each side's best lower + render and best `python_code` time over its runs
    (`runs`: side, lower + render, python_code)."""
    best: dict[str, tuple[float, float]] = {}
    for side, lowered, printed in runs:
        old = best.get(side, (lowered, printed))
        best[side] = (min(old[0], lowered), min(old[1], printed))
    return best


def report(best: dict[str, tuple[float, float]], names: dict[str, str]) -> list[str]:
    """One line per side, then the working tree's time against the other revision's."""
    lines = [
        f"{names[side]}: {lowered * 1e3:.1f} ms lower + render ({lowered / printed:.2f}x python_code {printed * 1e3:.1f} ms)"
        for side, (lowered, printed) in best.items()
    ]
    (old, _), (new, _) = best["old"], best["new"]
    lines.append(f"working tree / {names['old']}: {new / old:.3f}x")
    return lines


def _side(root: Path, case: str, nodes: int, repeats: int) -> tuple[float, float]:
    command = [sys.executable, __file__, "--time-here", str(root), case, str(nodes), str(repeats)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"timing {root} failed:\n{done.stderr[-3000:]}")
    lowered, printed = done.stdout.split()[-2:]
    return float(lowered), float(printed)


def compare(revision: str, case: str, nodes: int, rounds: int, repeats: int) -> list[str]:
    """Time `case` at `revision` and in the working tree, `rounds` turns of `repeats` runs each."""
    with tempfile.TemporaryDirectory(prefix="fxgen-compare-") as tmp:
        other = Path(tmp) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(other), revision], cwd=ROOT, check=True, capture_output=True)
        try:
            runs = []
            for round_ in range(rounds):
                sides = [("old", other), ("new", ROOT)]
                for side, root in sides[round_ % 2 :] + sides[: round_ % 2]:  # neither always first
                    runs.append((side, *_side(root, case, nodes, repeats)))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(other)], cwd=ROOT, check=True, capture_output=True)
    return report(best_of(runs), {"old": revision, "new": "working tree"})


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--time-here"]:
        root, case, nodes, repeats = argv[1:]
        print(*time_here(Path(root), case, int(nodes), int(repeats)))
        return
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__.splitlines()[0])
    parser.add_argument("revision", help="the git revision to compare the working tree with")
    parser.add_argument("--case", choices=CASES, default="flat")
    parser.add_argument("--nodes", type=int, default=10_000, help="nodes of the residual stack (flat, classes)")
    parser.add_argument("--rounds", type=int, default=4, help="turns of each side")
    parser.add_argument("--repeats", type=int, default=6, help="timed runs per turn")
    options = parser.parse_args(argv)
    print("\n".join(compare(options.revision, options.case, options.nodes, options.rounds, options.repeats)))


if __name__ == "__main__":
    main()
