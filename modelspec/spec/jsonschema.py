"""The JSON Schema of a spec, every layer type's arguments included, for YAML editors.

``modelspec schema`` prints it. Built from the pydantic models, the shipped
catalogue and the registered layers: no Keras import.

Example:
    >>> node = spec_json_schema()["$defs"]["LayerNode"]
    >>> "Dense" in node["properties"]["type"]["anyOf"][0]["enum"]
    True
"""

from __future__ import annotations

from typing import Any

from .. import catalogue, registry
from .schema import LayerNode, ModelSpec
from .spaces import KINDS


def spec_json_schema() -> dict[str, Any]:
    """JSON Schema of a spec, with each layer type's arguments, for YAML editors.

    Built from the shipped catalogue and the registered layers: no Keras import.

    Example:
        >>> node = spec_json_schema()["$defs"]["LayerNode"]
        >>> "Dense" in node["properties"]["type"]["anyOf"][0]["enum"]
        True
    """
    schema = ModelSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "modelspec spec (format 1)"
    node = schema["$defs"]["LayerNode"]
    types = sorted({*catalogue.builtin_layer_names(), *registry.layers})
    node["properties"]["type"] = {
        "anyOf": [{"enum": types}, {"type": "string"}],
        "description": "Layer class: a keras.layers name, a shipped or a registered one.",
    }
    node_fields: dict[str, Any] = {k: {} for k in LayerNode.model_fields}
    rules = []
    for type_name in types:
        sig = registry.layer_signature(type_name)
        if sig is None:
            continue
        props: dict[str, Any] = dict(node_fields) | _arg_schemas(sig)
        rules.append(
            {
                "if": {"properties": {"type": {"const": type_name}}, "required": ["type"]},
                "then": {
                    "properties": props,
                    "required": sig.required,
                    "additionalProperties": False,
                    "description": sig.summary,
                },
            }
        )
    node["allOf"] = rules
    node["properties"]["op"] = {
        "anyOf": [{"enum": catalogue.op_names()}, {"type": "string"}],
        "description": "A keras.ops function called on the node's inputs.",
    }
    block = schema["$defs"]["BlockSpec"]["properties"]["layers"]
    block["items"] = {"$ref": "#/$defs/LayerNode"}
    _compile_schema(schema)
    result: dict[str, Any] = _expressions_allowed(schema)
    result["$defs"]["SearchSpace"] = SEARCH_SPACE
    return result


def _arg_schemas(sig: catalogue.LayerSignature) -> dict[str, Any]:
    """Each constructor argument's schema, with its default."""
    props: dict[str, Any] = {}
    for arg in sig.args.values():
        prop = dict(arg.kind.json_schema)
        if not arg.required:
            if arg.default is None and prop:
                prop = {"anyOf": [prop, {"type": "null"}]}
            prop["default"] = arg.default
        props[arg.name] = prop
    return props


def _configured(namespace: str) -> dict[str, Any]:
    """``{type: Class, name: ..., **args}``: a loss or metric class and its arguments."""
    names = catalogue.keras_class_names(namespace)
    rules = []
    for name in names:
        sig = catalogue.keras_class(namespace, name)
        assert sig is not None
        props = {"type": {}, "name": {}} | _arg_schemas(sig)
        rules.append(
            {
                "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
                "then": {
                    "properties": props,
                    "required": sig.required,
                    "additionalProperties": False,
                    "description": sig.summary,
                },
            }
        )
    kind = registry.REGISTRIES[namespace].kind
    return {
        "type": "object",
        "required": ["type"],
        "properties": {
            "type": {
                "anyOf": [{"enum": names}, {"type": "string"}],
                "description": f"A keras.{namespace} class, or a registered {kind} class.",
            },
            "name": {"type": "string", "description": f"The name the {kind} logs under."},
        },
        "allOf": rules,
    }


def _compile_schema(schema: dict[str, Any]) -> None:
    """``compile.loss`` and ``compile.metrics``: names, ``{type: Class, ...}``, per output."""
    defs = schema["$defs"]
    defs["ConfiguredLoss"] = _configured("losses")
    defs["ConfiguredMetric"] = _configured("metrics")
    loss = {"anyOf": [{"type": "string"}, {"$ref": "#/$defs/ConfiguredLoss"}]}
    metric = {"anyOf": [{"type": "string"}, {"$ref": "#/$defs/ConfiguredMetric"}]}
    no_loss = {"type": "null", "description": "no loss: the output is not trained"}
    metrics = {"type": "array", "items": metric}
    props = defs["CompileSpec"]["properties"]
    props["loss"]["anyOf"] = [
        *loss["anyOf"],
        {"type": "array", "items": {"anyOf": [*loss["anyOf"], no_loss]}},
        {"type": "object", "additionalProperties": {"anyOf": [*loss["anyOf"], no_loss]}},
        {"type": "null"},
    ]
    props["metrics"]["anyOf"] = [
        metrics,
        {"type": "object", "additionalProperties": metrics},
        {"type": "null"},
    ]


#: A value written as an expression: ``"${dim * 2}"``.
EXPRESSION = {"type": "string", "pattern": r"^\$\{[^{}]*\}$", "description": "a ${...} expression"}
#: A float PyYAML leaves as text: ``1e-6``, ``1.5E+3``.
FLOAT_TEXT = {"type": "string", "pattern": r"^[-+]?[0-9][0-9_]*(\.[0-9_]*)?[eE][-+]?[0-9]+$"}
_LITERAL_KEYS = ("enum", "const", "default", "examples", "pattern")
#: A value ``modelspec tune`` searches (:mod:`modelspec.spec.spaces`).
SEARCH_SPACE = {
    "type": "object",
    "description": "a search space for `modelspec tune`; build and train use its default",
    "required": ["tune"],
    "properties": {
        "tune": {"enum": list(KINDS)},
        "low": {"type": "number"},
        "high": {"type": "number"},
        "step": {"type": "number", "exclusiveMinimum": 0},
        "log": {"type": "boolean"},
        "values": {"type": "array", "minItems": 1},
        "default": {},
    },
    "additionalProperties": False,
}
_SPACE_REF = {"$ref": "#/$defs/SearchSpace"}


def _expressions_allowed(schema: Any) -> Any:
    """``schema`` with every number or boolean also accepting a ``${...}`` expression
    (any value of a spec may be one), and every value a search space."""
    if isinstance(schema, list):
        return [_expressions_allowed(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    result = {k: v if k in _LITERAL_KEYS else _expressions_allowed(v) for k, v in schema.items()}
    declared = result.get("type")  # a property named "type" is a schema, not a type
    listed = declared if isinstance(declared, list) else [declared]
    kinds = {k for k in listed if isinstance(k, str)}
    if kinds & {"integer", "number", "boolean"}:
        alternatives = [result, EXPRESSION, _SPACE_REF]
        if "number" in kinds:  # YAML 1.1 (PyYAML) reads 1e-6 as a string; modelspec as a number
            alternatives.append(FLOAT_TEXT)
        return {"anyOf": alternatives}
    if kinds == {"string"}:  # a name, or one of some (an optimizer, a padding...)
        return {"anyOf": [result, _SPACE_REF]}
    return result
