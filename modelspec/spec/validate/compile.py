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

from ...errors import did_you_mean
from ..loader import PathT
from .arguments import check_args, keras_class, known_name, typed
from .context import Context, output_names


def check_compile(ctx: Context) -> None:
    section = ctx.data.get("compile")
    if not isinstance(section, dict):
        return
    names = output_names(ctx.data.get("outputs"))
    for key, namespace in (("loss", "losses"), ("metrics", "metrics"), ("loss_weights", "")):
        value = section.get(key)
        if key != "metrics" and isinstance(value, list) and names and len(value) != len(names):
            ctx.add(
                ("compile", key),
                f"expected one entry per output ({len(names)}: {', '.join(names)}). "
                f"Received {len(value)}: {key}={value!r}",
            )
        for sub, item in _named_items(value):
            if isinstance(sub, str) and sub and names and sub not in names:
                ctx.add(
                    ("compile", key, sub),
                    f"unknown output '{sub}' (the outputs are {', '.join(names)})."
                    f"{did_you_mean(sub, names)}",
                    key=True,
                )
            if namespace and isinstance(item, str):
                known_name(ctx, namespace, item, ("compile", key, *_as_path(sub)))
    _optimizer(ctx, section.get("optimizer"))


def _optimizer(ctx: Context, optimizer: Any) -> None:
    path: PathT = ("compile", "optimizer")
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
