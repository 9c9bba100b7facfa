"""Types and arguments: a layer's (or optimizer's, schedule's, callback's) type
resolved, and its arguments checked against the signature; names looked up.

Example:
    >>> from modelspec.spec.loader import load_document
    >>> ctx = Context(load_document("units: 0"), allow_imports=False)
    >>> sig = ctx.signature("Dense")
    >>> check_args(ctx, sig, {"units": 0}, ())
    >>> ctx.diagnostics[0].message
    'expected a positive integer. Received: units=0'
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ... import catalogue, plugins, registry
from ...catalogue import KINDS, REFUSED_LAYERS, LayerSignature
from ...errors import clipped, did_you_mean, shown
from ...files import spec_path
from ..loader import PathT
from ..scalars import is_deferred
from ..schema import NAME_PATTERN
from .context import Context
from .structure import FIELD_HINTS

NAME_RE = re.compile(NAME_PATTERN)


def layer_type(ctx: Context, type_name: Any, path: PathT) -> LayerSignature | None:
    """Resolve a ``type:``; report it when unknown."""
    if not isinstance(type_name, str):
        return None
    sig = ctx.signature(type_name)
    if sig is not None:
        return sig
    if type_name in REFUSED_LAYERS:
        ctx.add(
            path,
            f"layer type '{type_name}' cannot be used in a spec: {REFUSED_LAYERS[type_name]}.",
        )
        return None
    known = [*catalogue.builtin_layer_names(), *registry.layers]
    hint = did_you_mean(type_name, known)
    if ctx.refused_imports:
        where = f"the spec's refused imports ({clipped(', '.join(ctx.refused_imports))})"
        ctx.add(path, f"unknown layer type '{clipped(type_name)}'.{hint} It may come from {where}.")
        return None
    ctx.add(
        path,
        f"unknown layer type '{clipped(type_name)}'.{hint} Run `modelspec layers` to "
        "list the available types; custom layers need their plugin (--plugin).",
    )
    return None


def check_args(ctx: Context, sig: LayerSignature, args: dict[str, Any], path: PathT) -> None:
    meant: set[str] = set()  # a misspelt required argument is reported once, as misspelt
    for name, value in args.items():
        arg_path = (*path, name)
        info = sig.args.get(name)
        if info is None:
            hint = did_you_mean(str(name), sig.args)
            meant.add(hint.removeprefix(" Did you mean '").removesuffix("'?"))
            if name == "name" and path[0] == "layers":
                hint = " A node's name is its `name:` key."
            elif name in ("input_shape", "input_dim", "batch_input_shape"):
                hint = " Declare shapes under `inputs:` instead."
            elif name == "input_tensor":
                hint = " A model is called on the node's `inputs:`."
            ctx.add(arg_path, f"unknown argument '{clipped(name)}' for {sig.type}.{hint}", key=True)
            continue
        if (value is None and not info.required) or is_deferred(value):
            continue  # a deferred ${...} reads a shape: known while building
        kind = info.kind
        if not kind.accepts(value):
            ctx.add(arg_path, f"expected {kind.description}. Received: {name}={shown(value)}")
            continue
        if kind not in (KINDS["layer"], KINDS["layers"]):
            serialized(ctx, value, arg_path)
        if kind.names and isinstance(value, str):
            known_name(ctx, kind.names, value, arg_path)
        elif kind.names and isinstance(value, dict):
            _named_object(ctx, kind.names, value, arg_path)
        elif kind is KINDS["file_or_list"] and isinstance(value, str):
            _readable(ctx, name, value, arg_path)
        elif kind is KINDS["layer"]:
            nested_layer(ctx, value, arg_path)
        elif kind is KINDS["learning_rate"] and isinstance(value, dict):
            schedule(ctx, value, arg_path)
        elif kind is KINDS["layers"]:
            for i, item in enumerate(value):
                nested_layer(ctx, item, (*arg_path, i))
    for name in sig.required:
        if name not in args and name not in meant:
            ctx.add(path, f"missing required argument '{clipped(name)}' for {sig.type}")


def known_name(ctx: Context, namespace: str, value: str, path: PathT) -> None:
    reg = registry.REGISTRIES[namespace]
    if value in catalogue.builtin_names(namespace) or value in reg:
        return
    if value.lower() in catalogue.COMPILE_ALIASES.get(namespace, ()):
        return
    plugins.load_entry_point_plugins()  # installed plugins may register it
    if value in reg:
        return
    known = [*catalogue.builtin_names(namespace), *reg]
    hint = did_you_mean(value, known) or f" Custom {namespace} need their plugin (--plugin)."
    if ctx.refused_imports:
        refused = clipped(", ".join(ctx.refused_imports))
        hint = f" It may come from the spec's refused imports ({refused})."
    ctx.add(path, f"unknown {reg.kind} '{clipped(value)}'.{hint}")


def _readable(ctx: Context, name: str, value: str, path: PathT) -> None:
    """A file a layer reads (a lookup layer's vocabulary) exists, relative to the spec."""
    ctx.read(path, value)
    try:
        target = spec_path(ctx.doc.base_dir, value)
        if target.is_file():
            return
        problem = "a folder" if target.is_dir() else "no such file"
    except (OSError, ValueError) as err:  # a NUL, a name too long for the file system
        problem = f"not a usable file name ({getattr(err, 'strerror', None) or err})"
    if not Path(value).expanduser().is_absolute():
        problem += f" (relative paths start at the spec's folder, {ctx.doc.base_dir})"
    ctx.add(
        path,
        f"expected {KINDS['file_or_list'].description}. Received: {name}={shown(value)}: {problem}",
    )


#: The keys of a Keras serialization mapping (``keras.saving.serialize_keras_object``).
SERIALIZED_KEYS = ("class_name", "config", "module", "registered_name")


def _named_object(ctx: Context, namespace: str, value: dict[str, Any], path: PathT) -> None:
    """``{class_name: GlorotUniform, config: {...}}``: a known class, Keras's keys only."""
    kind = registry.REGISTRIES[namespace].kind
    for key in value:
        if key not in SERIALIZED_KEYS:
            hint = did_you_mean(str(key), SERIALIZED_KEYS)
            ctx.add(
                (*path, key),
                f"unknown key '{clipped(key)}' in {kind} {{class_name: ..., config: ...}}.{hint}",
                key=True,
            )
    name = value.get("class_name")
    if not isinstance(name, str):
        ctx.add(
            path,
            f"expected {{class_name: NAME, config: {{...}}}} with the {kind}'s name. "
            f"Received: {shown(value)}",
        )
    elif namespace == "activations" and name in catalogue.builtin_names(namespace):
        # Keras's activations are functions: no class of that name to deserialize
        ctx.add(
            path,
            "expected an activation's name: Keras activations are functions, with no "
            f"config to set. Received: {shown(value)}. Write its name (activation: "
            f"{name}), or follow this layer with one that takes the arguments (such as "
            "{type: LeakyReLU, negative_slope: 0.1})",
        )
        return
    else:
        known_name(ctx, namespace, name, (*path, "class_name"))
    if not isinstance(value.get("config", {}), dict):
        ctx.add((*path, "config"), f"expected a mapping. Received: config={shown(value['config'])}")


def serialized(ctx: Context, value: Any, path: PathT) -> None:
    """Keras serialization mappings anywhere inside an argument name Keras objects or
    registered ones: never another Python module (``{module: os, class_name: system}``)."""
    stack: list[tuple[Any, PathT]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, list):
            stack.extend((v, (*where, i)) for i, v in enumerate(item))
            continue
        if not isinstance(item, dict):
            continue
        module = item.get("module")
        if "module" in item and not (
            isinstance(module, str) and (module == "keras" or module.startswith("keras."))
        ):
            ctx.add(
                (*where, "module"),
                "expected a Keras module (keras or keras.*). Received: "
                f"module={shown(module)}. A spec names Keras objects and registered ones, "
                "never other Python modules.",
            )
        name = item.get("registered_name")
        if name is not None and name not in _registered_names():
            ctx.add(
                (*where, "registered_name"),
                f"unknown registered name {shown(name)}: no plugin registered it. Register "
                "the object with modelspec (@register_layer, ...) in a plugin (--plugin).",
            )
        stack.extend((v, (*where, k)) for k, v in item.items() if k not in SERIALIZED_KEYS[2:])


def _registered_names() -> set[str]:
    return set().union(*(reg.keras_names() for reg in registry.REGISTRIES.values()))


def nested_layer(ctx: Context, spec: Any, path: PathT) -> None:
    if not isinstance(spec, dict) or "type" not in spec:
        ctx.add(path, f"expected {KINDS['layer'].description}. Received: {shown(spec)}")
        return
    name = spec.get("name")
    if name is not None and not (isinstance(name, str) and NAME_RE.match(name)):
        ctx.add((*path, "name"), f"expected {FIELD_HINTS['name']}. Received: name={shown(name)}")
    if not typed(ctx, spec, path, "a layer type name such as LSTM"):
        return
    args = {k: v for k, v in spec.items() if k not in ("type", "name")}
    sig = layer_type(ctx, spec["type"], (*path, "type"))
    if sig is not None:
        check_args(ctx, sig, args, path)


def keras_class(ctx: Context, section: str, name: Any, path: PathT) -> LayerSignature | None:
    """Resolve an optimizer or schedule name; report it when unknown."""
    if not isinstance(name, str):
        return None  # a wrong type: reported by the structure stage or by `typed`
    sig = catalogue.keras_class(section, name)
    if sig is None:
        known = catalogue.keras_class_names(section)
        noun = {"optimizers": "optimizer", "schedules": "learning-rate schedule"}.get(
            section, "callback"
        )
        hint = did_you_mean(name, known) or f" Known: {', '.join(known)}."
        ctx.add(path, f"unknown {noun} '{clipped(name)}'.{hint}")
    return sig


def typed(ctx: Context, value: dict[str, Any], path: PathT, expected: str) -> bool:
    """Whether the ``type:`` of a nested mapping is a name; report it when it is not."""
    if isinstance(value.get("type"), str):
        return True
    ctx.add((*path, "type"), f"expected {expected}. Received: type={shown(value.get('type'))}")
    return False


def schedule(ctx: Context, value: dict[str, Any], path: PathT) -> None:
    if "type" not in value:
        ctx.add(path, "missing required key 'type' (a schedule such as ExponentialDecay)")
        return
    if not typed(ctx, value, path, "a schedule name such as ExponentialDecay"):
        return
    sig = keras_class(ctx, "schedules", value["type"], (*path, "type"))
    if sig is not None:
        check_args(ctx, sig, {k: v for k, v in value.items() if k != "type"}, path)
