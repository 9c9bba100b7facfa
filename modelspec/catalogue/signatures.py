"""Signatures of the classes a spec can name: constructor arguments and ``call`` arguments.

A :class:`LayerSignature` is read from a class with :mod:`inspect`
(:func:`signature_from_class`) or from the catalogue's JSON
(:func:`signature_from_json`); an :class:`OpSignature` likewise describes a
``keras.ops`` function (:func:`op_signature_from_function`,
:func:`op_signature_from_json`). :func:`keras_catalogue` writes the part of the
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
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

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

#: Parameter names through which a ``keras.ops`` function takes a Python
#: function: an op with one is refused (:func:`refused_op_reason`), listed in
#: :data:`REFUSED_OPS` or not.
CALLABLE_PARAMS = frozenset(
    {"f", "fn", "fun", "func", "function", "pyfunc", "body", "body_fun", "loop_fn"}
    | {"cond", "true_fn", "false_fn", "branches"}
)
_PYTHON_FUNCTION = "it calls a Python function; register a custom layer instead"

#: ``keras.ops`` functions a spec cannot call, and why: those that take a
#: Python function, those that return a Python value rather than a tensor, and
#: those that fail in a functional model or its ``safe_mode`` reload with the
#: Keras the catalogue was made from (``python bench/ops_round_trip.py`` checks
#: every op: run it again after a Keras upgrade).
REFUSED_OPS: dict[str, str] = {
    **dict.fromkeys(
        [
            *("associative_scan", "cond", "fori_loop", "map", "scan", "switch"),
            *("vectorized_map", "while_loop"),
        ],
        _PYTHON_FUNCTION,
    ),
    "custom_gradient": "it wraps a Python function; register a custom layer instead",
    "vectorize": "it wraps a Python function; register a custom layer instead",
    "jvp": "it differentiates a Python function; register a custom layer instead",
    "convert_to_numpy": "it returns a NumPy array, which leaves the model's graph",
    "is_tensor": "it returns a Python bool, not a tensor",
    "dtype": "it returns a Python string, not a tensor; a node's dtype is known from the spec",
    "shape": "it returns a Python tuple, not a tensor; use node.shape[k] in a ${...} expression",
    "ndim": "a node's rank is known from the spec, and Keras 3.15 gives the result a wrong shape",
    # found by bench/ops_round_trip.py (Keras 3.15, TensorFlow backend)
    "adaptive_average_pool": "it does not reload from a .keras file in Keras 3.15; use "
    "AdaptiveAveragePooling2D (or 1D, 3D)",
    "adaptive_max_pool": "it does not reload from a .keras file in Keras 3.15; use "
    "AdaptiveMaxPooling2D (or 1D, 3D)",
    "conv_transpose": "inside a model Keras 3.15 swaps its padding arguments; use Conv2DTranspose "
    "(or 1D, 3D)",
    "histogram": "inside a model Keras 3.15 calls a backend function that does not exist",
    "rearrange": "it fails on a model's unknown batch size in Keras 3.15; use Reshape or Permute",
    "view_as_complex": "it fails inside a model on the TensorFlow backend in Keras 3.15",
}

#: Optimizer and learning-rate schedule classes a spec cannot name: bases and wrappers.
ABSTRACT_CLASSES = {"Optimizer", "LossScaleOptimizer", "MultiOptimizer", "OptimizerMap"}
ABSTRACT_CLASSES |= {"LearningRateSchedule"}
#: Loss and metric classes ``{type: ...}`` cannot name: bases, wrappers of a
#: Python function, and metrics of one value (``Mean``) that ``compile`` would
#: feed ``(y_true, y_pred)``.
ABSTRACT_CLASSES |= {"Loss", "LossFunctionWrapper", "Metric", "MeanMetricWrapper"}
ABSTRACT_CLASSES |= {"Mean", "Sum", "Reduce"}

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


#: The simple types an argument's annotation is written as in the catalogue
#: (``"type": "int"``).
SIMPLE_TYPES: dict[str, type] = {"int": int, "float": float, "bool": bool, "str": str}
#: The words a Google-style docstring names them with.
_DOC_TYPE_WORDS = {"integer": int, "boolean": bool, "string": str} | SIMPLE_TYPES
#: An ``Args:`` entry: its indent, name, and first word (``units: int, the size``).
_DOC_ARG_RE = re.compile(r"^( *)(\w+): (\w+)([.,:]? ?)")
#: What follows ``float, `` when the type is a list of types (``float, tuple of floats``).
_MORE_TYPES_RE = re.compile(
    r"(?:or )?(?:`|none\b|tuple|list|dict|int|float|str|bool|callable|array|tensor)", re.I
)


def docstring_types(doc: str) -> dict[str, type]:
    """The simple types (int, float, bool, str) a Google-style docstring's
    ``Args:`` section gives its arguments, by name.

    An entry counts only when its type is exactly one of these words (``int``,
    ``Integer``, ``float``, ``bool``, ``Boolean``, ``str``, ``string``) followed by
    ``,`` ``.`` ``:`` or the line's end: ``string or keras.activations`` and
    ``float, tuple of floats, or None`` do not.

    Example:
        >>> docstring_types('''Layer.
        ...
        ... Args:
        ...     units: int, the size.
        ...     rate: float. The rate,
        ...         int: a continuation line, not an entry.
        ...     activation: string or `keras.activations`.
        ...     scale: float, tuple of floats, or `None`. The scale.
        ...     mask_zero: Boolean, whether 0 is padding.
        ...     size: The size.
        ...
        ... Returns:
        ...     seed: int, not an argument.
        ... ''')
        {'units': <class 'int'>, 'rate': <class 'float'>, 'mask_zero': <class 'bool'>}
    """
    found: dict[str, type] = {}
    lines = iter(doc.expandtabs().splitlines())
    for line in lines:
        if line.strip() == "Args:":
            section = len(line) - len(line.lstrip())
            break
    else:
        return found
    entry: int | None = None  # the indent of the entries
    for line in lines:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent <= section:
            break  # the next section
        entry = indent if entry is None else entry
        match = _DOC_ARG_RE.match(line)
        if indent != entry or match is None:
            continue  # a continuation line
        _, name, word, after = match.groups()
        simple = _DOC_TYPE_WORDS.get(word.lower())
        if after == ", " and _MORE_TYPES_RE.match(line, match.end()):
            continue
        if simple is not None and (after in (", ", ". ", ": ") or line.endswith(word + after)):
            found[name] = simple
    return found


@dataclass(frozen=True)
class ArgInfo:
    """One constructor argument of a layer type."""

    name: str
    required: bool = False
    default: Any = None
    is_tuple: bool = False
    annotation: Any = None
    choices: tuple[str | None, ...] = ()

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
        adapts: The class has an ``adapt`` method (a preprocessing layer whose
            state is computed from data: a node may say ``adapt:``).
    """

    type: str
    source: str
    args: dict[str, ArgInfo]
    call_args: tuple[str, ...] = ()
    summary: str = ""
    adapts: bool = False

    @property
    def required(self) -> list[str]:
        return [a.name for a in self.args.values() if a.required]


OpParamKind = Literal["positional", "keyword", "varargs", "varkw"]
_PARAM_KINDS: dict[Any, OpParamKind] = {
    inspect.Parameter.POSITIONAL_ONLY: "positional",
    inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional",
    inspect.Parameter.KEYWORD_ONLY: "keyword",
    inspect.Parameter.VAR_POSITIONAL: "varargs",
    inspect.Parameter.VAR_KEYWORD: "varkw",
}


@dataclass(frozen=True)
class OpParam:
    """One parameter of a ``keras.ops`` function.

    Attributes:
        name: The parameter's name.
        kind: ``positional`` (positional or keyword), ``keyword`` (keyword
            only), ``varargs`` (``*args``) or ``varkw`` (``**kwargs``).
        required: It has no default (never for ``varargs``/``varkw``).
        default: The default value (a tuple stays a tuple); for a default JSON
            cannot hold, its ``repr`` and ``opaque`` is true.
        opaque: ``default`` is the ``repr`` of the real default.
    """

    name: str
    kind: OpParamKind
    required: bool = False
    default: Any = None
    opaque: bool = False

    def describe(self) -> str:
        """How to pass it, for listings: ``required``, ``default 0``, ``keyword only, ...``."""
        if self.kind == "varargs":
            return "any number of further positional arguments"
        if self.kind == "varkw":
            return "any further keyword arguments"
        need = "required" if self.required else f"default {self._default_text()}"
        return f"keyword only, {need}" if self.kind == "keyword" else need

    def _default_text(self) -> str:
        return str(self.default) if self.opaque else repr(self.default)

    def __str__(self) -> str:
        prefix = {"varargs": "*", "varkw": "**"}.get(self.kind, "")
        shown = self.required or prefix
        return f"{prefix}{self.name}" if shown else f"{self.name}={self._default_text()}"


@dataclass(frozen=True)
class OpSignature:
    """What a ``keras.ops`` function accepts.

    Example:
        >>> mean = OpSignature("mean", (OpParam("x", "positional", True),
        ...     OpParam("axis", "positional"), OpParam("keepdims", "positional", default=False)))
        >>> mean.required, mean.keywords, mean.varargs
        (['x'], ['x', 'axis', 'keepdims'], False)
        >>> print(mean)
        mean(x, axis=None, keepdims=False)
    """

    name: str
    params: tuple[OpParam, ...]
    summary: str = ""

    @property
    def keywords(self) -> list[str]:
        """Names a caller may pass by keyword (not ``*args`` or ``**kwargs``)."""
        return [p.name for p in self.params if p.kind in ("positional", "keyword")]

    @property
    def required(self) -> list[str]:
        """Names of the parameters without a default."""
        return [p.name for p in self.params if p.required]

    @property
    def varargs(self) -> bool:
        """Whether it takes any number of extra positional arguments (``*args``)."""
        return any(p.kind == "varargs" for p in self.params)

    @property
    def varkw(self) -> bool:
        """Whether it takes keywords beyond :attr:`keywords` (``**kwargs``)."""
        return any(p.kind == "varkw" for p in self.params)

    def __str__(self) -> str:
        """The call as Python writes it: ``mean(x, axis=None, keepdims=False)``."""
        parts = [str(p) for p in self.params]
        first_keyword = next((i for i, p in enumerate(self.params) if p.kind == "keyword"), None)
        if first_keyword is not None and not self.varargs:
            parts.insert(first_keyword, "*")
        return f"{self.name}({', '.join(parts)})"


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
    docstring: bool = False,
) -> LayerSignature:
    """Introspect a class's constructor (and, for a layer, ``call``) signatures.

    Args:
        type_name: The name specs use for it.
        cls: A ``keras.layers.Layer`` subclass (or an optimizer, a schedule).
        source: Where it comes from, for listings.
        base_args: Keywords the class takes through ``**kwargs``.
        docstring: Take a simple type (int, float, bool, str) from the class
            docstring's ``Args:`` entry for an argument without an annotation
            (:func:`docstring_types`; KerasHub's classes have no annotations).
    """
    params = inspect.signature(cls.__init__).parameters  # type: ignore[misc]
    try:
        hints = typing.get_type_hints(cls.__init__)  # type: ignore[misc]
    except Exception:  # annotations that do not resolve are simply not used
        hints = {}
    documented = docstring_types(inspect.getdoc(cls) or "") if docstring else {}
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
        if hint is None and p.name in documented:
            hint = documented[p.name]
            if default is not None and not arg_kind(p.name, p.default, hint).accepts(default):
                hint = None  # the docstring says int, the default is [64, 64]: not used
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
    adapts = callable(getattr(cls, "adapt", None))
    return LayerSignature(type_name, source, args, call_args, doc.split("\n", 1)[0], adapts)


def signature_to_json(sig: LayerSignature) -> dict[str, Any]:
    return {
        "summary": sig.summary,
        "call_args": list(sig.call_args),
        "args": [
            {"name": a.name, "required": a.required, "default": a.default}
            | ({"tuple": True} if a.is_tuple else {})
            | ({"type": a.annotation.__name__} if _type_matters(a) else {})
            | ({"choices": list(a.choices)} if a.choices else {})
            for a in sig.args.values()
        ],
    } | ({"adapts": True} if sig.adapts else {})


def _type_matters(arg: ArgInfo) -> bool:
    """Whether ``arg``'s annotation is a simple type that gives it another kind than
    its name and default do: the catalogue then keeps it (``"type": "int"``)."""
    if arg.choices or arg.annotation not in SIMPLE_TYPES.values():
        return False
    return arg.kind is not replace(arg, annotation=None).kind


def signature_from_json(type_name: str, source: str, raw: dict[str, Any]) -> LayerSignature:
    args = {
        a["name"]: ArgInfo(
            a["name"],
            a["required"],
            a["default"],
            a.get("tuple", False),
            SIMPLE_TYPES.get(a.get("type", "")),
            tuple(a.get("choices", ())),
        )
        for a in raw["args"]
    }
    return LayerSignature(
        type_name,
        source,
        args,
        tuple(raw["call_args"]),
        raw["summary"],
        raw.get("adapts", False),
    )


def op_signature_from_function(name: str, fn: Callable[..., Any]) -> OpSignature:
    """Introspect a ``keras.ops`` function's parameters and docstring.

    Example:
        >>> import keras
        >>> sig = op_signature_from_function("einsum", keras.ops.einsum)
        >>> [(p.name, p.kind) for p in sig.params]
        [('subscripts', 'positional'), ('operands', 'varargs'), ('kwargs', 'varkw')]
    """
    params = []
    for p in inspect.signature(fn).parameters.values():
        kind = _PARAM_KINDS[p.kind]
        required = kind in ("positional", "keyword") and p.default is inspect.Parameter.empty
        given = None if p.default is inspect.Parameter.empty else p.default
        default, is_tuple, opaque = _json_default(given)
        if is_tuple:
            default = tuple(default)
        params.append(OpParam(p.name, kind, required, default, opaque))
    doc = inspect.getdoc(fn) or ""
    return OpSignature(name, tuple(params), doc.split("\n", 1)[0])


def op_signature_to_json(sig: OpSignature) -> dict[str, Any]:
    params = []
    for p in sig.params:
        default, is_tuple, _ = _json_default(p.default)
        params.append(
            {"name": p.name, "kind": p.kind, "required": p.required, "default": default}
            | ({"tuple": True} if is_tuple else {})
            | ({"opaque": True} if p.opaque else {})
        )
    return {"summary": sig.summary, "params": params}


def op_signature_from_json(name: str, raw: dict[str, Any]) -> OpSignature:
    params = tuple(
        OpParam(
            p["name"],
            p["kind"],
            p["required"],
            tuple(p["default"]) if p.get("tuple") else p["default"],
            p.get("opaque", False),
        )
        for p in raw["params"]
    )
    return OpSignature(name, params, raw["summary"])


def refused_op_reason(name: str, fn: Callable[..., Any]) -> str | None:
    """Why a spec cannot call ``keras.ops.<name>``: listed in :data:`REFUSED_OPS`,
    or a parameter in :data:`CALLABLE_PARAMS` takes a Python function; else ``None``."""
    if name in REFUSED_OPS:
        return REFUSED_OPS[name]
    if CALLABLE_PARAMS & set(inspect.signature(fn).parameters):
        return _PYTHON_FUNCTION
    return None


def keras_op_functions() -> dict[str, Callable[..., Any]]:
    """Public functions at the top of ``keras.ops``, by name (no submodules or classes)."""
    import keras

    found = {}
    for name in sorted(dir(keras.ops)):
        obj = getattr(keras.ops, name)
        if name.startswith("_") or isinstance(obj, type | types.ModuleType) or not callable(obj):
            continue
        found[name] = obj
    return found


def keras_catalogue() -> dict[str, Any]:
    """The catalogue's part that comes from ``keras.layers`` and the rest of the
    installed Keras (this imports Keras): its version, layers, ops (and the
    refused ones, with why), optimizers, schedules, callbacks and known names;
    :func:`~modelspec.catalogue.backbones.keras_part` adds the applications."""
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

    ops: dict[str, Any] = {}
    refused_ops: dict[str, str] = {}
    for name, fn in keras_op_functions().items():
        reason = refused_op_reason(name, fn)
        if reason is None:
            ops[name] = op_signature_to_json(op_signature_from_function(name, fn))
        else:
            refused_ops[name] = reason

    return {
        "keras_version": keras.__version__,
        "layers": layers,
        "ops": ops,
        "refused_ops": refused_ops,
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
        # compile's `{type: SparseCategoricalCrossentropy, from_logits: true}`, by class name
        "losses": _with_choices(
            classes({c.__name__: c for c in losses.ALL_OBJECTS_DICT.values()}.items(), losses.Loss)
        ),
        "metrics": _with_choices(
            {
                name: raw | {"logged_name": _metric_name(getattr(keras.metrics, name))}
                for name, raw in classes(
                    {c.__name__: c for c in metrics.ALL_OBJECTS_DICT.values()}.items(),
                    metrics.Metric,
                ).items()
            }
        ),
    }


#: Loss and metric arguments Keras takes as one of a few strings (it checks them only
#: when the object is made): ``reduction`` of every loss, AUC's ``curve`` and
#: ``summation_method``, F-scores' ``average``, R2Score's ``class_aggregation``.
COMPILE_CHOICES: dict[str, tuple[str, ...]] = {
    "reduction": ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none"),
    "curve": ("ROC", "PR", "PRGAIN", "roc", "pr", "prgain"),
    "summation_method": ("interpolation", "majoring", "minoring"),
    "average": ("micro", "macro", "weighted"),
    "class_aggregation": ("uniform_average", "variance_weighted_average"),
}


def _with_choices(entries: dict[str, Any]) -> dict[str, Any]:
    """Loss or metric signatures with :data:`COMPILE_CHOICES` on their arguments."""
    for raw in entries.values():
        for arg in raw["args"]:
            if arg["name"] in COMPILE_CHOICES:
                arg["choices"] = list(COMPILE_CHOICES[arg["name"]])
    return entries


def _metric_name(cls: type) -> str:
    """The name a metric class logs under when given none (``AUC`` logs ``auc``)."""
    from keras.src.utils.naming import to_snake_case

    default = inspect.signature(cls.__init__).parameters.get("name")  # type: ignore[misc]
    if default is not None and isinstance(default.default, str):
        return default.default
    return str(to_snake_case(cls.__name__))
