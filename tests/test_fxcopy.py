"""fxgen's graph copies are torch.fx's copies, node for node."""

from __future__ import annotations

import pytest
from torch import fx

from fxgen.fxcopy import copy_graph
from tests.zoo import ZOO


@pytest.mark.parametrize("name", ["residual", "transformer_block", "containers"])
def test_copy_graph_is_graph_copy(name):
    model, _ = ZOO[name]()
    source = fx.symbolic_trace(model).graph
    theirs, ours = fx.Graph(), fx.Graph()
    theirs.output(theirs.graph_copy(source, {}))
    ours.output(copy_graph(ours, source, {}))
    assert ours.python_code("self").src == theirs.python_code("self").src
    for a, b in zip(theirs.nodes, ours.nodes, strict=True):
        assert (a.op, a.name, a.target, a.type, a.meta) == (b.op, b.name, b.target, b.type, b.meta)
        assert [u.name for u in a.users] == [u.name for u in b.users]
    ours.lint()
    for node in theirs.nodes:  # the graph's lookup table by opcode and target, as fx keeps it
        found = [n.name for n in ours.find_nodes(op=node.op, target=node.target, sort=False)]
        assert found == [n.name for n in theirs.find_nodes(op=node.op, target=node.target, sort=False)]
