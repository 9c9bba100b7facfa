"""One trial: the spec with sampled values, trained into its run directory.

A trial is an ordinary run (``STUDY_DIR/trial-0007/``, with its resolved spec):
Keras reports the objective to Optuna after each epoch (:class:`Pruning`), and a
trial that falls behind is stopped there (pruned). A trial that cannot be built
or trained (a sampled shape Keras refuses, a NaN loss) fails with its error
recorded, and the study goes on. A trial queued again after its worker died
resumes its run directory.

Example:
    Not run here (it trains)::

        outcome = run_trial(trial, setup)
        outcome.state, outcome.value  # ('COMPLETE', 0.1234)
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
from pathlib import Path
from typing import Any

import keras

from ..errors import ModelSpecError, RunInterrupted, SpecError
from ..spec.loader import Document, PathT
from ..spec.spaces import Space, substitute
from ..spec.validate import load_spec
from ..training import train

#: Top-level sections a trial's spec leaves out: the study's own settings, and the
#: exports (the best spec is trained and exported once the study is done).
LEFT_OUT = ("tune", "export")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclasses.dataclass
class Setup:
    """What every trial of a study shares."""

    doc: Document
    spaces: list[Space]
    study_dir: Path
    objective: str
    direction: str
    plugins: tuple[str, ...] = ()
    allow_imports: bool = False
    verbose: int = 0


@dataclasses.dataclass
class Outcome:
    """How a trial ended: ``COMPLETE`` with its value, ``PRUNED`` at an epoch, or
    ``FAIL`` with its error."""

    state: str
    value: float | None = None
    error: str | None = None
    epochs: int = 0
    cause: BaseException | None = None


class Pruning(keras.callbacks.Callback):
    """Reports the objective to Optuna after each epoch; stops training (pruned)
    when Optuna's pruner says the trial falls behind."""

    def __init__(self, trial: Any, objective: str) -> None:
        super().__init__()
        self.trial, self.objective = trial, objective
        self.pruned_at: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get(self.objective)
        if value is None or not math.isfinite(float(value)):
            return
        self.trial.report(float(value), epoch)
        if self.trial.should_prune():
            self.pruned_at = epoch + 1
            self.model.stop_training = True


def _not_retracing(record: logging.LogRecord) -> bool:
    """TensorFlow's warning that a new model's ``tf.function`` traced again: what
    every trial after the first does, by design."""
    return "triggered tf.function retracing" not in record.getMessage()


# TensorFlow logs through the logger "tensorflow" (absl): its warning names no trial
logging.getLogger("tensorflow").addFilter(_not_retracing)


def values_of(trial: Any, spaces: list[Space]) -> dict[PathT, Any]:
    """The trial's value for each space (sampled, or the queued trial's own); a space
    inside a choice's value only when that value is picked (Optuna's conditional
    parameters: the spaces come outer first)."""
    values: dict[PathT, Any] = {}
    for space in spaces:
        if space.within is not None:
            outer, index = space.within
            if outer not in values or choice_index(spaces, outer, values[outer]) != index:
                continue
        if space.kind == "int":
            assert space.low is not None and space.high is not None
            value: Any = trial.suggest_int(
                space.name,
                int(space.low),
                int(space.high),
                step=int(space.step or 1),
                log=space.log,
            )
        elif space.kind == "float":
            assert space.low is not None and space.high is not None
            value = trial.suggest_float(
                space.name, space.low, space.high, step=space.step, log=space.log
            )
            if space.step is not None:  # 0.30000000000000004 → 0.3
                value = float(f"{value:.12g}")
        elif space.by_index:  # mappings or lists among the choices: Optuna picks an index
            index = trial.suggest_categorical(space.name, list(range(len(space.values))))
            value = space.values[index]
        else:
            value = trial.suggest_categorical(space.name, list(space.values))
        values[space.path] = value
    return values


def choice_index(spaces: list[Space], path: PathT, value: Any) -> int | None:
    """Which value of the choice at ``path`` ``value`` is."""
    return next(s for s in spaces if s.path == path).index_of(value)


def trial_spec(setup: Setup, values: dict[PathT, Any]) -> Any:
    """The spec a trial trains: the values in place of the spaces, no study settings."""
    doc = substitute(setup.doc, values)
    doc.data = {k: v for k, v in doc.data.items() if k not in LEFT_OUT}
    return load_spec(doc, plugins=setup.plugins, allow_imports=setup.allow_imports)


def run_trial(trial: Any, setup: Setup) -> Outcome:
    """Train one trial into its run directory and judge it by the objective.

    Raises:
        RunInterrupted: Ctrl-C; the run directory keeps its completed epochs.
    """
    values = values_of(trial, setup.spaces)
    if trial.user_attrs.get("error") is not None:  # a retry: the failed trial's error is not its
        trial.set_user_attr("error", None)
    run_dir = trial.user_attrs.get("run_dir")
    resume = None
    if run_dir is not None and (setup.study_dir / run_dir / "run.json").is_file():
        resume = setup.study_dir / run_dir  # a queued retry: its run continues
    else:
        run_dir = f"trial-{trial.number:04d}"
        trial.set_user_attr("run_dir", run_dir)
    pruning = Pruning(trial, setup.objective)
    keras.backend.clear_session()
    try:
        if resume is not None:
            result = train(
                resume=resume,
                plugins=setup.plugins,
                allow_imports=setup.allow_imports,
                verbose=setup.verbose,
                callbacks=[keras.callbacks.TerminateOnNaN(), pruning],
            )
        else:
            result = train(
                trial_spec(setup, values),
                into=setup.study_dir / run_dir,
                plugins=setup.plugins,
                allow_imports=setup.allow_imports,
                verbose=setup.verbose,
                callbacks=[keras.callbacks.TerminateOnNaN(), pruning],
            )
    except RunInterrupted:
        raise
    except SpecError as err:  # a sampled value Keras refuses when building
        first = err.diagnostics[0]
        return Outcome("FAIL", error=_one_line(f"{first.where}: {first.message}"), cause=err)
    except ModelSpecError as err:
        return Outcome("FAIL", error=_one_line(str(err)), cause=err)
    except Exception as err:  # Keras refused the model or the data: this trial fails
        return Outcome("FAIL", error=_one_line(f"{type(err).__name__}: {err}"), cause=err)
    history = result.history.get(setup.objective, [])
    epochs = len(next(iter(result.history.values()), []))
    metrics = {f"test_{k}": v for k, v in result.metrics.items()}
    trial.set_user_attr("epochs", epochs)
    if metrics:
        trial.set_user_attr("test", metrics)
    for name in dict.fromkeys(["loss", setup.objective]):  # TerminateOnNaN stopped it
        bad = [i for i, v in enumerate(result.history.get(name, [])) if not math.isfinite(v)]
        if bad:
            return Outcome("FAIL", error=f"{name} became NaN at epoch {bad[0] + 1}", epochs=epochs)
    finite = list(history)
    if not finite:
        logged = ", ".join(sorted(result.history))
        return Outcome(
            "FAIL", error=f"training logged no {setup.objective} (it logs {logged})", epochs=epochs
        )
    best = (max if setup.direction == "maximize" else min)(finite)
    if pruning.pruned_at is not None:
        return Outcome("PRUNED", value=finite[-1], epochs=epochs)
    _mark_done(setup.study_dir / run_dir, trial.number)
    return Outcome("COMPLETE", value=best, epochs=epochs)


def _mark_done(run_dir: Path, number: int) -> None:
    """Say in the run's run.json which trial it was."""
    from ..files import write_text

    meta_path = run_dir / "run.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["trial"] = number
    write_text(meta_path, json.dumps(meta, indent=2) + "\n")


def _one_line(text: str, limit: int = 400) -> str:
    """The error on one line, without the terminal's colour codes Keras puts in it.

    Example:
        >>> _one_line("Exception encountered.\\x1b[1m Bad shape.\\x1b[0m\\n  More")
        'Exception encountered. Bad shape. More'
        >>> _one_line("Bad shape.\\n\\nArguments received by Dense.call(): • x=...")
        'Bad shape.'
    """
    text = " ".join(_ANSI.sub("", text).split())
    text = text.split(" Arguments received by ")[0]  # Keras's echo of every argument
    return text if len(text) <= limit else text[: limit - 3] + "..."
