"""The layers, activation and loss modelspec ships (modelspec.layers)."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from modelspec.build import load_model
from modelspec.layers import (
    AddLoss,
    Antirectifier,
    CustomDense,
    L2Normalization,
    Sampling,
    TwoInputDense,
    leaky_relu_01,
    max_penalty_crossentropy,
)

RNG = np.random.default_rng(0)


def test_antirectifier_matches_its_definition() -> None:
    x = RNG.normal(size=(4, 5)).astype("float32")
    centred = x - x.mean(axis=1, keepdims=True)
    unit = centred / np.linalg.norm(centred, axis=1, keepdims=True)
    expected = np.concatenate([np.maximum(unit, 0), np.maximum(-unit, 0)], axis=1)
    out = Antirectifier()(x)
    assert out.shape == (4, 10)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert Antirectifier().compute_output_shape((None, 7)) == (None, 14)


@pytest.mark.parametrize("shape", [(2, 6), (2, 5, 6), (2, 4, 4, 6)])
def test_l2_normalization_scales_unit_channel_vectors(shape: tuple[int, ...]) -> None:
    x = RNG.normal(size=shape).astype("float32")
    layer = L2Normalization()
    out = keras.ops.convert_to_numpy(layer(x))
    assert out.shape == shape
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), 20.0, rtol=1e-5)
    assert [tuple(w.shape) for w in layer.trainable_weights] == [(6,)]


def test_two_input_dense_uses_one_kernel_per_input() -> None:
    a = RNG.normal(size=(3, 4)).astype("float32")
    b = RNG.normal(size=(3, 2)).astype("float32")
    layer = TwoInputDense(5, use_bias=False)
    out = keras.ops.convert_to_numpy(layer([a, b]))
    k0, k1 = (keras.ops.convert_to_numpy(k) for k in layer.kernels)
    assert k0.shape == (4, 5) and k1.shape == (2, 5)
    np.testing.assert_allclose(out, np.concatenate([a @ k0, b @ k1], axis=1), rtol=1e-5)
    with pytest.raises(ValueError, match="expects a list of two inputs"):
        TwoInputDense(2)(a)


def test_custom_dense_has_a_trainable_and_a_frozen_weight() -> None:
    layer = CustomDense(3, activation="relu", bias_initializer="ones")
    x = RNG.normal(size=(2, 4)).astype("float32")
    out = keras.ops.convert_to_numpy(layer(x))
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    np.testing.assert_allclose(out, np.maximum(x @ kernel + 1, 0), rtol=1e-5)
    assert [w.name for w in layer.trainable_weights] == ["kernel"]
    assert [w.name for w in layer.non_trainable_weights] == ["bias"]


@pytest.mark.parametrize(
    ("fn", "expected"),
    [("mean_square", 3.0), ("mean_abs", 1.5), ("sum_square", 12.0), ("sum_abs", 6.0),
     ("mean", -0.5), ("sum", -2.0)],
)  # fmt: skip
def test_add_loss_passes_through_and_adds_the_weighted_term(fn: str, expected: float) -> None:
    x = np.array([[1.0, -3.0], [1.0, -1.0]], "float32")
    layer = AddLoss(fn=fn, weight=2.0)
    np.testing.assert_array_equal(layer(x), x)
    assert float(layer.losses[0]) == pytest.approx(2 * expected)


def test_add_loss_rejects_unknown_functions() -> None:
    with pytest.raises(ValueError, match="expected fn to be one of"):
        AddLoss(fn="median")


def test_sampling_output_shape() -> None:
    z_mean = keras.Input((5, 3))
    assert Sampling()([z_mean, z_mean]).shape == (None, 5, 3)
    assert Sampling().compute_output_shape([(None, 3), (None, 3)]) == (None, 3)
    x = RNG.normal(size=(4, 3)).astype("float32")
    assert Sampling()([x, x]).shape == (4, 3)
    with pytest.raises(ValueError, match=r"expects a list of two inputs, \[z_mean, z_log_var\]"):
        Sampling()(x)
    with pytest.raises(ValueError, match=r"of the same shape. Received: \(4, 3\) and \(4, 2\)"):
        Sampling()([x, x[:, :2]])


def test_sampling_is_deterministic_with_a_seed() -> None:
    z_mean = RNG.normal(size=(8, 4)).astype("float32")
    z_log_var = RNG.normal(size=(8, 4)).astype("float32")
    first, second = Sampling(seed=3), Sampling(seed=3)
    a, b = first([z_mean, z_log_var]), second([z_mean, z_log_var])
    np.testing.assert_array_equal(a, b)  # the same seed, the same draws
    np.testing.assert_array_equal(first([z_mean, z_log_var]), second([z_mean, z_log_var]))
    assert not np.allclose(a, first([z_mean, z_log_var]))  # each call draws anew
    assert not np.allclose(a, Sampling(seed=4)([z_mean, z_log_var]))


def test_sampling_statistics() -> None:
    z_mean = np.tile(np.array([[2.0, -1.0, 0.0]], "float32"), (20_000, 1))
    z_log_var = np.tile(np.log(np.array([[0.25, 1.0, 4.0]], "float32")), (20_000, 1))
    samples = keras.ops.convert_to_numpy(Sampling(seed=0)([z_mean, z_log_var]))
    np.testing.assert_allclose(samples.mean(axis=0), [2.0, -1.0, 0.0], atol=0.05)
    np.testing.assert_allclose(samples.std(axis=0), [0.5, 1.0, 2.0], rtol=0.03)


def test_sampling_saves_and_reloads_in_safe_mode(tmp_path: Path) -> None:
    inputs = keras.Input((6,))
    z_mean = keras.layers.Dense(2, name="z_mean")(inputs)
    z_log_var = keras.layers.Dense(2, name="z_log_var")(inputs)
    model = keras.Model(inputs, Sampling(seed=5, name="z")([z_mean, z_log_var]))
    model.save(tmp_path / "vae.keras")
    reloaded = load_model(tmp_path / "vae.keras")
    layer = reloaded.get_layer("z")
    assert type(layer) is Sampling and layer.seed == 5
    x = RNG.normal(size=(3, 6)).astype("float32")
    # the same weights and the same generator state: the same draws
    np.testing.assert_allclose(reloaded(x), model(x), rtol=1e-6)


def test_activation_and_loss_reproduce_the_seeds() -> None:
    x = np.array([-10.0, -1.0, 0.0, 2.0], "float32")
    np.testing.assert_allclose(leaky_relu_01(x), [-1.0, -0.1, 0.0, 2.0])
    y_true = np.array([[0.0, 1.0], [1.0, 0.0]], "float32")
    y_pred = np.array([[0.2, 0.8], [0.6, 0.4]], "float32")
    cce = keras.losses.categorical_crossentropy(y_true, y_pred)
    np.testing.assert_allclose(max_penalty_crossentropy(y_true, y_pred), cce + 0.8, rtol=1e-6)


@pytest.mark.parametrize(
    "layer",
    [Antirectifier(), L2Normalization(scale_init=5.0), TwoInputDense(4, activation="relu"),
     CustomDense(2, activation="tanh", bias_initializer="ones"), AddLoss(fn="sum", weight=3.0),
     Sampling(seed=7)],
    ids=lambda layer: type(layer).__name__,
)  # fmt: skip
def test_configs_round_trip(layer: keras.layers.Layer) -> None:
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == f"modelspec>{type(layer).__name__}"
