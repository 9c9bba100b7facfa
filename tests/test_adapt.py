"""``adapt:``: preprocessing layers adapted on the training split, and the structured-data spec."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from modelspec import build_model, load_model, load_spec, predict, train, validate_spec
from modelspec.build.adapt import STAND_IN
from modelspec.cli import main
from modelspec.data import load_data, read_arrays
from modelspec.training.fit import model_and_data

from .conftest import ROOT

STRUCTURED = ROOT / "specs" / "structured_data.yaml"

HEAD = """\
modelspec: 1
name: t
inputs: [{name: num, shape: [3]}, {name: thal, shape: [1], dtype: string}]
layers:
"""
TAIL = """\
outputs: [out]
train: {data: {source: npz, path: d.npz}}
"""


def problems(layers: str, tail: str = TAIL) -> list[str]:
    report = validate_spec(HEAD + layers + tail)
    return [d.format() for d in report.diagnostics]


@pytest.mark.parametrize(
    ("layers", "expected"),
    [
        (
            "  - {name: out, type: Normalization, inputs: num}\n",
            "<string>:5:5: layers[0] (out): Normalization needs its statistics: `adapt: true` "
            "(computed from the training split) or `mean:` and `variance:`. Without them it "
            "passes its inputs through unchanged",
        ),
        (
            "  - {name: out, type: Normalization, inputs: num, adapt: false}\n",
            "<string>:5:5: layers[0] (out): Normalization needs its statistics: `adapt: true` "
            "(computed from the training split) or `mean:` and `variance:`. Without them it "
            "passes its inputs through unchanged",
        ),
        (
            "  - {name: out, type: StringLookup, inputs: thal}\n",
            "<string>:5:5: layers[0] (out): StringLookup needs a vocabulary: `adapt: true` "
            "(learned from the training split) or `vocabulary:`",
        ),
        (
            "  - {name: out, type: IntegerLookup, output_mode: one_hot, inputs: num}\n",
            "<string>:5:5: layers[0] (out): IntegerLookup needs a vocabulary: `adapt: true` "
            "(learned from the training split) or `vocabulary:`",
        ),
        (
            "  - {name: out, type: TextVectorization, inputs: thal}\n",
            "<string>:5:5: layers[0] (out): TextVectorization needs a vocabulary: `adapt: true` "
            "(learned from the training split) or `vocabulary:`",
        ),
        (
            "  - {name: out, type: Discretization, num_bins: 4, inputs: num}\n",
            "<string>:5:5: layers[0] (out): Discretization needs its bins: `bin_boundaries:`, or "
            "`num_bins:` with `adapt: true` (boundaries computed from the training split)",
        ),
        (
            "  - {name: out, type: Dense, units: 2, inputs: num, adapt: true}\n",
            "<string>:5:53: layers[0] (out).adapt: Dense cannot adapt: `adapt:` takes a "
            "preprocessing layer that computes its state from data (Discretization, "
            "IntegerLookup, Normalization, StringLookup, TextVectorization, or a registered "
            "layer with an adapt() method). Received: type=Dense",
        ),
        (
            "  - {name: out, type: Normalization, inputs: num, mean: 0.0, variance: 1.0,"
            " adapt: true}\n",
            "<string>:5:51: layers[0] (out).mean: Normalization gets its mean and variance "
            "either from `mean:` or from `adapt:`, not both. Received: adapt and mean",
        ),
        (
            "  - {name: out, type: StringLookup, inputs: thal, vocabulary: [a], adapt: true}\n",
            "<string>:5:51: layers[0] (out).vocabulary: StringLookup gets its vocabulary "
            "either from `vocabulary:` or from `adapt:`, not both. Received: adapt and vocabulary",
        ),
        (
            "  - {name: out, type: Normalization, inputs: num, adapt: {data: thal}}\n",
            "<string>:5:65: layers[0] (out).adapt.data: Normalization adapts on numbers. "
            "Received: model input 'thal' of dtype string. Adapt it on a numeric input, or "
            "turn text into numbers first (a StringLookup)",
        ),
        (
            "  - {name: out, type: Discretization, num_bins: 3, inputs: thal, adapt: true}\n",
            "<string>:5:73: layers[0] (out).adapt: Discretization adapts on numbers. "
            "Received: model input 'thal' of dtype string. Adapt it on a numeric input, or "
            "turn text into numbers first (a StringLookup)",
        ),
        (
            "  - {name: out, type: Normalization, inputs: num, adapt: {data: nmu}}\n",
            "<string>:5:65: layers[0] (out).adapt.data: unknown model input 'nmu'. Did you mean "
            "'num'? `adapt.data` names a model input (num, thal); `adapt: true` adapts on what "
            "reaches this node",
        ),
        (
            "  - {name: out, type: Normalization, inputs: num, adapt: {batch_size: 0}}\n",
            "<string>:5:71: layers[0] (out).adapt.batch_size: expected a positive integer. "
            "Received: batch_size=0",
        ),
        (
            "  - {name: out, type: Normalization, inputs: num, adapt: {step: 2}}\n",
            "<string>:5:59: layers[0] (out).adapt.step: unknown key 'step'. Did you mean 'steps'?",
        ),
        (
            "  - {name: out, type: Normalization, inputs: num, adapt: yes please}\n",
            "<string>:5:58: layers[0] (out).adapt: expected true, false, or a mapping {data: "
            "input name, batch_size, steps}. Received: adapt='yes please'",
        ),
        (
            "  - {name: n, type: Normalization, inputs: num, adapt: true}\n"
            "  - {name: out, share: n, inputs: num, adapt: true}\n",
            "<string>:6:40: layers[1] (out).adapt: a node that shares the layer of 'n' is "
            "adapted with it: put `adapt:` on 'n'",
        ),
        (
            "  - {name: out, op: mean, inputs: num, adapt: true}\n",
            "<string>:5:40: layers[0] (out).adapt: `adapt:` takes a preprocessing layer (type: "
            "Discretization, IntegerLookup, Normalization, StringLookup, TextVectorization); an "
            "op node has no state to adapt",
        ),
        (
            "  - {name: out, expr: 'num * 2', adapt: true}\n",
            "<string>:5:34: layers[0] (out).adapt: `adapt:` takes a preprocessing layer (type: "
            "Discretization, IntegerLookup, Normalization, StringLookup, TextVectorization); an "
            "expr node has no state to adapt",
        ),
    ],
)
def test_bad_adapt_is_reported_at_its_line(layers: str, expected: str) -> None:
    found = [p for p in problems(layers) if "layers[" in p and "not used" not in p]
    assert found == [expected]


def test_adapt_on_a_block_instance_and_inside_a_block() -> None:
    spec = (
        HEAD.replace("layers:\n", "")
        + (
            "blocks:\n"
            "  pre:\n"
            "    inputs: [v]\n"
            "    layers:\n"
            "      - {name: n, type: Normalization, adapt: true}\n"
            "    outputs: n\n"
            "layers:\n"
            "  - {name: b, block: pre, inputs: num}\n"
            "  - {name: out, block: pre, inputs: b, adapt: true}\n"
        )
        + TAIL
    )
    found = [d.format() for d in validate_spec(spec).diagnostics if "adapt" in d.message]
    inside = (
        "blocks.pre.layers[0] (n).adapt at <string>:8:40: `adapt:` cannot be used inside a "
        "block: a block instance is a nested model, built before any data is seen. Put the "
        "preprocessing layer in the model's `layers:`, in front of the block"
    )
    assert found == [
        f"<string>:11:5: layers[0] (b) \u2192 {inside}",
        f"<string>:12:5: layers[1] (out) \u2192 {inside}",
        "<string>:12:40: layers[1] (out).adapt: `adapt:` takes a preprocessing layer (type: "
        "Discretization, IntegerLookup, Normalization, StringLookup, TextVectorization); a "
        "block instance node has no state to adapt",
    ]


def test_adapt_without_train_data_is_a_warning_and_builds_unadapted() -> None:
    spec = HEAD + (
        "  - {name: norm, type: Normalization, inputs: num, adapt: true}\n"
        "  - {name: look, type: StringLookup, output_mode: one_hot, inputs: thal, adapt: true}\n"
        "  - {name: cat, type: Concatenate, inputs: [norm, look]}\n"
        "  - {name: out, type: Dense, units: 1}\n"
        "outputs: [out]\n"
    )
    report = validate_spec(spec)
    assert report.ok
    unadapted = (
        "is adapted on the training split when the model is trained, so built without it, it "
        "is not adapted"
    )
    assert [d.format() for d in report.warnings] == [
        "<string>:5:52: warning: layers[0] (norm).adapt: this spec has no `train:` section: "
        f"Normalization {unadapted}",
        "<string>:6:74: warning: layers[1] (look).adapt: this spec has no `train:` section: "
        f"StringLookup {unadapted}",
    ]
    model = build_model(spec)  # validate ok => build ok: the lookup has a stand-in vocabulary
    assert model.get_layer("look").get_vocabulary() == ["[UNK]", STAND_IN]
    assert model.get_layer("out").kernel.shape == (3 + 2, 1)


ADAPTED = """\
modelspec: 1
name: adapted
inputs: [{name: x, shape: [2]}, {name: word, shape: [1], dtype: string}]
layers:
  - {name: norm, type: Normalization, inputs: x, adapt: true}
  - {name: scaled, type: Dense, units: 3, inputs: x, kernel_initializer: ones}
  - {name: deep_norm, type: Normalization, inputs: scaled, adapt: {batch_size: 16}}
  - {name: look, type: StringLookup, output_mode: one_hot, inputs: word, adapt: true}
  - {name: cat, type: Concatenate, inputs: [norm, deep_norm, look]}
  - {name: out, type: Dense, units: 1, activation: sigmoid}
outputs: [out]
compile: {optimizer: adam, loss: binary_crossentropy}
train:
  data:
    source: npz
    path: data.npz
    inputs: {x: x, word: word}
    targets: {out: y}
    split: {validation: 0.25, test: 0.25, seed: 0}
  epochs: 2
  verbose: 0
"""


def write_adapted(write_spec: Callable[..., str], tmp_path: Path) -> str:
    """The ADAPTED spec and its data: train rows differ from held-out rows."""
    rng = np.random.default_rng(0)
    n = 200
    x = rng.normal(5.0, 2.0, (n, 2)).astype("float32")
    words = rng.choice(["red", "green", "blue", "cyan"], n)
    np.savez(tmp_path / "data.npz", x=x, word=words, y=(x[:, 0] > 5).astype("float32"))
    return write_spec(ADAPTED)


def test_adapt_true_uses_the_training_split_only(
    write_spec: Callable[..., str], tmp_path: Path
) -> None:
    spec = load_spec(write_adapted(write_spec, tmp_path))
    data = load_data(spec)
    model = build_model(spec, adapt_data=data.train.x)
    train_x = data.train.x["x"]
    held_out = np.concatenate([data.validation.x["x"], data.test.x["x"]])
    mean = np.asarray(model.get_layer("norm").mean).reshape(-1)
    np.testing.assert_allclose(mean, train_x.mean(axis=0), rtol=1e-5)
    assert not np.allclose(mean, held_out.mean(axis=0), rtol=1e-3)
    variance = np.asarray(model.get_layer("norm").variance).reshape(-1)
    np.testing.assert_allclose(variance, train_x.var(axis=0), rtol=1e-4)
    # a deeper node adapts on what reaches it: the Dense(ones) output, sum of x's columns
    deep = np.asarray(model.get_layer("deep_norm").mean).reshape(-1)
    np.testing.assert_allclose(deep, [train_x.sum(axis=1).mean()] * 3, rtol=1e-4)
    # the vocabulary is the training split's words, by frequency
    words, counts = np.unique(data.train.x["word"], return_counts=True)
    expected = [w for _, w in sorted(zip(-counts, words, strict=True))]
    vocabulary = model.get_layer("look").get_vocabulary()
    assert vocabulary[0] == "[UNK]" and sorted(vocabulary[1:]) == sorted(expected)
    assert model.get_layer("out").kernel.shape == (2 + 3 + 1 + len(words), 1)


def test_adapt_data_names_an_input(write_spec: Callable[..., str], tmp_path: Path) -> None:
    path = write_adapted(write_spec, tmp_path)
    text = (
        Path(path)
        .read_text()
        .replace(
            "inputs: scaled, adapt: {batch_size: 16}",
            "inputs: x, adapt: {data: x, steps: 1, batch_size: 10}",
        )
        .replace("type: Dense, units: 3, inputs: x", "type: Dense, units: 2, inputs: x")
    )
    spec = load_spec(write_spec(text))
    data = load_data(spec)
    model = build_model(spec, adapt_data=data.train.x)
    # one batch of 10 rows only
    first = data.train.x["x"][:10]
    np.testing.assert_allclose(
        np.asarray(model.get_layer("deep_norm").mean).reshape(-1), first.mean(axis=0), rtol=1e-5
    )


def test_adapted_model_trains_saves_and_reloads_in_safe_mode(
    write_spec: Callable[..., str], tmp_path: Path
) -> None:
    spec = write_adapted(write_spec, tmp_path)
    result = train(spec, out_dir=tmp_path / "runs")
    reloaded = load_model(result.run_dir / "model.keras")
    assert (
        reloaded.get_layer("look").get_vocabulary()
        == result.model.get_layer("look").get_vocabulary()
    )
    x = {
        "x": np.array([[1.0, 2.0], [7.0, 3.0]], "float32"),
        "word": np.array([["red"], ["never seen"]]),
    }
    ours = predict(result.run_dir, x)["out"]
    np.testing.assert_allclose(predict(result.run_dir / "model.keras", x)["out"], ours, atol=1e-6)
    best = load_model(result.run_dir / "best.keras")
    assert best.get_layer("look").get_vocabulary() == reloaded.get_layer("look").get_vocabulary()


def test_a_resumed_run_keeps_the_adapted_state(
    write_spec: Callable[..., str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = write_adapted(write_spec, tmp_path)
    # unshuffled, the resumed second epoch sees the batches the uninterrupted one saw
    whole = train(spec, overrides=["train.shuffle=false"], out_dir=tmp_path / "whole")
    fit = keras.Model.fit

    def killed(self: keras.Model, *args: object, **kwargs: object) -> None:
        fit(self, *args, **{**kwargs, "epochs": 1})  # type: ignore[arg-type]
        raise KeyboardInterrupt  # after the first epoch

    monkeypatch.setattr(keras.Model, "fit", killed)
    from modelspec import RunInterrupted

    with pytest.raises(RunInterrupted) as stopped:
        train(spec, overrides=["train.shuffle=false"], out_dir=tmp_path / "cut")
    monkeypatch.setattr(keras.Model, "fit", fit)
    resumed = train(resume=stopped.value.run_dir)
    assert len(resumed.history["loss"]) == 2
    look = resumed.model.get_layer("look").get_vocabulary()
    assert look == whole.model.get_layer("look").get_vocabulary()
    for name in ("norm", "deep_norm"):
        np.testing.assert_allclose(
            np.asarray(resumed.model.get_layer(name).mean),
            np.asarray(whole.model.get_layer(name).mean),
        )
    assert resumed.history["loss"][0] == pytest.approx(whole.history["loss"][0])
    x = {"x": np.array([[1.0, 2.0], [7.0, 3.0]], "float32"), "word": np.array([["blue"], ["red"]])}
    np.testing.assert_allclose(
        predict(resumed.run_dir, x)["out"], predict(whole.run_dir, x)["out"], atol=1e-6
    )


def test_structured_data_spec_trains_and_takes_raw_csv_rows(tmp_path: Path) -> None:
    args = ["train", str(STRUCTURED), "--epochs", "6", "--out", str(tmp_path / "runs")]
    result = CliRunner().invoke(main, [*args, "--set", "train.verbose=0"])
    assert result.exit_code == 0, result.output
    run_dir = next((tmp_path / "runs").glob("structured_data-*"))
    meta = json.loads((run_dir / "run.json").read_text())
    assert set(meta["exports"]) == {"keras", "saved_model"}  # string inputs: TensorFlow only
    assert meta["exports"]["saved_model"]["max_abs_diff"] < 1e-5
    # better than always answering the test split's majority class
    metrics = json.loads((run_dir / "metrics.json").read_text())
    data = load_data(load_spec(STRUCTURED))
    assert data.test is not None
    majority = max(data.test.y[0].mean(), 1 - data.test.y[0].mean())
    assert metrics["accuracy"] > majority + 0.05, (metrics, majority)
    # raw CSV rows, mapped as train.data says, into the saved model
    rows = tmp_path / "rows.csv"
    lines = (ROOT / "specs" / "data" / "heart.csv").read_text().splitlines()[:11]
    rows.write_text("\n".join(lines) + "\n")
    raw = read_arrays(rows, load_spec(STRUCTURED))
    assert raw["thal"].dtype.kind == "U" and raw["thal"].shape == (10, 1)
    assert raw["numeric"].shape == (10, 5) and raw["cp"].shape == (10, 1)
    out = tmp_path / "pred.csv"
    result = CliRunner().invoke(
        main, ["predict", str(run_dir), "--input", str(rows), "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    (from_file,) = read_arrays(out).values()  # one column per output unit
    shutil.copy(run_dir / "model.keras", tmp_path / "copy.keras")
    from_keras = predict(tmp_path / "copy.keras", raw)["disease"][:, 0]
    model = load_model(run_dir / "model.keras")
    in_memory = model.predict(
        {k: keras.ops.convert_to_tensor(v) for k, v in raw.items()}, verbose=0
    )
    np.testing.assert_allclose(from_file, in_memory[:, 0], atol=1e-6)
    np.testing.assert_allclose(from_keras, in_memory[:, 0], atol=1e-6)
    assert model.get_layer("thal_onehot").get_vocabulary()[0] == "[UNK]"
    assert sorted(model.get_layer("thal_onehot").get_vocabulary()[1:]) == [
        "fixed", "normal", "reversible"
    ]  # fmt: skip


def test_text_vectorization_and_discretization_adapt() -> None:
    spec = """\
    modelspec: 1
    name: text
    inputs: [{name: text, shape: [], dtype: string}, {name: x, shape: [2]}]
    layers:
      - {name: vec, type: TextVectorization, output_mode: multi_hot, inputs: text, adapt: true}
      - {name: bins, type: Discretization, num_bins: 3, inputs: x, adapt: true}
      - {name: cat, type: Concatenate, inputs: [vec, bins]}
      - {name: out, type: Dense, units: 1}
    outputs: [out]
    """.replace("    ", "", 1).replace("\n    ", "\n")
    unadapted = build_model(spec)
    assert unadapted.get_layer("vec").get_vocabulary() == ["[UNK]", STAND_IN]
    data = {"text": np.array(["a b c", "a d", "b a"]), "x": np.array([[0.0, 1], [2, 3], [4, 5]])}
    model = build_model(spec, adapt_data=data)
    assert model.get_layer("vec").get_vocabulary() == ["[UNK]", "a", "b", "d", "c"]
    assert model.get_layer("bins").bin_boundaries == pytest.approx([1.0, 3.0], abs=1e-6)
    assert model.get_layer("out").kernel.shape == (5 + 2, 1)


def test_cli_build_says_adapt_layers_are_not_adapted() -> None:
    result = CliRunner().invoke(main, ["build", "-q", str(STRUCTURED)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == (
        "note: built without data, numeric_norm, sex_onehot, cp_onehot, fbs_onehot, "
        "restecg_onehot, exang_onehot, ca_onehot, thal_onehot are not adapted (`modelspec "
        "train` adapts on the training split)"
    )
    # with the data, they are adapted: no such note (it said the opposite of the truth)
    result = CliRunner().invoke(main, ["build", "-q", "--with-data", str(STRUCTURED)])
    assert result.exit_code == 0, result.output
    assert "not adapted" not in result.output


@pytest.mark.usefixtures("clean_registry")
def test_a_registered_layer_with_adapt_can_adapt() -> None:
    from modelspec import register_layer

    @register_layer
    class Centre(keras.layers.Layer):
        """Subtract the mean of the data it was adapted on."""

        def __init__(self, **kwargs: object) -> None:
            super().__init__(**kwargs)
            self.centre = self.add_weight(shape=(), initializer="zeros", trainable=False)

        def adapt(self, data: np.ndarray) -> None:
            self.centre.assign(float(np.mean(data)))

        def call(self, x: object) -> object:
            return x - self.centre  # type: ignore[operator]

    spec = HEAD + "  - {name: out, type: Centre, inputs: num, adapt: true}\noutputs: [out]\n"
    assert validate_spec(spec).ok
    model = build_model(
        spec, adapt_data={"num": np.full((4, 3), 2.5), "thal": np.array([["a"]] * 4)}
    )
    assert float(model.get_layer("out").centre) == 2.5


def test_adapt_sees_the_transformed_training_inputs(
    write_spec: Callable[..., str], tmp_path: Path
) -> None:
    path = write_adapted(write_spec, tmp_path)
    text = (
        Path(path)
        .read_text()
        .replace("    split:", "    transform: {x: [{divide_by: 10}]}\n    split:")
    )
    spec = load_spec(write_spec(text))
    for preprocess in ("model", "data"):  # the transform as a layer, or on the arrays
        model, data = model_and_data(spec, preprocess)
        mean = np.asarray(model.get_layer("norm").mean).reshape(-1)
        assert np.all(mean < 1.0)  # the raw values' mean is about 5
        seen = (data.graph_view or data).train.x["x"]
        np.testing.assert_allclose(mean, seen.mean(axis=0), rtol=1e-5)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "[a]",
            "<string>:4:12: inputs[0].name: expected a name of letters, digits, '_', '.' or '-' "
            "starting with a letter or '_'. Received: name=['a']",
        ),
        (
            "{tune: bool}",
            "<string>:4:12: inputs[0].name: a search space cannot stand in a `name:`: names are "
            "what references and logs go by, and stay as written. Received: {'tune': 'bool'}",
        ),
    ],
)
def test_an_input_named_by_a_list_or_mapping_beside_adapt_is_reported(
    name: str, message: str
) -> None:
    # the inputs' dtypes were keyed by name: TypeError: unhashable type (found by bench/fuzz.py)
    text = (
        "modelspec: 1\nname: m\ninputs:\n"
        f"  - {{name: {name}, shape: [5]}}\n"
        "  - {name: x, shape: [5]}\n"
        "layers:\n  - {name: n, type: Normalization, inputs: x, adapt: true}\noutputs: [n]\n"
    )
    assert [d.format() for d in validate_spec(text).errors] == [message]
