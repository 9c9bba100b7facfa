"""``train.trainable`` and ``train.stages``: patterns that name nodes, layer classes, epochs.

A ``freeze``/``unfreeze`` pattern is a glob over node names; ``node/layer-glob``
reaches inside a block instance (checked here against the block's body, at any
depth) or another nested model (a backbone: its layers are known only when it is
built, so the builder checks those). ``keep_frozen`` takes layer class names.

Example:
    >>> from modelspec.spec.loader import load_document
    >>> ctx = Context(load_document('''
    ... inputs: [{name: x, shape: [2]}]
    ... layers: [{name: dense, type: Dense, units: 1}]
    ... train: {trainable: {freeze: [dens]}}
    ... '''), allow_imports=False)
    >>> check_trainable(ctx)
    >>> ctx.diagnostics[0].message
    "pattern 'dens' matches no node (the nodes are x, dense). Did you mean 'dense'?"
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from ... import catalogue, registry
from ...errors import clipped, did_you_mean, listed, shown
from ..loader import Document, PathT
from .compile import check_optimizer
from .context import Context, as_list


def check_trainable(ctx: Context) -> None:
    section = ctx.data.get("train")
    if not isinstance(section, dict):
        return
    places: list[tuple[Any, PathT]] = [(section.get("trainable"), ("train", "trainable"))]
    stages = section.get("stages")
    for i, stage in enumerate(as_list(stages)):
        if isinstance(stage, dict):
            places.append((stage.get("trainable"), ("train", "stages", i, "trainable")))
            _stage(ctx, stage, ("train", "stages", i))
    for value, path in places:
        if isinstance(value, dict):
            _patterns(ctx, value, path)
    _names(ctx, as_list(stages))
    _epochs(ctx, section)
    _keep_frozen_alone(ctx, places)


def _keep_frozen_alone(ctx: Context, places: list[tuple[Any, PathT]]) -> None:
    """``keep_frozen`` acts inside what ``freeze``/``unfreeze`` patterns touch: with no
    pattern anywhere it does nothing, which a warning says."""
    sections = [(v, p) for v, p in places if isinstance(v, dict)]
    if any(v.get("freeze") or v.get("unfreeze") for v, _ in sections):
        return
    for value, path in sections:
        if value.get("keep_frozen"):
            ctx.add(
                (*path, "keep_frozen"),
                "keep_frozen keeps layers frozen inside the parts that freeze or unfreeze "
                "patterns touch, and no section has one: it changes nothing here. Add "
                "`freeze: [...]` or `unfreeze: [...]`.",
                key=True,
                warning=True,
            )


def _patterns(ctx: Context, section: dict[str, Any], path: PathT) -> None:
    for key in ("freeze", "unfreeze"):
        for j, pattern in enumerate(as_list(section.get(key))):
            if isinstance(pattern, str):
                problem = _unmatched(ctx.doc, pattern.split("/"), pattern, None)
                if problem:
                    ctx.add((*path, key, j), problem)
    for j, name in enumerate(as_list(section.get("keep_frozen"))):
        if isinstance(name, str) and ctx.signature(name) is None:
            known = [*catalogue.builtin_layer_names(), *registry.layers]
            hint = did_you_mean(name, known) or " Custom layers need their plugin (--plugin)."
            ctx.add(
                (*path, "keep_frozen", j),
                f"expected a layer class name such as BatchNormalization. Received: "
                f"{shown(name)}, which is no layer type.{hint}",
            )


def _nodes(doc: Document) -> list[tuple[str, dict[str, Any]]]:
    """A graph's node names (inputs, then layers) with their definitions."""
    data = doc.data if isinstance(doc.data, dict) else {}
    found: list[tuple[str, dict[str, Any]]] = []
    for key in ("inputs", "layers"):
        for item in as_list(data.get(key)):
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                found.append((item["name"], item))
            elif isinstance(item, str):  # a block's input given by name
                found.append((item, {}))
    return found


def _unmatched(doc: Document, parts: list[str], pattern: str, owner: str | None) -> str | None:
    """Why ``parts`` (a pattern split at ``/``) match nothing in ``doc``'s graph, if
    that can be told before building."""
    nodes = _nodes(doc)
    part = parts[0]
    names = [n for n, _ in nodes]
    matched = [(n, node) for n, node in nodes if fnmatchcase(n, part)]
    if not matched:
        hint = did_you_mean(part, names)
        if part in doc.aliases:
            hint = f" '{clipped(part)}' is repeated: match its copies with '{clipped(part)}_*'."
        shown_names = listed(names[:12]) + (", ..." if len(names) > 12 else "")
        where = f" inside '{clipped(owner)}' (its" if owner else " (the"
        return (
            f"pattern '{clipped(pattern)}' matches no node{where} nodes are {shown_names}).{hint}"
        )
    layered = [(n, node) for n, node in matched if not _layerless(node)]
    if not layered:
        return (
            f"pattern '{clipped(pattern)}' matches only nodes without a layer of their own "
            f"({listed([n for n, _ in matched])}: op, expr or share nodes), so it sets no "
            "weights. Match the layers they use."
        )
    matched = layered
    if len(parts) == 1:
        return None
    inner: list[tuple[str, Document]] = []
    for name, node in matched:
        if name in doc.bodies:
            inner.append((name, doc.bodies[name]))
        elif _may_nest(node):
            return None  # a backbone or a custom model: checked when built
    if not inner:
        return (
            f"pattern '{clipped(pattern)}' reaches inside '{clipped(part)}', which is not a "
            "block instance or a nested model: 'node/layer-glob' matches the layers of a "
            "block instance or a backbone"
        )
    problems = [_unmatched(body, parts[1:], pattern, name) for name, body in inner]
    return problems[0] if all(problems) else None


def _layerless(node: dict[str, Any]) -> bool:
    """Whether a node makes no Keras layer named after it (the model cannot find it)."""
    return any(node.get(key) is not None for key in ("op", "expr", "share"))


def _may_nest(node: dict[str, Any]) -> bool:
    """Whether a node may build a nested model whose layers are known only when built
    (a ``keras.applications`` backbone, a registered layer type)."""
    type_name = node.get("type")
    if not isinstance(type_name, str):
        return False
    return "." in type_name or type_name in registry.layers


def _stage(ctx: Context, stage: dict[str, Any], path: PathT) -> None:
    optimizer = stage.get("optimizer")
    if optimizer is not None:
        check_optimizer(ctx, optimizer, (*path, "optimizer"))
    if (
        isinstance(optimizer, dict)
        and "learning_rate" in optimizer
        and stage.get("learning_rate") is not None
    ):
        ctx.add(
            (*path, "learning_rate"),
            "expected one learning rate per stage. Received: learning_rate="
            f"{shown(stage['learning_rate'])} and optimizer.learning_rate="
            f"{shown(optimizer['learning_rate'])}. Keep one of them.",
            key=True,
        )


def _names(ctx: Context, stages: list[Any]) -> None:
    seen: dict[str, int] = {}
    for i, stage in enumerate(stages):
        name = stage.get("name") if isinstance(stage, dict) else None
        if not isinstance(name, str):
            continue
        if name in seen:
            ctx.add(
                ("train", "stages", i, "name"),
                f"expected a name of its own for each stage. Received: name={shown(name)}, "
                f"the name of stage {seen[name] + 1} too",
            )
        seen.setdefault(name, i)


def _epochs(ctx: Context, section: dict[str, Any]) -> None:
    """``train.epochs`` alongside ``stages`` is the run's length (like ``--epochs``): a
    warning says what it does to the stages when it is not their sum."""
    stages = as_list(section.get("stages"))
    epochs = section.get("epochs")
    if not stages or type(epochs) is not int or epochs <= 0:
        return
    counts = [s.get("epochs") if isinstance(s, dict) else None for s in stages]
    if not all(type(c) is int and c > 0 for c in counts):
        return  # a stage's own problem, reported there
    total, i = 0, 0
    for i, count in enumerate(counts):  # noqa: B007 (the stage the run stops in)
        total += count  # type: ignore[operator]
        if epochs <= total:
            break
    if epochs == total and i == len(counts) - 1:
        return
    name = stages[i].get("name") or f"stage_{i + 1}"
    if epochs > total:
        more = epochs - total
        effect = f"the last stage, '{clipped(name)}', trains {more} more epoch{'s' * (more > 1)}"
    else:
        effect = f"the run stops after epoch {epochs}, in stage '{clipped(name)}'"
        if i < len(counts) - 1:
            effect += f" ({len(counts) - 1 - i} later stage(s) do not run)"
    ctx.add(
        ("train", "epochs"),
        f"train.epochs={epochs} is not the stages' total ({' + '.join(map(str, counts))} = "
        f"{sum(counts)}): {effect}. Leave train.epochs out to train each stage's epochs.",  # type: ignore[arg-type]
        warning=True,
    )
