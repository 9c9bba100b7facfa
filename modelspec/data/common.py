"""What the rest of :mod:`modelspec.data` shares: the splits, the names, message helpers, errors.

:class:`Split` and :class:`Data` hold the arrays, :data:`DATA` is where
``train.data`` sits in a spec (for diagnostics), and :class:`Problem` is a
problem with a file or an array that its caller places in the spec.

Example:
    >>> count(1257, "sample"), shape_text([8, 8, 1]), quote(["a", "b"])
    ('1,257 samples', '(8, 8, 1)', "'a', 'b'")
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError, Diagnostic
from ..spec.graph import parse_ref
from ..spec.loader import Document, PathT
from ..spec.schema import ModelSpec
from ..spec.validate.compile import losses_by_output

DATA: PathT = ("train", "data")


@dataclass
class Split:
    """One part of the data (train, validation or test).

    Attributes:
        x: ``{model input name: array}``, samples along the first axis.
        y: One array per model output, in the order of the spec's ``outputs``
            (an output without a loss gets :func:`no_target`'s empty one).
        y_names: The output names when the spec's ``outputs`` is a mapping:
            :func:`to_dataset` then yields the targets as a dict, because Keras
            matches a tuple to a dict-output model in sorted-key order.
    """

    x: dict[str, np.ndarray]
    y: list[np.ndarray]
    y_names: tuple[str, ...] | None = None

    def __len__(self) -> int:
        first = next(iter(self.x.values()), None)
        if first is None:
            first = self.y[0] if self.y else np.empty(0)
        return len(first)


@dataclass
class Data:
    """A spec's data, split and transformed.

    Attributes:
        train: The training split.
        validation: The validation split, or ``None`` (``split.validation: 0``).
        test: The test split, or ``None`` (``split.test: 0``).
        description: One line for people: the source and the split sizes.
        in_model: ``{model input: [step, ...]}``: the transform steps left for the
            model's preprocessing layers (``train.data.preprocess: model``); the
            arrays of those inputs are raw (before these steps).
        stats: The ``standardize`` statistics of the training split, by step path.
        graph_view: The same splits with the ``in_model`` steps applied too (what
            the spec's graph sees behind the preprocessing layers), for checking
            the arrays against the declared inputs; ``None`` when ``in_model`` is empty.
    """

    train: Split
    validation: Split | None
    test: Split | None
    description: str
    in_model: dict[str, list[Any]] = field(default_factory=dict)
    stats: dict[Any, Any] = field(default_factory=dict)
    graph_view: Data | None = None

    def splits(self) -> list[tuple[str, Split]]:
        """``[(name, split), ...]`` for the splits present, train first."""
        named = [("train", self.train), ("validation", self.validation), ("test", self.test)]
        return [(name, split) for name, split in named if split is not None]


class Problem(Exception):
    """A problem with a file or an array; the caller knows where it belongs in the spec."""


def output_names(spec: ModelSpec) -> list[str]:
    """The model's output names, in order: the keys of a mapping, else the nodes' names."""
    if isinstance(spec.outputs, dict):
        return list(spec.outputs)
    names = []
    for ref in spec.output_refs.values():
        parsed = parse_ref(ref)
        names.append(parsed.node if parsed is not None else ref)
    return names


def trained_outputs(spec: ModelSpec) -> list[str]:
    """The outputs with a loss, in order: the ones whose targets the data must give
    (an output left out of a ``compile.loss`` mapping, or mapped to null, has none)."""
    names = output_names(spec)
    per_output = losses_by_output(spec.compile.loss if spec.compile else None, names)
    if per_output is None:
        return names
    return [n for n in names if per_output[n] is not None]


def no_target(n: int) -> np.ndarray:
    """The target of an output without a loss: nothing per sample (Keras takes the
    targets in the outputs' structure; a loss of ``None`` never reads it)."""
    return np.zeros((n, 0), np.float32)


def input_names(spec: ModelSpec) -> list[str]:
    return [i.name for i in spec.inputs]


def shape_text(shape: Sequence[int | None]) -> str:
    """``(64,)``, ``()``, ``(None, 12)``: a per-sample shape as Python prints it."""
    return str(tuple(shape))


def count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def quote(keys: Sequence[str]) -> str:
    return ", ".join(f"'{k}'" for k in keys)


def fail(doc: Document, path: PathT, message: str, *, key: bool = False) -> DataError:
    return DataError([doc.diagnostic(path, message, key=key)])


def raise_all(errors: list[Diagnostic]) -> None:
    if errors:
        raise DataError(sorted(errors, key=lambda d: (d.line, d.column)))
