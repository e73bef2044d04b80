"""docs/errors.md lists every FxgenError subclass with a real message (tests/error_examples.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

import fxgen
from fxgen import errors
from tests.conftest import keep_current
from tests.error_examples import EXAMPLES, errors_doc, message_of

DOC = Path(__file__).parent.parent / "docs" / "errors.md"


def test_every_error_class_has_an_example():
    classes = {getattr(errors, name) for name in errors.__all__} - {fxgen.FxgenError}
    assert classes == {example.error for example in EXAMPLES}
    assert all(cls in vars(fxgen).values() for cls in classes)  # public: fxgen.CaptureError, ...


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.error.__name__)
def test_each_example_raises_its_error_and_names_what_failed(example, tmp_path):
    message = message_of(example, tmp_path)
    for name in example.names:
        assert name in message, f"{name!r} not in {message!r}"


def test_the_errors_doc_is_current(tmp_path, request):
    keep_current(request, DOC, errors_doc(tmp_path), "docs/errors.md is outdated")
