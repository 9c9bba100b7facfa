"""Export on each backend: what Keras can export from JAX and PyTorch, and one line
naming the backends that can for what it cannot (validate says it at the spec's line).

The suite runs on TensorFlow; each other backend is one subprocess (``KERAS_BACKEND``)
that exports several formats of a small multi-input model with a custom layer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from modelspec import read_provenance, validate_spec
from modelspec.backend import BACKENDS, EXPORT_BACKENDS
from modelspec.errors import ExportError
from modelspec.export import FORMATS, require

from .conftest import ROOT
from .test_export import hide_module

#: For JAX: two inputs and a custom layer.
SPEC = ROOT / "specs" / "two_input_layer.yaml"


def test_the_table_covers_every_format_and_keras_files_every_backend() -> None:
    assert list(EXPORT_BACKENDS) == list(FORMATS)
    assert all(set(b) <= set(BACKENDS) and b for b in EXPORT_BACKENDS.values())
    assert EXPORT_BACKENDS["keras"] == BACKENDS


def test_validate_refuses_a_format_the_specs_backend_cannot_export() -> None:
    text = (
        "modelspec: 1\nname: tiny\nbackend: {backend}\n"
        "inputs: [{{name: x, shape: [4]}}]\n"
        "layers:\n  - {{name: out, type: Dense, units: 2}}\noutputs: [out]\n"
        "export:\n  formats: [keras, litert, onnx, saved_model]\n"
    )
    found = {
        b: [d.format() for d in validate_spec(text.format(backend=b)).diagnostics] for b in BACKENDS
    }
    hint = "(its .keras file loads on any backend)."
    assert found == {
        "tensorflow": [],
        "jax": [
            "<string>:9:20: export.formats[1]: litert export needs the tensorflow backend. "
            "Received: backend: jax. Drop litert here and export the trained run with "
            f"`modelspec export RUN_DIR -f litert --backend tensorflow` {hint}"
        ],
        "torch": [
            "<string>:9:20: export.formats[1]: litert export needs the tensorflow backend. "
            "Received: backend: torch. Drop litert here and export the trained run with "
            f"`modelspec export RUN_DIR -f litert --backend tensorflow` {hint}",
            "<string>:9:34: export.formats[3]: saved_model export needs the tensorflow or jax "
            "backend. Received: backend: torch. Drop saved_model here and export the trained "
            f"run with `modelspec export RUN_DIR -f saved_model --backend tensorflow` {hint}",
        ],
    }
    # without a backend: key the spec says nothing about one (the run's backend decides)
    assert validate_spec(text.replace("backend: {backend}\n", "").format()).ok


def test_require_names_the_backends_that_can() -> None:
    with pytest.raises(ExportError) as err:
        require("saved_model", "torch")
    assert str(err.value) == (
        "saved_model export needs the tensorflow or jax backend. Received: the torch backend. "
        "Export with --backend tensorflow: a .keras file or a run directory from any backend "
        "loads there."
    )
    assert require("saved_model", "jax").name == "saved_model"


def test_onnx_on_jax_names_jax2onnx(monkeypatch: pytest.MonkeyPatch) -> None:
    hide_module(monkeypatch, "jax2onnx")
    for fmt in ("onnx", "openvino"):
        with pytest.raises(ExportError) as err:
            require(fmt, "jax")
        assert (
            str(err.value)
            == f"{fmt} export on jax needs jax2onnx, not installed: pip install jax2onnx"
        )
    assert require("onnx", "torch").name == "onnx"  # torch.onnx comes with torch


#: For PyTorch: two inputs, a custom layer, a repeated block with attention (whose
#: weights Keras's torch tracing took for constants that need grad), and named
#: outputs (which torch.jit.trace refuses: OpenVINO goes through ONNX).
TORCH_SPEC = """\
modelspec: 1
name: tiny_attention
inputs:
  - {name: x, shape: [4, 8]}
  - {name: meta, shape: [3]}
blocks:
  attend:
    inputs: [x]
    layers:
      - {name: att, type: MultiHeadAttention, num_heads: 2, key_dim: 4, inputs: {query: x, value: x}}
      - {name: res, expr: "x + att"}
    outputs: [res]
layers:
  - {name: encoder, block: attend, repeat: 2, inputs: x}
  - {name: pool, type: GlobalAveragePooling1D}
  - {name: joint, type: TwoInputDense, units: 4, inputs: [pool, meta]}
  - {name: probs, type: Dense, units: 3, activation: softmax}
outputs: {probs: probs, features: joint}
"""


def export_on(
    backend: str, spec: Path, formats: str, out: Path
) -> tuple[int, list[str], list[str], list[str]]:
    """``modelspec export SPEC -f formats`` in a process on ``backend``: the exit code,
    the formats written, the error lines and the notes."""
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "modelspec", "export", str(spec), "-o", f"{out}/", "-f", formats],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )
    wrote = [line for line in done.stdout.splitlines() if ": wrote " in line]
    # every written artifact passed its check against Keras
    assert all("max abs diff" in line for line in wrote), done.stdout
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    notes = [line.strip() for line in done.stdout.splitlines() if line.startswith("  note: ")]
    return done.returncode, [line.split(":")[0] for line in wrote], errors, notes


def test_jax_exports_keras_and_saved_model_and_refuses_litert_in_one_line(tmp_path: Path) -> None:
    code, written, errors, notes = export_on("jax", SPEC, "keras,saved_model,litert", tmp_path)
    assert (code, written, notes) == (1, ["keras", "saved_model"], [])
    assert errors == [
        "Error: litert export needs the tensorflow backend. Received: the jax backend. "
        "Export with --backend tensorflow: a .keras file or a run directory from any backend "
        "loads there."
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "two_input_dense.keras",
        "two_input_dense_saved_model",
    ]
    assert read_provenance(tmp_path / "two_input_dense_saved_model")["backend"] == "jax"


def test_torch_exports_keras_onnx_and_openvino_and_refuses_saved_model(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(TORCH_SPEC, encoding="utf-8")
    out = tmp_path / "out"
    code, written, errors, notes = export_on("torch", spec, "keras,saved_model,onnx,openvino", out)
    assert (code, written) == (1, ["keras", "onnx", "openvino"])
    # torch.jit.trace refuses dict outputs: Keras's ONNX export takes them
    assert [n.split(" (")[0] for n in notes] == [
        "note: converted through ONNX: Keras's OpenVINO export failed"
    ]
    assert errors == [
        "Error: saved_model export needs the tensorflow or jax backend. Received: the torch "
        "backend. Export with --backend tensorflow: a .keras file or a run directory from "
        "any backend loads there."
    ]
    assert sorted(p.name for p in out.iterdir()) == [
        "tiny_attention.bin",
        "tiny_attention.keras",
        "tiny_attention.onnx",
        "tiny_attention.xml",
    ]
    assert read_provenance(out / "tiny_attention.onnx")["backend"] == "torch"


def test_a_format_only_the_chosen_backend_cannot_export_is_skipped_with_a_note(
    write_spec: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spec names no backend; the one chosen outside it (here TensorFlow, made unable
    to export LiteRT) warns in validate, and train and `export -f all` skip it."""
    from click.testing import CliRunner

    from modelspec import backend as backends
    from modelspec.cli import main

    from .conftest import SMALL

    monkeypatch.setitem(backends.EXPORT_BACKENDS, "litert", ("torch",))
    path = write_spec(
        SMALL.replace("epochs: 3", "epochs: 1") + "export: {formats: [keras, litert]}\n"
    )
    [warning] = validate_spec(path).warnings
    assert warning.format() == (
        "spec.yaml:21:27: warning: export.formats[1]: litert export needs the torch backend; "
        "this spec runs on tensorflow, so `train` will skip it. Export the trained run with "
        "`modelspec export RUN_DIR -f litert --backend torch`."
    )
    runner = CliRunner()
    result = runner.invoke(main, ["train", path, "--out", "runs"])
    assert result.exit_code == 0, result.output
    assert (
        "litert: skipped, litert export needs the torch backend. Received: the tensorflow "
        "backend. Export with --backend torch: a .keras file or a run directory from any "
        "backend loads there."
    ) in result.output
    [run] = Path("runs").iterdir()
    assert sorted(p.name for p in (run / "export").iterdir()) == ["small.keras"]
    assert "skipped" in json.loads((run / "run.json").read_text())["exports"]["litert"]
    result = runner.invoke(main, ["export", str(run), "-f", "all", "--no-check", "-o", "out"])
    assert result.exit_code == 0, result.output
    assert "litert: skipped, litert export needs the torch backend." in result.output
    assert not list(Path("out").glob("*.tflite"))
    result = runner.invoke(main, ["export", str(run), "-f", "litert", "-o", "out"])
    assert result.exit_code == 1  # asked for by name: an error


def test_all_skips_a_format_whose_converter_is_not_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`-f all` exports what can be with the packages installed and names the rest with the
    command that adds them (a JAX run without jax2onnx exited 1 on ONNX and OpenVINO)."""
    from click.testing import CliRunner

    from modelspec.cli import main

    hide_module(monkeypatch, "onnxruntime")
    result = CliRunner().invoke(
        main, ["export", str(ROOT / "specs" / "custom_dense.yaml"), "-f", "all",
               "--no-check", "-o", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "onnx: skipped, onnx export needs onnxruntime" in result.output
    assert not list(tmp_path.glob("*.onnx"))
    assert list(tmp_path.glob("*.keras"))
