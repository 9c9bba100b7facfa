"""An Optuna study for a spec: its storage, sampler and pruner, and its trial budget.

The study lives in ``STUDY_DIR/study.db`` (SQLite) unless a storage URL names
another database Optuna supports (``postgresql://...``), which workers on many
machines share. ``--trials N`` is the study's total: a worker takes a trial while
the study has fewer than N (done, running, or waiting to be retried). Workers of
one study folder take trials under a file lock, so K local workers run exactly N.

A trial whose worker died (killed, machine lost) is failed and queued again with
the same values; the worker that takes it resumes its run directory from the last
completed epoch. A dead worker on this machine is seen at once (its process is
gone); one on another machine when Optuna's heartbeat goes stale.

Example:
    Not run here (it needs Optuna and a study folder)::

        study, storage = open_study(settings, Path("studies/tiny"), None, spaces)
        with budget_lock(Path("studies/tiny")):
            n = consumed(study)
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import TuneError
from ..files import process_alive
from ..spec.spaces import Space

if TYPE_CHECKING:
    import optuna

#: Seconds between a running trial's heartbeats in the storage, and after which a
#: trial without one is taken for dead (a worker on another machine).
HEARTBEAT = 20
GRACE = 120
INSTALL = "pip install 'modelspec[tune]'"


def require_optuna() -> Any:
    """Optuna, quietly (its INFO log lines are modelspec's to print).

    Raises:
        TuneError: Optuna is not installed (naming the install command).
    """
    try:
        import optuna
    except ImportError:
        raise TuneError(f"modelspec tune needs Optuna, which is not installed: {INSTALL}") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # modelspec records heartbeats itself (it asks and tells rather than `optimize`)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
    return optuna


@dataclasses.dataclass(frozen=True)
class Settings:
    """What a study needs to know, from the spec's ``tune:`` section and the command."""

    name: str
    objective: str
    direction: str
    trials: int
    sampler: str
    pruner: str
    seed: int
    epochs: int


def shown_url(url: str) -> str:
    """A storage URL for a message, its password hidden.

    Example:
        >>> shown_url("postgresql://ana:secret@db:5432/tune")
        'postgresql://ana:***@db:5432/tune'
    """
    try:
        from sqlalchemy.engine import make_url

        return str(make_url(url).render_as_string(hide_password=True))
    except Exception:  # not a URL sqlalchemy reads: shown as given
        return url


def in_memory(url: str) -> bool:
    """Whether a storage URL names an in-memory SQLite database (gone when tune ends).

    Example:
        >>> in_memory("sqlite://"), in_memory("sqlite:///:memory:"), in_memory("sqlite:///a.db")
        (True, True, False)
    """
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
    except Exception:  # not a URL: opening it says why
        return False
    memory = parsed.database in (None, "", ":memory:") or "memory" in str(parsed.query)
    return parsed.get_backend_name() == "sqlite" and memory


def storage_url(study_dir: Path, url: str | None) -> str:
    """The URL of the study's database: ``url``, else ``study_dir/study.db``."""
    return url or f"sqlite:///{(study_dir / 'study.db').resolve()}"


def storage_name(study_dir: Path, url: str | None) -> str:
    """The study's storage for a message: ``studies/x/study.db``, or the URL (no password)."""
    return shown_url(url) if url else str(study_dir / "study.db")


def open_study(
    settings: Settings,
    study_dir: Path,
    url: str | None,
    spaces: list[Space],
    *,
    worker: int = 0,
    create: bool = True,
) -> tuple[optuna.Study, Any]:
    """The study of the spec in its storage (made if new), and the storage.

    Raises:
        TuneError: The storage cannot be opened, or the study there searches other
            spaces or in another direction.
    """
    optuna = require_optuna()
    full = storage_url(study_dir, url)
    if not create:
        _must_exist(settings.name, study_dir, url, full)
    if url is None:
        make_folder(study_dir)
    kwargs: dict[str, Any] = {}
    if full.startswith("sqlite"):  # workers wait for each other's writes
        kwargs = {"connect_args": {"timeout": 120}}
    retry = optuna.storages.RetryHeartbeatStaleTrialCallback(inherit_intermediate_values=True)
    try:
        storage = optuna.storages.RDBStorage(
            full,
            engine_kwargs=kwargs,
            heartbeat_interval=HEARTBEAT,
            grace_period=GRACE,
            heartbeat_stale_trial_callback=retry,
        )
    except Exception as err:
        reason = " ".join(str(err).split()).split(" (Background on this error")[0]
        raise TuneError(
            f"cannot open the study storage {shown_url(full)}: {type(err).__name__}: "
            f"{reason[:300].rstrip('.')}. Check the URL, that the database server runs and can be "
            "reached from here, and that its driver is installed (psycopg2 for postgresql)"
        ) from None
    described = [s.describe() for s in spaces]
    try:
        study = optuna.load_study(study_name=settings.name, storage=storage, sampler=None)
    except KeyError:
        others = optuna.get_all_study_names(storage) if url is None else []
        if others:  # one folder, one study: their trial-NNNN runs and best.yaml would clash
            raise TuneError(
                f"the study folder {study_dir} holds the study {others[0]!r} (of a spec named "
                f"so): its trial runs, trials.csv and best.yaml would mix with this one's. "
                f"Received: a spec named {settings.name!r}. Use another --study folder"
            ) from None
        runs = sorted(study_dir.glob("trial-[0-9][0-9][0-9][0-9]*")) if create else []
        if runs:  # a new study would start at trial-0000 again
            raise TuneError(
                f"the study folder {study_dir} holds trial runs ({runs[0].name}...) of a study "
                f"that is not in {shown_url(full)}: this study's trials would clash with them. "
                "Use another --study folder, or the --storage that study is in"
            ) from None
        if not create:
            raise TuneError(
                f"expected a study {settings.name!r} in {shown_url(full)} to join. Received: "
                "none there yet; start it with `modelspec tune SPEC --storage URL` first"
            ) from None
        with contextlib.suppress(optuna.exceptions.DuplicatedStudyError):
            study = optuna.create_study(
                study_name=settings.name, storage=storage, direction=settings.direction
            )
            study.set_user_attr("spaces", described)
            study.set_user_attr("objective", settings.objective)
        study = optuna.load_study(study_name=settings.name, storage=storage)
    recorded = study.user_attrs.get("spaces")
    if recorded is not None and recorded != described:
        names = sorted({s["path"] for s in recorded} ^ {s["path"] for s in described})
        what = f" ({', '.join(names)})" if names else " (their bounds or choices)"
        raise TuneError(
            f"the study {settings.name!r} in {shown_url(full)} searches other spaces than the "
            f"spec{what}: its trials would not compare. Use another --study folder (or "
            "--storage), or delete the old study"
        )
    direction = study.direction.name.lower()
    if direction != settings.direction or study.user_attrs.get("objective") not in (
        None,
        settings.objective,
    ):
        raise TuneError(
            f"the study {settings.name!r} in {shown_url(full)} was made to "
            f"{direction} {study.user_attrs.get('objective')}. Received: {settings.direction} "
            f"{settings.objective}. Use another --study folder, or the study's objective"
        )
    # a study continued, or another worker, samples on from another seed (the same
    # seed would draw the values of the first trials again)
    seed = (settings.seed + 1000 * worker + len(study.get_trials(deepcopy=False))) % 2**32
    study.sampler = _sampler(optuna, settings, spaces, seed=seed)
    study.pruner = _pruner(optuna, settings)
    return study, storage


def make_folder(study_dir: Path) -> None:
    """Make the study's folder.

    Raises:
        TuneError: It cannot be made (a file on the way, no permission).
    """
    try:
        study_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        reason = "a file is in the way" if study_dir.is_file() else err.strerror or err
        raise TuneError(
            f"cannot make the study folder {study_dir}: {reason}. Received: "
            f"--study {study_dir}. Give a folder this user can write"
        ) from None


def _must_exist(name: str, study_dir: Path, url: str | None, full: str) -> None:
    """Refuse to join a study whose SQLite file is not there (opening it would make one).

    Raises:
        TuneError: No such file.
    """
    if url is None:
        if not (study_dir / "study.db").is_file():
            raise TuneError(
                f"expected a study {name!r} in {study_dir / 'study.db'} to join. Received: no "
                f"study there yet; start it with `modelspec tune SPEC --study {study_dir}` first"
            )
        return
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(full)
    except Exception:  # not a URL: opening it says why
        return
    database = parsed.database
    if (
        parsed.get_backend_name() == "sqlite"
        and database not in (None, "", ":memory:")
        and not Path(str(database)).is_file()
    ):
        raise TuneError(
            f"expected a study {name!r} in {shown_url(full)} to join. Received: no such "
            "database file; start it with `modelspec tune SPEC --storage URL` first"
        )


def _sampler(optuna: Any, settings: Settings, spaces: list[Space], seed: int) -> Any:
    if settings.sampler == "grid":
        grid = {s.name: list(range(len(s.values))) if s.by_index else s.grid() for s in spaces}
        return optuna.samplers.GridSampler(grid, seed=seed)
    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def _pruner(optuna: Any, settings: Settings) -> Any:
    if settings.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=settings.epochs)
    if settings.pruner == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner()


@contextlib.contextmanager
def budget_lock(study_dir: Path) -> Iterator[None]:
    """Hold the study folder's lock: workers sharing it take trials one at a time."""
    make_folder(study_dir)
    try:
        import fcntl
    except ImportError:  # Windows: no lock (a worker may start one trial too many)
        yield
        return
    with open(study_dir / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def consumed(study: optuna.Study) -> int:
    """Trials that count towards the budget: all but those retried by another."""
    trials = study.get_trials(deepcopy=False)
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    return sum(1 for t in trials if t.number not in retried)


def worker_id() -> str:
    """This process, as a trial records it: ``host:pid:start``."""
    return f"{socket.gethostname()}:{os.getpid()}:{_started(os.getpid())}"


def _started(pid: int) -> str:
    """When a process started (Linux: clock ticks since boot), to tell a reused pid."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[19]
    except (OSError, IndexError):
        return "?"


def _alive(worker: str) -> bool:
    """Whether a trial's worker (``host:pid:start``) on this machine still runs."""
    host, _, rest = worker.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return True  # another machine's: its heartbeat tells
    pid = int(pid_text)
    return process_alive(pid) and start in ("?", _started(pid))


def revive(study: optuna.Study, storage: Any) -> list[int]:
    """Fail each running trial whose worker is gone and queue it again (same values,
    same run directory); returns their numbers. Call with :func:`budget_lock` held."""
    optuna = require_optuna()
    optuna.storages.fail_stale_trials(study)  # other machines' (heartbeat)
    dead = []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        worker = trial.system_attrs.get("modelspec_worker")
        if worker is None or _alive(worker):
            continue
        storage.set_trial_user_attr(
            trial._trial_id, "error", "its worker stopped (killed?): retried"
        )
        try:
            failed = storage.set_trial_state_values(
                trial._trial_id, state=optuna.trial.TrialState.FAIL
            )
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        if failed:
            requeue(study, storage.get_trial(trial._trial_id))
            dead.append(trial.number)
    return dead


def requeue(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Queue a failed trial again, as Optuna does a stale one."""
    optuna = require_optuna()
    optuna.storages.RetryHeartbeatStaleTrialCallback(inherit_intermediate_values=True)(study, trial)


@contextlib.contextmanager
def heartbeat(storage: Any, trial_id: int) -> Iterator[None]:
    """Record the trial's heartbeat in the storage while it runs."""
    stop = threading.Event()

    def beat() -> None:
        while True:
            with contextlib.suppress(Exception):  # a missed beat is not fatal
                storage.record_heartbeat(trial_id)
            if stop.wait(HEARTBEAT):
                return

    thread = threading.Thread(target=beat, daemon=True, name="modelspec-heartbeat")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
