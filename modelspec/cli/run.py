"""The verbs about runs and models: train, evaluate, predict, export."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..backend import BackendError
from ..errors import (
    ExportError,
    ModelLoadError,
    PluginError,
    RunError,
    RunInterrupted,
    SpecError,
    TrainingFailed,
)

if TYPE_CHECKING:
    from ..spec.schema import ModelSpec

from .common import (
    EXIT_BAD_SPEC,
    EXIT_INTERRUPTED,
    _backend_option,
    _declared_backend,
    _fail,
    _fail_spec,
    _plugin_options,
    _start_keras,
    _usage_error,
    declared_in,
    main,
    set_option,
)
from .workers import check_flags, distributed_options, launch, without_workers


@main.command()
@click.argument("spec", required=False, type=click.Path(exists=True, dir_okay=False))
@set_option("Override a spec value, read as YAML (train.epochs=3). Repeatable.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default="runs",
    show_default=True,
    help="Where the run directory is made.",
)
@click.option(
    "--resume",
    type=click.Path(exists=True, file_okay=False),
    help="Continue this run directory from its last completed epoch.",
)
@click.option("--epochs", type=click.IntRange(min=1), help="Total epochs (overrides train.epochs).")
@_backend_option
@_plugin_options
@distributed_options
def train(
    spec: str | None,
    overrides: tuple[str, ...],
    out_dir: str,
    resume: str | None,
    epochs: int | None,
    backend: str | None,
    plugins: tuple[str, ...],
    allow_imports: bool,
    workers: int | None = None,
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> None:
    """Train SPEC on the data of its `train:` section; write a run directory.

    The run directory (runs/<name>-<timestamp>/) holds the resolved spec, the
    final model.keras, the best checkpoint best.keras, history.csv,
    metrics.json (evaluation on the test split), curves.png and TensorBoard
    logs. A killed run continues with --resume RUN_DIR.

    With train.distribute: data_parallel on JAX, --workers N trains with N
    processes on this machine; on several hosts, start one process per host with
    --coordinator HOST:PORT --num-processes N --process-id I.
    """
    if (spec is None) == (resume is None):
        raise click.UsageError("give a SPEC to train, or --resume RUN_DIR (not both)")
    if resume is not None and overrides:
        raise click.UsageError("--set cannot change a run being resumed; start a new run")
    declared = backend or _declared_backend(spec or resume, overrides)
    check_flags(spec, resume, workers, coordinator, num_processes, process_id, overrides, declared)
    if workers is not None:  # N processes of this command, joined on 127.0.0.1
        sys.exit(launch(without_workers(sys.argv[1:], "train"), workers))
    if backend is not None and spec is not None and declared_in(spec) not in (None, backend):
        overrides += (f"backend={backend}",)  # the run's spec.yaml says what it ran on
    _start_keras(backend, spec or resume, overrides, data=True)
    if spec is not None:
        _note_spaces(spec, overrides)
    from ..training import train as run_training
    from ..training.distribute import cluster, initialize, watch_launcher, weights_digest

    watch_launcher()  # a worker of --workers stops when its launcher is gone
    try:
        if coordinator is not None or _cluster_job():
            initialize(coordinator, num_processes, process_id)
        result = run_training(
            spec,
            overrides=list(overrides),
            out_dir=out_dir,
            resume=resume,
            epochs=epochs,
            plugins=plugins,
            allow_imports=allow_imports,
        )
    except SpecError as err:
        _fail_spec(err, spec or str(resume))
    except (PluginError, RunError, BackendError) as err:
        raise _usage_error(err) from None
    except TrainingFailed as err:
        _leave_cluster(1)
        _fail(err)
    except RunInterrupted as err:
        click.echo(f"\n{err}", err=True)
        joined = cluster()
        if joined is not None and joined.processes > 1:
            click.echo(
                f"(a run of {joined.processes} processes: resume them all, with "
                f"--workers {joined.processes} or each process's cluster flags)",
                err=True,
            )
        _leave_cluster(EXIT_INTERRUPTED)
        sys.exit(EXIT_INTERRUPTED)
    joined = cluster()
    if joined is not None:  # the processes' weights, equal when they trained in step
        digest = weights_digest(result.model)
        if joined.index != 0:
            click.echo(f"process {joined.index} of {joined.processes}: done, weights {digest}")
            return
    history = result.history
    done = len(next(iter(history.values()), []))
    if result.already_done:
        click.echo(
            f"run {result.run_dir} already finished its {done} epochs: nothing to resume "
            "(give --epochs N to train it further)."
        )
    import keras

    click.echo(f"\nrun: {result.run_dir} (Keras {keras.__version__} on {keras.backend.backend()})")
    monitor, mode = result.monitor, result.monitor_mode  # what best.keras is chosen by
    if monitor not in history:
        monitor, mode = ("val_loss" if "val_loss" in history else "loss"), "min"
    if history.get(monitor):
        values = history[monitor]
        best = (max if mode == "max" else min)(range(len(values)), key=values.__getitem__)
        planned = f" of {result.epochs}" if result.epochs > done else ""
        stopped = f", stopped early: {result.stopped_early}" if result.stopped_early else ""
        click.echo(
            f"epochs: {done}{planned}{stopped} (best {monitor} {values[best]:.4f} at epoch "
            f"{best + 1})"
        )
    if result.stages:
        spans = (f"{n} {a}-{b}" if a < b else f"{n} {a}" for n, a, b in result.stages)
        click.echo(f"stages: {', '.join(spans)}")
    if result.metrics:
        shown = "  ".join(f"{k} {v:.4f}" for k, v in result.metrics.items())
        click.echo(f"test: {shown}")
    if joined is not None:
        click.echo(f"processes: {joined.processes}, weights {digest}")
    files = sorted(p.name + ("/" if p.is_dir() else "") for p in result.run_dir.iterdir())
    click.echo(f"files: {' '.join(f for f in files if not f.startswith('.'))}")
    for exported in result.exports:
        click.echo(exported.summary())
    for fmt, why in result.export_skipped:
        click.echo(f"{fmt}: skipped, {why}")
    for _, error in result.export_errors:
        click.echo(f"Error: {error}", err=True)
    if result.export_errors:
        sys.exit(EXIT_BAD_SPEC)


def _note_spaces(spec: str, overrides: tuple[str, ...]) -> None:
    """Say that a spec's search spaces train at their defaults (``modelspec tune``
    searches them); a spec that does not load is reported by training."""
    from ..spec.loader import apply_overrides, load_document
    from ..spec.spaces import defaults_note, find

    try:
        doc = load_document(spec)
        apply_overrides(doc, list(overrides))
    except SpecError:
        return
    spaces, _ = find(doc)
    if spaces:
        click.echo(f"note: {defaults_note(spaces, 'train')}")


def _cluster_job() -> bool:
    """A multi-process job JAX finds in the environment: a step of ``srun`` or a
    ``mpirun`` with several tasks (not merely an allocation for several)."""
    for name in ("SLURM_STEP_NUM_TASKS", "OMPI_COMM_WORLD_SIZE"):
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 1:
            return True
    return False


def _leave_cluster(code: int) -> None:
    """A process of a multi-process run that stops on an error or Ctrl-C exits at
    once: JAX's shutdown would wait minutes at a barrier the others never reach
    (they are stuck in a step without it). Its committed epochs are on disk."""
    from ..training.distribute import cluster

    joined = cluster()
    if joined is not None and joined.processes > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


@main.command()
@click.argument("source", type=click.Path(exists=True))
@click.option(
    "--spec",
    type=click.Path(exists=True, dir_okay=False),
    help="The spec whose train.data to use (a run directory keeps its own).",
)
@click.option(
    "--data",
    type=click.Path(exists=True, dir_okay=False),
    help="Evaluate on this .npz or .csv file (all rows) instead of the test split.",
)
@click.option("--best", is_flag=True, help="Use the run's best checkpoint, not its final model.")
@_backend_option
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE", help="Import MODULE first.")
def evaluate(
    source: str,
    spec: str | None,
    data: str | None,
    best: bool,
    backend: str | None,
    plugins: tuple[str, ...],
) -> None:
    """Evaluate SOURCE (a run directory or a .keras file) on held-out data.

    Uses the test split of the spec's train.data (the same seeded split as
    training), or every row of --data FILE, raw like the spec's data: the model
    has the input transforms as layers (train.data.preprocess: model), or the
    spec's train.data.transform is applied first. Prints one `metric: value` per line.
    """
    _start_keras(backend, source if Path(source).is_dir() else spec, data=True)
    from ..training.inference import evaluate_on

    try:
        metrics, used = evaluate_on(source, spec=spec, data=data, plugins=plugins, best=best)
    except SpecError as err:
        _fail_spec(err, spec or source)
    except (PluginError, RunError, BackendError) as err:
        raise _usage_error(err) from None
    except ModelLoadError as err:
        _fail(err)
    for key, value in metrics.items():
        click.echo(f"{key}: {value:.6g}")
    click.echo(f"evaluated on {used}")


@main.command()
@click.argument("source", type=click.Path(exists=True))
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Inputs: a .npz (arrays named like the model inputs) or a .csv file.",
)
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="Where to write the predictions: .npz or .csv.",
)
@click.option(
    "--spec",
    type=click.Path(exists=True, dir_okay=False),
    help="The spec that maps file columns onto inputs (a run directory keeps its own).",
)
@_backend_option
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE", help="Import MODULE first.")
def predict(
    source: str,
    input_path: str,
    output: str,
    spec: str | None,
    backend: str | None,
    plugins: tuple[str, ...],
) -> None:
    """Run SOURCE (a run directory or a .keras file) on new inputs; write predictions.

    The inputs are raw like the spec's data: the model has the input transforms
    as layers (train.data.preprocess: model); for a model without them, a run's
    spec.yaml (or --spec) applies its train.data.transform first, as in training.
    """
    if Path(output).suffix.lower() not in (".npz", ".csv"):
        raise click.BadParameter(
            f"expected a path ending in .npz or .csv. Received: {output}", param_hint="'--output'"
        )
    _start_keras(backend, source if Path(source).is_dir() else spec, data=True)
    from ..training import predict as run_predict

    try:
        result = run_predict(source, input_path, output=output, spec=spec, plugins=plugins)
    except SpecError as err:
        _fail_spec(err, spec or input_path)
    except (PluginError, RunError, BackendError) as err:
        raise _usage_error(err) from None
    except ModelLoadError as err:
        _fail(err)
    for name, values in result.items():
        click.echo(f"{name}: {values.shape[0]} predictions, shape {tuple(values.shape[1:])}")
    click.echo(f"wrote {output}")


def _export_formats(values: tuple[str, ...]) -> list[str]:
    """``-f onnx -f litert,openvino`` or ``-f all`` -> format names (checked by click)."""
    from ..errors import did_you_mean
    from ..spec.schema import EXPORT_FORMATS

    chosen: list[str] = []
    for value in values:
        for name in filter(None, (v.strip() for v in value.split(","))):
            if name == "all":
                chosen += EXPORT_FORMATS
            elif name in EXPORT_FORMATS:
                chosen.append(name)
            else:
                hint = did_you_mean(name, [*EXPORT_FORMATS, "all"])
                raise click.BadParameter(
                    f"expected one of {', '.join(EXPORT_FORMATS)} or all. Received: {name}.{hint}",
                    param_hint="'--format'",
                )
    return list(dict.fromkeys(chosen))


@main.command(name="export")
@click.argument("source", type=click.Path(exists=True))
@click.option(
    "--format",
    "-f",
    "formats",
    multiple=True,
    metavar="FMT",
    help="keras, saved_model, litert, onnx, openvino, or all; repeatable or comma-separated. "
    "Default: the spec's export.formats.",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(),
    help="The artifact's path (one format), or a directory. Default: the run "
    "directory's export/, else the current directory.",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0),
    help="Largest max abs difference from Keras accepted (default 1e-5 for keras and "
    "saved_model, 1e-4 for the others, or the spec's export.tolerance).",
)
@click.option(
    "--samples",
    type=click.IntRange(min=1),
    help="Sample inputs the check runs (default 8, or the spec's export.samples).",
)
@click.option("--no-check", is_flag=True, help="Do not reload and compare the artifacts.")
@click.option("--best", is_flag=True, help="From a run directory, export best.keras.")
@click.option(
    "--spec",
    type=click.Path(exists=True, dir_okay=False),
    help="The spec of a .keras SOURCE (sample data and provenance).",
)
@_backend_option
@_plugin_options
def export(
    source: str,
    formats: tuple[str, ...],
    out: str | None,
    tolerance: float | None,
    samples: int | None,
    no_check: bool,
    best: bool,
    spec: str | None,
    backend: str | None,
    plugins: tuple[str, ...],
    allow_imports: bool,
) -> None:
    """Export SOURCE (a spec, a .keras file or a run directory) and check each artifact.

    `-f all` exports every format the backend can with the packages installed (the
    others are named, skipped).

    Each artifact is reloaded in its own runtime (Keras, TensorFlow, LiteRT,
    onnxruntime, OpenVINO), run on sample inputs (the spec's data, else random)
    and compared with the Keras model; the max abs difference is printed. An
    artifact over tolerance is not written, and the exit code is 1.
    """
    chosen = _export_formats(formats)
    path = Path(source)
    _start_keras(backend, spec or source, data=True)

    from ..export import FORMATS, export_all, export_model, require

    skipped: list[tuple[str, str]] = []
    if any(v.strip() == "all" for value in formats for v in value.split(",")):
        # all: what this backend can export with what is installed; the others are
        # named (with the command that would add them), not errors
        problems: dict[str, str | None] = {}
        for fmt in chosen:
            try:
                require(fmt)
                problems[fmt] = None
            except ExportError as err:
                problems[fmt] = str(err)
        skipped = [(f, p) for f, p in problems.items() if p is not None]
        chosen = [f for f, p in problems.items() if p is None]

    try:
        if not chosen:  # the spec's export section
            from ..rundir import run_spec
            from ..spec.validate import load_spec

            loaded: ModelSpec | None = None
            if path.is_dir():
                loaded = run_spec(path, plugins=plugins, allow_imports=allow_imports)
            else:
                named = spec or (source if path.suffix != ".keras" else None)
                loaded = load_spec(named, plugins=plugins) if named else None
            if loaded is None or loaded.export is None:
                raise click.UsageError("give --format FMT (the spec has no export: section)")
            chosen = list(loaded.export.formats)
        options: dict[str, Any] = {
            "check": not no_check,
            "tolerance": tolerance,
            "samples": samples,
            "spec": spec,
            "plugins": plugins,
            "allow_imports": allow_imports,
            "best": best,
        }
        default_dir = path / "export" if path.is_dir() else Path(".")
        # -o names the artifact for one format, unless it is a folder to export
        # into; a SavedModel there is the artifact itself (the same command twice
        # replaces it rather than nesting a new one inside it)
        saved_model = out is not None and (Path(out) / "saved_model.pb").is_file()
        as_file = (
            out is not None
            and len(chosen) == 1
            and (not Path(out).is_dir() or (saved_model and chosen[0] == "saved_model"))
            and not out.endswith(("/", os.sep))
        )
        if as_file:
            assert out is not None
            suffix = FORMATS[chosen[0]].suffix
            if suffix and not out.endswith(suffix):
                raise click.BadParameter(
                    f"expected a path ending in {suffix} for {chosen[0]}. Received: {out}",
                    param_hint="'--out'",
                )
            results = [export_model(source, chosen[0], out, **options)]
            failures: list[tuple[str, ExportError]] = []
        else:
            results, failures = export_all(source, chosen, out or default_dir, **options)
    except SpecError as err:
        _fail_spec(err, spec or source)
    except (PluginError, RunError, BackendError) as err:
        raise _usage_error(err) from None
    except (ExportError, ModelLoadError) as err:
        _fail(err)
    for result in results:
        click.echo(result.summary())
    for fmt, why in skipped:
        click.echo(f"{fmt}: skipped, {why}")
    for _, error in failures:
        click.echo(f"Error: {error}", err=True)
    if failures:
        sys.exit(EXIT_BAD_SPEC)
