"""Signatures of the classes a spec can name: constructor arguments and ``call`` arguments.

A :class:`LayerSignature` is read from a class with :mod:`inspect`
(:func:`signature_from_class`) or from the catalogue's JSON
(:func:`signature_from_json`). :func:`keras_catalogue` writes the part of the
catalogue that comes from the installed Keras (it imports Keras); the shipped
layers' part is written by :mod:`modelspec.layers.catalogue`.

Example:
    >>> import keras
    >>> sig = signature_from_class("Dense", keras.layers.Dense, "keras")
    >>> sig.required, sig.call_args[0]
    (['units'], 'inputs')
"""

from __future__ import annotations

import inspect
import json
import math
import typing
from dataclasses import dataclass
from typing import Any

from .kinds import ArgKind, arg_kind, choice_kind, literal_choices

#: Keywords every Keras layer accepts through ``Layer.__init__``. ``name`` is
#: the node's name and ``input_shape``/``input_dim`` are deprecated, so a spec
#: cannot pass them.
BASE_LAYER_ARGS: dict[str, Any] = {
    "activity_regularizer": None,
    "trainable": True,
    "dtype": None,
    "autocast": True,
}

#: ``keras.layers`` classes a spec cannot name, and why.
REFUSED_LAYERS: dict[str, str] = {
    "Layer": "it is the abstract base class; register a subclass instead",
    "InputLayer": "declare model inputs under `inputs:` instead",
    "Wrapper": "it is an abstract base class; use Bidirectional or TimeDistributed",
    "Lambda": "it runs a Python function; register a custom layer instead",
    "JaxLayer": "it wraps a Python JAX function; register a custom layer instead",
    "FlaxLayer": "it wraps a Python Flax module; register a custom layer instead",
    "TorchModuleWrapper": "it wraps a Python torch module (torch backend only)",
    "TFSMLayer": "it runs a TensorFlow SavedModel from any path, and a SavedModel's graph can "
    "read and write files; register a layer that loads the model you trust instead",
}

#: Optimizer and learning-rate schedule classes a spec cannot name: bases and wrappers.
ABSTRACT_CLASSES = {"Optimizer", "LossScaleOptimizer", "MultiOptimizer", "OptimizerMap"}
ABSTRACT_CLASSES |= {"LearningRateSchedule"}

#: Keras callbacks a spec can name (``type: early_stopping``), by their spec
#: names; the others take Python functions or talk to the network.
CALLBACKS = {
    "early_stopping": "EarlyStopping",
    "reduce_lr_on_plateau": "ReduceLROnPlateau",
    "model_checkpoint": "ModelCheckpoint",
    "tensorboard": "TensorBoard",
    "csv_logger": "CSVLogger",
    "terminate_on_nan": "TerminateOnNaN",
    "backup_and_restore": "BackupAndRestore",
}
#: Names ``model.compile`` accepts beyond the losses' and metrics' own, in any
#: case: it picks the binary, categorical or sparse variant from the shapes
#: (``keras/src/trainers/compile_utils.py``: ``get_metric``, ``get_loss``).
COMPILE_ALIASES: dict[str, tuple[str, ...]] = {
    "metrics": ("accuracy", "acc"),
    "losses": ("crossentropy", "ce"),
}

# Callbacks whose file argument has a default inside the run directory (relative
# paths are taken inside it too): name -> (argument, default).
CALLBACK_RUN_FILES = {
    "model_checkpoint": ("filepath", "best.keras"),
    "csv_logger": ("filename", "history.csv"),
    "tensorboard": ("log_dir", "logs"),
    "backup_and_restore": ("backup_dir", "backup"),
}


@dataclass(frozen=True)
class ArgInfo:
    """One constructor argument of a layer type."""

    name: str
    required: bool = False
    default: Any = None
    is_tuple: bool = False
    annotation: Any = None
    choices: tuple[str, ...] = ()

    @property
    def kind(self) -> ArgKind:
        if self.choices:
            return choice_kind(self.choices)
        default = inspect.Parameter.empty if self.required else self.default
        if self.is_tuple and isinstance(default, list):
            default = tuple(default)
        return arg_kind(self.name, default, self.annotation)


@dataclass(frozen=True)
class LayerSignature:
    """What a layer type accepts: constructor arguments and ``call`` arguments.

    Attributes:
        type: The name a spec uses (``Dense``, ``Antirectifier``...).
        source: ``keras``, ``modelspec`` (shipped) or ``registered``.
        args: Constructor arguments, base ``Layer`` keywords merged in.
        call_args: Names of ``call`` parameters, the positional input first.
        summary: First line of the class docstring.
    """

    type: str
    source: str
    args: dict[str, ArgInfo]
    call_args: tuple[str, ...] = ()
    summary: str = ""

    @property
    def required(self) -> list[str]:
        return [a.name for a in self.args.values() if a.required]


def _json_default(value: Any) -> tuple[Any, bool, bool]:
    """(JSON value, was a tuple, is opaque) for a default value."""
    if isinstance(value, tuple):
        value = [_json_default(v)[0] for v in value]
        return value, True, False
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value), False, True
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value), False, True
    return value, False, False


def signature_from_class(
    type_name: str,
    cls: type,
    source: str = "registered",
    base_args: dict[str, Any] = BASE_LAYER_ARGS,
) -> LayerSignature:
    """Introspect a class's constructor (and, for a layer, ``call``) signatures.

    Args:
        type_name: The name specs use for it.
        cls: A ``keras.layers.Layer`` subclass (or an optimizer, a schedule).
        source: Where it comes from, for listings.
        base_args: Keywords the class takes through ``**kwargs``.
    """
    params = inspect.signature(cls.__init__).parameters  # type: ignore[misc]
    try:
        hints = typing.get_type_hints(cls.__init__)  # type: ignore[misc]
    except Exception:  # annotations that do not resolve are simply not used
        hints = {}
    args: dict[str, ArgInfo] = {}
    var_kwargs = False
    for p in list(params.values())[1:]:
        if p.kind is p.VAR_KEYWORD:
            var_kwargs = True
            continue
        if p.kind is p.VAR_POSITIONAL or p.name == "name":
            continue
        required = p.default is inspect.Parameter.empty
        default, is_tuple, _ = _json_default(None if required else p.default)
        hint = hints.get(p.name)
        args[p.name] = ArgInfo(p.name, required, default, is_tuple, hint, literal_choices(hint))
    if var_kwargs:
        for name, default in base_args.items():
            args.setdefault(name, ArgInfo(name, False, default))
    call_args: tuple[str, ...] = ()
    if callable(getattr(cls, "call", None)):
        call = inspect.signature(cls.call).parameters  # type: ignore[attr-defined]
        call_args = tuple(
            p.name
            for p in list(call.values())[1:]
            if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        )
    doc = inspect.getdoc(cls) or ""
    return LayerSignature(type_name, source, args, call_args, doc.split("\n", 1)[0])


def signature_to_json(sig: LayerSignature) -> dict[str, Any]:
    return {
        "summary": sig.summary,
        "call_args": list(sig.call_args),
        "args": [
            {"name": a.name, "required": a.required, "default": a.default}
            | ({"tuple": True} if a.is_tuple else {})
            | ({"choices": list(a.choices)} if a.choices else {})
            for a in sig.args.values()
        ],
    }


def signature_from_json(type_name: str, source: str, raw: dict[str, Any]) -> LayerSignature:
    args = {
        a["name"]: ArgInfo(
            a["name"],
            a["required"],
            a["default"],
            a.get("tuple", False),
            choices=tuple(a.get("choices", ())),
        )
        for a in raw["args"]
    }
    return LayerSignature(type_name, source, args, tuple(raw["call_args"]), raw["summary"])


def keras_catalogue() -> dict[str, Any]:
    """The catalogue's part that comes from the installed Keras (this imports Keras):
    its version, layers, optimizers, schedules, callbacks and known names."""
    import keras
    from keras.optimizers import schedules
    from keras.src import (
        activations,
        constraints,
        initializers,
        losses,
        metrics,
        optimizers,
        regularizers,
    )
    from keras.src.backend.common import dtypes

    layers: dict[str, Any] = {}
    for name in sorted(dir(keras.layers)):
        cls = getattr(keras.layers, name)
        if (
            isinstance(cls, type)
            and issubclass(cls, keras.layers.Layer)
            and name not in REFUSED_LAYERS
        ):
            layers[name] = signature_to_json(signature_from_class(name, cls, "keras"))

    def names(module: Any) -> list[str]:
        return sorted(module.ALL_OBJECTS_DICT)

    def classes(items: Any, base: type) -> dict[str, Any]:
        return {
            name: signature_to_json(signature_from_class(cls.__name__, cls, "keras", {}))
            | {"class_name": cls.__name__}
            for name, cls in sorted(items)
            if isinstance(cls, type)
            and issubclass(cls, base)
            and cls.__name__ not in ABSTRACT_CLASSES
        }

    return {
        "keras_version": keras.__version__,
        "layers": layers,
        "names": {
            "activations": names(activations),
            "initializers": names(initializers),
            "regularizers": names(regularizers),
            "constraints": names(constraints),
            "losses": names(losses),
            "metrics": names(metrics),
            "optimizers": names(optimizers),
            "dtypes": sorted(dtypes.ALLOWED_DTYPES),
        },
        "optimizers": classes(optimizers.ALL_OBJECTS_DICT.items(), optimizers.Optimizer),
        "schedules": classes(
            ((n.lower(), getattr(schedules, n)) for n in dir(schedules)),
            schedules.LearningRateSchedule,
        ),
        "callbacks": classes(
            ((n, getattr(keras.callbacks, c)) for n, c in CALLBACKS.items()),
            keras.callbacks.Callback,
        ),
    }
