"""What each argument of a layer (optimizer, schedule, callback) accepts: its *kind*.

Keras constructors carry no type annotations, so each argument gets a kind
from its name (``units`` is a positive integer, ``*_initializer`` an
initializer...), else from an annotation, else from its default value. Values
are checked with strict Pydantic adapters, which catch what Keras lets through
(``momentum: "0.9"``).

Example:
    >>> arg_kind("units").description, arg_kind("use_bias", True).description
    ('a positive integer', 'a boolean (true or false)')
"""

from __future__ import annotations

import functools
import inspect
import typing
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

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
    "classes",  # keras.applications: the classifier head's size
    # KerasHub layers' sizes (hub.TransformerEncoder, hub.TokenAndPositionEmbedding...)
    "intermediate_dim",
    "vocabulary_size",
    "sequence_length",
    "max_sequence_length",
    "embedding_dim",
    "hidden_dim",
    "hidden_size",
    "max_wavelength",
    "num_layers",
}
_FRACTION_ARGS = {"rate", "dropout", "recurrent_dropout", "label_smoothing"}
_INT_OR_INTS_ARGS = {"kernel_size", "strides", "pool_size", "dilation_rate", "size"}
_SHAPE_ARGS = {"target_shape", "dims", "input_shape"}  # input_shape: keras.applications
#: Arguments that take a list or the path of a file Keras reads (lookup layers'
#: ``vocabulary``): a spec can read files, relative to its folder.
FILE_ARGS = {"vocabulary"}
_FREQ_ARGS = {"save_freq", "update_freq"}  # callbacks: "epoch" or every N batches
_NAMED_ARGS = {  # argument name -> the namespace of names it takes
    "activation": "activations",
    "recurrent_activation": "activations",
    "classifier_activation": "activations",  # keras.applications
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
            "file_or_list",
            "a list, or the path of a text file with one entry per line",
            list[Any] | StrictStr,
            anyOf=[{"type": "array"}, {"type": "string"}],
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
    if name in FILE_ARGS:
        return KINDS["file_or_list"]
    if name in _SHAPE_ARGS:
        return KINDS["shape"]
    if name == "seed":  # an int (or null); Keras's SeedGenerator objects are not data
        return KINDS["int"]
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
def choice_kind(choices: tuple[str | None, ...]) -> ArgKind:
    """One of ``choices``; a ``None`` among them is shown as null.

    Example:
        >>> choice_kind(("avg", "max")).description, choice_kind((None, "imagenet")).description
        ("one of 'avg', 'max'", "null or 'imagenet'")
    """
    named = [repr(c) for c in choices if c is not None]
    if None in choices:
        description = "null or " + (named[0] if len(named) == 1 else "one of " + ", ".join(named))
    else:
        description = "one of " + ", ".join(named)
    return ArgKind(
        "choice",
        description,
        typing.Literal[choices],
        json_schema={"enum": list(choices)},
    )


def literal_choices(annotation: Any) -> tuple[str, ...]:
    """The values of a ``Literal[...]`` annotation of strings, else ``()``."""
    if typing.get_origin(annotation) is typing.Literal:
        values = typing.get_args(annotation)
        if all(isinstance(v, str) for v in values):
            return tuple(values)
    return ()
