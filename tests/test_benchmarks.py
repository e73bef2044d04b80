"""The benchmark runner's pieces work on a small graph, and its targets table judges figures right."""

from __future__ import annotations

import subprocess

import pytest
import torch

from benchmarks import compare, performance
from benchmarks.performance import TIMED, as_captured, codegen_row, paired_ratio, stack, stage_rows, target_rows
from fxgen.capture import capture
from fxgen.lower import lower


def test_codegen_row_measures_a_small_stack():
    row, figures = codegen_row("stack", stack(20), dict(example_inputs=(torch.randn(2, 8),)), 1)
    assert row.startswith("| stack | ") and row.count("|") == 12
    assert set(figures) == {"export", "export ratio", "render ratio", "stages", "graph"}
    assert all(figures[name] > 0 for name in ("export", "export ratio", "render ratio"))
    assert figures["graph"] == "stack, 18 nodes"


def test_each_timed_run_starts_from_the_capture_as_capture_left_it():
    """A run's constructor checks (made while lowering a torch.export capture) stay its
    own: the next run pays for them again, as the next export would."""
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU())
    captured = capture(model, method="export", example_inputs=(torch.randn(2, 4),))
    left = captured.constructors.copy()
    lower(as_captured(captured))
    assert vars(captured.constructors) == vars(left)
    run = as_captured(captured)
    lower(run)
    assert vars(run.constructors) != vars(left) and run.graph is captured.graph


def test_every_stage_of_lowering_is_timed():
    """Each of `TIMED` (the stages and their parts) is a function lowering still calls
    (with classes, all of them); the functions are put back after timing."""
    functions = {label: getattr(owner, name) for label, (owner, name) in TIMED.items()}
    figures = {}
    for hierarchy in (True, False):
        _, figures[hierarchy] = codegen_row(
            "stack", stack(20), dict(example_inputs=(torch.randn(2, 8),), hierarchy=hierarchy), 1
        )
    assert all(figures[True]["stages"][label] > 0 for label in TIMED)
    assert figures[False]["stages"]["split into classes"] == 0  # a flat print splits nothing
    assert figures[False]["stages"]["of which twin keys"] == 0
    assert figures[True]["stages"]["of which twin keys"] < figures[True]["stages"]["split into classes"]
    assert {label: getattr(owner, name) for label, (owner, name) in TIMED.items()} == functions
    rows = stage_rows({"flat": figures[False]})
    assert rows[0].startswith("| graph | split into classes | ") and rows[0].endswith("| lower + render |")
    assert rows[2].startswith("| stack, 18 nodes | - | - | ") and rows[2].count("|") == rows[0].count("|")


def test_whole_export_is_timed_by_the_stages_the_pipeline_reports(monkeypatch):
    """Every stage an export reports is one of `EXPORT_STAGES` (an unknown one would fail
    the lookup), each column got time, and together they are within the whole export (one
    run: medians of several need not add up)."""
    monkeypatch.setattr(performance, "EXPORT_REPEATS", 1)
    columns = performance.EXPORT_COLUMNS
    spent = performance.export_stages(stack(20), dict(example_inputs=(torch.randn(2, 8),)))
    assert set(spent) == {*columns, "whole export"}
    assert set(performance.EXPORT_STAGES.values()) == set(columns)
    assert all(spent[column] > 0 for column in columns)
    assert sum(spent[column] for column in columns) <= spent["whole export"]


def test_targets_table_says_which_targets_hold():
    figures = {
        "flat 10000": {"export": 1.0, "export ratio": 0.08, "render ratio": 4.9},
        "flat 50000": {"export": 5.5, "export ratio": 0.08, "render ratio": 5.1},
        "classes 10000": {"export": 1.0, "export ratio": 0.6, "render ratio": 0.9},
        "classes 50000": {"export": 4.0, "export ratio": 0.4, "render ratio": 0.9},
    }
    rows = target_rows(figures, {"mlp": 1.001, "residual": 1.03})
    assert rows[0] == "| target | limit | measured | holds |"
    render, export, growth, forward = rows[2:]
    assert render.endswith("| **no** |") and "flat 10000 4.900x" in render
    assert export.endswith("| **no** |") and "flat 0.080x, classes 0.600x" in export
    assert growth.endswith("| yes |") and "flat 5.500x, classes 4.000x" in growth
    assert forward.endswith("| **no** |") and "residual 1.030x" in forward
    assert target_rows(figures | {"flat 10000": {**figures["flat 10000"], "render ratio": 1.0}},
                       {"mlp": 1.02})[-1].endswith("| yes |")


def test_forward_ratios_pair_calls_of_the_same_round():
    # the machine's load doubled the third round's generated call and the last two rounds:
    # a ratio of medians would say 2.2x, each call against its own round's says 1.1x
    assert paired_ratio([1.1, 1.1, 2.2, 2.2, 2.2], [1.0, 1.0, 1.0, 2.0, 2.0]) == pytest.approx(1.1)


def test_compare_keeps_each_sides_best_run():
    runs = [("old", 0.30, 0.10), ("new", 0.20, 0.11), ("old", 0.27, 0.12), ("new", 0.25, 0.09)]
    best = compare.best_of(runs)
    assert best == {"old": (0.27, 0.10), "new": (0.20, 0.09)}
    lines = compare.report(best, {"old": "HEAD~1", "new": "working tree"})
    assert lines == [
        "HEAD~1: 270.0 ms lower + render (2.70x python_code 100.0 ms)",
        "working tree: 200.0 ms lower + render (2.22x python_code 90.0 ms)",
        "working tree / HEAD~1: 0.741x",
    ]


def test_compare_times_a_revision_and_the_working_tree_in_turns():
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=compare.ROOT, capture_output=True).returncode:
        pytest.skip("not a git checkout")
    before = subprocess.run(["git", "worktree", "list"], cwd=compare.ROOT, capture_output=True, text=True).stdout
    lines = compare.compare("HEAD", "flat", nodes=40, rounds=1, repeats=1)
    assert lines[0].startswith("HEAD: ") and lines[1].startswith("working tree: ")
    assert lines[2].startswith("working tree / HEAD: ") and lines[2].endswith("x")
    after = subprocess.run(["git", "worktree", "list"], cwd=compare.ROOT, capture_output=True, text=True).stdout
    assert after == before  # the revision's checkout is gone again
