"""The nodes that are not plain layers: ``op:`` calls, ``expr:`` and other tensor
expressions, block instances, and values that read a node's shape.

Example:
    >>> from modelspec.spec.loader import load_document
    >>> ctx = Context(load_document("expr: 'x + mean(y, axs=1)'"), allow_imports=False)
    >>> check_expression(ctx, "x + mean(y, axs=1)", ("expr",), {"x", "y"})
    ['x', 'y']
    >>> print(ctx.diagnostics[0].message)
    unknown argument 'axs' for mean() (it takes x, axis, keepdims). Did you mean 'axis'? (in ...)
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from ... import catalogue
from ...catalogue import REFUSED_OPS
from ...errors import clipped, did_you_mean, listed, shown
from .. import tensors
from ..loader import PathT
from ..scalars import ExpressionError, bounded, is_deferred, shape_refs
from ..schema import LayerNode
from .context import Context

#: Which key makes a node what it is; a node has exactly one.
KINDS = ("type", "op", "expr", "block", "share")


def node_kind(ctx: Context, node: dict[str, Any], path: PathT) -> str | None:
    """``type``, ``op``, ``expr``, ``block`` or ``share``; report a node with none or several."""
    found = [k for k in KINDS if node.get(k) is not None]
    if len(found) == 1:
        return found[0]
    if not found:
        ctx.add(
            path,
            "missing required key 'type' (or `op:`, `expr:`, `block:`, or `share:` to reuse "
            "another node's layer)",
        )
        return None
    ctx.add(
        (*path, found[1]),
        f"a node is one thing: a layer (type), an op, an expr, a block instance or a shared "
        f"node. Received: {' and '.join(found)}",
        key=True,
    )
    return None


def op_check(fn: str, positional: int, keywords: Collection[str]) -> tuple[str | None, str | None]:
    """What is wrong with calling ``keras.ops.fn`` with ``positional`` arguments and
    these ``keywords`` (``None`` when nothing), and the keyword at fault, if one is."""
    if fn in REFUSED_OPS:
        return f"keras.ops.{fn} cannot be used in a spec: {REFUSED_OPS[fn]}.", None
    sig = catalogue.op_signature(fn)
    if sig is None:
        hint = did_you_mean(fn, catalogue.op_names()) or ""
        return f"unknown op '{clipped(fn)}'.{hint} Run `modelspec ops` to list them.", None
    params = [p.name for p in sig.params if p.kind == "positional"]
    if positional > len(params) and not sig.varargs:
        plural = "s" if len(params) != 1 else ""
        return (
            f"{fn}() takes at most {len(params)} positional argument{plural} "
            f"({', '.join(params)}). Received: {positional}"
        ), None
    for key in keywords:
        if key not in sig.keywords:
            hint = did_you_mean(str(key), sig.keywords)
            known = ", ".join(sig.keywords)
            return f"unknown argument '{clipped(key)}' for {fn}() (it takes {known}).{hint}", key
        if key in params[:positional]:
            return f"{fn}() got its argument '{key}' twice: by position and by name", key
    given = {*params[:positional], *keywords}
    missing = next((name for name in sig.required if name not in given), None)
    return (f"missing required argument '{missing}' for {fn}()" if missing else None), None


class _Checker:
    """The validator's :class:`~modelspec.spec.tensors.Algebra`: names and calls checked."""

    def __init__(self, nodes: Collection[str], scalars: Collection[str]) -> None:
        self.nodes = nodes
        self.scalars = scalars
        self.refs: list[str] = []

    def node(self, name: str) -> Any:
        if name not in self.nodes:
            hint = did_you_mean(name, self.nodes)
            if name in self.scalars:
                hint = f" A var or block param goes in as ${{{name}}}."
            raise ExpressionError(f"unknown node '{clipped(name)}'.{hint}")
        self.refs.append(name)
        return None

    def constant(self, value: Any) -> Any:
        return bounded(value)  # 1e400 is not a number a model can hold

    def call(self, fn: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        constant = tensors.constant_call(fn, args, kwargs)  # 10 ** 10 ** 10 refused here
        if constant is not None:
            return constant
        problem, _ = op_check(fn, len(args), kwargs)
        if problem:
            raise ExpressionError(problem)
        return None

    def item(self, value: Any, index: Any) -> Any:
        return None

    def span(self, lower: Any, upper: Any, step: Any) -> Any:
        if step == 0 and not isinstance(step, bool):
            raise ExpressionError("a slice step cannot be zero")
        return None

    def sequence(self, items: list[Any], is_tuple: bool) -> Any:
        return None


def check_expression(ctx: Context, text: str, path: PathT, nodes: Collection[str]) -> list[str]:
    """The nodes a tensor expression reads; its problems reported at ``path``."""
    checker = _Checker(nodes, ctx.scalars)
    try:
        tensors.interpret(text, checker)
    except ExpressionError as err:
        ctx.add(path, f"{err} (in {shown(text)})")
        ctx.broken_refs = True  # its nodes look unused: that is this error
    return list(dict.fromkeys(checker.refs))


def check_op(ctx: Context, node: dict[str, Any], field_: Any, path: PathT) -> None:
    """An ``op:`` node: a known ``keras.ops`` function and its arguments."""
    fn = node.get("op")
    if not isinstance(fn, str):
        return  # the structure check reports it
    args = [k for k in node if k not in LayerNode.model_fields]
    keywords = [*args, *(field_ if isinstance(field_, dict) else ())]
    problem, key = op_check(fn, 0 if isinstance(field_, dict) else 1, keywords)
    if problem and isinstance(field_, list) and "missing required" in problem:
        problem += (
            ": a list of inputs is one argument (as concatenate takes it); give several by "
            f'name (inputs: {{x1: a, x2: b}}) or write an expression (expr: "{fn}(a, b)")'
        )
    if problem:
        where = (*path, key) if key in args else (*path, "inputs", key) if key else (*path, "op")
        ctx.add(where, problem, key=key is not None)


def check_expr_node(
    ctx: Context, node: dict[str, Any], path: PathT, nodes: Collection[str]
) -> list[str]:
    """An ``expr:`` node: its expression, and no inputs or arguments beside it."""
    extra = [k for k in node if k not in LayerNode.model_fields or k == "inputs"]
    if extra:
        ctx.add(
            (*path, extra[0]),
            f"an expr node takes nothing but its expression (its names are its inputs). "
            f"Received: {clipped(extra[0])}",
            key=True,
        )
    text = node.get("expr")
    if not isinstance(text, str):
        return []
    refs = check_expression(ctx, text, (*path, "expr"), nodes)
    if node.get("name") in refs:
        ctx.add(
            (*path, "expr"), f"node '{clipped(node['name'])}' cannot take its own output as input"
        )
    return refs


def deferred(
    ctx: Context, value: Any, path: PathT, nodes: Collection[str], own: str = ""
) -> list[str]:
    """The nodes whose shapes the deferred ``${...}`` values inside ``value`` (the
    arguments of node ``own``) read."""
    found: list[str] = []
    stack: list[tuple[Any, PathT]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            stack.extend((v, (*where, k)) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, (*where, i)) for i, v in enumerate(item))
        elif is_deferred(item):
            for name in shape_refs(item):
                if name == own:
                    ctx.add(where, f"node '{clipped(name)}' cannot read its own shape")
                elif name in nodes:
                    found.append(name)
                else:
                    hint = did_you_mean(name, nodes)
                    ctx.add(where, f"unknown node '{clipped(name)}' in {name}.shape.{hint}")
                    ctx.broken_refs = True
    return found


def check_instance(
    ctx: Context, node: dict[str, Any], field_: Any, path: PathT
) -> Mapping[str, Any] | None:
    """A block instance: a known block, its params, its inputs; then its body."""
    name = node.get("block")
    if not isinstance(name, str):
        return None
    block = ctx.blocks.get(name)
    if not isinstance(block, dict):
        hint = did_you_mean(name, ctx.blocks) or (
            f" Known: {', '.join(map(str, ctx.blocks))}."
            if ctx.blocks
            else " Define it under `blocks:`."
        )
        ctx.add((*path, "block"), f"unknown block '{clipped(name)}'.{hint}")
        return None
    raw = block.get("params")
    params: dict[str, Any] = raw if isinstance(raw, dict) else {}
    for key in node:
        if key not in LayerNode.model_fields and key not in params:
            hint = did_you_mean(str(key), params) or (
                f" Its params: {', '.join(params)}." if params else " It has no params."
            )
            ctx.add(
                (*path, key),
                f"block '{clipped(name)}' has no param '{clipped(key)}'.{hint}",
                key=True,
            )
    check_instance_inputs(ctx, name, block, field_, path)
    return block


def check_instance_inputs(
    ctx: Context, name: Any, block: Mapping[str, Any], field_: Any, path: PathT
) -> None:
    """What an instance of ``block`` (or a node sharing one) is called on, against its inputs."""
    declared = block.get("inputs")
    inputs = [
        item if isinstance(item, str) else item.get("name") if isinstance(item, dict) else None
        for item in (declared if isinstance(declared, list) else [])
    ]
    if inputs:  # none: the definition's error
        _instance_inputs(ctx, str(name), inputs, field_, (*path, "inputs"))


def instance_block(ctx: Context, name: str) -> tuple[str, Mapping[str, Any]] | None:
    """The block (name, definition) a node instantiates, itself or through the nodes it
    shares."""
    layers = ctx.data.get("layers") if isinstance(ctx.data, dict) else None
    by_name = {
        n["name"]: n
        for n in (layers if isinstance(layers, list) else [])
        if isinstance(n, dict) and isinstance(n.get("name"), str)
    }
    seen: set[str] = set()
    node = by_name.get(ctx.doc.aliases.get(name, name))
    while isinstance(node, dict) and node["name"] not in seen:
        seen.add(node["name"])
        block = node.get("block")
        if isinstance(block, str):
            found = ctx.blocks.get(block)
            return (block, found) if isinstance(found, dict) else None
        share = node.get("share")
        node = by_name.get(ctx.doc.aliases.get(share, share)) if isinstance(share, str) else None
    return None


def _instance_inputs(ctx: Context, block: str, inputs: list[Any], field_: Any, path: PathT) -> None:
    plural = "s" if len(inputs) != 1 else ""
    names = listed(inputs)
    takes = f"block '{clipped(block)}' takes {len(inputs)} input{plural} ({names})"
    if isinstance(field_, dict):
        for key in field_:
            if key not in inputs:
                hint = did_you_mean(str(key), [i for i in inputs if isinstance(i, str)])
                ctx.add((*path, key), f"{takes}; it has no input '{clipped(key)}'.{hint}", key=True)
        missing = [i for i in inputs if i not in field_]
        if missing:
            ctx.add(path, f"{takes}. Received no '{missing[0]}'")
        return
    given = len(field_) if isinstance(field_, list) else 1
    if given != len(inputs):
        ctx.add(path, f"{takes}. Received: {given}")
