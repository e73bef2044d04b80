"""`Program`: the plain, template-ready view of a lowered graph.

This is the context every template receives (as `program`). It is a versioned
interface (`CONTEXT_VERSION`): fields are only added, never renamed or re-typed. Every
`str` field that holds code is complete, escaped, correctly parenthesised Python; every
field that holds a comment is a single line that cannot leave its comment. A template
decides layout only, so printing any field as given can never produce wrong or
injected code.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

__all__ = [
    "CONTEXT_VERSION",
    "Program",
    "ClassDef",
    "Function",
    "Param",
    "Statement",
    "InitStatement",
    "LoadSpec",
    "ExampleInput",
    "Weights",
    "FunctionalSpec",
    "GraphNode",
    "Diagram",
    "DiagramGroup",
    "DiagramBox",
]

#: Bumped when a field is added; existing fields never change meaning.
CONTEXT_VERSION = 1


@dataclass(slots=True)
class Param:
    """One input of `forward` (an FX `placeholder`)."""

    opcode: str  #: always "placeholder"
    node: torch.fx.Node  #: the FX node, for advanced templates
    name: str  #: the parameter's name, an identifier
    annotation: str | None  #: its type as source (`torch.Tensor`), or None
    default: str | None  #: its default value as source, or None
    star: str  #: "" for a plain parameter, "*" for `*args`, "**" for `**kwargs`
    keyword_only: bool = False  #: True for an input that was passed by keyword


@dataclass(slots=True)
class Statement:
    """One statement of a function body, from one FX node (opcodes other than placeholder),
    a `with` block (opcode "with") around the statements of a no_grad/autocast region, or
    the residual kept before a chain (opcode "alias": `identity = x`)."""

    opcode: str  #: "get_attr", "call_function", "call_method", "call_module", "output", "with" or "alias"
    node: torch.fx.Node | None  #: the FX node, for advanced templates (None for "with" and "alias")
    targets: str  #: what the value is bound to (`x`, `a, b`) or stored into (`x[:, 0]`); "" for none (and for output)
    op: str  #: the assignment operator: "=" or an augmented one such as "+="
    expr: str  #: the value as a Python expression
    comment: str | None = None  #: a one-line comment for the statement, without `# `
    deletes: list[str] = field(default_factory=list)  #: names to `del` after it
    #: what capture recorded about the value, e.g. {"shape": "(2, 3)", "dtype": "float32"}
    #: (also "source" and "source_code": its source line); filled only where a template
    #: of the style names `meta`
    meta: dict[str, str] = field(default_factory=dict)
    #: for opcode "with": the statements inside the block (`expr` is the context manager)
    body: list["Statement"] = field(default_factory=list)


@dataclass
class Function:
    """A function or method: its parameters, body and return statement."""

    name: str  #: "forward"
    params: list[Param]  #: in order, without `self`
    body: list[Statement]  #: statements other than the return
    result: Statement  #: the `output` statement; its `expr` is the returned value


@dataclass
class InitStatement:
    """One statement of `__init__` that rebuilds part of the module tree."""

    kind: str  #: "module", "parameter", "buffer", "tie" or "requires_grad"
    path: str  #: the qualified name it defines, e.g. "layer1.0.conv1"
    code: str  #: the whole statement, e.g. `self.conv1 = torch.nn.Conv2d(...)`


@dataclass
class ClassDef:
    """An `nn.Module` subclass of the generated file."""

    name: str  #: the class name, an identifier
    base: str  #: the base class as source, "torch.nn.Module"
    init: list[InitStatement]  #: body of `__init__` after `super().__init__()` (empty: no `__init__` is written)
    forward: Function  #: the `forward` method
    notes: list[str] = field(default_factory=list)  #: one-line comments: why code was inlined
    original: str = ""  #: the original module's class name (variants share it)
    #: True for a variant that only overrides `forward` of its base class (`base` is then
    #: that generated class): its `__init__` is inherited and not written
    inherits_init: bool = False
    #: the arguments `__init__` takes (`in_channels`, ...), each passed by keyword: values
    #: in which variants of one class differ (`fxgen/variants.py`); made only for a style
    #: whose templates name `init_params` and none writes `def __init__(self):` (else each
    #: variant is a class of its own)
    init_params: list[str] = field(default_factory=list)


@dataclass
class ExampleInput:
    """One example input as recorded at export time (the `script` style recreates it)."""

    name: str  #: its parameter name (a keyword input is passed by this name)
    key: str  #: the name as a string literal (`"input_ids"`)
    keyword: bool  #: passed by keyword
    source: str  #: an expression that makes a value like it: `torch.randn(5, 4)`
    description: str  #: what was recorded, safe in a comment: `int64 (2, 8) in [3, 99]`


@dataclass
class LoadSpec:
    """What the module-level `load()` does after `load_state_dict`."""

    class_name: str  #: the class `load()` builds
    restores_buffers: bool  #: whether the weight file holds buffers outside the state dict
    #: statements run on the loaded `model`, e.g. `model.head.weight = model.embed.weight`
    fixups: list[str] = field(default_factory=list)
    #: comments explaining the fixups, one line each
    notes: list[str] = field(default_factory=list)


@dataclass
class GraphNode:
    """One node of the captured graph, as the `ir` style lists it."""

    node: torch.fx.Node  #: the FX node, for advanced templates
    name: str  #: its name in the graph (`sum_1`)
    opcode: str  #: one of the six FX opcodes
    target: str  #: its target as text: `torch.sum`, `linear.weight`, `relu`, `x`
    args: str  #: positional arguments in FX's notation: `(%relu, 3)`
    kwargs: str  #: keyword arguments in FX's notation: `{dim: -1}`
    users: int  #: how many nodes use its value
    type: str | None  #: its annotation (`torch.Tensor`), if the graph records one
    module: str  #: qualified name of the innermost module it ran in ("" for the model)


@dataclass
class DiagramGroup:
    """A module drawn as a box around its operations (a Mermaid subgraph)."""

    id: str  #: a Mermaid identifier
    label: str  #: escaped text: `layer1.0 · BasicBlock`
    parent: str | None  #: id of the enclosing group, None at the top
    boxes: list["DiagramBox"] = field(default_factory=list)  #: what it contains directly
    groups: list["DiagramGroup"] = field(default_factory=list)  #: modules inside it


@dataclass
class DiagramBox:
    """One drawn step: an operation, an input, the output, or a collapsed module."""

    id: str  #: a Mermaid identifier
    label: str  #: escaped text: `conv1 · Conv2d`, `softmax`, `x`
    shape: str  #: "input", "output", "module" (collapsed) or "op"


@dataclass
class Diagram:
    """The program as a picture: nested module boxes, steps and data-flow edges."""

    top: DiagramGroup  #: the model itself (its `label` is the class name)
    edges: list[tuple[str, str]]  #: (from id, to id), each once, in graph order


@dataclass
class FunctionalSpec:
    """What the `functional` style's forward needs besides `state` and its inputs."""

    #: source of the device to load constants on (`x.device`), or None when it reads none
    constants_device: str | None
    #: modules whose functional form is not bit-exact (see fxgen.functional.APPROXIMATE):
    #: qualified name -> class name; empty when the whole file is exact
    approximate: dict[str, str] = field(default_factory=dict)


@dataclass
class Weights:
    """Tensors saved beside the code file (not used by templates)."""

    #: makes the original model's state dict, when it is first read (rendering never does)
    make_state_dict: Callable[[], dict[str, torch.Tensor]]
    #: non-persistent buffers and tensor constants, by qualified name
    buffers: dict[str, torch.Tensor]

    @functools.cached_property
    def state_dict(self) -> dict[str, torch.Tensor]:
        """The original model's state dict."""
        return self.make_state_dict()


@dataclass
class Program:
    """Everything a file template needs to write one generated file."""

    context_version: int  #: CONTEXT_VERSION
    style: str  #: the style being rendered
    header: list[str]  #: lines of the `@generated` header, without comment syntax
    imports: list[str]  #: import statements, sorted
    classes: list[ClassDef]  #: the classes, dependencies first; the last one is the model
    load: LoadSpec  #: the module-level `load()` function
    weights: Weights  #: tensors for the weight file
    node_count: int  #: number of nodes in the graph
    capture: str  #: how the graph was captured: "fx" or "export"
    original: Any  #: the program the file reproduces (for verification; not for templates)
    graph: list[GraphNode] = field(default_factory=list)  #: the flat graph (`ir` style)
    #: the example inputs given at export time, in call order (empty without them)
    example_inputs: list[ExampleInput] = field(default_factory=list)
    diagram: Diagram | None = None  #: the picture of the program (`mermaid` style)
    functional: FunctionalSpec | None = None  #: for the `functional` style
    #: free-form extras for user styles; fxgen itself never reads it
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> ClassDef:
        """The class that `load()` builds."""
        return self.classes[-1]
