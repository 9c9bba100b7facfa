"""The graph section: node names, what each node takes, weight sharing, outputs,
cycles, and nodes no output uses.

Example:
    >>> from modelspec.spec.loader import load_document
    >>> ctx = Context(load_document('''
    ... inputs: [{name: x, shape: [4]}]
    ... layers: [{name: a, type: Dense, units: 2, inputs: b}]
    ... outputs: [a]
    ... '''), allow_imports=False)
    >>> check_graph(ctx)
    >>> ctx.diagnostics[0].message
    "unknown node 'b'."
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ... import catalogue
from ...catalogue import LayerSignature
from ...catalogue.backbones import SOURCES
from ...errors import clipped, did_you_mean
from ..graph import effective_inputs, iter_refs, parse_ref, topological_order
from ..loader import PathT
from ..schema import LayerNode
from .adapt import check_adapt
from .arguments import check_args, layer_type
from .backbones import check_application, check_hub_layer
from .context import Context, as_list
from .nodes import (
    check_expr_node,
    check_expression,
    check_instance,
    check_instance_inputs,
    check_op,
    deferred,
    instance_block,
    node_kind,
)
from .structure import check_body_structure


def check_graph(ctx: Context) -> None:
    _input_dtypes(ctx)
    inputs = as_list(ctx.data.get("inputs"))
    layers = as_list(ctx.data.get("layers"))
    input_names = [i.get("name") for i in inputs if isinstance(i, dict)]
    owners: dict[str, PathT] = {}
    for section, items in (("inputs", inputs), ("layers", layers)):
        for i, item in enumerate(items):
            name = item.get("name") if isinstance(item, dict) else None
            if not isinstance(name, str):
                continue
            if name in owners:
                first = ctx.doc.locate(owners[name])[0]
                ctx.add(
                    (section, i, "name"),
                    f"duplicate node name '{clipped(name)}' (first "
                    f"defined at line {first}); node names must be unique.",
                )
            else:
                owners[name] = (section, i, "name")
    for alias, target in ctx.doc.aliases.items():
        if alias in owners and target in owners:
            ctx.add(
                owners[alias],
                f"duplicate node name '{clipped(alias)}': the repeat at line "
                f"{ctx.doc.locate(owners[target])[0]} names its last copy so",
            )
    aliases = {a: t for a, t in ctx.doc.aliases.items() if t in owners and a not in owners}
    known = {**owners, **{a: owners[t] for a, t in aliases.items()}}
    layer_names = {n for n, p in known.items() if p[0] == "layers"}
    deps: dict[str, list[str]] = {n: [] for n in owners}
    sources: dict[str, LayerSignature | None] = {}
    wiring = effective_inputs(layers, [n for n in input_names if isinstance(n, str)])
    for i, node in enumerate(layers):
        if not isinstance(node, dict) or not isinstance(node.get("name"), str):
            continue
        name = node["name"]
        if owners.get(name) != ("layers", i, "name"):
            continue  # a duplicate: already reported
        path: PathT = ("layers", i)
        kind = node_kind(ctx, node, path)
        sig = None
        if kind in ("type", "share"):
            sig = _node(ctx, i, node, sources, layer_names)
            shared = instance_block(ctx, name) if kind == "share" else None
            if shared is not None and wiring[i] is not None:  # a block instance again
                check_instance_inputs(ctx, *shared, wiring[i], path)
        elif kind == "op":
            check_op(ctx, node, wiring[i], path)
        elif kind == "block":
            block = check_instance(ctx, node, wiring[i], path)
            body = ctx.doc.bodies.get(name)
            if block is not None and body is not None:
                check_body(ctx.within(body, block.get("params")))
        check_adapt(ctx, node, kind, path, input_names)
        sources[name] = sig
        share = node.get("share")
        if isinstance(share, str) and share in known:
            deps[name].append(aliases.get(share, share))
        args = {k: v for k, v in node.items() if k not in LayerNode.model_fields}
        found = deferred(ctx, args, path, known, name)
        add_loss = node.get("add_loss")
        if isinstance(add_loss, dict) and isinstance(add_loss.get("expr"), str):
            found += check_expression(ctx, add_loss["expr"], (*path, "add_loss", "expr"), known)
        if kind == "expr":
            found += check_expr_node(ctx, node, path, known)
        deps[name].extend(aliases.get(n, n) for n in found if n != name)
        field_ = wiring[i]
        if kind == "expr":
            continue
        if field_ is None:
            if len(input_names) < 2:
                continue  # no input at all: the structure stage reported it
            ctx.add(
                ("layers", i),
                "missing `inputs:`: the first layer must say which of "
                f"the inputs ({', '.join(map(str, input_names))}) it takes",
            )
            ctx.broken_refs = True  # its inputs look unused: this is why, reported once
            continue
        deps[name].extend(aliases.get(n, n) for n in _refs(ctx, i, node, field_, known, sig))
    outputs = [aliases.get(n, n) for n in _outputs(ctx, known)]
    _, cycles = topological_order(deps)
    for cycle in cycles:
        names = [*reversed(cycle), cycle[-1]]
        if len(names) > 8:
            names = [*names[:4], "...", *names[-3:]]
        flow = clipped(" -> ".join(clipped(n, 40) for n in names), 400)
        ctx.add(
            owners[cycle[0]][:2],
            f"the graph has a cycle: {flow}. A node cannot depend on its own output.",
        )
    if not ctx.broken_refs:  # else "unused" would mostly echo those errors
        _unused(ctx, deps, owners, outputs)
    for definition in ctx.doc.definitions.values():  # blocks no node uses
        check_body(ctx.within(definition))


def check_body(ctx: Context) -> None:
    """A block instance's body (or an unused block's, with its defaults): its nodes'
    structure, then its graph, like a model's."""
    check_body_structure(ctx)
    check_graph(ctx)


def _input_dtypes(ctx: Context) -> None:
    dtypes = catalogue.builtin_names("dtypes")
    for i, item in enumerate(as_list(ctx.data.get("inputs"))):
        dtype = item.get("dtype") if isinstance(item, dict) else None
        if isinstance(dtype, str) and dtype not in dtypes:
            hint = did_you_mean(dtype, dtypes) or f" Known: {', '.join(sorted(dtypes))}."
            ctx.add(("inputs", i, "dtype"), f"unknown dtype '{clipped(dtype)}'.{hint}")


def _node(
    ctx: Context, i: int, node: dict[str, Any], sources: dict[str, Any], layer_names: set[str]
) -> LayerSignature | None:
    path: PathT = ("layers", i)
    args = {k: v for k, v in node.items() if k not in LayerNode.model_fields}
    share = node.get("share")
    if share is not None:
        if not isinstance(share, str):
            return None
        if share not in layer_names:
            hint = did_you_mean(share, layer_names)
            ctx.add(
                (*path, "share"),
                f"cannot share the layer of '{clipped(share)}': no layer node has that name.{hint}",
            )
            return None
        if args:
            ctx.add(
                (*path, next(iter(args))),
                f"a node that shares the layer of '{clipped(share)}' "
                f"takes no layer arguments; they come from '{clipped(share)}'.",
                key=True,
            )
        owner = sources.get(share)
        if share not in sources:
            ctx.add(
                (*path, "share"),
                f"cannot share the layer of '{clipped(share)}' before it "
                "is defined: move this node after it.",
            )
        elif owner is not None and node.get("type") not in (None, owner.type):
            ctx.add(
                (*path, "type"),
                f"a node that shares the layer of '{clipped(share)}' has "
                f"its type ({owner.type}). Received: type={node.get('type')!r}",
            )
        return owner
    sig = layer_type(ctx, node.get("type"), (*path, "type"))
    if sig is not None:
        check_args(ctx, sig, args, path)
        if sig.source == SOURCES["applications"]:
            check_application(ctx, i, node, path)
        elif sig.source == SOURCES["hub"]:
            check_hub_layer(ctx, i, node, path)
    return sig


def _refs(
    ctx: Context,
    i: int,
    node: dict[str, Any],
    field_: Any,
    owners: dict[str, PathT],
    sig: LayerSignature | None,
) -> list[str]:
    path: PathT = ("layers", i, "inputs")
    found: list[str] = []
    if isinstance(field_, dict) and sig is not None and sig.call_args:
        for key in field_:
            if key not in sig.call_args and key != "inputs":
                hint = did_you_mean(str(key), sig.call_args)
                ctx.add(
                    (*path, key),
                    f"unknown call argument '{clipped(key)}' for {sig.type} "
                    f"(it takes {', '.join(sig.call_args)}).{hint}",
                    key=True,
                )
    for sub, text in iter_refs(field_):
        ref = parse_ref(text)
        if ref is None and isinstance(text, str):  # a tensor expression
            refs = check_expression(ctx, text, (*path, *sub), owners)
            if node["name"] in refs:
                ctx.add(
                    (*path, *sub),
                    f"node '{clipped(node['name'])}' cannot take its own output as input",
                )
            found.extend(r for r in refs if r != node["name"])
            continue
        if ref is None:
            continue  # a wrong type: reported by the structure stage
        if ref.node == node["name"]:
            ctx.add(
                (*path, *sub), f"node '{clipped(ref.node)}' cannot take its own output as input"
            )
        elif ref.node not in owners:
            hint = did_you_mean(ref.node, owners)
            ctx.add((*path, *sub), f"unknown node '{clipped(ref.node)}'.{hint}")
            ctx.broken_refs = True
        else:
            found.append(ref.node)
            if ref.index is not None:
                _index(ctx, ref.node, ref.index, owners, (*path, *sub))
    return found


def _index(ctx: Context, name: str, index: int, owners: dict[str, PathT], path: PathT) -> None:
    """``name[index]`` of an input (one output) or a block instance (its block's outputs)."""
    target = ctx.doc.aliases.get(name, name)
    count: int | None = None
    if owners[name][0] == "inputs":
        count = 1
    else:
        block = instance_block(ctx, target)
        outputs = block[1].get("outputs") if block is not None else None
        if isinstance(outputs, str):
            count = 1
        elif isinstance(outputs, list | dict):
            count = len(outputs)
    if count == 1:
        ctx.add(path, f"'{clipped(name)}' has a single output, so it cannot be indexed")
    elif count is not None and not -count <= index < count:
        ctx.add(
            path,
            f"'{clipped(name)}' has {count} outputs (indices 0 to {count - 1}). "
            f"Received: {clipped(name)}[{index}]",
        )


def _outputs(ctx: Context, owners: dict[str, PathT]) -> list[str]:
    outputs = ctx.data.get("outputs")
    items: Iterable[tuple[PathT, Any]]
    if isinstance(outputs, str):
        items = [(("outputs",), outputs)]
    elif isinstance(outputs, list):
        items = [(("outputs", i), v) for i, v in enumerate(outputs)]
    elif isinstance(outputs, dict):
        items = [(("outputs", k), v) for k, v in outputs.items()]
    else:
        return []
    found = []
    for path, text in items:
        ref = parse_ref(text)
        if ref is None:
            continue
        if ref.node not in owners:
            hint = did_you_mean(ref.node, owners)
            ctx.add(path, f"unknown node '{clipped(ref.node)}'.{hint}")
            ctx.broken_refs = True
        else:
            found.append(ref.node)
            if ref.index is not None:
                _index(ctx, ref.node, ref.index, owners, path)
    return found


def _unused(
    ctx: Context, deps: dict[str, list[str]], owners: dict[str, PathT], outputs: list[str]
) -> None:
    used: set[str] = set()
    stack = list(outputs)
    while stack:
        node = stack.pop()
        if node not in used:
            used.add(node)
            stack.extend(deps.get(node, ()))
    for name, path in owners.items():
        if name not in used and outputs:
            ctx.add(
                path[:2],
                f"node '{clipped(name)}' is not used by any output; "
                "it will not be part of the model",
                warning=True,
            )
