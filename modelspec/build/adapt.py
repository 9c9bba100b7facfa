"""``adapt:`` nodes: a preprocessing layer adapted on the training data while the graph is built.

A layer is adapted before it is called, as keras.io does it, because its state
can decide its output's shape (a lookup's vocabulary size in ``one_hot`` mode)
and so the layers after it. What it adapts on is, with ``adapt: true``, the
tensor that reaches the node: a model input's array as it is, or, deeper in the
graph, the sub-model from the model's inputs to that tensor run on the training
inputs (so it sees whatever transforms or layers stand in front of it); with
``adapt: {data: NAME}``, the model input ``NAME``'s array. The state is part of
the model: Normalization's mean and variance are weights, a lookup's vocabulary
is saved with the layer; both reload in safe mode.

Built without data (``build_model(spec)``), such a layer stays unadapted; a
lookup whose output width depends on its vocabulary gets a one-entry stand-in
vocabulary so the layers after it can be built.

Example:
    >>> import numpy as np
    >>> from modelspec import build_model
    >>> spec = '''
    ... modelspec: 1
    ... name: norm
    ... inputs: [{name: x, shape: [2]}]
    ... layers: [{name: n, type: Normalization, adapt: true}]
    ... outputs: [n]
    ... '''
    >>> model = build_model(spec, adapt_data={"x": np.array([[0., 10.], [2., 30.]])})
    >>> model.get_layer("n").mean.numpy().round(1).tolist()
    [[1.0, 20.0]]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..spec.schema import AdaptSpec, LayerNode

#: Lookup output modes whose width is the vocabulary's size.
_WIDE_MODES = ("one_hot", "multi_hot", "count", "tf_idf")
#: The vocabulary of a lookup built without data (``build_model`` without ``adapt_data``).
STAND_IN = "[not adapted]"


def wants_adapt(node: LayerNode) -> bool:
    """Whether a node says ``adapt: true`` or ``adapt: {...}``."""
    return node.adapt is True or isinstance(node.adapt, AdaptSpec)


def has_adapt(layers: list[LayerNode]) -> bool:
    """Whether any of a graph's nodes is adapted."""
    return any(wants_adapt(node) for node in layers)


def adapt_layer(
    layer: Any,
    node: LayerNode,
    field: Any,
    graph_inputs: Mapping[str, Any],
    resolve: Callable[[Any], Any],
    data: Mapping[str, Any] | None,
) -> None:
    """Adapt ``layer`` (node ``node``, called on ``field``) on the training inputs
    ``data``, or give an unadapted lookup its stand-in vocabulary when there is none.

    Args:
        layer: The node's new layer, not called yet.
        node: The node.
        field: What it is called on (its effective ``inputs:``).
        graph_inputs: The graph's input tensors, by name.
        resolve: The tensor(s) of an ``inputs:`` field.
        data: ``{model input: training array}``, or ``None``.
    """
    if data is None:
        _stand_in(layer)
        return
    options = node.adapt if isinstance(node.adapt, AdaptSpec) else AdaptSpec()
    if options.data is not None:
        values = data[options.data]
    else:
        if isinstance(field, dict):  # call arguments: the positional one
            field = field.get("inputs", next(iter(field.values())))
        tensor = resolve(field)
        name = next((n for n, t in graph_inputs.items() if t is tensor), None)
        if name is not None:
            values = data[name]
        else:
            values = _run(graph_inputs, tensor, data, options.batch_size)
    if options.batch_size is not None or options.steps is not None:
        import tensorflow as tf

        values = tf.data.Dataset.from_tensor_slices(values).batch(
            options.batch_size or max(len(values), 1)
        )
        if options.steps is not None:
            values = values.take(options.steps)
    layer.adapt(values)


def _run(
    graph_inputs: Mapping[str, Any], tensor: Any, data: Mapping[str, Any], batch_size: int | None
) -> Any:
    """``tensor`` computed from the graph's inputs on ``data``: the sub-graph in front
    of it, as a functional model."""
    import keras
    import tensorflow as tf

    sub = keras.Model(dict(graph_inputs), tensor)
    dataset = tf.data.Dataset.from_tensor_slices({n: data[n] for n in graph_inputs})
    return sub.predict(dataset.batch(batch_size or 256), verbose=0)


def _stand_in(layer: Any) -> None:
    """A one-entry vocabulary for a lookup built without data whose output width is
    its vocabulary's size, so the layers after it can be built."""
    mode = getattr(layer, "output_mode", getattr(layer, "_output_mode", None))
    if mode not in _WIDE_MODES or not hasattr(layer, "set_vocabulary"):
        return
    if type(layer).__name__ == "IntegerLookup":
        taken = {layer.oov_token, layer.mask_token}
        vocabulary: list[Any] = [next(i for i in range(len(taken) + 1) if i not in taken)]
    else:
        vocabulary = [STAND_IN]
    idf = [1.0] if mode == "tf_idf" else None
    layer.set_vocabulary(vocabulary, idf_weights=idf)
