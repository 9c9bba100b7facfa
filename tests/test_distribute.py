"""``train.distribute``: validation, the multi-process flags, and JAX runs of two
processes on the loopback address (modelspec.training.distribute, modelspec.cli.workers).

The JAX runs are subprocesses (the suite runs on TensorFlow); each is a few epochs
of the antirectifier spec on digits.
"""

from __future__ import annotations

import glob
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelspec import validate_spec
from modelspec.cli import main
from modelspec.cli.workers import _spec_data, died
from modelspec.spec.jsonschema import spec_json_schema

from .conftest import ROOT

SPEC = """\
modelspec: 1
name: m
{backend}inputs:
  - {{name: x, shape: [64]}}
layers:
  - {{name: out, type: Dense, units: 10, activation: softmax}}
outputs: [out]
compile: {{loss: sparse_categorical_crossentropy}}
train:
  data: {{source: sklearn, name: digits}}
  distribute: {value}
"""
ANTI = str(ROOT / "specs" / "antirectifier_digits.yaml")
#: 2 epochs, data parallel, no export: the runs of the subprocess tests.
SETS = [
    "--set",
    "train.epochs=2",
    "--set",
    "export=null",
    "--set",
    "train.distribute=data_parallel",
    "--set",
    "train.callbacks=[]",
]


def lines(text: str) -> list[str]:
    return [d.format() for d in validate_spec(text).diagnostics]


@pytest.mark.parametrize("value", ["data_parallel", "none", "{type: data_parallel}"])
def test_distribute_values_validate(value: str) -> None:
    assert lines(SPEC.format(backend="", value=value)) == []


@pytest.mark.parametrize(
    ("backend", "value", "expected"),
    [
        (
            "",
            "data_paralel",
            "<string>:11:15: train.distribute: expected data_parallel, none, or "
            "{type: data_parallel}. Received: 'data_paralel'. Did you mean 'data_parallel'?",
        ),
        (
            "",
            "{type: model_paralel}",
            "<string>:11:22: train.distribute.type: expected data_parallel, model_parallel "
            "or none. Received: 'model_paralel'. Did you mean 'model_parallel'?",
        ),
        (
            "",
            "{type: data_parallel, devices: 2}",
            "<string>:11:37: train.distribute.devices: unknown key 'devices'.",
        ),
        (
            "",
            "true",
            "<string>:11:15: train.distribute: expected data_parallel, none, or "
            "{type: data_parallel}. Received: distribute=True",
        ),
        (
            "backend: torch\n",
            "{type: data_parallel}",
            "<string>:12:15: train.distribute: expected the jax or tensorflow backend for "
            "data_parallel. Received: backend: torch (modelspec distributes training "
            "through Keras's distribution API, which PyTorch lacks). Use `backend: jax` "
            "(devices, processes and hosts) or `backend: tensorflow` (the devices of one "
            "process).",
        ),
    ],
)
def test_bad_distribute_is_reported_at_its_line(backend: str, value: str, expected: str) -> None:
    assert lines(SPEC.format(backend=backend, value=value)) == [expected]


MODEL_PARALLEL = """\
modelspec: 1
name: mp
{backend}inputs: [{{name: x, shape: [64]}}]
layers:
  - {{name: dense_1, type: Dense, units: 32, activation: relu}}
  - {{name: out, type: Dense, units: 10, activation: softmax}}
outputs: [out]
compile: {{loss: sparse_categorical_crossentropy, metrics: [accuracy]}}
train:
  data: {{source: sklearn, name: digits}}
  batch_size: 64
  distribute:
{distribute}
"""
GOOD_MP = """\
    type: model_parallel
    mesh: {shape: [1, 2], axes: [batch, model]}
    layout: {dense_1/kernel: [null, model], dense_1/bias: [model]}"""


def test_model_parallel_validates() -> None:
    assert lines(MODEL_PARALLEL.format(backend="backend: jax\n", distribute=GOOD_MP)) == []


@pytest.mark.parametrize(
    ("backend", "distribute", "expected"),
    [
        (
            "backend: tensorflow\n",
            GOOD_MP,
            "<string>:14:11: train.distribute.type: expected the jax backend for "
            "model_parallel. Received: backend: tensorflow (Keras's ModelParallel and "
            "LayoutMap run on JAX). Use `backend: jax`.",
        ),
        (
            "backend: jax\n",
            "    type: model_parallel",
            "<string>:14:5: train.distribute: missing required keys 'mesh' and 'layout' "
            "(model_parallel needs a device mesh and a layout of variables over its axes)",
        ),
        (
            "backend: jax\n",
            GOOD_MP.replace("[batch, model]", "[batch]"),
            "<string>:15:33: train.distribute.mesh.axes: expected one axis name per mesh "
            "dimension (2). Received: 1 (batch)",
        ),
        (
            "backend: jax\n",
            GOOD_MP.replace("[null, model]", "[null, modl]"),
            "<string>:16:37: train.distribute.layout.dense_1/kernel[1]: unknown mesh axis "
            "'modl' (the mesh has batch, model; null leaves a dimension whole). Did you "
            "mean 'model'?",
        ),
        (
            "backend: jax\n",
            GOOD_MP.replace("dense_1/bias", "'dense_1/bias('"),
            "<string>:16:45: train.distribute.layout.dense_1/bias(: expected a regular "
            "expression. Received: 'dense_1/bias(' (missing ), unterminated subpattern at "
            "position 12)",
        ),
        (
            "",
            "    type: data_parallel\n    mesh: {shape: [2], axes: [batch]}",
            "<string>:14:5: train.distribute.mesh: `mesh` is for type: model_parallel. "
            "Received: type: 'data_parallel'. Remove `mesh`, or use type: model_parallel.",
        ),
        (
            "backend: jax\n",
            GOOD_MP.replace("shape: [1, 2]", "shape: [0, 2]"),
            "<string>:15:20: train.distribute.mesh.shape[0]: expected a list of positive "
            "integers (the devices along each axis). Received: shape=[0, 2]",
        ),
    ],
)
def test_bad_model_parallel_is_reported_at_its_line(
    backend: str, distribute: str, expected: str
) -> None:
    assert lines(MODEL_PARALLEL.format(backend=backend, distribute=distribute)) == [expected]


def test_torch_without_distribution_is_fine() -> None:
    assert lines(SPEC.format(backend="backend: torch\n", value="none")) == []


def test_json_schema_knows_distribute() -> None:
    train = spec_json_schema()["$defs"]["TrainSpec"]["properties"]["distribute"]
    forms = train["anyOf"][0]["oneOf"]
    assert forms == [  # (a study may search it)
        {
            "anyOf": [
                {"enum": ["none", "data_parallel"], "type": "string"},
                {"$ref": "#/$defs/SearchSpace"},
            ]
        },
        {"$ref": "#/$defs/DistributeSpec"},
    ]


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.fixture
def jax_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))


def test_workers_with_tensorflow_is_a_usage_error(
    write_spec: Callable[..., str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    path = write_spec(SPEC.format(backend="", value="data_parallel"))
    code, out = cli("train", path, "--workers", "2")
    assert code == 2
    assert out.splitlines()[-1] == (
        "Error: --workers needs the JAX backend. Received: tensorflow. TensorFlow's "
        "MultiWorkerMirroredStrategy does not work with Keras 3 (tensorflow#72388): run "
        "with --backend jax, KERAS_BACKEND=jax or the spec's `backend: jax`. (TensorFlow's "
        "data_parallel "
        "uses the devices of one process.)"
    )
    # the spec's backend counts too
    path = write_spec(SPEC.format(backend="backend: tensorflow\n", value="data_parallel"))
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    code, out = cli(
        "train", path, "--coordinator", "h:1", "--num-processes", "2", "--process-id", "0"
    )
    assert code == 2 and "Error: --coordinator needs the JAX backend." in out


def test_workers_need_data_parallel(write_spec: Callable[..., str], jax_env: None) -> None:
    path = write_spec(SPEC.format(backend="", value="none"))
    code, out = cli("train", path, "--workers", "2")
    assert code == 2
    assert out.splitlines()[-1] == (
        "Error: --workers needs train.distribute: data_parallel. Received: none (each "
        "process would train a model of its own). Add `distribute: data_parallel` to the "
        "spec's train section, or --set train.distribute=data_parallel."
    )
    # --set counts
    assert _spec_data(path, ["train.distribute=data_parallel"])["train"]["distribute"] == (
        "data_parallel"
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--workers", "2", "--coordinator", "h:1"],
            "Error: give --workers N (processes on this machine) or --coordinator, "
            "--num-processes and --process-id (one process of a cluster), not both",
        ),
        (
            ["--coordinator", "h:1"],
            "Error: a process of a multi-process run needs --coordinator HOST:PORT, "
            "--num-processes N and --process-id I together (or none of them, on a cluster "
            "JAX detects, such as SLURM)",
        ),
        (
            ["--coordinator", "h", "--num-processes", "2", "--process-id", "0"],
            "Error: Invalid value for '--coordinator': expected HOST:PORT, such as "
            "10.0.0.1:1234. Received: h",
        ),
        (
            ["--coordinator", "h:1", "--num-processes", "2", "--process-id", "2"],
            "Error: Invalid value for '--process-id': expected an id from 0 to 1 "
            "(--num-processes 2). Received: 2",
        ),
    ],
)
def test_bad_cluster_flags(
    write_spec: Callable[..., str], jax_env: None, flags: list[str], message: str
) -> None:
    path = write_spec(SPEC.format(backend="", value="data_parallel"))
    code, out = cli("train", path, *flags)
    assert (code, out.splitlines()[-1]) == (2, message)


def test_data_parallel_on_tensorflow_trains_in_a_mirrored_strategy(
    write_spec: Callable[..., str], tmp_path: Path
) -> None:
    import tensorflow as tf

    from modelspec.training import train

    path = write_spec(SPEC.format(backend="", value="data_parallel"))
    result = train(path, overrides=["train.epochs=1", "train.verbose=0"], out_dir=tmp_path)
    assert isinstance(result.model.distribute_strategy, tf.distribute.MirroredStrategy)
    assert result.metrics["loss"] > 0


def test_workers_run_the_same_command_without_workers() -> None:
    from modelspec.cli.workers import without_workers

    argv = ["train", "s.yaml", "--workers", "2", "--set", "a=1", "--workers=3", "--out", "r"]
    assert without_workers(argv, "train") == ["s.yaml", "--set", "a=1", "--out", "r"]


def test_died_says_how() -> None:
    assert died("worker 1", -9) == "worker 1 was killed by SIGKILL"
    assert died("worker 0", 2) == "worker 0 exited with code 2"


class FakeProc:
    """A finished or running ``subprocess.Popen`` for ``_watch``."""

    def __init__(self, code: int | None) -> None:
        self.code, self.stopped = code, False

    def poll(self) -> int | None:
        return self.code

    def terminate(self) -> None:
        self.stopped, self.code = True, -15

    def wait(self, timeout: float | None = None) -> int | None:
        return self.code


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        # the launcher saw the kill first and stopped worker 0
        ([None, -9], "Error: worker 1 was killed by SIGKILL; stopped worker 0."),
        # a late poll: worker 0 had already failed because its peer was gone
        ([1, -9], "Error: worker 1 was killed by SIGKILL; worker 0 exited with code 1."),
        (
            [None, 1, None],
            "Error: worker 1 exited with code 1; stopped workers 0, 2.",
        ),
    ],
)
def test_the_launcher_names_the_cause_and_what_became_of_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], codes: list[int | None], expected: str
) -> None:
    from modelspec.cli.workers import _watch

    procs = [FakeProc(code) for code in codes]
    for index in range(1, len(codes)):
        (tmp_path / f"worker{index}.log").write_text("")
    assert _watch(procs, str(tmp_path)) == 1  # type: ignore[arg-type]
    assert capsys.readouterr().err.splitlines() == [expected]
    assert [p.stopped for p in procs] == [c is None for c in codes]


# -- JAX processes --------------------------------------------------------------------


def jax_env_vars(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    return env | {"KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT)} | extra


def modelspec(*args: str, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "modelspec", *args],
        env=jax_env_vars(**extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_coordinator_port_taken_or_unreachable_is_one_line(tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
    in_use, refused = taken.getsockname()[1], closed.getsockname()[1]
    flags = ["--num-processes", "2", *SETS, "--out", str(tmp_path)]
    start = time.monotonic()
    with taken, closed:
        listen = modelspec(
            "train", ANTI, "--coordinator", f"127.0.0.1:{in_use}",
            "--process-id", "0", *flags, MODELSPEC_JOIN_TIMEOUT="5",
        )  # fmt: skip
        join = modelspec(
            "train", ANTI, "--coordinator", f"127.0.0.1:{refused}",
            "--process-id", "1", *flags, MODELSPEC_JOIN_TIMEOUT="5",
        )  # fmt: skip
        (_, listen_err), (_, join_err) = listen.communicate(90), join.communicate(90)
    assert time.monotonic() - start < 90
    assert listen.returncode == 2 and join.returncode == 2
    port = in_use
    assert listen_err.splitlines()[-1] == (
        f"Error: process 0 could not listen as the coordinator at 127.0.0.1:{port}: the port "
        "is in use. Received: Address already in use. Choose a free port for --coordinator "
        "(the same on every process)."
    )
    port = refused
    assert join_err.splitlines()[-1] == (
        f"Error: process 1 could not reach the coordinator at 127.0.0.1:{port} within 5 s. "
        "Received: Connection refused. Start process 0 (--process-id 0) on that host "
        "first, and check the address and that the port is open to this host."
    )
    assert list(tmp_path.iterdir()) == []  # no run directory


def test_a_coordinator_whose_processes_never_join_stops_in_one_line(tmp_path: Path) -> None:
    """JAX aborts with a C++ stack trace when the others do not join in time; modelspec
    says it in one line first (exit 2)."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    alone = modelspec(
        "train", ANTI, "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2",
        "--process-id", "0", *SETS, "--out", str(tmp_path), MODELSPEC_JOIN_TIMEOUT="5",
    )  # fmt: skip
    _, err = alone.communicate(90)
    assert alone.returncode == 2, err[-2000:]
    assert err.splitlines()[-1] == (
        f"Error: process 0 waited 5 s for 2 processes to join at 127.0.0.1:{port}. Received: "
        "not all of them joined. Start every process (--process-id 0 to N-1, the same "
        "--coordinator and --num-processes), or give them longer with MODELSPEC_JOIN_TIMEOUT."
    )
    assert "Check failure" not in err


def digests(out: str) -> list[str]:
    return re.findall(r"weights ([0-9a-f]{16})", out)


def test_two_processes_train_in_step_like_one(tmp_path: Path) -> None:
    """``--workers 2``: one run directory, the same weights in both processes, and
    the test accuracy of one process training alone."""
    scratch = os.path.join(tempfile.gettempdir(), "modelspec-process1-*")
    before = set(glob.glob(scratch))
    two = modelspec("train", ANTI, *SETS, "--out", str(tmp_path / "two"), "--workers", "2")
    # one process, its batches split over two devices (what the two processes see)
    flags = "--xla_force_host_platform_device_count=2"
    one = modelspec("train", ANTI, *SETS, "--out", str(tmp_path / "one"), XLA_FLAGS=flags)
    (out, err), (_, one_err) = two.communicate(240), one.communicate(240)
    assert two.returncode == 0, err[-2000:]
    assert one.returncode == 0, one_err[-2000:]
    runs = list((tmp_path / "two").iterdir())
    assert len(runs) == 1  # process 1 wrote nothing there
    assert "processes: 2, weights" in out and "process 1 of 2: done, weights" in out
    assert len(set(digests(out))) == 1 and len(digests(out)) == 2
    meta = json.loads((runs[0] / "run.json").read_text())
    assert (meta["status"], meta["processes"]) == ("done", 2)
    two_metrics = json.loads((runs[0] / "metrics.json").read_text())
    (one_run,) = (tmp_path / "one").iterdir()
    one_metrics = json.loads((one_run / "metrics.json").read_text())
    assert abs(two_metrics["accuracy"] - one_metrics["accuracy"]) <= 0.01
    assert set(glob.glob(scratch)) == before  # process 1's scratch directory is gone


def test_a_killed_worker_stops_the_run_and_resume_finishes_it(tmp_path: Path) -> None:
    out_dir = tmp_path / "runs"
    launcher = modelspec("train", ANTI, *SETS, "--out", str(out_dir), "--workers", "2")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:  # the first epoch committed
        states = glob.glob(str(out_dir / "*" / "backup" / "state.json"))
        if states and json.loads(Path(states[0]).read_text() or "{}").get("epoch", 0) >= 1:
            break
        assert launcher.poll() is None, launcher.communicate()[1][-2000:]
        time.sleep(0.2)
    kids = subprocess.run(
        ["pgrep", "-P", str(launcher.pid)], capture_output=True, text=True
    ).stdout.split()
    worker = next(
        k for k in kids if "--process-id\x001\x00" in Path(f"/proc/{k}/cmdline").read_text()
    )
    killed = time.monotonic()
    os.kill(int(worker), 9)
    _, err = launcher.communicate(60)
    assert time.monotonic() - killed < 60
    assert launcher.returncode == 1
    # worker 0 is stopped by the launcher, or has failed on its own when the launcher
    # polls late (its collective lost its peer): either way the cause comes first
    assert re.search(
        r"^Error: worker 1 was killed by SIGKILL; "
        r"(stopped worker 0|worker 0 exited with code \d+)\.$",
        err,
        re.M,
    ), err[-2000:]
    (run,) = out_dir.iterdir()
    resumed = modelspec("train", "--resume", str(run), "--workers", "2")
    out, err = resumed.communicate(240)
    assert resumed.returncode == 0, err[-2000:]
    assert len(set(digests(out))) == 1 and len(digests(out)) == 2
    assert "epochs: 2 " in out
    history = (run / "history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in history[1:]] == ["0", "1"]  # no epoch lost or repeated
    assert json.loads((run / "run.json").read_text())["status"] == "done"
    assert list(out_dir.iterdir()) == [run]


def test_model_parallel_trains_with_split_variables(tmp_path: Path) -> None:
    """One JAX process, two host devices: ``dense_1``'s kernel is split over the
    mesh's ``model`` axis while the model trains; the run saves a whole model."""
    spec = tmp_path / "mp.yaml"
    spec.write_text(MODEL_PARALLEL.format(backend="backend: jax\n", distribute=GOOD_MP))
    code = (
        "import sys; from modelspec.cli import main; from modelspec.training import fit\n"
        "built = fit.model_and_data\n"
        "def spy(*a, **k):\n"
        "    model, data = built(*a, **k)\n"
        "    print('shard', model.get_layer('dense_1').kernel.value.addressable_shards[0]"
        ".data.shape, flush=True)\n"
        "    return model, data\n"
        "fit.model_and_data = spy\n"
        "main(sys.argv[1:])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "train", str(spec), "--set", "train.epochs=1",
         "--out", str(tmp_path / "runs")],
        env=jax_env_vars(XLA_FLAGS="--xla_force_host_platform_device_count=2"),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "shard (64, 16)" in done.stdout  # half of the (64, 32) kernel on each device
    (run,) = (tmp_path / "runs").iterdir()
    assert json.loads((run / "run.json").read_text())["status"] == "done"
    assert "test: loss" in done.stdout


@pytest.mark.parametrize("stderr", ["file", "closed pipe"])
def test_a_worker_stops_when_its_launcher_is_gone(tmp_path: Path, stderr: str) -> None:
    """``kill -9`` on ``--workers``'s launcher: its workers stop too (they would train on).

    The worker writes to a file, as ``--workers``'s do (worker 0 to the launcher's
    terminal): a pipe to the dead launcher would break its one-line message. The test
    waits for the worker itself, not for the launcher's output (which the worker
    inherited), so that a worker that sleeps on fails it.
    """
    log = tmp_path / "worker.log"
    worker = (
        "import time; from modelspec.training.distribute import watch_launcher; "
        "watch_launcher(); time.sleep(60)"
    )
    # a pipe whose reader (the launcher) is gone: the message breaks, the worker stops anyway
    target = "r, w = os.pipe(); err = w; " if stderr == "closed pipe" else "err = log; "
    launcher = (
        "import os, subprocess, sys; "
        f"log = open({str(log)!r}, 'w'); {target}"
        f"p = subprocess.Popen([sys.executable, '-c', {worker!r}], stdin=subprocess.DEVNULL, "
        "stdout=log, stderr=err, "
        "env=os.environ | {'MODELSPEC_LAUNCHER_PID': str(os.getpid())}); "
        "print(p.pid, os.getpid(), flush=True); os._exit(0)"
    )
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", launcher], env=env, capture_output=True, text=True)
    pid = int(done.stdout.split()[0])
    deadline = time.monotonic() + 50  # it imports Keras first; it would sleep 60 s
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        state = (
            Path(f"/proc/{pid}/stat").read_text().split()[2]
            if Path(f"/proc/{pid}/stat").exists()
            else "X"
        )
        if state == "Z":
            break
        time.sleep(0.2)
    assert time.monotonic() < deadline, "the worker outlived its launcher"
    if stderr == "closed pipe":
        return
    assert log.read_text().splitlines()[-1] == (
        f"Error: the --workers launcher (process {done.stdout.split()[1]}) ended; this worker "
        "stops too. Resume the run with `modelspec train --resume RUN_DIR --workers N`."
    )


def test_ctrl_c_stops_every_worker_and_records_the_run(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the launcher's process group): process 0 records the run as
    interrupted, every process is gone within seconds (not stuck at JAX's shutdown
    barrier), exit 130."""
    out_dir = tmp_path / "runs"
    launcher = subprocess.Popen(
        [sys.executable, "-m", "modelspec", "train", ANTI, *SETS, "--set", "train.epochs=30",
         "--set", "train.batch_size=16", "--out", str(out_dir), "--workers", "2"],
        env=jax_env_vars(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:  # the first epoch committed
        states = glob.glob(str(out_dir / "*" / "backup" / "state.json"))
        if states and json.loads(Path(states[0]).read_text() or "{}").get("epoch", 0) >= 1:
            break
        assert launcher.poll() is None, launcher.communicate()[1][-2000:]
        time.sleep(0.2)
    kids = subprocess.run(["pgrep", "-P", str(launcher.pid)], capture_output=True, text=True)
    os.killpg(launcher.pid, signal.SIGINT)
    start = time.monotonic()
    _, err = launcher.communicate(60)
    assert time.monotonic() - start < 30
    assert launcher.returncode == 130
    assert "interrupted: " in err and "--workers 2" in err
    (run,) = out_dir.iterdir()
    assert json.loads((run / "run.json").read_text())["status"] == "interrupted"
    time.sleep(1)
    assert not [k for k in kids.stdout.split() if Path(f"/proc/{k}").exists()]
