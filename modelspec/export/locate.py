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


def layers_using_ops(model: keras.Model, op_types: Iterable[str]) -> list[LayerPath]:
    """The model's layers whose TensorFlow graph has ops of these types
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

    found: list[LayerPath] = []
    for node in graph_def.node:
        if any(t.startswith(prefixes) for t in op_types_in(node, set())):
            layer = _layer_of(node.name, model)
            if layer and layer not in found:
                found.append(layer)
    return found


#: A layer inside a model: its name, after the names of the block instances it is in.
LayerPath = tuple[str, ...]


def _layer_of(op_name: str, model: Any) -> LayerPath | None:
    """The layer whose name scope an op name is in, looked for inside nested models
    (block instances) too."""
    path: list[str] = []
    layers = {layer.name: layer for layer in model.layers}
    for part in op_name.split("/")[1:]:  # the first scope is the model's
        for candidate in (part, re.sub(r"_\d+$", "", part)):
            if candidate in layers:
                path.append(candidate)
                inner = layers[candidate]
                layers = {x.name: x for x in inner.layers} if isinstance(inner, keras.Model) else {}
                break
    return tuple(path) or None


class Located(Exception):
    """A failure whose cause is known: ``reason``, and the layers it concerns."""

    def __init__(self, reason: str, layers: Sequence[str | LayerPath]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.layers = [(n,) if isinstance(n, str) else n for n in layers]


def _layers_named_in(text: str, model: keras.Model) -> list[LayerPath]:
    """Layers whose name scope appears in op names quoted in ``text``."""
    found: list[LayerPath] = []
    for op_name in re.findall(r"[\w.\-]+(?:/[\w.\-]+)+", text):
        layer = _layer_of(op_name, model)
        if layer and layer not in found:
            found.append(layer)
    return found


def _where(source: LoadedSource, path: LayerPath, message: str) -> str:
    """``message`` at the spec line of the layer at ``path`` (inside a block instance,
    at the instance, naming the definition)."""
    if source.spec is None:
        return f"layer '{'/'.join(path)}': {message}"
    doc = source.spec.document
    for depth, name in enumerate(path):
        layers = doc.data.get("layers", []) if isinstance(doc.data, dict) else []
        index = next((i for i, n in enumerate(layers) if n.get("name") == name), None)
        if index is None:
            break
        if depth == len(path) - 1 or name not in doc.bodies:
            return doc.diagnostic(("layers", index), message, node=name).format()
        doc = doc.bodies[name]
    return f"layer '{'/'.join(path)}': {message}"


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
    for path in layers:
        layer = source.model
        for name in path:
            layer = layer.get_layer(name)
        message = f"{fmt.name} {verb} this {type(layer).__name__} layer"
        lines.append(_where(source, path, message))
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
