"""The structure section: which keys, which types (the pydantic models), and ``imports:``.

Example:
    >>> from modelspec.spec.loader import load_document
    >>> ctx = Context(load_document("{modelspec: 1, nme: x}"), allow_imports=False)
    >>> check_structure(ctx) is None
    True
    >>> print(ctx.diagnostics[-1].format())
    <string>:1:16: nme: unknown key 'nme'. Did you mean 'name'?
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from ... import plugins
from ...errors import clipped, did_you_mean, shown
from ..loader import PathT
from ..schema import (
    ADAPT_MAPPING,
    ADD_LOSS_FUNCTIONS,
    DISTRIBUTE_MAPPING,
    EXPORT_FORMATS,
    AdaptSpec,
    AddLossSpec,
    BlockSpec,
    Body,
    CompileSpec,
    DataSpec,
    DistributeSpec,
    ExportSpec,
    InputSpec,
    ModelSpec,
    SplitSpec,
    StageSpec,
    TrainableSpec,
    TrainSpec,
)
from .context import Context

#: What a key takes, for "expected ..." when its value has the wrong type.
FIELD_HINTS = {
    "name": "a name of letters, digits, '_', '.' or '-' starting with a letter or '_'",
    "share": "the name of another layer node",
    "shape": "a list of positive integers (null for a size not known in advance)",
    "type": "a layer type name such as Dense",
    "inputs": "a node name, a list of node names, or a mapping of call arguments "
    "to node names or literal values (use_causal_mask: true)",
    "outputs": "a node name, a list of node names, or a mapping {output name: node name}",
    "layers": "a list of layer nodes such as {name: dense_1, type: Dense, units: 64}",
    "imports": "a list of module names",
    "optimizer": "an optimizer name or {type: adam, learning_rate: 0.001}",
    "loss": "a loss name or {type: Name, ...args}, a list of them, or a mapping "
    "{output name: loss or null}",
    "metrics": "a list of metric names or {type: Name, ...args}, or a mapping "
    "{output name: [metrics]}",
    "loss_weights": "a list of numbers, or a mapping {output name: number}",
    "weight": "a finite number",
    "fn": "one of " + ", ".join(ADD_LOSS_FUNCTIONS),
    "modelspec": "1, the spec format version this modelspec reads",
    "epochs": "a positive integer",
    "stages": "a list of stages such as {epochs: 5, learning_rate: 1e-5, trainable: {...}}",
    "trainable": "a mapping {freeze: [patterns], unfreeze: [patterns], keep_frozen: [classes]}",
    "freeze": "a list of node-name patterns such as backbone or 'backbone/block_16*'",
    "unfreeze": "a list of node-name patterns such as backbone or 'backbone/block_16*'",
    "keep_frozen": "a list of layer class names such as BatchNormalization",
    "learning_rate": "a positive number",
    "batch_size": "a positive integer",
    "steps_per_execution": "a positive integer",
    "source": "one of sklearn, keras, npz, csv, images, function",
    "validation": "a fraction: at least 0 and below 1",
    "test": "a fraction: at least 0 and below 1",
    "jit_compile": "true, false or auto",
    "distribute": "data_parallel, none, or {type: data_parallel}",
    "verbose": "0 (silent), 1 (progress bar) or 2 (a line per epoch)",
    "formats": "formats from " + ", ".join(EXPORT_FORMATS),
    "tolerance": "a number at least 0, or a mapping {format: number}",
    "samples": "a positive integer",
    "preprocess": "model (the inputs' transforms are layers of the model) or data",
    "transform": "a mapping {input or output name: [{op: argument}, ...]}",
    "vars": "a mapping {name: a number, a boolean, a string or a ${expression}}",
    "params": "a mapping {name: a default value: a number, a boolean or a string}",
    "block": "the name of a block defined under `blocks:`",
    "op": "the name of a keras.ops function such as mean",
    "expr": "a tensor expression over node names such as 'x + y'",
    "repeat": "a positive integer, or a ${expression} giving one",
    "adapt": "true, false, or a mapping {data: input name, batch_size, steps}",
    "blocks": "a mapping {block name: {params, inputs, layers, outputs}}",
}


def fields_at(path: PathT) -> list[str]:
    """Keys allowed in the mapping at ``path`` (for did-you-mean)."""
    models: dict[PathT, type] = {
        (): ModelSpec,
        ("compile",): CompileSpec,
        ("train",): TrainSpec,
        ("train", "data"): DataSpec,
        ("train", "data", "split"): SplitSpec,
        ("train", "trainable"): TrainableSpec,
        ("train", "distribute"): DistributeSpec,
        ("export",): ExportSpec,
    }
    if len(path) == 3 and path[:2] == ("train", "stages"):
        return list(StageSpec.model_fields)
    if len(path) == 4 and path[:2] == ("train", "stages") and path[3] == "trainable":
        return list(TrainableSpec.model_fields)
    if len(path) == 2 and path[0] == "inputs":
        return list(InputSpec.model_fields)
    if len(path) == 3 and path[0] == "layers" and path[2] == "add_loss":
        return list(AddLossSpec.model_fields)
    if len(path) == 3 and path[0] == "layers" and path[2] == "adapt":
        return list(AdaptSpec.model_fields)
    if len(path) == 2 and path[0] == "blocks":
        return list(BlockSpec.model_fields)
    model = models.get(tuple(path))
    return list(model.model_fields) if model else []  # type: ignore[attr-defined]


#: The sections whose keys a misplaced key may belong to (``epochs`` -> ``train.epochs``).
_SECTIONS: dict[str, type] = {
    "compile": CompileSpec,
    "train": TrainSpec,
    "train.data": DataSpec,
    "train.data.split": SplitSpec,
    "export": ExportSpec,
}


def _elsewhere(key: str, here: PathT) -> str:
    """`` Did you mean 'train.epochs'?`` for a key that belongs to another section."""
    where = ".".join(map(str, here))
    for section, model in _SECTIONS.items():
        if section != where and key in model.model_fields:  # type: ignore[attr-defined]
            return f" Did you mean '{section}.{key}'?"
    return ""


def _existing(data: Any, loc: Iterable[Any]) -> tuple[PathT, Any]:
    """The longest prefix of a Pydantic ``loc`` that exists in ``data``, and its value."""
    path: list[str | int] = []
    for part in loc:
        in_dict = isinstance(data, dict) and part in data
        in_list = isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        if in_dict or in_list:
            data = data[part]
        else:
            break
        path.append(part)
    return tuple(path), data


def _value_text(data: Any, path: PathT) -> str:
    """``key=value`` for messages; a list item is shown as its whole list."""
    keys = [i for i, p in enumerate(path) if isinstance(p, str)]
    if not keys:
        return f"value={shown(_existing(data, path)[1])}"
    return f"{clipped(path[keys[-1]])}={shown(_existing(data, path[: keys[-1] + 1])[1])}"


def check_structure(ctx: Context) -> ModelSpec | None:
    """The spec's shape, by the pydantic models; the spec when it has the right shape."""
    try:
        return ModelSpec.model_validate(ctx.data)
    except ValidationError as err:
        _pydantic(ctx, err)
        return None


def check_body_structure(ctx: Context) -> Body | None:
    """A block instance's body's shape (its nodes' keys and types)."""
    try:
        return Body.model_validate(ctx.data)
    except ValidationError as err:
        _pydantic(ctx, err, only=("layers", "inputs"))  # its outputs were checked once
        return None


def _pydantic(ctx: Context, err: ValidationError, only: tuple[str, ...] = ()) -> None:
    """Each pydantic error as a located message: expected, received, did you mean
    (with ``only``, the errors inside that key)."""
    seen: set[PathT] = set()
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if p not in (ADAPT_MAPPING, DISTRIBUTE_MAPPING))
        if only and (loc[:1] not in [(o,) for o in only] or len(loc) < 3):
            continue  # with `only`, the errors inside its items
        if e["type"] == "missing":
            parent, _ = _existing(ctx.data, loc[:-1])
            if len(parent) == len(loc) - 1:
                ctx.add(parent, f"missing required key '{clipped(loc[-1])}'")
                continue
        if e["type"] == "extra_forbidden":
            path, _ = _existing(ctx.data, loc)
            hint = did_you_mean(str(loc[-1]), fields_at(path[:-1])) or _elsewhere(
                str(loc[-1]), path[:-1]
            )
            ctx.add(path, f"unknown key '{clipped(loc[-1])}'.{hint}", key=True)
            continue
        path, _ = _existing(ctx.data, loc)
        if path in seen:
            continue  # one message per place, whichever union branch failed
        seen.add(path)
        keys = [p for p in path if isinstance(p, str)]
        field_hint = FIELD_HINTS.get(keys[-1]) if keys else None
        if path[:1] == ("blocks",) and len(path) >= 3 and path[2] == "inputs":
            field_hint = "a list of input names, or of {name, shape, dtype}"
        if path[:4] == ("train", "distribute", "mesh", "shape"):
            field_hint = "a list of positive integers (the devices along each axis)"
        if path == ("train", "distribute", "type"):
            field_hint = "data_parallel, model_parallel or none"
        is_var = path[:1] == ("vars",) and len(path) == 2
        if is_var or (path[:1] == ("blocks",) and len(path) == 4 and path[2] == "params"):
            field_hint = "a number, a boolean, a string or a ${expression}"
        if e["type"] == "too_short":
            expected = "at least one entry"
        elif field_hint and (len(path) < len(loc) or e["type"] != "value_error"):
            expected = field_hint
        else:
            expected = e["msg"][0].lower() + e["msg"][1:]
            expected = expected.removeprefix("value error, ").removeprefix("expected ")
            expected = expected.removeprefix("input should be ")
        received = _value_text(ctx.data, path)
        value = _existing(ctx.data, loc)[1]
        if e["type"] == "literal_error" and isinstance(value, str):
            choices = re.findall(r"'([^']*)'", str(e.get("ctx", {}).get("expected", "")))
            received = f"{shown(value)}.{did_you_mean(value, choices)}".removesuffix(".")
        ctx.add(path, f"expected {expected}. Received: {received}")


def check_imports(ctx: Context) -> None:
    """``imports:`` are refused unless allowed; allowed, each must import."""
    modules = ctx.data.get("imports")
    if not modules or not isinstance(modules, list):
        return
    allowed = all(isinstance(m, str) and m in plugins.ALLOWED for m in modules)  # by --plugin
    if not ctx.allow_imports and not allowed:
        ctx.refused_imports = [str(m) for m in modules]
        names = clipped(", ".join(str(m) for m in modules))
        ctx.add(
            ("imports",),
            f"this spec imports Python modules ({names}); importing runs their code, "
            "so a spec's imports are refused by default. Pass --allow-imports "
            "(allow_imports=True) if you trust this spec, or load the modules "
            "yourself with --plugin.",
            key=True,
        )
        return
    for i, module in enumerate(modules):
        if isinstance(module, str):
            try:
                plugins.import_module(module)
            except Exception as err:
                ctx.add(("imports", i), str(err))
