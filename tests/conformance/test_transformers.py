"""Real models: tiny transformers of 64 families export through torch.export exactly."""

from __future__ import annotations

import ast

import pytest

pytest.importorskip("transformers")

import torch  # noqa: E402
import transformers  # noqa: E402
from torch.utils import _pytree as pytree  # noqa: E402

import fxgen  # noqa: E402
from tests.conformance.hf_models import FAMILIES, build  # noqa: E402
from tests.conformance.transformers_sweep import export_family  # noqa: E402

pytestmark = pytest.mark.conformance


@pytest.mark.parametrize("family", list(FAMILIES))
def test_family_exports_to_reviewable_exact_code(family, tmp_path):
    result, text = export_family(family, tmp_path)
    assert result.outcome == "exact", result.outcome
    assert result.classes > 1, "one class per module type"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef) and node.name == "forward":
            lifted = [a.arg for a in node.args.args + node.args.kwonlyargs if a.arg[:2] in ("p_", "b_", "c_")]
            assert not lifted, f"lifted parameters as inputs: {lifted}"
    assert text.count('torch.device("') == 1  # only `with torch.device("meta")` in load()
    assert result.aten_fallbacks == 0, "every ATen call written with the public API"


def test_a_model_that_computes_otherwise_while_traced_is_named_as_the_cause(tmp_path):
    """BEiT with SDPA attention: transformers builds the attention mask only while traced,
    and BEiT adds it to its position bias, so torch.export's program is not the model's;
    the file reproduces that program exactly, and the error says so."""
    _, _, config, inputs = FAMILIES["BEiT"]
    torch.manual_seed(0)
    sdpa = {name: value for name, value in config.items() if name != "attn_implementation"}
    model = transformers.BeitModel(transformers.BeitConfig(**sdpa)).eval()
    with pytest.raises(fxgen.VerificationError, match="reproduces exactly the program torch.export captured"):
        fxgen.export(model, tmp_path / "beit_gen.py", example_inputs=((), inputs()), capture="export")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "family, dynamic", [("BERT", False), ("T5", False), ("ModernBERT", False), ("T5", True), ("Mixtral", True)]
)
def test_family_compiles_through_the_dynamo_backend(family, dynamic, tmp_path):
    """torch.compile with fxgen's backend: each graph written (T5's `x += y`, ModernBERT's
    `abs(x)`, Mixtral's `x /= y` are operator nodes there; with dynamic shapes the values
    are dynamo's own records) and the compiled model equal to eager."""
    model, inputs = build(family)
    torch._dynamo.reset()
    compiled = torch.compile(model, backend=fxgen.dynamo_backend(tmp_path), dynamic=dynamic)
    with torch.no_grad():
        expected, actual = model(**inputs), compiled(**inputs)
    pairs = zip(pytree.tree_leaves(expected.to_tuple()), pytree.tree_leaves(actual.to_tuple()), strict=True)
    assert all(torch.equal(e, a) for e, a in pairs)
    assert list(tmp_path.glob("graph_*.py"))


@pytest.mark.parametrize(
    "family, head",
    [("BERT", "BertForSequenceClassification"), ("LLaMA", "LlamaForCausalLM"), ("ViT", "ViTForImageClassification")],
)
def test_task_head_with_labels_writes_its_loss_with_the_public_api(family, head, tmp_path):
    """A head given labels computes its loss in forward (`F.cross_entropy`), and a causal LM
    slices its hidden states with `[...]` (an alias): no `torch.ops.aten` call is left."""
    _, config_name, config, inputs = FAMILIES[family]
    torch.manual_seed(0)
    model = getattr(transformers, head)(getattr(transformers, config_name)(**config, num_labels=2)).eval()
    example = inputs()
    first = next(iter(example.values()))
    causal = "Causal" in head  # a label per token of the vocabulary, else one of two classes per example
    example["labels"] = torch.randint(0, 100, first.shape) if causal else torch.randint(0, 2, first.shape[:1])
    exported = fxgen.export(model, tmp_path / "head_gen.py", example_inputs=((), example), capture="export")
    text = exported.code_path.read_text()
    assert exported.comparison == "exact"
    assert "F.cross_entropy(" in text and "torch.ops.aten" not in text
