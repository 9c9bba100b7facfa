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

import dataclasses
import inspect
import re
from typing import Any

from ... import catalogue, plugins, registry
from ...catalogue import ArgInfo, LayerSignature, signature_from_class
from ...errors import clipped, did_you_mean, listed, shown
from ..loader import PathT
from .arguments import NAME_RE, check_args, keras_class, known_name, typed
from .context import Context, as_list, output_names

#: An example class per namespace, for messages.
_EXAMPLES = {"losses": "BinaryCrossentropy", "metrics": "AUC"}
#: Keywords a registered loss or metric class takes through ``**kwargs``.
_BASE_ARGS: dict[str, dict[str, Any]] = {
    "losses": {"reduction": "sum_over_batch_size", "dtype": None},
    "metrics": {"dtype": None},
}


def check_compile(ctx: Context) -> None:
    section = ctx.data.get("compile")
    if not isinstance(section, dict):
        return
    names = output_names(ctx.data.get("outputs"))
    for key, namespace in (("loss", "losses"), ("metrics", "metrics"), ("loss_weights", "")):
        value = section.get(key)
        # Keras takes a flat metrics list for one output, or one metric per output
        per_output = key != "metrics" or len(names) > 1
        loss = section.get("loss")
        if key == "loss_weights" and isinstance(loss, dict) and "type" not in loss:
            per_output = False  # one weight per loss of the mapping: checked below
        if per_output and isinstance(value, list) and names and len(value) != len(names):
            hint = " or a mapping {output: [metrics]}" if key == "metrics" else ""
            ctx.add(
                ("compile", key),
                f"expected one entry per output ({len(names)}: {listed(names)}){hint}. "
                f"Received {len(value)}: {key}={shown(value)}",
            )
        if namespace and _untyped(value, names):
            configured(ctx, namespace, value, ("compile", key))  # {from_logits: true}
            continue
        if isinstance(value, dict) and "type" not in value:
            for out in value:
                if isinstance(out, str) and out and names and out not in names:
                    ctx.add(
                        ("compile", key, out),
                        f"unknown output '{clipped(out)}' (the outputs are {listed(names)})."
                        f"{did_you_mean(out, names)}",
                        key=True,
                    )
        for sub, item in _named_items(value):
            if namespace:
                configured(ctx, namespace, item, ("compile", key, *_as_path(sub)))
    loss = section.get("loss")
    by_output = losses_by_output(loss, names)
    if isinstance(loss, dict) and not set(loss) <= set(names):
        by_output = None  # an unknown output: reported above
    if by_output is not None and _without_loss(ctx, loss, by_output):
        _metrics_need_losses(ctx, section.get("metrics"), by_output)
        _weights_need_losses(ctx, section, names)
    _logits_twice(ctx, loss, by_output, names)
    check_optimizer(ctx, section.get("optimizer"), ("compile", "optimizer"))


#: Activations a probability output ends in, which ``from_logits: true`` would apply again.
_SQUASHING = ("softmax", "sigmoid")


def _logits_twice(
    ctx: Context, loss: Any, by_output: dict[str, Any] | None, names: list[str]
) -> None:
    """A warning for ``from_logits: true`` on an output that ends in softmax or sigmoid:
    the loss would squash the probabilities again (it trains, badly).

    Example:
        >>> from modelspec.spec.loader import load_document
        >>> ctx = Context(load_document('''
        ... layers: [{name: probs, type: Dense, units: 3, activation: softmax}]
        ... outputs: [probs]
        ... compile: {loss: {type: SparseCategoricalCrossentropy, from_logits: true}}
        ... '''), allow_imports=False)
        >>> check_compile(ctx)
        >>> print(ctx.diagnostics[0].message)  # doctest: +ELLIPSIS
        from_logits: true, but output 'probs' ends in a softmax (node 'probs'): ...
    """
    pairs: list[tuple[str, Any, PathT]]
    if by_output is None:  # one loss for every output
        pairs = [(out, loss, ("compile", "loss")) for out in names]
    else:
        keys: list[Any] = list(range(len(names))) if isinstance(loss, list) else list(names)
        place = dict(zip(names, keys, strict=False))
        pairs = [
            (out, value, ("compile", "loss", place.get(out, out)))
            for out, value in by_output.items()
        ]
    outputs = ctx.data.get("outputs")
    refs: dict[Any, Any] = outputs if isinstance(outputs, dict) else {n: n for n in names}
    nodes = {
        n["name"]: n
        for n in as_list(ctx.data.get("layers"))
        if isinstance(n, dict) and isinstance(n.get("name"), str)
    }
    for out, value, path in pairs:
        if not (isinstance(value, dict) and value.get("from_logits") is True):
            continue
        ref = refs.get(out)
        node = nodes.get(ref.split("[")[0]) if isinstance(ref, str) else None
        if node is None:
            continue
        kind, activation = node.get("type"), node.get("activation")
        squash = "softmax" if kind == "Softmax" else activation
        if squash in _SQUASHING:
            ctx.add(
                (*path, "from_logits"),
                f"from_logits: true, but output '{clipped(out)}' ends in a {squash} "
                f"(node '{clipped(str(node.get('name')))}'): the loss would apply it again "
                "to probabilities. Drop the activation (logits out, as from_logits says), "
                "or set from_logits: false.",
                warning=True,
            )


def configured(ctx: Context, namespace: str, value: Any, path: PathT) -> None:
    """A loss or metric: a known name, or ``{type: Class, **args}`` with its
    arguments checked against the class's signature (Keras's or a registered class's).

    Example:
        >>> from modelspec.spec.loader import load_document
        >>> ctx = Context(load_document("{}"), allow_imports=False)
        >>> configured(ctx, "losses", {"type": "BinaryCrossentropy", "from_logit": True}, ())
        >>> ctx.diagnostics[0].message
        "unknown argument 'from_logit' for BinaryCrossentropy. Did you mean 'from_logits'?"
    """
    noun = registry.REGISTRIES[namespace].kind
    if isinstance(value, str):
        known_name(ctx, namespace, value, path)
        return
    if value is None and namespace == "losses":
        return  # an output without a loss
    example = _EXAMPLES[namespace]
    if not isinstance(value, dict):
        if namespace == "metrics":
            return  # reported by the structure stage
        ctx.add(
            path,
            f"expected a {noun} name or {{type: {example}, ...}}. Received: {shown(value)}",
        )
        return
    if "type" not in value:
        ctx.add(path, f"missing required key 'type' (the {noun}'s class, such as {example})")
        return
    if not typed(ctx, value, path, f"a {noun} class name such as {example}"):
        return
    name = value.get("name")
    if "name" in value and not (isinstance(name, str) and NAME_RE.match(name)):
        ctx.add(
            (*path, "name"),
            f"expected a name of letters, digits and _ . - (the name it logs under). "
            f"Received: name={shown(name)}",
        )
    args = {k: v for k, v in value.items() if k not in ("type", "name")}
    sig = _signature(ctx, namespace, value["type"], bool(args) or "name" in value, path)
    if sig is not None:  # `name` (checked above) is every loss's and metric's
        named = {"name": ArgInfo("name", default=None)} | dict(sig.args)
        check_args(ctx, dataclasses.replace(sig, args=named), args, path)


def _signature(
    ctx: Context, namespace: str, name: str, with_args: bool, path: PathT
) -> LayerSignature | None:
    """The signature of a ``{type: ...}`` loss or metric class; report it when unknown."""
    reg = registry.REGISTRIES[namespace]
    obj = reg.get(name)
    if obj is None and catalogue.keras_class(namespace, name) is None:
        plugins.load_entry_point_plugins()  # installed plugins may register it
        obj = reg.get(name)
    if obj is not None:
        if isinstance(obj, type):
            return signature_from_class(name, obj, "registered", _BASE_ARGS[namespace])
        if with_args:
            ctx.add(
                (*path, "type"),
                f"registered {reg.kind} '{clipped(name)}' is a function: it takes no "
                f"arguments. Name it alone (`{clipped(name)}`), or register a "
                f"keras.{namespace}.{'Loss' if namespace == 'losses' else 'Metric'} "
                "subclass to configure it.",
            )
        return None
    sig = catalogue.keras_class(namespace, name)
    if sig is None:
        known = [*catalogue.keras_class_names(namespace), *(n for n in reg if n[:1].isupper())]
        hint = did_you_mean(name, known) or f" Custom {namespace} need their plugin (--plugin)."
        ctx.add(
            (*path, "type"),
            f"unknown {reg.kind} class '{clipped(name)}' (a {{type: ...}} {reg.kind} names a "
            f"class such as {_EXAMPLES[namespace]}).{hint}",
        )
    return sig


def losses_by_output(loss: Any, names: list[str]) -> dict[str, Any] | None:
    """Each output's loss (``None`` for none) when ``loss`` is given per output
    (a list, or a mapping without ``type:``); else ``None`` (one loss for all).

    Example:
        >>> losses_by_output({"cls": "ce", "aux": None}, ["cls", "aux", "box"])
        {'cls': 'ce', 'aux': None, 'box': None}
    """
    if isinstance(loss, list) and len(loss) == len(names):
        return dict(zip(names, loss, strict=True))
    if isinstance(loss, dict) and "type" not in loss:
        return {n: loss.get(n) for n in names}
    return None


def _without_loss(ctx: Context, loss: Any, per_output: dict[str, Any]) -> bool:
    """Outputs without a loss: a warning each; an error when no output has one
    (then ``False``: the weights and metrics are not worth checking)."""
    without = [n for n, v in per_output.items() if v is None]
    if not without:
        return True
    if len(without) == len(per_output):
        ctx.add(
            ("compile", "loss"),
            f"expected a loss for at least one output ({listed(without)}). Received: "
            f"loss={shown(loss)}. A model trained by add_loss terms alone leaves `loss:` out.",
        )
        return False
    names = list(per_output)
    left_out = [n for n in without if isinstance(loss, dict) and n not in loss]
    for out in without:
        if out in left_out:
            continue
        where = names.index(out) if isinstance(loss, list) else out
        ctx.add(
            ("compile", "loss", where),
            f"output '{clipped(out)}' has no loss (null): training leaves it out, "
            "and the data need no target for it",
            warning=True,
        )
    if left_out:
        quoted = ", ".join(f"'{clipped(n)}'" for n in left_out)
        verb = "has" if len(left_out) == 1 else "have"
        them = "them" if len(left_out) > 1 else "it"
        ctx.add(
            ("compile", "loss"),
            f"output{'s' * (len(left_out) > 1)} {quoted} {verb} no loss (compile.loss does "
            f"not name {them}): training leaves {them} out, and the data need no target "
            f"for {them}",
            warning=True,
        )
    _targets_unused(ctx, without)
    return True


def _targets_unused(ctx: Context, without: list[str]) -> None:
    """A target or transform given for an output without a loss is not used: say so."""
    train = ctx.data.get("train")
    data = train.get("data") if isinstance(train, dict) else None
    if not isinstance(data, dict):
        return
    for key in ("targets", "transform"):
        mapping = data.get(key)
        for out in without:
            if isinstance(mapping, dict) and out in mapping:
                ctx.add(
                    ("train", "data", key, out),
                    f"output '{clipped(out)}' has no loss, so it takes no target: this "
                    f"{key[:-1] if key == 'targets' else key} is not used",
                    key=True,
                    warning=True,
                )


def _metrics_need_losses(ctx: Context, metrics: Any, per_output: dict[str, Any]) -> None:
    """Metrics compare an output with its target; an output without a loss gets none."""
    names = list(per_output)
    if isinstance(metrics, list) and len(names) > 1 and len(metrics) == len(names):
        items: list[tuple[PathT, str, Any]] = [
            (("compile", "metrics", i), n, m)
            for i, (n, m) in enumerate(zip(names, metrics, strict=True))
        ]
    elif isinstance(metrics, dict):
        items = [(("compile", "metrics", n), n, m) for n, m in metrics.items()]
    else:
        return
    for path, out, value in items:
        if out in per_output and per_output[out] is None and value:
            ctx.add(
                path,
                f"output '{clipped(out)}' has no loss, so it takes no metrics: they would need "
                "a target, which an output without a loss does not get. Give it a loss "
                f"(with loss_weights {{{clipped(out)}: 0}} it does not change training), or "
                "drop its metrics.",
                key=isinstance(metrics, dict),
            )


def _weights_need_losses(ctx: Context, section: dict[str, Any], names: list[str]) -> None:
    """Outputs left out of a loss mapping or mapped to null take no loss weight."""
    loss, weights = section.get("loss"), section.get("loss_weights")
    per_output = losses_by_output(loss, names)
    if per_output is None:
        return
    if isinstance(weights, dict):
        for out in weights:
            if out in per_output and per_output[out] is None:
                why = "maps it to null" if out in as_dict(loss, names) else "does not name it"
                ctx.add(
                    ("compile", "loss_weights", out),
                    f"output '{clipped(out)}' has no loss (compile.loss {why}), so "
                    "it takes no loss weight. Give it a loss, or drop its weight.",
                    key=True,
                )
    elif isinstance(weights, list) and isinstance(loss, dict):
        with_loss = [n for n in loss if loss[n] is not None]
        if len(weights) != len(with_loss):
            ctx.add(
                ("compile", "loss_weights"),
                f"expected one weight per loss ({len(with_loss)}: {', '.join(with_loss)}). "
                f"Received {len(weights)}: loss_weights={shown(weights)}",
            )


def as_dict(loss: Any, names: list[str]) -> dict[str, Any]:
    """A per-output loss as given: a mapping, or a list keyed by the output names."""
    if isinstance(loss, list):
        return dict(zip(names, loss, strict=False))
    return loss if isinstance(loss, dict) and "type" not in loss else {}


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
    found = _logged(data)
    return None if found is None else found[0] | set(found[1])


def logged_metrics(data: dict[str, Any]) -> dict[str, Any]:
    """``{logged name: metric}`` for a spec's metrics (``val_`` ones aside), as in
    :func:`logged_names`; empty when the names cannot be told from the spec.

    Example:
        >>> logged_metrics({"outputs": ["p"], "compile": {"loss": "ce", "metrics": [
        ...     {"type": "AUC"}, "acc"]}})
        {'auc': {'type': 'AUC'}, 'acc': 'acc'}
    """
    found = _logged(data)
    return {} if found is None else found[1]


def _logged(data: dict[str, Any]) -> tuple[set[str], dict[str, Any]] | None:
    """The losses and the metrics (by logged name) training logs; see :func:`logged_names`."""
    section, outputs = data.get("compile"), data.get("outputs")
    if not isinstance(section, dict) or not section.get("loss"):
        return None
    plain = names = output_names(outputs)
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
    per_output = losses_by_output(section["loss"], plain)
    has_loss = [
        keras_name
        for keras_name, name in zip(names, plain, strict=True)
        if per_output is None or per_output[name] is not None
    ]
    losses = {"loss"} | ({f"{n}_loss" for n in has_loss} if len(has_loss) > 1 else set())
    metrics = section.get("metrics")
    if isinstance(metrics, list) and len(names) > 1 and len(metrics) == len(names):
        metrics = {n: [m] for n, m in zip(names, metrics, strict=True)}
    logged: dict[str, Any] = {}
    if isinstance(metrics, list):
        logged |= {n: m for m in metrics if (n := _metric_name(m))}
    elif isinstance(metrics, dict):
        prefix = len(names) > 1
        for out, items in metrics.items():
            for m in as_list(items):
                if n := _metric_name(m):
                    logged[f"{out}_{n}" if prefix else n] = m
    return losses, logged


def _metric_name(metric: Any) -> str | None:
    """What a metric logs under: its name, its ``name:``, or its class's default."""
    if isinstance(metric, str):
        return metric
    if not isinstance(metric, dict) or not isinstance(metric.get("type"), str):
        return None
    if isinstance(metric.get("name"), str):
        return str(metric["name"])
    cls = registry.metrics.get(metric["type"])
    if isinstance(cls, type):  # Keras's default: the class's name in snake case
        default = inspect.signature(cls.__init__).parameters.get("name")  # type: ignore[misc]
        if default is not None and isinstance(default.default, str):
            return default.default
        name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", re.sub(r"\W+", "", cls.__name__))
        return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()
    return catalogue.metric_logged_name(metric["type"])


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
        _keras_optimizer_rules(ctx, sig.type, args, path)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _keras_optimizer_rules(ctx: Context, cls: str, args: dict[str, Any], path: PathT) -> None:
    """What Keras's optimizers check when made, so that validate ok means it builds."""
    checked = {"momentum": cls == "SGD", "ema_momentum": bool(args.get("use_ema"))}
    for name, applies in checked.items():
        value: Any = args.get(name)
        if applies and _number(value) and not 0 <= value <= 1:
            ctx.add(
                (*path, name),
                f"expected {name} between 0 and 1. Received: {name}={shown(value)}",
            )
    clips = [k for k in ("clipnorm", "clipvalue", "global_clipnorm") if args.get(k) is not None]
    if len(clips) > 1:
        ctx.add(
            (*path, clips[1]),
            "expected one of clipnorm, clipvalue and global_clipnorm. Received: "
            + ", ".join(f"{k}={shown(args[k])}" for k in clips),
            key=True,
        )


def _untyped(value: Any, names: list[str]) -> bool:
    """A mapping that is a loss or metric's arguments without its ``type:``, rather than
    one entry per output (whose keys are outputs, whose values names, mappings, lists
    or null)."""
    return (
        isinstance(value, dict)
        and "type" not in value
        and not any(k in names for k in value)
        and any(not isinstance(v, str | dict | list | None) for v in value.values())
    )


def _as_path(sub: Any) -> PathT:
    if sub is None:
        return ()
    return sub if isinstance(sub, tuple) else (sub,)


def _named_items(value: Any) -> list[tuple[Any, Any]]:
    """(sub-path, name) pairs of a loss/metrics value: a name, a list, or per output."""
    if isinstance(value, str) or (isinstance(value, dict) and "type" in value):
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
