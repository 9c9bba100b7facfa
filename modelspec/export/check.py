"""The numeric check: how far an artifact's outputs are from Keras's, and how far is allowed.

Runtimes name and order outputs their own way: :func:`ordered` puts them back
in Keras's order before :func:`max_abs_diff` compares.

Example:
    >>> import numpy as np
    >>> from modelspec.export.check import max_abs_diff
    >>> max_abs_diff([np.array([1.0, np.nan])], [np.array([1.5, np.nan])])
    0.5
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np

from ..spec.schema import ModelSpec
from .format import Format


def max_abs_diff(expected: Sequence[np.ndarray], received: Sequence[np.ndarray]) -> float:
    """Largest absolute difference between two lists of arrays (inf if shapes differ;
    NaN where both are NaN counts as equal)."""
    if len(expected) != len(received):
        return float("inf")
    worst = 0.0
    for a, b in zip(expected, received, strict=True):
        a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if a64.shape != b64.shape:
            return float("inf")
        both_nan = np.isnan(a64) & np.isnan(b64)
        diff = np.where(both_nan, 0.0, np.abs(a64 - b64))
        if diff.size:
            worst = max(worst, float(np.nan_to_num(diff, nan=np.inf).max()))
    return worst


def ordered(outputs: Mapping[str, Any], keys: Sequence[str] | None) -> list[np.ndarray]:
    """A runtime's named outputs in Keras's order: by the model's output keys when
    the runtime kept them, else in the runtime's own order (``output_0``...)."""
    if keys and set(keys) <= set(outputs):
        return [np.asarray(outputs[k]) for k in keys]
    names = sorted(
        outputs, key=lambda k: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", k)]
    )
    return [np.asarray(outputs[k]) for k in names]


def output_keys(model: keras.Model) -> list[str] | None:
    """The output names when the model returns a dict (sorted, as ``tree.flatten``)."""
    structure = getattr(model, "_outputs_struct", None)
    return sorted(structure) if isinstance(structure, dict) else None


def tolerance_for(fmt: Format, given: float | None, spec: ModelSpec | None) -> float:
    """The tolerance: given, else the spec's ``export.tolerance``, else the format's."""
    if given is not None:
        return float(given)
    chosen: Any = spec.export.tolerance if spec is not None and spec.export is not None else None
    if isinstance(chosen, Mapping):
        chosen = dict(chosen).get(fmt.name)
    return fmt.tolerance if chosen is None else float(chosen)
