"""Signatures of the layer types a spec can name, and how their arguments are checked.

Validating a spec that only uses built-in layers must not import Keras, so the
constructor and ``call`` signatures of every ``keras.layers`` class (and of the
layers modelspec ships) are read from ``keras_catalogue.json``, a file generated
from the installed Keras by :func:`generate_catalogue` (``python -m
modelspec.catalogue`` rewrites it; a test checks it matches the installed
Keras). Layers registered at run time are introspected with :mod:`inspect`.

Keras constructors carry no type annotations, so each argument gets a *kind*
from its name (``units`` is a positive integer, ``*_initializer`` an
initializer...), else from an annotation, else from its default value. Values
are checked with strict Pydantic adapters, which catch what Keras lets through
(``momentum: "0.9"``).

Example:
    >>> sig = keras_layer("Dense")
    >>> sig.args["units"].required, arg_kind("use_bias", True).description
    (True, 'a boolean (true or false)')
"""

from __future__ import annotations

import difflib
import functools
import importlib.metadata
import inspect
import json
import math
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

CATALOGUE_PATH = Path(__file__).with_name("keras_catalogue.json")

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
}

#: Optimizer and learning-rate schedule classes a spec cannot name: bases and wrappers.
_ABSTRACT = {"Optimizer", "LossScaleOptimizer", "MultiOptimizer", "OptimizerMap"}
_ABSTRACT |= {"LearningRateSchedule"}

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
# Callbacks whose file argument has a default inside the run directory (relative
# paths are taken inside it too): name -> (argument, default).
CALLBACK_RUN_FILES = {
    "model_checkpoint": ("filepath", "best.keras"),
    "csv_logger": ("filename", "history.csv"),
    "tensorboard": ("log_dir", "logs"),
    "backup_and_restore": ("backup_dir", "backup"),
}


#: Arguments that take a nested layer spec (``{type: LSTM, units: 64}``), or a list.
NESTED_LAYER_ARGS = {"layer", "backward_layer", "cell"}
NESTED_LAYER_LIST_ARGS = {"cells", "layers"}

_POSITIVE_INT_ARGS = {
    "units",
    "filters",
    "num_heads",
    "num_query_heads",
    "num_key_value_heads",
    "key_dim",
    "value_dim",
    "output_dim",
    "input_dim",
    "groups",
    "depth_multiplier",
    "n",
    "num_tokens",
}
_FRACTION_ARGS = {"rate", "dropout", "recurrent_dropout"}
_INT_OR_INTS_ARGS = {"kernel_size", "strides", "pool_size", "dilation_rate", "size"}
_SHAPE_ARGS = {"target_shape", "dims"}
_FREQ_ARGS = {"save_freq", "update_freq"}  # callbacks: "epoch" or every N batches
_NAMED_ARGS = {  # argument name -> the namespace of names it takes
    "activation": "activations",
    "recurrent_activation": "activations",
}
_SUFFIX_ARGS = {
    "_initializer": "initializers",
    "_regularizer": "regularizers",
    "_constraint": "constraints",
}

_Int = StrictInt
_Number = StrictInt | Annotated[StrictFloat, Field(allow_inf_nan=False)]
_False = Annotated[StrictBool, Field(le=False)]  # false only (Literal[False] takes 0)
_IntOrInts = StrictInt | list[StrictInt | list[StrictInt] | None]


@dataclass(frozen=True)
class ArgKind:
    """What an argument accepts: a description for messages and a strict adapter.

    Attributes:
        name: Short identifier, e.g. ``positive_int``.
        description: Noun phrase used in "expected ..." messages.
        names: For references by name (activations...), the registry namespace.
        json_schema: JSON Schema of the accepted values.
    """

    name: str
    description: str
    annotation: Any
    names: str | None = None
    json_schema: dict[str, Any] = field(default_factory=dict, compare=False)

    @functools.cached_property
    def adapter(self) -> TypeAdapter[Any]:
        return TypeAdapter(self.annotation)

    def accepts(self, value: Any) -> bool:
        """True when ``value`` has the right type and range for this kind."""
        try:
            self.adapter.validate_python(value, strict=True)
        except PydanticValidationError:
            return False
        return True


def _kind(name: str, description: str, annotation: Any, **schema: Any) -> ArgKind:
    return ArgKind(name, description, annotation, json_schema=schema)


_NAMED_REF = StrictStr | dict[str, Any]
KINDS: dict[str, ArgKind] = {
    k.name: k
    for k in (
        _kind(
            "positive_int",
            "a positive integer",
            Annotated[_Int, Field(gt=0)],
            type="integer",
            exclusiveMinimum=0,
        ),
        _kind(
            "fraction",
            "a number between 0 and 1",
            Annotated[_Number, Field(ge=0, le=1)],
            type="number",
            minimum=0,
            maximum=1,
        ),
        _kind("int", "an integer", _Int, type="integer"),
        _kind("number", "a number", _Number, type="number"),
        _kind("bool", "a boolean (true or false)", StrictBool, type="boolean"),
        _kind("str", "a string", StrictStr, type="string"),
        _kind(
            "int_or_ints",
            "an integer or a list of integers",
            _IntOrInts,
            anyOf=[{"type": "integer"}, {"type": "array"}],
        ),
        _kind(
            "shape",
            "a list of integers (null for an unknown size)",
            list[StrictInt | None],
            type="array",
            items={"type": ["integer", "null"]},
        ),
        _kind(
            "layer",
            "a nested layer spec such as {type: LSTM, units: 64}",
            dict[str, Any],
            type="object",
            required=["type"],
        ),
        _kind(
            "layers",
            "a list of nested layer specs",
            list[dict[str, Any]],
            type="array",
            items={"type": "object", "required": ["type"]},
        ),
        _kind(
            "dtype",
            "a dtype name such as float32, or a dtype policy",
            _NAMED_REF,
            anyOf=[{"type": "string"}, {"type": "object"}],
        ),
        _kind(
            "learning_rate",
            "a positive number or a schedule such as {type: ExponentialDecay, ...}",
            Annotated[_Number, Field(gt=0)] | dict[str, Any],
            anyOf=[{"type": "number", "exclusiveMinimum": 0}, {"type": "object"}],
        ),
        _kind(
            "freq",
            "'epoch', 'batch', a positive integer (batches) or false",
            Literal["epoch", "batch"] | Annotated[_Int, Field(gt=0)] | _False,
            anyOf=[{"enum": ["epoch", "batch", False]}, {"type": "integer", "exclusiveMinimum": 0}],
        ),
        _kind("any", "any value", Any),
    )
}
for _namespace, _noun in (
    ("activations", "an activation name"),
    ("initializers", "an initializer name or {class_name: ..., config: ...}"),
    ("regularizers", "a regularizer name or {class_name: ..., config: ...}"),
    ("constraints", "a constraint name or {class_name: ..., config: ...}"),
):
    KINDS[_namespace] = ArgKind(
        _namespace,
        _noun,
        _NAMED_REF,
        names=_namespace,
        json_schema={"anyOf": [{"type": "string"}, {"type": "object"}]},
    )


def arg_kind(name: str, default: Any = inspect.Parameter.empty, annotation: Any = None) -> ArgKind:
    """The :class:`ArgKind` of a constructor argument.

    Args:
        name: The argument's name.
        default: Its default value (``inspect.Parameter.empty`` when required).
        annotation: Its type annotation, if the class has one.
    """
    if name in _POSITIVE_INT_ARGS:
        return KINDS["positive_int"]
    if name in _FRACTION_ARGS:
        return KINDS["fraction"]
    if name in _NAMED_ARGS:
        return KINDS[_NAMED_ARGS[name]]
    if name == "learning_rate":
        return KINDS["learning_rate"]
    if name in _FREQ_ARGS:
        return KINDS["freq"]
    for suffix, namespace in _SUFFIX_ARGS.items():
        if name.endswith(suffix) or name == suffix[1:]:
            return KINDS[namespace]
    if name == "dtype":
        return KINDS["dtype"]
    if name in NESTED_LAYER_ARGS:
        return KINDS["layer"]
    if name in NESTED_LAYER_LIST_ARGS:
        return KINDS["layers"]
    if name in _INT_OR_INTS_ARGS:
        return KINDS["int_or_ints"]
    if name in _SHAPE_ARGS:
        return KINDS["shape"]
    simple = {bool: "bool", int: "int", float: "number", str: "str"}
    if annotation in simple:
        return KINDS[simple[annotation]]
    if isinstance(default, bool):
        return KINDS["bool"]
    if isinstance(default, int):
        return KINDS["int"]
    if isinstance(default, float):
        return KINDS["number"]
    if isinstance(default, str):
        return KINDS["str"]
    if isinstance(default, tuple | list) and all(
        isinstance(v, int | type(None) | tuple | list) and not isinstance(v, bool) for v in default
    ):
        return KINDS["int_or_ints"]
    return KINDS["any"]


@functools.cache
def _choice_kind(choices: tuple[str, ...]) -> ArgKind:
    return ArgKind(
        "choice",
        "one of " + ", ".join(map(repr, choices)),
        typing.Literal[choices],
        json_schema={"enum": list(choices)},
    )


def _choices(annotation: Any) -> tuple[str, ...]:
    """The values of a ``Literal[...]`` annotation of strings, else ``()``."""
    if typing.get_origin(annotation) is typing.Literal:
        values = typing.get_args(annotation)
        if all(isinstance(v, str) for v in values):
            return tuple(values)
    return ()


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
            return _choice_kind(self.choices)
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
        args[p.name] = ArgInfo(p.name, required, default, is_tuple, hint, _choices(hint))
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


def _signature_to_json(sig: LayerSignature) -> dict[str, Any]:
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


def _signature_from_json(type_name: str, source: str, raw: dict[str, Any]) -> LayerSignature:
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


def generate_catalogue() -> dict[str, Any]:
    """Build the catalogue from the installed Keras and modelspec's own layers.

    Imports Keras: this is what ``keras_catalogue.json`` is generated by.
    """
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

    from . import library

    layers: dict[str, Any] = {}
    for name in sorted(dir(keras.layers)):
        cls = getattr(keras.layers, name)
        if (
            isinstance(cls, type)
            and issubclass(cls, keras.layers.Layer)
            and name not in REFUSED_LAYERS
        ):
            layers[name] = _signature_to_json(signature_from_class(name, cls, "keras"))

    def names(module: Any) -> list[str]:
        return sorted(module.ALL_OBJECTS_DICT)

    def classes(items: Any, base: type) -> dict[str, Any]:
        return {
            name: _signature_to_json(signature_from_class(cls.__name__, cls, "keras", {}))
            | {"class_name": cls.__name__}
            for name, cls in sorted(items)
            if isinstance(cls, type) and issubclass(cls, base) and cls.__name__ not in _ABSTRACT
        }

    return {
        "keras_version": keras.__version__,
        "layers": layers,
        "modelspec_layers": {
            name: _signature_to_json(signature_from_class(name, cls, "modelspec"))
            for name, cls in sorted(library.LAYERS.items())
        },
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
        "modelspec_names": {
            "activations": sorted(library.ACTIVATIONS),
            "losses": sorted(library.LOSSES),
        },
    }


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
    one generated once (this imports Keras) and cached per Keras version.
    """
    with CATALOGUE_PATH.open(encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    installed = installed_keras_version()
    if installed is None or installed == data["keras_version"]:
        return data
    cached = cache_dir() / f"keras_catalogue-{installed}.json"
    try:
        with cached.open(encoding="utf-8") as f:
            data = json.load(f)
        return data
    except (OSError, ValueError):
        pass
    data = json.loads(json.dumps(generate_catalogue()))
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
    """Signature of a built-in layer (Keras's or modelspec's), without importing Keras."""
    raw = _raw()
    if type_name in raw["modelspec_layers"]:
        return _signature_from_json(type_name, "modelspec", raw["modelspec_layers"][type_name])
    if type_name in raw["layers"]:
        return _signature_from_json(type_name, "keras", raw["layers"][type_name])
    return None


@functools.cache
def keras_class(section: str, name: str) -> LayerSignature | None:
    """Signature of an optimizer, a learning-rate schedule or a callback
    (``section`` is ``optimizers``, ``schedules`` or ``callbacks``), by its spec
    name (``adam``, ``early_stopping``) or its class name in any case."""
    entries = _raw()[section]
    raw = entries.get(name.lower())
    if raw is None:
        raw = next((r for r in entries.values() if r["class_name"].lower() == name.lower()), None)
    if raw is None:
        return None
    return _signature_from_json(raw["class_name"], "keras", raw)


def keras_class_names(section: str) -> list[str]:
    """The names specs use for the optimizers (``adam``), schedules
    (``ExponentialDecay``) or callbacks (``early_stopping``) they can name."""
    entries = _raw()[section]
    if section == "schedules":
        return sorted(raw["class_name"] for raw in entries.values())
    return sorted(entries)


def builtin_layer_names() -> list[str]:
    """Every layer type name usable without a plugin."""
    raw = _raw()
    return sorted({*raw["layers"], *raw["modelspec_layers"]})


def builtin_names(namespace: str) -> set[str]:
    """Names Keras and modelspec know in ``namespace`` (``activations``, ``losses``...)."""
    raw = _raw()
    return {*raw["names"].get(namespace, ()), *raw["modelspec_names"].get(namespace, ())}


def did_you_mean(name: str, candidates: typing.Iterable[str]) -> str:
    """A ``" Did you mean 'x'?"`` suffix, or ``""`` when nothing is close."""
    candidates = list(candidates)
    folded = {c.lower(): c for c in candidates}
    if name.lower() in folded:
        return f" Did you mean '{folded[name.lower()]}'?"
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if not close:
        close = difflib.get_close_matches(name.lower(), list(folded), n=1, cutoff=0.6)
        close = [folded[c] for c in close]
    return f" Did you mean '{close[0]}'?" if close else ""


def main() -> None:
    """Regenerate ``keras_catalogue.json`` from the installed Keras."""
    data = generate_catalogue()
    CATALOGUE_PATH.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {CATALOGUE_PATH} (keras {data['keras_version']}, {len(data['layers'])} layers)")


if __name__ == "__main__":
    main()
