"""train.data.transform built into the model (``preprocess: model``): raw inputs everywhere."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.datasets import load_digits

from modelspec import SpecError, build_model, load_spec, register_dataset
from modelspec.build import load_model
from modelspec.cli import main
from modelspec.data import build_with_transforms, load_data, read_arrays, transforms_in
from modelspec.export.formats import RUNNERS
from modelspec.training import evaluate, predict, train
from tests.conftest import ROOT, SMALL

RAW = load_digits().data.astype(np.float32)  # pixel values 0..16


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def same_weights(target: keras.Model, source: keras.Model) -> None:
    """Give ``target``'s layers the weights of ``source``'s layers of the same name."""
    for layer in target.layers:
        if layer.weights:
            layer.set_weights(source.get_layer(layer.name).get_weights())


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    result = train(
        ROOT / "specs" / "antirectifier_digits.yaml",
        overrides=["train.verbose=0", "export.formats=[keras, saved_model, onnx]"],
        epochs=1,
        out_dir=out,
    )
    assert not result.export_errors, result.export_errors
    return result.run_dir


def test_a_trained_model_takes_raw_inputs(digits_run: Path, tmp_path: Path) -> None:
    model = load_model(digits_run / "model.keras")
    assert [layer.name for layer in model.layers[:3]] == ["pixels", "pixels_divide_by", "dense_1"]
    assert isinstance(model.get_layer("pixels_divide_by"), keras.layers.Rescaling)
    assert json.loads((digits_run / "run.json").read_text())["preprocess"] == "model"
    # the graph behind the layer is the spec's: on raw/16 it gives what the model gives on raw
    spec = load_spec(ROOT / "specs" / "antirectifier_digits.yaml")
    graph = build_model(spec)
    same_weights(graph, model)
    raw = RAW[:20]
    on_raw = model.predict(raw, verbose=0)
    np.testing.assert_allclose(on_raw, graph.predict(raw / 16, verbose=0), atol=1e-6)
    # a run directory and the bare model.keras (CLI) both take the raw file
    np.savez(tmp_path / "raw.npz", x=raw)
    (from_run,) = predict(digits_run, tmp_path / "raw.npz").values()
    np.testing.assert_allclose(from_run, on_raw, atol=1e-6)
    np.savez(tmp_path / "pixels.npz", pixels=raw)  # no spec: arrays named as the inputs
    code, out = run(
        "predict", str(digits_run / "model.keras"), "--input", str(tmp_path / "pixels.npz"),
        "--output", str(tmp_path / "pred.npz"),
    )  # fmt: skip
    assert code == 0, out
    with np.load(tmp_path / "pred.npz") as saved:
        np.testing.assert_allclose(saved["probs"], from_run, atol=1e-6)
    # evaluate feeds raw rows too: the same metrics as training's
    metrics = json.loads((digits_run / "metrics.json").read_text())
    assert evaluate(digits_run) == pytest.approx(metrics, rel=1e-5)
    code, out = run("evaluate", str(digits_run))
    assert code == 0 and out.splitlines()[2] == (
        "evaluated on the test split of the spec's data: 360 rows"
    ), out


def test_exported_artifacts_take_raw_inputs(digits_run: Path) -> None:
    model = load_model(digits_run / "model.keras")
    meta = json.loads((digits_run / "run.json").read_text())
    assert set(meta["exports"]) == {"keras", "saved_model", "onnx"}
    raw = RAW[:16]
    expected = model.predict(raw, verbose=0)
    for fmt in ("saved_model", "onnx"):
        assert meta["exports"][fmt]["max_abs_diff"] < 1e-4
        outputs, _ = RUNNERS[fmt](digits_run / meta["exports"][fmt]["path"], model, [raw])
        np.testing.assert_allclose(outputs[0], expected, atol=1e-4, err_msg=fmt)
        assert not np.allclose(outputs[0], model.predict(raw / 16, verbose=0), atol=1e-3)


def test_preprocess_data_keeps_the_transforms_on_the_arrays(
    write_spec: Callable[..., str], tmp_path: Path
) -> None:
    in_model = train(write_spec(SMALL), epochs=1, out_dir=tmp_path / "a")
    spec = write_spec(
        SMALL.replace("    name: digits\n", "    name: digits\n    preprocess: data\n")
    )
    outside = train(spec, epochs=1, out_dir=tmp_path / "b")
    assert [t.name for t in outside.model.layers][:2] == ["pixels", "hidden"]
    assert not transforms_in(outside.model, load_spec(spec))
    assert transforms_in(in_model.model, load_spec(spec))
    assert json.loads((outside.run_dir / "run.json").read_text())["preprocess"] == "data"
    # the same seeded weights and data either way
    assert outside.metrics == pytest.approx(in_model.metrics, rel=1e-4)
    np.savez(tmp_path / "raw.npz", x=RAW[:10])
    (probs,) = predict(outside.run_dir, tmp_path / "raw.npz").values()  # transformed for it
    np.testing.assert_allclose(probs, outside.model.predict(RAW[:10] / 16, verbose=0), atol=1e-6)
    assert load_data(load_spec(spec)).train.x["pixels"].max() == 1.0


def test_a_run_from_before_evaluates_predicts_and_resumes(
    write_spec: Callable[..., str], tmp_path: Path
) -> None:
    spec = write_spec(
        SMALL.replace("    name: digits\n", "    name: digits\n    preprocess: data\n")
    )
    old = train(spec, epochs=1, out_dir=tmp_path).run_dir
    # what a run made before transforms went into models looks like
    meta = json.loads((old / "run.json").read_text())
    del meta["preprocess"]
    (old / "run.json").write_text(json.dumps(meta))
    text = (old / "spec.yaml").read_text()
    (old / "spec.yaml").write_text(text.replace("    preprocess: data\n", ""))
    model = load_model(old / "model.keras")
    np.savez(tmp_path / "raw.npz", x=RAW[:10])
    (probs,) = predict(old, tmp_path / "raw.npz").values()
    np.testing.assert_allclose(probs, model.predict(RAW[:10] / 16, verbose=0), atol=1e-6)
    metrics = json.loads((old / "metrics.json").read_text())
    assert evaluate(old) == pytest.approx(metrics, rel=1e-5)
    resumed = train(resume=old, epochs=2)  # rebuilt as it was made: no layer in front
    assert len(resumed.history["loss"]) == 2
    assert [t.name for t in resumed.model.layers][:2] == ["pixels", "hidden"]


IMAGES = """\
modelspec: 1
name: images
inputs:
  - {name: pixels, shape: [8, 8, 1]}
  - {name: ids, shape: [5]}
layers:
  - {name: flat, type: Flatten, inputs: pixels}
  - {name: both, type: Concatenate, inputs: [flat, ids]}
  - {name: probs, type: Dense, units: 3, activation: softmax}
outputs: [probs]
compile: {loss: sparse_categorical_crossentropy}
train:
  data:
    source: function
    name: small_images
    inputs: {pixels: pixels, ids: ids}
    transform:
      pixels: [{reshape: [8, 8, 1]}, {cast: float16}, {divide_by: 255}, {standardize: true}]
      ids: [{one_hot: 5}]
"""


@pytest.fixture
def small_images(clean_registry: None) -> None:
    @register_dataset("small_images")
    def small_images() -> dict[str, np.ndarray]:
        rng = np.random.default_rng(0)
        return {
            "pixels": rng.integers(0, 256, (60, 64)).astype(np.uint8),
            "ids": rng.integers(0, 5, 60),
            "y": rng.integers(0, 3, 60),
        }


def test_every_transform_is_a_layer_that_reloads_in_safe_mode(
    write_spec: Callable[..., str], small_images: None, tmp_path: Path
) -> None:
    spec = load_spec(write_spec(IMAGES))
    data = load_data(spec)
    model = build_with_transforms(spec, data)
    assert [(t.name, tuple(t.shape), t.dtype) for t in model.inputs] == [
        ("pixels", (None, 64), "uint8"),  # raw: as the data has them
        ("ids", (None,), "int64"),
    ]
    names = [op.name for op in model.operations]
    front = ["pixels_reshape", "pixels_cast", "pixels_divide_by", "pixels_standardize"]
    assert [n for n in names if n.startswith("pixels_")] == front
    assert [n for n in names if n.startswith("ids_")] == ["ids_one_hot"]
    assert names.index("ids_one_hot") < names.index("both")
    # the layers compute what the transforms compute on the arrays
    graph = build_model(spec)
    same_weights(graph, model)
    assert data.graph_view is not None and data.test is not None
    view = data.graph_view.test
    assert view is not None
    expected = graph.predict(view.x, verbose=0)
    np.testing.assert_allclose(model.predict(data.test.x, verbose=0), expected, atol=1e-3)
    model.save(tmp_path / "m.keras")
    again = load_model(tmp_path / "m.keras")  # safe_mode=True
    np.testing.assert_allclose(again.predict(data.test.x, verbose=0), expected, atol=1e-3)


def test_standardize_statistics_come_from_the_training_split_only(
    write_spec: Callable[..., str], small_images: None
) -> None:
    spec = load_spec(write_spec(IMAGES))
    data = load_data(spec)
    model = build_with_transforms(spec, data)
    norm = model.get_layer("pixels_standardize")
    train = data.train.x["pixels"].reshape(-1, 8, 8, 1).astype(np.float16) / 255
    np.testing.assert_allclose(np.asarray(norm.mean)[0], train.mean(axis=0), atol=1e-3)
    every = np.concatenate([s.x["pixels"] for _, s in data.splits()]).reshape(-1, 8, 8, 1) / 255
    assert not np.allclose(np.asarray(norm.mean)[0], every.mean(axis=0), atol=1e-3)
    # a file for predict is not standardized outside the model
    np.savez("new.npz", pixels=data.test.x["pixels"], ids=data.test.x["ids"])  # type: ignore[union-attr]
    raw = read_arrays("new.npz", spec, "model")
    assert raw["pixels"].dtype == np.uint8 and raw["pixels"].shape == (len(raw["pixels"]), 64)


def test_pad_sequences_stays_in_the_data_and_the_steps_after_it_go_in_the_model(
    write_spec: Callable[..., str], clean_registry: None
) -> None:
    @register_dataset("texts")
    def texts() -> tuple[np.ndarray, np.ndarray]:
        seqs = np.empty(20, dtype=object)
        seqs[:] = [list(range(1, i % 6 + 2)) for i in range(20)]
        return seqs, np.arange(20) % 2

    head = SMALL.replace("[64]", "[4]").replace("units: 10", "units: 2")
    text = head.replace(
        "    source: sklearn\n    name: digits\n    transform: {pixels: [{divide_by: 16}]}\n",
        "    source: function\n    name: texts\n"
        "    transform: {pixels: [{pad_sequences: 4}, {divide_by: 2}]}\n",
    )
    spec = load_spec(write_spec(text))
    data = load_data(spec)
    assert data.train.x["pixels"].shape[1:] == (4,)  # padded, not divided
    assert data.train.x["pixels"].max() == 6
    model = build_with_transforms(spec, data)
    assert [layer.name for layer in model.layers[:2]] == ["pixels", "pixels_divide_by"]


def test_a_node_named_like_a_transform_layer_keeps_its_name(
    write_spec: Callable[..., str],
) -> None:
    text = SMALL.replace("name: hidden", "name: pixels_divide_by").replace(
        "name: probs, type: Dense, units: 10",
        "name: probs, type: Dense, units: 10, inputs: pixels_divide_by",
    )
    spec = load_spec(write_spec(text))
    model = build_with_transforms(spec, load_data(spec))
    assert [layer.name for layer in model.layers] == [
        "pixels", "pixels_divide_by_2", "pixels_divide_by", "probs"
    ]  # fmt: skip
    assert transforms_in(model, spec)


def test_a_bad_preprocess_value_is_reported_at_its_line(write_spec: Callable[..., str]) -> None:
    text = SMALL.replace("    name: digits\n", "    name: digits\n    preprocess: modle\n")
    with pytest.raises(SpecError) as err:
        load_spec(write_spec(text))
    assert [d.format() for d in err.value.diagnostics] == [
        "spec.yaml:17:17: train.data.preprocess: expected model (the inputs' transforms are "
        "layers of the model) or data. Received: 'modle'. Did you mean 'model'?"
    ]
    for bad, shown in (("true", "preprocess=True"), ("[model]", "preprocess=['model']")):
        with pytest.raises(SpecError) as err:
            load_spec(write_spec(text.replace("preprocess: modle", f"preprocess: {bad}")))
        assert [d.format() for d in err.value.diagnostics] == [
            "spec.yaml:17:17: train.data.preprocess: expected model (the inputs' transforms "
            f"are layers of the model) or data. Received: {shown}"
        ]


def test_cli_build_with_data_makes_the_model_training_makes(tmp_path: Path) -> None:
    spec = str(ROOT / "specs" / "vae.yaml")  # image: [{divide_by: 16}, {reshape: [8, 8, 1]}]
    code, out = run("build", spec, "--with-data", "-q", "-o", str(tmp_path / "vae.keras"))
    assert code == 0, out
    model = load_model(tmp_path / "vae.keras")
    assert [(t.name, tuple(t.shape)) for t in model.inputs] == [("image", (None, 64))]
    assert [layer.name for layer in model.layers[1:3]] == ["image_divide_by", "image_reshape"]
    code, out = run("build", spec, "-q", "-o", str(tmp_path / "declared.keras"))
    assert code == 0, out
    declared = load_model(tmp_path / "declared.keras")
    assert [(t.name, tuple(t.shape)) for t in declared.inputs] == [("image", (None, 8, 8, 1))]
    code, out = run("build", str(ROOT / "specs" / "siamese.yaml"), "--with-data")
    assert code == 2 and out.splitlines()[-1] == (
        f"Error: Invalid value for '--with-data': cannot load the data: "
        f"{ROOT / 'specs' / 'siamese.yaml'} has no train.data"
    ), out


def test_arrays_are_checked_as_the_graph_sees_them_behind_the_layers(
    write_spec: Callable[..., str],
) -> None:
    from modelspec import DataError
    from modelspec.training.fit import model_and_data

    text = SMALL.replace("[{divide_by: 16}]", "[{divide_by: 16}, {reshape: [8, 8]}]")
    with pytest.raises(DataError) as err:
        model_and_data(load_spec(write_spec(text)), "model")
    assert [d.format() for d in err.value.diagnostics] == [
        "spec.yaml:15:5: train.data: expected arrays of per-sample shape (64,) for the model "
        "input 'pixels' (the batch dimension excluded). Received: (8, 8). Transform them in "
        "train.data: `transform: {pixels: [{reshape: [64]}]}`"
    ]


@pytest.mark.parametrize(
    ("op", "arg", "shape", "dtype"),
    [
        ("one_hot", 5, (), "int64"),
        ("one_hot", 5, (1,), "int64"),
        ("one_hot", 5, (3,), "int32"),
        ("one_hot", 5, (3, 1), "int64"),
        ("one_hot", 5, (4, 4), "float32"),
        ("divide_by", 255, (6,), "uint8"),
        ("divide_by", -2.5, (2, 3), "float32"),
        ("standardize", True, (), "float32"),
        ("standardize", True, (6,), "uint8"),
        ("standardize", True, (2, 3, 1), "float32"),
        ("reshape", [3, -1], (6,), "float32"),
        ("cast", "int32", (6,), "float32"),
        ("cast", "float16", (2, 3), "uint8"),
    ],
)
def test_each_layer_computes_what_its_transform_computes_on_the_arrays(
    op: str, arg: object, shape: tuple[int, ...], dtype: str
) -> None:
    from modelspec.data.preprocess import _layer
    from modelspec.data.transforms import Step, _apply, _statistics

    rng = np.random.default_rng(0)
    train = rng.integers(0, 5, (40, *shape)).astype(dtype)
    arrays = rng.integers(0, 5, (7, *shape)).astype(dtype)
    step = Step(op, arg, ("x",))
    stats = {step.path: _statistics(train)} if op == "standardize" else {}
    expected = _apply(step, arrays, stats.get(step.path))
    raw = keras.Input(shape, dtype=dtype)
    model = keras.Model(raw, _layer(keras, step, f"x_{op}", raw, stats))
    got = model.predict(arrays, verbose=0)
    assert got.shape == expected.shape
    if op == "cast":
        assert got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
