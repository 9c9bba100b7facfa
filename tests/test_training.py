"""Training, evaluation and prediction end to end (modelspec.training, the CLI verbs)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from modelspec import (
    RunError,
    SpecError,
    build_model,
    evaluate,
    load_model,
    predict,
    train,
    validate_spec,
)
from modelspec.cli import main
from modelspec.training import read_history

from .conftest import ROOT, SMALL

DEFAULT = ROOT / "specs" / "antirectifier_digits.yaml"


def history_rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "history.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_train_writes_a_complete_run_directory(
    write_spec: Callable[..., str], tmp_path: Path
) -> None:
    spec = write_spec(SMALL)
    result = train(spec, overrides=["train.epochs=4"], out_dir=tmp_path / "runs")
    run = result.run_dir
    assert run.parent == tmp_path / "runs" and run.name.startswith("small-")
    names = {p.name for p in run.iterdir()}
    assert {"spec.yaml", "run.json", "model.keras", "best.keras", "history.csv",
            "metrics.json", "curves.png", "logs"} <= names  # fmt: skip
    assert not [n for n in names if n.startswith(".")], "temporary files left behind"
    assert [r["epoch"] for r in history_rows(run)] == ["0", "1", "2", "3"]
    assert len(result.history["loss"]) == len(result.history["val_loss"]) == 4
    assert result.history["loss"][-1] < result.history["loss"][0]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics == pytest.approx(result.metrics)
    assert set(metrics) == {"loss", "accuracy"} and metrics["accuracy"] > 0.8
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((run / "logs").rglob("events.out.tfevents*"))
    resolved = (run / "spec.yaml").read_text()
    assert "--set train.epochs=4" in resolved.splitlines()[0]
    assert "epochs: 4" in resolved
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "done" and meta["overrides"] == ["train.epochs=4"]
    # the saved model is the trained one
    x = np.random.default_rng(0).random((5, 64), dtype="float32")
    np.testing.assert_allclose(load_model(run / "model.keras").predict(x, verbose=0),
                               result.model.predict(x, verbose=0), atol=1e-6)  # fmt: skip


@pytest.mark.backends  # make test runs it on JAX and PyTorch too
def test_evaluate_and_predict_a_run(write_spec: Callable[..., str], tmp_path: Path) -> None:
    spec = write_spec(SMALL)
    result = train(spec, out_dir=tmp_path / "runs")
    # the same seeded test split as training
    assert evaluate(result.run_dir) == pytest.approx(result.metrics, rel=1e-5)
    assert set(evaluate(result.run_dir / "model.keras", spec=spec)) == {"loss", "accuracy"}
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    np.savez(tmp_path / "new.npz", x=x[:50], y=y[:50])
    out = predict(result.run_dir, tmp_path / "new.npz", output=tmp_path / "pred.npz")
    (probs,) = out.values()
    assert probs.shape == (50, 10)
    # the model divides by 16 itself (its pixels_divide_by layer): it takes the raw inputs
    direct = result.model.predict(x[:50].astype("float32"), verbose=0)
    np.testing.assert_allclose(probs, direct, atol=1e-5)
    with np.load(tmp_path / "pred.npz") as saved:
        np.testing.assert_allclose(saved[next(iter(saved.files))], probs)
    whole = evaluate(result.run_dir, data=tmp_path / "new.npz")
    assert whole["accuracy"] == pytest.approx(np.mean(direct.argmax(1) == y[:50]), abs=1e-6)


def test_evaluate_on_a_file_ignores_what_training_monitors(
    write_spec: Callable[..., str], tmp_path: Path
) -> None:
    """A file has no validation split: the spec's val_* monitors do not apply to it
    (they made evaluate --data refuse the spec)."""
    spec = write_spec(
        SMALL.replace("  epochs: 3\n", "  epochs: 1\n  monitor: val_accuracy\n")
        + "  callbacks: [{type: early_stopping, monitor: val_loss}]\n"
    )
    result = train(spec, out_dir=tmp_path / "runs")
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    np.savez(tmp_path / "new.npz", x=x[:40], y=y[:40])
    direct = result.model.predict(x[:40].astype("float32"), verbose=0)
    expected = np.mean(direct.argmax(1) == y[:40])
    for source in (result.run_dir, result.run_dir / "model.keras"):
        scores = evaluate(source, spec=spec, data=tmp_path / "new.npz")
        assert scores["accuracy"] == pytest.approx(expected, abs=1e-6)


def test_registered_loss_by_name_trains(tmp_path: Path) -> None:
    spec = str(ROOT / "specs" / "custom_loss.yaml")
    result = train(spec, overrides={"train.epochs": 1, "train.verbose": 0}, out_dir=tmp_path)
    assert result.model.loss.__name__ == "max_penalty_crossentropy"  # type: ignore[union-attr]
    assert "categorical_accuracy" in result.metrics


def test_callbacks_by_name_with_arguments(write_spec: Callable[..., str], tmp_path: Path) -> None:
    callbacks = (
        "  epochs: 30\n  callbacks:\n"
        "    - {type: early_stopping, monitor: loss, patience: 0, min_delta: 10}\n"
        "    - {type: ReduceLROnPlateau, patience: 1}\n"
        "    - {type: terminate_on_nan}\n"
    )
    spec = write_spec(SMALL.replace("  epochs: 3\n", callbacks))
    result = train(spec, out_dir=tmp_path)
    assert len(result.history["loss"]) == 2  # stopped: no epoch improves the loss by 10
    assert (result.epochs, result.stopped_early) == (30, "loss did not improve for 1 epoch")
    code, out = run("train", spec, "--out", str(tmp_path / "cli"))
    assert code == 0, out
    assert "epochs: 2 of 30, stopped early: loss did not improve for 1 epoch (best " in out


def test_run_file_callbacks_take_their_arguments_without_a_path(
    write_spec: Callable[..., str], tmp_path: Path
) -> None:
    callbacks = (
        "  callbacks:\n"
        "    - {type: model_checkpoint, save_best_only: false, save_freq: 5}\n"
        "    - {type: backup_and_restore, save_freq: false}\n"
        "    - {type: tensorboard, update_freq: batch}\n"
    )
    spec = write_spec(SMALL + callbacks)
    result = train(spec, out_dir=tmp_path)
    assert (result.run_dir / "best.keras").is_file()  # saved every 5 batches, not on val_loss
    assert not (result.run_dir / "backup").exists()  # save_freq false: no backups
    assert list((result.run_dir / "logs" / "train").iterdir())


def test_files_a_spec_names_for_writing_stay_inside_the_run_directory(
    write_spec: Callable[..., str], tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")
    callbacks = "  callbacks:\n    - {type: backup_and_restore, backup_dir: ../../victim}\n"
    spec = write_spec(SMALL + callbacks)
    with pytest.raises(SpecError, match=r"spec.yaml:22:46: train.callbacks\[0\].backup_dir"):
        train(spec, out_dir=tmp_path / "runs")
    assert (victim / "keep.txt").read_text() == "mine"
    assert not (tmp_path / "runs").exists()  # refused before any run directory is made


def test_a_symlink_out_of_a_resumed_run_is_refused(
    write_spec: Callable[..., str], tmp_path: Path
) -> None:
    result = train(write_spec(SMALL), out_dir=tmp_path / "runs", epochs=1)
    outside = tmp_path / "outside"
    outside.mkdir()
    logs = result.run_dir / "logs"
    for path in sorted(logs.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    logs.rmdir()
    logs.symlink_to(outside)  # TensorBoard would write through it
    with pytest.raises(SpecError) as err:
        train(resume=result.run_dir, epochs=2)
    assert "train: expected a path inside the run directory" in str(err.value)
    assert "Received: log_dir='logs', which leads out of it (through a symlink?)" in str(err.value)
    assert list(outside.iterdir()) == []


TWO_OUTPUTS = """\
modelspec: 1
name: two
inputs:
  - {name: x, shape: [4]}
layers:
  - {name: a, type: Dense, units: 3, activation: softmax}
  - {name: b, type: Dense, units: 1, inputs: x, add_loss: {weight: 0.01}}
"""


@pytest.mark.parametrize(
    ("outputs", "compile_"),
    [
        (
            "[a]",
            "{loss: sparse_categorical_crossentropy, metrics: [acc, SparseTopKCategoricalAccuracy]}",
        ),
        ("[a, b]", "{loss: [ce, mse], metrics: [acc, mae]}"),
        ("{cls: a, reg: b}", "{loss: {cls: ce, reg: mse}, metrics: {reg: [mae, mse]}}"),
        ("{cls: a, reg: b}", "{loss: {cls: ce}, metrics: {cls: [Accuracy]}}"),
        ("{cls: a}", "{loss: {cls: ce}, metrics: {cls: [acc]}}"),
    ],
)
def test_validation_knows_the_names_training_logs(
    outputs: str, compile_: str, write_spec: Callable[..., str], tmp_path: Path
) -> None:
    from modelspec.spec.validate.compile import logged_names

    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "d.npz", x=rng.random((40, 4)), cls=rng.integers(0, 3, 40), reg=rng.random(40)
    )
    targets = "{a: cls, b: reg}" if "[" in outputs else "{cls: cls, reg: reg}"
    if outputs in ("[a]", "{cls: a}"):
        targets = "{a: cls}" if outputs == "[a]" else "{cls: cls}"
    spec = write_spec(
        TWO_OUTPUTS
        + f"outputs: {outputs}\ncompile: {compile_}\ntrain:\n"
        + f"  data: {{source: npz, path: d.npz, targets: {targets}}}\n  epochs: 1\n  verbose: 0\n"
    )
    loaded = validate_spec(spec)
    assert loaded.ok, [d.format() for d in loaded.diagnostics]
    predicted = logged_names(loaded.spec.document.data)  # type: ignore[union-attr]
    history = train(spec, out_dir=tmp_path / "runs").history
    assert predicted is not None
    assert set(history) == predicted | {f"val_{n}" for n in predicted}


def test_runs_started_in_the_same_second_get_their_own_directories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime as real

    from modelspec import rundir

    class Frozen(real.datetime):
        @classmethod
        def now(cls, tz: real.tzinfo | None = None) -> Frozen:
            return cls(2026, 12, 1, 9, 0, 0)

    monkeypatch.setattr(rundir.datetime, "datetime", Frozen)
    (tmp_path / "m-20261201-090000").mkdir()
    (tmp_path / "m-20261201-090000-2").mkdir()
    # another process claims the next name between a check and the mkdir
    monkeypatch.setattr(Path, "exists", lambda self: False)
    made = rundir.new_run_dir(tmp_path, "m")
    assert made.name == "m-20261201-090000-3"


@pytest.mark.parametrize("folder", [".", "logs"])
def test_a_backup_folder_shared_with_other_files_loses_none_of_them(
    folder: str, write_spec: Callable[..., str], tmp_path: Path
) -> None:
    callbacks = f"  callbacks: [{{type: backup_and_restore, backup_dir: '{folder}'}}]\n"
    result = train(write_spec(SMALL + callbacks), out_dir=tmp_path)
    names = {p.name for p in result.run_dir.iterdir()}
    assert {"spec.yaml", "run.json", "model.keras", "best.keras", "history.csv", "logs"} <= names
    assert list((result.run_dir / "logs" / "train").iterdir())  # TensorBoard's files stay
    assert not list(result.run_dir.rglob("state.json")) and not list(
        result.run_dir.rglob("epoch-*")
    )


def test_a_checkpoint_name_with_fields_gets_each_best_epoch(
    write_spec: Callable[..., str], tmp_path: Path
) -> None:
    callbacks = "  callbacks: [{type: model_checkpoint, filepath: 'best-{epoch:02d}.keras', monitor: loss}]\n"
    result = train(write_spec(SMALL + callbacks), out_dir=tmp_path)
    assert sorted(p.name for p in result.run_dir.glob("best-*.keras")) == [
        "best-01.keras",
        "best-02.keras",
        "best-03.keras",
    ]  # the training loss falls every epoch


def test_training_without_a_train_section_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="has no `train:` section"):
        train(ROOT / "specs" / "siamese.yaml", out_dir=tmp_path)
    with pytest.raises(RunError, match="expected a run directory made by `modelspec train`"):
        train(resume=tmp_path)


def test_resume_continues_a_killed_run_from_its_last_epoch(
    write_spec: Callable[..., str], tmp_path: Path
) -> None:
    # small batches make epochs long enough to be killed in the middle of one
    spec = write_spec(SMALL.replace("batch_size: 64", "batch_size: 2").replace("epochs: 3", "epochs: 4")
                      .replace("verbose: 0", "verbose: 2"))  # fmt: skip
    out = tmp_path / "runs"
    cmd = [sys.executable, "-m", "modelspec", "train", spec, "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    run_dir = None
    while time.monotonic() < deadline:
        runs = list(out.glob("small-*"))
        if runs and (runs[0] / "history.csv").exists() and len(history_rows(runs[0])) >= 2:
            run_dir = runs[0]
            break
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.05)
    assert run_dir is not None, "training never reached its second epoch"
    time.sleep(0.2)  # into the next epoch
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(history_rows(run_dir))
    assert 2 <= done < 4
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"
    assert not (run_dir / "model.keras").exists()

    resumed = subprocess.run(
        [sys.executable, "-m", "modelspec", "train", "--resume", str(run_dir)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    epochs_run = [
        line.split()[1] for line in resumed.stdout.splitlines() if line.startswith("Epoch ")
    ]
    assert epochs_run[0] == f"{done + 1}/4", "resume must start after the last completed epoch"
    assert epochs_run[-1] == "4/4"
    assert [r["epoch"] for r in history_rows(run_dir)] == [str(i) for i in range(4)]
    assert json.loads((run_dir / "run.json").read_text())["status"] == "done"
    assert (run_dir / "model.keras").exists() and (run_dir / "metrics.json").exists()


def test_ctrl_c_records_the_run_and_prints_how_to_resume_it(
    write_spec: Callable[..., str], tmp_path: Path
) -> None:
    spec = write_spec(
        SMALL.replace("batch_size: 64", "batch_size: 4").replace("epochs: 3", "epochs: 4")
    )
    out = tmp_path / "runs"
    cmd = [sys.executable, "-m", "modelspec", "train", spec, "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        runs = list(out.glob("small-*"))
        if runs and (runs[0] / "history.csv").exists():
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    run_dir = next(out.glob("small-*"))
    assert proc.returncode == 130, stderr
    assert stderr.rstrip().endswith(
        f"interrupted: {run_dir} keeps the completed epochs. Resume with "
        f"`modelspec train --resume {run_dir}`."
    ), stderr
    assert "Traceback" not in stderr and "Aborted!" not in stderr
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "interrupted" and "stopped" in meta

    code, output = run("train", "--resume", str(run_dir))
    assert code == 0, output
    assert json.loads((run_dir / "run.json").read_text())["status"] == "done"
    rows = history_rows(run_dir)
    code, output = run("train", "--resume", str(run_dir))  # nothing left to do
    assert code == 0, output
    assert output.startswith(
        f"run {run_dir} already finished its 4 epochs: nothing to resume "
        "(give --epochs N to train it further)."
    )
    assert "Epoch" not in output and history_rows(run_dir) == rows
    code, output = run("train", "--resume", str(run_dir), "--epochs", "6")  # train it further
    assert code == 0, output
    further = history_rows(run_dir)
    assert further[:4] == rows and [r["epoch"] for r in further[4:]] == ["4", "5"]
    assert "epochs: 6 (best val_loss" in output
    assert not (run_dir / "backup").exists()


def test_overrides_and_epochs_are_recorded_so_the_run_can_be_repeated(
    write_spec: Callable[..., str], tmp_path: Path
) -> None:
    spec = write_spec(SMALL)
    result = train(spec, overrides=["description=two words"], epochs=1, out_dir=tmp_path)
    meta = json.loads((result.run_dir / "run.json").read_text())
    assert meta["overrides"] == ["description=two words", "train.epochs=1"]
    head = (result.run_dir / "spec.yaml").read_text().splitlines()[0]
    assert head.endswith("from spec.yaml with --set 'description=two words' --set train.epochs=1")


def test_a_run_that_fails_in_fit_is_recorded_and_reported_in_one_message(
    write_spec: Callable[..., str], tmp_path: Path
) -> None:
    # AUC is a valid metric, but not for sparse labels of 10 classes: Keras fails in fit
    spec = write_spec(SMALL.replace("metrics: [accuracy]", "metrics: [AUC]"))
    code, output = run("train", spec, "--out", str(tmp_path))
    run_dir = next(tmp_path.glob("small-*"))
    assert code == 1
    assert output.startswith("Error: training failed: InvalidArgumentError: "), output
    assert output.rstrip().endswith(
        f"The run directory {run_dir} keeps the completed epochs: fix the cause, then "
        f"resume with `modelspec train --resume {run_dir}`."
    )
    assert "Traceback" not in output
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "failed" and meta["error"].startswith("InvalidArgumentError: ")


KILL_AT = """
import os, signal, sys
import keras
from modelspec import train
from modelspec.training import fit, resume

moment, spec, out = sys.argv[1:4]
calls = []


def die(path=None):
    if path is not None:
        with open(path, "wb") as f:
            f.write(b"half a file")  # killed in the middle of writing it
    os.kill(os.getpid(), signal.SIGKILL)


real_save, real_write = keras.Model.save, resume.write_text


def save(self, path, *args, **kwargs):
    name = os.path.basename(str(path))
    kind = "best" if name == ".best.pending.keras" else "epoch" if ".epoch-" in name else ""
    calls.append(kind)
    if moment == f"writing-{kind}" and calls.count(kind) == 2:
        die(path)
    return real_save(self, path, *args, **kwargs)


def write_text(path, text):
    real_write(path, text)
    calls.append(os.path.basename(str(path)))
    if moment == "after-commit" and calls.count("state.json") == 2:
        die()


def link(*args):
    raise OSError("no hard links here")  # every epoch writes its own checkpoint


keras.Model.save, resume.write_text = save, write_text
if moment == "writing-epoch":
    resume.os.link = link
if moment == "after-fit":
    fit._evaluate = lambda *args: die()
train(spec, out_dir=out)
"""


@pytest.mark.parametrize("moment", ["writing-best", "writing-epoch", "after-commit", "after-fit"])
def test_a_run_killed_at_any_moment_resumes_exactly(
    moment: str, write_spec: Callable[..., str], tmp_path: Path
) -> None:
    from modelspec import build_model, load_spec
    from modelspec.data import load_data, to_dataset

    spec = write_spec(SMALL.replace("epochs: 3", "epochs: 4").replace("verbose: 0", "verbose: 2"))
    out = tmp_path / "runs"
    killed = subprocess.run(
        [sys.executable, "-c", KILL_AT, moment, spec, str(out)], capture_output=True, text=True
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run_dir = next(out.glob("small-*"))
    committed = json.loads((run_dir / "backup" / "state.json").read_text())["epoch"]
    assert committed == (4 if moment == "after-fit" else 2 if moment == "after-commit" else 1)

    code, output = run("train", "--resume", str(run_dir))
    assert code == 0, output
    epochs_run = [line.split()[1] for line in output.splitlines() if line.startswith("Epoch ")]
    assert epochs_run == [f"{e}/4" for e in range(committed + 1, 5)]  # only what was not done
    rows = history_rows(run_dir)
    assert [r["epoch"] for r in rows] == ["0", "1", "2", "3"]  # each epoch exactly once
    assert json.loads((run_dir / "run.json").read_text())["status"] == "done"
    assert not (run_dir / "backup").exists()
    # best.keras is the model of the epoch with the best val_loss
    loaded = load_spec(spec)
    best = build_model(loaded)
    best.load_weights(run_dir / "best.keras")
    validation = load_data(loaded, "data").validation  # transformed, as the graph takes them
    assert validation is not None
    val_loss = best.evaluate(to_dataset(validation, batch_size=64), verbose=0, return_dict=True)
    assert val_loss["loss"] == pytest.approx(min(float(r["val_loss"]) for r in rows), rel=1e-4)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_model_files_that_cannot_be_loaded_are_one_line_errors(tmp_path: Path) -> None:
    import keras

    inputs = keras.Input((3,))
    keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs)).save(tmp_path / "lam.keras")
    keras.Model(inputs, keras.layers.Dense(2)(inputs)).save(tmp_path / "ok.keras")
    whole = (tmp_path / "ok.keras").read_bytes()
    (tmp_path / "cut.keras").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "text.keras").write_text("not a model")
    np.savez(tmp_path / "x.npz", x=np.zeros((2, 3), np.float32))
    expected = {
        "lam": f"Error: {tmp_path / 'lam.keras'} cannot be loaded in Keras safe mode, the only way "
        "modelspec loads models: Requested the deserialization of a `Lambda` layer whose "
        "`function` is a Python lambda. Rebuild the model without it (register a custom "
        "layer instead of a Lambda).",
        "cut": f"Error: expected a .keras file (a zip archive). Received: {tmp_path / 'cut.keras'}, "
        "which is not one: cut short while being written, or another format. Save or "
        "export it again.",
    }
    expected["text"] = expected["cut"].replace("cut.keras", "text.keras")
    for name, message in expected.items():
        model = str(tmp_path / f"{name}.keras")
        for args in (
            [
                "predict",
                model,
                "--input",
                str(tmp_path / "x.npz"),
                "--output",
                str(tmp_path / "y.npz"),
            ],
            ["evaluate", model, "--spec", str(ROOT / "specs" / "antirectifier_digits.yaml")],
            ["export", model, "-f", "keras", "-o", str(tmp_path / "out.keras")],
        ):
            code, output = run(*args)
            assert (code, output.strip()) == (1, message), args


def test_predict_reports_inputs_of_the_wrong_shape(tmp_path: Path) -> None:
    from modelspec import build_model

    build_model(ROOT / "specs" / "antirectifier_digits.yaml").save(tmp_path / "m.keras")
    np.savez(tmp_path / "x.npz", pixels=np.zeros((2, 63), np.float32))
    code, output = run(
        "predict", str(tmp_path / "m.keras"), "--input", str(tmp_path / "x.npz"),
        "--output", str(tmp_path / "y.npz"),
    )  # fmt: skip
    assert code == 1
    assert output.splitlines()[0] == (
        f"{tmp_path / 'x.npz'}: expected arrays of per-sample shape (64,) for the model input "
        "'pixels' (the batch dimension excluded). Received: (63,). Transform them in "
        "train.data: `transform: {pixels: [{reshape: [...]}]}`, or change the input's shape"
    )
    assert "Traceback" not in output


def test_cli_summary_reports_the_monitored_quantity(
    write_spec: Callable[..., str], tmp_path: Path
) -> None:
    """The summary said `best val_loss` whatever train.monitor chose best.keras by."""
    spec = write_spec(SMALL)
    args = ["train", spec, "--out", str(tmp_path / "runs"), "--set", "train.monitor=val_accuracy"]
    code, out = run(*args)
    assert code == 0, out
    run_dir = next((tmp_path / "runs").glob("small-*"))
    values = read_history(run_dir)["val_accuracy"]
    best = int(np.argmax(values))
    assert f"(best val_accuracy {values[best]:.4f} at epoch {best + 1})" in out


def test_cli_train_evaluate_predict(write_spec: Callable[..., str], tmp_path: Path) -> None:
    spec = write_spec(SMALL)
    code, out = run(
        "train",
        spec,
        "--out",
        str(tmp_path / "runs"),
        "--epochs",
        "2",
        "--set",
        "train.batch_size=32",
    )
    assert code == 0, out
    run_dir = next((tmp_path / "runs").glob("small-*"))
    assert f"run: {run_dir}" in out
    assert "epochs: 2 (best val_loss " in out
    assert "test: loss " in out and "accuracy " in out
    assert (
        "files: best.keras curves.png history.csv logs/ metrics.json model.keras run.json spec.yaml"
        in out
    )
    code, out = run("evaluate", str(run_dir))
    assert code == 0, out
    assert out.splitlines()[0].startswith("loss: ") and out.splitlines()[1].startswith("accuracy: ")
    assert out.splitlines()[2] == (
        "evaluated on the test split of the spec's data: 360 rows"
    )  # raw: the model has the spec's transform (divide_by) as a layer
    from modelspec import read_provenance

    for saved in ("model.keras", "best.keras"):
        record = read_provenance(run_dir / saved)
        assert record["source"] == str(run_dir / "spec.yaml")
        assert record["spec"] == (run_dir / "spec.yaml").read_text(encoding="utf-8")
    assert load_model(run_dir / "best.keras").name == "small"
    np.savez(tmp_path / "in.npz", x=np.zeros((3, 64)))
    code, out = run(
        "predict",
        str(run_dir),
        "--input",
        str(tmp_path / "in.npz"),
        "--output",
        str(tmp_path / "p.csv"),
    )
    assert code == 0, out
    assert out == f"probs: 3 predictions, shape (10,)\nwrote {tmp_path / 'p.csv'}\n"
    assert (tmp_path / "p.csv").read_text().splitlines()[0].startswith("probs_0,")


def test_cli_train_errors(write_spec: Callable[..., str], tmp_path: Path) -> None:
    spec = write_spec(SMALL.replace("name: digits", "name: digitz"))
    code, out = run("train", spec, "--out", str(tmp_path))
    assert code == 1
    assert (
        "spec.yaml:16:11: train.data.name: unknown sklearn dataset 'digitz'. Did you mean 'digits'?"
        in out
    )
    code, out = run("train", "--resume", str(tmp_path))
    assert code == 2 and "expected a run directory made by `modelspec train`" in out
    code, out = run("train")
    assert code == 2 and "give a SPEC to train, or --resume RUN_DIR" in out
    code, out = run("train", write_spec(SMALL, "ok.yaml"), "--set", "train.epochs")
    assert code == 2 and "expected key.path=value" in out
    assert not list(tmp_path.glob("small-*")), "a failed start leaves no run directory"


def test_seed_makes_training_reproducible(write_spec: Callable[..., str], tmp_path: Path) -> None:
    spec = write_spec(SMALL.replace("epochs: 3", "epochs: 1"))
    a = train(spec, out_dir=tmp_path / "a")
    b = train(spec, out_dir=tmp_path / "b")
    assert a.history["loss"] == pytest.approx(b.history["loss"], rel=1e-5)


OFFLINE_TRAINABLE = [
    p for p in sorted((ROOT / "specs").glob("*.yaml"))
    if "source: sklearn" in p.read_text()
]  # fmt: skip


@pytest.mark.parametrize("path", OFFLINE_TRAINABLE, ids=lambda p: p.stem)
def test_every_offline_spec_trains_an_epoch(path: Path, tmp_path: Path) -> None:
    result = train(path, overrides=["train.epochs=1", "train.verbose=0"], out_dir=tmp_path)
    assert len(result.history["loss"]) == 1
    assert np.isfinite(result.metrics["loss"])
    assert (result.run_dir / "model.keras").exists()


def test_progress_is_a_line_per_epoch_unless_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from modelspec.training.fit import progress

    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    assert (progress(None), progress(1), progress(0)) == (2, 1, 0)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert progress(None) == 1


def test_a_run_trained_further_and_interrupted_keeps_every_epoch(
    write_spec: Callable[..., str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keras

    from modelspec.errors import RunInterrupted

    result = train(write_spec(SMALL.replace("epochs: 3", "epochs: 2")), out_dir=tmp_path)
    run_dir, rows = result.run_dir, history_rows(result.run_dir)
    fit = keras.Model.fit

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # killed before the first new epoch ends

    monkeypatch.setattr(keras.Model, "fit", interrupted)
    with pytest.raises(RunInterrupted):
        train(resume=run_dir, epochs=4)
    assert history_rows(run_dir) == rows  # nothing lost
    monkeypatch.setattr(keras.Model, "fit", fit)
    again = train(resume=run_dir)  # the interrupted extension resumes where it stood
    assert history_rows(run_dir)[:2] == rows and len(again.history["loss"]) == 4


def test_ctrl_c_stops_between_steps_and_twice_at_once() -> None:
    from modelspec.training.fit import _between_steps

    before = signal.getsignal(signal.SIGINT)
    with _between_steps() as interrupt:
        os.kill(os.getpid(), signal.SIGINT)  # the first: noted, training goes on to the step's end
        time.sleep(0.1)
        assert interrupt.requested
        with pytest.raises(KeyboardInterrupt):
            interrupt.on_train_batch_end(0)
        with pytest.raises(KeyboardInterrupt):  # the second: at once
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    assert signal.getsignal(signal.SIGINT) is before


def test_predict_on_a_bare_model_file_says_to_give_the_spec(tmp_path: Path) -> None:
    """A .keras file alone cannot map a file's columns onto its inputs: the error says so."""
    model = build_model(ROOT / "specs" / "siamese.yaml")
    model.save(tmp_path / "m.keras")
    np.savez(tmp_path / "rows.npz", x=np.zeros((2, 64), "float32"))
    with pytest.raises(RunError) as err:
        predict(tmp_path / "m.keras", tmp_path / "rows.npz")
    names = ", ".join(t.name for t in model.inputs)
    assert str(err.value) == (
        f"expected arrays for the model inputs {names}; missing {names}. Received: x. "
        "Give the spec (--spec SPEC, or predict from the run directory): its "
        "train.data.inputs map files onto the inputs."
    )
