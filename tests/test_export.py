"""Export (modelspec.export, `modelspec export`, the spec's export: section)."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from modelspec import ExportError, build_model, export_model, read_provenance, train
from modelspec.cli import main
from modelspec.export import FORMATS, RUNNERS, ExportResult, export_all, max_abs_diff
from modelspec.spec.schema import EXPORT_FORMATS

from .conftest import MODELS, ROOT, SMALL

#: Formats a seed spec cannot export, and the layer the error must name.
#: seq2seq: LSTM loops need TensorFlow ops that builtin LiteRT lacks and OpenVINO's
#: TensorFlow front end cannot convert; Keras's TimeDistributed, traced with a free
#: sequence length, maps over the batch axis (a Keras bug that the check catches).
CANNOT = {
    "seq2seq": {"saved_model", "litert", "onnx", "openvino"},
    # Sampling draws random numbers at inference too: the converters lack the random ops,
    # and a SavedModel's outputs differ from the Keras model's on every call
    "vae": {"saved_model", "litert", "onnx", "openvino"},
    # lookup tables (StringLookup, IntegerLookup): only TensorFlow runs them
    "structured_data": {"litert", "onnx", "openvino"},
}
#: Failures that are the check's, not a layer's: nothing to locate.
UNCHECKABLE = {"vae": {"saved_model"}}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_text(encoding="utf-8").encode()).hexdigest()


def hide_module(monkeypatch: pytest.MonkeyPatch, hidden: str) -> None:
    """Make ``importlib.util.find_spec`` report ``hidden`` as not installed."""
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == hidden else real(name, *a)
    )


def leftovers(folder: Path) -> list[str]:
    """Staging files an export left behind (they start with a dot)."""
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


Exported = tuple[Path, list[ExportResult], list[tuple[str, ExportError]]]


@pytest.fixture(scope="session")  # not module: xdist interleaves modules, which resets those
def exported(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Exported]:
    """``export_all`` of ``specs/<name>.yaml`` (from the repository root, as a user
    runs it) to every format, once per worker: its folder, results and failures.

    The converters take most of the suite's time; the tests of a format's errors
    read the same exports as the matrix below (``export_model`` and ``export_all``
    both export through ``api._export``).
    """
    cache: dict[str, Exported] = {}

    def export(name: str) -> Exported:
        if name not in cache:
            out = tmp_path_factory.mktemp(f"export-{name}")
            with contextlib.chdir(ROOT):
                done, failed = export_all(f"specs/{name}.yaml", EXPORT_FORMATS, out)
            cache[name] = (out, done, failed)
        return cache[name]

    return export


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_every_seed_spec_exports_to_every_format_or_names_the_layer(
    path: Path, exported: Callable[[str], Exported]
) -> None:
    out, done, failed = exported(path.stem)
    expected = set(EXPORT_FORMATS) - CANNOT.get(path.stem, set())
    assert {r.format for r in done} == expected, [str(e) for _, e in failed]
    for result in done:
        assert result.max_abs_diff is not None
        assert result.max_abs_diff <= result.tolerance
        assert all(f.exists() for f in result.files)
        carried = read_provenance(result.path)
        assert carried["spec"] == path.read_text(encoding="utf-8")
        assert carried["spec_sha256"] == sha256(path)
        assert carried["format"] == result.format
        assert carried["keras_version"] and carried["modelspec_version"]
    for fmt, err in failed:
        if fmt in UNCHECKABLE.get(path.stem, ()):
            assert "does not reproduce the Keras model" in str(err)
            continue
        assert re.search(
            rf"^specs/{path.stem}\.yaml:\d+:\d+: layers\[\d+\] \(\w+\)( → .* at \S+)?: {fmt} ",
            str(err),
            re.M,
        )
        assert not (out / FORMATS[fmt].default_path(done[0].path.stem)).exists()
    assert leftovers(out) == []


def test_a_layer_inside_a_block_is_named_through_its_instance(
    exported: Callable[[str], Exported],
) -> None:
    _, _, failed = exported("vae")
    assert str(dict(failed)["openvino"]).splitlines()[1] == (
        "specs/vae.yaml:41:5: layers[0] (encoder) → blocks.encoder.layers[6] (z) at "
        "specs/vae.yaml:25:9: openvino cannot convert this Sampling layer"
    )


def test_a_layer_a_format_cannot_convert_is_named_with_its_line(
    exported: Callable[[str], Exported],
) -> None:
    out, done, failed = exported("seq2seq")
    errors = {fmt: str(err).splitlines() for fmt, err in failed}
    assert errors["openvino"] == [
        "openvino export failed: the converter cannot take this model (no rule for TensorList)",
        "specs/seq2seq.yaml:11:5: layers[0] (encoder): openvino cannot convert this LSTM layer",
        "specs/seq2seq.yaml:12:5: layers[1] (decoder): openvino cannot convert this LSTM layer",
        "specs/seq2seq.yaml:21:5: layers[2] (tokens): openvino cannot convert this TimeDistributed layer",
        "Nothing was written. Export this model to another format (keras, saved_model, litert, onnx), or change the layer.",
    ]
    assert errors["litert"][:2] == [
        "litert export failed its check: ai-edge-litert cannot run the artifact (it needs "
        "TensorFlow ops that builtin LiteRT runtimes lack (the Flex delegate): "
        "TensorListReserve, TensorListSetItem, TensorListStack)",
        "specs/seq2seq.yaml:11:5: layers[0] (encoder): litert artifact fails in ai-edge-litert at this LSTM layer",
    ]
    # the keras artifact only: nothing of the formats that failed
    assert [p.name for p in out.iterdir()] == [r.path.name for r in done] == ["seq2seq.keras"]


def test_export_result_and_sample_inputs_from_the_spec_data(tmp_path: Path) -> None:
    spec = ROOT / "specs" / "antirectifier_digits.yaml"
    result = export_model(spec, "onnx", tmp_path / "digits.onnx")
    assert result.path == tmp_path / "digits.onnx"
    assert result.files == [tmp_path / "digits.onnx"]
    assert result.samples == "8 rows of digits (test split)"
    assert result.runtime is not None and result.runtime.startswith("onnxruntime ")
    assert result.tolerance == 1e-4
    assert re.fullmatch(
        rf"onnx: wrote {re.escape(str(result.path))} \(\d+\.\d\d s\); onnxruntime \S+ on 8 rows "
        r"of digits \(test split\): max abs diff \S+ \(tolerance 0\.0001\)",
        result.summary(),
    )
    # without data: random inputs of the declared shapes and dtypes
    attention = export_model(
        ROOT / "specs" / "attention.yaml", "keras", tmp_path / "a.keras", samples=3
    )
    assert attention.samples == "3 random inputs"
    assert attention.tolerance == 1e-5 and attention.max_abs_diff == 0.0


def test_openvino_writes_xml_and_bin_and_asks_for_f32(
    exported: Callable[[str], Exported],
) -> None:
    out, done, _ = exported("ssd_l2norm")
    [result] = [r for r in done if r.format == "openvino"]
    assert result.files == [out / "ssd_l2norm_head.bin", out / "ssd_l2norm_head.xml"]
    # bf16 (the CPU plugin's default where the CPU has it) misses by ~1e-2
    assert result.max_abs_diff is not None and result.max_abs_diff < 1e-4


def test_over_tolerance_fails_and_leaves_the_target_alone(tmp_path: Path) -> None:
    target = tmp_path / "ssd.onnx"
    with pytest.raises(ExportError) as err:
        export_model(ROOT / "specs" / "ssd_l2norm.yaml", "onnx", target, tolerance=1e-12)
    assert re.fullmatch(
        r"onnx export does not reproduce the Keras model: max abs diff \S+ on 8 random inputs "
        rf"\(onnxruntime \S+\), expected at most 1e-12\. Nothing was written to {re.escape(str(target))}\. "
        r"Raise the tolerance if this is expected\.",
        str(err.value),
    )
    assert list(tmp_path.iterdir()) == []
    target.write_text("an older artifact")
    with pytest.raises(ExportError):
        export_model(ROOT / "specs" / "ssd_l2norm.yaml", "onnx", target, tolerance=1e-12)
    assert target.read_text() == "an older artifact"
    assert leftovers(tmp_path) == []


def test_a_runtime_that_disagrees_fails_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = RUNNERS["saved_model"]

    def off_by_a_little(path: Path, model: Any, arrays: list[np.ndarray]) -> Any:
        outputs, runtime = original(path, model, arrays)
        return [o + 1e-3 for o in outputs], runtime

    monkeypatch.setitem(RUNNERS, "saved_model", off_by_a_little)
    with pytest.raises(ExportError, match=r"max abs diff 0\.001 on 8 rows of digits"):
        export_model(ROOT / "specs" / "custom_dense.yaml", "saved_model", tmp_path / "sm")
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_export_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setitem(RUNNERS, "litert", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export_model(ROOT / "specs" / "two_input_layer.yaml", "litert", tmp_path / "m.tflite")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_saved_model_is_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "sm"
    target.mkdir()
    (target / "stale.txt").write_text("from an older export")
    export_model(ROOT / "specs" / "siamese.yaml", "saved_model", target)
    assert not (target / "stale.txt").exists()
    assert (target / "saved_model.pb").is_file()
    assert read_provenance(target)["source"].endswith("siamese.yaml")
    assert leftovers(tmp_path) == []


KILL_BETWEEN_RENAMES = """
import os, signal, sys
from modelspec.export import export_model, staging
real = staging.os.replace
def replace(src, dst):
    if str(dst) == sys.argv[2]:  # the old SavedModel is aside, the new one not yet in place
        os.kill(os.getpid(), signal.SIGKILL)
    real(src, dst)
staging.os.replace = replace
export_model(sys.argv[1], "saved_model", sys.argv[2])
"""


def test_a_kill_between_the_renames_of_a_saved_model_is_undone_by_the_next_export(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    from modelspec.export.staging import recover

    target = tmp_path / "sm"
    export_model(ROOT / "specs" / "siamese.yaml", "saved_model", target)
    (target / "marker").write_text("the old export")
    spec = str(ROOT / "specs" / "siamese.yaml")
    killed = subprocess.run([sys.executable, "-c", KILL_BETWEEN_RENAMES, spec, str(target)])
    assert killed.returncode == -9
    assert not target.exists()  # the moment a kill there used to lose both
    assert len(leftovers(tmp_path)) == 1
    recover(target)  # what the next export to this target does first
    assert (target / "marker").read_text() == "the old export"
    assert leftovers(tmp_path) == []
    export_model(ROOT / "specs" / "siamese.yaml", "saved_model", target)
    assert not (target / "marker").exists() and (target / "saved_model.pb").is_file()
    assert leftovers(tmp_path) == []


def test_an_interrupt_between_the_renames_keeps_the_old_saved_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelspec.export import staging

    target = tmp_path / "sm"
    export_model(ROOT / "specs" / "siamese.yaml", "saved_model", target)
    (target / "marker").write_text("the old export")
    real, interrupted = staging.os.replace, []

    def replace(src: Any, dst: Any) -> None:
        if str(dst) == str(target) and not interrupted:  # old one aside, new one not yet in
            assert not target.exists()
            interrupted.append(src)
            raise KeyboardInterrupt
        real(src, dst)

    monkeypatch.setattr(staging.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        export_model(ROOT / "specs" / "siamese.yaml", "saved_model", target)
    monkeypatch.setattr(staging.os, "replace", real)
    assert (target / "marker").read_text() == "the old export"
    assert leftovers(tmp_path) == []


def test_a_killed_openvino_pair_is_put_back_whole(tmp_path: Path) -> None:
    from modelspec.export.staging import recover, stage_for

    (tmp_path / "m.xml").write_text("new xml")  # published before the kill? no: .bin first
    stage = stage_for(tmp_path / "m.xml", 2**22 + 12345)  # a process that does not exist
    (stage / "old").mkdir(parents=True)
    (stage / "old" / "m.xml").write_text("old xml")
    (stage / "old" / "m.bin").write_text("old bin")
    (stage / "publish.json").write_text('["m.bin", "m.xml"]')
    (tmp_path / "m.xml").unlink()
    (tmp_path / "m.bin").write_text("new bin")  # renamed in just before the kill
    (stage / "m.xml").write_text("new xml")  # still staged
    recover(tmp_path / "m.xml")
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {
        "m.xml": "old xml",
        "m.bin": "old bin",
    }


def test_exporting_a_saved_model_twice_to_the_same_path_replaces_it(tmp_path: Path) -> None:
    target = tmp_path / "sm"
    spec = str(ROOT / "specs" / "siamese.yaml")
    for _ in range(2):
        result = CliRunner().invoke(main, ["export", spec, "-f", "saved_model", "-o", str(target)])
        assert result.exit_code == 0, result.output
    assert sorted(p.name for p in target.iterdir()) == sorted(
        ["assets", "assets.extra", "fingerprint.pb", "saved_model.pb", "variables"]
    )
    assert leftovers(tmp_path) == []


def test_a_missing_runtime_is_one_line_with_the_pip_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hide_module(monkeypatch, "onnxruntime")
    message = "onnx export needs onnxruntime, not installed: pip install 'modelspec[onnx]'"
    with pytest.raises(ExportError) as err:
        export_model(ROOT / "specs" / "siamese.yaml", "onnx", tmp_path / "s.onnx")
    assert str(err.value) == message
    result = CliRunner().invoke(
        main, ["export", str(ROOT / "specs" / "siamese.yaml"), "-f", "onnx"]
    )
    assert result.exit_code == 1
    assert result.output == f"Error: {message}\n"


def test_litert_falls_back_to_tensorflows_interpreter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hide_module(monkeypatch, "ai_edge_litert")
    result = export_model(
        ROOT / "specs" / "custom_activation.yaml", "litert", tmp_path / "m.tflite"
    )
    assert result.runtime is not None and result.runtime.startswith("tf.lite ")


def test_a_model_object_exports_with_its_spec_for_provenance(tmp_path: Path) -> None:
    spec = ROOT / "specs" / "two_input_layer.yaml"
    model = build_model(spec)
    inputs = {
        "image_features": np.ones((2, 64), "float32"),
        "meta_features": np.zeros((2, 8), "float32"),
    }
    result = export_model(model, "keras", tmp_path / "m.keras", inputs=inputs, spec=spec)
    assert result.samples == "2 given inputs"
    assert read_provenance(result.path)["spec_sha256"] == sha256(spec)
    bare = export_model(model, "litert", tmp_path / "m.tflite")
    assert read_provenance(bare.path)["spec"] is None
    assert read_provenance(bare.path)["source"] == "<model>"
    with pytest.raises(
        ExportError, match=r"expected a path ending in \.onnx for onnx\. Received: "
    ):
        export_model(model, "onnx", tmp_path / "m.tflite")
    with pytest.raises(
        ExportError, match=re.escape("unknown export format 'onxx'. Did you mean 'onnx'?")
    ):
        export_model(model, "onxx", tmp_path / "m.onnx")


def test_max_abs_diff() -> None:
    a = [np.array([1.0, np.nan, 3.0])]
    assert max_abs_diff(a, [np.array([1.5, np.nan, 3.0])]) == 0.5
    assert max_abs_diff(a, [np.array([1.0, 2.0, 3.0])]) == float("inf")
    assert max_abs_diff(a, [np.array([1.0, 2.0])]) == float("inf")
    assert max_abs_diff(a, []) == float("inf")


# -- the CLI -------------------------------------------------------------------------------
def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_cli_exports_several_formats(tmp_path: Path) -> None:
    code, out = run(
        "export",
        str(ROOT / "specs" / "custom_dense.yaml"),
        "-f",
        "onnx,litert",
        "-f",
        "keras",
        "-o",
        str(tmp_path),
    )
    assert code == 0, out
    lines = out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["onnx", "litert", "keras"]
    assert all("max abs diff" in line for line in lines)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "custom_dense_digits.keras",
        "custom_dense_digits.onnx",
        "custom_dense_digits.tflite",
    ]


def test_cli_export_to_a_file_and_usage_errors(tmp_path: Path) -> None:
    spec = str(ROOT / "specs" / "siamese.yaml")
    code, out = run("export", spec, "-f", "litert", "-o", str(tmp_path / "s.tflite"))
    assert code == 0, out
    assert (tmp_path / "s.tflite").is_file()
    code, out = run("export", spec, "-f", "onnx", "-o", str(tmp_path / "s.tflite"))
    assert code == 2
    assert "Invalid value for '--out': expected a path ending in .onnx for onnx. Received: " in out
    code, out = run("export", spec, "-f", "onxx")
    assert code == 2
    assert (
        "Invalid value for '--format': expected one of keras, saved_model, litert, onnx, "
        "openvino or all. Received: onxx. Did you mean 'onnx'?" in out
    )
    code, out = run("export", spec)
    assert code == 2
    assert "give --format FMT (the spec has no export: section)" in out


def test_cli_over_tolerance_exits_1(tmp_path: Path) -> None:
    code, out = run(
        "export",
        str(ROOT / "specs" / "ssd_l2norm.yaml"),
        "-f",
        "onnx",
        "--tolerance",
        "1e-12",
        "-o",
        str(tmp_path),
    )
    assert code == 1
    assert "Error: onnx export does not reproduce the Keras model: max abs diff" in out
    assert list(tmp_path.iterdir()) == []


def test_train_exports_the_spec_export_section_and_export_reads_it(
    write_spec: Callable[..., str], tmp_path: Path
) -> None:
    spec = write_spec(
        SMALL.replace("epochs: 3", "epochs: 1")
        + "export:\n  formats: [onnx, saved_model]\n  tolerance: {onnx: 1e-3}\n"
    )
    result = train(spec, out_dir=tmp_path / "runs")
    export_dir = result.run_dir / "export"
    assert sorted(p.name for p in export_dir.iterdir()) == ["small.onnx", "small_saved_model"]
    assert [r.format for r in result.exports] == ["onnx", "saved_model"]
    assert result.exports[0].tolerance == 1e-3 and result.exports[1].tolerance == 1e-5
    assert result.exports[0].samples == "8 rows of digits (test split)"
    assert result.export_errors == []
    meta = json.loads((result.run_dir / "run.json").read_text())
    assert meta["exports"]["onnx"]["path"] == "export/small.onnx"
    carried = read_provenance(export_dir / "small.onnx")
    assert carried["spec"] == (result.run_dir / "spec.yaml").read_text()  # the resolved spec
    assert carried["source"] == str(result.run_dir)

    # `modelspec export RUN_DIR` without --format takes the spec's formats, into RUN_DIR/export
    for p in export_dir.iterdir():
        p.unlink() if p.is_file() else None
    code, out = run("export", str(result.run_dir))
    assert code == 0, out
    assert out.startswith(f"onnx: wrote {export_dir / 'small.onnx'} (")
    # a .keras source
    code, out = run(
        "export",
        str(result.run_dir / "model.keras"),
        "-f",
        "keras",
        "-o",
        str(tmp_path / "again.keras"),
    )
    assert code == 0, out
    assert "on 8 random inputs" in out  # a bare .keras file brings no data


def test_int64_data_rows_check_an_int32_input_as_keras_takes_them(
    write_spec: Callable[..., str], tmp_path: Path
) -> None:
    """The ONNX check fed int64 rows of the data to an int32 input (ONNX Runtime refused
    them, and the export was blamed on the model); rows now take the input's dtype."""
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "seq.npz",
        tokens=rng.integers(0, 20, (40, 16)),  # int64, as numpy makes them
        label=rng.integers(0, 2, 40),
    )
    spec = write_spec(
        "modelspec: 1\nname: tokens\n"
        "inputs: [{name: tokens, shape: [16], dtype: int32}]\n"
        "layers:\n"
        "  - {name: emb, type: Embedding, input_dim: 20, output_dim: 8}\n"
        "  - {name: pool, type: GlobalAveragePooling1D}\n"
        "  - {name: probs, type: Dense, units: 2, activation: softmax}\n"
        "outputs: [probs]\n"
        "train: {data: {source: npz, path: seq.npz, inputs: {tokens: tokens}, "
        "targets: {probs: label}}}\n"
        "compile: {loss: sparse_categorical_crossentropy}\n"
    )
    result = export_model(spec, "onnx", tmp_path / "tokens.onnx", spec=spec)
    assert result.max_abs_diff is not None and result.max_abs_diff < 1e-5
    assert "rows of" in result.samples
