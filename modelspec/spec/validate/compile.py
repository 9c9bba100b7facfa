"""The compile section: losses, metrics and loss weights against the outputs; the optimizer.

Example:
    >>> from modelspec.spec.loader import load_document
    >>> ctx = Context(load_document('''
    ... outputs: [probs]
    ... compile: {loss: {prob: mse}}
    ... '''), allow_imports=False)
    >>> check_compile(ctx)
    >>> ctx.diagnostics[0].message
    "unknown output 'prob' (the outputs are probs). Did you mean 'probs'?"
"""

from __future__ import annotations

from typing import Any

from ...errors import clipped, did_you_mean, listed, shown
from ..loader import PathT
from .arguments import check_args, keras_class, known_name, typed
from .context import Context, as_list, output_names


def check_compile(ctx: Context) -> None:
    section = ctx.data.get("compile")
    if not isinstance(section, dict):
        return
    names = output_names(ctx.data.get("outputs"))
    for key, namespace in (("loss", "losses"), ("metrics", "metrics"), ("loss_weights", "")):
        value = section.get(key)
        # Keras takes a flat metrics list for one output, or one metric per output
        per_output = key != "metrics" or len(names) > 1
        if per_output and isinstance(value, list) and names and len(value) != len(names):
            hint = " or a mapping {output: [metrics]}" if key == "metrics" else ""
            ctx.add(
                ("compile", key),
                f"expected one entry per output ({len(names)}: {listed(names)}){hint}. "
                f"Received {len(value)}: {key}={shown(value)}",
            )
        for sub, item in _named_items(value):
            if isinstance(sub, str) and sub and names and sub not in names:
                ctx.add(
                    ("compile", key, sub),
                    f"unknown output '{clipped(sub)}' (the outputs are {listed(names)})."
                    f"{did_you_mean(sub, names)}",
                    key=True,
                )
            if namespace and isinstance(item, str):
                known_name(ctx, namespace, item, ("compile", key, *_as_path(sub)))
    _weights_need_losses(ctx, section, names)
    check_optimizer(ctx, section.get("optimizer"), ("compile", "optimizer"))


def _weights_need_losses(ctx: Context, section: dict[str, Any], names: list[str]) -> None:
    """A loss mapping may leave outputs out; those outputs take no loss weight."""
    loss, weights = section.get("loss"), section.get("loss_weights")
    if not isinstance(loss, dict):
        return
    if isinstance(weights, dict):
        for out in weights:
            if out in names and out not in loss:
                ctx.add(
                    ("compile", "loss_weights", out),
                    f"output '{clipped(out)}' has no loss (compile.loss does not name it), so "
                    "it takes no loss weight. Give it a loss, or drop its weight.",
                    key=True,
                )
    elif isinstance(weights, list) and len(weights) != len(loss):
        ctx.add(
            ("compile", "loss_weights"),
            f"expected one weight per loss ({len(loss)}: {', '.join(map(str, loss))}). "
            f"Received {len(weights)}: loss_weights={shown(weights)}",
        )


def logged_names(data: dict[str, Any]) -> set[str] | None:
    """The names training logs for a spec's compile section, ``val_`` ones aside: ``loss``,
    each output's loss when several outputs have one, and each metric (prefixed with
    its output's name when the model has several outputs). ``None`` when they cannot
    be told from the spec (no loss yet, or outputs whose names Keras would make up).

    Example:
        >>> sorted(logged_names({"outputs": {"cls": "a", "box": "b"},
        ...     "compile": {"loss": {"cls": "ce", "box": "mse"}, "metrics": {"cls": ["acc"]}}}))
        ['box_loss', 'cls_acc', 'cls_loss', 'loss']
    """
    section, outputs = data.get("compile"), data.get("outputs")
    if not isinstance(section, dict) or not section.get("loss"):
        return None
    names = output_names(outputs)
    if not isinstance(outputs, dict):  # Keras names list outputs by their layer
        layers = [n for n in as_list(data.get("layers")) if isinstance(n, dict)]
        named = [n.get("name") for n in layers if n.get("add_loss") is not None]
        if not all(isinstance(n, str) for n in named):
            return None  # a wrong name: reported by the structure stage
        with_loss = set(named)
        indexed = any(isinstance(r, str) and "[" in r for r in as_list(outputs))
        names = [f"{n}_add_loss" if n in with_loss else n for n in names]
        if indexed or len(set(names)) != len(names):
            return None
    loss = section["loss"]
    has_loss = [n for n in names if n in loss] if isinstance(loss, dict) else names
    logged = {"loss"} | ({f"{n}_loss" for n in has_loss} if len(has_loss) > 1 else set())
    metrics = section.get("metrics")
    if isinstance(metrics, list) and len(names) > 1 and len(metrics) == len(names):
        metrics = {n: [m] for n, m in zip(names, metrics, strict=True)}
    if isinstance(metrics, list):
        logged |= {m for m in metrics if isinstance(m, str)}
    elif isinstance(metrics, dict):
        prefix = len(names) > 1
        for out, items in metrics.items():
            logged |= {f"{out}_{m}" if prefix else m for m in as_list(items) if isinstance(m, str)}
    return logged


def check_optimizer(ctx: Context, optimizer: Any, path: PathT) -> None:
    """An optimizer: a name, or ``{type: name, **args}`` with its arguments checked."""
    name = optimizer.get("type") if isinstance(optimizer, dict) else optimizer
    if isinstance(optimizer, dict) and "type" not in optimizer:
        ctx.add(path, "missing required key 'type' (the optimizer's name, such as adam)")
        return
    if isinstance(optimizer, dict) and not typed(
        ctx, optimizer, path, "an optimizer name such as adam"
    ):
        return
    sig = keras_class(ctx, "optimizers", name, (*path, "type") if name != optimizer else path)
    if sig is not None and isinstance(optimizer, dict):
        args = {k: v for k, v in optimizer.items() if k != "type"}
        check_args(ctx, sig, args, path)


def _as_path(sub: Any) -> PathT:
    if sub is None:
        return ()
    return sub if isinstance(sub, tuple) else (sub,)


def _named_items(value: Any) -> list[tuple[Any, Any]]:
    """(sub-path, name) pairs of a loss/metrics value: a name, a list, or per output."""
    if isinstance(value, str):
        return [(None, value)]
    if isinstance(value, list):
        return list(enumerate(value))
    if isinstance(value, dict):
        pairs: list[tuple[Any, Any]] = []
        for out, item in value.items():
            if isinstance(item, list):
                pairs.extend(((out, i), v) for i, v in enumerate(item))
            else:
                pairs.append((out, item))
        return pairs
    return []
