"""modelspec tune: Optuna studies over a spec's search spaces (modelspec.tuning)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from modelspec.cli import main
from modelspec.errors import SpecError, TuneError
from modelspec.spec.validate import validate_spec
from modelspec.tuning import tune

from .conftest import ROOT

#: A digits classifier with three search spaces; a trial trains in about a second.
TUNED = """\
modelspec: 1
name: tuned
vars:
  width: {tune: int, low: 8, high: 32, step: 8}
inputs:
  - {name: pixels, shape: [64]}
layers:
  - {name: hidden, type: Dense, units: "${width}", activation: relu}  # the width
  - {name: drop, type: Dropout, rate: {tune: float, low: 0.0, high: 0.4, step: 0.2}}
  - {name: probs, type: Dense, units: 10, activation: softmax}
outputs: [probs]
compile:
  optimizer:
    type: adam
    learning_rate: {tune: float, low: 1.0e-3, high: 3.0e-2, log: true}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
train:
  data:
    source: sklearn
    name: digits
    transform: {pixels: [{divide_by: 16}]}
  batch_size: 128
  epochs: 1
  verbose: 0
tune: {objective: val_accuracy, pruner: none, sampler: random}
"""


def trials_of(study_dir: Path) -> list[dict[str, str]]:
    with open(study_dir / "trials.csv", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_tune_runs_writes_best_and_continues(write_spec: Any, tmp_path: Path) -> None:
    """4 trials; best.yaml validates and trains; again with trials=6 adds 2 new ones."""
    path = write_spec(TUNED)
    lines: list[str] = []
    result = tune(path, trials=4, study_dir="study", echo=lines.append)
    study = tmp_path / "study"
    assert result.ran == [0, 1, 2, 3] and len(result.trials) == 4
    assert {r.state for r in result.trials} == {"COMPLETE"}
    assert lines[0].startswith("study tuned in study/study.db: 0 of 4 trials started before")
    assert lines[1].startswith("trial 0: val_accuracy ")
    assert result.best is not None and result.best_value == max(r.value for r in result.trials)
    for row in result.trials:  # each trial is an ordinary run of the spec with its values
        run = study / f"trial-{row.number:04d}"
        assert json.loads((run / "run.json").read_text())["status"] == "done"
        resolved = (run / "spec.yaml").read_text()
        assert "tune:" not in resolved and f"rate: {row.params['drop.rate']}" in resolved
    best = (study / "best.yaml").read_text()
    assert "# the width" in best and "{tune:" not in best and "\ntune:" not in best
    assert f"width: {result.best_params['vars.width']}\n" in best
    report = validate_spec(str(study / "best.yaml"))
    assert report.ok and report.warnings == []
    assert [r["trial"] for r in trials_of(study)] == ["0", "1", "2", "3"]
    assert (study / "history.png").stat().st_size > 1000
    assert (study / "importances.png").stat().st_size > 1000

    again = tune(path, trials=6, study_dir="study", echo=lines.append)
    assert again.ran == [4, 5] and len(again.trials) == 6
    values = [tuple(sorted(r.params.items())) for r in again.trials]
    assert len(set(values[4:]) - set(values[:4])) >= 1  # sampling went on, not over again
    assert [r["trial"] for r in trials_of(study)] == [str(n) for n in range(6)]

    from modelspec.training import train

    trained = train(str(study / "best.yaml"), out_dir="runs", epochs=1)
    assert trained.metrics["accuracy"] > 0.1


def test_a_failing_trial_is_recorded_and_the_study_goes_on(write_spec: Any, tmp_path: Path) -> None:
    text = (
        TUNED.replace(
            "{tune: float, low: 1.0e-3, high: 3.0e-2, log: true}",
            "{tune: choice, values: [1.0e-2, 1.0e+38]}",
        )
        .replace("sampler: random", "sampler: grid")
        .replace("type: adam", "type: sgd")
    )
    text = text.replace("{tune: int, low: 8, high: 32, step: 8}", "16").replace(
        "{tune: float, low: 0.0, high: 0.4, step: 0.2}", "0.1"
    )
    result = tune(write_spec(text), study_dir="study", echo=lambda line: None)
    states = {r.params["compile.optimizer.learning_rate"]: r for r in result.trials}
    assert len(result.trials) == 2  # the grid: every value once
    assert states[1e-2].state == "COMPLETE"
    assert states[1e38].state == "FAIL"
    assert states[1e38].error == "loss became NaN at epoch 1"
    assert result.best is not None and result.best.number == states[1e-2].number
    lines: list[str] = []  # more trials than the grid has: none repeats a combination
    again = tune(write_spec(text), trials=4, study_dir="study", echo=lines.append)
    assert again.ran == [] and len(again.trials) == 2
    assert lines[1] == "the grid is done: every combination has had its trial"


def test_ctrl_c_queues_the_trial_and_its_retry_carries_no_error(
    write_spec: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import modelspec.tuning as tuning
    from modelspec.errors import RunInterrupted

    def interrupted(trial: Any, setup: Any) -> Any:
        raise RunInterrupted(setup.study_dir / "trial-0000")

    path = write_spec(TUNED)
    with monkeypatch.context() as patch:
        patch.setattr(tuning, "run_trial", interrupted)
        with pytest.raises(RunInterrupted) as err:
            tune(path, trials=1, study_dir="study", echo=lambda line: None)
    assert str(err.value) == (
        "interrupted: trial 0 is queued again; its run study/trial-0000 keeps the completed "
        "epochs and resumes from them when the same `modelspec tune` runs again."
    )
    result = tune(path, trials=1, study_dir="study", echo=lambda line: None)
    assert [(r.number, r.state) for r in result.trials] == [(0, "FAIL"), (1, "COMPLETE")]
    assert result.trials[0].error == "interrupted (Ctrl-C): resumes next time"
    assert result.trials[1].error is None and trials_of(tmp_path / "study")[1]["error"] == ""


def test_a_timeout_says_why_the_study_stopped_short(write_spec: Any) -> None:
    lines: list[str] = []
    result = tune(write_spec(TUNED), trials=3, study_dir="s", timeout=1e-9, echo=lines.append)
    assert result.ran == [] and result.best is None
    assert lines[1] == (
        "timeout: 1e-09 s have passed, so no new trial starts; the study has 0 of 3 trials. "
        "Run the same command again to go on"
    )


def test_best_yaml_says_which_set_values_its_trials_ran_with(tmp_path: Path) -> None:
    from modelspec.spec.loader import apply_overrides, load_document
    from modelspec.spec.spaces import find
    from modelspec.tuning.report import Row, write_best

    doc = load_document(TUNED)
    apply_overrides(doc, ["train.epochs=3", "tune.trials=2", "train.batch_size=128"])
    spaces, _ = find(doc)
    params = {"vars.width": 16, "drop.rate": 0.2, "compile.optimizer.learning_rate": 0.01}
    row = Row(1, "COMPLETE", 0.9, params, 3, "trial-0001", None)
    best = write_best(tmp_path, doc, spaces, row, "val_accuracy").read_text()
    assert best.splitlines()[2] == (  # batch_size=128 is the file's already
        "# its trials ran with --set train.epochs=3, not in this file: add them to train as "
        "they did"
    )
    assert "  epochs: 1\n" in best and "width: 16\n" in best


def test_best_yaml_has_the_set_value_that_replaced_a_space(tmp_path: Path) -> None:
    """--set vars.width=16 on a space: the trials ran with 16, so best.yaml has it (it
    kept the file's space, which trained its default, 8, and said add the --set)."""
    from modelspec.spec.loader import apply_overrides, load_document
    from modelspec.spec.spaces import find
    from modelspec.tuning.report import Row, write_best

    doc = load_document(TUNED)
    apply_overrides(doc, ["vars.width=16", "train.epochs=3"])
    spaces, _ = find(doc)
    params = {"drop.rate": 0.2, "compile.optimizer.learning_rate": 0.01}
    row = Row(1, "COMPLETE", 0.9, params, 3, "trial-0001", None)
    best = write_best(tmp_path, doc, spaces, row, "val_accuracy")
    text = best.read_text()
    assert "  width: 16\n" in text and "tune: int" not in text
    assert text.splitlines()[2] == (
        "# its trials ran with --set train.epochs=3, not in this file: add them to train as "
        "they did"
    )
    assert validate_spec(str(best)).diagnostics == []


def test_the_table_shows_a_space_inside_a_choice_even_when_the_best_lacks_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The columns were the best trial's: adam best, sgd's momentum had no column."""
    from modelspec.cli.tune import _summary
    from modelspec.tuning import TuneResult
    from modelspec.tuning.report import Row

    rows = [
        Row(0, "COMPLETE", 1.0, {"opt": "adam", "w": 2}, 1, "trial-0000", None),
        Row(1, "COMPLETE", 2.0, {"opt": "sgd", "opt[sgd].m": 0.5, "w": 3}, 1, "t1", None),
    ]
    _summary(TuneResult(Path("s"), "s/study.db", "val_loss", "minimize", rows))
    assert capsys.readouterr().out.splitlines()[3:6] == [
        "trial  val_loss  opt   opt[sgd].m  w",
        "0      1         adam              2",
        "1      2         sgd   0.5         3",
    ]


def test_bad_arguments_of_the_python_api_are_refused_before_any_study(write_spec: Any) -> None:
    path = write_spec(TUNED)
    with pytest.raises(TuneError, match=r"^expected trials of 1 or more. Received: trials=0$"):
        tune(path, trials=0, study_dir="s")
    with pytest.raises(TuneError, match=r"^expected a timeout above 0 seconds. Received: "):
        tune(path, timeout=-1.0, study_dir="s")
    Path("f").write_text("")
    with pytest.raises(TuneError, match=r"^cannot make the study folder f: a file is in the way"):
        tune(path, study_dir="f")
    assert not Path("s").exists() and not Path("studies").exists()


def test_a_study_where_no_trial_completed_draws_no_plot(write_spec: Any, tmp_path: Path) -> None:
    import optuna

    from modelspec.tuning.report import write_plots

    study = optuna.create_study()
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
    assert write_plots(study, tmp_path) == (
        [],
        ["history.png: no trial completed", "importances.png: needs two completed trials"],
    )


def test_a_study_of_other_spaces_is_refused(write_spec: Any) -> None:
    tune(write_spec(TUNED), trials=1, study_dir="study", echo=lambda line: None)
    changed = TUNED.replace("high: 32, step: 8", "high: 64, step: 8")
    with pytest.raises(TuneError, match=r"searches other spaces than the spec \(their bounds"):
        tune(write_spec(changed), trials=2, study_dir="study", echo=lambda line: None)


def test_a_spec_without_a_space_cannot_be_tuned(write_spec: Any) -> None:
    plain = TUNED.split("tune: {objective")[0].replace(
        "{tune: int, low: 8, high: 32, step: 8}", "16"
    )
    plain = plain.replace("{tune: float, low: 0.0, high: 0.4, step: 0.2}", "0.1").replace(
        "{tune: float, low: 1.0e-3, high: 3.0e-2, log: true}", "1.0e-3"
    )
    with pytest.raises(SpecError) as err:
        tune(write_spec(plain), trials=1, study_dir="study")
    assert err.value.diagnostics[0].message.startswith(
        "expected at least one search space to tune. Received: none."
    )


def test_cli_storage_errors_are_one_line(write_spec: Any) -> None:
    path = write_spec(TUNED)
    result = CliRunner().invoke(
        main, ["tune", path, "--storage", "postgresql://ana:secret@127.0.0.1:9/db"]
    )
    assert result.exit_code == 2
    assert "cannot open the study storage postgresql://ana:***@127.0.0.1:9/db: " in result.output
    assert "secret" not in result.output and "Traceback" not in result.output
    missing = CliRunner().invoke(main, ["tune", path, "--storage", "sqlite:////no/such/dir/x.db"])
    assert missing.exit_code == 2
    assert "cannot open the study storage sqlite:////no/such/dir/x.db: OperationalError" in (
        missing.output
    )
    joined = CliRunner().invoke(main, ["tune", path, "--storage", "sqlite:///j.db", "--join"])
    assert joined.exit_code == 2
    assert "Error: expected a study 'tuned' in sqlite:///j.db to join. Received: no such " in (
        joined.output
    )
    alone = CliRunner().invoke(main, ["tune", path, "--study", "s", "--join"])
    assert alone.exit_code == 2
    assert "Error: expected a study 'tuned' in s/study.db to join. Received: no study there " in (
        alone.output
    )
    assert not Path("j.db").exists() and not Path("s").exists()  # joining made nothing
    Path("f").write_text("")
    blocked = CliRunner().invoke(main, ["tune", path, "--study", "f/s"])
    assert blocked.exit_code == 2 and "Traceback" not in blocked.output
    assert "Error: cannot make the study folder f/s: Not a directory. Received: --study f/s. " in (
        " ".join(blocked.output.split())
    )


def test_optuna_missing_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from modelspec.tuning.study import require_optuna

    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(TuneError) as err:
        require_optuna()
    assert str(err.value) == (
        "modelspec tune needs Optuna, which is not installed: pip install 'modelspec[tune]'"
    )


def _cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "modelspec", "tune", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_two_workers_share_one_study(write_spec: Any, tmp_path: Path) -> None:
    """--workers 2: 6 trials in all, each once, each its own run directory."""
    path = write_spec(TUNED)
    proc = _cli(path, "--trials", "6", "--workers", "2", "--study", "study", cwd=tmp_path)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    rows = trials_of(tmp_path / "study")
    assert [r["trial"] for r in rows] == [str(n) for n in range(6)]
    assert {r["state"] for r in rows} == {"COMPLETE"}
    assert sorted(r["run_dir"] for r in rows) == [f"trial-{n:04d}" for n in range(6)]
    assert sorted(p.name for p in (tmp_path / "study").glob("trial-*")) == [
        f"trial-{n:04d}" for n in range(6)
    ]
    assert "trials: 6 complete" in out and "best: trial " in out
    # the study's line comes first, once, counted before any worker started a trial
    assert out.splitlines()[0].startswith("study tuned in study/study.db: 0 of 6 trials started")
    assert out.count("trials started before") == 1
    assert "note: worker" not in out and "Error" not in out  # no worker lost making the study


def test_a_killed_tune_resumes_its_trial(write_spec: Any, tmp_path: Path) -> None:
    """SIGKILL in the middle of a trial; the same command again resumes that trial's run
    from its last completed epoch (no epoch lost or trained twice), then finishes."""
    path = write_spec(TUNED.replace("epochs: 1", "epochs: 12"))
    proc = _cli(path, "--trials", "2", "--study", "study", cwd=tmp_path)
    history = tmp_path / "study" / "trial-0000" / "history.csv"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if history.is_file() and len(history.read_text().splitlines()) >= 3:
            break
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(history.read_text().splitlines()) - 1
    assert 2 <= done_before < 12
    again = _cli(path, "--trials", "2", "--study", "study", cwd=tmp_path)
    out, _ = again.communicate(timeout=600)
    assert again.returncode == 0, out
    assert "trial 0: its worker stopped; queued to resume" in out
    rows = trials_of(tmp_path / "study")
    assert [(r["trial"], r["state"]) for r in rows] == [
        ("0", "FAIL"),
        ("1", "COMPLETE"),
        ("2", "COMPLETE"),
    ]
    assert rows[0]["error"] == "its worker stopped (killed?): retried"
    assert rows[1]["run_dir"] == "trial-0000"  # the retry went on in the same run
    assert rows[1]["error"] == ""  # not the failed trial's
    epochs = [line.split(",")[0] for line in history.read_text().splitlines()[1:]]
    assert epochs == [str(n) for n in range(12)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trials", "0"], "Invalid value for '--trials': 0 is not in the range x>=1."),
        (["--workers", "0"], "Invalid value for '--workers': 0 is not in the range x>=1."),
        (["--timeout", "0"], "Invalid value for '--timeout': 0.0 is not in the range x>0."),
        (["--set", "train.epochs"], "Invalid value for '--set': expected key.path=value"),
    ],
)
def test_cli_refuses_bad_flags(write_spec: Any, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["tune", write_spec(TUNED), *args])
    assert result.exit_code == 2 and message in result.output, result.output


READS = """\
modelspec: 1
name: rows
vars:
  words: vocab.txt
inputs:
  - {name: x, shape: [2]}
  - {name: word, shape: [1], dtype: string}
layers:
  - {name: ids, type: StringLookup, inputs: word, vocabulary: "${words}"}
  - {name: hot, type: CategoryEncoding, inputs: ids, num_tokens: 4, output_mode: one_hot}
  - {name: h, type: Dense, inputs: x, units: {tune: int, low: 4, high: 8}}  # width
  - {name: both, type: Concatenate, inputs: [h, hot]}
  - {name: y, type: Dense, inputs: both, units: 1}
outputs: [y]
compile: {optimizer: adam, loss: mse}
train:
  data: {source: csv, path: data/rows.csv, split: {validation: 0.5, test: 0}}
  epochs: 1
"""


def test_best_yaml_reads_the_spec_s_files_from_the_study_folder(tmp_path: Path) -> None:
    """The data file's relative path is rewritten for best.yaml's folder; a path made
    with ``${...}`` is named in the header instead."""
    from modelspec.spec.loader import load_document
    from modelspec.spec.spaces import find
    from modelspec.tuning.report import Row, write_best

    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "rows.csv").write_text(
        "x0,x1,word,y\n" + "".join(f"{i},{i % 2},{'ab'[i % 2]},{i}\n" for i in range(8))
    )
    (project / "vocab.txt").write_text("a\nb\n")
    (project / "spec.yaml").write_text(READS)
    doc = load_document(str(project / "spec.yaml"))
    assert validate_spec(doc).ok
    spaces, _ = find(doc)
    study = tmp_path / "studies" / "rows"
    study.mkdir(parents=True)
    row = Row(0, "COMPLETE", 0.5, {"h.units": 6}, 1, "trial-0000", None)
    best = write_best(study, doc, spaces, row, "val_loss")
    text = best.read_text()
    assert "  data: {source: csv, path: ../../project/data/rows.csv, split:" in text
    assert "units: 6}  # width" in text
    assert text.splitlines()[2] == (
        f"# paths relative to {project} not rewritten for this folder (made with ${{...}} or "
        "--set): vocab.txt: edit them, or copy this file there"
    )
    (study / "vocab.txt").write_text("a\nb\n")  # what the header asks
    report = validate_spec(str(best))
    assert report.ok, [d.format() for d in report.errors]


def test_trials_that_fail_the_same_way_whatever_their_values_stop_the_study(
    tmp_path: Path,
) -> None:
    """Three trials with other values and one data error: the study stops (exit 1),
    the trials are queued again, and once the data is mapped they run first."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "rows.csv").write_text(
        "x0,x1,word,y\n" + "".join(f"{i},{i % 2},{'ab'[i % 2]},{i % 3}\n" for i in range(30))
    )
    (tmp_path / "vocab.txt").write_text("a\nb\n")
    text = READS.replace("  epochs: 1\n", "  epochs: 1\n  verbose: 0\ntune: {pruner: none}\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    study = tmp_path / "study"
    runner = CliRunner()
    result = runner.invoke(main, ["tune", str(spec), "--study", str(study), "--trials", "5"])
    code, out = result.exit_code, result.output
    lines = out.splitlines()
    assert code == 1, out
    assert lines[-2] == (
        "Error: trials 0, 1 and 2 failed with the same DataError, whatever their values: "
        "train.data: cannot tell which column feeds the model input 'x': the model has 2 "
        "model inputs (x, word) and data/rows.csv has no column named 'x' (columns: x0, x1, "
        "word, y). Map them in train.data: `inputs: {x: COLUMN, word: COLUMN}`"
    ), out
    assert lines[-1] == (
        "The study stops here, with the 3 trials that failed so queued again: fix the cause, "
        "then run the same command again."
    )
    mapped = "inputs: {x: [x0, x1], word: word}, targets: {y: y}, split:"
    spec.write_text(text.replace("split:", mapped))
    result = runner.invoke(main, ["tune", str(spec), "--study", str(study), "--trials", "5"])
    assert result.exit_code == 0, result.output
    rows = trials_of(study)
    assert [r["state"] for r in rows] == ["FAIL"] * 3 + ["COMPLETE"] * 5
    assert [r["h.units"] for r in rows[3:6]] == [r["h.units"] for r in rows[:3]]  # queued


def test_trials_that_fail_so_in_a_row_stop_the_study_whichever_worker_ran_them(
    tmp_path: Path,
) -> None:
    """In a row in the study, not in one worker: with --workers 2 and 4 trials each worker
    saw 2 failures, so the study ended with all 4 failed and none queued. Every trial that
    failed so is queued, once, even when a second worker stops the study too."""
    import optuna

    from modelspec.tuning import _stop_failing
    from modelspec.tuning.trial import Outcome

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'study.db'}")
    outcome = Outcome("FAIL", error="no column", cause=ValueError("no column"))

    def fails(error: str, units: int | None = None) -> str | None:
        if units is not None:
            study.enqueue_trial({"u": units})
        trial = study.ask()
        trial.suggest_int("u", 1, 8)
        trial.set_user_attr("error", error)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return _stop_failing(study, outcome, tmp_path)

    running = study.ask()  # another worker's trial, running: left alone
    running.suggest_int("u", 1, 8)
    assert [fails("no column", 1), fails("other", 2), fails("no column", 3)] == [None] * 3
    assert fails("no column", 4) is None  # other, no column, no column
    said = fails("no column", 5)
    assert said is not None and said.splitlines()[1] == (
        "The study stops here, with the 4 trials that failed so queued again: fix the cause, "
        "then run the same command again."
    )
    assert said.startswith("trials 3, 4 and 5 failed with the same ValueError")
    assert fails("no column") is not None  # the other worker, on a queued one: stops too
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert sorted(t.params["u"] for t in waiting) == [1, 3, 4, 5]


def test_tensorflow_s_retracing_warning_is_not_shown_between_trials(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    import modelspec.tuning.trial  # noqa: F401  (it adds the filter)

    logger = logging.getLogger("tensorflow")
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        logger.warning("5 out of the last 5 calls to <function f> triggered tf.function retracing.")
        logger.warning("something else")
    assert [r.getMessage() for r in caplog.records] == ["something else"]


@pytest.mark.backends  # make test runs it on JAX and PyTorch too
def test_a_study_runs_on_the_backend_keras_runs(write_spec: Any, tmp_path: Path) -> None:
    """Two trials, pruned per epoch by Optuna's callback, on this process's backend."""
    import keras

    text = TUNED.replace("epochs: 1", "epochs: 2").replace("pruner: none", "pruner: median")
    result = tune(write_spec(text), trials=2, study_dir="study", echo=lambda line: None)
    assert [r.state for r in result.trials] == ["COMPLETE", "COMPLETE"]
    for row in result.trials:
        meta = json.loads((tmp_path / "study" / str(row.run_dir) / "run.json").read_text())
        assert (meta["backend"], meta["status"], meta["trial"]) == (
            keras.backend.backend(),
            "done",
            row.number,
        )
    assert validate_spec(str(tmp_path / "study" / "best.yaml")).ok


def test_spaces_inside_a_choice_are_sampled_only_with_their_value(tmp_path: Path) -> None:
    """Optuna's conditional parameters: momentum is sampled when sgd is picked, and
    best.yaml has sgd with it (no training: the study asks, modelspec fills)."""
    import optuna

    from modelspec.spec.loader import load_document
    from modelspec.spec.spaces import find
    from modelspec.tuning.report import Row, params_of, write_best
    from modelspec.tuning.trial import values_of

    from .test_spaces import CONDITIONAL

    doc = load_document(CONDITIONAL)
    spaces, _ = find(doc)
    sampler = optuna.samplers.RandomSampler(seed=1)
    study = optuna.create_study(sampler=sampler, direction="maximize")
    seen = set()
    for _ in range(12):
        trial = study.ask()
        values = values_of(trial, spaces)
        sgd = values[spaces[0].path] != "adam"
        assert (spaces[1].path in values, spaces[2].path in values) == (sgd, sgd)
        assert set(trial.params) == {s.name for s in spaces if s.path in values}
        seen.add(sgd)
        study.tell(trial, 0.5 if not sgd else 1 + values[spaces[1].path])
    assert seen == {True, False}
    best = study.best_trial
    params = params_of(doc.data, spaces, best.params)
    momentum = params["compile.optimizer[sgd].momentum"]
    assert params["compile.optimizer"] == {
        "type": "sgd",
        "momentum": momentum,
        "nesterov": params["compile.optimizer[sgd].nesterov"],
    }
    text = write_best(tmp_path, doc, spaces, Row(0, "COMPLETE", 0.9, params, 1, "t", None), "x")
    assert f"  optimizer: {{type: sgd, momentum: {momentum}, nesterov: " in text.read_text()
    assert validate_spec(str(text)).ok


def test_a_model_keras_refuses_for_every_value_fails_each_trial_and_the_study_goes_on(
    write_spec: Any, tmp_path: Path
) -> None:
    """Only data errors stop a study: Keras refusing a sampled model is the values'
    doing as far as modelspec can tell (here groups=2 and 3 channels, for each)."""
    text = """\
modelspec: 1
name: groups
inputs: [{name: x, shape: [8, 8, 3]}]
layers:
  - {name: c, type: Conv2D, filters: {tune: int, low: 4, high: 12, step: 4}, kernel_size: 3, groups: 2}
  - {name: f, type: Flatten}
  - {name: y, type: Dense, units: 1}
outputs: [y]
compile: {optimizer: adam, loss: mse}
train: {data: {source: sklearn, name: diabetes}, epochs: 1, verbose: 0}
tune: {sampler: grid, pruner: none}
"""
    result = CliRunner().invoke(main, ["tune", write_spec(text), "--study", "study"])
    assert result.exit_code == 0, result.output
    rows = trials_of(tmp_path / "study")
    assert [r["state"] for r in rows] == ["FAIL"] * 3
    assert sorted(r["c.filters"] for r in rows) == ["12", "4", "8"]
    assert len({r["error"] for r in rows}) == 1 and "divisible" in rows[0]["error"]


def test_hostile_study_places_are_refused_in_one_line(write_spec: Any) -> None:
    import optuna

    path = write_spec(TUNED)
    quiet = {"trials": 1, "echo": lambda line: None}
    # an empty --storage opened STUDY/study.db without making the folder: "unable to open"
    with pytest.raises(TuneError) as err:
        tune(path, storage="", **quiet)  # type: ignore[arg-type]
    assert str(err.value) == (
        "expected a database URL Optuna supports (postgresql://user@host/db). Received: "
        "--storage ''. Leave --storage out to keep the study in STUDY/study.db"
    )
    # another spec's study in the folder: the trials failed on its trial-0000, and
    # trials.csv and best.yaml were overwritten
    Path("s").mkdir()
    optuna.create_study(study_name="other", storage="sqlite:///s/study.db")
    with pytest.raises(TuneError) as err:
        tune(path, study_dir="s", **quiet)  # type: ignore[arg-type]
    assert str(err.value) == (
        "the study folder s holds the study 'other' (of a spec named so): its trial runs, "
        "trials.csv and best.yaml would mix with this one's. Received: a spec named 'tuned'. "
        "Use another --study folder"
    )
    # a study in memory: a second run's trials all failed on trial-0000 of the first,
    # and workers each ran every trial; and a folder of another storage's trial runs
    for memory in ("sqlite://", "sqlite:///:memory:"):
        with pytest.raises(TuneError) as err:
            tune(path, storage=memory, **quiet)  # type: ignore[arg-type]
        assert str(err.value) == (
            "expected a database that outlives the command: a study is continued, and shared "
            f"by workers, through it. Received: --storage {memory} (in memory). Leave "
            "--storage out to keep the study in STUDY/study.db"
        )
    Path("s/trial-0000").mkdir()
    with pytest.raises(TuneError) as err:
        tune(path, study_dir="s", storage="sqlite:///new.db", **quiet)  # type: ignore[arg-type]
    assert str(err.value) == (
        "the study folder s holds trial runs (trial-0000...) of a study that is not in "
        "sqlite:///new.db: this study's trials would clash with them. Use another --study "
        "folder, or the --storage that study is in"
    )
    # a folder name that is not UTF-8: every trial failed in Keras, then a traceback
    odd = os.fsdecode(b"n\xff")
    with pytest.raises(TuneError, match=r"^expected a study folder whose path is UTF-8 text "):
        tune(path, study_dir=odd, **quiet)  # type: ignore[arg-type]
    assert not Path("studies").exists() and not Path(odd).exists()


def test_a_sampler_seed_stays_in_numpy_range(write_spec: Any, tmp_path: Path) -> None:
    from modelspec.spec.spaces import Space
    from modelspec.tuning.study import Settings, open_study

    settings = Settings("s", "val_loss", "minimize", 2, "random", "none", 2**32 - 1, 1)
    space = Space(("u",), "u", "int", low=1, high=4, default=1)
    # worker 3's seed was 2**32 - 1 + 3000: "Seed must be between 0 and 2**32 - 1"
    study, _ = open_study(settings, tmp_path / "s", None, [space], worker=3)
    assert study.sampler._rng.rng.randint(0, 10) in range(10)


def test_cli_starts_no_more_workers_than_trials_left(
    write_spec: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelspec.cli import tune as cli_tune

    started: list[int] = []

    def launch(argv: list[str], workers: int) -> int:
        started.append(workers)
        return 0

    monkeypatch.setattr(cli_tune, "_launch", launch)
    args = ["tune", write_spec(TUNED), "--study", "s", "--trials", "2", "--workers", "100000"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert started == [2]  # not 100,000 processes loading Keras
    assert "note: --workers 100000: the study has 2 trial(s) left to run, so 2 worker(s) " in (
        result.output
    )
