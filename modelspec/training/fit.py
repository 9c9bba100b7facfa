"""Train: a spec's ``train:`` section run end to end.

:func:`train` builds the model, loads and checks the data
(:mod:`modelspec.data`) before any training starts, and runs Keras's ``fit``
on a ``tf.data`` pipeline with Keras's own callbacks
(:mod:`~modelspec.training.callbacks`). Everything lands in a run directory
(:mod:`modelspec.rundir`)::

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
    One epoch, then the test split's metrics (not run here: it trains)::

        result = train("specs/antirectifier_digits.yaml", overrides=["train.epochs=1"])
        sorted(result.metrics)  # ['accuracy', 'loss']
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime
import json
import math
import os
import shlex
import signal
import sys
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import yaml

from .. import data as data_module
from .._version import __version__
from ..build import build_model, deep_graph, graph_size, load_model, start_stage
from ..build.adapt import has_adapt
from ..errors import (
    ExportError,
    ModelSpecError,
    RunError,
    RunInterrupted,
    SpecError,
    TrainingFailed,
)
from ..files import write_text
from ..rundir import model_file, new_run_dir, read_run, run_spec, save_model
from ..spec.loader import apply_overrides, load_document
from ..spec.schema import ModelSpec
from ..spec.validate import load_spec
from . import distribute
from .callbacks import make_callbacks, monitor_mode
from .history import plot_history, read_history
from .inference import loss_first
from .stages import Stage, StageEnd, plan, stage_at

if TYPE_CHECKING:
    from ..data import Data
    from ..export import ExportResult

PathLike = str | os.PathLike[str]


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
        export_skipped: ``(format, why)`` for each format of ``export:`` the
            backend cannot export (``--backend`` chose another than the spec's).
        already_done: The run being resumed had finished: nothing was trained.
        epochs: The epochs the run was to train (``train.epochs`` or ``--epochs``).
        stopped_early: Why a callback ended the run before them (early
            stopping: ``val_loss did not improve for 5 epochs``), else ``None``.
        stages: ``(name, first epoch, last epoch)`` of each ``train.stages`` phase
            the run trains (1-based, inclusive), ``[]`` without stages.
        monitor: What ``best.keras`` was chosen by (``train.monitor``, default
            ``val_loss``), and ``monitor_mode`` whether lower (``min``) or higher
            (``max``) is better.
    """

    model: keras.Model
    history: dict[str, list[float]]
    metrics: dict[str, float]
    run_dir: Path
    exports: list[ExportResult] = dataclasses.field(default_factory=list)
    export_errors: list[tuple[str, ExportError]] = dataclasses.field(default_factory=list)
    already_done: bool = False
    epochs: int = 0
    stopped_early: str | None = None
    stages: list[tuple[str, int, int]] = dataclasses.field(default_factory=list)
    export_skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    monitor: str = "val_loss"
    monitor_mode: str = "min"


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
    callbacks: Sequence[keras.callbacks.Callback] = (),
    into: PathLike | None = None,
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
        callbacks: More Keras callbacks, run after the run's own each epoch.
        into: The run directory to make (instead of a new one in ``out_dir``);
            it must not exist yet.

    Returns:
        A :class:`TrainResult`.

    Raises:
        SpecError: The spec is invalid, or has no ``train:`` section.
        DataError: The data does not fit the spec (before training starts).
        RunError: ``resume`` is not a run directory, or ``into`` exists.

    Example:
        Not run here (it trains)::

            train("specs/antirectifier_digits.yaml", epochs=1).metrics
            # {'loss': 0.24..., 'accuracy': 0.93...}
    """
    if distribute.must_follow():  # processes 1..N-1 of a multi-process run write nothing
        return distribute.follow(
            train,
            resume,
            spec=spec,
            overrides=overrides,
            epochs=epochs,
            plugins=plugins,
            allow_imports=allow_imports,
            verbose=verbose,
        )
    extend = False  # a finished run trained further (--resume RUN --epochs N)
    if resume is not None:
        run_dir = Path(resume)
        meta = read_run(run_dir)
        if meta.get("status") == "done":
            trained = len(next(iter(read_history(run_dir).values()), []))
            if (epochs or 0) <= trained:
                return _finished(run_dir, meta, plugins)
            extend = True
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
    total_epochs = epochs or meta.get("epochs") or settings.total_epochs
    if epochs and resume is None:
        record.append(f"train.epochs={epochs}")

    # a resumed run is rebuilt as it was made: runs from before `preprocess` kept
    # the transforms outside the model
    preprocess = meta.get("preprocess", "data") if resume is not None else settings.data.preprocess
    spread = distribute.plan(loaded)  # train.distribute: before the model is built
    with spread.scope():
        model, data = model_and_data(loaded, preprocess)

    if resume is None:
        if into is not None:
            run_dir = _claim(Path(into))
        else:
            run_dir = new_run_dir(Path(out_dir or "runs"), loaded.name)
        write_text(run_dir / "spec.yaml", _resolved_yaml(loaded, record))
        meta = {
            "spec_file": loaded.document.file,
            "base_dir": str(loaded.document.base_dir),
            "overrides": record,
            "epochs": total_epochs,
            "modelspec_version": __version__,
            "keras_version": keras.__version__,
            "started": datetime.datetime.now().isoformat(timespec="seconds"),
            "preprocess": preprocess,
        }
    meta |= {"status": "running", "epochs": total_epochs, "backend": keras.backend.backend()}
    if spread.processes > 1:  # trained by several processes (this time)
        meta["processes"] = spread.processes
    meta.pop("error", None)
    write_text(run_dir / "run.json", json.dumps(meta, indent=2) + "\n")
    try:
        with spread.scope():
            return _run(
                loaded,
                model,
                data,
                run_dir,
                meta,
                total_epochs,
                verbose,
                plugins,
                allow_imports,
                extend,
                spread,
                list(callbacks),
            )
    except KeyboardInterrupt:
        _record(run_dir, meta, "interrupted")
        raise RunInterrupted(run_dir) from None
    except ModelSpecError as err:
        _record(run_dir, meta, "failed", str(err))
        raise
    except Exception as err:
        _record(run_dir, meta, "failed", f"{type(err).__name__}: {err}")
        raise TrainingFailed(run_dir, err) from err


def _claim(run_dir: Path) -> Path:
    """Make the run directory a caller named; it must be new."""
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        run_dir.mkdir()
    except FileExistsError:
        raise RunError(
            f"expected a new run directory. Received: {run_dir}, which exists; resume it "
            "with `modelspec train --resume`, or choose another"
        ) from None
    return run_dir


def model_and_data(loaded: ModelSpec, preprocess: str) -> tuple[keras.Model, Data]:
    """The model to train and its data, checked against each other.

    With ``preprocess: model`` the data's inputs are raw and the model has the
    inputs' transforms as layers in front of its graph; the arrays as the graph
    sees them are checked against the graph as declared first (a mismatch is
    reported against the spec). The seed is set before each build, so the
    weights are the same either way.
    """
    assert loaded.train is not None
    seed = loaded.train.seed
    keras.utils.set_random_seed(seed)
    model = build_model(loaded)
    data = data_module.load_data(loaded, preprocess)
    view = data.graph_view or data
    data_module.check_against_model(view, model, loaded)
    # `adapt:` layers learn from the training split as the graph sees it
    adapt = view.train.x if has_adapt(list(loaded.layers)) else None
    if data.in_model:
        keras.utils.set_random_seed(seed)
        model = data_module.build_with_transforms(loaded, data, adapt_data=adapt)
    elif adapt is not None:
        keras.utils.set_random_seed(seed)
        model = build_model(loaded, adapt_data=adapt)
    return model, data


def _record(run_dir: Path, meta: dict[str, Any], status: str, error: str | None = None) -> None:
    """Say in run.json how the run ended when it did not finish."""
    meta |= {"status": status, "stopped": datetime.datetime.now().isoformat(timespec="seconds")}
    if error:
        meta["error"] = error
    write_text(run_dir / "run.json", json.dumps(meta, indent=2) + "\n")


def _finished(run_dir: Path, meta: dict[str, Any], plugins: Iterable[str]) -> TrainResult:
    """A finished run, as it stands: nothing to resume."""
    path = run_dir / "metrics.json"
    metrics = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    model = load_model(model_file(run_dir), plugins=plugins)
    return TrainResult(model, read_history(run_dir), metrics, run_dir, already_done=True)


@contextlib.contextmanager
def _untrained_quiet(model: keras.Model, loaded: ModelSpec) -> Iterator[None]:
    """Silence Keras's "Gradients do not exist for variables [...]" when the variables
    it names are those of layers that only outputs without a loss use: validate has
    warned about those outputs, and Keras's hint (forgot a loss?) would mislead."""
    import re

    import keras

    from ..spec.graph import parse_ref

    names = data_module.output_names(loaded)
    trained = set(data_module.trained_outputs(loaded))
    if len(trained) == len(names):
        yield
        return
    refs = zip(names, loaded.output_refs.values(), strict=True)
    nodes = {getattr(parse_ref(ref), "node", ref) for name, ref in refs if name in trained}
    kept = [
        t
        for t in model.outputs
        if getattr(getattr(t, "_keras_history", None), "operation", None) is not None
        and t._keras_history.operation.name in nodes
    ]
    used = {layer.name for layer in keras.Model(model.inputs, kept).layers} if kept else set()
    idle = [re.escape(layer.name) for layer in model.layers if layer.name not in used]
    if not idle:
        yield
        return
    variable = f"'(?:{'|'.join(idle)})/[^']*'"
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message=rf"Gradients do not exist for variables \[{variable}(?:, {variable})*\]",
            category=UserWarning,
        )
        yield


def _run(
    loaded: ModelSpec,
    model: keras.Model,
    data: Data,
    run_dir: Path,
    meta: dict[str, Any],
    total_epochs: int,
    verbose: int | None,
    plugins: Iterable[str],
    allow_imports: bool,
    extend: bool = False,
    spread: distribute.Plan | None = None,
    extra: list[Any] | None = None,
) -> TrainResult:
    """Fit, evaluate, save and export into the run directory."""
    spread = spread or distribute.Plan("none", keras.backend.backend())
    settings = loaded.train
    assert settings is not None
    batch = settings.batch_size
    train_ds = spread.feed(
        data_module.to_dataset(
            data.train, batch_size=batch, shuffle=settings.shuffle, seed=settings.seed
        ),
        len(data.train),
        batch,
    )
    val_ds = (
        spread.feed(
            data_module.to_dataset(data.validation, batch_size=batch), len(data.validation), batch
        )
        if data.validation is not None
        else None
    )
    callbacks, state = make_callbacks(loaded, run_dir, val_ds is not None)
    stages = plan(settings, total_epochs)
    current: list[Stage] = []  # the stage the model is set up for

    def prepare(epochs_done: int) -> None:
        """The model as its checkpoint was saved: the stage of its last epoch."""
        current[:] = [stage_at(stages, max(epochs_done - 1, 0))]
        if settings.stages or settings.trainable:  # else as build_model compiled it
            start_stage(model, loaded, current[0].index)

    if extend:  # a finished run: its final model and history go on
        initial_epoch = state.extend(model, run_dir / "model.keras", meta.get("best"), prepare)
    else:  # a resumed run: its last committed epoch
        initial_epoch = state.restore(model, prepare)
    shown = progress(settings.verbose if verbose is None else verbose)
    stage_end = StageEnd()
    with (
        deep_graph(graph_size(loaded.document)),
        _between_steps() as interrupt,
        _untrained_quiet(model, loaded),
    ):
        for stage in stages:
            if stage.end <= initial_epoch and stage is not stages[-1]:
                continue  # done before the resume
            if current != [stage]:  # a stage starts: its layers, a fresh optimizer
                if current or stage.index:  # (build_model set up the first one)
                    start_stage(model, loaded, stage.index)
                current[:] = [stage]
            if stage.index is not None and shown and initial_epoch < stage.end:
                print(_stage_line(stage, len(settings.stages or ()), model), flush=True)
            stage_end.end = stage.end
            model.fit(
                train_ds,
                validation_data=val_ds,
                initial_epoch=max(initial_epoch, stage.start),
                epochs=total_epochs,
                shuffle=False,  # the tf.data pipeline shuffles (seeded)
                callbacks=[interrupt, stage_end, *callbacks, *(extra or [])],
                verbose=shown,
            )
            if model.stop_training and not stage_end.reached:
                break  # a callback ended the run (early stopping)
    history = read_history(run_dir)
    metrics = _evaluate(model, data, settings.batch_size, spread)
    resolved = run_dir / "spec.yaml"
    save_model(
        model, run_dir / "model.keras", spec_text=resolved.read_text("utf-8"), source=str(resolved)
    )
    write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    plot_history(history, run_dir / "curves.png", title=loaded.name)
    meta |= {"status": "done", "finished": datetime.datetime.now().isoformat(timespec="seconds")}
    if state.state.get("best") is not None:  # where best.keras stands, if trained further
        meta["best"] = state.state["best"]
    write_text(run_dir / "run.json", json.dumps(meta, indent=2) + "\n")
    state.finish()
    result = TrainResult(model, history, metrics, run_dir, epochs=total_epochs)
    result.monitor = settings.monitor or ("val_loss" if val_ds is not None else "loss")
    result.monitor_mode = monitor_mode(loaded, result.monitor)
    if stages[0].index is not None:
        result.stages = [(s.name, s.start + 1, s.end) for s in stages]
    result.stopped_early = _stopped_early(callbacks)
    if loaded.export is not None and spread.writer:  # on this process's device alone
        with distribute.local():
            _export_run(result, loaded, meta, plugins, allow_imports)
    return result


def _stage_line(stage: Stage, count: int, model: keras.Model) -> str:
    """What a stage's start prints: ``Stage 2/2 fine_tune: epochs 4-6, 1,234 of
    5,678 parameters train, learning rate 1e-05``."""
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    total = sum(math.prod(w.shape) for w in model.weights)
    rate = model.optimizer.learning_rate
    shown = f", learning rate {float(rate.numpy()):.3g}" if hasattr(rate, "numpy") else ""
    return (
        f"Stage {(stage.index or 0) + 1}/{count} {stage.name}: epochs {stage.start + 1}-"
        f"{stage.end}, {trainable:,} of {total:,} parameters train{shown}"
    )


class _Interrupt(keras.callbacks.Callback):
    """Raises ``KeyboardInterrupt`` at the next step's end once Ctrl-C was pressed."""

    requested = False

    def _check(self, *args: Any, **kwargs: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt

    on_train_batch_end = on_test_batch_end = on_epoch_begin = on_test_begin = _check


@contextlib.contextmanager
def _between_steps() -> Iterator[_Interrupt]:
    """Ctrl-C during ``fit`` stops training between two steps, from Python, rather
    than inside TensorFlow's native code (where an interrupt can crash the process);
    a second Ctrl-C stops at once. Outside the main thread, Python's default stays."""
    interrupt = _Interrupt()

    def handler(signum: int, frame: Any) -> None:
        if interrupt.requested:
            raise KeyboardInterrupt
        interrupt.requested = True

    if threading.current_thread() is not threading.main_thread():
        yield interrupt
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield interrupt
    finally:
        signal.signal(signal.SIGINT, previous)


def _stopped_early(callbacks: Iterable[Any]) -> str | None:
    """Why an early-stopping callback ended the run, if one did."""
    import keras

    for callback in callbacks:
        if isinstance(callback, keras.callbacks.EarlyStopping) and callback.stopped_epoch > 0:
            waited = max(callback.wait, 1)
            return f"{callback.monitor} did not improve for {waited} epoch{'s' * (waited > 1)}"
    return None


def _export_run(
    result: TrainResult,
    spec: ModelSpec,
    meta: dict[str, Any],
    plugins: Iterable[str],
    allow_imports: bool,
) -> None:
    """The spec's ``export:`` formats, from the run directory's model.keras (so
    the saved model is what gets exported and checked), into ``export/``."""
    from ..backend import export_problem
    from ..export import export_all

    assert spec.export is not None
    run_dir = result.run_dir
    # what this backend cannot export was a warning of validate's: skipped, with a note
    problems = {f: export_problem(f, keras.backend.backend()) for f in spec.export.formats}
    result.export_skipped = [(f, p) for f, p in problems.items() if p is not None]
    result.exports, result.export_errors = export_all(
        run_dir,
        [f for f, p in problems.items() if p is None],
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
    meta["exports"] |= {f: {"skipped": p} for f, p in result.export_skipped}
    write_text(run_dir / "run.json", json.dumps(meta, indent=2) + "\n")


def _resolved_yaml(spec: ModelSpec, record: list[str]) -> str:
    head = f"# Resolved by modelspec {__version__} from {spec.document.file}"
    if record:
        head += " with " + " ".join(f"--set {shlex.quote(r)}" for r in record)
    body = yaml.safe_dump(spec.document.data, sort_keys=False, allow_unicode=True)
    return head + "\n" + body


def _evaluate(
    model: keras.Model, data: Data, batch_size: int, spread: distribute.Plan
) -> dict[str, float]:
    if data.test is None:
        return {}
    test = spread.feed(
        data_module.to_dataset(data.test, batch_size=batch_size), len(data.test), batch_size
    )
    values = model.evaluate(test, verbose=0, return_dict=True)
    return loss_first(values)


def progress(verbose: int | None) -> int:
    """Keras's ``verbose`` for ``fit``: as asked, else a progress bar on a terminal and a
    line per epoch when the output goes to a file or a CI log.

    Example:
        >>> progress(0), progress(2)
        (0, 2)
    """
    if verbose is not None:
        return verbose
    return 1 if sys.stdout.isatty() else 2
