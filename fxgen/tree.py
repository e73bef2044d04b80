"""The module tree as `__init__` statements, and how generated code reaches each member.

Built-in leaves become constructor calls (`modules.py`), containers keep their kind
(`torch.nn.Sequential(...)`, `torch.nn.ModuleList([...])`, `torch.nn.ModuleDict({...})`),
and every other module becomes a plain `torch.nn.Module()` whose parameters, buffers
and children are assigned one by one. Statements keep the original registration order,
so `state_dict()` has the original keys in the original order. A shared (tied) module
or tensor is created once and then aliased; `load()` re-ties tensors, because
`load_state_dict(assign=True)` replaces each alias separately.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from fxgen.errors import ExportError
from fxgen.modules import (
    Candidates,
    Constructor,
    EmptyTensor,
    constructor_for,
    constructor_key,
    is_builtin,
    is_container,
)
from fxgen.naming import attribute, is_attr_name
from fxgen.program import InitStatement
from fxgen.pyexpr import ExprWriter, string_literal
from fxgen.reuse import Unkeyable

__all__ = [
    "ModuleTree",
    "ConstructorCache",
    "StructureKeys",
    "build_tree",
    "add_constant",
    "module_kind",
    "tensor_source",
    "join_path",
    "submodule",
]


class ConstructorCache:
    """`constructor_for` memoised per module object, for one export."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[nn.Module, Constructor | str]] = {}
        self._candidates: Candidates = {}  # what `constructor_for` built to check against

    def get(self, module: nn.Module) -> Constructor | str:
        hit = self._cache.get(id(module))
        if hit is None or hit[0] is not module:
            hit = (module, constructor_for(module, self._candidates))
            self._cache[id(module)] = hit
        return hit[1]

    def copy(self) -> ConstructorCache:
        """A cache holding what this one holds now, filled apart from it from then on."""
        other = ConstructorCache()
        other._cache, other._candidates = dict(self._cache), dict(self._candidates)
        return other

    def is_leaf(self, module: nn.Module) -> bool:
        """Whether the module is rebuilt by one constructor call."""
        return is_builtin(module) and not is_container(module) and isinstance(self.get(module), Constructor)


@dataclass
class ModuleTree:
    """The rebuilt module tree of one generated class."""

    #: qualified module name -> how it is rebuilt: "leaf", "sequential" (numbered
    #: children), "named_sequential", "list", "dict", "params", "param_dict" or "plain"
    kinds: dict[str, str]
    init: list[InitStatement] = field(default_factory=list)  #: statements of `__init__`
    buffers: dict[str, torch.Tensor] = field(default_factory=dict)  #: restored by `load()`
    load_fixups: list[str] = field(default_factory=list)  #: statements on `model` after loading
    #: (target, base) -> `member`'s source; a module's kind is set before anything below it is reached
    _members: dict[tuple[str, str], str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def member(self, target: str, base: str = "self") -> str:
        """Source that reaches `target` ("layer1.0.conv1.weight") from `base` (made once
        per target, from its owner's: a class reaches each member many times)."""
        if not target:
            return base
        source = self._members.get((target, base))
        if source is None:
            owner, _, part = target.rpartition(".")
            reach = self.member(owner, base)
            source = self._members[target, base] = _child_access(reach, self.kinds.get(owner, "plain"), part)
        return source


def build_tree(
    root: nn.Module,
    writer: ExprWriter,
    cache: ConstructorCache,
    numbered_modules_are_lists: bool,
    classes: dict[str, str] | None = None,
) -> ModuleTree:
    """Rebuild `root`'s tree; the root itself is the generated class (`self`).

    `classes` maps qualified names of descendants to generated classes that build
    themselves (`self.encoder = BertEncoder()`); their subtrees are still walked, without
    statements, so that access paths, `load()` fixups and buffers cover the whole tree.
    """
    builder = _Builder(writer, cache, numbered_modules_are_lists, classes or {})
    builder.visit_root(root)
    return builder.tree


def module_kind(module: nn.Module, cache: ConstructorCache, numbered_modules_are_lists: bool) -> str:
    """How `build_tree` rebuilds a module that is not a generated class (`ModuleTree.kinds`)."""
    if isinstance(module, nn.ParameterList):
        return "params"
    if isinstance(module, nn.ParameterDict):
        return "param_dict"
    if type(module) is nn.Sequential:
        return "sequential" if _numbered(module) else "named_sequential"
    if type(module) is nn.ModuleList:
        return "list"
    if type(module) is nn.ModuleDict:
        return "dict"
    if cache.is_leaf(module):
        return "leaf"
    if numbered_modules_are_lists and type(module) is nn.Module and module._modules and _numbered(module):
        if not module._parameters and not module._buffers:
            return "list"  # GraphModule flattens ModuleList/Sequential into plain modules
    return "plain"


def _numbered(module: nn.Module) -> bool:
    """Whether the children are named 0, 1, 2, ..."""
    return all(name == str(i) for i, name in enumerate(module._modules))


class StructureKeys:
    """Keys of module subtrees: equal keys make equal `build_tree` results (equal
    `__init__` code, kinds and buffers by name), given equal generated classes below.

    A key holds each module's type, kind, mode and constructor (leaves) and each tensor's
    name, shape, dtype, device, `requires_grad` and persistence. A subtree holding a
    tensor or module that appears twice in the root (a tie) has no key: `build_tree`
    writes ties by where the other occurrence is."""

    def __init__(self, root: nn.Module, cache: ConstructorCache, numbered_modules_are_lists: bool) -> None:
        self.cache = cache
        self.numbered_modules_are_lists = numbered_modules_are_lists
        self.keys: dict[int, Any] = {}
        counts: dict[int, int] = {}
        for module in root.modules(remove_duplicate=False):
            for item in [module, *module._parameters.values(), *module._buffers.values()]:
                if item is not None:
                    counts[id(item)] = counts.get(id(item), 0) + 1
        self.shared = {key for key, count in counts.items() if count > 1}
        self.keepalive = root  # the ids above stay unique while the root lives

    def key(self, module: nn.Module) -> Any:
        """The module's subtree key; raises `Unkeyable` for a subtree with a tie."""
        key = self.keys.get(id(module))
        if key is None:
            key = self.keys[id(module)] = self._key(module)
        if key is _TIED:
            raise Unkeyable(type(module).__name__)
        return key

    def _key(self, module: nn.Module) -> Any:
        if id(module) in self.shared:
            return _TIED
        kind = module_kind(module, self.cache, self.numbered_modules_are_lists)
        tensors = []
        for name, tensor in module._parameters.items():
            tensors.append((name, True, _tensor_key(tensor)))
        for name, tensor in module._buffers.items():
            tensors.append((name, name not in module._non_persistent_buffers_set, _tensor_key(tensor)))
        if any(tensor is not None and id(tensor) in self.shared for tensor in [*module._parameters.values(), *module._buffers.values()]):
            return _TIED
        try:
            children = tuple((name, None if child is None else self.key(child)) for name, child in module._modules.items())
            constructor = constructor_key(self.cache.get(module)) if kind == "leaf" else None
        except Unkeyable:
            return _TIED
        return (type(module), kind, module.training, constructor, tuple(tensors), children)


_TIED = object()  # a subtree without a key


def submodule(module: nn.Module, name: str) -> nn.Module | None:
    """`module.get_submodule(name)`, or None where there is no such submodule (each step
    looked up once: `get_submodule` asks `hasattr` first, through `Module.__getattr__`)."""
    if not name:
        return module
    for part in name.split("."):
        child = module._modules.get(part)
        if child is None or part in module.__dict__ or part in _class_attributes(type(module)):
            child = getattr(module, part, None)  # what attribute syntax reaches, where it may not be the child
        if not isinstance(child, nn.Module):
            return None
        module = child
    return module


@functools.lru_cache(maxsize=1024)
def _class_attributes(cls: type) -> frozenset[str]:
    """The names a class (and its bases) defines, which attribute syntax finds before a
    registered child (a property named like one)."""
    return frozenset(dir(cls))


def _tensor_key(tensor: torch.Tensor | None) -> Any:
    if tensor is None:
        return None
    return (type(tensor), tuple(tensor.shape), tensor.dtype, tensor.device, tensor.requires_grad)


def _child_access(owner: str, owner_kind: str, name: str) -> str:
    if owner_kind in ("list", "sequential", "params") and name.isdigit():
        return f"{owner}[{name}]"
    if owner_kind in ("dict", "param_dict"):
        return f"{owner}[{string_literal(name)}]"
    return attribute(owner, name)


#: this many equal constructor calls in a row are written as a comprehension
_RUN = 3


def _runs(items: list[str]) -> list[str]:
    """`Block(), Block(), Block()` -> `*[Block() for _ in range(3)]` (distinct instances)."""
    out: list[str] = []
    i = 0
    while i < len(items):
        j = i
        while j < len(items) and items[j] == items[i]:
            j += 1
        if j - i >= _RUN:
            out.append(f"*[{items[i]} for _ in range({j - i})]")
        else:
            out.extend(items[i:j])
        i = j
    return out


def join_path(path: str, name: str) -> str:
    """`path.name`; either alone where the other is empty (a module's own members)."""
    return f"{path}.{name}" if path and name else path or name


class _Builder:
    def __init__(
        self, writer: ExprWriter, cache: ConstructorCache, numbered_modules_are_lists: bool, classes: dict[str, str]
    ) -> None:
        self.writer = writer
        self.cache = cache
        self.numbered_modules_are_lists = numbered_modules_are_lists
        self.classes = classes
        self.quiet = 0  # > 0 inside a generated class's subtree: walk, but write nothing
        self.tree = ModuleTree(kinds={"": "plain"})
        self.late: list[InitStatement] = []  # ties and requires_grad, after the whole tree
        self.tensor_ties: list[tuple[str, str]] = []  # (alias, original) for load()
        self.seen_modules: dict[int, str] = {}  # id -> qualified name of first occurrence
        self.seen_tensors: dict[int, str] = {}  # id -> qualified name of first occurrence
        self.keepalive: list[Any] = []  # ids above stay unique while we hold these
        self.constructor_texts: dict[Any, str] = {}  # constructor key -> its call's source
        self.class_objects: dict[int, str] = {}  # id of a module some path makes a generated class -> that class

    def visit_root(self, root: nn.Module) -> None:
        for path, name in self.classes.items():  # a module shared under several paths is its class at each
            module = submodule(root, path)
            if module is not None:
                self.class_objects.setdefault(id(module), name)
        self.seen_modules[id(root)] = ""
        self.fill(root, "")
        self.tree.init.extend(self.late)
        for alias, original in self.tensor_ties:
            self.tree.load_fixups.append(f"{self.tree.member(alias, 'model')} = {self.tree.member(original, 'model')}")
        self.training_fixups(root)

    def kind(self, module: nn.Module, path: str) -> str:
        if path in self.classes or id(module) in self.class_objects:
            return "class"
        return module_kind(module, self.cache, self.numbered_modules_are_lists)

    # -- modules --------------------------------------------------------------------

    def expression(self, module: nn.Module | None, path: str) -> str:
        """Source that creates `module`; members of plain modules are added by `fill`."""
        if module is None:
            return "None"
        first = self.seen_modules.get(id(module))
        if first is not None:  # an alias: a placeholder now, the original once it exists
            self.tree.kinds[path] = self.tree.kinds[first]
            self.tie(path, first)
            return f"{self.writer.qualified(nn.Module)}()"
        kind = self.kind(module, path)
        self.tree.kinds[path] = kind
        self.seen_modules[id(module)] = path
        self.keepalive.append(module)
        if kind == "class":
            self.quiet += 1
            self.tree.kinds[path] = "plain"  # how its own __init__ sees itself
            self.fill(module, path)
            self.tree.kinds[path] = "class"
            self.quiet -= 1
            return f"{self.classes.get(path) or self.class_objects[id(module)]}()"
        if kind == "leaf":
            return self.leaf(module, path)
        if kind in ("sequential", "list", "dict"):
            cls = nn.ModuleList if kind == "list" else type(module)
            items = []
            for name, child in module._modules.items():
                source = self.expression(child, join_path(path, name))
                items.append(f"{string_literal(name)}: {source}" if kind == "dict" else source)
            if kind in ("sequential", "list"):
                items = _runs(items)
            inner = ", ".join(items)
            if kind == "list" and len(items) == 1 and items[0].startswith("*"):
                wrapped = items[0][1:]  # `[Block() for _ in range(12)]`
            else:
                wrapped = {"sequential": inner, "list": f"[{inner}]", "dict": f"{{{inner}}}"}[kind]
            return f"{self.writer.qualified(cls)}({wrapped})"
        if kind in ("params", "param_dict"):
            items = []
            for name, param in module._parameters.items():
                self.note_tensor(param, join_path(path, name))
                source = self.tensor_source(param, is_param=True)
                items.append(source if kind == "params" else f"{string_literal(name)}: {source}")
            inner = f"[{', '.join(items)}]" if kind == "params" else f"{{{', '.join(items)}}}"
            return f"{self.writer.qualified(type(module))}({inner})"
        cls = nn.Sequential if kind == "named_sequential" else nn.Module
        return f"{self.writer.qualified(cls)}()"

    def leaf(self, module: nn.Module, path: str) -> str:
        constructor = self.cache.get(module)
        assert isinstance(constructor, Constructor)
        subs = module.named_modules(remove_duplicate=False) if module._modules else [("", module)]
        for sub_path, sub in subs:
            prefix = join_path(path, sub_path)
            for name, tensor in [*sub._parameters.items(), *sub._buffers.items()]:
                if tensor is not None and self.note_tensor(tensor, join_path(prefix, name)):
                    if name in sub._non_persistent_buffers_set:
                        self.tree.buffers[join_path(prefix, name)] = tensor
        if self.quiet:  # inside a generated class: its own `__init__` writes the call
            return ""
        for name, flag in constructor.requires_grad.items():
            target = join_path(path, name)
            self.statement(InitStatement("requires_grad", target, f"{self.tree.member(target)}.requires_grad_({flag})"), late=True)
        try:
            key = constructor_key(constructor)
        except Unkeyable:
            return self.constructor_source(constructor)
        text = self.constructor_texts.get(key)
        if text is None:  # a model's leaves are mostly a few configurations, made again and again
            text = self.constructor_texts[key] = self.constructor_source(constructor)
        return text

    def fill(self, module: nn.Module, path: str) -> None:
        """Add a plain module's own members, filling each child right after it is created."""
        kind = self.tree.kinds[path]
        if kind in ("leaf", "params", "param_dict", "class"):
            return
        owner = self.tree.member(path)
        plain = kind in ("plain", "named_sequential")
        if plain:
            for name, param in module._parameters.items():
                self.add_tensor(owner, path, name, param, is_param=True)
            for name, buf in module._buffers.items():
                persistent = name not in module._non_persistent_buffers_set
                self.add_tensor(owner, path, name, buf, is_param=False, persistent=persistent)
        for name, child in module._modules.items():
            child_path = join_path(path, name)
            if plain:
                source = self.expression(child, child_path)
                code = f"{owner}.{name} = {source}" if is_attr_name(name) else (
                    f"{owner}.add_module({string_literal(name)}, {source})"
                )
                self.statement(InitStatement("module", child_path, code))
            if child is not None and self.seen_modules.get(id(child)) == child_path:
                self.fill(child, child_path)

    # -- tensors --------------------------------------------------------------------

    def note_tensor(self, tensor: torch.Tensor, qualified: str) -> bool:
        """Remember a tensor's first occurrence; an alias becomes a tie. True if first."""
        first = self.seen_tensors.get(id(tensor))
        if first is None:
            self.seen_tensors[id(tensor)] = qualified
            self.keepalive.append(tensor)
            return True
        self.tie(qualified, first)
        self.tensor_ties.append((qualified, first))
        return False

    def tie(self, alias: str, first: str) -> None:
        """`alias` made the same object as `first`, after the whole tree exists; a tie inside
        one generated class is that class's own business (its `__init__` writes it)."""
        across = self.owning_class(alias) != self.owning_class(first)
        tie = InitStatement("tie", alias, f"{self.tree.member(alias)} = {self.tree.member(first)}")
        self.statement(tie, late=True, force=across)

    def add_tensor(
        self,
        owner: str,
        path: str,
        name: str,
        tensor: torch.Tensor | None,
        is_param: bool,
        persistent: bool = True,
    ) -> None:
        qualified = join_path(path, name)
        if tensor is not None and not self.note_tensor(tensor, qualified):
            return
        register = "register_parameter" if is_param else "register_buffer"
        source = "None" if tensor is None else self.tensor_source(tensor, is_param)
        if not persistent:
            if tensor is not None:
                self.tree.buffers[qualified] = tensor
            code = f"{owner}.{register}({string_literal(name)}, {source}, persistent=False)"
        elif is_param and tensor is not None and is_attr_name(name):
            code = f"{owner}.{name} = {source}"
        else:
            code = f"{owner}.{register}({string_literal(name)}, {source})"
        self.statement(InitStatement("parameter" if is_param else "buffer", qualified, code))

    def statement(self, statement: InitStatement, late: bool = False, force: bool = False) -> None:
        """Add an `__init__` statement, unless inside a generated class's subtree."""
        if self.quiet and not force:
            return
        (self.late if late else self.tree.init).append(statement)

    def owning_class(self, path: str) -> str | None:
        """The nearest enclosing generated class of a qualified name (None: this class)."""
        best = None
        for prefix in self.classes:
            if path.startswith(prefix + ".") and (best is None or len(prefix) > len(best)):
                best = prefix
        return best

    def tensor_source(self, tensor: torch.Tensor, is_param: bool) -> str:
        return tensor_source(tensor, is_param, self.writer)

    def constructor_source(self, constructor: Constructor) -> str:
        parts = ", ".join(f"{name}={self.argument_source(value)}" for name, value in constructor.kwargs.items())
        source = f"{self.writer.qualified(constructor.cls)}({parts})"
        for wrapper in constructor.wrappers:
            options = "".join(f", {name}={self.argument_source(v)}" for name, v in wrapper.kwargs.items())
            source = f"{self.writer.qualified(wrapper.function)}({source}{options})"
        return source

    def argument_source(self, value: Any) -> str:
        if isinstance(value, Constructor):
            return self.constructor_source(value)
        if isinstance(value, EmptyTensor):
            return self.tensor_source(torch.empty(value.shape, dtype=value.dtype, device="meta"), is_param=False)
        return self.writer.value(value).text

    # -- load() -----------------------------------------------------------------------

    def training_fixups(self, root: nn.Module) -> None:
        """`model.eval()` (or `.train()`), then the fewest statements that restore every
        submodule's own mode: `.train()`/`.eval()` where a whole subtree shares the mode,
        `.training = ...` for a module alone where its children differ from it."""
        self.tree.load_fixups.append("model.train()" if root.training else "model.eval()")
        self.restore_modes(root, "", root.training)

    def restore_modes(self, module: nn.Module, path: str, mode: bool) -> None:
        """`training_fixups` for the children of `module`, which is in `mode` once the
        statements so far have run (a method, not a recursive closure: a closure that
        calls itself is a reference cycle, which would keep the builder and everything
        it made alive until the next collection)."""
        fixups = self.tree.load_fixups
        for name, child in module._modules.items():
            child_path = join_path(path, name)
            if child is None or self.seen_modules.get(id(child)) != child_path:
                continue
            if child.training == mode:
                self.restore_modes(child, child_path, mode)
                continue
            member = self.tree.member(child_path, "model")
            if all(m.training == child.training for m in child.modules()):
                fixups.append(f"{member}.{'train' if child.training else 'eval'}()")
                continue
            fixups.append(f"{member}.training = {child.training}")
            self.restore_modes(child, child_path, mode)


def add_constant(tree: ModuleTree, target: str, tensor: torch.Tensor, writer: ExprWriter) -> None:
    """Declare a tensor the graph reads that is neither parameter nor buffer (a constant)
    as a non-persistent buffer, so it moves with `.to()` and is saved with the weights."""
    owner_path, _, name = target.rpartition(".")
    if tree.kinds.get(owner_path) not in ("plain", "named_sequential"):
        raise ExportError(
            f"the graph reads the tensor {target!r}, which is not a parameter or buffer of "
            "a module fxgen can add members to. Register it as a buffer."
        )
    source = tensor_source(tensor, False, writer)
    owner = tree.member(owner_path)
    tree.init.append(
        InitStatement("buffer", target, f"{owner}.register_buffer({string_literal(name)}, {source}, persistent=False)")
    )
    tree.buffers[target] = tensor


def tensor_source(tensor: torch.Tensor, is_param: bool, writer: ExprWriter) -> str:
    """`torch.nn.Parameter(torch.empty(3, 4))`: shape and dtype; values come from the weights."""
    shape = ", ".join(str(d) for d in tensor.shape) or "()"
    dtype = "" if tensor.dtype == torch.get_default_dtype() else f", dtype={writer.value(tensor.dtype).text}"
    empty = f"{writer.qualified(torch.empty)}({shape}{dtype})"
    if not is_param:
        return empty
    frozen = "" if tensor.requires_grad else ", requires_grad=False"
    return f"{writer.qualified(nn.Parameter)}({empty}{frozen})"
