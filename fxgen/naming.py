"""Names in generated code: when a name may be written as syntax, and unique variables.

The identifier rule (DESIGN.md): a name is written as attribute syntax (`self.conv1`)
only when it is a Python identifier, not a keyword, unchanged by NFKC normalisation
(Python normalises identifiers, so `self.ﬁ` would reach `self.fi`) and not subject to
private name mangling inside a class (`self.__x` would reach `self._Cls__x`). Every
other name is written as a string: `self.blocks["class"]`, `getattr(self, "with-dash")`.
"""

from __future__ import annotations

import builtins
import functools
import keyword
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from fxgen.pyexpr import string_literal

__all__ = [
    "is_attr_name", "attribute", "Namespace", "RESERVED", "sanitize", "Draft", "Plan", "plan_names", "substitute",
    "substitute_all", "token", "is_token", "read_tokens", "read_targets", "UNUSED",
]

#: Names a generated variable may never take: they are used by generated code itself.
RESERVED = frozenset(
    set(keyword.kwlist)
    | set(keyword.softkwlist)
    | set(dir(builtins))
    | {"self", "torch", "F", "math"}
)


@functools.lru_cache(maxsize=8192)
def is_attr_name(name: str) -> bool:
    """Whether `obj.<name>` reaches exactly the attribute called `name` (cached: every
    statement asks about the same few names)."""
    return (
        name.isidentifier()
        and not keyword.iskeyword(name)
        and unicodedata.normalize("NFKC", name) == name
        and not (name.startswith("__") and not name.endswith("__"))
    )


def attribute(base: str, name: str) -> str:
    """`base.name`, or `getattr(base, "name")` where the identifier rule forbids syntax."""
    if is_attr_name(name):
        return f"{base}.{name}"
    return f"getattr({base}, {string_literal(name)})"


def sanitize(hint: str) -> str:
    """A plain ASCII identifier derived from `hint` (not yet checked for clashes)."""
    text = unicodedata.normalize("NFKC", hint)
    text = re.sub(r"[^0-9a-zA-Z_]+", "_", text).strip("_") or "v"
    text = re.sub(r"_+", "_", text)
    if text[0].isdigit():
        text = "_" + text
    if text.startswith("__"):
        text = text.lstrip("_") or "v"
    return text


class Namespace:
    """Hands out unique variable names: `add`, `add_1`, … never a reserved word."""

    def __init__(self, taken: set[str] | frozenset[str] = frozenset()) -> None:
        self._taken = set(taken)
        self._next: dict[str, int] = {}

    def reserve(self, name: str) -> None:
        self._taken.add(name)

    def copy(self) -> "Namespace":
        other = Namespace(self._taken)
        other._next = dict(self._next)
        return other

    def is_taken(self, name: str) -> bool:
        return name in self._taken or name in RESERVED

    def fresh(self, hint: str) -> str:
        """A new name based on `hint`, distinct from every name handed out or reserved."""
        base = sanitize(hint)
        if not self.is_taken(base):
            self._taken.add(base)
            return base
        n = self._next.get(base, 1)
        while self.is_taken(f"{base}_{n}"):
            n += 1
        self._next[base] = n + 1
        name = f"{base}_{n}"
        self._taken.add(name)
        return name


# -- variables of one function: chains reuse a name ----------------------------------
#
# Until the names are chosen, code holds a token for each value, `\x00<index>\x00`
# (`token`); `plan_names` keeps its tables by the indices, not by the token texts: a
# table keyed by small ints lies in memory in the order of the values, where one keyed
# by strings is spread over it by their hashes (measured: at 125,000 values, a lookup
# by string took twice as long as one by int).

UNUSED = -1  #: the index of `_`, an unpacked item nothing reads


def token(index: int) -> str:
    """A stand-in for a value's variable name until `plan_names` has chosen the names."""
    return f"\x00{index}\x00"


_TOKEN_INDEX = re.compile("\x00(-?\\d+)\x00")


def is_token(text: str) -> bool:
    """Whether `text` is one value's token and nothing else (a variable, once named)."""
    return _TOKEN_INDEX.fullmatch(text) is not None


def read_tokens(text: str) -> list[int]:
    """The indices of the tokens in `text`, in order (with repeats)."""
    return list(map(int, _TOKEN_INDEX.findall(text)))


def read_targets(targets: str) -> list[int]:
    """The values an assignment's targets bind (`a, _, (b, c)` in tokens), nested tuples
    flattened, UNUSED for `_`."""
    if "," not in targets:  # one token, or none
        return [int(targets[1:-1])] if targets else []
    return [UNUSED if part == "_" else int(part[1:-1]) for part in re.split(r"[\s(),]+", targets) if part]


def substitute(text: str, names: dict[int, str]) -> str:
    """`text` with each token replaced by its name (`names`: index -> name)."""
    if "\x00" not in text:
        return text
    parts = text.split("\x00")  # tokens are the odd parts, without their \x00 marks
    parts[1::2] = [names[int(index)] for index in parts[1::2]]
    return "".join(parts)


def substitute_all(texts: list[str], names: dict[int, str]) -> list[str]:
    """`[substitute(text, names) for text in texts]`, with one split and join for all."""
    joined = "\x02".join(texts)
    if joined.count("\x02") != len(texts) - 1:  # a text holds the separator itself
        return [substitute(text, names) for text in texts]
    parts = joined.split("\x00")  # tokens are the odd parts, without their \x00 marks
    parts[1::2] = map(names.__getitem__, map(int, parts[1::2]))
    return "".join(parts).split("\x02")


@dataclass(slots=True)
class Draft:
    """A statement as `plan_names` sees it: what it binds and reads (as token indices)."""

    binds: list[int]  #: the values it binds (several for `a, b = ...`; UNUSED for `_`)
    expr: str  #: its code, with tokens for the values it reads
    hints: list[str]  #: what each bound value is about (`conv1`, `softmax`)
    chain: str  #: "module", "unary" or "merge" where it may take over its input's name, else ""
    commutative: bool = False  #: a `+`/`*` merge: either operand may carry the name on
    #: the user's own names for the bound values (`q` from `q = q.view(...)`), where known
    source_hints: list[str | None] = field(default_factory=list)
    line: object = None  #: the user's source line it comes from, where known
    deletes: list[int] = field(default_factory=list)  #: values to `del` after it
    #: what it assigns into (`x[0]` of `x[0] = v`, `x` of `x += y`), with tokens it reads
    stores: str = ""

    @property
    def single(self) -> int | None:
        """The one value it binds, if it binds exactly one."""
        return self.binds[0] if len(self.binds) == 1 else None


@dataclass
class Plan:
    """The names chosen for one function."""

    names: dict[int, str]  #: value (token index) -> variable name
    drafts: list[Draft]  #: the drafts, with residual aliases (`identity = x`) inserted


def plan_names(
    drafts: list[Draft],
    params: dict[int, str],
    tensor_tokens: set[int],
    namespace: Namespace,
    reuse: bool = True,
    attributes: frozenset[int] = frozenset(),
) -> Plan:
    """Choose variable names for a function body (see docs/naming.md for the rule).

    1. A value is named after where it comes from: the variable the user's source line
       assigned it to (`q`), else its module or operation (`conv1`, `softmax`); unique in
       the function.
    2. Reuse: a statement whose first input (its primary) is a tensor read here for the
       last time, and which is a module call, a step with one tensor input, or an
       elementwise `+ - * /` with another value, binds its tensor result to that input's name:
       `x = self.conv1(x)`, `x = x.view(2, -1)`, `x = x + identity`; a read of a tensor's
       device or size alone (`x.device`, `x.size(0)`) is no input. A chain is named after
       the last user's name along it; where the user renames the value
       (`attn = scores.softmax(-1)`), a new chain starts at the first statement of that line.
    3. Residual: a tensor read twice, first as the primary input of a statement that starts
       a chain (or feeds further branches) and then by a `+`/`-` or a module call whose
       result is added back, is kept as `identity = x` before the chain, so that the
       chain carries on as `x` (where the chain carries on under a name of the user's, `x`
       needs no alias).
    4. A name whose value is no longer needed (an input's too) is given again to a new value
       with the same hint (`identity = x` in each residual block); rebinding frees the old value.
    5. Any other tensor the function computed is released with `del` right after its last
       reader, unless the next statement rebinds its name or is the return.
    """
    names = dict(params)
    names[UNUSED] = "_"
    tensors = set(tensor_tokens)
    aliases: set[int] = set()
    found = map(read_tokens, [d.stores + d.expr if d.stores else d.expr for d in drafts])
    reads = [f if len(f) < 2 else list(dict.fromkeys(f)) for f in found]  # each once, in order of first use
    if reuse:
        drafts, reads, aliases = _residual_aliases(drafts, reads, tensors)
    last = {t: i for i, tokens in enumerate(reads) for t in tokens}
    root, user, called = _chains(drafts, reads, last, aliases, tensors, params, reuse)
    idle = _idle_aliases(drafts, reads, aliases, root) if aliases else []
    if idle:  # the chain after the alias is the user's own (`h = self.fc1(x)`): `x` needs no keeping
        drafts, reads, aliases = _without_aliases(drafts, reads, aliases, idle)
        last = {t: i for i, tokens in enumerate(reads) for t in tokens}
        root, user, called = _chains(drafts, reads, last, aliases, tensors, params, reuse)
    released = tensors.difference(params, attributes)
    final = len(drafts) - 2  # the return releases what its function holds
    holder = {name: value for value, name in params.items()}  # name -> value it holds now
    handed: dict[str, list[str]] = {name: [name] for name in params.values()}  # hint -> names given for it so far
    before: list[str] = []  # the names the draft before binds
    for i, draft in enumerate(drafts):
        here = []
        for bound, own in zip(draft.binds, draft.hints):  # own: its module's or operation's name
            start = root.get(bound, bound)
            name = names.get(start)
            if name is None:  # `bound` starts its chain: named after the last user's name along it
                wanted = called.get(start) or user.get(start) or own
                name = _free_name(handed.get(wanted, ()), holder, last, i, tensors) if reuse and bound in tensors else None
                if name is None:
                    name = namespace.fresh(wanted)
                    handed.setdefault(wanted, []).append(name)
                names[start] = name
            names[bound] = name
            holder[name] = bound
            here.append(name)
        if 0 < i <= final:  # `del` what the draft before read last, unless a name bound there or here frees it
            drafts[i - 1].deletes = [
                t for t in reads[i - 1]
                if last[t] == i - 1 and t in released and names[t] not in before and names[t] not in here
            ]
        before = here
    return Plan(names, drafts)


def _chains(
    drafts: list[Draft],
    reads: list[list[int]],
    last: dict[int, int],
    aliases: set[int],
    tensors: set[int],
    params: dict[int, str],
    reuse: bool,
) -> tuple[dict[int, int], dict[int, str], dict[int, str]]:
    """Rule 2's chains: each value's chain (value -> the first value of its chain), the
    user's names for values, and each chain's name (chain root -> the user's name along
    it; where the user renames the value, a new chain starts)."""
    root: dict[int, int] = {}
    user: dict[int, str] = {}
    members: dict[int, list[int]] = {}  # chain root -> values taking over its name, in order
    line_of: dict[int, object] = {}  # chain member -> the source line of its statement
    for i, draft in enumerate(drafts):
        binds = draft.binds
        if draft.chain and reuse and len(binds) == 1 and binds[0] in tensors:
            primary = _primary(draft, reads[i], aliases, tensors)
            if primary is not None and last.get(primary) == i and primary in tensors:
                single = binds[0]
                start = root[single] = root.get(primary, primary)
                members.setdefault(start, []).append(single)
                line_of[single] = draft.line
        if draft.source_hints:
            for bound, source_hint in zip(binds, draft.source_hints):
                if source_hint:
                    user[bound] = source_hint
    called: dict[int, str] = {}
    for start, chain in members.items():
        segment, name = start, params.get(start) or user.get(start)
        for i, bound in enumerate(chain):
            if bound in user and name is not None and user[bound] != name:
                # `attn = scores.softmax(-1)`: no longer `scores`, from the first step of that line
                first = i
                line = line_of[bound]
                while first > 0 and line is not None and chain[first - 1] not in user and line_of[chain[first - 1]] == line:
                    first -= 1
                segment = chain[first]
                for earlier in chain[first:i]:
                    root[earlier] = segment
            name = user.get(bound, name)
            root[bound] = segment
            if bound in user:
                called[segment] = user[bound]
    return root, user, called


def _idle_aliases(drafts: list[Draft], reads: list[list[int]], aliases: set[int], root: dict[int, int]) -> list[int]:
    """The positions of the residual aliases whose chain (it starts at the draft after the
    alias) does not carry on under the kept value's name, which is what an alias is for
    (an alias reads the value it keeps)."""
    idle = []
    for i, draft in enumerate(drafts):
        binds = draft.binds
        if binds and binds[0] in aliases:
            kept, bound = reads[i][0], drafts[i + 1].single
            if bound is None or root.get(bound, bound) != root.get(kept, kept):
                idle.append(i)
    return idle


def _without_aliases(
    drafts: list[Draft], reads: list[list[int]], aliases: set[int], idle: list[int]
) -> tuple[list[Draft], list[list[int]], set[int]]:
    """The drafts without the aliases at positions `idle`: their readers read the kept
    values again."""
    dropped = {drafts[i].binds[0]: reads[i][0] for i in idle}
    for draft, tokens in zip(drafts, reads):
        for alias in dropped.keys() & tokens:
            draft.expr = draft.expr.replace(token(alias), token(dropped[alias]))
            tokens[tokens.index(alias)] = dropped[alias]
    gone = set(idle)
    kept = [i for i in range(len(drafts)) if i not in gone]
    return [drafts[i] for i in kept], [reads[i] for i in kept], aliases - dropped.keys()


def _free_name(handed: Sequence[str], holder: dict[str, int], last: dict[int, int], at: int, tensors: set[int]) -> str | None:
    """A name given earlier for the same hint (`handed`) whose value is no longer needed:
    rebinding it frees that value (`identity = x` in every residual block). Tensors only
    (TorchScript)."""
    for name in handed:
        held = holder.get(name)
        if held is not None and held in tensors and last.get(held, at) <= at:
            return name
    return None


def _primary(draft: Draft, reads: list[int], aliases: set[int], tensors: set[int]) -> int | None:
    reads = _data_reads(draft, reads)
    if not reads:
        return None
    if draft.chain == "unary" and len([t for t in reads if t in tensors]) != 1:
        return None  # a step with one tensor input (sizes and flags do not count)
    if draft.commutative:  # `identity + x`: the chain, not the kept residual, carries on
        for t in reads:
            if t not in aliases:
                return t
    return reads[0]


#: a value read only for its device or a size (`x.device`, `x.size(0)`: how fxgen writes a
#: device or size that capture recorded as a constant)
_METADATA_READ = re.compile("\x00(-?\\d+)\x00(?:\\.device\\b|\\.size\\()")


def _data_reads(draft: Draft, reads: list[int]) -> list[int]:
    """`reads` less the values the draft reads only for their device or sizes: its value
    does not come from them (`torch.zeros(n, device=x.device)`), so it never takes over
    their names."""
    text = draft.expr
    if ".device" not in text and ".size(" not in text:  # most drafts
        return reads
    metadata = _METADATA_READ.findall(text)
    if not metadata:
        return reads
    every = _TOKEN_INDEX.findall(text)
    return [t for t in reads if every.count(str(t)) > metadata.count(str(t))]


def _adds(draft: Draft) -> bool:
    """Whether the draft adds or subtracts (`out + x`, `out.add_(x)`: the end of a skip
    connection)."""
    return draft.chain in ("merge", "unary") and draft.hints[0] in ("add", "sub")


def _residual_aliases(
    drafts: list[Draft], reads: list[list[int]], tensors: set[int]
) -> tuple[list[Draft], list[list[int]], set[int]]:
    """Rule 3: `identity = x` drafts inserted, with the reads of every draft (an alias's
    value is numbered below UNUSED: -2, -3, ...)."""
    readers: dict[int, list[int]] = {}
    for i, tokens in enumerate(reads):
        for t in tokens:
            where = readers.get(t)
            if where is None:
                readers[t] = [i]
            else:
                where.append(i)
    aliases: dict[int, Draft] = {}  # insert before this position
    kept: dict[int, int] = {}  # position -> the value its alias keeps (what the alias reads)
    for value, where in readers.items():
        if len(where) != 2 or value not in tensors:
            continue
        first, second = drafts[where[0]], drafts[where[1]]
        bound = first.single
        # the value's first reader starts a chain: the next step reads its value first, or
        # its value goes on to other readers than the sum (a norm read by two branches)
        onward = readers.get(bound, []) if bound is not None else []
        starts_chain = (
            first.chain
            and bound is not None
            and _data_reads(first, reads[where[0]])[:1] == [value]
            and (
                (len(onward) == 1 and _data_reads(drafts[onward[0]], reads[onward[0]])[:1] == [bound])
                or any(reader != where[1] for reader in onward)
            )
        )
        # `out + x`, or `out + self.downsample(x)`: the skip path's module feeds a sum (not
        # `gate * self.up_proj(x)`, where `x` feeds two branches alike)
        then = readers.get(second.single, []) if second.chain == "module" and second.single is not None else []
        merges_back = _adds(second) or (len(then) == 1 and _adds(drafts[then[0]]))
        if not (starts_chain and merges_back) or where[0] in aliases:
            continue
        alias = UNUSED - 1 - len(aliases)
        tensors.add(alias)
        aliases[where[0]] = Draft([alias], token(value), ["identity"], "")
        kept[where[0]] = value
        second.expr = second.expr.replace(token(value), token(alias))
        reads[where[1]] = [alias if t == value else t for t in reads[where[1]]]
    if not aliases:
        return drafts, reads, set()
    out: list[Draft] = []
    out_reads: list[list[int]] = []
    done = 0
    for i in sorted(aliases):  # the drafts before each alias, sliced
        out += drafts[done:i]
        out.append(aliases[i])
        out_reads += reads[done:i]
        out_reads.append([kept[i]])
        done = i
    out += drafts[done:]
    out_reads += reads[done:]
    return out, out_reads, {a.binds[0] for a in aliases.values()}
