"""The identifier rule and unique variable names."""

from __future__ import annotations

import pytest

from fxgen.naming import (
    UNUSED,
    Namespace,
    attribute,
    is_attr_name,
    read_targets,
    read_tokens,
    sanitize,
    substitute,
    substitute_all,
    token,
)


@pytest.mark.parametrize("name", ["conv1", "_private", "__dunder__", "ünïcode", "match", "type"])
def test_plain_identifiers_are_written_as_attributes(name):
    assert is_attr_name(name)
    assert attribute("self", name) == f"self.{name}"


@pytest.mark.parametrize(
    "name", ["class", "lambda", "with-dash", "two words", "0weird", "", "ﬁ", "__mangled", "a.b", "x\n"]
)
def test_other_names_are_written_as_strings(name):
    assert not is_attr_name(name)
    source = attribute("self", name)
    assert source.startswith("getattr(self, ")
    assert eval(source, {"self": type("S", (), {name: 1})}) == 1 if name else True


def test_nfkc_lookalike_does_not_reach_another_attribute():
    class Holder:
        pass

    holder = Holder()
    setattr(holder, "ﬁ", "ligature")
    setattr(holder, "fi", "plain")
    assert eval(attribute("holder", "ﬁ"), {"holder": holder}) == "ligature"
    assert eval(attribute("holder", "fi"), {"holder": holder}) == "plain"


def test_namespace_never_hands_out_reserved_or_duplicate_names():
    names = Namespace()
    got = [names.fresh(h) for h in ["add", "add", "add", "float", "self", "torch", "class", "3d", "a-b", ""]]
    assert got[:3] == ["add", "add_1", "add_2"]
    assert len(set(got)) == len(got)
    for name in got:
        assert name.isidentifier() and name not in {"float", "self", "torch", "class"}


@pytest.mark.parametrize("hint, expected", [("layer1.0.conv", "layer1_0_conv"), ("3d", "_3d"), ("ﬁ", "fi")])
def test_sanitize(hint, expected):
    assert sanitize(hint) == expected


@pytest.mark.parametrize(
    "texts",
    [
        [f"{token(0)} + {token(1)}", "", token(1), "torch.relu(x)", f"f({token(0)}, {token(-2)})"],
        [f"{token(0)}\x02{token(1)}", token(1)],  # a text holding the separator: each on its own
        [token(1)],
        [],
    ],
)
def test_substitute_all_equals_substitute_of_each(texts):
    names = {0: "x", 1: "identity", -2: "identity_1"}  # -2: a residual alias's value
    assert substitute_all(texts, names) == [substitute(text, names) for text in texts]


def test_tokens_are_read_and_replaced_by_their_index():
    text = f"f({token(0)}, {token(12)}, {token(-2)}, {token(0)})"
    assert read_tokens(text) == [0, 12, -2, 0]
    assert read_tokens("torch.relu(x)") == []
    assert substitute(text, {0: "x", 12: "y", -2: "identity"}) == "f(x, y, identity, x)"


def test_targets_are_read_in_order_with_unused_items():
    assert read_targets(f"{token(3)}, _, ({token(4)}, {token(5)})") == [3, UNUSED, 4, 5]
    assert read_targets(token(7)) == [7]
    assert read_targets("") == []
