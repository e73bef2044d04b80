"""Models the benchmarks measure, with the edits the diff benchmark applies."""

from __future__ import annotations

import torch
from torch import nn


class Block(nn.Module):
    """A residual MLP block; `extra` inserts one operation, `plain` removes one."""

    def __init__(self, width: int = 64, hidden: int = 128, extra: bool = False, plain: bool = False) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, width)
        self.extra = extra
        self.plain = plain

    def forward(self, x):
        h = self.fc1(x)
        if self.extra:
            h = h + 1
        if not self.plain:
            h = self.act(h)
        h = self.fc2(h)
        return x + h


class ResidualMLP(nn.Module):
    """`depth` residual blocks and a head: the model of the diff and memory benchmarks."""

    def __init__(self, depth: int = 40, width: int = 64, head: str = "head", edit_block: dict | None = None,
                 hidden_of_block_5: int = 128) -> None:
        super().__init__()
        blocks = []
        for i in range(depth):
            options = dict(edit_block or {}) if i == 0 else {}
            blocks.append(Block(width, hidden_of_block_5 if i == 5 else 128, **options))
        self.blocks = nn.Sequential(*blocks)
        self.add_module(head, nn.Linear(width, 10))
        self.head_name = head

    def forward(self, x):
        return getattr(self, self.head_name)(self.blocks(x))


class FlatResidualMLP(nn.Module):
    """The same network with every block's code in one forward (no submodule classes)."""

    def __init__(self, depth: int = 40, width: int = 64) -> None:
        super().__init__()
        self.fc1 = nn.ModuleList([nn.Linear(width, 128) for _ in range(depth)])
        self.fc2 = nn.ModuleList([nn.Linear(128, width) for _ in range(depth)])
        self.head = nn.Linear(width, 10)

    def forward(self, x):
        for fc1, fc2 in zip(self.fc1, self.fc2):
            x = x + fc2(torch.nn.functional.gelu(fc1(x)))
        return self.head(x)


EDITS = {
    "insert an op early (block 0: h = h + 1)": dict(edit_block={"extra": True}),
    "remove an op (block 0: no activation)": dict(edit_block={"plain": True}),
    "rename a submodule (head -> classifier)": dict(head="classifier"),
    "change a hyperparameter (block 5 hidden 128 -> 96)": dict(hidden_of_block_5=96),
    "add a block (40 -> 41)": dict(depth=41),
}
