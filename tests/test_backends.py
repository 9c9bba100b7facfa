"""Every seed spec on the backend this process runs: build, 2 epochs, save, reload, predict.

The tests marked ``backends`` run in the TensorFlow suite like the others, and
``make test`` runs them again with ``KERAS_BACKEND=jax`` and ``KERAS_BACKEND=torch``
(``pytest -m "backends or other_backends"``). The seed-spec matrix is marked
``other_backends``: on TensorFlow, ``make test`` leaves it to the tests that already
train every offline spec (test_training), export and reload every spec with its
outputs compared (test_export) and build the keras.io examples (test_examples). A spec that trains offline trains through
:func:`modelspec.train`; the others (no ``train:`` section, or data that is
downloaded) fit on random data shaped like their inputs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from modelspec import build_model, load_model, load_spec, predict, train, validate_spec
from modelspec.data import load_data
from modelspec.rundir import run_spec
from modelspec.training.inference import _tensor

from .conftest import MODELS, ROOT

BACKEND = keras.backend.backend()
DOWNLOADED = ("keras",)  # data sources that need the network


def _random_inputs(model: keras.Model, rows: int, rng: np.random.Generator) -> dict[str, Any]:
    arrays = {}
    for tensor in model.inputs:
        shape = (rows, *(d or 8 for d in tensor.shape[1:]))
        if "int" in str(tensor.dtype):
            arrays[tensor.name] = rng.integers(0, 2, size=shape).astype(tensor.dtype)
        else:
            arrays[tensor.name] = rng.random(shape).astype(tensor.dtype)
    return arrays


def _outputs(model: keras.Model, x: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The model called on ``x`` (text as string tensors), as NumPy arrays by output
    name (the spec's for named outputs, else their position)."""
    args = [
        _tensor(x[t.name])
        if x[t.name].dtype.kind in "OUS"
        else keras.ops.convert_to_tensor(x[t.name])
        for t in model.inputs
    ]
    # Keras's compiled predict step: on JAX, calling the model eagerly compiles each
    # of its ops for these shapes (a minute for MobileNetV2), predict_on_batch one program
    values = model.predict_on_batch(args[0] if len(args) == 1 else args)
    if not isinstance(values, dict):
        values = dict(enumerate(keras.tree.flatten(values)))
    return {str(k): keras.ops.convert_to_numpy(v) for k, v in values.items()}


#: The seed specs whose run here takes a minute or so (compiling a big model on JAX).
HEAVY_SPECS = {"transfer_learning"} | ({"resnet", "unet"} if BACKEND == "jax" else set())


@pytest.mark.other_backends
@pytest.mark.parametrize(
    "path",
    [pytest.param(p, marks=[pytest.mark.heavy] if p.stem in HEAVY_SPECS else []) for p in MODELS],
    ids=[p.stem for p in MODELS],
)
def test_spec_trains_saves_and_predicts(path: Path, tmp_path: Path) -> None:
    report = validate_spec(path, backend=BACKEND)
    strings = any(i.get("dtype") == "string" for i in report_inputs(path))
    if BACKEND != "tensorflow" and strings:
        # only TensorFlow has string tensors: validate says so at the input's dtype
        assert [d.message for d in report.errors] == [
            f"expected a numeric dtype on the {BACKEND} backend (only TensorFlow has string "
            "tensors). Received: dtype: string. Run this spec with `--backend tensorflow`, or "
            "turn the text into numbers before the model."
        ] * len(report.errors)
        return
    assert report.ok, [d.format() for d in report.errors]
    spec = load_spec(path)
    if spec.train is not None and spec.train.data.source not in DOWNLOADED:
        # a tenth of the rows to train on (two epochs show that it trains, not how well)
        split = {"validation": 0.05, "test": 0.85, "seed": 0}
        overrides = {"export": None, "train.data.split": split}
        result = train(spec, epochs=2, out_dir=tmp_path, verbose=0, overrides=overrides)
        losses = result.history["loss"]
        assert len(losses) == 2 and all(np.isfinite(losses))
        assert json.loads((result.run_dir / "run.json").read_text())["backend"] == BACKEND
        model, saved = result.model, result.run_dir / "model.keras"
        test = load_data(run_spec(result.run_dir)).test  # the split the run used
        assert test is not None
        x = {t.name: test.x[t.name][:32] for t in model.inputs}
    else:  # no data here: random inputs and targets, an mse loss
        model = build_model(spec)
        model.compile(optimizer="adam", loss="mse")
        rng = np.random.default_rng(0)
        x = _random_inputs(model, 4, rng)
        shapes = [(4, *t.shape[1:]) for t in model.outputs]
        if any(None in shape for shape in shapes):  # known once the model has run
            shapes = [v.shape for v in _outputs(model, x).values()]
        y = [rng.random(shape).astype("float32") for shape in shapes]
        args = list(x.values())
        losses = model.fit(
            args[0] if len(args) == 1 else args, y, epochs=2, batch_size=2, verbose=0
        ).history["loss"]
        assert len(losses) == 2 and all(np.isfinite(losses))
        saved = tmp_path / "model.keras"
        model.save(saved)
    reloaded = load_model(saved)  # safe mode
    for a, b in zip(model.weights, reloaded.weights, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    expected = _outputs(model, x)
    again = _outputs(model, x)
    if any(not np.array_equal(expected[k], again[k]) for k in expected):
        return  # a model that samples (the VAE): its weights are compared above
    predicted = predict(saved, x)  # modelspec's predict, on the file
    assert len(predicted) == len(expected)
    by_name = set(predicted) == set(expected)
    for i, (name, values) in enumerate(predicted.items()):
        wanted = expected[name] if by_name else expected[str(i)]
        np.testing.assert_allclose(values, wanted, rtol=1e-5, atol=1e-5)


def report_inputs(path: Path) -> list[dict[str, Any]]:
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [i for i in data.get("inputs", []) if isinstance(i, dict)]


@pytest.mark.backends
@pytest.mark.heavy  # a process on another backend: ~30 s on PyTorch's run
@pytest.mark.parametrize("other", [b for b in ("tensorflow", "jax", "torch") if b != BACKEND])
def test_a_keras_file_loads_on_every_backend(other: str, tmp_path: Path) -> None:
    """A model saved here reloads in a process on each other backend with the same outputs
    (each backend's run of this test saves on it: every pair is covered; one test a pair,
    so that the two xdist workers share them)."""
    spec = ROOT / "specs" / "custom_dense.yaml"
    model = build_model(spec)
    x = np.random.default_rng(1).random((4, 64)).astype("float32")
    model.save(tmp_path / "m.keras")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.asarray(model.predict(x, verbose=0)))
    script = (
        "import sys, numpy as np, keras; from modelspec import load_model; "
        "d = sys.argv[1]; m = load_model(d + '/m.keras'); "
        "out = keras.ops.convert_to_numpy(m(np.load(d + '/x.npy'))); "
        "np.testing.assert_allclose(out, np.load(d + '/y.npy'), rtol=1e-5, atol=1e-6); "
        "print(keras.backend.backend())"
    )
    env = os.environ | {"KERAS_BACKEND": other, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == other


# -- choosing the backend ------------------------------------------------------------------
JAX_SPEC = """\
modelspec: 1
name: on_jax
backend: jax
inputs: [{name: x, shape: [4]}]
layers: [{name: out, type: Dense, units: 2}]
outputs: [out]
"""


def test_the_flag_wins_over_the_spec_then_the_environment() -> None:
    from modelspec.backend import choose

    env = {"KERAS_BACKEND": "torch"}
    assert choose("tensorflow", "jax", environ=env, config=None) == "tensorflow"
    assert choose(None, "jax", environ=env, config=None) == "jax"
    assert choose(None, None, environ=env, config=None) == "torch"
    assert choose(None, None, environ={}, config="jax") == "jax"
    assert choose(None, None, environ={}, config=None) == "tensorflow"


def test_a_bad_keras_backend_variable_is_named() -> None:
    from modelspec.backend import BackendError, choose

    with pytest.raises(BackendError) as err:
        choose(None, None, environ={"KERAS_BACKEND": "pytorch"}, config=None)
    assert str(err.value) == (
        "KERAS_BACKEND: expected one of tensorflow, jax, torch. Received: 'pytorch'. "
        "Did you mean 'torch'?"
    )


def test_a_misspelt_backend_flag_is_a_usage_error(write_spec: Any) -> None:
    from click.testing import CliRunner

    from modelspec.cli import main

    path = write_spec(JAX_SPEC)
    result = CliRunner().invoke(main, ["build", path, "--backend", "tensorflw"])
    assert result.exit_code == 2
    assert (
        "Error: Invalid value for '--backend': expected one of tensorflow, jax, torch. "
        "Received: 'tensorflw'. Did you mean 'tensorflow'?"
    ) in result.output


def test_a_backend_that_is_not_installed_gives_the_install_command(
    write_spec: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from modelspec import backend as backends
    from modelspec.cli import main

    monkeypatch.setattr(backends, "running", lambda: None)  # as before Keras is imported
    monkeypatch.setattr(backends, "installed", lambda name: name != "torch")
    monkeypatch.setenv("KERAS_BACKEND", BACKEND)  # use() would set it
    path = write_spec(JAX_SPEC)
    result = CliRunner().invoke(main, ["train", path, "--backend", "torch"])
    assert result.exit_code == 2
    assert (
        "Error: the torch backend is not installed. Received: no module named 'torch'. "
        "Install it with `pip install 'modelspec[torch]'`."
    ) in result.output


def test_a_spec_for_another_backend_is_an_error_where_keras_runs_one(write_spec: Any) -> None:
    from modelspec.errors import SpecError

    other = "torch" if BACKEND == "jax" else "jax"
    path = write_spec(JAX_SPEC.replace("backend: jax", f"backend: {other}"))
    assert validate_spec(path).ok  # validate alone builds nothing
    with pytest.raises(SpecError) as err:
        build_model(path)
    assert err.value.diagnostics[0].format() == (
        f"spec.yaml:3:10: backend: expected the {BACKEND} backend, which Keras in this "
        "process already runs (Keras picks its backend when it is first imported). "
        f"Received: backend: {other}. Set KERAS_BACKEND={other} before importing keras or "
        f"modelspec's training API, or run `modelspec ... --backend {other}`."
    )


def test_validate_checks_for_the_backend_asked(write_spec: Any) -> None:
    from click.testing import CliRunner

    from modelspec.cli import main

    path = write_spec(
        """\
        modelspec: 1
        name: text
        inputs: [{name: words, shape: [1], dtype: string}]
        layers: [{name: ids, type: StringLookup, vocabulary: [a, b]}]
        outputs: [ids]
        """
    )
    runner = CliRunner()
    assert runner.invoke(main, ["validate", path, "--backend", "tensorflow"]).exit_code == 0
    result = runner.invoke(main, ["validate", path, "--backend", "torch"])
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == (
        "spec.yaml:3:43: inputs[0] (words).dtype: expected a numeric dtype on the torch "
        "backend (only TensorFlow has string tensors). Received: dtype: string. Run this spec "
        "with `--backend tensorflow`, or turn the text into numbers before the model."
    )


def test_a_run_resumes_on_the_backend_it_was_trained_on(tmp_path: Path) -> None:
    from modelspec.cli.common import _declared_backend

    run = tmp_path / "run"
    run.mkdir()
    (run / "spec.yaml").write_text(JAX_SPEC.replace("backend: jax", "backend: tensorflow"))
    assert _declared_backend(str(run)) == "tensorflow"  # a run from before backends: its spec's
    (run / "run.json").write_text(json.dumps({"backend": "torch"}))
    assert _declared_backend(str(run)) == "torch"  # what it ran on (--backend included)
    spec = tmp_path / "spec.yaml"
    spec.write_text(JAX_SPEC)
    assert _declared_backend(str(spec)) == "jax"
    assert _declared_backend(str(spec), ["train.epochs=2", "backend=torch"]) == "torch"
    assert _declared_backend(str(tmp_path / "model.keras")) is None
    spec.write_text("backend: [not, a, name]\n")
    assert _declared_backend(str(spec)) is None  # validation reports it


def test_steps_per_execution_is_one_on_torch(write_spec: Any) -> None:
    path = write_spec(
        JAX_SPEC.replace("backend: jax\n", "")
        + "compile: {loss: mse}\n"
        + "train: {data: {source: sklearn, name: digits}, steps_per_execution: 10}\n"
    )
    assert validate_spec(path, backend="jax").ok
    [error] = validate_spec(path, backend="torch").errors
    assert error.format() == (
        "spec.yaml:7:69: train.steps_per_execution: expected steps_per_execution: 1 on the "
        "torch backend (Keras runs PyTorch one step at a time). Received: "
        "steps_per_execution: 10. Leave it out, or run on jax or tensorflow."
    )


@pytest.mark.backends
@pytest.mark.heavy  # two processes: ~50 s on JAX's and PyTorch's runs
def test_a_killed_run_resumes_on_this_backend(write_spec: Any, tmp_path: Path) -> None:
    """SIGKILL after an epoch is committed, then `--resume` (a new process on the run's
    backend) trains the remaining epochs only."""
    import signal
    import time

    from .conftest import SMALL

    spec = write_spec(
        SMALL.replace("epochs: 3", "epochs: 5")
        .replace("batch_size: 64", "batch_size: 16")
        .replace("verbose: 0", "verbose: 2")
    )
    out = tmp_path / "runs"
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "modelspec", "train", spec, "--out", str(out)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline, run_dir = time.monotonic() + 240, None
    while time.monotonic() < deadline and run_dir is None:
        state = list(out.glob("small-*/backup/state.json"))
        if state and json.loads(state[0].read_text()).get("epoch", 0) >= 2:
            run_dir = state[0].parent.parent
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.05)
    assert run_dir is not None, "training never committed its second epoch"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len((run_dir / "history.csv").read_text().splitlines()) - 1
    assert 2 <= done < 5
    resumed = subprocess.run(
        [sys.executable, "-m", "modelspec", "train", "--resume", str(run_dir)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"(Keras {keras.__version__} on {BACKEND})" in resumed.stdout
    epochs = [line.split()[1] for line in resumed.stdout.splitlines() if line.startswith("Epoch ")]
    assert epochs == [f"{e}/5" for e in range(done + 1, 6)]
    assert len((run_dir / "history.csv").read_text().splitlines()) == 1 + 5
    assert json.loads((run_dir / "run.json").read_text())["backend"] == BACKEND


def test_jax_and_torch_commands_hide_tensorflow_start_up_chatter(tmp_path: Path) -> None:
    """TensorFlow still loads on JAX and PyTorch (Keras seeds it, tf.data feeds fit); its
    C++ start-up lines are hidden there as on TensorFlow."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND")
    }
    spec = str(ROOT / "specs" / "custom_dense.yaml")
    for other in ("jax", "torch"):
        out = subprocess.run(
            [sys.executable, "-m", "modelspec", "train", spec, "--backend", other,
             "--epochs", "1", "--set", "export=null", "--out", str(tmp_path)],
            capture_output=True, text=True, cwd=ROOT, env=env | {"PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert out.stderr == ""
        assert f"on {other})" in out.stdout


def test_a_backend_flag_over_the_specs_is_recorded_in_the_run(write_spec: Any) -> None:
    """`train --backend X` on a spec that says another: the run's spec.yaml says X (with the
    --set that made it), so evaluate, predict, export and --resume of the run need no flag."""
    from click.testing import CliRunner

    from modelspec.cli import main

    from .conftest import SMALL

    other = "torch" if BACKEND != "torch" else "jax"
    path = write_spec(f"backend: {other}\n" + SMALL.replace("epochs: 3", "epochs: 1"))
    runner = CliRunner()
    result = runner.invoke(main, ["train", path, "--backend", BACKEND, "--out", "runs"])
    assert result.exit_code == 0, result.output
    [run] = Path("runs").iterdir()
    resolved = (run / "spec.yaml").read_text().splitlines()
    assert resolved[0].endswith(f"with --set backend={BACKEND}")
    assert f"backend: {BACKEND}" in resolved
    from modelspec import backend as backends

    backends._flag = None  # a new command: no --backend
    assert runner.invoke(main, ["evaluate", str(run)]).exit_code == 0


def test_building_on_jax_does_not_load_tensorflow() -> None:
    """Only the verbs that read data (tf.data) load TensorFlow off its backend."""
    code = (
        "import sys; from modelspec.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print('tensorflow' in sys.modules)"
    )
    spec = str(ROOT / "specs" / "custom_dense.yaml")
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code, "build", "-q", spec, "--backend", "jax"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert out.stdout.splitlines()[-1] == "False", out.stdout + out.stderr


def test_a_misspelt_backend_in_the_spec_is_located(write_spec: Any) -> None:
    path = write_spec(JAX_SPEC.replace("backend: jax", "backend: pytorch"))
    [error] = validate_spec(path).errors
    assert error.format() == (
        "spec.yaml:3:10: backend: expected 'tensorflow', 'jax' or 'torch'. "
        "Received: 'pytorch'. Did you mean 'torch'?"
    )
