"""Evaluate and predict with a trained model: a run directory or a ``.keras`` file.

Example:
    A run's final model on the test split (not run here: it needs a trained run)::

        evaluate("runs/antirectifier_digits-20261123-101500")
        # {'loss': 0.09..., 'accuracy': 0.97...}
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np

from .. import data as data_module
from ..build import load_model
from ..errors import DataError, Diagnostic, RunError
from ..rundir import model_file, run_spec
from ..spec.loader import Document
from ..spec.schema import ModelSpec
from ..spec.validate import load_spec

PathLike = str | os.PathLike[str]


def loss_first(values: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(values[k]) for k in sorted(values, key=lambda k: (k != "loss", k))}


def preprocess_of(model: keras.Model, spec: ModelSpec) -> str:
    """``model`` when ``model`` has the spec's input transforms as layers (it takes
    raw inputs), else ``data`` (a model trained with ``preprocess: data``, or
    before transforms went into models: its inputs are transformed first)."""
    return "model" if data_module.transforms_in(model, spec) else "data"


def model_and_spec(
    source: PathLike, spec: PathLike | ModelSpec | None, plugins: Iterable[str], best: bool = False
) -> tuple[keras.Model, ModelSpec | None]:
    path = Path(source)
    if path.is_dir():
        loaded = run_spec(path, plugins=plugins) if spec is None else None
        model_path = model_file(path, best)
    elif path.is_file() and path.suffix == ".keras":
        loaded, model_path = None, path
    else:
        raise RunError(f"expected a run directory or a .keras file. Received: {source}")
    if spec is not None:
        loaded = spec if isinstance(spec, ModelSpec) else load_spec(spec, plugins=plugins)
    return load_model(model_path, plugins=plugins), loaded


def evaluate(
    source: PathLike,
    *,
    spec: PathLike | ModelSpec | None = None,
    data: PathLike | None = None,
    plugins: Iterable[str] = (),
    best: bool = False,
) -> dict[str, float]:
    """Evaluate a trained model on held-out data.

    Args:
        source: A run directory (its ``model.keras``) or a ``.keras`` file.
        spec: The spec whose ``train.data`` to use; a run directory brings its own.
        data: An ``.npz`` or ``.csv`` file to evaluate on instead, mapped onto
            the model with the spec's ``inputs``/``targets``/``transform``; all
            of its rows are used.
        plugins: Modules to import first.
        best: Use the run's best checkpoint rather than its final model.

    Returns:
        ``{"loss": ..., metric: ...}`` on the test split (or the whole ``data`` file).

    Example:
        Not run here (it needs a trained run)::

            evaluate("runs/antirectifier_digits-20261123-101500")
            # {'loss': 0.09..., 'accuracy': 0.97...}
    """
    return evaluate_on(source, spec=spec, data=data, plugins=plugins, best=best)[0]


def evaluate_on(
    source: PathLike,
    *,
    spec: PathLike | ModelSpec | None = None,
    data: PathLike | None = None,
    plugins: Iterable[str] = (),
    best: bool = False,
) -> tuple[dict[str, float], str]:
    """:func:`evaluate`, and which data it used: ``test split of the spec's data: 360 rows``."""
    model, loaded = model_and_spec(source, spec, plugins, best)
    if loaded is None or loaded.train is None:
        raise RunError(
            "evaluate needs the spec's `train.data` to know the data: pass --spec SPEC "
            "(or a run directory, which keeps its spec)"
        )
    if data is not None:
        loaded = _with_data_file(loaded, Path(data))
    preprocess = preprocess_of(model, loaded)
    split = data_module.load_data(loaded, preprocess)
    data_module.check_against_model(split, model, loaded)
    chosen = split.train if data is not None else split.test
    if chosen is None:
        raise RunError(
            "the spec's data has no test split to evaluate on (train.data.split.test is 0): "
            "pass --data FILE, or set a test fraction"
        )
    batch_size = loaded.train.batch_size if loaded.train else 32
    values = model.evaluate(
        data_module.to_dataset(chosen, batch_size=batch_size),
        verbose=0,
        return_dict=True,
    )
    rows = len(next(iter(chosen.x.values())))
    used = f"every row of {data}" if data is not None else "the test split of the spec's data"
    transform = loaded.train.data.transform if loaded.train else {}
    outside = [n for n in transform if n not in split.in_model or preprocess == "data"]
    after = " (after the spec's train.data.transform)" if outside else ""
    return loss_first(values), f"{used}: {rows:,} rows{after}"


def _with_data_file(spec: ModelSpec, path: Path) -> ModelSpec:
    """The spec with ``train.data`` pointing at one whole file (no split)."""
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in ("npz", "csv"):
        raise RunError(f"expected a .npz or .csv data file. Received: {path}")
    doc = spec.document
    data = json.loads(json.dumps(doc.data))
    entry = data["train"]["data"]
    entry |= {"source": suffix, "path": str(path.resolve()), "split": {"validation": 0, "test": 0}}
    entry.pop("name", None)
    entry.pop("args", None)
    # what training monitors (val_loss...) means nothing to an evaluation of one file
    data["train"].pop("monitor", None)
    data["train"].pop("callbacks", None)
    return load_spec(Document(data, doc.file, doc.positions, doc.key_positions, doc.base_dir))


def _tensor(array: np.ndarray) -> Any:
    """``array``, or a ``tf.string`` tensor when it holds text."""
    if array.dtype.kind not in "OUS":
        return array
    import tensorflow as tf

    return tf.constant(array.astype(str))


def predict(
    source: PathLike,
    inputs: PathLike | Mapping[str, np.ndarray],
    *,
    output: PathLike | None = None,
    spec: PathLike | ModelSpec | None = None,
    plugins: Iterable[str] = (),
    batch_size: int = 256,
) -> dict[str, np.ndarray]:
    """Run a trained model on new inputs.

    Args:
        source: A run directory or a ``.keras`` file.
        inputs: An ``.npz``/``.csv`` file, or ``{input name: array}``. With a
            spec (a run directory has one), files are mapped onto the model
            inputs; a model with the spec's transforms as layers takes them raw,
            else (``preprocess: data``) they are transformed as ``train.data`` says.
        output: Write the predictions here (``.npz`` or ``.csv``).
        spec: The spec, when ``source`` is a ``.keras`` file.
        plugins: Modules to import first.
        batch_size: Samples per batch.

    Returns:
        ``{output name: predictions}``.

    Example:
        Not run here (it needs a trained run)::

            predict("runs/digits-1", "new.npz", output="pred.csv")
    """
    model, loaded = model_and_spec(source, spec, plugins)
    if isinstance(inputs, Mapping):
        arrays = dict(inputs)
    else:
        preprocess = preprocess_of(model, loaded) if loaded is not None else "data"
        arrays = data_module.read_arrays(inputs, loaded, preprocess)
    names = [t.name for t in model.inputs]
    missing = [n for n in names if n not in arrays]
    if missing:
        have = ", ".join(sorted(arrays)) or "nothing"
        hint = (
            " Give the spec (--spec SPEC, or predict from the run directory): its "
            "train.data.inputs map files onto the inputs."
            if loaded is None and not isinstance(inputs, Mapping)
            else ""
        )
        raise RunError(
            f"expected arrays for the model inputs {', '.join(names)}; missing "
            f"{', '.join(missing)}. Received: {have}.{hint}"
        )
    problems = [
        problem
        for name, tensor in zip(names, model.inputs, strict=True)
        if (problem := data_module.input_problem(name, np.asarray(arrays[name]), tensor.shape[1:]))
    ]
    if problems:
        where = "<inputs>" if isinstance(inputs, Mapping) else str(inputs)
        raise DataError([Diagnostic(problem, file=where) for problem in problems])
    # a single-input model takes the array itself (a dict makes Keras warn); Keras's
    # predict takes text as a TensorFlow string tensor, not a NumPy array
    given = {n: _tensor(np.asarray(arrays[n])) for n in names}
    x = given[names[0]] if len(names) == 1 else given
    outputs = model.predict(x, batch_size=batch_size, verbose=0)
    if isinstance(outputs, dict):
        result = dict(outputs)
    else:
        outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
        result = dict(zip(model.output_names, outputs, strict=True))
    if output is not None:
        data_module.write_arrays(output, result)
    return result
