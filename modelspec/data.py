"""Training data for a spec: ``train.data`` → NumPy arrays → ``tf.data``.

:func:`load_data` reads the source a spec's ``train.data`` names (a
scikit-learn or Keras dataset, an ``.npz`` or ``.csv`` file, a folder of
images, a registered data function), maps its arrays onto the model's inputs
and outputs, splits them with a fixed seed and applies the ``transform``
steps (statistics such as ``standardize``'s mean come from the training split
only). :func:`check_against_model` compares the arrays with the built model
and its losses before any training starts, and :func:`to_dataset` feeds a
split to ``model.fit``. :func:`read_arrays` and :func:`write_arrays` are the
``.npz``/``.csv`` files of ``modelspec predict``.

Every problem with the data is a :class:`~modelspec.errors.DataError` whose
diagnostics point at the ``train.data`` entry concerned. TensorFlow, Keras and
scikit-learn are imported only when a function needs them.

Example:
    >>> from modelspec import load_spec
    >>> data = load_data(load_spec("specs/antirectifier_digits.yaml"))
    >>> data.description
    'sklearn digits: 1,257 train / 180 validation / 360 test'
    >>> data.train.x["pixels"].shape, data.train.y[0].shape
    ((1257, 64), (1257,))
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import DataError, Diagnostic, DownloadError, did_you_mean
from .spec.graph import parse_ref
from .spec.loader import Document, PathT
from .spec.schema import SKLEARN_DATASETS, TRANSFORMS, DataSpec, ModelSpec

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

__all__ = [
    "Data",
    "Split",
    "check_against_model",
    "load_data",
    "output_names",
    "read_arrays",
    "to_dataset",
    "write_arrays",
]

DATA: PathT = ("train", "data")


@dataclass
class Split:
    """One part of the data (train, validation or test).

    Attributes:
        x: ``{model input name: array}``, samples along the first axis.
        y: One array per model output, in the order of the spec's ``outputs``.
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
    """

    train: Split
    validation: Split | None
    test: Split | None
    description: str

    def splits(self) -> list[tuple[str, Split]]:
        """``[(name, split), ...]`` for the splits present, train first."""
        named = [("train", self.train), ("validation", self.validation), ("test", self.test)]
        return [(name, split) for name, split in named if split is not None]


class _Problem(Exception):
    """A problem with a file or an array; the caller knows where it belongs in the spec."""


# -- names ---------------------------------------------------------------------
def output_names(spec: ModelSpec) -> list[str]:
    """The model's output names, in order: the keys of a mapping, else the nodes' names."""
    if isinstance(spec.outputs, dict):
        return list(spec.outputs)
    names = []
    for ref in spec.output_refs.values():
        parsed = parse_ref(ref)
        names.append(parsed.node if parsed is not None else ref)
    return names


def _input_names(spec: ModelSpec) -> list[str]:
    return [i.name for i in spec.inputs]


def _shape(shape: Sequence[int | None]) -> str:
    """``(64,)``, ``()``, ``(None, 12)``: a per-sample shape as Python prints it."""
    return str(tuple(shape))


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _quote(keys: Sequence[str]) -> str:
    return ", ".join(f"'{k}'" for k in keys)


def _fail(doc: Document, path: PathT, message: str, *, key: bool = False) -> DataError:
    return DataError([doc.diagnostic(path, message, key=key)])


def _raise_all(errors: list[Diagnostic]) -> None:
    if errors:
        raise DataError(sorted(errors, key=lambda d: (d.line, d.column)))


# -- sources -------------------------------------------------------------------
@dataclass
class _Source:
    """What a source gave: arrays by key, and how to talk about them."""

    arrays: dict[str, np.ndarray]
    label: str  # "sklearn digits", for the description
    where: str  # "the digits dataset", "data.csv", for messages
    noun: str = "array"  # "column" for csv files
    test: dict[str, np.ndarray] | None = None  # a Keras dataset's own test set
    bad_rows: dict[str, tuple[int, str]] = field(default_factory=dict)  # csv text cells


def _resolve(doc: Document, entry: DataSpec) -> Path:
    if entry.path is None:
        raise _fail(doc, DATA, f"missing required key 'path' (the {entry.source} file or folder)")
    path = Path(entry.path).expanduser()
    return path if path.is_absolute() else (doc.base_dir / path).resolve()


def _load_source(spec: ModelSpec, entry: DataSpec) -> _Source:
    doc = spec.document
    if entry.source in ("sklearn", "keras", "function") and entry.name is None:
        raise _fail(doc, DATA, f"missing required key 'name' (the {entry.source} dataset)")
    if entry.source == "sklearn":
        return _sklearn(doc, entry)
    if entry.source == "keras":
        return _keras(doc, entry)
    if entry.source == "function":
        return _function(doc, entry)
    path = _resolve(doc, entry)
    where = entry.path or str(path)
    folder = entry.source == "images"
    expected = (
        "a folder of images (one sub-folder per class)" if folder else f"a .{entry.source} file"
    )
    problem = None
    if not path.exists():
        problem = f"no such {'folder' if folder else 'file'}: {path}"
    elif folder != path.is_dir():
        problem = f"{path} is a {'file' if folder else 'folder'}"
    if problem:
        raise _fail(
            doc,
            (*DATA, "path"),
            f"expected {expected}. Received: {problem} (relative paths start at the "
            f"spec's folder, {doc.base_dir})",
        )
    try:
        if entry.source == "npz":
            return _Source(_read_npz(path), f"npz {where}", where)
        if entry.source == "csv":
            columns, bad = _read_csv(path)
            return _Source(columns, f"csv {where}", where, "column", bad_rows=bad)
        return _images(path, entry, where)
    except _Problem as err:
        raise _fail(doc, (*DATA, "path"), str(err)) from None


def _sklearn(doc: Document, entry: DataSpec) -> _Source:
    name = str(entry.name)
    if name not in SKLEARN_DATASETS:
        hint = did_you_mean(name, SKLEARN_DATASETS) or f" Known: {', '.join(SKLEARN_DATASETS)}."
        raise _fail(doc, (*DATA, "name"), f"unknown sklearn dataset '{name}'.{hint}")
    from sklearn import datasets

    try:
        x, y = getattr(datasets, f"load_{name}")(return_X_y=True, **entry.args)
    except TypeError as err:
        raise _fail(doc, (*DATA, "args"), f"load_{name}() refused the args: {err}") from None
    arrays = {"x": np.asarray(x), "y": np.asarray(y)}
    return _Source(arrays, f"sklearn {name}", f"the {name} dataset")


#: Where Keras's ``load_data`` looks for each dataset under its cache's ``datasets/``
#: (keras/src/datasets/*.py): ``(file or folder, what to put there)``.
_KERAS_FILES: dict[str, tuple[str, str]] = {
    "mnist": ("mnist.npz", "mnist.npz"),
    "imdb": ("imdb.npz", "imdb.npz"),
    "reuters": ("reuters.npz", "reuters.npz"),
    "boston_housing": ("boston_housing.npz", "boston_housing.npz"),
    "california_housing": ("california_housing.npz", "california_housing.npz"),
    "fashion_mnist": (
        "fashion-mnist",
        "its files train-labels-idx1-ubyte.gz, train-images-idx3-ubyte.gz, "
        "t10k-labels-idx1-ubyte.gz and t10k-images-idx3-ubyte.gz",
    ),
    "cifar10": ("cifar-10-batches-py-target_archive", "cifar-10-python.tar.gz"),
    "cifar100": ("cifar-100-python-target_archive", "cifar-100-python.tar.gz"),
}


def _keras_cache() -> Path:
    """``$KERAS_HOME/datasets`` (else ``~/.keras/datasets``), as ``keras.utils.get_file`` uses."""
    try:
        from keras.src.backend.config import keras_home

        base = os.path.expanduser(keras_home())
    except ImportError:  # pragma: no cover - a Keras without the private accessor
        base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    if not os.access(base, os.W_OK):  # get_file's own fallback
        base = os.path.join("/tmp", ".keras")
    return Path(base) / "datasets"


def keras_dataset_cached(entry: DataSpec) -> bool:
    """True when a ``source: keras`` dataset is in the Keras cache (no download needed)."""
    target = _KERAS_FILES.get(str(entry.name), (str(entry.name), ""))[0]
    if target.endswith(".npz") and isinstance(entry.args.get("path"), str):
        target = entry.args["path"]
    return (_keras_cache() / target).exists()


def _keras_where(name: str, args: dict[str, Any]) -> str:
    target, what = _KERAS_FILES.get(name, (name, name))
    if target.endswith(".npz") and isinstance(args.get("path"), str):
        target = what = args["path"]
    place = _keras_cache() / target
    if name == "fashion_mnist":
        return f"put {what} in {place}{os.sep}"
    if name.startswith("cifar"):
        return f"put a copy of {what} at {place}, under that name (Keras extracts it)"
    return f"put a copy of {what} at {place}"


def _keras(doc: Document, entry: DataSpec) -> _Source:
    import keras

    name = str(entry.name)
    module = getattr(keras.datasets, name, None)
    if module is None or not hasattr(module, "load_data"):
        known = [n for n in _KERAS_FILES if hasattr(keras.datasets, n)]
        hint = did_you_mean(name, known) or f" Known: {', '.join(known)}."
        raise _fail(doc, (*DATA, "name"), f"unknown keras dataset '{name}'.{hint}")
    try:
        (x_train, y_train), (x_test, y_test) = module.load_data(**entry.args)
    except Exception as err:
        if isinstance(err, TypeError) and "keyword argument" in str(err):
            raise _fail(
                doc, (*DATA, "args"), f"{name}.load_data() refused the args: {err}"
            ) from None
        raise DownloadError(
            [
                doc.diagnostic(
                    (*DATA, "name"),
                    f"could not load the keras dataset '{name}': Keras downloads it on first "
                    f"use, and that failed ({type(err).__name__}: {err}). Without network "
                    f"access, {_keras_where(name, entry.args)} (the Keras cache: "
                    "$KERAS_HOME/datasets, else ~/.keras/datasets)",
                )
            ]
        ) from err
    return _Source(
        {"x": np.asarray(x_train), "y": np.asarray(y_train)},
        f"keras {name}",
        f"the {name} dataset",
        test={"x": np.asarray(x_test), "y": np.asarray(y_test)},
    )


def _function(doc: Document, entry: DataSpec) -> _Source:
    from . import registry

    name = str(entry.name)
    fn = registry.datasets.get(name)
    if fn is None:
        known = list(registry.datasets)
        hint = did_you_mean(name, known)
        listed = f" Registered: {', '.join(known)}." if known else " None is registered."
        raise _fail(
            doc,
            (*DATA, "name"),
            f"unknown data function '{name}'.{hint}{listed} Register one with "
            "@modelspec.register_dataset (in a plugin module)",
        )
    try:
        result = fn(**entry.args)
    except Exception as err:
        raise _fail(
            doc, (*DATA, "name"), f"the data function '{name}' raised {type(err).__name__}: {err}"
        ) from err
    if isinstance(result, dict) and all(isinstance(k, str) for k in result):
        arrays = {k: np.asarray(v) for k, v in result.items()}
    elif isinstance(result, tuple | list) and len(result) == 2:
        arrays = {"x": np.asarray(result[0]), "y": np.asarray(result[1])}
    else:
        raise _fail(
            doc,
            (*DATA, "name"),
            f"expected the data function '{name}' to return {{name: array}} or a tuple "
            f"(x, y). Received: {type(result).__name__}",
        )
    return _Source(arrays, f"function {name}", f"the arrays of '{name}'")


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise _Problem(f"expected an .npz archive of named arrays. Received: {path}")
        with archive:
            return {key: archive[key] for key in archive.files}
    except ValueError as err:
        if "allow_pickle" in str(err):
            raise _Problem(
                f"{path} holds object arrays (Python objects), which modelspec does not "
                "unpickle; save numeric arrays instead (pad sequences to one length first)"
            ) from None
        raise _Problem(f"cannot read {path} as an .npz archive: {err}") from None
    except (OSError, EOFError) as err:
        raise _Problem(f"cannot read {path} as an .npz archive: {err}") from None


def _read_csv(path: Path) -> tuple[dict[str, np.ndarray], dict[str, tuple[int, str]]]:
    """Columns of a CSV file with a header row: numbers as arrays, other columns as text.

    Returns the columns and, for each text column, its first non-numeric cell
    as ``(line, value)``. Empty cells of a numeric column are NaN.
    """
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            rows: list[list[str]] = []
            lines: list[int] = []
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                if header is not None and len(row) != len(header):
                    raise _Problem(
                        f"expected {len(header)} fields on each line of {path.name} (as in "
                        f"its header). Received: {len(row)} on line {reader.line_num}"
                    )
                rows.append(row)
                lines.append(reader.line_num)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise _Problem(f"cannot read {path} as CSV text: {err}") from None
    if header is None:
        raise _Problem(
            f"{path.name} is empty: expected a header row of column names, then one line per sample"
        )
    names = [h.strip() for h in header]
    if not all(names):
        raise _Problem(f"expected a header row of column names in {path.name}. Received: {header}")
    if all(_is_number(n) for n in names):
        raise _Problem(
            f"expected a header row of column names in {path.name}. Received: a first line "
            f"of numbers ({','.join(names)}); add a line with the column names"
        )
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise _Problem(f"the header of {path.name} repeats the column(s) {_quote(duplicates)}")
    columns: dict[str, np.ndarray] = {}
    bad: dict[str, tuple[int, str]] = {}
    for j, name in enumerate(names):
        cells = [row[j].strip() for row in rows]
        numbers = [_number(c) for c in cells]
        if any(v is None for v in numbers):
            i = next(i for i, v in enumerate(numbers) if v is None)
            bad[name] = (lines[i], cells[i])
            columns[name] = np.array(cells, dtype=str)
            continue
        values = np.array(numbers, dtype=np.float64)
        whole = np.all(np.isfinite(values)) and np.all(values == np.round(values))
        columns[name] = values.astype(np.int64) if whole and len(values) else values
    return columns, bad


def _number(text: str) -> float | None:
    if text == "":
        return math.nan
    try:
        return float(text)
    except ValueError:
        return None


def _is_number(text: str) -> bool:
    return text != "" and _number(text) is not None


def _images(path: Path, entry: DataSpec, where: str) -> _Source:
    import keras

    args = {k: tuple(v) if isinstance(v, list) else v for k, v in entry.args.items()}
    args.setdefault("shuffle", False)  # the split shuffles, with its own seed
    args.setdefault("verbose", False)
    try:
        dataset = keras.utils.image_dataset_from_directory(str(path), **args)
    except (ValueError, TypeError) as err:
        raise _Problem(f"cannot load images from {path}: {err}") from None
    images: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for element in dataset:
        if isinstance(element, tuple):
            images.append(np.asarray(element[0]))
            labels.append(np.asarray(element[1]))
        else:
            images.append(np.asarray(element))
    arrays = {"x": np.concatenate(images)}
    if labels:
        arrays["y"] = np.concatenate(labels)
    return _Source(arrays, f"images {where}", where)


# -- mapping arrays onto the model ---------------------------------------------
def _lookup(arrays: dict[str, np.ndarray], key: str) -> list[str] | None:
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
class _Mapped:
    """An array picked for a model input or output, and where it came from."""

    keys: list[str]
    path: PathT  # where in the spec to report problems with it


def _pick(
    doc: Document,
    mapping: dict[str, str | list[str]] | None,
    source: _Source,
    role: str,
    names: list[str],
    errors: list[Diagnostic],
    exclude: Collection[str] = (),
) -> dict[str, _Mapped]:
    """Which arrays feed each model input (``role="inputs"``) or output (``"targets"``).

    An entry of ``mapping`` wins; else an array named like the input or
    output; else, for a model with one input (output), ``x`` (``y``); else,
    for a CSV file and one input, every column that is not in ``exclude``.
    """
    mapping = mapping or {}
    noun = source.noun
    available = ", ".join(source.arrays) or "none"
    picked: dict[str, _Mapped] = {}
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
                found = _lookup(source.arrays, key)
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
                picked[name] = _Mapped(keys, path)
            continue
        where_default = (*DATA, role) if mapping else DATA
        found = _lookup(source.arrays, name)
        if found is None and len(names) == 1:
            found = _lookup(source.arrays, default)
        if found is None and len(names) == 1 and role == "inputs" and noun == "column":
            found = [k for k in source.arrays if k not in exclude] or None
        if found is not None:
            picked[name] = _Mapped(found, where_default)
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
    source: _Source,
    arrays: dict[str, np.ndarray],
    name: str,
    mapped: _Mapped,
    role: str,
    errors: list[Diagnostic],
) -> np.ndarray | None:
    """The array for one model input or output: text columns checked or encoded."""
    parts = []
    for key in mapped.keys:
        array = arrays[key]
        if array.dtype.kind in "US":
            if role == "inputs":
                line, cell = source.bad_rows.get(key, (0, ""))
                at = f" (line {line}: {cell!r})" if line else ""
                errors.append(
                    doc.diagnostic(
                        mapped.path,
                        f"expected numbers in the {source.noun} '{key}' for the model input "
                        f"'{name}'. Received: text{at}. Leave the {source.noun} out of "
                        "`inputs`, or map it as a target (text labels become class ids)",
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
    return array.astype(np.float32) if array.dtype == np.float64 else array


def _arrays_for(
    doc: Document,
    source: _Source,
    arrays: dict[str, np.ndarray],
    inputs: dict[str, _Mapped],
    targets: dict[str, _Mapped],
    errors: list[Diagnostic],
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    x = {}
    y = {}
    for name, mapped in inputs.items():
        array = _materialize(doc, source, arrays, name, mapped, "inputs", errors)
        if array is not None:
            x[name] = array
    for name, mapped in targets.items():
        array = _materialize(doc, source, arrays, name, mapped, "targets", errors)
        if array is not None:
            y[name] = array
    return x, y


def _check_arrays(
    doc: Document,
    x: dict[str, np.ndarray],
    y: dict[str, np.ndarray],
    inputs: dict[str, _Mapped],
    targets: dict[str, _Mapped],
    errors: list[Diagnostic],
    part: str = "",
) -> None:
    """Same number of samples everywhere; finite numbers."""
    counts = {
        **{name: (len(a), inputs[name]) for name, a in x.items()},
        **{name: (len(a), targets[name]) for name, a in y.items()},
    }
    if len({n for n, _ in counts.values()}) > 1:
        detail = ", ".join(f"{name} <- {_quote(m.keys)}: {n:,}" for name, (n, m) in counts.items())
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
                    _count(n, label) for n, label in ((nan, "NaN value"), (inf, "inf value")) if n
                )
                errors.append(
                    doc.diagnostic(
                        mapped[name].path,
                        f"expected finite numbers for the {kind} '{name}' (from "
                        f"{_quote(mapped[name].keys)}){part}. Received: {received} in "
                        f"{_count(int(bad.sum()), 'sample')} of {len(array):,} (the first is "
                        f"sample {int(np.argmax(bad))}). Drop or fill those samples",
                    )
                )


# -- transforms ----------------------------------------------------------------
@dataclass
class _Step:
    op: str
    arg: Any
    path: PathT


def _plan(spec: ModelSpec, entry: DataSpec, names: list[str]) -> dict[str, list[_Step]]:
    """Check ``transform:`` before any data is read; every problem at once."""
    doc = spec.document
    errors: list[Diagnostic] = []
    plan: dict[str, list[_Step]] = {}
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
            plan[name].append(_Step(op, arg, path))
    _raise_all(errors)
    return plan


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


def _transform(
    doc: Document, name: str, steps: list[_Step], arrays: list[np.ndarray], stats: Stats
) -> list[np.ndarray]:
    """Apply ``steps`` to one model input's or output's arrays (the training split first)."""
    for step in steps:
        try:
            if step.op == "standardize" and step.arg and step.path not in stats:
                stats[step.path] = _statistics(arrays[0])
            arrays = [_apply(step, a, stats.get(step.path)) for a in arrays]
        except _Problem as err:
            raise _fail(doc, step.path, f"cannot apply {step.op} to '{name}': {err}") from None
    return arrays


def _statistics(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation (std 0 becomes 1)."""
    if train.dtype.kind not in "biuf":
        raise _Problem(f"expected numbers. Received: an array of {train.dtype}")
    if not len(train):
        raise _Problem("the training split is empty")
    values = train.astype(np.float64)
    std = values.std(axis=0)
    return values.mean(axis=0), np.where(std == 0, 1.0, std)


def _apply(step: _Step, array: np.ndarray, stats: tuple[np.ndarray, np.ndarray] | None) -> Any:
    op, arg = step.op, step.arg
    if op == "pad_sequences":
        import keras

        try:
            return keras.utils.pad_sequences(list(array), maxlen=arg)
        except (ValueError, TypeError) as err:
            raise _Problem(f"expected a list of sequences of numbers ({err})") from None
    if array.dtype.kind not in "biuf":
        hint = " (use pad_sequences first)" if array.dtype == object else ""
        raise _Problem(f"expected numbers. Received: an array of {array.dtype}{hint}")
    floats = array if array.dtype.kind == "f" else array.astype(np.float32)
    if op == "reshape":
        try:
            return array.reshape((len(array), *arg))
        except ValueError:
            raise _Problem(
                f"cannot reshape per-sample shape {_shape(array.shape[1:])} "
                f"({math.prod(array.shape[1:]):,} values) to {_shape(arg)}"
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
        raise _Problem("expected integer class ids. Received: fractional values")
    ids = labels.astype(np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= classes):
        raise _Problem(
            f"expected class ids in [0, {classes}). Received: values from {ids.min()} to "
            f"{ids.max()}; give one_hot the number of classes ({ids.max() + 1}?)"
        )
    return np.eye(classes, dtype=np.float32)[ids]


# -- load_data -----------------------------------------------------------------
def _sizes(n: int, fraction: float) -> int:
    return math.ceil(n * fraction) if fraction > 0 else 0


def _take(x: dict[str, np.ndarray], y: list[np.ndarray], index: np.ndarray) -> Split:
    return Split({k: v[index] for k, v in x.items()}, [a[index] for a in y])


def _load(spec: ModelSpec) -> tuple[Data, Stats]:
    doc = spec.document
    if spec.train is None:
        raise _fail(
            doc,
            (),
            "this spec has no `train.data` section: add e.g. `train: {data: {source: "
            "sklearn, name: digits}}`",
        )
    entry = spec.train.data
    ins, outs = _input_names(spec), output_names(spec)
    plan = _plan(spec, entry, [*ins, *outs])
    source = _load_source(spec, entry)

    errors: list[Diagnostic] = []
    targets = _pick(doc, entry.targets, source, "targets", outs, errors)
    used = {k for m in targets.values() for k in m.keys}
    inputs = _pick(doc, entry.inputs, source, "inputs", ins, errors, exclude=used)
    _raise_all(errors)
    x, y = _arrays_for(doc, source, source.arrays, inputs, targets, errors)
    _raise_all(errors)
    _check_arrays(doc, x, y, inputs, targets, errors, " (training set)" if source.test else "")
    test: Split | None = None
    if source.test is not None:
        tx, ty = _arrays_for(doc, source, source.test, inputs, targets, errors)
        _check_arrays(doc, tx, ty, inputs, targets, errors, " (test set)")
        test = Split(tx, [ty[n] for n in outs])
    _raise_all(errors)
    pool = Split(x, [y[n] for n in outs])

    split = entry.split
    n = len(pool)
    order = np.random.default_rng(split.seed).permutation(n)
    n_test = 0 if test is not None else _sizes(n, split.test)
    n_val = _sizes(n, split.validation)
    if n - n_test - n_val < 1:
        raise _fail(
            doc,
            (*DATA, "split"),
            f"expected some samples left for training. Received: {n:,} samples, of which "
            f"{n_test:,} go to test and {n_val:,} to validation; lower the fractions",
        )
    if test is None and n_test:
        test = _take(pool.x, pool.y, order[:n_test])
    validation = _take(pool.x, pool.y, order[n_test : n_test + n_val]) if n_val else None
    train = _take(pool.x, pool.y, order[n_test + n_val :])
    data = Data(train, validation, test, "")

    stats: Stats = {}
    for name, steps in plan.items():
        splits = [s for _, s in data.splits()]
        if name in ins:
            arrays = _transform(doc, name, steps, [s.x[name] for s in splits], stats)
            for s, a in zip(splits, arrays, strict=True):
                s.x[name] = a
        else:
            i = outs.index(name)
            arrays = _transform(doc, name, steps, [s.y[i] for s in splits], stats)
            for s, a in zip(splits, arrays, strict=True):
                s.y[i] = a
    y_names = tuple(outs) if isinstance(spec.outputs, dict) else None
    sizes = []
    for part, s in data.splits():
        s.y_names = y_names
        sizes.append(f"{len(s):,} {part}")
    data.description = f"{source.label}: {' / '.join(sizes)}"
    return data, stats


def load_data(spec: ModelSpec) -> Data:
    """Read, map, split and transform the data of a spec's ``train.data``.

    Sources (``source:``): ``sklearn`` (offline datasets shipped with
    scikit-learn), ``keras`` (downloaded on first use; their own test set is
    the test split), ``npz`` and ``csv`` files, ``images`` (a folder with one
    sub-folder per class, read by ``keras.utils.image_dataset_from_directory``
    and held in memory: fine for small folders), and ``function`` (a
    registered data function). ``split`` fractions are of all samples: test
    first, then validation, with ``numpy.random.default_rng(seed)``.

    Args:
        spec: A loaded spec with a ``train.data`` section.

    Returns:
        The :class:`Data`; float64 arrays are float32.

    Raises:
        DataError: A missing file, array or column, arrays of different lengths,
            NaN or inf, a transform that does not apply; every mapping problem at once.
        DownloadError: A Keras dataset could not be downloaded (the message
            says where to put a copy).
    """
    return _load(spec)[0]


# -- check_against_model -------------------------------------------------------
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
    loss = spec.compile.loss if spec.compile else None
    if isinstance(loss, str):
        return dict.fromkeys(outs, loss)
    if isinstance(loss, list):
        return {n: loss[i] if i < len(loss) else None for i, n in enumerate(outs)}
    if isinstance(loss, dict):
        return {n: loss.get(n) for n in outs}
    return dict.fromkeys(outs)


def _matches(received: tuple[int, ...], expected: tuple[int | None, ...]) -> bool:
    return len(received) == len(expected) and all(
        e is None or e == r for r, e in zip(received, expected, strict=True)
    )


def _model_shapes(model: keras.Model, spec: ModelSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per-sample shapes of the model's inputs and outputs, by spec name."""
    ins, outs = _input_names(spec), output_names(spec)
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


def _input_problem(name: str, array: np.ndarray, expected: tuple[int | None, ...]) -> str | None:
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
        f"expected arrays of per-sample shape {_shape(expected)} for the model input "
        f"'{name}' (the batch dimension excluded). Received: {_shape(received)}. "
        f"Transform them in train.data: {hint}"
    )


def _label_problem(
    name: str, loss: str, labels: np.ndarray, expected: tuple[int | None, ...]
) -> str | None:
    key = _loss_key(loss)
    received = labels.shape[1:]
    on = f"for the loss {loss} on the output '{name}' (shape {_shape(expected)})"
    if key in _SPARSE:
        base = expected[:-1]
        if not (_matches(received, base) or _matches(received, (*base, 1))):
            options = f"{_shape(base)} or {_shape((*base, 1))}"
            hint = (
                "; these look one-hot: use loss: categorical_crossentropy"
                if _matches(received, expected)
                else ""
            )
            return (
                f"expected integer class ids of per-sample shape {options} {on}. "
                f"Received: {_shape(received)}{hint}"
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
            f"expected one-hot labels of per-sample shape {_shape(expected)} {on}. "
            f"Received: {_shape(received)}{hint}"
        )
    if key in _SAME_SHAPE:
        squeezed = bool(expected) and expected[-1] == 1 and _matches(received, expected[:-1])
        if _matches(received, expected) or squeezed:
            return None
        return (
            f"expected targets of per-sample shape {_shape(expected)} {on}: the output's "
            f"shape. Received: {_shape(received)}"
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
            ("inputs", name, _input_problem(name, split.x[name], expected))
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
    _raise_all(errors)


# -- tf.data -------------------------------------------------------------------
def to_dataset(
    split: Split, *, batch_size: int, shuffle: bool = False, seed: int = 0
) -> tf.data.Dataset:
    """A batched ``tf.data.Dataset`` of ``(inputs, targets)`` for ``model.fit``.

    Inputs are a dict by input name (the bare array for a one-input model,
    which Keras expects unwrapped); targets are the array of a one-output
    model, else a tuple in output order, or a dict when the spec's
    ``outputs`` is a mapping. The dataset is cached, reshuffled each epoch
    when ``shuffle`` is set (buffer: the whole split), batched and prefetched.

    Args:
        split: The split to feed.
        batch_size: Samples per batch.
        shuffle: Shuffle (with ``seed``), differently each epoch.
        seed: The shuffle's seed.
    """
    import tensorflow as tf

    x: Any = next(iter(split.x.values())) if len(split.x) == 1 else dict(split.x)
    y: Any
    if split.y_names is not None and len(split.y) > 1:
        y = dict(zip(split.y_names, split.y, strict=True))
    else:
        y = tuple(split.y) if len(split.y) > 1 else split.y[0]
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    if shuffle:
        dataset = dataset.shuffle(max(len(split), 1), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


# -- files for predict ---------------------------------------------------------
def _file_error(path: Path | str, message: str) -> DataError:
    return DataError([Diagnostic(message, file=str(path))])


def read_arrays(
    path: str | os.PathLike[str], spec: ModelSpec | None = None
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
            source = _Source(_read_npz(path), f"npz {path}", path.name)
        else:
            columns, bad = _read_csv(path)
            source = _Source(columns, f"csv {path}", path.name, "column", bad_rows=bad)
    except _Problem as err:
        raise _file_error(path, str(err)) from None
    if spec is None:
        return source.arrays
    doc = spec.document
    entry = (
        spec.train.data
        if spec.train
        else DataSpec(source="csv" if source.noun == "column" else "npz")
    )
    ins, outs = _input_names(spec), output_names(spec)
    plan = _plan(spec, entry, [*ins, *outs])
    errors: list[Diagnostic] = []
    direct = {n: _Mapped(found, DATA) for n in ins if (found := _lookup(source.arrays, n))}
    mapping = {n: v for n, v in (entry.inputs or {}).items() if n not in direct}
    exclude = {"y", *outs}
    for value in (entry.targets or {}).values():
        exclude |= {value} if isinstance(value, str) else set(value)
    rest = [n for n in ins if n not in direct]
    inputs = {**direct, **_pick(doc, mapping, source, "inputs", rest, errors, exclude)}
    if not errors:
        x, _ = _arrays_for(doc, source, source.arrays, inputs, {}, errors)
        _check_arrays(doc, x, {}, inputs, {}, errors)
    if errors:  # the problems are in the file: report them there
        raise DataError([Diagnostic(d.message, file=str(path)) for d in errors])
    needs_stats = any(s.op == "standardize" and s.arg for n in ins for s in plan.get(n, ()))
    stats = _load(spec)[1] if needs_stats else {}
    for name in ins:
        if name in plan:
            (x[name],) = _transform(doc, name, plan[name], [x[name]], stats)
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
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb" if suffix == ".npz" else "w", **_text_args(suffix)) as f:
            if suffix == ".npz":
                np.savez(f, **values)  # type: ignore[arg-type]
            else:
                _write_csv(f, values)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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
