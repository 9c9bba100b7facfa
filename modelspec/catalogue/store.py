"""The catalogue: every signature and name a spec can use, read without importing Keras.

Validating a spec that only uses built-in layers must not import Keras, so the
constructor and ``call`` signatures of every ``keras.layers`` class (and of the
layers modelspec ships), the parameters of every ``keras.ops`` function, the
optimizers, schedules and callbacks, and the names of activations, losses,
metrics... are read from ``keras_catalogue.json``.
``make catalogue`` (``python -m modelspec.layers.catalogue``) rewrites that
file from the installed Keras; a test checks it matches. With another Keras
version installed, its part of the catalogue is generated once (this imports
Keras) and cached per version.

Example:
    >>> keras_layer("Dense").args["units"].required
    True
    >>> op_signature("mean").keywords
    ['x', 'axis', 'keepdims']
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
from pathlib import Path
from typing import Any

from .backbones import SECTIONS, SOURCES, keras_part, split_type
from .signatures import (
    CALLBACKS,
    LayerSignature,
    OpSignature,
    op_signature_from_json,
    signature_from_json,
)

CATALOGUE_PATH = Path(__file__).with_name("keras_catalogue.json")
#: The catalogue's parts that do not change with the Keras version: modelspec's
#: own layers and functions, and KerasHub's layers (from the KerasHub version
#: ``make catalogue`` saw).
SHIPPED_PARTS = ("modelspec_layers", "modelspec_names", "hub_layers", "keras_hub_version")


def installed_keras_version() -> str | None:
    """The installed Keras's version, read from its metadata (no import)."""
    try:
        return importlib.metadata.version("keras")
    except importlib.metadata.PackageNotFoundError:
        return None


def cache_dir() -> Path:
    """Where catalogues generated for other Keras versions are kept."""
    root = os.environ.get("MODELSPEC_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME")
    return Path(root) / "modelspec" if root else Path.home() / ".cache" / "modelspec"


@functools.cache
def _raw() -> dict[str, Any]:
    """The catalogue for the installed Keras.

    The shipped file when it was generated from the installed version, else
    one whose Keras part is generated once (this imports Keras) and cached per
    Keras version; the shipped layers' part is the shipped file's. A cached
    file that lacks a part the shipped one has (an older modelspec wrote it)
    is generated again.
    """
    with CATALOGUE_PATH.open(encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    installed = installed_keras_version()
    if installed is None or installed == data["keras_version"]:
        return data
    shipped = {part: data[part] for part in SHIPPED_PARTS}
    cached = cache_dir() / f"keras_catalogue-{installed}.json"
    try:
        with cached.open(encoding="utf-8") as f:
            found: dict[str, Any] = json.load(f)
        if isinstance(found, dict) and set(data) <= set(found):
            return found | shipped
    except (OSError, ValueError):
        pass
    data = json.loads(json.dumps(keras_part() | shipped))
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, cached)
    except OSError:
        pass  # a read-only home: regenerate next time
    return data


def keras_version() -> str:
    """The Keras version the shipped catalogue was generated from."""
    return str(_raw()["keras_version"])


@functools.cache
def keras_layer(type_name: str) -> LayerSignature | None:
    """Signature of a built-in layer (Keras's or modelspec's, a ``keras.applications``
    model, a KerasHub layer), without importing Keras.

    Example:
        >>> keras_layer("applications.MobileNetV2").args["alpha"].default
        1.0
        >>> keras_layer("hub.PositionEmbedding").required
        ['sequence_length']
    """
    raw = _raw()
    prefixed = split_type(type_name)
    if prefixed is not None:
        namespace, name = prefixed
        entry = raw[SECTIONS[namespace]].get(name)
        return None if entry is None else signature_from_json(type_name, SOURCES[namespace], entry)
    if type_name in raw["modelspec_layers"]:
        return signature_from_json(type_name, "modelspec", raw["modelspec_layers"][type_name])
    if type_name in raw["layers"]:
        return signature_from_json(type_name, "keras", raw["layers"][type_name])
    return None


@functools.cache
def keras_class(section: str, name: str) -> LayerSignature | None:
    """Signature of an optimizer, a learning-rate schedule, a callback, a loss or a
    metric class (``section`` is ``optimizers``, ``schedules``, ``callbacks``,
    ``losses`` or ``metrics``), by its spec name (``adam``, ``early_stopping``) or
    its class name in any case; a loss or metric also by its function's name
    (``binary_crossentropy`` is the class ``BinaryCrossentropy``).

    Example:
        >>> keras_class("losses", "binary_crossentropy").type
        'BinaryCrossentropy'
    """
    entries = _raw()[section]
    raw = entries.get(name.lower())
    squash = section in ("losses", "metrics")

    def same(class_name: str) -> bool:
        if squash:
            return class_name.lower() == name.lower().replace("_", "")
        return class_name.lower() == name.lower()

    if raw is None:
        raw = next((r for r in entries.values() if same(r["class_name"])), None)
    if raw is None:
        return None
    return signature_from_json(raw["class_name"], "keras", raw)


def metric_logged_name(name: str) -> str | None:
    """The name a metric class (by :func:`keras_class`'s names) logs under when
    given none; ``None`` for an unknown class.

    Example:
        >>> metric_logged_name("AUC"), metric_logged_name("SparseTopKCategoricalAccuracy")
        ('auc', 'sparse_top_k_categorical_accuracy')
    """
    sig = keras_class("metrics", name)
    if sig is None:
        return None
    logged = _raw()["metrics"].get(sig.type, {}).get("logged_name")
    return logged if isinstance(logged, str) else None


def callback_name(name: str) -> str | None:
    """The spec name (``early_stopping``) of a callback named by its spec name or
    its class name (``EarlyStopping``), in any case; ``None`` when unknown.

    Example:
        >>> callback_name("ModelCheckpoint"), callback_name("csv_logger")
        ('model_checkpoint', 'csv_logger')
    """
    sig = keras_class("callbacks", name)
    return next((k for k, v in CALLBACKS.items() if sig and v == sig.type), None)


def keras_class_names(section: str) -> list[str]:
    """The names specs use for the optimizers (``adam``), schedules
    (``ExponentialDecay``) or callbacks (``early_stopping``) they can name."""
    entries = _raw()[section]
    if section == "schedules":
        return sorted(raw["class_name"] for raw in entries.values())
    return sorted(entries)


def builtin_layer_names() -> list[str]:
    """Every layer type name usable without a plugin (``applications.`` and ``hub.``
    ones included)."""
    raw = _raw()
    prefixed = {f"{prefix}.{name}" for prefix, section in SECTIONS.items() for name in raw[section]}
    return sorted({*raw["layers"], *raw["modelspec_layers"], *prefixed})


def adapting_layer_names() -> list[str]:
    """The built-in layer types with an ``adapt`` method (their state comes from data).

    Example:
        >>> adapting_layer_names()[:2]
        ['Discretization', 'IntegerLookup']
    """
    raw = _raw()
    entries = {**raw["layers"], **raw["modelspec_layers"]}
    return sorted(name for name, entry in entries.items() if entry.get("adapts"))


def builtin_names(namespace: str) -> set[str]:
    """Names Keras and modelspec know in ``namespace`` (``activations``, ``losses``...)."""
    raw = _raw()
    return {*raw["names"].get(namespace, ()), *raw["modelspec_names"].get(namespace, ())}


@functools.cache
def op_signature(name: str) -> OpSignature | None:
    """Parameters of the ``keras.ops`` function ``name`` a spec may call, without
    importing Keras; ``None`` for an unknown or a refused op (:func:`refused_op`)."""
    raw = _raw()["ops"].get(name)
    return None if raw is None else op_signature_from_json(name, raw)


def op_names() -> list[str]:
    """Every ``keras.ops`` function a spec may call, sorted."""
    return sorted(_raw()["ops"])


def refused_op(name: str) -> str | None:
    """Why a spec may not call ``keras.ops.<name>``, or ``None`` when it may or
    when Keras has no such op.

    Example:
        >>> refused_op("shape")
        'it returns a Python tuple, not a tensor; use node.shape[k] in a ${...} expression'
    """
    reason = _raw()["refused_ops"].get(name)
    return None if reason is None else str(reason)
