"""Variants of one class that differ only in constructor arguments: one class taking them."""

from __future__ import annotations

from pathlib import Path

import torch

import fxgen
from fxgen.program import ClassDef, Function, InitStatement, Statement
from fxgen.render import TEMPLATES
from fxgen.variants import merge_variants
from tests.zoo import ZOO


def _class(token: str, *init: str, forward: str = "self.conv(x)") -> ClassDef:
    statements = [InitStatement("module", code.split(" = ")[0].removeprefix("self."), code) for code in init]
    result = Statement("output", None, "", "", forward)
    return ClassDef(token, "torch.nn.Module", statements, Function("forward", [], [], result), original="Block")


def _root(*calls: str) -> ClassDef:
    return _class("Root", *(f"self.b{i} = {call}" for i, call in enumerate(calls)))


def test_blocks_built_with_other_arguments_are_one_class_that_takes_them(tmp_path):
    model, inputs = ZOO["stages"]()
    result = fxgen.export(model, tmp_path / "stages_gen.py", example_inputs=inputs)
    text = result.code_path.read_text()
    assert result.verified
    # seven ConvBN calls of three shapes (1x1, depthwise 3x3, the stem), three blocks of one shape
    assert text.count("\nclass ConvBN") == 3 and text.count("\nclass InvertedResidual") == 1, text
    assert "    def __init__(self, in_channels, out_channels, num_features):\n" in text, text
    assert "            stride=stride,\n            padding=1,\n            groups=groups," in text, text
    loaded = fxgen.load(result.code_path)
    assert list(loaded.state_dict()) == list(model.state_dict())
    assert torch.equal(loaded(*inputs), model(*inputs))


def test_a_style_whose_templates_do_not_name_init_params_keeps_the_variants(tmp_path):
    # a template written before classes took arguments writes `def __init__(self):`
    folder = tmp_path / "old"
    folder.mkdir()
    module = (TEMPLATES / "module" / "file.py.jinja").read_text()
    old = module.replace("{% for param in cls.init_params %}, {{ param }}{% endfor %}", "")
    assert old != module
    (folder / "file.py.jinja").write_text(old)
    model, inputs = ZOO["stages"]()
    result = fxgen.export(model, tmp_path / "stages_gen.py", example_inputs=inputs, template_dirs=[folder])
    text = result.code_path.read_text()
    assert result.verified and "def __init__(self," not in text and "class InvertedResidual_v3(" in text, text


def test_a_user_class_block_that_writes_init_without_arguments_keeps_the_variants(tmp_path):
    # a style extending the module style, its `class` block copied from before classes took arguments
    module = (TEMPLATES / "module" / "file.py.jinja").read_text()
    block = module[module.index("{% block class scoped %}") : module.index("{%- endblock %}") + len("{%- endblock %}")]
    old_block = block.replace("{% for param in cls.init_params %}, {{ param }}{% endfor %}", "")
    assert old_block != block and "init_params" not in old_block
    style = tmp_path / "mine"
    style.mkdir()
    (style / "style.json").write_text('{"description": "module, with an old class block", "extends": "module"}')
    (style / "file.py.jinja").write_text('{% extends "module/file.py.jinja" %}' + old_block)
    model, inputs = ZOO["stages"]()
    result = fxgen.export(model, tmp_path / "stages_gen.py", style="mine", example_inputs=inputs, template_dirs=[tmp_path])
    text = result.code_path.read_text()
    assert result.verified and "def __init__(self," not in text and "class InvertedResidual_v3(" in text, text


def test_keywords_share_an_argument_only_with_themselves():
    # stride and padding take the same values in both variants: still two arguments
    first = _class("\x010\x01", "self.conv = torch.nn.Conv2d(in_channels=4, stride=1, padding=1)", "self.other = torch.nn.Conv2d(in_channels=4)")
    second = _class("\x011\x01", "self.conv = torch.nn.Conv2d(in_channels=8, stride=2, padding=2)", "self.other = torch.nn.Conv2d(in_channels=8)")
    root = _root("\x010\x01()", "\x011\x01()")
    classes, uses = [first, second, root], {"\x010\x01": 1, "\x011\x01": 1}
    merge_variants(classes, uses)
    assert classes == [first, root] and uses == {"\x010\x01": 2}
    assert first.init_params == ["in_channels", "stride", "padding"]
    assert first.init[0].code == "self.conv = torch.nn.Conv2d(in_channels=in_channels, stride=stride, padding=padding)"
    assert first.init[1].code == "self.other = torch.nn.Conv2d(in_channels=in_channels)"  # the same values: one argument
    assert [s.code for s in root.init] == [
        "self.b0 = \x010\x01(in_channels=4, stride=1, padding=1)",
        "self.b1 = \x010\x01(in_channels=8, stride=2, padding=2)",
    ]


def test_sizes_of_a_parameter_share_one_argument_per_dimension():
    first = _class("\x010\x01", "self.weight = torch.nn.Parameter(torch.empty(16))", "self.bias = torch.nn.Parameter(torch.empty(16))",
                   "self.table = torch.nn.Parameter(torch.empty(49, 2))")
    second = _class("\x011\x01", "self.weight = torch.nn.Parameter(torch.empty(32))", "self.bias = torch.nn.Parameter(torch.empty(32))",
                    "self.table = torch.nn.Parameter(torch.empty(49, 4))")
    merge_variants([first, second, _root("\x010\x01()", "\x011\x01()")], {})
    assert first.init_params == ["size", "size_1"]
    assert [s.code for s in first.init] == [
        "self.weight = torch.nn.Parameter(torch.empty(size))",
        "self.bias = torch.nn.Parameter(torch.empty(size))",
        "self.table = torch.nn.Parameter(torch.empty(49, size_1))",
    ]


def test_variants_that_differ_elsewhere_stay_apart():
    cases = [
        ("self.conv = torch.nn.Conv2d(kernel_size=3)", "self.conv = torch.nn.Conv2d(kernel_size=(3, 3))"),  # not one literal
        ("self.conv = torch.nn.Conv2d(4, stride=1)", "self.conv = torch.nn.Conv2d(8, stride=1)"),  # positional
        ("self.conv = torch.nn.Conv2d(stride=1)", "self.conv = torch.nn.Conv2d(stride=1, groups=2)"),  # another keyword
        ("self.conv = torch.nn.Conv2d(padding=1)", "self.conv = torch.nn.Conv2d(padding=-1)"),  # a sign, not a literal
    ]
    for one, other in cases:
        classes = [_class("\x010\x01", one), _class("\x011\x01", other), _root("\x010\x01()", "\x011\x01()")]
        merge_variants(classes, {})
        assert len(classes) == 3 and not classes[0].init_params, (one, other)
    forwards = [_class("\x010\x01", "self.conv = f(a=1)"), _class("\x011\x01", "self.conv = f(a=2)", forward="x")]
    merge_variants(forwards + [_root()], {})
    assert not forwards[0].init_params  # another forward: another class


def test_an_argument_never_hides_a_name_the_init_reads():
    # a keyword named like the module the code reads (`torch`) or like `self`
    first = _class("\x010\x01", "self.conv = torch.nn.Conv2d(torch=1, self=1)", "self.norm = torch.nn.Conv2d(torch=5)")
    second = _class("\x011\x01", "self.conv = torch.nn.Conv2d(torch=2, self=2)", "self.norm = torch.nn.Conv2d(torch=6)")
    merge_variants([first, second, _root("\x010\x01()", "\x011\x01()")], {})
    assert first.init_params == ["conv_torch", "conv_self", "norm_torch"], first.init_params


def test_merged_blocks_make_their_parents_one_class_too():
    inner = [_class(f"\x01{i}\x01", f"self.conv = torch.nn.Conv2d(out_channels={8 * (i + 1)})") for i in range(2)]
    outer = [_class(f"\x01{i + 2}\x01", f"self.inner = \x01{i}\x01()", forward="self.inner(x)") for i in range(2)]
    for cls in outer:
        cls.original = "Outer"
    root = _root("\x012\x01()", "\x013\x01()")
    classes = [*inner, *outer, root]
    merge_variants(classes, {})
    assert classes == [inner[0], outer[0], root]
    assert outer[0].init[0].code == "self.inner = \x010\x01(out_channels=out_channels)"
    assert [s.code for s in root.init] == ["self.b0 = \x012\x01(out_channels=8)", "self.b1 = \x012\x01(out_channels=16)"]


def test_the_golden_file_reads_as_one_class_per_block_shape():
    text = Path("golden/module/stages.py").read_text()
    assert text.count("\nclass ") == 5 and "_v4" not in text


class _Norm(torch.nn.Module):
    """A norm with a parameter of its own (transformers' RMSNorm): not a built-in leaf."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(size))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


class _Heads(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.q_norm, self.norm = _Norm(4), _Norm(8)

    def forward(self, x):
        q = self.q_norm(x.view(2, 2, 4))
        return self.norm(q.reshape(2, 8))


def test_a_parameter_that_differs_in_size_is_an_argument(tmp_path):
    model, inputs = _Heads(), (torch.randn(2, 8),)
    result = fxgen.export(model, tmp_path / "heads_gen.py", example_inputs=inputs)
    text = result.code_path.read_text()
    assert result.verified and text.count("\nclass Norm") == 1, text
    assert "    def __init__(self, size):\n" in text and "torch.nn.Parameter(torch.empty(size))" in text, text
    assert "self.q_norm = Norm(size=4)" in text and "self.norm = Norm(size=8)" in text, text


def test_a_name_spelled_like_a_class_token_is_left_as_it_is():
    first = _class("\x010\x01", "self.__fxgen_class_0__ = torch.nn.Conv2d(stride=1)")
    second = _class("\x011\x01", "self.__fxgen_class_0__ = torch.nn.Conv2d(stride=2)")
    classes = [first, second, _root("\x010\x01()", "\x011\x01()")]
    merge_variants(classes, {})
    assert len(classes) == 3 and first.init[0].code == "self.__fxgen_class_0__ = torch.nn.Conv2d(stride=1)"
