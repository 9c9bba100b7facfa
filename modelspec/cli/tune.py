"""``modelspec tune``: an Optuna study over a spec's search spaces."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import click

from ..backend import BackendError
from ..errors import PluginError, RunError, RunInterrupted, SpecError, StudyStopped, TuneError
from .common import (
    EXIT_BAD_SPEC,
    EXIT_INTERRUPTED,
    _backend_option,
    _fail,
    _fail_spec,
    _plugin_options,
    _start_keras,
    _usage_error,
    declared_in,
    main,
    set_option,
)
from .workers import died, without_workers

if TYPE_CHECKING:
    from ..tuning import TuneResult
    from ..tuning.report import Row


@main.command()
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--trials",
    type=click.IntRange(min=1),
    help="Trials the study has in all (default tune.trials, else 20); more continue it.",
)
@click.option(
    "--study",
    "study_dir",
    type=click.Path(file_okay=False),
    help="The study's folder: trial runs, best.yaml, trials.csv, plots "
    "[default: studies/<spec name>].",
)
@click.option(
    "--storage",
    metavar="URL",
    help="A database Optuna supports (postgresql://...), shared by workers on many "
    "machines [default: STUDY/study.db, SQLite].",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Run K worker processes on this machine, sharing the study.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds after which no new trial starts.",
)
@click.option(
    "--join",
    is_flag=True,
    help="Work on a study another `modelspec tune` started in --storage (never create one).",
)
@set_option("Override a spec value for every trial, read as YAML (train.epochs=3). Repeatable.")
@click.option("-v", "--verbose", count=True, help="Show each trial's Keras progress.")
@click.option("--worker-index", type=int, default=0, hidden=True)
@_backend_option
@_plugin_options
def tune(
    spec: str,
    trials: int | None,
    study_dir: str | None,
    storage: str | None,
    workers: int | None,
    timeout: float | None,
    join: bool,
    overrides: tuple[str, ...],
    verbose: int,
    worker_index: int,
    backend: str | None,
    plugins: tuple[str, ...],
    allow_imports: bool,
) -> None:
    """Search SPEC's search spaces ({tune: int|float|choice|bool} values) with Optuna.

    Each trial trains the spec with sampled values into a run directory of the
    study's folder (trial-0007/). At the end: best.yaml (the spec with the best
    values, ready for `modelspec train`), trials.csv, history.png and
    importances.png. Run the same command again to continue a study killed or
    finished (a larger --trials adds trials). With --storage, workers on other
    machines join the study with `modelspec tune SPEC --storage URL --join`.
    """
    lead = worker_index == 0  # the command the user ran: it reports at the end
    if backend is not None and declared_in(spec) not in (None, backend):
        overrides += (f"backend={backend}",)
    _start_keras(backend, spec, overrides, data=True)
    study: dict[str, Any] = {
        "trials": trials,
        "study_dir": study_dir,
        "storage": storage,
        "overrides": list(overrides),
        "plugins": plugins,
        "allow_imports": allow_imports,
        "join": join,
    }
    try:
        if workers is not None and workers > 1:
            from ..tuning import opening

            # before the workers: none has started a trial yet
            lines, left = opening(spec, **study)
            for line in lines:
                click.echo(line)
            if workers > max(left, 1):  # a worker more would only load Keras and stop
                click.echo(
                    f"note: --workers {workers}: the study has {left} trial(s) left to run, "
                    f"so {max(left, 1)} worker(s) start"
                )
                workers = max(left, 1)
            code = _launch(sys.argv[1:], workers)
            if code is not None:
                sys.exit(code)
            # then, as one more worker, it takes up any trial a dead worker left
            worker_index = workers + 1
        from ..tuning import tune as run_tune

        result = run_tune(
            spec,
            **study,
            timeout=timeout,
            verbose=verbose,
            worker=worker_index,
            report_at_end=lead,
            echo=click.echo,
        )
    except SpecError as err:
        _fail_spec(err, spec)
    except TuneError as err:
        raise click.UsageError(str(err)) from None
    except StudyStopped as err:  # its trials fail whatever their values: the spec or data
        _fail(err)
    except (PluginError, RunError, BackendError) as err:
        raise _usage_error(err) from None
    except KeyboardInterrupt as err:  # RunInterrupted too: its trial's run is kept
        said = str(err) if isinstance(err, RunInterrupted) else ""
        click.echo(
            "\n"
            + (
                said
                or "interrupted: the trial running is queued again; the same command resumes it"
            ),
            err=True,
        )
        sys.exit(EXIT_INTERRUPTED)
    if lead:
        _summary(result)


def _summary(result: TuneResult) -> None:
    """The top trials, the best one, the files."""
    from ..tuning.report import short, top

    click.echo(f"\nstudy: {result.study_dir} ({result.storage})")
    states: dict[str, int] = {}
    for row in result.trials:
        states[row.state.lower()] = states.get(row.state.lower(), 0) + 1
    click.echo("trials: " + ", ".join(f"{n} {s}" for s, n in states.items()))
    best = top(result.trials, result.direction)
    if best:
        names = columns(best)
        header = ["trial", result.objective, *names]
        cells = [
            [
                str(r.number),
                f"{r.value:.4g}",
                *(short(r.params[n]) if n in r.params else "" for n in names),
            ]
            for r in best
        ]
        widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
        click.echo("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
        for line in cells:
            click.echo("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    if result.best_spec is not None:
        click.echo(f"best: trial {result.best.number if result.best else '?'}, {result.best_spec}")
    for note in result.notes:
        click.echo(f"note: {note}")
    if result.plots:
        click.echo("plots: " + " ".join(str(p) for p in result.plots))


def columns(rows: list[Row]) -> list[str]:
    """The spaces any of ``rows`` has (not only the first's: a space inside a choice's
    value has a value only where that value was picked), each after its choice.

    Example:
        >>> from modelspec.tuning.report import Row
        >>> rows = [Row(0, "COMPLETE", 1.0, {"opt": "adam", "w": 2}, 1, "t0", None),
        ...         Row(1, "COMPLETE", 2.0, {"opt": "sgd", "opt[sgd].momentum": 0.5, "w": 3},
        ...             1, "t1", None)]
        >>> columns(rows)
        ['opt', 'opt[sgd].momentum', 'w']
    """
    names = list(dict.fromkeys(n for r in rows for n in r.params))
    roots = list(dict.fromkeys(n.split("[", 1)[0] for n in names))
    return sorted(names, key=lambda n: roots.index(n.split("[", 1)[0]))


def _launch(argv: list[str], workers: int) -> int | None:
    """Run K worker processes of this command (without --workers) on the study;
    ``None`` once they are done (this process then takes up any trial a dead worker
    left, and writes the report), else the exit code to stop with."""
    kept = without_workers(argv, "tune")
    base = [sys.executable, "-m", "modelspec", "tune", *kept]
    # Ctrl-C reaches the workers from the terminal: each queues its trial and stops
    signal.signal(signal.SIGINT, signal.default_int_handler)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for index in range(1, workers + 1):
            procs.append(subprocess.Popen([*base, "--worker-index", str(index)]))
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt:
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(60)
            if proc.poll() is None:
                proc.kill()
        click.echo(
            "interrupted: the trials running resume when the same command is run again",
            err=True,
        )
        return EXIT_INTERRUPTED
    failed = [(i, c) for i, c in enumerate(codes, start=1) if c != 0]
    for index, code in failed:
        click.echo(f"note: {died(f'worker {index}', code)}", err=True)
    if failed and len(failed) == len(codes) and all(c in (EXIT_BAD_SPEC, 2) for _, c in failed):
        return failed[0][1]  # the spec or the storage: every worker said why
    if any(c == EXIT_BAD_SPEC for _, c in failed):
        return EXIT_BAD_SPEC  # its trials failed whatever their values: they would again here
    return None
