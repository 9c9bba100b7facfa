"""Node types from outside ``keras.layers``: ``keras.applications`` models and KerasHub layers.

A spec names them with a prefix: ``applications.MobileNetV2`` (a function of
``keras.applications`` that builds a model, used as a nested ``keras.Model``)
and ``hub.TransformerEncoder`` (a class of ``keras_hub.layers``, from the
optional ``modelspec[hub]`` extra). Their signatures are written into the
shipped catalogue by :func:`applications_catalogue` and :func:`hub_catalogue`
(which import Keras, KerasHub), so ``validate`` checks them without importing
either.

Example:
    >>> split_type("applications.MobileNetV2"), split_type("hub.PositionEmbedding")
    (('applications', 'MobileNetV2'), ('hub', 'PositionEmbedding'))
    >>> split_type("Dense") is None
    True
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable
from typing import Any

from .signatures import (
    ArgInfo,
    LayerSignature,
    _json_default,
    keras_catalogue,
    signature_from_class,
    signature_to_json,
)

#: The prefix of each namespace and the catalogue section its signatures are in.
SECTIONS = {"applications": "applications", "hub": "hub_layers"}
#: Where each namespace's types come from, as listings show it.
SOURCES = {"applications": "keras.applications", "hub": "keras_hub"}
#: The command that installs KerasHub for modelspec.
HUB_INSTALL = "pip install 'modelspec[hub]'"
#: Arguments of a ``keras.applications`` function a spec does not pass: the
#: model is called on the node's input, and it takes the node's name.
APPLICATION_SKIPPED = ("input_tensor", "name")
#: Arguments whose values are a few names (``None`` is null in a spec).
APPLICATION_CHOICES: dict[str, tuple[str | None, ...]] = {
    "weights": (None, "imagenet"),
    "pooling": (None, "avg", "max"),
}
#: ``weights`` is null unless a spec says ``imagenet``: a build never downloads by default.
APPLICATION_DEFAULTS: dict[str, Any] = {"weights": None}


def split_type(type_name: str) -> tuple[str, str] | None:
    """``(namespace, name)`` for a prefixed type name (``applications.X``, ``hub.X``)."""
    prefix, dot, name = type_name.partition(".")
    return (prefix, name) if dot and prefix in SECTIONS and name else None


def application_functions() -> dict[str, Callable[..., Any]]:
    """The model-building functions of ``keras.applications``, by name (imports Keras)."""
    import keras

    found = {}
    for name in sorted(dir(keras.applications)):
        fn = getattr(keras.applications, name)
        if name[:1].isupper() and callable(fn) and not isinstance(fn, type | types.ModuleType):
            found[name] = fn
    return found


def application_signature(name: str, fn: Callable[..., Any]) -> LayerSignature:
    """The signature of ``keras.applications.<name>`` as a spec uses it.

    Example:
        >>> import keras
        >>> sig = application_signature("MobileNetV2", keras.applications.MobileNetV2)
        >>> sig.type, sig.args["weights"].default, sig.args["pooling"].kind.description
        ('applications.MobileNetV2', None, "null or one of 'avg', 'max'")
    """
    args: dict[str, ArgInfo] = {}
    for p in inspect.signature(fn).parameters.values():
        if p.name in APPLICATION_SKIPPED or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        required = p.default is inspect.Parameter.empty
        given = APPLICATION_DEFAULTS.get(p.name, None if required else p.default)
        default, is_tuple, _ = _json_default(given)
        choices = APPLICATION_CHOICES.get(p.name, ())
        args[p.name] = ArgInfo(p.name, required, default, is_tuple, choices=choices)
    summary = (inspect.getdoc(fn) or "").split("\n", 1)[0]
    return LayerSignature(
        f"applications.{name}", SOURCES["applications"], args, ("inputs",), summary
    )


def applications_catalogue() -> dict[str, Any]:
    """The ``applications`` section of the catalogue (imports Keras)."""
    return {
        name: signature_to_json(application_signature(name, fn))
        for name, fn in application_functions().items()
    }


def hub_layer_classes() -> dict[str, type] | None:
    """The ``keras.layers.Layer`` classes of ``keras_hub.layers``, by name; ``None``
    when KerasHub is not installed (imports it)."""
    try:
        import keras_hub
    except ImportError:
        return None
    import keras

    return {
        name: cls
        for name in sorted(dir(keras_hub.layers))
        if isinstance(cls := getattr(keras_hub.layers, name), type)
        and issubclass(cls, keras.layers.Layer)
    }


def hub_catalogue() -> dict[str, Any] | None:
    """The KerasHub part of the catalogue (its version and ``hub_layers``), or
    ``None`` when KerasHub is not installed."""
    classes = hub_layer_classes()
    if classes is None:
        return None
    import keras_hub

    return {
        "keras_hub_version": keras_hub.__version__,
        "hub_layers": {
            name: signature_to_json(
                signature_from_class(f"hub.{name}", cls, SOURCES["hub"], docstring=True)
            )
            for name, cls in classes.items()
        },
    }


def keras_part() -> dict[str, Any]:
    """The catalogue's part that comes from the installed Keras (this imports
    Keras): :func:`~modelspec.catalogue.signatures.keras_catalogue` and the
    ``applications``."""
    return keras_catalogue() | {"applications": applications_catalogue()}
