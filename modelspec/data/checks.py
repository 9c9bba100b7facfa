"""``check_against_model``: the arrays against the built model's shapes and its losses' labels.

Example:
    >>> from modelspec import build_model, load_spec
    >>> from modelspec.data import load_data
    >>> spec = load_spec("specs/antirectifier_digits.yaml")
    >>> check_against_model(load_data(spec), build_model(spec), spec)  # no problem: None
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import Diagnostic
from ..spec.schema import ModelSpec
from ..spec.validate.compile import losses_by_output
from .common import DATA, Data, input_names, output_names, raise_all, shape_text

if TYPE_CHECKING:
    import keras

_SPARSE = {"sparse_categorical_crossentropy"}
_ONE_HOT = {
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_hinge",
    "max_penalty_crossentropy",
}
#: Losses whose targets have the output's shape (or drop its last dimension of 1).
_SAME_SHAPE = {
    "binary_crossentropy",
    "bce",
    "binary_focal_crossentropy",
    "mean_squared_error",
    "mse",
    "mean_absolute_error",
    "mae",
    "mean_absolute_percentage_error",
    "mape",
    "mean_squared_logarithmic_error",
    "msle",
    "huber",
    "log_cosh",
    "hinge",
    "squared_hinge",
    "poisson",
    "kl_divergence",
    "kld",
    "cosine_similarity",
    "dice",
    "tversky",
}


def _loss_key(name: str) -> str:
    """``SparseCategoricalCrossentropy`` → ``sparse_categorical_crossentropy``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _losses(spec: ModelSpec, outs: list[str]) -> dict[str, str | None]:
    """Each output's loss name (a configured loss's class), ``None`` for none."""
    loss = spec.compile.loss if spec.compile else None
    per_output = losses_by_output(loss, outs)
    if per_output is None:
        per_output = dict.fromkeys(outs, loss)
    return {n: _loss_name(v) for n, v in per_output.items()}


def _loss_name(loss: Any) -> str | None:
    if isinstance(loss, dict):  # labels checked as the class's; ignored classes may be any id
        name = loss.get("type")
        unusual = loss.get("ignore_class") is not None or "axis" in loss
        return name if isinstance(name, str) and not unusual else None
    return loss if isinstance(loss, str) else None


def _matches(received: tuple[int, ...], expected: tuple[int | None, ...]) -> bool:
    return len(received) == len(expected) and all(
        e is None or e == r for r, e in zip(received, expected, strict=True)
    )


def _model_shapes(model: keras.Model, spec: ModelSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per-sample shapes of the model's inputs and outputs, by spec name."""
    ins, outs = input_names(spec), output_names(spec)
    by_name = {t.name: t for t in model.inputs}
    tensors = [by_name.get(n) for n in ins]
    if any(t is None for t in tensors) and len(model.inputs) == len(ins):
        tensors = list(model.inputs)
    out = model.output
    if isinstance(out, dict) and all(n in out for n in outs):
        out_tensors = [out[n] for n in outs]
    else:
        out_tensors = list(model.outputs)
    return (
        {n: tuple(t.shape[1:]) for n, t in zip(ins, tensors, strict=False) if t is not None},
        {n: tuple(t.shape[1:]) for n, t in zip(outs, out_tensors, strict=False)},
    )


def input_problem(name: str, array: np.ndarray, expected: tuple[int | None, ...]) -> str | None:
    """What is wrong with ``array`` as the model input ``name`` of per-sample shape
    ``expected`` (``None`` matches any size), with a transform hint; ``None`` if nothing."""
    received = array.shape[1:]
    if array.dtype != object and _matches(received, expected):
        return None
    if array.dtype == object:
        hint = (
            f"`transform: {{{name}: [{{pad_sequences: LENGTH}}]}}` (sequences of different lengths)"
        )
    elif None not in expected and math.prod(received) == math.prod(expected):  # type: ignore[arg-type]
        hint = f"`transform: {{{name}: [{{reshape: {list(expected)}}}]}}`"
    else:
        hint = f"`transform: {{{name}: [{{reshape: [...]}}]}}`, or change the input's shape"
    return (
        f"expected arrays of per-sample shape {shape_text(expected)} for the model input "
        f"'{name}' (the batch dimension excluded). Received: {shape_text(received)}. "
        f"Transform them in train.data: {hint}"
    )


def _label_problem(
    name: str, loss: str, labels: np.ndarray, expected: tuple[int | None, ...]
) -> str | None:
    key = _loss_key(loss)
    received = labels.shape[1:]
    on = f"for the loss {loss} on the output '{name}' (shape {shape_text(expected)})"
    if key in _SPARSE:
        base = expected[:-1]
        if not (_matches(received, base) or _matches(received, (*base, 1))):
            options = f"{shape_text(base)} or {shape_text((*base, 1))}"
            hint = (
                "; these look one-hot: use loss: categorical_crossentropy"
                if _matches(received, expected)
                else ""
            )
            return (
                f"expected integer class ids of per-sample shape {options} {on}. "
                f"Received: {shape_text(received)}{hint}"
            )
        if labels.dtype.kind not in "biuf":
            return f"expected integer class ids {on}. Received: an array of {labels.dtype}"
        if labels.dtype.kind == "f" and not np.all(labels == np.round(labels)):
            return (
                f"expected integer class ids {on}. Received: fractional values such as "
                f"{labels[labels != np.round(labels)].flat[0]:g}"
            )
        units = expected[-1] if expected else None
        if units is not None and labels.size and (labels.min() < 0 or labels.max() >= units):
            low, high = int(labels.min()), int(labels.max())
            return (
                f"expected class ids in [0, {units}) {on}. Received: values from {low} to "
                f"{high}. Give the output {max(high + 1, units)} units, or re-map the labels"
            )
        return None
    if key in _ONE_HOT:
        if _matches(received, expected):
            return None
        classes = expected[-1] if expected and expected[-1] is not None else "N"
        hint = (
            f". Add `transform: {{{name}: [{{one_hot: {classes}}}]}}` to train.data, or use "
            "loss: sparse_categorical_crossentropy"
            if _matches(received, expected[:-1]) or _matches(received, (*expected[:-1], 1))
            else ""
        )
        return (
            f"expected one-hot labels of per-sample shape {shape_text(expected)} {on}. "
            f"Received: {shape_text(received)}{hint}"
        )
    if key in _SAME_SHAPE:
        squeezed = bool(expected) and expected[-1] == 1 and _matches(received, expected[:-1])
        if _matches(received, expected) or squeezed:
            return None
        return (
            f"expected targets of per-sample shape {shape_text(expected)} {on}: the output's "
            f"shape. Received: {shape_text(received)}"
        )
    return None  # a custom loss: its targets are its own business


def check_against_model(data: Data, model: keras.Model, spec: ModelSpec) -> None:
    """Check arrays against the model's input shapes and the losses' label formats.

    Runs before training so a mismatch is reported against the spec rather
    than as a TensorFlow stack trace.

    Args:
        data: What :func:`load_data` returned.
        model: The model built from ``spec``.
        spec: The spec, for the losses and for locating problems.

    Raises:
        DataError: Every problem found: per-sample input shapes that differ
            from the model's (``None`` matches any size); labels that do not
            suit the loss (``sparse_categorical_crossentropy`` wants integer
            ids in ``[0, units)``, the categorical losses one-hot vectors,
            the others the output's shape).
    """
    doc = spec.document
    entry = spec.train.data if spec.train else None
    in_shapes, out_shapes = _model_shapes(model, spec)
    losses = _losses(spec, output_names(spec))
    errors: list[Diagnostic] = []
    reported: set[tuple[str, str]] = set()  # one problem per input or output
    for part, split in data.splits():
        problems = [
            ("inputs", name, input_problem(name, split.x[name], expected))
            for name, expected in in_shapes.items()
            if name in split.x
        ]
        problems += [
            ("targets", name, _label_problem(name, loss, split.y[i], expected))
            for i, (name, expected) in enumerate(out_shapes.items())
            if (loss := losses.get(name)) is not None and i < len(split.y)
        ]
        for role, name, problem in problems:
            if problem is None or (role, name) in reported:
                continue
            reported.add((role, name))
            mapping = getattr(entry, role) if entry else None
            path = (*DATA, role, name) if mapping and name in mapping else DATA
            suffix = f" (in the {part} split)" if part != "train" else ""
            errors.append(doc.diagnostic(path, problem + suffix))
    raise_all(errors)
