"""Building Keras models from specs (modelspec.build)."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from modelspec import BuildError, build_model, load_model
from modelspec.layers import AddLoss, Antirectifier, CustomDense, L2Normalization, TwoInputDense

from .conftest import ROOT, SPECS

L = keras.layers


def spec_path(name: str) -> str:
    return str(ROOT / "specs" / f"{name}.yaml")


def antirectifier_mlp(inputs: int) -> keras.Model:
    x = inp = keras.Input((inputs,))
    for _ in range(2):
        x = L.Dropout(0.1)(Antirectifier()(L.Dense(256)(x)))
    return keras.Model(inp, L.Dense(10, activation="softmax")(x))


def relu_baseline() -> keras.Model:
    x = inp = keras.Input((64,))
    for _ in range(2):
        x = L.Dropout(0.1)(L.Dense(512, activation="relu")(x))
    return keras.Model(inp, L.Dense(10, activation="softmax")(x))


def mlp(hidden: keras.layers.Layer, *more: keras.layers.Layer) -> keras.Model:
    x = inp = keras.Input((64,))
    for layer in (hidden, *more):
        x = layer(x)
    return keras.Model(inp, L.Dense(10, activation="softmax")(x))


def two_input() -> keras.Model:
    a, b = keras.Input((64,)), keras.Input((8,))
    joint = TwoInputDense(32, activation="relu")([a, b])
    return keras.Model([a, b], L.Dense(10, activation="softmax")(joint))


def ssd_head() -> keras.Model:
    inp = keras.Input((32, 32, 3))
    x = L.Conv2D(32, 3, padding="same", activation="relu")(inp)
    x = L.MaxPooling2D(2)(x)
    x = L.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = L2Normalization(20.0)(x)
    classes = L.Softmax()(L.Reshape((-1, 21))(L.Conv2D(84, 3, padding="same")(x)))
    boxes = L.Reshape((-1, 4))(L.Conv2D(16, 3, padding="same")(x))
    return keras.Model(inp, {"classes": classes, "boxes": boxes})


HAND_WRITTEN = {
    "antirectifier_digits": lambda: antirectifier_mlp(64),
    "antirectifier_mnist": lambda: antirectifier_mlp(784),
    "relu_baseline_digits": relu_baseline,
    "custom_dense": lambda: mlp(CustomDense(64, activation="relu")),
    "custom_activation": lambda: mlp(L.Dense(128), L.Dense(128)),
    "two_input_layer": two_input,
    "custom_loss": lambda: mlp(L.Dense(64, activation="relu")),
    "add_loss": lambda: mlp(L.Dense(64, activation="relu"), AddLoss(weight=1e5)),
    "ssd_l2norm": ssd_head,
}


@pytest.mark.parametrize("name", sorted(HAND_WRITTEN))
def test_seed_specs_have_the_parameters_of_the_hand_written_model(name: str) -> None:
    built = build_model(spec_path(name))
    hand = HAND_WRITTEN[name]()
    assert built.count_params() == hand.count_params()
    trainable = sum(int(np.prod(w.shape)) for w in built.trainable_weights)
    assert trainable == sum(int(np.prod(w.shape)) for w in hand.trainable_weights)


def test_antirectifier_has_about_half_the_parameters_of_the_relu_baseline() -> None:
    anti = build_model(spec_path("antirectifier_digits")).count_params()
    relu = build_model(spec_path("relu_baseline_digits")).count_params()
    assert (anti, relu) == (153_098, 301_066)


def sample_inputs(model: keras.Model) -> Any:
    rng = np.random.default_rng(1)
    arrays = []
    for tensor in model.inputs:
        shape = [2] + [d if d is not None else 5 for d in tensor.shape[1:]]
        if tensor.dtype == "string":
            words = rng.choice(["fixed", "normal", "new"], size=shape)
            arrays.append(keras.ops.convert_to_tensor(words))
        elif "int" in str(tensor.dtype):
            arrays.append(rng.integers(0, 100, size=shape).astype(tensor.dtype))
        else:
            arrays.append(rng.normal(size=shape).astype("float32"))
    if any(tensor.dtype == "string" for tensor in model.inputs):  # no NumPy text in Keras
        arrays = [keras.ops.convert_to_tensor(a) for a in arrays]
    return arrays[0] if len(arrays) == 1 else arrays


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_every_spec_round_trips_through_keras_files(path: Path, tmp_path: Path) -> None:
    model = build_model(path)
    x = sample_inputs(model)
    expected = keras.tree.map_structure(keras.ops.convert_to_numpy, model(x, training=False))
    model.save(tmp_path / "model.keras")
    reloaded = load_model(tmp_path / "model.keras")
    got = keras.tree.map_structure(keras.ops.convert_to_numpy, reloaded(x, training=False))
    keras.tree.map_structure(
        lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), expected, got
    )
    assert [type(layer).__name__ for layer in reloaded.layers] == [
        type(layer).__name__ for layer in model.layers
    ]


def test_models_saved_when_the_shipped_layers_lived_in_modelspec_library_still_load(
    tmp_path: Path,
) -> None:
    # Before the layout by stage, a saved model recorded `module: modelspec.library`;
    # it reloads through the registered name (modelspec>L2Normalization).
    model = build_model(spec_path("ssd_l2norm"))
    model.save(tmp_path / "new.keras")
    with zipfile.ZipFile(tmp_path / "new.keras") as new:
        entries = {name: new.read(name) for name in new.namelist()}
    config = entries["config.json"].decode()
    assert '"module": "modelspec.layers.shipped"' in config
    entries["config.json"] = config.replace(
        "modelspec.layers.shipped", "modelspec.library"
    ).encode()
    with zipfile.ZipFile(tmp_path / "old.keras", "w") as old:
        for name, data in entries.items():
            old.writestr(name, data)
    reloaded = load_model(tmp_path / "old.keras")
    assert type(reloaded.get_layer("l2norm")) is L2Normalization
    x = sample_inputs(model)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(reloaded(x)["classes"]),
        keras.ops.convert_to_numpy(model(x)["classes"]),
        atol=1e-6,
    )


def test_a_lookup_vocabulary_file_is_read_relative_to_the_spec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "vocab.txt").write_text("cat\ndog\nbird\n", encoding="utf-8")
    (folder / "lookup.yaml").write_text(
        "modelspec: 1\nname: lookup\ninputs:\n  - {name: words, shape: [2], dtype: string}\n"
        "layers:\n  - {name: ids, type: StringLookup, vocabulary: vocab.txt}\noutputs: [ids]\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)  # not the spec's folder
    model = build_model("specs/lookup.yaml")
    ids = model(np.array([["dog", "fish"]]))
    assert keras.ops.convert_to_numpy(ids).tolist() == [[2, 0]]  # 0: out of vocabulary


def test_add_loss_term_survives_save_and_reload(tmp_path: Path) -> None:
    model = build_model(spec_path("add_loss"))
    assert [layer.name for layer in model.layers][1:3] == ["h", "h_add_loss"]
    x = np.random.default_rng(2).normal(size=(4, 64)).astype("float32")
    h = keras.ops.convert_to_numpy(model.get_layer("h")(x))
    model(x)
    assert float(model.losses[0]) == pytest.approx(1e5 * np.mean(h**2), rel=1e-5)
    model.save(tmp_path / "m.keras")
    reloaded = load_model(tmp_path / "m.keras")
    reloaded(x)
    assert float(reloaded.losses[0]) == pytest.approx(float(model.losses[0]), rel=1e-6)


def test_sharing_reuses_one_layer() -> None:
    model = build_model(spec_path("siamese"))
    assert model.count_params() == (64 * 32 + 32) + (32 + 1)
    x = np.ones((1, 64), "float32")
    zero = np.zeros((1, 64), "float32")
    # identical inputs through one shared encoder: the difference is exactly zero
    same = model.get_layer("diff").output
    probe = keras.Model(model.inputs, same)
    np.testing.assert_array_equal(probe([x, x]), np.zeros((1, 32)))
    assert not np.allclose(probe([x, zero]), 0)


def test_indexed_outputs_and_call_argument_mappings() -> None:
    model = build_model(spec_path("seq2seq"))
    decoder = model.get_layer("decoder")
    encoder = model.get_layer("encoder")
    assert decoder.input[0].shape[-1] == 14
    assert model.output.shape[1:] == (None, 14)
    # the decoder is called with the encoder's states: they are among its inputs
    assert encoder.output[1] is decoder._inbound_nodes[0].arguments.kwargs["initial_state"][0]


def test_lists_become_tuples_and_exponent_floats_are_floats() -> None:
    model = build_model(spec_path("ssd_l2norm"))
    assert model.get_layer("conv_1").kernel_size == (3, 3)
    assert model.get_layer("class_scores").target_shape == (-1, 21)
    digits = build_model(spec_path("antirectifier_digits"))
    assert float(digits.optimizer.learning_rate) == pytest.approx(0.001)
    assert type(digits.optimizer).__name__ == "RMSprop"


def test_keras_errors_are_reported_at_the_node(write_spec) -> None:  # type: ignore[no-untyped-def]
    path = write_spec(
        """\
modelspec: 1
name: mismatch
inputs:
  - {name: a, shape: [16]}
  - {name: b, shape: [8]}
layers:
  - {name: sum, type: Add, inputs: [a, b]}
outputs: [sum]
"""
    )
    with pytest.raises(BuildError) as info:
        build_model(path)
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.format().startswith(
        "spec.yaml:7:5: layers[0] (sum): ValueError while building this node: "
        "Inputs have incompatible shapes."
    )


def test_bad_output_index_is_reported_at_the_node(write_spec) -> None:  # type: ignore[no-untyped-def]
    path = write_spec(
        """\
modelspec: 1
name: idx
inputs: [{name: s, shape: [null, 3]}]
layers:
  - {name: enc, type: LSTM, units: 4, return_state: true}
  - name: d
    type: Dense
    units: 2
    inputs: enc[3]
outputs: [d]
"""
    )
    with pytest.raises(BuildError) as info:
        build_model(path)
    assert info.value.diagnostics[0].format() == (
        "spec.yaml:6:5: layers[1] (d): ValueError while building this node: "
        "'enc' has 3 outputs (indices 0 to 2). Received: enc[3]"
    )


def deep_chain(n: int) -> dict[str, object]:
    return {
        "modelspec": 1,
        "name": "deep",
        "inputs": [{"name": "x", "shape": [2]}],
        "layers": [
            {"name": f"a{i}", "type": "Activation", "activation": "linear"} for i in range(n)
        ],
        "outputs": [f"a{n - 1}"],
    }


def test_deeper_than_keras_recursion_limit_builds_and_reloads(tmp_path: Path) -> None:
    model = build_model(deep_chain(1500))  # ~1 000 exhaust the default limit
    assert len(model.layers) == 1501
    model.save(tmp_path / "deep.keras")
    assert len(load_model(tmp_path / "deep.keras").layers) == 1501


def test_optimizer_arguments_and_learning_rate_schedule() -> None:
    spec = """\
modelspec: 1
name: m
inputs: [{name: x, shape: [4]}]
layers:
  - {name: out, type: Dense, units: 2}
outputs: [out]
compile:
  optimizer:
    type: SGD
    momentum: 0.5
    learning_rate: {type: ExponentialDecay, initial_learning_rate: 1e-1, decay_steps: 10, decay_rate: 0.5}
  loss: mse
"""
    model = build_model(spec)
    optimizer = model.optimizer
    assert type(optimizer).__name__ == "SGD" and optimizer.momentum == 0.5
    schedule = optimizer._learning_rate
    assert isinstance(schedule, keras.optimizers.schedules.ExponentialDecay)
    assert schedule.initial_learning_rate == pytest.approx(0.1)
    assert float(schedule(20)) == pytest.approx(0.025)
    # Keras's SGD takes a float only: momentum 1 (an int, as YAML reads it) failed to build
    one = build_model(spec.replace("momentum: 0.5", "momentum: 1")).optimizer
    assert one.momentum == 1.0


def test_literal_call_arguments_reach_the_layer() -> None:
    model = build_model(spec_path("attention"))
    call = model.get_layer("attend")._inbound_nodes[0].arguments.kwargs
    assert call["use_causal_mask"] is True
    tokens = np.arange(40, dtype="int32")[None, :] % 1000
    # causal: the first position's output does not depend on later tokens
    changed = tokens.copy()
    changed[0, 5:] = 7
    attend = keras.Model(model.input, model.get_layer("attend").output)
    np.testing.assert_allclose(attend(tokens)[0, :5], attend(changed)[0, :5], atol=1e-6)
