"""The naming rule of docs/naming.md, source comments, and their options."""

from __future__ import annotations

import ast
import functools
import math
import subprocess
import sys

import torch
from torch import fx, nn

import fxgen
from tests.zoo import ZOO


def forward_of(text: str, cls: str) -> str:
    start = text.index(f"class {cls}(")
    body = text[text.index("def forward", start) :]
    return body[: body.index("\n\n\n")] if "\n\n\n" in body else body


def test_chains_reuse_names_and_a_residual_under_the_users_own_chain_is_read_as_it_is():
    model, inputs = ZOO["residual"]()
    block = forward_of(fxgen.render(model, example_inputs=inputs), "BasicBlock")  # `out = ...(x)`: x stays x
    assert "identity = x" not in block and "out = self.bn1(out)" in block and "out = out + x" in block


class Renames(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4)
        self.fc = nn.Linear(4, 4)

    def forward(self, x, v):
        x = self.norm(x)
        h = self.fc(x) * 2
        scores = h.masked_fill(h > 0, 0.0)
        attn = scores.softmax(-1)
        return attn @ v


def test_a_value_the_user_renames_takes_the_new_name_from_the_first_step_of_its_line():
    inputs = (torch.randn(2, 4), torch.randn(4, 4))
    for capture, softmax in (("fx", "attn = scores.softmax("), ("export", "attn = torch.softmax(scores")):
        text = forward_of(fxgen.render(Renames(), example_inputs=inputs, capture=capture), "Renames")
        assert "x = self.norm(x)" in text, text
        assert "h = self.fc(x)" in text and "h = h * 2" in text, text  # the whole line, from its first step
        assert "scores = h.masked_fill(" in text and softmax in text and "attn @ v" in text, text
        # a call of torch's own module keeps its line (torch.export traces through it)
        assert "# tests.test_naming_rules:38  h = self.fc(x) * 2" in text, text


class SizeSteps(nn.Module):
    def forward(self, x):
        n, c, h, w = x.shape
        head = c // 2
        flat = x.reshape(n, c * h * w) * math.sqrt(c // 2)
        return flat[:, :head] + x.sum() * 2


def test_arithmetic_on_sizes_is_written_where_its_line_uses_it(tmp_path):
    path = tmp_path / "steps.py"
    fxgen.export(SizeSteps(), path, example_inputs=(torch.randn(2, 4, 3, 3),))  # verified against the original
    text = forward_of(path.read_text(), "SizeSteps")
    assert "flat = x.reshape(n, c * h * w)" in text and "flat = flat * math.sqrt(c // 2)" in text, text
    assert "head = c // 2" in text and "flat[:, :head]" in text, text  # a line of its own keeps its name
    assert "x = x.sum()" in text and "x = x * 2" in text, text  # arithmetic on tensors stays a statement
    assert "mul" not in text and "floordiv" not in text and "sqrt =" not in text, text


class Renamed(nn.Module):
    def forward(self, x):
        y = x.relu() * 2
        x = y + 1
        return x.sum(-1)


def test_an_input_whose_value_is_no_longer_needed_gives_its_name_again():
    for capture in ("fx", "export"):
        text = forward_of(fxgen.render(Renamed(), example_inputs=(torch.randn(2, 4),), capture=capture), "Renamed")
        assert "x = y + 1" in text and "x_1" not in text, text


class MultiLine(nn.Module):
    def forward(self, x, mask):
        scores = torch.softmax(
            x * 2 + mask, dim=-1
        )
        return scores.sum(-1)


def test_an_assignment_written_over_several_lines_names_its_value():
    # a stack trace keeps only the first line of a statement: `scores = torch.softmax(`
    inputs = (torch.randn(2, 4), torch.randn(2, 4))
    for capture in ("fx", "export"):
        text = forward_of(fxgen.render(MultiLine(), example_inputs=inputs, capture=capture), "MultiLine")
        assert "scores = torch.softmax(x, dim=-1)" in text and "return scores.sum(" in text, text


class Pair(nn.Module):
    def forward(self, x):
        scale = x.sigmoid()
        shift = x.tanh() * 2
        return scale, shift


class UsesPair(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pair = Pair()

    def forward(self, x):
        out = self.pair(x)
        return out[0] * x + out[1]


def test_the_values_a_module_returns_are_unpacked_under_the_names_it_gives_them():
    for capture in ("fx", "export"):
        text = forward_of(fxgen.render(UsesPair(), example_inputs=(torch.randn(2, 4),), capture=capture), "UsesPair")
        assert "scale, shift = self.pair(x)" in text and "[0]" not in text, text


class MadeTensors(nn.Module):
    def forward(self, x):
        total = x.sum()
        ones = torch.ones(3) * total
        return ones, torch.zeros(x.shape[0], 2) + 1


def test_a_tensor_made_on_an_inputs_device_or_of_its_size_does_not_take_its_name(tmp_path):
    # torch.export records the device and sizes as constants; fxgen writes them as
    # `x.device` and `x.size(0)`, which read `x` without the new tensor coming from it
    path = tmp_path / "made.py"
    fxgen.export(MadeTensors(), path, example_inputs=(torch.randn(4, 3),), capture="export",
                 dynamic_shapes=({0: torch.export.Dim("n")},))
    text = forward_of(path.read_text(), "MadeTensors")
    assert "ones = torch.ones([3], device=x.device)" in text, text
    assert "zeros = torch.zeros([x.size(0), 2], device=x.device)" in text and "x = torch" not in text, text


def test_reuse_names_false_gives_every_value_its_own_name():
    model, inputs = ZOO["mlp"]()
    text = forward_of(fxgen.render(model, example_inputs=inputs, reuse_names=False), "MLP")
    targets = [n.targets[0].id for n in ast.walk(ast.parse(text.replace("def forward", "def f", 1).strip().replace("\n        ", "\n    "))) if isinstance(n, ast.Assign)]
    assert len(targets) == len(set(targets)) and "x = self" not in text


def test_a_name_is_never_rebound_while_its_value_is_needed(tmp_path):
    for name, factory in ZOO.items():
        model, inputs = factory()
        assert fxgen.export(model, tmp_path / f"{name}.py", example_inputs=inputs).verified


def test_source_comments_name_module_and_line_not_paths():
    model, inputs = ZOO["transformer_block"]()
    text = fxgen.render(model, example_inputs=inputs)
    comments = [line.strip() for line in text.splitlines() if line.strip().startswith("# tests.zoo:")]
    assert comments and all("/" not in c.split()[1] and ".py" not in c.split()[1] for c in comments)
    assert "# tests.zoo:" in text and all(len(line) <= 88 for line in text.splitlines() if "# tests.zoo" in line)
    assert "# tests.zoo" not in fxgen.render(model, example_inputs=inputs, source_comments=False)
    everything = fxgen.render(model, example_inputs=inputs, source_comments=True)
    assert everything.count("# tests.zoo:") > text.count("# tests.zoo:")


def test_a_script_is_named_by_its_file(tmp_path):
    """A model defined in a script run as __main__ (also aliased as __mp_main__ once
    multiprocessing is imported) is labelled with the script's name."""
    script = tmp_path / "train.py"
    script.write_text(
        "import multiprocessing, sys, torch, fxgen\n"
        "sys.modules.setdefault('__mp_main__', sys.modules['__main__'])\n"
        "class Net(torch.nn.Module):\n"
        "    def forward(self, x):\n"
        "        return torch.relu(x) * 2\n"
        "print(fxgen.render(Net(), source_comments=True))\n"
    )
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "# train:5  return torch.relu(x) * 2" in result.stdout


def test_a_hostile_stack_trace_cannot_leave_its_comment():
    graph = fx.Graph()
    x = graph.placeholder("x")
    evil = 'File "/tmp/m.py", line 3, in forward\n    y = x\nimport os; os.system("boom")\r\u2028"""\x00'
    for op in (torch.relu, torch.neg):
        x = graph.call_function(op, (x,))
        x.meta["stack_trace"] = f'  File "/tmp/evil.py", line 7, in forward\n    y = f(x)  # {evil}'
    graph.output(x)
    text = fxgen.render(fx.GraphModule(nn.Module(), graph), source_comments=True)
    tree = ast.parse(text)
    calls = [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert not any("system" in c for c in calls)
    assert "\r" not in text and "\u2028" not in text and "\x00" not in text


class GatedMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gate, self.up, self.down = nn.Linear(4, 8), nn.Linear(4, 8), nn.Linear(8, 4)

    def forward(self, x):
        return self.down(torch.nn.functional.silu(self.gate(x)) * self.up(x))


def test_an_input_read_by_two_branches_alike_is_no_residual():
    # `identity = x` is for a skip path that is added back (`out + self.downsample(x)`),
    # not for the second branch of a gated MLP
    for capture in ("fx", "export"):
        text = forward_of(fxgen.render(GatedMLP(), example_inputs=(torch.randn(2, 4),), capture=capture), "GatedMLP")
        assert "identity" not in text and "self.up(x)" in text, text


class PreNormBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm, self.mlp = nn.LayerNorm(4), nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 4))

    def forward(self, x):
        x = x + self.mlp(self.norm(x))
        return x + self.mlp(self.norm(x))


def test_a_residual_is_kept_where_the_chain_carries_its_name_on_even_into_the_return():
    # the second sum is written inside the return statement; it ends a skip path all the same
    for capture in ("fx", "export"):
        text = forward_of(fxgen.render(PreNormBlock(), example_inputs=(torch.randn(2, 4),), capture=capture), "PreNormBlock")
        assert text.count("identity = x\n") == 2 and "x = self.norm(x)" in text, text
        assert "x = identity + x\n" in text and "return identity + x" in text, text


class ScaledInPlace(nn.Module):
    def forward(self, x):
        y = x * 1
        scaled = y.mul_(2).add_(1)
        return scaled * 3, y.sub_(1)


def test_an_in_place_method_binds_nothing_its_result_is_its_receiver():
    text = forward_of(fxgen.render(ScaledInPlace(), example_inputs=(torch.randn(2, 4),)), "ScaledInPlace")
    assert "    y.mul_(2)\n" in text and "    y.add_(1)\n" in text and "del" not in text, text
    assert text.rstrip().endswith(", y.sub_(1)"), text  # a result only returned is written in the return


class TwoOutputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 4)

    def forward(self, x):
        attn_output = self.proj(x).relu()
        attn_weights = attn_output.softmax(-1)
        return attn_output, attn_weights


class ReadsOneOfTwo(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.self, self.other = TwoOutputs(), TwoOutputs()

    def forward(self, x):
        first, _ = self.self(x)
        attention_output, weights = self.other(x)
        return first * attention_output


def test_a_module_call_whose_line_assigns_several_names_its_one_read_value():
    # the one target not `_`; else the module's own name for the value it returns
    for capture in ("fx", "export"):
        text = forward_of(fxgen.render(ReadsOneOfTwo(), example_inputs=(torch.randn(2, 4),), capture=capture), "ReadsOneOfTwo")
        assert "first = self.self(x)" in text and "attn_output = self.other(x)" in text, text


def _scaled_mask(x):
    mask = x > 0
    return mask.float() * 2


class HelperNames(nn.Module):
    def forward(self, x):
        causal = _scaled_mask(x)
        return x * causal


def test_values_of_a_helper_function_take_its_names_and_the_callers_name_wins_for_its_result():
    for capture in ("fx", "export"):  # torch.export records every user frame too (capture._every_user_frame)
        text = forward_of(fxgen.render(HelperNames(), example_inputs=(torch.randn(2, 4),), capture=capture), "HelperNames")
        assert "mask = x > 0" in text and "causal = " in text and "return x * causal" in text, text


def _passed_through(forward):
    @functools.wraps(forward)
    def wrapper(*args, **kwargs):
        return forward(*args, **kwargs)

    return wrapper


class DecoratedForward(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    @_passed_through
    def forward(self, x):
        return self.fc(x).relu()


class CallsDecorated(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = DecoratedForward()

    def forward(self, x):
        hidden = self.inner(x)
        return hidden * 2


def test_a_call_is_placed_at_its_callers_line_not_in_a_decorators_wrapper():
    for capture in ("fx", "export"):
        text = fxgen.render(CallsDecorated(), example_inputs=(torch.randn(2, 4),), capture=capture, source_comments=True)
        assert "hidden = self.inner(x)" in forward_of(text, "CallsDecorated") and "forward(*args" not in text, text


class Router(nn.Module):
    def forward(self, x):
        logits = x * 2
        values, indices = logits.topk(2)
        return logits, values, indices


class ReadsTwoOfThree(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.router = Router()

    def forward(self, x):
        _, weights, index = self.router(x)
        return weights * index


def test_values_a_module_returns_from_an_unpacking_line_take_their_own_targets():
    # the caller's three targets do not fit the two values it reads: the module's names do
    for capture in ("fx", "export"):
        text = forward_of(fxgen.render(ReadsTwoOfThree(), example_inputs=(torch.randn(2, 4),), capture=capture), "ReadsTwoOfThree")
        assert "values, indices = self.router(x)" in text, text


class FailsToExport(nn.Module):
    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow: torch.export refuses it
            return x
        return -x


def test_torchs_tracer_is_put_back_after_capture_even_when_it_fails():
    from torch.fx.experimental import proxy_tensor

    before = dict(vars(proxy_tensor._ModuleStackTracer))
    fxgen.render(HelperNames(), example_inputs=(torch.randn(2, 4),), capture="export")
    assert dict(vars(proxy_tensor._ModuleStackTracer)) == before
    failed = False
    try:
        fxgen.render(FailsToExport(), example_inputs=(torch.randn(2, 4),), capture="export")
    except fxgen.FxgenError:
        failed = True
    assert failed and dict(vars(proxy_tensor._ModuleStackTracer)) == before


class ParallelBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm, self.attn, self.mlp = nn.LayerNorm(4), nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, hidden_states):
        residual = hidden_states
        hidden_states = self.norm(hidden_states)
        attn_output = self.attn(hidden_states)
        mlp_output = self.mlp(hidden_states)
        return attn_output + mlp_output + residual


def test_a_residual_is_kept_where_the_chains_first_value_feeds_two_branches():
    # GPT-J, Phi, Cohere: one norm read by the attention and the MLP, summed with the input
    for capture in ("fx", "export"):
        text = forward_of(fxgen.render(ParallelBlock(), example_inputs=(torch.randn(2, 4),), capture=capture), "ParallelBlock")
        assert "identity = hidden_states\n" in text and "hidden_states = self.norm(hidden_states)" in text, text
        assert "self.mlp(hidden_states)" in text and text.rstrip().endswith("+ identity"), text


class AddsInPlace(nn.Module):
    def forward(self, x):
        buckets = x * 2
        buckets += x.relu()
        return buckets * 3, buckets.sum()


def test_an_in_place_aten_call_binds_nothing_its_result_is_its_first_argument():
    text = forward_of(fxgen.render(AddsInPlace(), example_inputs=(torch.randn(2, 4),), capture="export"), "AddsInPlace")
    assert "        buckets.add_(" in text and "= buckets.add_(" not in text and "buckets * 3" in text, text


class ChangesAConstant(nn.Module):
    def forward(self, x):
        y = torch.zeros(3)  # torch.fx makes it a constant, copied where the model changes it
        y.add_(x)
        return y


def test_a_copied_constant_takes_the_name_of_the_variable_the_line_changes():
    text = forward_of(fxgen.render(ChangesAConstant(), example_inputs=(torch.randn(3),), capture="fx"), "ChangesAConstant")
    assert "        y = self._tensor_constant0.clone()\n        y.add_(x)\n        return y" in text, text
