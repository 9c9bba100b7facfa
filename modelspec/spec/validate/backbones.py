"""What Keras would refuse while building a ``keras.applications`` node, or a KerasHub
layer while training, checked first.

Its arguments are checked against the catalogue like a layer's; on top of
that, the model input the node is called on is an image (height, width,
channels), an ``input_shape`` must match its shape, and a classifier head with
ImageNet weights has ImageNet's 1000 classes. A KerasHub position embedding's
``sequence_length`` covers the length of the model input it is called on.

Example:
    >>> from modelspec.spec.loader import load_document
    >>> doc = load_document('''
    ... inputs: [{name: image, shape: [64, 64, 3]}]
    ... layers: [{name: b, type: applications.MobileNetV2, input_shape: [96, 96, 3]}]
    ... ''')
    >>> ctx = Context(doc, allow_imports=False)
    >>> check_application(ctx, 0, doc.data["layers"][0], ("layers", 0))
    >>> print(ctx.diagnostics[0].message)  # doctest: +NORMALIZE_WHITESPACE
    expected the shape of 'image', the input this node is called on ([64, 64, 3]), or no
    input_shape (it is then the input's). Received: input_shape=[96, 96, 3]
"""

from __future__ import annotations

from typing import Any

from ...errors import shown
from ..loader import PathT
from .context import Context, as_list

#: How many classes the ImageNet classifier head has.
IMAGENET_CLASSES = 1000
#: The shape of an application's input, as messages say it.
IMAGE_SHAPE = "[height, width, channels]"


def _input_shape(ctx: Context, index: int, node: dict[str, Any]) -> tuple[str, list[Any]] | None:
    """The name and declared shape of the model input the node is called on, if it is one."""
    inputs = [i for i in as_list(ctx.data.get("inputs")) if isinstance(i, dict)]
    field = node.get("inputs")
    if field is None and index == 0 and len(inputs) == 1:
        field = inputs[0].get("name")
    if not isinstance(field, str):
        return None
    for item in inputs:
        shape = item.get("shape")
        if item.get("name") == field and isinstance(shape, list):
            return field, shape
    return None


def check_application(ctx: Context, index: int, node: dict[str, Any], path: PathT) -> None:
    """A ``keras.applications`` node's arguments, against each other and its input."""
    given = node.get("input_shape")
    found = _input_shape(ctx, index, node)
    if found is not None and len(found[1]) != 3:
        name, shape = found
        ctx.add(
            path,
            f"{node.get('type')} takes images: expected its input '{name}' to have the shape "
            f"{IMAGE_SHAPE}. Received: {shown(shape)}",
        )
        return
    if isinstance(given, list) and found is not None:
        name, shape = found
        same = len(given) == len(shape) and all(
            a is None or b is None or a == b for a, b in zip(given, shape, strict=True)
        )
        if not same:
            ctx.add(
                (*path, "input_shape"),
                f"expected the shape of '{name}', the input this node is called on "
                f"({shown(shape)}), or no input_shape (it is then the input's). "
                f"Received: input_shape={shown(given)}",
            )
    classes = node.get("classes", IMAGENET_CLASSES)
    if (
        node.get("weights") == "imagenet"
        and node.get("include_top", True) is True
        and classes != IMAGENET_CLASSES
        and isinstance(classes, int)
    ):
        ctx.add(
            (*path, "classes"),
            f"expected {IMAGENET_CLASSES} (ImageNet's classes) with weights: imagenet and "
            f"include_top: true. Received: classes={shown(classes)}. For other classes, set "
            "include_top: false (and pooling: avg) and put your own Dense head after it.",
        )


#: KerasHub layers with one position embedding per position up to
#: ``sequence_length``, and the axis of their declared (unbatched) input shape
#: that is the sequence: the token ids' last axis, the features' one before.
POSITION_LAYERS = {"hub.TokenAndPositionEmbedding": -1, "hub.PositionEmbedding": -2}


def check_hub_layer(ctx: Context, index: int, node: dict[str, Any], path: PathT) -> None:
    """A KerasHub position embedding's ``sequence_length`` against the length of the
    model input it is called on (longer inputs fail inside ``fit``, not at build).

    Example:
        >>> from modelspec.spec.loader import load_document
        >>> doc = load_document('''
        ... inputs: [{name: tokens, shape: [16], dtype: int32}]
        ... layers: [{name: e, type: hub.TokenAndPositionEmbedding, vocabulary_size: 50,
        ...   sequence_length: 8, embedding_dim: 4}]
        ... ''')
        >>> ctx = Context(doc, allow_imports=False)
        >>> check_hub_layer(ctx, 0, doc.data["layers"][0], ("layers", 0))
        >>> print(ctx.diagnostics[0].message)  # doctest: +NORMALIZE_WHITESPACE
        expected sequence_length >= the input's length 16 ('tokens', the input this node is
        called on, has the shape [16]). Received: sequence_length=8. The layer has one position
        embedding per position: set sequence_length to the longest input it will see.
    """
    axis = POSITION_LAYERS.get(str(node.get("type")))
    given = node.get("sequence_length")
    found = _input_shape(ctx, index, node)
    if axis is None or found is None or type(given) is not int:
        return
    name, shape = found
    length = shape[axis] if len(shape) >= -axis else None
    if type(length) is int and length > given:
        ctx.add(
            (*path, "sequence_length"),
            f"expected sequence_length >= the input's length {length} ('{name}', the input "
            f"this node is called on, has the shape {shown(shape)}). Received: "
            f"sequence_length={shown(given)}. The layer has one position embedding per "
            "position: set sequence_length to the longest input it will see.",
        )
