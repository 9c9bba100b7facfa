"""The sources ``train.data`` names: scikit-learn and Keras datasets, files, images, functions.

:func:`load_source` reads one into a :class:`Source` (arrays by key, and how
messages talk about them); :func:`keras_dataset_cached` tells whether a Keras
dataset needs a download.

Example:
    >>> from modelspec import load_spec
    >>> spec = load_spec("specs/antirectifier_digits.yaml")
    >>> source = load_source(spec, spec.train.data)
    >>> source.label, source.arrays["x"].shape
    ('sklearn digits', (1797, 64))
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DownloadError, did_you_mean
from ..files import data_path_problem, spec_path
from ..spec.loader import Document
from ..spec.schema import SKLEARN_DATASETS, DataSpec, ModelSpec
from .common import DATA, Problem, fail
from .readers import read_csv, read_npz


@dataclass
class Source:
    """What a source gave: arrays by key, and how to talk about them."""

    arrays: dict[str, np.ndarray]
    label: str  # "sklearn digits", for the description
    where: str  # "the digits dataset", "data.csv", for messages
    noun: str = "array"  # "column" for csv files
    test: dict[str, np.ndarray] | None = None  # a Keras dataset's own test set
    bad_rows: dict[str, tuple[int, str]] = field(default_factory=dict)  # csv text cells


def _resolve(doc: Document, entry: DataSpec) -> Path:
    if entry.path is None:
        raise fail(doc, DATA, f"missing required key 'path' (the {entry.source} file or folder)")
    return spec_path(doc.base_dir, entry.path)


def load_source(spec: ModelSpec, entry: DataSpec) -> Source:
    doc = spec.document
    if entry.source in ("sklearn", "keras", "function") and entry.name is None:
        raise fail(doc, DATA, f"missing required key 'name' (the {entry.source} dataset)")
    if entry.source == "sklearn":
        return _sklearn(doc, entry)
    if entry.source == "keras":
        return _keras(doc, entry)
    if entry.source == "function":
        return _function(doc, entry)
    path = _resolve(doc, entry)
    where = entry.path or str(path)
    problem = data_path_problem(doc.base_dir, entry.source, str(entry.path))
    if problem:  # checked by validate too; the file may have gone since
        raise fail(doc, (*DATA, "path"), problem)
    try:
        if entry.source == "npz":
            return Source(read_npz(path), f"npz {where}", where)
        if entry.source == "csv":
            columns, bad = read_csv(path)
            return Source(columns, f"csv {where}", where, "column", bad_rows=bad)
        return _images(path, entry, where)
    except Problem as err:
        raise fail(doc, (*DATA, "path"), str(err)) from None


def _sklearn(doc: Document, entry: DataSpec) -> Source:
    name = str(entry.name)
    if name not in SKLEARN_DATASETS:
        hint = did_you_mean(name, SKLEARN_DATASETS) or f" Known: {', '.join(SKLEARN_DATASETS)}."
        raise fail(doc, (*DATA, "name"), f"unknown sklearn dataset '{name}'.{hint}")
    from sklearn import datasets

    try:
        x, y = getattr(datasets, f"load_{name}")(return_X_y=True, **entry.args)
    except TypeError as err:
        raise fail(doc, (*DATA, "args"), f"load_{name}() refused the args: {err}") from None
    arrays = {"x": np.asarray(x), "y": np.asarray(y)}
    return Source(arrays, f"sklearn {name}", f"the {name} dataset")


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


def _keras(doc: Document, entry: DataSpec) -> Source:
    import keras

    name = str(entry.name)
    module = getattr(keras.datasets, name, None)
    if module is None or not hasattr(module, "load_data"):
        known = [n for n in _KERAS_FILES if hasattr(keras.datasets, n)]
        hint = did_you_mean(name, known) or f" Known: {', '.join(known)}."
        raise fail(doc, (*DATA, "name"), f"unknown keras dataset '{name}'.{hint}")
    try:
        (x_train, y_train), (x_test, y_test) = module.load_data(**entry.args)
    except Exception as err:
        if isinstance(err, TypeError) and "keyword argument" in str(err):
            raise fail(
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
    return Source(
        {"x": np.asarray(x_train), "y": np.asarray(y_train)},
        f"keras {name}",
        f"the {name} dataset",
        test={"x": np.asarray(x_test), "y": np.asarray(y_test)},
    )


def _function(doc: Document, entry: DataSpec) -> Source:
    from .. import registry

    name = str(entry.name)
    fn = registry.datasets.get(name)
    if fn is None:
        known = list(registry.datasets)
        hint = did_you_mean(name, known)
        listed = f" Registered: {', '.join(known)}." if known else " None is registered."
        raise fail(
            doc,
            (*DATA, "name"),
            f"unknown data function '{name}'.{hint}{listed} Register one with "
            "@modelspec.register_dataset (in a plugin module)",
        )
    try:
        result = fn(**entry.args)
    except Exception as err:
        raise fail(
            doc, (*DATA, "name"), f"the data function '{name}' raised {type(err).__name__}: {err}"
        ) from err
    if isinstance(result, dict) and all(isinstance(k, str) for k in result):
        arrays = {k: np.asarray(v) for k, v in result.items()}
    elif isinstance(result, tuple | list) and len(result) == 2:
        arrays = {"x": np.asarray(result[0]), "y": np.asarray(result[1])}
    else:
        raise fail(
            doc,
            (*DATA, "name"),
            f"expected the data function '{name}' to return {{name: array}} or a tuple "
            f"(x, y). Received: {type(result).__name__}",
        )
    return Source(arrays, f"function {name}", f"the arrays of '{name}'")


def _images(path: Path, entry: DataSpec, where: str) -> Source:
    import keras

    args = {k: tuple(v) if isinstance(v, list) else v for k, v in entry.args.items()}
    args.setdefault("shuffle", False)  # the split shuffles, with its own seed
    args.setdefault("verbose", False)
    try:
        dataset = keras.utils.image_dataset_from_directory(str(path), **args)
    except (ValueError, TypeError) as err:
        raise Problem(f"cannot load images from {path}: {err}") from None
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
    return Source(arrays, f"images {where}", where)
