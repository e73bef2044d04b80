"""One real example of every `FxgenError` subclass: how a user causes it, the message
fxgen gives, and the fix. `tests/test_error_catalogue.py` triggers each and keeps
docs/errors.md (made by `errors_doc`) current."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import fx, nn

import fxgen
from fxgen.check import check_file
from fxgen.recipe import make_inputs
from fxgen.sources import build_model


class DataDependent(nn.Module):
    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow
            return x
        return -x


def _hooked() -> nn.Module:
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    model[0].register_forward_hook(lambda module, args, output: output * 2)
    return model


class CountsCalls(nn.Module):
    """Each call returns something else: the file cannot reproduce it."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return x * self.calls


class TracedOtherwise(nn.Module):
    """Computes something else while traced than when run: the capture differs."""

    def forward(self, x):
        if torch.fx._symbolic_trace.is_fx_tracing() or torch.compiler.is_compiling():
            return x * 2
        return x * 3


@dataclass(frozen=True)
class Example:
    error: type
    cause: str  #: what the user did
    fix: str  #: what to do instead
    trigger: Callable[[Path], object]  #: does it, in an empty folder
    names: tuple[str, ...] = ()  #: what the message must name (the node, the source line)


def _template_with_a_typo(folder: Path) -> object:
    (folder / "call_function.py.jinja").write_text("{% macro render(stmt) %}{{ stmt.target }{% endmacro %}\n")
    return fxgen.render(nn.Linear(2, 2), template_dirs=[folder])


def _file_without_source(folder: Path) -> object:
    fxgen.export(fx.symbolic_trace(nn.Sequential(nn.ReLU())), folder / "relu_gen.py")
    return check_file(folder / "relu_gen.py")


def _not_generated(folder: Path) -> object:
    (folder / "mine.py").write_text("x = 1\n")
    return fxgen.load(folder / "mine.py")


EXAMPLES = [
    Example(
        fxgen.CaptureError,
        "symbolic tracing meets control flow that depends on a tensor's value",
        "pass `capture=\"export\"` (or `\"auto\"`), or make the branch static",
        lambda folder: fxgen.render(DataDependent()),
        ("DataDependent.forward", "tests.error_examples:22", "if x.sum() > 0"),
    ),
    Example(
        fxgen.ExportError,
        "a submodule has a forward hook, which a generated file would not run",
        "remove the hook, or pass `drop_hooks=True` to export without it",
        lambda folder: fxgen.render(_hooked()),
        ("'0' (Linear)", "drop_hooks=True"),
    ),
    Example(
        fxgen.VerificationError,
        "the written file does not reproduce the model (here the model changes on every call)",
        "make forward deterministic, or pass `verify=False` if the difference is expected",
        lambda folder: fxgen.export(CountsCalls(), folder / "counts_gen.py", example_inputs=(torch.ones(2),)),
        ("output[0]",),
    ),
    Example(
        fxgen.VerificationError,
        "the model computes something else while traced than when run (here it asks whether it is traced)",
        "make it compute the same while traced (transformers models: `attn_implementation=\"eager\"`), or pass "
        "`verify=False` to write the captured program as it is",
        lambda folder: fxgen.export(TracedOtherwise(), folder / "traced_gen.py", example_inputs=(torch.ones(2),)),
        ("output[0]", "torch.fx captured"),
    ),
    Example(
        fxgen.TemplateError,
        "a user template has a syntax error",
        "fix the template at the line named",
        _template_with_a_typo,
        ("call_function.py.jinja", "line 1"),
    ),
    Example(
        fxgen.FormatError,
        "an unknown formatter",
        "use 'auto', 'black', 'black-full', 'ruff', a black.Mode or None",
        lambda folder: fxgen.render(nn.ReLU(), formatter="yapf"),
        ("'yapf'",),
    ),
    Example(
        fxgen.SourceError,
        "`fxgen export MODULE:ATTR` names a module that does not import",
        "check the name and run fxgen from the folder your package imports from",
        lambda folder: build_model("mypackage.models:Net"),
        ("mypackage.models",),
    ),
    Example(
        fxgen.InputSpecError,
        "an `--input` spec that is not SHAPE[:DTYPE[:LOW..HIGH]]",
        "write it as in the message",
        lambda folder: make_inputs("2by16"),
        ("'2by16'",),
    ),
    Example(
        fxgen.CheckError,
        "`fxgen check` meets a file exported from a GraphModule built in a script",
        "export with `source=\"module:attr\"` naming a factory, or with the CLI",
        _file_without_source,
        ("relu_gen.py",),
    ),
    Example(
        fxgen.LoadError,
        "`fxgen.load` on a file fxgen did not write",
        "load a module-style file written by `fxgen.export`",
        _not_generated,
        ("mine.py",),
    ),
]


def message_of(example: Example, folder: Path) -> str:
    """The message `example` raises, with the folder written as `.../`."""
    try:
        example.trigger(folder)
    except fxgen.FxgenError as exc:
        if type(exc) is not example.error:
            raise AssertionError(f"{example.error.__name__} example raised {type(exc).__name__}: {exc}") from exc
        return str(exc).replace(str(folder.resolve()), "...").replace(str(folder), "...")
    raise AssertionError(f"the {example.error.__name__} example raised nothing")


def errors_doc(folder: Path) -> str:
    """docs/errors.md: every error with its cause, a real message and the fix."""
    lines = [
        "# Errors",
        "",
        "Every failure a user can cause is an `fxgen.FxgenError` subclass whose message names",
        "what failed (the node, and your source line where the graph records it) and what to",
        "do instead. The messages below are real: `tests/error_examples.py` triggers each one",
        "and the test suite keeps this page current (`pytest --fxgen-update` rewrites it).",
        "The CLI prints the same messages (exit code 2; `--debug` adds the traceback).",
        "",
    ]
    for i, example in enumerate(EXAMPLES):
        here = folder / f"example_{i}"
        here.mkdir()
        if i == 0 or EXAMPLES[i - 1].error is not example.error:  # a class's examples under one heading
            lines += [f"## `{example.error.__name__}`", "", " ".join((example.error.__doc__ or "").split()), ""]
        lines += [
            f"Example: {example.cause}.",
            "",
            "```text",
            message_of(example, here),
            "```",
            "",
            f"Fix: {example.fix}.",
            "",
        ]
    return "\n".join(lines)
