"""The model zoo: small models that cover what fxgen must write, each with example inputs.

`ZOO` maps a name to a factory returning `(model, example_inputs)`. Factories seed torch
first, so weights and inputs are the same in every run.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


class SeedModel(nn.Module):
    """The example of the Foundation issue."""

    def __init__(self) -> None:
        super().__init__()
        self.param = nn.Parameter(torch.rand(3, 4))
        self.linear = nn.Linear(4, 5)

    def forward(self, x):
        return torch.topk(torch.sum(self.linear(x + self.linear.weight).relu(), dim=-1), 3)


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(16, 32)
        self.act = nn.GELU()
        self.dropout = nn.Dropout(0.1)
        self.fc2 = nn.Linear(32, 4)

    def forward(self, x):
        return F.log_softmax(self.fc2(self.dropout(self.act(self.fc1(x)))), dim=-1)


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3, stride=2, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        x = F.relu(self.bn2(self.conv2(x)))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


class BasicBlock(nn.Module):
    def __init__(self, channels: int, downsample: bool) -> None:
        super().__init__()
        stride = 2 if downsample else 1
        self.conv1 = nn.Conv2d(channels // stride, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample = (
            nn.Sequential(nn.Conv2d(channels // 2, channels, 1, stride=2, bias=False), nn.BatchNorm2d(channels))
            if downsample
            else None
        )

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ResidualNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.layer1 = nn.Sequential(BasicBlock(8, False), BasicBlock(8, False))
        self.layer2 = nn.Sequential(BasicBlock(16, True))

    def forward(self, x):
        return self.layer2(self.layer1(self.stem(x))).mean(dim=(2, 3))


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, mask):
        batch, seq, dim = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q = q.view(batch, seq, self.heads, dim // self.heads).transpose(1, 2)
        k = k.view(batch, seq, self.heads, dim // self.heads).transpose(1, 2)
        v = v.view(batch, seq, self.heads, dim // self.heads).transpose(1, 2)
        scores = q @ k.transpose(-2, -1) / math.sqrt(dim // self.heads)
        scores = scores.masked_fill(mask[:, None, None, :] == 0, float("-inf"))
        attn = F.softmax(scores, dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(batch, seq, dim)
        return self.proj(out)


class TransformerBlock(nn.Module):
    def __init__(self, dim: int = 16, heads: int = 2) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(approximate="tanh"), nn.Linear(4 * dim, dim))

    def forward(self, x, mask):
        x = x + self.attn(self.ln1(x), mask)
        return x + self.mlp(self.ln2(x))


class BuiltinTransformer(nn.Module):
    """torch's own transformer layers and attention as leaf modules."""

    def __init__(self) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.attn = nn.MultiheadAttention(16, 4, batch_first=True, bias=False)

    def forward(self, x):
        x = self.encoder(x)
        out, weights = self.attn(x, x, x, need_weights=True)
        return out, weights


class Recurrent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(8, 16, num_layers=2, batch_first=True, bidirectional=True)
        self.gru = nn.GRU(32, 8, batch_first=True)
        self.rnn = nn.RNN(8, 4, nonlinearity="relu")

    def forward(self, x):
        out, (h, c) = self.lstm(x)
        out, h2 = self.gru(out)
        out3, _ = self.rnn(out.transpose(0, 1))
        return out3, h + c.sum(), h2


class Pair(NamedTuple):
    first: torch.Tensor
    second: torch.Tensor


class Structured(nn.Module):
    """Tuple, dict, list and named-tuple outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x, y):
        a = self.fc(x)
        b = a * y
        return {"sum": a + b, "parts": (a, [b, a - b]), "pair": Pair(first=a, second=b)}


class ShapeArithmetic(nn.Module):
    def forward(self, x):
        n, c, h, w = x.shape
        flat = x.reshape(n, c * h * w)
        half = flat[:, : flat.size(1) // 2]
        picked = x[0, 1:3, ..., ::2]
        expanded = x[:, None, :, -1]
        rolled = torch.cat([half, -half], dim=1) ** 2 - (flat + 1) % 3
        return rolled.view(n, -1, h), picked, expanded.permute(0, 2, 1, 3).contiguous(), x.size(-1) * 2


class Constants(nn.Module):
    """dtype, device, inf/nan/-0.0 and other constants baked into calls."""

    def forward(self, x):
        clipped = torch.clamp(x, min=-float("inf"), max=1e30)
        mask = torch.isfinite(x / 0.0)
        ints = x.to(torch.int32) + torch.ones(x.shape, dtype=torch.int64, device=torch.device("cpu"))
        filled = torch.full((2, 3), -0.0, dtype=torch.float64)
        scaled = torch.where(mask, clipped, torch.tensor(float("nan")))
        return scaled, ints, filled, x.to(memory_format=torch.contiguous_format), torch.finfo(torch.float16).max


class Buffers(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("running", torch.randn(4))
        self.register_buffer("scale", torch.tensor([2.0, 0.5, 1.0, 3.0]), persistent=False)
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))
        self.register_buffer("unused", None)
        self.norm = nn.BatchNorm1d(4, momentum=None, track_running_stats=True)
        self.offset = torch.arange(4.0)  # a plain tensor attribute: a constant of the graph

    def forward(self, x):
        return self.norm(x * self.scale + self.running) + self.offset + self.steps


class TiedWeights(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(20, 8, padding_idx=0)
        self.norm = nn.LayerNorm(8, eps=1e-6)
        self.head = nn.Linear(8, 20, bias=False)
        self.head.weight = self.embed.weight
        self.frozen = nn.Parameter(torch.randn(8), requires_grad=False)

    def forward(self, tokens):
        return self.head(self.norm(self.embed(tokens)) * self.frozen)


class Containers(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.seq = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 4))
        self.blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])
        self.heads = nn.ModuleDict({"a": nn.Linear(4, 2), "b": nn.Linear(4, 3)})
        self.scales = nn.ParameterList([nn.Parameter(torch.ones(4)) for _ in range(2)])

    def forward(self, x):
        x = self.seq(x)
        for i, block in enumerate(self.blocks):
            x = block(x) * self.scales[i % 2]
        return self.heads["a"](x), self.heads["b"](x)


@torch.fx.wrap
def clipped_norm(x, limit: float):
    """A user function kept as a call (torch.fx.wrap), imported by the generated file."""
    norm = x.norm(dim=-1, keepdim=True)
    if limit > 0:
        return x / torch.clamp(norm, min=limit)
    return x


class WrappedFunction(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return clipped_norm(self.fc(x), 0.5)


class InPlace(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        y = self.fc(x)
        y.mul_(2).add_(1)
        y = self.relu(y)
        z = F.relu(y - 1, inplace=True)
        torch.sigmoid_(z)
        return y, z


class AwkwardNames(nn.Module):
    """Names that are legal for torch but break torch.fx's own printer."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleDict({"class": nn.Linear(4, 4), "two words": nn.Linear(4, 4)})
        self.add_module("with-dash", nn.Linear(4, 4))
        self.register_buffer("lambda", torch.ones(4))
        self.register_parameter("def", nn.Parameter(torch.randn(4)))
        self.inner = nn.Module()
        self.inner.add_module("0weird", nn.Linear(4, 4))
        self.inner.register_buffer("import", torch.full((4,), 0.5))

    def forward(self, x):
        x = self.blocks["class"](x) + getattr(self, "lambda")
        x = getattr(self, "with-dash")(x) * getattr(self, "def")
        x = self.blocks["two words"](x)
        return getattr(self.inner, "0weird")(x) - getattr(self.inner, "import")


class TrainingModes(nn.Module):
    """Per-submodule training flags and a frozen submodule."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(8, 2))
        for p in self.backbone.parameters():
            p.requires_grad_(False)

    def forward(self, x):
        return self.head(self.backbone(x))


class Symmetric(nn.Module):
    """A user parametrization (the torch tutorial's): not rebuilt, traced through."""

    def forward(self, weight):
        return weight.triu() + weight.triu(1).transpose(-1, -2)


class Parametrized(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.utils.parametrizations.weight_norm(nn.Linear(4, 4), dim=1)
        self.b = torch.nn.utils.parametrizations.spectral_norm(nn.Linear(4, 4))
        self.c = nn.Linear(4, 4)
        torch.nn.utils.parametrize.register_parametrization(self.c, "weight", Symmetric())
        self.lazy = nn.LazyLinear(3)
        self.lazy(torch.zeros(1, 4))  # materialised: now a plain Linear

    def forward(self, x):
        return self.lazy(self.c(self.b(self.a(x))))


class Gate(nn.Module):
    """`hidden` scaled by a sigmoid gate: a module with two inputs and no weights."""

    def forward(self, hidden, gate):
        return hidden * torch.sigmoid(gate)


class GatedLinear(nn.Module):
    """A linear layer gated by its input, through a gate module it is given."""

    def __init__(self, gate: nn.Module) -> None:
        super().__init__()
        self.gate = gate
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.gate(self.fc(x), x)


class ConvBN(nn.Module):
    """Convolution, batch norm, ReLU6: one block type built with other widths, kernels
    and strides in every stage, as MobileNet builds it."""

    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.ReLU6()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        hidden = cin * 4
        self.expand = ConvBN(cin, hidden)
        self.depthwise = ConvBN(hidden, hidden, 3, stride, groups=hidden)
        self.project = ConvBN(hidden, cout)

    def forward(self, x):
        return self.project(self.depthwise(self.expand(x)))


class Stages(nn.Module):
    """A MobileNet in small: blocks of one type that differ only in their constructor's
    arguments (one class each, taking those arguments)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = ConvBN(3, 8, 3, 2)
        self.blocks = nn.Sequential(InvertedResidual(8, 8, 1), InvertedResidual(8, 16, 2), InvertedResidual(16, 16, 1))
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.head(x.mean((2, 3)))


def _seeded(factory: Callable[[], tuple[nn.Module, tuple[Any, ...]]]) -> Callable[[], tuple[nn.Module, tuple[Any, ...]]]:
    def make() -> tuple[nn.Module, tuple[Any, ...]]:
        torch.manual_seed(0)
        return factory()

    make.__name__ = factory.__name__
    return make


def _training_modes() -> tuple[nn.Module, tuple[Any, ...]]:
    model = TrainingModes()
    model.backbone.eval()
    return model, (torch.randn(6, 4),)


def _eval(model: nn.Module) -> nn.Module:
    return model.eval()


def _graph_module() -> tuple[nn.Module, tuple[Any, ...]]:
    return torch.fx.symbolic_trace(ResidualNet().eval()), (torch.randn(2, 3, 8, 8),)


ZOO: dict[str, Callable[[], tuple[nn.Module, tuple[Any, ...]]]] = {
    name: _seeded(factory)
    for name, factory in {
        "seed": lambda: (SeedModel(), (torch.randn(5, 4),)),
        "mlp": lambda: (_eval(MLP()), (torch.randn(3, 16),)),
        "cnn": lambda: (_eval(SmallCNN()), (torch.randn(2, 3, 16, 16),)),
        "residual": lambda: (_eval(ResidualNet()), (torch.randn(2, 3, 8, 8),)),
        "transformer_block": lambda: (
            _eval(TransformerBlock()),
            (torch.randn(2, 5, 16), torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])),
        ),
        "builtin_transformer": lambda: (_eval(BuiltinTransformer()), (torch.randn(2, 5, 16),)),
        "recurrent": lambda: (_eval(Recurrent()), (torch.randn(2, 5, 8),)),
        "structured": lambda: (Structured(), (torch.randn(2, 4), torch.randn(2, 4))),
        "shape_arithmetic": lambda: (ShapeArithmetic(), (torch.randn(2, 4, 3, 6),)),
        "constants": lambda: (Constants(), (torch.randn(3, 4),)),
        "buffers": lambda: (_eval(Buffers()), (torch.randn(3, 4),)),
        "tied_weights": lambda: (TiedWeights(), (torch.tensor([[1, 2, 3], [4, 0, 19]]),)),
        "containers": lambda: (Containers(), (torch.randn(2, 4),)),
        "wrapped_function": lambda: (WrappedFunction(), (torch.randn(3, 4),)),
        "in_place": lambda: (InPlace(), (torch.randn(3, 4),)),
        "awkward_names": lambda: (AwkwardNames(), (torch.randn(2, 4),)),
        "training_modes": _training_modes,
        "parametrized": lambda: (_eval(Parametrized()), (torch.randn(2, 4),)),
        "graph_module": _graph_module,
        "stages": lambda: (_eval(Stages()), (torch.randn(2, 3, 16, 16),)),
    }.items()
}
