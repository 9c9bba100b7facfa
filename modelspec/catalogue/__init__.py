"""What a spec can name, and what each argument accepts, known without importing Keras.

Three modules, each using the one before: :mod:`~modelspec.catalogue.kinds`
(what an argument accepts, from its name), :mod:`~modelspec.catalogue.signatures`
(a class's constructor and ``call`` arguments, a ``keras.ops`` function's
parameters; Keras's part of the catalogue) and :mod:`~modelspec.catalogue.store`
(the shipped ``keras_catalogue.json``, the per-version cache, and the look-ups
the validator uses).

Example:
    >>> from modelspec import catalogue
    >>> catalogue.keras_layer("Dense").required
    ['units']
"""

from .kinds import KINDS, NESTED_LAYER_ARGS, NESTED_LAYER_LIST_ARGS, ArgKind, arg_kind
from .signatures import (
    BASE_LAYER_ARGS,
    CALLBACK_RUN_FILES,
    CALLBACKS,
    COMPILE_ALIASES,
    REFUSED_LAYERS,
    REFUSED_OPS,
    ArgInfo,
    LayerSignature,
    OpParam,
    OpSignature,
    signature_from_class,
)
from .store import (
    adapting_layer_names,
    builtin_layer_names,
    builtin_names,
    callback_name,
    keras_class,
    keras_class_names,
    keras_layer,
    keras_version,
    metric_logged_name,
    op_names,
    op_signature,
    refused_op,
)

__all__ = [
    "BASE_LAYER_ARGS",
    "CALLBACKS",
    "CALLBACK_RUN_FILES",
    "COMPILE_ALIASES",
    "KINDS",
    "NESTED_LAYER_ARGS",
    "NESTED_LAYER_LIST_ARGS",
    "REFUSED_LAYERS",
    "REFUSED_OPS",
    "ArgInfo",
    "ArgKind",
    "LayerSignature",
    "OpParam",
    "OpSignature",
    "adapting_layer_names",
    "arg_kind",
    "builtin_layer_names",
    "builtin_names",
    "callback_name",
    "keras_class",
    "keras_class_names",
    "keras_layer",
    "keras_version",
    "metric_logged_name",
    "op_names",
    "op_signature",
    "refused_op",
    "signature_from_class",
]
