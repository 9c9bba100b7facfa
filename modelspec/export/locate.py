"""Export failures located at the spec lines of the layers they concern.

Converters name TensorFlow operations (``TensorListReserve``...) or op names
(``model/lstm/while``...); :func:`layers_using_ops` and the name scopes map
them back to layers, and :func:`failure` to those layers' spec lines.

Example:
    >>> from modelspec.export.locate import op_list
    >>> op_list(ValueError("failed to legalize operation 'tf.TensorListReserve'"))
    'no rule for TensorListReserve'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import keras

from ..errors import ExportError
from .format import Format
from .source import LoadedSource


def op_list(err: Exception) -> str:
    """The operations a converter names in its error, for one line."""
    text = str(err)
    for pattern in (
        r"failed to legalize operation '(?:tf\.)?(\w+)'",
        r"No conversion rule found for operations: ([^\n]+)",
        r"Unsupported ops: Counter\(\{([^}]*)\}\)",
        r"Conversion is failed for: ([^\n]+)",
    ):
        found = re.search(pattern, text)
        if found:
            return "no rule for " + found.group(1).strip()
    ops = sorted(set(re.findall(r"\btf\.(\w+)\(", text)))
    if ops:
        return "no rule for " + ", ".join(ops)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:300] if lines else type(err).__name__


def op_types(err: Exception) -> list[str]:
    """Operation type names (or prefixes, like OpenVINO's ``TensorList``) in ``err``."""
    summary = op_list(err)
    if not summary.startswith("no rule for "):
        return []
    return re.findall(r"[A-Z][A-Za-z0-9]+", summary.removeprefix("no rule for "))


def layers_using_ops(model: keras.Model, op_types: Iterable[str]) -> list[str]:
    """Names of the model's layers whose TensorFlow graph has ops of these types
    (a type matches as a prefix: ``TensorList`` finds ``TensorListReserve``),
    loops and conditions looked into."""
    import tensorflow as tf

    prefixes = tuple(op_types)
    if not prefixes:
        return []
    specs = [tf.TensorSpec(t.shape, t.dtype, name=t.name) for t in model.inputs]
    fn = tf.function(lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False))
    graph_def = fn.get_concrete_function(*specs).graph.as_graph_def()
    library = {f.signature.name: f for f in graph_def.library.function}

    def op_types_in(node: Any, seen: set[str]) -> Iterator[str]:
        yield node.op
        called = [node.op]  # a call of a library function, or loop/branch bodies
        for attr in node.attr.values():
            called += [attr.func.name] if attr.HasField("func") else []
            called += [f.name for f in attr.list.func]
        for name in called:
            if name in library and name not in seen:
                seen.add(name)
                for inner in library[name].node_def:
                    yield from op_types_in(inner, seen)

    layer_names = [layer.name for layer in model.layers]
    found: list[str] = []
    for node in graph_def.node:
        if any(t.startswith(prefixes) for t in op_types_in(node, set())):
            layer = _layer_of(node.name, layer_names)
            if layer and layer not in found:
                found.append(layer)
    return found


def _layer_of(op_name: str, layer_names: Sequence[str]) -> str | None:
    """The outermost layer whose name scope an op name is in."""
    for part in op_name.split("/")[1:]:  # the first scope is the model's
        for candidate in (part, re.sub(r"_\d+$", "", part)):
            if candidate in layer_names:
                return candidate
    return None


class Located(Exception):
    """A failure whose cause is known: ``reason``, and the layers it concerns."""

    def __init__(self, reason: str, layers: list[str]) -> None:
        super().__init__(reason)
        self.reason, self.layers = reason, layers


def _layers_named_in(text: str, model: keras.Model) -> list[str]:
    """Layers whose name scope appears in op names quoted in ``text``."""
    names = [layer.name for layer in model.layers]
    found: list[str] = []
    for op_name in re.findall(r"[\w.\-]+(?:/[\w.\-]+)+", text):
        layer = _layer_of(op_name, names)
        if layer and layer not in found:
            found.append(layer)
    return found


def failure(
    fmt: Format, stage: str, err: Exception, source: LoadedSource, formats: Iterable[str]
) -> ExportError:
    """An export failure, located at the spec lines of the layers it concerns.

    Args:
        fmt: The format.
        stage: ``convert`` (the converter refused) or ``check`` (the artifact's
            runtime refused it).
        err: What was raised.
        source: What was being exported.
        formats: Every format's name (the message suggests the others).
    """
    if isinstance(err, Located):
        reason, layers = err.reason, err.layers
    else:
        reason = op_list(err) if stage == "convert" else _first_lines(err)
        try:  # locating is best effort: the converter's own message still stands
            layers = layers_using_ops(source.model, op_types(err))
        except Exception:
            layers = []
        layers = layers or _layers_named_in(str(err), source.model)
    if stage == "convert":
        head = f"{fmt.name} export failed: the converter cannot take this model ({reason})"
        verb = "cannot convert"
    else:
        runtime = fmt.runtime
        head = f"{fmt.name} export failed its check: {runtime} cannot run the artifact ({reason})"
        verb = f"artifact fails in {runtime} at"
    lines = [head]
    by_name = {node.name: i for i, node in enumerate(source.spec.layers)} if source.spec else {}
    for name in layers:
        message = f"{fmt.name} {verb} this {type(source.model.get_layer(name)).__name__} layer"
        if name in by_name and source.spec is not None:
            where = source.spec.document.diagnostic(("layers", by_name[name]), message, node=name)
            lines.append(where.format())
        else:
            lines.append(f"layer '{name}': {message}")
    if not layers and not isinstance(err, Located) and stage == "convert":
        lines.append(f"{type(err).__name__}: {_first_lines(err)}")
    others = [f for f in formats if f != fmt.name]
    lines.append(
        f"Nothing was written. Export this model to another format ({', '.join(others)}), "
        "or change the layer."
    )
    return ExportError("\n".join(lines))


def _first_lines(err: Exception, limit: int = 400) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
