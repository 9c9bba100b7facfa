"""Arrays onto the model: which arrays feed each input and output, and are they usable.

:func:`pick` chooses the arrays (``train.data.inputs``/``targets``, else by
name, else ``x`` and ``y``), :func:`arrays_for` builds one array per input or
output from them (text labels become class ids), and :func:`check_arrays`
checks sample counts and finite values. Problems are collected, not raised.

Example:
    >>> lookup({"pixels_0": np.zeros(2), "pixels_1": np.ones(2)}, "pixels")
    ['pixels_0', 'pixels_1']
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import Diagnostic, did_you_mean
from ..spec.loader import Document, PathT
from ..spec.schema import InputSpec
from .common import DATA, count, quote
from .sources import Source


def lookup(arrays: dict[str, np.ndarray], key: str) -> list[str] | None:
    """The keys an array name stands for: itself, or ``key_0, key_1...`` (a written CSV)."""
    if key in arrays:
        return [key]
    keys: list[str] = []
    while f"{key}_{len(keys)}" in arrays:
        keys.append(f"{key}_{len(keys)}")
    return keys or None


def _stack(parts: list[np.ndarray]) -> np.ndarray:
    """One array from several: 1-D columns become features, N-D arrays are flattened."""
    if len(parts) == 1:
        return parts[0]
    return np.concatenate([p.reshape(len(p), -1) for p in parts], axis=1)


@dataclass
class Mapped:
    """An array picked for a model input or output, and where it came from."""

    keys: list[str]
    path: PathT  # where in the spec to report problems with it


def pick(
    doc: Document,
    mapping: dict[str, str | list[str]] | None,
    source: Source,
    role: str,
    names: list[str],
    errors: list[Diagnostic],
    exclude: Collection[str] = (),
) -> dict[str, Mapped]:
    """Which arrays feed each model input (``role="inputs"``) or output (``"targets"``).

    An entry of ``mapping`` wins; else an array named like the input or
    output; else, for a model with one input (output), ``x`` (``y``); else,
    for a CSV file and one input, every column that is not in ``exclude``.
    """
    mapping = mapping or {}
    noun = source.noun
    available = ", ".join(source.arrays) or "none"
    picked: dict[str, Mapped] = {}
    default = "x" if role == "inputs" else "y"
    what = "model input" if role == "inputs" else "model output"
    for name in names:
        path: PathT = (*DATA, role, name)
        if name in mapping:
            value = mapping[name]
            wanted = [value] if isinstance(value, str) else list(value)
            keys: list[str] = []
            complete = True
            for i, key in enumerate(wanted):
                found = lookup(source.arrays, key)
                if found is None:
                    where = path if isinstance(value, str) else (*path, i)
                    hint = did_you_mean(key, list(source.arrays))
                    errors.append(
                        doc.diagnostic(
                            where,
                            f"no {noun} '{key}' in {source.where}.{hint} "
                            f"{noun.capitalize()}s: {available}",
                        )
                    )
                    complete = False
                else:
                    keys += found
            if complete:
                picked[name] = Mapped(keys, path)
            continue
        where_default = (*DATA, role) if mapping else DATA
        found = lookup(source.arrays, name)
        if found is None and len(names) == 1:
            found = lookup(source.arrays, default)
        if found is None and len(names) == 1 and role == "inputs" and noun == "column":
            found = [k for k in source.arrays if k not in exclude] or None
        if found is not None:
            picked[name] = Mapped(found, where_default)
            continue
        key_word = noun.upper()
        if len(names) == 1:
            message = (
                f"no {noun} for the {what} '{name}': expected one named '{name}' or "
                f"'{default}' in {source.where}. Received: {available}. Map one in "
                f"train.data: `{role}: {{{name}: {key_word}}}`"
            )
        else:
            example = ", ".join(f"{n}: {key_word}" for n in names)
            message = (
                f"cannot tell which {noun} feeds the {what} '{name}': the model has "
                f"{len(names)} {what}s ({', '.join(names)}) and {source.where} has no "
                f"{noun} named '{name}' ({noun}s: {available}). Map them in train.data: "
                f"`{role}: {{{example}}}`"
            )
        errors.append(doc.diagnostic(where_default, message))
    return picked


def _materialize(
    doc: Document,
    source: Source,
    arrays: dict[str, np.ndarray],
    name: str,
    mapped: Mapped,
    role: str,
    errors: list[Diagnostic],
    spec: InputSpec | None = None,
) -> np.ndarray | None:
    """The array for one model input or output: text columns checked or encoded (or
    kept as text for a ``dtype: string`` input)."""
    text = spec is not None and spec.dtype == "string"
    parts = []
    for key in mapped.keys:
        array = arrays[key]
        if text:
            array = array.astype(str)
        elif array.dtype.kind in "US":
            if role == "inputs":
                line, cell = source.bad_rows.get(key, (0, ""))
                at = f" (line {line}: {cell!r})" if line else ""
                errors.append(
                    doc.diagnostic(
                        mapped.path,
                        f"expected numbers in the {source.noun} '{key}' for the model input "
                        f"'{name}'. Received: text{at}. Give the input `dtype: string`, "
                        f"leave the {source.noun} out of `inputs`, or map it as a target "
                        "(text labels become class ids)",
                    )
                )
                return None
            classes = np.unique(array)
            array = np.searchsorted(classes, array).astype(np.int64)
        parts.append(array)
    counts = {len(p) for p in parts}
    if len(counts) > 1:
        detail = ", ".join(f"'{k}': {len(p):,}" for k, p in zip(mapped.keys, parts, strict=True))
        errors.append(
            doc.diagnostic(
                mapped.path,
                f"expected the {source.noun}s for '{name}' to have the same number of samples. "
                f"Received: {detail}",
            )
        )
        return None
    array = _stack(parts)
    if spec is not None and array.ndim == 1 and spec.shape == [1]:
        array = array[:, None]  # one column for an input of shape [1]
    return array.astype(np.float32) if array.dtype == np.float64 else array


def arrays_for(
    doc: Document,
    source: Source,
    arrays: dict[str, np.ndarray],
    inputs: dict[str, Mapped],
    targets: dict[str, Mapped],
    errors: list[Diagnostic],
    specs: Mapping[str, InputSpec] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """One array per model input and output. With the inputs' ``specs``, a text
    column feeds a ``dtype: string`` input as text, and a single column an input of
    shape ``[1]`` as one feature per sample."""
    x = {}
    y = {}
    specs = specs or {}
    for name, mapped in inputs.items():
        spec = specs.get(name)
        array = _materialize(doc, source, arrays, name, mapped, "inputs", errors, spec)
        if array is not None:
            x[name] = array
    for name, mapped in targets.items():
        array = _materialize(doc, source, arrays, name, mapped, "targets", errors)
        if array is not None:
            y[name] = array
    return x, y


def check_arrays(
    doc: Document,
    x: dict[str, np.ndarray],
    y: dict[str, np.ndarray],
    inputs: dict[str, Mapped],
    targets: dict[str, Mapped],
    errors: list[Diagnostic],
    part: str = "",
) -> None:
    """Same number of samples everywhere; finite numbers."""
    counts = {
        **{name: (len(a), inputs[name]) for name, a in x.items()},
        **{name: (len(a), targets[name]) for name, a in y.items()},
    }
    if len({n for n, _ in counts.values()}) > 1:
        detail = ", ".join(f"{name} <- {quote(m.keys)}: {n:,}" for name, (n, m) in counts.items())
        errors.append(
            doc.diagnostic(
                DATA,
                f"expected every array to have the same number of samples{part}. "
                f"Received: {detail}",
            )
        )
    for kind, arrays, mapped in (("model input", x, inputs), ("targets of", y, targets)):
        for name, array in arrays.items():
            if array.dtype.kind != "f":
                continue
            nan = int(np.isnan(array).sum())
            inf = int(np.isinf(array).sum())
            if nan or inf:
                bad = ~np.isfinite(array.reshape(len(array), -1)).all(axis=1)
                received = " and ".join(
                    count(n, label) for n, label in ((nan, "NaN value"), (inf, "inf value")) if n
                )
                errors.append(
                    doc.diagnostic(
                        mapped[name].path,
                        f"expected finite numbers for the {kind} '{name}' (from "
                        f"{quote(mapped[name].keys)}){part}. Received: {received} in "
                        f"{count(int(bad.sum()), 'sample')} of {len(array):,} (the first is "
                        f"sample {int(np.argmax(bad))}). Drop or fill those samples",
                    )
                )
