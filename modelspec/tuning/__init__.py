"""Tune: an Optuna study over a spec's search spaces, each trial an ordinary run.

:func:`tune` runs trials of the spec (:mod:`.trial`) in a study stored in
``STUDY_DIR/study.db`` or a database (:mod:`.study`) until the study has its
trials, then writes ``best.yaml``, ``trials.csv`` and the plots (:mod:`.report`).
Run it again to continue the study (more ``trials`` add more); several
processes, on one machine or many, share a study through its storage.

Example:
    Four trials of a small spec (not run here: it trains)::

        result = tune("specs/antirectifier_digits.yaml", trials=4, study_dir="studies/a")
        result.best_params  # {'dense.units': 128, ...}
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import DataError, RunInterrupted, SpecError, StudyStopped, TuneError
from ..spec.loader import Document, apply_overrides, load_document
from ..spec.spaces import Space, find
from ..spec.validate import load_spec
from . import report
from .report import Row
from .study import (
    Settings,
    budget_lock,
    consumed,
    heartbeat,
    in_memory,
    open_study,
    requeue,
    require_optuna,
    revive,
    storage_name,
    worker_id,
)
from .trial import Outcome, Setup, run_trial

__all__ = ["TuneResult", "tune"]

PathLike = str | os.PathLike[str]
#: Trials of a study by default (a grid's size with ``sampler: grid``).
DEFAULT_TRIALS = 20
#: Trials in a row whose data fails the same way, with other values, to stop a study.
SAME_FAILURES = 3


@dataclasses.dataclass
class TuneResult:
    """What a study has found so far.

    Attributes:
        study_dir: The study's folder (trial run directories, best.yaml, trials.csv, plots).
        storage: Where the study is stored (password hidden).
        objective: What trials are judged by; ``direction`` whether lower
            (``minimize``) or higher is better.
        trials: Every trial of the study, in order.
        ran: The trials this call ran.
        best: The best completed trial, ``None`` when none completed.
        best_spec: ``best.yaml``, when there is a best trial.
        plots: The plots written; ``notes`` says why others were not.
    """

    study_dir: Path
    storage: str
    objective: str
    direction: str
    trials: list[Row]
    ran: list[int] = dataclasses.field(default_factory=list)
    best: Row | None = None
    best_spec: Path | None = None
    plots: list[Path] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def best_params(self) -> dict[str, Any]:
        """The best trial's value for each space, by name."""
        return dict(self.best.params) if self.best is not None else {}

    @property
    def best_value(self) -> float | None:
        """The best trial's objective."""
        return self.best.value if self.best is not None else None


def prepare(
    spec: PathLike | Mapping[str, Any],
    overrides: Iterable[str] | Mapping[str, Any] | None = None,
    *,
    plugins: Iterable[str] = (),
    allow_imports: bool = False,
) -> tuple[Document, list[Space], Settings]:
    """The spec's document (``--set`` applied), its search spaces and the study's
    settings, the spec validated first.

    Raises:
        SpecError: The spec is not valid, has no search space or no ``train:``.
    """
    doc = load_document(spec)
    items = overrides if isinstance(overrides, Mapping) else list(overrides or [])
    apply_overrides(doc, items)
    loaded = load_spec(doc, plugins=plugins, allow_imports=allow_imports)
    spaces, _ = find(doc)
    if not spaces:
        raise SpecError(
            [
                doc.diagnostic(
                    (),
                    "expected at least one search space to tune. Received: none. Make a "
                    "value one, e.g. units: {tune: int, low: 32, high: 512} or "
                    "learning_rate: {tune: float, low: 1.0e-4, high: 1.0e-2, log: true}",
                )
            ]
        )
    if loaded.train is None:
        raise SpecError(
            [doc.diagnostic((), "expected a `train:` section: every trial trains the spec")]
        )
    section = loaded.tune
    objective = section.objective if section is not None else "val_loss"
    direction = section.direction if section is not None else None
    if direction is None:
        from ..training.callbacks import monitor_mode

        mode = monitor_mode(loaded, objective)
        if mode == "auto":
            raise SpecError(
                [
                    doc.diagnostic(
                        ("tune", "objective"),
                        f"cannot tell whether {objective} is better higher or lower. "
                        "Say it: tune: {direction: maximize} (or minimize)",
                    )
                ]
            )
        direction = "maximize" if mode == "max" else "minimize"
    sampler = section.sampler if section is not None else "tpe"
    trials = section.trials if section is not None else None
    if trials is None:
        trials = math.prod(s.size() or 0 for s in spaces) if sampler == "grid" else None
    settings = Settings(
        name=loaded.name,
        objective=objective,
        direction=direction,
        trials=trials or DEFAULT_TRIALS,
        sampler=sampler,
        pruner=section.pruner if section is not None else "median",
        seed=section.seed
        if section is not None and section.seed is not None
        else loaded.train.seed,
        epochs=loaded.train.total_epochs,
    )
    return doc, spaces, settings


def tune(
    spec: PathLike | Mapping[str, Any],
    *,
    trials: int | None = None,
    study_dir: PathLike | None = None,
    storage: str | None = None,
    timeout: float | None = None,
    overrides: Iterable[str] | Mapping[str, Any] | None = None,
    plugins: Iterable[str] = (),
    allow_imports: bool = False,
    verbose: int = 0,
    join: bool = False,
    worker: int = 0,
    report_at_end: bool = True,
    echo: Callable[[str], None] | None = None,
) -> TuneResult:
    """Search the spec's search spaces with Optuna until the study has its trials.

    Args:
        spec: A spec path, YAML text or mapping, with search spaces.
        trials: Trials the study has in all (default ``tune.trials``, else 20).
            Running again with more continues the study.
        study_dir: The study's folder (default ``studies/<spec name>``).
        storage: A database URL Optuna supports, shared by workers on many
            machines (default: ``study_dir/study.db``).
        timeout: Seconds after which no new trial starts (default ``tune.timeout``).
        overrides: ``--set`` values, applied to every trial.
        plugins: Modules to import first.
        allow_imports: Honour the spec's ``imports:``.
        verbose: Keras's progress output in each trial (default none).
        join: Only work on a study another ``tune`` started (never create it).
        worker: This worker's index among several (varies the sampler's seed); only
            worker 0 prints the study's first line.
        report_at_end: Write best.yaml, trials.csv and the plots at the end.
        echo: Where progress lines go (default ``print``).

    Returns:
        A :class:`TuneResult`.

    Raises:
        SpecError: The spec is invalid or has no search space.
        TuneError: Optuna is missing, the storage cannot be used, or trials or
            timeout is not above 0.
        RunInterrupted: Ctrl-C: the trial running is queued to resume next time.

    Example:
        Not run here (it trains)::

            tune("specs/antirectifier_digits.yaml", trials=4).best_value
    """
    say = echo or (lambda line: print(line, flush=True))
    if trials is not None and trials < 1:
        raise TuneError(f"expected trials of 1 or more. Received: trials={trials}")
    if timeout is not None and not timeout > 0:
        raise TuneError(f"expected a timeout above 0 seconds. Received: timeout={timeout}")
    plugins = tuple(plugins)
    doc, spaces, settings, folder, study, store, lines = _open(
        spec, trials, study_dir, storage, overrides, plugins, allow_imports, join, worker
    )
    if timeout is None and doc.data.get("tune", {}).get("timeout") is not None:
        timeout = float(doc.data["tune"]["timeout"])
    shown_storage = storage_name(folder, storage)
    for line in lines if worker == 0 else lines[1:]:  # the study's line: once, from worker 0
        say(line)
    setup = Setup(
        doc,
        spaces,
        folder,
        settings.objective,
        settings.direction,
        plugins,
        allow_imports,
        verbose,
    )
    ran, stopped = _work(study, store, setup, settings, timeout, say)
    result = TuneResult(
        folder,
        shown_storage,
        settings.objective,
        settings.direction,
        report.rows(study, spaces, doc.data),
        ran,
    )
    if report_at_end:
        finish(result, study, doc, spaces)
    if stopped is not None:
        raise StudyStopped(stopped)
    return result


def opening(
    spec: PathLike | Mapping[str, Any],
    *,
    trials: int | None = None,
    study_dir: PathLike | None = None,
    storage: str | None = None,
    overrides: Iterable[str] | Mapping[str, Any] | None = None,
    plugins: Iterable[str] = (),
    allow_imports: bool = False,
    join: bool = False,
) -> tuple[list[str], int]:
    """Open (or make) the study, queue trials of dead workers again, and return the
    lines :func:`tune` starts with, and how many trials are left to run (queued ones
    included); ``modelspec tune --workers K`` prints the lines before it starts its
    workers (each of which could have started a trial already), and starts no more
    workers than trials are left.

    Raises:
        SpecError: The spec is invalid or has no search space.
        TuneError: Optuna is missing, or the storage cannot be used.

    Example:
        Not run here (it needs Optuna)::

            opening("spec.yaml", study_dir="studies/x")[0][0]  # 'study x in studies/x/study.db: ...'
    """  # noqa: E501
    args = (spec, trials, study_dir, storage, overrides, tuple(plugins), allow_imports, join, 0)
    _, _, settings, _, study, _, lines = _open(*args)
    waiting = study.get_trials(deepcopy=False, states=(require_optuna().trial.TrialState.WAITING,))
    return lines, max(settings.trials - consumed(study), 0) + len(waiting)


def _open(
    spec: PathLike | Mapping[str, Any],
    trials: int | None,
    study_dir: PathLike | None,
    storage: str | None,
    overrides: Iterable[str] | Mapping[str, Any] | None,
    plugins: tuple[str, ...],
    allow_imports: bool,
    join: bool,
    worker: int,
) -> tuple[Document, list[Space], Settings, Path, Any, Any, list[str]]:
    """The spec, its spaces and settings, the study's folder, study and storage, and the
    lines to start with: the study's, then one per trial of a dead worker queued again."""
    require_optuna()
    if storage is not None and not storage.strip():
        raise TuneError(
            "expected a database URL Optuna supports (postgresql://user@host/db). Received: "
            "--storage ''. Leave --storage out to keep the study in STUDY/study.db"
        )
    if storage is not None and in_memory(storage):
        raise TuneError(
            f"expected a database that outlives the command: a study is continued, and "
            f"shared by workers, through it. Received: --storage {storage} (in memory). Leave "
            "--storage out to keep the study in STUDY/study.db"
        )
    doc, spaces, settings = prepare(spec, overrides, plugins=plugins, allow_imports=allow_imports)
    if trials is not None:
        settings = dataclasses.replace(settings, trials=trials)
    folder = Path(study_dir) if study_dir is not None else Path("studies") / settings.name
    try:
        str(folder.absolute()).encode("utf-8")
    except UnicodeEncodeError:  # bytes the file system's encoding could not decode
        raise TuneError(
            f"expected a study folder whose path is UTF-8 text (Keras writes its runs' "
            f"files by name). Received: {str(folder.absolute())!r}. Use another --study folder"
        ) from None
    study, store = open_study(settings, folder, storage, spaces, worker=worker, create=not join)
    with budget_lock(folder):
        revived = revive(study, store)
        done = consumed(study)
    lines = [
        f"study {settings.name} in {storage_name(folder, storage)}: "
        f"{min(done, settings.trials)} of {settings.trials} trials started before; "
        f"{settings.sampler} sampler, {settings.pruner} pruner, {settings.direction} "
        f"{settings.objective}"
    ]
    lines += [f"trial {number}: its worker stopped; queued to resume" for number in revived]
    return doc, spaces, settings, folder, study, store, lines


def _work(
    study: Any,
    store: Any,
    setup: Setup,
    settings: Settings,
    timeout: float | None,
    say: Callable[[str], None],
) -> tuple[list[int], str | None]:
    """Take trials while the study has fewer than its budget (or one is queued).

    Returns:
        The trials run, and why the study stopped when its trials failed the same way.
    """
    optuna = require_optuna()
    waiting = (optuna.trial.TrialState.WAITING,)
    started = time.monotonic()
    ran: list[int] = []
    while timeout is None or time.monotonic() - started < timeout:
        with budget_lock(setup.study_dir):
            revive(study, store)
            queued = study.get_trials(deepcopy=False, states=waiting)
            if not queued and consumed(study) >= settings.trials:
                break
            if not queued and _grid_done(study, optuna):  # asked again, it would repeat one
                say("the grid is done: every combination has had its trial")
                break
            trial = study.ask()
            store.set_trial_system_attr(trial._trial_id, "modelspec_worker", worker_id())
            store.record_heartbeat(trial._trial_id)  # so it can go stale if we die now
        begun = time.monotonic()
        with heartbeat(store, trial._trial_id):
            try:
                outcome = run_trial(trial, setup)
            except (KeyboardInterrupt, RunInterrupted) as err:
                trial.set_user_attr("error", "interrupted (Ctrl-C): resumes next time")
                frozen = study.tell(trial, state=optuna.trial.TrialState.FAIL)
                requeue(study, frozen)
                if not isinstance(err, RunInterrupted):
                    raise
                # the run resumes through the study, not `train --resume`
                raise RunInterrupted(
                    err.run_dir,
                    f"interrupted: trial {trial.number} is queued again; its run "
                    f"{err.run_dir} keeps the completed epochs and resumes from them when "
                    "the same `modelspec tune` runs again.",
                ) from None
        exhausted = _tell(study, trial, outcome, optuna)
        ran.append(trial.number)
        say(_line(trial, outcome, setup, time.monotonic() - begun))
        # the data refused the same way with other values: not the values' doing (Keras
        # refusing a sampled model, a NaN loss, is the values': those trials just fail)
        if isinstance(outcome.cause, DataError):
            stopped = _stop_failing(study, outcome, setup.study_dir)
            if stopped is not None:
                return ran, stopped
        if exhausted:
            say("the grid is done: every combination has had its trial")
            break
    else:
        had = consumed(study)
        if had < settings.trials:  # the timeout, before the study had its trials
            say(
                f"timeout: {timeout:g} s have passed, so no new trial starts; the study has "
                f"{had} of {settings.trials} trials. Run the same command again to go on"
            )
    return ran, None


def _stop_failing(study: Any, outcome: Outcome, folder: Path) -> str | None:
    """When the study's last trials (any worker's, in the order they ended) failed
    with the same error and other values, the error does not come from the values:
    queue them again and say why the study stops."""
    error = outcome.error
    ended = [t for t in study.get_trials(deepcopy=False) if t.datetime_complete is not None]
    ended.sort(key=lambda t: (t.datetime_complete, t.number))
    frozen = ended[-SAME_FAILURES:]
    if len(frozen) < SAME_FAILURES or any(
        t.state.name != "FAIL" or t.user_attrs.get("error") != error for t in frozen
    ):
        return None
    if len({tuple(sorted(map(repr, t.params.items()))) for t in frozen}) < 2:
        return None  # the same values each time (retries): they may be the cause
    with budget_lock(folder):
        # also another worker's trials that failed so (each queued once: not those
        # queued already, by this worker or one that stopped first)
        trials = study.get_trials(deepcopy=False)
        retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
        again = [
            t
            for t in trials
            if t.state.name == "FAIL"
            and t.user_attrs.get("error") == error
            and t.number not in retried
        ]
        for trial in again:
            requeue(study, trial)
    numbers = [str(t.number) for t in frozen]
    cause = type(outcome.cause).__name__ if outcome.cause is not None else "error"
    return (
        f"trials {', '.join(numbers[:-1])} and {numbers[-1]} failed with the same {cause}, "
        f"whatever their values: {outcome.error}\nThe study stops here, with the "
        f"{len(again)} trial{'s' * (len(again) != 1)} that failed so queued again: fix the "
        "cause, then run the same command again."
    )


def _grid_done(study: Any, optuna: Any) -> bool:
    """Whether the grid sampler has given every combination already."""
    sampler = study.sampler
    return isinstance(sampler, optuna.samplers.GridSampler) and sampler.is_exhausted(study)


def _tell(study: Any, trial: Any, outcome: Outcome, optuna: Any) -> bool:
    """Record how the trial ended; ``True`` when the grid sampler has tried every value
    (it calls ``Study.stop``, meant for ``optimize``, once the trial is stored)."""
    states = optuna.trial.TrialState
    if outcome.error is not None:
        trial.set_user_attr("error", outcome.error)
    try:
        if outcome.state == "COMPLETE":
            study.tell(trial, outcome.value)
        elif outcome.state == "PRUNED":
            study.tell(trial, state=states.PRUNED)
        else:
            study.tell(trial, state=states.FAIL)
    except RuntimeError as err:
        if "Study.stop" not in str(err):
            raise
        return True
    return False


def _line(trial: Any, outcome: Outcome, setup: Setup, seconds: float) -> str:
    """``trial 3: val_loss 0.1234 (dense.units=64, ...) in 12 s``."""
    picked = report.params_of(setup.doc.data, setup.spaces, trial.params)
    values = ", ".join(f"{name}={report.short(value)}" for name, value in picked.items())
    if outcome.state == "COMPLETE":
        what = f"{setup.objective} {outcome.value:.4g}"
    elif outcome.state == "PRUNED":
        what = f"pruned after epoch {outcome.epochs} ({setup.objective} {outcome.value:.4g})"
    else:
        what = f"failed: {outcome.error}"
    return f"trial {trial.number}: {what} ({values}) in {seconds:.0f} s"


def finish(result: TuneResult, study: Any, doc: Document, spaces: list[Space]) -> None:
    """best.yaml, trials.csv and the plots, from the study as it stands."""
    folder = result.study_dir
    result.trials = report.rows(study, spaces, doc.data)
    report.write_table(folder, result.trials, spaces)
    result.best = report.best_row(result.trials, result.direction)
    if result.best is not None:
        result.best_spec = report.write_best(folder, doc, spaces, result.best, result.objective)
    else:
        result.notes.append("no trial completed: no best.yaml")
    result.plots, skipped = report.write_plots(study, folder)
    result.notes += skipped
