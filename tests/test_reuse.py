"""Classes lowered once per reuse key: same files as lowering every module call."""

from __future__ import annotations

from typing import Callable

import pytest
import torch
from torch import nn
from torch.fx.immutable_collections import immutable_list

import fxgen
import fxgen.hierarchy
import fxgen.lower
from fxgen.hierarchy import _Splitter, submodule
from fxgen.reuse import ClassReuse, Unkeyable, argument_key
from tests import reuse_identity
from tests.reuse_identity import ReuseMismatch
from tests.zoo import ZOO, Gate, GatedLinear


class Scaled(nn.Module):
    def __init__(self, scale: float) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.drop = nn.Dropout(0.5)
        self.scale = scale

    def forward(self, x):
        return self.drop(self.fc(x)) * self.scale


class AlwaysDropout(nn.Module):
    def forward(self, x):
        return nn.functional.dropout(x, 0.5, training=True)


class Unregistered(nn.Module):
    def __init__(self, offset: float) -> None:
        super().__init__()
        self.offset = torch.full((4,), offset)  # a plain attribute: a constant of the capture

    def forward(self, x):
        return x + self.offset


def _reuses(monkeypatch) -> Callable[[], list[str]]:
    """The class hint of every module call not lowered on its own from here on: twins
    that `hierarchy.split` did not cut out, then classes reused by key (the test run
    still lowers each of them too, to compare: tests/reuse_identity.py)."""
    twins, hits = _twins(monkeypatch), []
    reused = ClassReuse.reused

    def counted(self, key, lower):
        cls = reused(self, key, lower)
        if not reuse_identity.checking:
            hits.append(cls.original)
        return cls

    monkeypatch.setattr(ClassReuse, "reused", counted)
    return lambda: twins + hits


def _twins(monkeypatch) -> list[str]:
    """The class hint of every twin `hierarchy.split` makes from here on."""
    twins: list[str] = []
    repeat = _Splitter.repeat

    def repeated(self, twin):
        twins.append(twin.class_hint)
        repeat(self, twin)

    monkeypatch.setattr(_Splitter, "repeat", repeated)
    return twins


def _without_reuse(monkeypatch, model, **options) -> str:
    """The file with every module call cut out and lowered on its own."""
    with monkeypatch.context() as patch:
        patch.setattr(fxgen.lower, "_reuse_key", lambda lowering: None)
        patch.setattr(fxgen.lower, "_node_key", _unkeyable)
        return fxgen.render(model, **options)


def _unkeyable(*args):
    raise Unkeyable("no twins")


@pytest.mark.parametrize("capture", ["fx", "export"])
def test_equal_module_calls_lower_once_and_write_the_same_file(monkeypatch, capture):
    model = nn.Sequential(*[Scaled(0.5) for _ in range(6)]).eval()
    options = dict(example_inputs=(torch.randn(2, 4),), capture=capture)
    expected = _without_reuse(monkeypatch, model, **options)
    reused = _reuses(monkeypatch)
    assert fxgen.render(model, **options) == expected
    assert reused() == ["Scaled"] * 5


class Shifted(nn.Module):
    """A block whose child holds a non-persistent buffer of its own values."""

    def __init__(self, shift: float) -> None:
        super().__init__()
        self.inner = nn.Module()
        self.inner.register_buffer("shift", torch.full((4,), shift), persistent=False)
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x) + self.inner.shift


def test_twins_restore_their_own_non_persistent_buffers(monkeypatch, tmp_path):
    model = nn.Sequential(*[Shifted(float(i)) for i in range(4)]).eval()
    x = torch.randn(2, 4)
    twins = _twins(monkeypatch)
    result = fxgen.export(model, tmp_path / "model_gen.py", example_inputs=(x,))
    assert twins == ["Shifted"] * 3 and result.verified
    loaded = fxgen.load(result.code_path)
    assert [float(loaded.get_submodule(f"{i}.inner").shift[0]) for i in range(4)] == [0.0, 1.0, 2.0, 3.0]
    assert torch.equal(loaded(x), model(x))


def test_calls_that_read_different_things_are_lowered_apart(monkeypatch):
    # scales 0.0 and -0.0 are equal floats that print differently; a dropout's flag reads
    # `self.training` in a module in training mode, and is a plain True in one in eval mode
    model = nn.Sequential(Scaled(0.0), Scaled(-0.0), Scaled(0.0), *[AlwaysDropout() for _ in range(4)]).eval()
    model[4].train()
    model[6].train()
    options = dict(example_inputs=(torch.randn(2, 4),), capture="export")
    expected = _without_reuse(monkeypatch, model, **options)
    reused = _reuses(monkeypatch)
    assert fxgen.render(model, **options) == expected
    # the third call is the first one's; each later dropout is the earlier one in its mode
    # (the first dropout's lowering imports F, which changes no name: F is always taken)
    assert reused() == ["Scaled", "AlwaysDropout", "AlwaysDropout"]
    assert "x * -0.0" in expected and "training=True" in expected and "self.training" in expected


def test_units_that_read_constants_are_not_reused(monkeypatch):
    model = nn.Sequential(Unregistered(1.0), Unregistered(2.0), Unregistered(1.0))
    options = dict(example_inputs=(torch.randn(2, 4),), capture="export")
    expected = _without_reuse(monkeypatch, model, **options)
    reused = _reuses(monkeypatch)
    assert fxgen.render(model, **options) == expected
    assert reused() == []


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_files_are_the_same_with_and_without_reuse(monkeypatch, name):
    model, inputs = ZOO[name]()
    assert fxgen.render(model, example_inputs=inputs) == _without_reuse(monkeypatch, model, example_inputs=inputs)


def test_a_key_that_misses_a_difference_fails_the_test_run(monkeypatch):
    monkeypatch.setattr(fxgen.lower, "_reuse_key", lambda lowering: lowering.unit.class_hint)
    model = nn.Sequential(Scaled(0.5), Scaled(2.0))
    with pytest.raises(ReuseMismatch, match="differs from its own lowering"):
        fxgen.render(model, example_inputs=(torch.randn(2, 4),))


def test_argument_keys_are_exact():
    assert argument_key(0.0, {}) != argument_key(-0.0, {})
    assert argument_key(True, {}) != argument_key(1, {})
    assert argument_key((1, [2.5, None]), {}) == argument_key((1, [2.5, None]), {})
    assert argument_key(slice(1, 3), {}) != argument_key(slice(1, 4), {})
    # fx keeps list arguments as immutable_list (`x.view([2, -1])`): keyed, as its own kind
    assert argument_key(immutable_list([2, -1]), {}) not in (argument_key([2, -1], {}), argument_key((2, -1), {}))
    with pytest.raises(Unkeyable):
        argument_key(torch.ones(2), {})


@pytest.mark.parametrize("family", ["BERT", "LLaMA"])
def test_transformers_layers_are_lowered_once(monkeypatch, family):
    from tests.conformance.hf_models import build

    model, inputs = build(family)
    options = dict(example_inputs=((), inputs), capture="export")
    expected = _without_reuse(monkeypatch, model, **options)
    reused = _reuses(monkeypatch)
    assert fxgen.render(model, **options) == expected
    layer = {"BERT": "BertLayer", "LLaMA": "LlamaDecoderLayer"}[family]
    assert reused().count(layer) == 1  # the second of two layers


class Inner(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return torch.relu(self.fc(x)) + x


class Outer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = Inner()
        self.norm = nn.LayerNorm(4)

    def forward(self, x, scale: float = 1.0):
        return self.norm(self.inner(x)) * scale


class Stages(nn.Module):
    """Outer blocks in a list, then a plain Inner and two Outer blocks sharing a weight."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([Outer() for _ in range(3)])
        self.alone = Inner()
        self.last = Outer()
        self.tied = Outer()
        self.tied.inner.fc.weight = self.last.inner.fc.weight

    def forward(self, x):
        for block in self.blocks:
            x = block(x, scale=0.5)
        return self.tied(self.last(self.alone(x)), 0.5)


@pytest.mark.parametrize("capture", ["fx", "export"])
def test_repeated_calls_are_twins_of_the_first_and_write_the_same_file(monkeypatch, capture):
    text, twins = _twins_writing_the_same_file(monkeypatch, Stages().eval(), capture)
    # blocks.1 and blocks.2 repeat blocks.0 with its Inner; `alone` is called elsewhere
    # (other source lines); `last` and `tied` share a weight (no key)
    assert twins == ["Outer", "Outer"]
    assert "self.tied.inner.fc.weight = self.last.inner.fc.weight" in text


def _twins_writing_the_same_file(monkeypatch, model: nn.Module, capture: str) -> tuple[str, list[str]]:
    """`model`'s file, the same as without twins and reuse, and the twins made for it."""
    options = dict(example_inputs=(torch.randn(2, 4),), capture=capture)
    expected = _without_reuse(monkeypatch, model, **options)
    twins = _twins(monkeypatch)
    assert fxgen.render(model, **options) == expected
    return expected, twins


@pytest.mark.parametrize("case", ["stages", "BERT"])
def test_twin_keys_wait_for_a_second_call_of_their_sketch(monkeypatch, case):
    # a call's twin key is made only once another call has its sketch (module type,
    # numbers of nodes, inputs and outputs): keying every call finds the same twins
    if case == "BERT":
        from tests.conformance.hf_models import build

        model, inputs = build("BERT")
        options = dict(example_inputs=((), inputs), capture="export")
    else:
        model, options = Stages().eval(), dict(example_inputs=(torch.randn(2, 4),))
    text, twins, keyed = _twins_and_keys(monkeypatch, lambda: fxgen.render(model, **options))
    monkeypatch.setattr(fxgen.hierarchy, "_sketch", lambda module, source: None)  # every call alike
    assert _twins_and_keys(monkeypatch, lambda: fxgen.render(model, **options))[:2] == (text, twins)
    assert twins
    if case == "BERT":  # the embeddings, the encoder, the pooler, ...: called once, never keyed
        every_key = _twins_and_keys(monkeypatch, lambda: fxgen.render(model, **options))[2]
        assert set(keyed) < set(every_key) and "encoder" in set(every_key) - set(keyed)


def _twins_and_keys(monkeypatch, render: Callable[[], str]) -> tuple[str, list[tuple[str, str]], list[str]]:
    """`render()`, the twins it made (path, its first's path) and the paths it keyed."""
    twins, keyed = [], []
    repeat, twin_key = _Splitter.repeat, _Splitter.twin_key

    def repeated(self, twin):
        twins.append((twin.path, twin.twin_of.path))
        repeat(self, twin)

    def counted(self, path, *rest):
        if self.node_key is not None:  # not the test run's split without twins
            keyed.append(path)
        return twin_key(self, path, *rest)

    with monkeypatch.context() as patch:
        patch.setattr(_Splitter, "repeat", repeated)
        patch.setattr(_Splitter, "twin_key", counted)
        return render(), twins, keyed


class Ignores(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x, mask):
        return self.fc(x)


class Holder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = Ignores()
        self.norm = nn.LayerNorm(4)

    def forward(self, x, mask):
        return self.norm(self.inner(x, mask)) + x


class MaskedStack(nn.Module):
    """Blocks passed a mask made outside them, which only a call inside them is passed
    (and ignores): GPT-2's and LLaMA's layers, whose attention is passed the mask."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([Holder() for _ in range(3)])

    def forward(self, x):
        mask = x.sum(-1, keepdim=True) > 0
        for block in self.blocks:
            x = block(x, mask)
        return x


@pytest.mark.parametrize("capture", ["fx", "export"])
def test_blocks_passing_on_a_value_made_outside_that_nothing_reads_are_twins(monkeypatch, capture):
    _, twins = _twins_writing_the_same_file(monkeypatch, MaskedStack().eval(), capture)
    assert twins == ["Holder", "Holder"]  # not just their `inner`


def test_attribute_reads_a_call_takes_are_never_made_in_the_classes_above_it(monkeypatch):
    # exported BERT reads each weight with a get_attr node: the read is made in the graph
    # of the class that reads it, not made and erased again at every level above it
    from tests.conformance.hf_models import build

    model, inputs = build("BERT")
    options = dict(example_inputs=((), inputs), capture="export")
    expected = _without_reuse(monkeypatch, model, **options)
    erased, splitting = [], []
    split, erase_node = fxgen.lower.split, torch.fx.Graph.erase_node

    def split_counted(*args, **kwargs):
        splitting.append(True)
        try:
            return split(*args, **kwargs)
        finally:
            splitting.pop()

    def erase_counted(graph, node):
        if splitting:
            erased.append(node.op)
        erase_node(graph, node)

    monkeypatch.setattr(fxgen.lower, "split", split_counted)
    monkeypatch.setattr(torch.fx.Graph, "erase_node", erase_counted)
    assert fxgen.render(model, **options) == expected
    assert erased == []


def test_a_twin_key_that_misses_a_difference_fails_the_test_run(monkeypatch):
    def class_only(self, path, module, *rest):
        return type(module).__name__ if self.node_key is not None else None

    monkeypatch.setattr(_Splitter, "twin_key", class_only)
    model = nn.Sequential(Scaled(0.5), Scaled(2.0))
    with pytest.raises(ReuseMismatch, match="twins change the lowering"):
        fxgen.render(model, example_inputs=(torch.randn(2, 4),))


def test_a_twin_lowered_among_other_imported_names_is_cut_out_again(monkeypatch):
    # each lowering sees new imported names: no twin can stand for its first, and the
    # export splits again with those calls apart
    names = iter(range(1000))
    monkeypatch.setattr(fxgen.lower, "_local_names", lambda imports: frozenset({str(next(names))}))
    model = nn.Sequential(*[Scaled(0.5) for _ in range(3)]).eval()
    options = dict(example_inputs=(torch.randn(2, 4),))
    reused = _reuses(monkeypatch)
    assert fxgen.render(model, **options) == _without_reuse(monkeypatch, model, **options)
    assert reused() == ["Scaled"] * 3  # two twins in the first split, one in the second; both dropped


def test_recorded_arguments_of_a_module_called_inside_its_parent_and_from_the_root():
    # `block.gate` runs inside `block`, then from the root: each call's recorded
    # arguments are the ones of the call at that place (calls in the order they ran),
    # so both name their inputs after the parameters
    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block = GatedLinear(Gate())

        def forward(self, x):
            return self.block.gate(self.block(x), x)

    text = fxgen.render(Model(), example_inputs=(torch.randn(2, 4),))
    assert "def forward(self, hidden: torch.Tensor, gate: torch.Tensor):" in text


class _Shadowed(nn.Module):
    """A registered child and a property of the same name: attribute syntax reaches the property."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Linear(2, 2)
        self.blocks = nn.Sequential(nn.ReLU(), nn.Tanh())

    @property
    def head(self) -> nn.Module:
        return self.blocks[1]


def test_submodule_reaches_what_attribute_syntax_reaches():
    model = _Shadowed()
    nn.Module.__setattr__(model, "head", nn.Identity())  # registered, but the property wins
    assert isinstance(model._modules["head"], nn.Identity)
    assert submodule(model, "head") is model.head is model.blocks[1]
    assert submodule(model, "blocks.0") is model.blocks[0]
    assert submodule(model, "inner") is model.inner
    assert submodule(model, "") is model
    assert submodule(model, "inner.weight") is None  # a tensor, not a module
    assert submodule(model, "missing") is None
