"""The ``transform:`` steps of ``train.data``: checked first, then applied split by split.

:func:`plan_transforms` checks every step before any data is read;
:func:`transform` applies one input's or output's steps, the statistics of
``standardize`` coming from the training split (the first array given).

Example:
    >>> _bad_argument("divide_by", 0)
    'divide_by: a non-zero number, e.g. 255'
    >>> _one_hot(np.array([2, 0]), 3)
    array([[0., 0., 1.],
           [1., 0., 0.]], dtype=float32)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import Diagnostic, did_you_mean
from ..spec.loader import Document, PathT
from ..spec.schema import TRANSFORMS, DataSpec, ModelSpec
from .common import DATA, Problem, fail, raise_all, shape_text


@dataclass
class Step:
    op: str
    arg: Any
    path: PathT


def plan_transforms(spec: ModelSpec, entry: DataSpec, names: list[str]) -> dict[str, list[Step]]:
    """Check ``transform:`` before any data is read; every problem at once."""
    doc = spec.document
    errors: list[Diagnostic] = []
    plan: dict[str, list[Step]] = {}
    for name, steps in entry.transform.items():
        base: PathT = (*DATA, "transform", name)
        if name not in names:
            errors.append(
                doc.diagnostic(
                    base,
                    f"unknown model input or output '{name}' (the model has "
                    f"{', '.join(names)}).{did_you_mean(name, names)}",
                    key=True,
                )
            )
            continue
        plan[name] = []
        for j, step in enumerate(steps):
            if len(step) != 1:
                errors.append(
                    doc.diagnostic(
                        (*base, j),
                        "expected one {op: argument} per step, e.g. {divide_by: 255}. "
                        f"Received: {step!r}",
                    )
                )
                continue
            ((op, arg),) = step.items()
            path: PathT = (*base, j, op)
            if op not in TRANSFORMS:
                hint = did_you_mean(op, TRANSFORMS) or f" Known: {', '.join(TRANSFORMS)}."
                errors.append(doc.diagnostic(path, f"unknown transform '{op}'.{hint}", key=True))
                continue
            expected = _bad_argument(op, arg)
            if expected:
                errors.append(doc.diagnostic(path, f"expected {expected}. Received: {op}={arg!r}"))
                continue
            plan[name].append(Step(op, arg, path))
    raise_all(errors)
    return plan


def split_steps(steps: list[Step]) -> tuple[list[Step], list[Step]]:
    """An input's steps as ``(data steps, model steps)``: the steps after the last
    ``pad_sequences`` can be layers of the model; it and the steps before it (on
    ragged sequences) stay in the data pipeline.

    Example:
        >>> pad, div = Step("pad_sequences", 5, ()), Step("divide_by", 2, ())
        >>> [[s.op for s in part] for part in split_steps([pad, div])]
        [['pad_sequences'], ['divide_by']]
    """
    last = max((i for i, s in enumerate(steps) if s.op == "pad_sequences"), default=-1)
    return steps[: last + 1], steps[last + 1 :]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bad_argument(op: str, arg: Any) -> str | None:
    """What ``op`` expects when ``arg`` does not fit, else ``None``."""
    if op == "reshape":
        ok = (
            isinstance(arg, list)
            and all(_is_int(d) and (d > 0 or d == -1) for d in arg)
            and sum(d == -1 for d in arg) <= 1
        )
        return None if ok else "reshape: a list of dimensions (at most one -1), e.g. [8, 8, 1]"
    if op == "divide_by":
        ok = isinstance(arg, int | float) and not isinstance(arg, bool) and arg != 0
        return None if ok and math.isfinite(arg) else "divide_by: a non-zero number, e.g. 255"
    if op == "standardize":
        return None if isinstance(arg, bool) else "standardize: true"
    if op in ("one_hot", "pad_sequences"):
        what = "the number of classes, e.g. 10" if op == "one_hot" else "a length, e.g. 200"
        return None if _is_int(arg) and arg > 0 else f"{op}: {what}"
    if op == "cast":
        try:
            ok = isinstance(arg, str) and np.dtype(arg).kind in "biuf"
        except TypeError:
            ok = False
        return None if ok else "cast: a numeric dtype such as float32, int32 or bool"
    return None  # pragma: no cover - every op in TRANSFORMS is handled above


Stats = dict[PathT, tuple[np.ndarray, np.ndarray]]


def transform(
    doc: Document, name: str, steps: list[Step], arrays: list[np.ndarray], stats: Stats
) -> list[np.ndarray]:
    """Apply ``steps`` to one model input's or output's arrays (the training split first)."""
    for step in steps:
        try:
            if step.op == "standardize" and step.arg and step.path not in stats:
                stats[step.path] = _statistics(arrays[0])
            arrays = [_apply(step, a, stats.get(step.path)) for a in arrays]
        except Problem as err:
            raise fail(doc, step.path, f"cannot apply {step.op} to '{name}': {err}") from None
    return arrays


def _statistics(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation (std 0 becomes 1)."""
    if train.dtype.kind not in "biuf":
        raise Problem(f"expected numbers. Received: an array of {train.dtype}")
    if not len(train):
        raise Problem("the training split is empty")
    values = train.astype(np.float64)
    std = values.std(axis=0)
    return values.mean(axis=0), np.where(std == 0, 1.0, std)


def _apply(step: Step, array: np.ndarray, stats: tuple[np.ndarray, np.ndarray] | None) -> Any:
    op, arg = step.op, step.arg
    if op == "pad_sequences":
        import keras

        try:
            return keras.utils.pad_sequences(list(array), maxlen=arg)
        except (ValueError, TypeError) as err:
            raise Problem(f"expected a list of sequences of numbers ({err})") from None
    if array.dtype.kind not in "biuf":
        hint = " (use pad_sequences first)" if array.dtype == object else ""
        raise Problem(f"expected numbers. Received: an array of {array.dtype}{hint}")
    floats = array if array.dtype.kind == "f" else array.astype(np.float32)
    if op == "reshape":
        try:
            return array.reshape((len(array), *arg))
        except ValueError:
            raise Problem(
                f"cannot reshape per-sample shape {shape_text(array.shape[1:])} "
                f"({math.prod(array.shape[1:]):,} values) to {shape_text(arg)}"
            ) from None
    if op == "divide_by":
        return floats / np.asarray(arg, dtype=floats.dtype)
    if op == "standardize":
        if stats is None:
            return array
        mean, std = stats
        return ((floats - mean) / std).astype(floats.dtype)
    if op == "one_hot":
        return _one_hot(array, int(arg))
    if op == "cast":
        return array.astype(np.dtype(arg))
    raise AssertionError(op)  # pragma: no cover


def _one_hot(labels: np.ndarray, classes: int) -> np.ndarray:
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.size and not np.all(labels == np.round(labels)):
        raise Problem("expected integer class ids. Received: fractional values")
    ids = labels.astype(np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= classes):
        raise Problem(
            f"expected class ids in [0, {classes}). Received: values from {ids.min()} to "
            f"{ids.max()}; give one_hot the number of classes ({ids.max() + 1}?)"
        )
    return np.eye(classes, dtype=np.float32)[ids]
