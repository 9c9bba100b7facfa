"""The files of ``modelspec predict``: arrays read from, and written to, ``.npz`` and ``.csv``.

Example:
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "out.csv"
    >>> write_arrays(path, {"probs": np.array([[0.25, 0.75]], dtype=np.float32)})
    >>> path.read_text().splitlines()
    ['probs_0,probs_1', '0.25,0.75']
    >>> read_arrays(path)["probs_1"]
    array([0.75])
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, Diagnostic
from ..files import atomic_path
from ..spec.schema import DataSpec, ModelSpec
from .common import DATA, Problem, input_names, output_names
from .load import load_with_stats
from .mapping import Mapped, arrays_for, check_arrays, lookup, pick
from .readers import read_csv, read_npz
from .sources import Source
from .transforms import plan_transforms, split_steps, transform


def _file_error(path: Path | str, message: str) -> DataError:
    return DataError([Diagnostic(message, file=str(path))])


def read_arrays(
    path: str | os.PathLike[str], spec: ModelSpec | None = None, preprocess: str = "data"
) -> dict[str, np.ndarray]:
    """Arrays from an ``.npz`` (by key) or ``.csv`` file (by column), for ``predict``.

    With a spec, the arrays are mapped onto the model inputs as
    ``train.data.inputs`` says (an array named like an input is taken as it
    is; ``name_0, name_1...`` columns, as :func:`write_arrays` writes them,
    are stacked) and the inputs' ``transform`` steps are applied. A
    ``standardize`` step needs the training split's statistics: the spec's
    training data is loaded again to compute them.

    Args:
        path: The file.
        spec: The model's spec, or ``None`` for the raw arrays.
        preprocess: ``model`` when the model has the inputs' transforms as
            layers (it takes raw inputs): only the steps it cannot do
            (``pad_sequences``) are applied; ``data``: every step.

    Returns:
        ``{key or column: array}``, or ``{model input: array}`` with a spec.

    Raises:
        DataError: The file is missing or unreadable, or an input cannot be found.
    """
    path = Path(path)
    if path.suffix.lower() not in (".npz", ".csv"):
        raise _file_error(path, f"expected a .npz or .csv file. Received: {path.name}")
    if not path.is_file():
        raise _file_error(path, f"no such file: {path.resolve()}")
    try:
        if path.suffix.lower() == ".npz":
            source = Source(read_npz(path), f"npz {path}", path.name)
        else:
            columns, bad = read_csv(path)
            source = Source(columns, f"csv {path}", path.name, "column", bad_rows=bad)
    except Problem as err:
        raise _file_error(path, str(err)) from None
    if spec is None:
        return source.arrays
    doc = spec.document
    entry = (
        spec.train.data
        if spec.train
        else DataSpec(source="csv" if source.noun == "column" else "npz")
    )
    ins, outs = input_names(spec), output_names(spec)
    plan = plan_transforms(spec, entry, [*ins, *outs])
    errors: list[Diagnostic] = []
    direct = {n: Mapped(found, DATA) for n in ins if (found := lookup(source.arrays, n))}
    mapping = {n: v for n, v in (entry.inputs or {}).items() if n not in direct}
    exclude = {"y", *outs}
    for value in (entry.targets or {}).values():
        exclude |= {value} if isinstance(value, str) else set(value)
    rest = [n for n in ins if n not in direct]
    inputs = {**direct, **pick(doc, mapping, source, "inputs", rest, errors, exclude)}
    if not errors:
        specs = {i.name: i for i in spec.inputs}
        x, _ = arrays_for(doc, source, source.arrays, inputs, {}, errors, specs)
        check_arrays(doc, x, {}, inputs, {}, errors)
    if errors:  # the problems are in the file: report them there
        raise DataError([Diagnostic(d.message, file=str(path)) for d in errors])
    if preprocess == "model":
        plan = {n: split_steps(steps)[0] for n, steps in plan.items()}
    needs_stats = any(s.op == "standardize" and s.arg for n in ins for s in plan.get(n, ()))
    stats = load_with_stats(spec, preprocess)[1] if needs_stats else {}
    for name in ins:
        if name in plan:
            (x[name],) = transform(doc, name, plan[name], [x[name]], stats)
    return x


def write_arrays(path: str | os.PathLike[str], arrays: dict[str, np.ndarray]) -> None:
    """Write arrays to an ``.npz`` or ``.csv`` file, atomically (temporary name, then rename).

    In a CSV file each 1-D array is a column; the features of an N-D array
    are flattened to columns ``name_0, name_1...``.

    Args:
        path: The file; its suffix picks the format.
        arrays: ``{name: array}``, samples along the first axis (CSV: the same count).

    Raises:
        DataError: An unknown suffix, or arrays of different lengths for a CSV file.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".csv"):
        raise _file_error(path, f"expected a .npz or .csv file name. Received: {path.name}")
    values = {k: np.asarray(v) for k, v in arrays.items()}
    if suffix == ".csv":
        values = {k: np.atleast_1d(v) for k, v in values.items()}
        if len({len(v) for v in values.values()}) > 1:
            detail = ", ".join(f"{k}: {len(v):,}" for k, v in values.items())
            raise _file_error(
                path, f"expected arrays with the same number of samples. Received: {detail}"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    with (
        atomic_path(path) as tmp,
        tmp.open("wb" if suffix == ".npz" else "w", **_text_args(suffix)) as f,
    ):
        if suffix == ".npz":
            np.savez(f, **values)  # type: ignore[arg-type]
        else:
            _write_csv(f, values)


def _text_args(suffix: str) -> dict[str, Any]:
    return {} if suffix == ".npz" else {"encoding": "utf-8", "newline": ""}


def _write_csv(f: Any, arrays: dict[str, np.ndarray]) -> None:
    header: list[str] = []
    columns: list[list[str]] = []
    for name, array in arrays.items():
        flat = array.reshape(len(array), -1) if array.ndim > 1 else array.reshape(-1, 1)
        header += [name] if array.ndim <= 1 else [f"{name}_{j}" for j in range(flat.shape[1])]
        for j in range(flat.shape[1]):
            columns.append([_cell(v) for v in flat[:, j]])
    writer = csv.writer(f)
    writer.writerow(header)
    writer.writerows(zip(*columns, strict=True))


def _cell(value: Any) -> str:
    if isinstance(value, np.floating) and value.dtype != np.float64:
        return f"{value:.9g}"  # float32 round-trips in 9 significant digits
    return str(value.item() if isinstance(value, np.generic) else value)
