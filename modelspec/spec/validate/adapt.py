"""``adapt:`` on a node, and preprocessing layers whose state would be missing.

A preprocessing layer (``Normalization``, ``StringLookup``...) gets its state
either from its arguments (``mean``/``variance``, ``vocabulary``,
``bin_boundaries``) or from ``adapt:`` (``layer.adapt`` on the training split
before fitting); one of the two, never both. Which layer types can adapt is
read from the catalogue (a class with an ``adapt`` method), so this needs no
Keras.

Example:
    >>> from modelspec.spec.loader import load_document
    >>> ctx = Context(load_document('''
    ... inputs: [{name: x, shape: [4]}]
    ... layers: [{name: norm, type: Normalization}]
    ... '''), allow_imports=False)
    >>> check_adapt(ctx, ctx.data["layers"][0], "type", ("layers", 0), ["x"])
    >>> print(ctx.diagnostics[0].message)  # doctest: +ELLIPSIS
    Normalization needs its statistics: `adapt: true` (computed from the training split) or ...
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ... import catalogue
from ...errors import clipped, did_you_mean
from ..loader import PathT
from .context import Context

#: The arguments that give a preprocessing layer the state ``adapt`` would compute.
STATE_ARGS: dict[str, tuple[str, ...]] = {
    "Normalization": ("mean", "variance"),
    "StringLookup": ("vocabulary",),
    "IntegerLookup": ("vocabulary",),
    "TextVectorization": ("vocabulary",),
    "Discretization": ("bin_boundaries",),
}
#: Layers that adapt on numbers only (their statistics are arithmetic).
_NUMERIC = ("Normalization", "Discretization")
#: What each layer is missing without its state (or ``adapt``), for the message.
_MISSING = {
    "Normalization": "needs its statistics: `adapt: true` (computed from the training split) "
    "or `mean:` and `variance:`. Without them it passes its inputs through unchanged",
    "StringLookup": "needs a vocabulary: `adapt: true` (learned from the training split) or "
    "`vocabulary:`",
    "IntegerLookup": "needs a vocabulary: `adapt: true` (learned from the training split) or "
    "`vocabulary:`",
    "TextVectorization": "needs a vocabulary: `adapt: true` (learned from the training split) "
    "or `vocabulary:`",
    "Discretization": "needs its bins: `bin_boundaries:`, or `num_bins:` with `adapt: true` "
    "(boundaries computed from the training split)",
}


def check_adapt(
    ctx: Context, node: dict[str, Any], kind: str | None, path: PathT, input_names: Sequence[Any]
) -> None:
    """A node's ``adapt:`` (and a preprocessing layer that has neither it nor its state).

    Args:
        ctx: The check's context.
        node: The node, as written.
        kind: What it is (``type``, ``op``, ``expr``, ``block``, ``share``), if known.
        path: Where it is.
        input_names: The model's inputs (``adapt.data`` names one).
    """
    adapt = node.get("adapt")
    if adapt is not None and not isinstance(adapt, bool | dict):
        return  # a wrong type: the structure check reports it
    wanted = adapt is True or isinstance(adapt, dict)
    where = (*path, "adapt")
    type_name = node.get("type") if kind == "type" else None
    if not wanted:
        if isinstance(type_name, str) and type_name in _MISSING:
            args = STATE_ARGS[type_name]
            if not any(node.get(a) is not None for a in args):
                ctx.add(path, f"{type_name} {_MISSING[type_name]}")
        return
    if kind is None:
        return  # what the node is: reported already
    if ctx.in_block:
        ctx.add(
            where,
            "`adapt:` cannot be used inside a block: a block instance is a nested model, "
            "built before any data is seen. Put the preprocessing layer in the model's "
            "`layers:`, in front of the block",
            key=True,
        )
        return
    if kind == "share":
        owner = clipped(str(node.get("share")))
        ctx.add(
            where,
            f"a node that shares the layer of '{owner}' is adapted with it: put `adapt:` on "
            f"'{owner}'",
            key=True,
        )
        return
    able = catalogue.adapting_layer_names()
    if kind != "type":
        what = {"op": "an op", "expr": "an expr", "block": "a block instance"}[kind]
        ctx.add(
            where,
            f"`adapt:` takes a preprocessing layer (type: {', '.join(able)}); {what} node "
            "has no state to adapt",
            key=True,
        )
        return
    if not isinstance(type_name, str):
        return
    sig = ctx.signature(type_name)
    if sig is None:
        return  # an unknown type: reported already
    if not sig.adapts:
        ctx.add(
            where,
            f"{type_name} cannot adapt: `adapt:` takes a preprocessing layer that computes its "
            f"state from data ({', '.join(able)}, or a registered layer with an adapt() "
            f"method). Received: type={type_name}",
            key=True,
        )
        return
    given = [a for a in STATE_ARGS.get(type_name, ()) if node.get(a) is not None]
    if given:
        ctx.add(
            (*path, given[0]),
            f"{type_name} gets its {' and '.join(STATE_ARGS[type_name])} either from "
            f"`{given[0]}:` or from `adapt:`, not both. Received: adapt and {given[0]}",
            key=True,
        )
    data = adapt.get("data") if isinstance(adapt, dict) else None
    if isinstance(data, str) and data not in input_names:
        names = [n for n in input_names if isinstance(n, str)]
        hint = did_you_mean(data, names) or ""
        ctx.add(
            (*where, "data"),
            f"unknown model input '{clipped(data)}'.{hint} `adapt.data` names a model input "
            f"({', '.join(names)}); `adapt: true` adapts on what reaches this node",
        )
    source = data if isinstance(data, str) else node.get("inputs")
    dtypes = {
        i.get("name"): i.get("dtype", "float32")
        for i in ctx.data.get("inputs") or []
        if isinstance(i, dict) and isinstance(i.get("name"), str)  # (a list name: reported)
    }
    if type_name in _NUMERIC and isinstance(source, str) and dtypes.get(source) == "string":
        ctx.add(
            (*where, "data") if isinstance(data, str) else where,
            f"{type_name} adapts on numbers. Received: model input '{clipped(source)}' of "
            "dtype string. Adapt it on a numeric input, or turn text into numbers first "
            "(a StringLookup)",
        )
    if ctx.data.get("train") is None:
        ctx.add(
            where,
            f"this spec has no `train:` section: {type_name} is adapted on the training split "
            "when the model is trained, so built without it, it is not adapted",
            key=True,
            warning=True,
        )
