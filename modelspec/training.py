"""Train, evaluate and predict: a spec's ``train:`` section run end to end.

Stage 5 of the pipeline. :func:`train` builds the model, loads and checks the
data (:mod:`modelspec.data`) before any training starts, and runs Keras's
``fit`` on a ``tf.data`` pipeline with Keras's own callbacks. Everything lands
in a run directory::

    runs/<name>-<timestamp>/
        spec.yaml       the resolved spec (overrides applied)
        run.json        where the spec came from, overrides, status
        model.keras     the final model
        best.keras      the best checkpoint (by ``train.monitor``, default val_loss)
        history.csv     one row per epoch
        metrics.json    the final evaluation on the held-out test split
        curves.png      loss and each metric per epoch, train vs validation
        logs/           TensorBoard
        backup/         Keras BackupAndRestore state, for ``--resume``

Files are written under a temporary name and renamed, so a killed run never
leaves one half-written. ``train(resume=RUN_DIR)`` continues a killed run from
its last completed epoch.

Example:
    >>> result = train("specs/antirectifier_digits.yaml", overrides=["train.epochs=1"])
    ... # doctest: +SKIP
    >>> sorted(result.metrics)  # doctest: +SKIP
    ['accuracy', 'loss']
"""

from __future__ import annotations

import contextlib
import copy
import csv
import dataclasses
import datetime
import io
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import yaml

from . import __version__, catalogue
from .errors import ExportError, RunError
from .loader import Document, apply_overrides, load_document
from .schema import ModelSpec
from .validate import load_spec

if TYPE_CHECKING:
    from .data import Data
    from .export import ExportResult

PathLike = str | os.PathLike[str]
#: Callbacks whose file arguments modelspec points into the run directory.


@dataclass
class TrainResult:
    """What :func:`train` produced.

    Attributes:
        model: The trained model (final weights).
        history: Per-epoch values, ``{"loss": [...], "val_loss": [...], ...}``,
            the epochs of earlier runs included when resumed.
        metrics: Final evaluation on the test split (``{}`` when there is none).
        run_dir: The run directory.
        exports: The artifacts the spec's ``export:`` section asked for, checked
            (in ``run_dir/export/``).
        export_errors: ``(format, error)`` for each export that failed; the
            run itself is complete.
    """

    model: keras.Model
    history: dict[str, list[float]]
    metrics: dict[str, float]
    run_dir: Path
    exports: list[ExportResult] = dataclasses.field(default_factory=list)
    export_errors: list[tuple[str, ExportError]] = dataclasses.field(default_factory=list)


# -- files ---------------------------------------------------------------------
@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path next to ``target``, renamed onto it if the block succeeds."""
    tmp = target.with_name(f".{target.stem}.{os.getpid()}.tmp{target.suffix}")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def save_model(model: keras.Model, target: Path) -> None:
    """``model.save`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        model.save(tmp)


# -- the spec of a run ---------------------------------------------------------
def _resolve(
    spec: PathLike | Mapping[str, Any] | ModelSpec,
    overrides: Iterable[str] | Mapping[str, Any] | None,
    plugins: Iterable[str],
    allow_imports: bool,
) -> tuple[ModelSpec, list[str]]:
    doc = spec.document if isinstance(spec, ModelSpec) else load_document(spec)
    # never mutate the caller's spec: overrides go to a copy
    doc = dataclasses.replace(doc, data=copy.deepcopy(doc.data))
    items = overrides if isinstance(overrides, Mapping) else list(overrides or [])
    record = apply_overrides(doc, items)
    loaded = load_spec(doc, plugins=plugins, allow_imports=allow_imports)
    return loaded, record


def _new_run_dir(out_dir: Path, name: str) -> Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = out_dir / f"{name}-{stamp}"
    n = 1
    while run_dir.exists():
        n += 1
        run_dir = out_dir / f"{name}-{stamp}-{n}"
    run_dir.mkdir(parents=True)
    return run_dir


def _read_run(run_dir: Path) -> dict[str, Any]:
    meta_path = run_dir / "run.json"
    if not meta_path.is_file() or not (run_dir / "spec.yaml").is_file():
        raise RunError(
            f"expected a run directory made by `modelspec train` (with run.json and spec.yaml). "
            f"Received: {run_dir}"
        )
    meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
    return meta


def run_spec(
    run_dir: PathLike, *, plugins: Iterable[str] = (), allow_imports: bool = False
) -> ModelSpec:
    """The resolved spec a run was trained from (data paths still resolve
    against the original spec's folder)."""
    run_dir = Path(run_dir)
    meta = _read_run(run_dir)
    doc = load_document(run_dir / "spec.yaml")
    doc.base_dir = Path(meta["base_dir"])
    return load_spec(doc, plugins=plugins, allow_imports=allow_imports)


# -- callbacks -----------------------------------------------------------------
def _callbacks(spec: ModelSpec, run_dir: Path, has_validation: bool) -> list[Any]:
    assert spec.train is not None
    user = {c.type.lower(): c.args for c in spec.train.callbacks}
    for name in list(user):  # class names (EarlyStopping) -> spec names (early_stopping)
        sig = catalogue.keras_class("callbacks", name)
        key = next((k for k, v in catalogue.CALLBACKS.items() if sig and v == sig.type), name)
        user[key] = user.pop(name)
    monitor = spec.train.monitor or ("val_loss" if has_validation else "loss")

    def args(name: str, **defaults: Any) -> dict[str, Any]:
        given = dict(user.pop(name, {}))
        if name in catalogue.CALLBACK_RUN_FILES:  # relative paths are inside the run directory
            key, default = catalogue.CALLBACK_RUN_FILES[name]
            given[key] = str(run_dir / given.get(key, default))
        return defaults | given

    callbacks: list[Any] = [
        # First: it sets the initial epoch the others see when resuming.
        keras.callbacks.BackupAndRestore(**args("backup_and_restore")),
        _AtomicCheckpoint(
            **args("model_checkpoint", monitor=monitor, save_best_only=True, verbose=0)
        ),
        _History(Path(args("csv_logger")["filename"])),
        keras.callbacks.TensorBoard(**args("tensorboard")),
    ]
    for name, given in user.items():
        sig = catalogue.keras_class("callbacks", name)
        assert sig is not None  # validated
        extra = {"monitor": monitor} if "monitor" in sig.args and "monitor" not in given else {}
        callbacks.append(getattr(keras.callbacks, sig.type)(**(extra | given)))
    return callbacks


class _History(keras.callbacks.Callback):
    """Writes ``history.csv`` atomically after every epoch (Keras's CSVLogger
    appends in place, which a kill can leave half-written). On resume, rows
    from epochs that are being redone are dropped."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.rows: list[dict[str, str]] = []

    def on_train_begin(self, logs: Any = None) -> None:
        start = int(getattr(self.model, "_initial_epoch", 0) or 0)
        self.rows = []
        if self.path.is_file():
            with self.path.open(encoding="utf-8", newline="") as f:
                self.rows = [r for r in csv.DictReader(f) if int(r["epoch"]) < start]

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        row = {"epoch": str(epoch)} | {k: repr(float(v)) for k, v in (logs or {}).items()}
        self.rows.append(row)
        fields = list(dict.fromkeys(k for r in self.rows for k in r))
        out = io.StringIO()
        writer = csv.DictWriter(out, fields, restval="")
        writer.writeheader()
        writer.writerows(self.rows)
        write_text(self.path, out.getvalue())


class _AtomicCheckpoint(keras.callbacks.ModelCheckpoint):
    """Keras's ModelCheckpoint, saving to a temporary name renamed into place."""

    def __init__(self, filepath: str, **kwargs: Any) -> None:
        self.target = Path(filepath)
        self.tmp = self.target.with_name(f".{self.target.stem}.tmp{self.target.suffix}")
        super().__init__(str(self.tmp), **kwargs)

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        super().on_epoch_end(epoch, logs)
        if self.tmp.exists():
            os.replace(self.tmp, self.target)


# -- train ---------------------------------------------------------------------
def train(
    spec: PathLike | Mapping[str, Any] | ModelSpec | None = None,
    *,
    overrides: Iterable[str] | Mapping[str, Any] | None = None,
    out_dir: PathLike | None = None,
    resume: PathLike | None = None,
    epochs: int | None = None,
    plugins: Iterable[str] = (),
    allow_imports: bool = False,
    verbose: int | None = None,
) -> TrainResult:
    """Train the model a spec describes, on the data its ``train:`` section names.

    Args:
        spec: A spec path, YAML text, mapping or :class:`ModelSpec`. Omit it to resume.
        overrides: ``["train.epochs=3", ...]`` or ``{"train.epochs": 3}``.
        out_dir: Where run directories are made (default ``runs``).
        resume: A run directory to continue from its last completed epoch.
        epochs: Total epochs (overrides ``train.epochs``; on resume, extends the run).
        plugins: Modules to import first (custom layers, data functions...).
        allow_imports: Honour the spec's ``imports:``.
        verbose: Keras's progress output (default ``train.verbose``).

    Returns:
        A :class:`TrainResult`.

    Raises:
        SpecError: The spec is invalid, or has no ``train:`` section.
        DataError: The data does not fit the spec (before training starts).
        RunError: ``resume`` is not a run directory.

    Example:
        >>> train("specs/antirectifier_digits.yaml", epochs=1).metrics  # doctest: +SKIP
        {'accuracy': 0.93..., 'loss': 0.24...}
    """
    from . import data as data_module
    from .builder import build_model, deep_graph
    from .errors import SpecError

    if resume is not None:
        run_dir = Path(resume)
        meta = _read_run(run_dir)
        loaded = run_spec(run_dir, plugins=plugins, allow_imports=allow_imports)
        record: list[str] = meta.get("overrides", [])
    else:
        if spec is None:
            raise TypeError("train() needs a spec, or resume=RUN_DIR")
        loaded, record = _resolve(spec, overrides, plugins, allow_imports)
        meta = {}
    if loaded.train is None:
        doc = loaded.document
        raise SpecError(
            [
                doc.diagnostic(
                    (),
                    "this spec has no `train:` section; add one with at least "
                    "`data: {source: sklearn, name: digits}`",
                )
            ]
        )
    settings = loaded.train
    total_epochs = epochs or meta.get("epochs") or settings.epochs
    if epochs and resume is None:
        record.append(f"epochs={epochs}")

    keras.utils.set_random_seed(settings.seed)
    model = build_model(loaded)
    data = data_module.load_data(loaded)
    data_module.check_against_model(data, model, loaded)

    if resume is None:
        run_dir = _new_run_dir(Path(out_dir or "runs"), loaded.name)
        write_text(run_dir / "spec.yaml", _resolved_yaml(loaded, record))
        meta = {
            "spec_file": loaded.document.file,
            "base_dir": str(loaded.document.base_dir),
            "overrides": record,
            "epochs": total_epochs,
            "modelspec_version": __version__,
            "keras_version": keras.__version__,
            "started": datetime.datetime.now().isoformat(timespec="seconds"),
        }
    meta |= {"status": "running", "epochs": total_epochs}
    write_text(run_dir / "run.json", json.dumps(meta, indent=2) + "\n")

    train_ds = data_module.to_dataset(
        data.train, batch_size=settings.batch_size, shuffle=settings.shuffle, seed=settings.seed
    )
    val_ds = (
        data_module.to_dataset(data.validation, batch_size=settings.batch_size)
        if data.validation is not None
        else None
    )
    callbacks = _callbacks(loaded, run_dir, val_ds is not None)
    with deep_graph(len(loaded.layers)):
        model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=total_epochs,
            shuffle=False,  # the tf.data pipeline shuffles (seeded)
            callbacks=callbacks,
            verbose=settings.verbose if verbose is None else verbose,
        )
    history = read_history(run_dir)
    metrics = _evaluate(model, data, settings.batch_size)
    save_model(model, run_dir / "model.keras")
    write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    plot_history(history, run_dir / "curves.png", title=loaded.name)
    meta |= {"status": "done", "finished": datetime.datetime.now().isoformat(timespec="seconds")}
    write_text(run_dir / "run.json", json.dumps(meta, indent=2) + "\n")
    result = TrainResult(model, history, metrics, run_dir)
    if loaded.export is not None:
        _export_run(result, loaded, meta, plugins, allow_imports)
    return result


def _export_run(
    result: TrainResult,
    spec: ModelSpec,
    meta: dict[str, Any],
    plugins: Iterable[str],
    allow_imports: bool,
) -> None:
    """The spec's ``export:`` formats, from the run directory's model.keras (so
    the saved model is what gets exported and checked), into ``export/``."""
    from .export import export_all

    assert spec.export is not None
    run_dir = result.run_dir
    result.exports, result.export_errors = export_all(
        run_dir,
        spec.export.formats,
        run_dir / "export",
        check=spec.export.check,
        plugins=plugins,
        allow_imports=allow_imports,
    )
    meta["exports"] = {
        r.format: {"path": str(r.path.relative_to(run_dir)), "max_abs_diff": r.max_abs_diff}
        for r in result.exports
    }
    meta["exports"] |= {f: {"error": str(e)} for f, e in result.export_errors}
    write_text(run_dir / "run.json", json.dumps(meta, indent=2) + "\n")


def _resolved_yaml(spec: ModelSpec, record: list[str]) -> str:
    head = f"# Resolved by modelspec {__version__} from {spec.document.file}"
    if record:
        head += " with " + " ".join(f"--set {r}" for r in record)
    body = yaml.safe_dump(spec.document.data, sort_keys=False, allow_unicode=True)
    return head + "\n" + body


def _evaluate(model: keras.Model, data: Data, batch_size: int) -> dict[str, float]:
    from .data import to_dataset

    if data.test is None:
        return {}
    values = model.evaluate(
        to_dataset(data.test, batch_size=batch_size), verbose=0, return_dict=True
    )
    return _loss_first(values)


def _loss_first(values: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(values[k]) for k in sorted(values, key=lambda k: (k != "loss", k))}


def read_history(run_dir: PathLike) -> dict[str, list[float]]:
    """``history.csv`` of a run as ``{column: [value per epoch]}``."""
    path = Path(run_dir) / "history.csv"
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    keys = [k for k in (rows[0] if rows else {}) if k != "epoch"]
    return {k: [float(r[k]) for r in rows if r.get(k)] for k in keys}


def plot_history(history: Mapping[str, list[float]], target: Path, *, title: str = "") -> None:
    """Plot loss and each metric per epoch, train vs validation, to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [k for k in history if not k.startswith("val_") and k != "learning_rate"]
    names.sort(key=lambda k: k != "loss")  # loss first, then the metrics in order
    if not names:
        return
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        epochs = range(1, len(history[name]) + 1)
        ax.plot(epochs, history[name], marker="o", label="train")
        if f"val_{name}" in history:
            ax.plot(
                range(1, len(history[f"val_{name}"]) + 1),
                history[f"val_{name}"],
                marker="o",
                label="validation",
            )
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


# -- evaluate and predict ------------------------------------------------------
def _model_and_spec(
    source: PathLike, spec: PathLike | ModelSpec | None, plugins: Iterable[str], best: bool = False
) -> tuple[keras.Model, ModelSpec | None]:
    from .builder import load_model

    path = Path(source)
    if path.is_dir():
        loaded = run_spec(path, plugins=plugins) if spec is None else None
        model_path = path / ("best.keras" if best else "model.keras")
        if not model_path.is_file():
            raise RunError(
                f"expected {model_path.name} in the run directory {path} (the run did not "
                "finish: resume it with `modelspec train --resume`)"
            )
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
        >>> evaluate("runs/antirectifier_digits-20261123-101500")  # doctest: +SKIP
        {'accuracy': 0.97..., 'loss': 0.09...}
    """
    from . import data as data_module

    model, loaded = _model_and_spec(source, spec, plugins, best)
    if loaded is None or loaded.train is None:
        raise RunError(
            "evaluate needs the spec's `train.data` to know the data: pass --spec SPEC "
            "(or a run directory, which keeps its spec)"
        )
    if data is not None:
        loaded = _with_data_file(loaded, Path(data))
    split = data_module.load_data(loaded)
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
    return _loss_first(values)


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
    return load_spec(Document(data, doc.file, doc.positions, doc.key_positions, doc.base_dir))


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
            inputs and transformed as ``train.data`` says.
        output: Write the predictions here (``.npz`` or ``.csv``).
        spec: The spec, when ``source`` is a ``.keras`` file.
        plugins: Modules to import first.
        batch_size: Samples per batch.

    Returns:
        ``{output name: predictions}``.

    Example:
        >>> predict("runs/digits-1", "new.npz", output="pred.csv")  # doctest: +SKIP
    """
    from . import data as data_module

    model, loaded = _model_and_spec(source, spec, plugins)
    if isinstance(inputs, Mapping):
        arrays = dict(inputs)
    else:
        arrays = data_module.read_arrays(inputs, loaded)
    names = [t.name for t in model.inputs]
    missing = [n for n in names if n not in arrays]
    if missing:
        have = ", ".join(sorted(arrays)) or "nothing"
        raise RunError(
            f"expected arrays for the model inputs {', '.join(names)}; missing "
            f"{', '.join(missing)}. Received: {have}"
        )
    # a single-input model takes the array itself (a dict makes Keras warn)
    x = arrays[names[0]] if len(names) == 1 else {n: arrays[n] for n in names}
    outputs = model.predict(x, batch_size=batch_size, verbose=0)
    if isinstance(outputs, dict):
        result = dict(outputs)
    else:
        outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
        result = dict(zip(model.output_names, outputs, strict=True))
    if output is not None:
        data_module.write_arrays(output, result)
    return result
