"""The example specs of issue #11 against the same models written by hand in Keras.

Each spec in specs/ (unet, transformer_classifier, vae, resnet) is built with
``build_model`` and compared with its keras.io model written here with the
functional API, one nested ``keras.Model`` per block instance (so both models
list their weights in the same order): the same parameter count, then, with the
hand-written model's weights (randomised, batch-norm statistics included)
copied into the spec's model, the same outputs in inference mode. Each spec's
model also saves and reloads (``load_model``, safe mode) with the same outputs.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from modelspec import build_model
from modelspec.build import load_model

from .conftest import ROOT

L = keras.layers
ops = keras.ops


def spec_path(name: str) -> str:
    return str(ROOT / "specs" / f"{name}.yaml")


def nested(name: str, x: Any, body: Callable[[Any], Any]) -> Any:
    """``body`` as a functional model named ``name`` (a block instance), called on ``x``."""
    inp = keras.Input(x.shape[1:], dtype=x.dtype)
    return keras.Model(inp, body(inp), name=name)(x)


def randomized(model: keras.Model, seed: int = 0) -> list[np.ndarray]:
    """Random values for each of ``model``'s weights (moving variances positive),
    so that a weight copied to the wrong place changes the outputs."""
    rng = np.random.default_rng(seed)
    values = []
    for weight in model.weights:
        shape = tuple(weight.shape)
        if weight.path.endswith("moving_variance"):
            values.append(rng.uniform(0.5, 1.5, shape).astype("float32"))
        else:
            values.append((0.2 * rng.normal(size=shape)).astype("float32"))
    return values


def copied(spec: keras.Model, hand: keras.Model) -> None:
    """Randomise ``hand``'s weights and copy them into ``spec`` (in order, shapes checked)."""
    assert spec.count_params() == hand.count_params()
    hand.set_weights(randomized(hand))
    spec.set_weights(hand.get_weights())


def assert_same(a: Any, b: Any, atol: float = 1e-5) -> None:
    np.testing.assert_allclose(ops.convert_to_numpy(a), ops.convert_to_numpy(b), atol=atol)


def reloaded(model: keras.Model, tmp_path: Path) -> keras.Model:
    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    return load_model(path)


# -- U-Net (keras.io: oxford_pets_image_segmentation) ------------------------------
def hand_unet(size: int = 32, classes: int = 3) -> keras.Model:
    inputs = keras.Input((size, size, 3))
    x = L.Conv2D(32, 3, strides=2, padding="same")(inputs)
    x = L.BatchNormalization()(x)
    x = L.Activation("relu")(x)

    def unit(conv: type[keras.layers.Layer], filters: int) -> Callable[[Any], Any]:
        def body(x: Any) -> Any:
            x = L.Activation("relu")(x)
            x = conv(filters, 3, padding="same")(x)
            return L.BatchNormalization()(x)

        return body

    def down(filters: int) -> Callable[[Any], Any]:
        def body(inp: Any) -> Any:
            x = inp
            for k in range(2):
                x = nested(f"unit_{k}", x, unit(L.SeparableConv2D, filters))
            x = L.MaxPooling2D(3, strides=2, padding="same")(x)
            residual = L.Conv2D(filters, 1, strides=2, padding="same")(inp)
            return L.add([x, residual])

        return body

    def up(filters: int) -> Callable[[Any], Any]:
        def body(inp: Any) -> Any:
            x = inp
            for k in range(2):
                x = nested(f"unit_{k}", x, unit(L.Conv2DTranspose, filters))
            x = L.UpSampling2D(2)(x)
            residual = L.Conv2D(filters, 1, padding="same")(L.UpSampling2D(2)(inp))
            return L.add([x, residual])

        return body

    for k, filters in enumerate([64, 128, 256]):
        x = nested(f"down_{k}", x, down(filters))
    for k, filters in enumerate([256, 128, 64, 32]):
        x = nested(f"up_{k}", x, up(filters))
    outputs = L.Conv2D(classes, 3, activation="softmax", padding="same")(x)
    return keras.Model(inputs, outputs)


def test_unet_is_the_keras_io_u_net(tmp_path: Path) -> None:
    spec = build_model(spec_path("unet"))
    hand = hand_unet()
    assert spec.count_params() == 2_058_979  # keras.io's summary (at any image size)
    copied(spec, hand)
    assert [layer.name for layer in spec.layers[4:11]] == [
        *(f"down_{k}" for k in range(3)),
        *(f"up_{k}" for k in range(4)),
    ]
    units = [spec.get_layer(f"up_{k}").get_layer("unit_1").get_layer("conv") for k in range(4)]
    assert [(type(u).__name__, u.filters) for u in units] == [
        ("Conv2DTranspose", 256),
        ("Conv2DTranspose", 128),
        ("Conv2DTranspose", 64),
        ("Conv2DTranspose", 32),
    ]
    x = np.random.default_rng(1).normal(size=(2, 32, 32, 3)).astype("float32")
    expected = hand(x, training=False)
    assert tuple(expected.shape) == (2, 32, 32, 3)
    assert_same(spec(x, training=False), expected)
    assert_same(reloaded(spec, tmp_path)(x, training=False), expected)


# -- Transformer text classifier (keras.io: text_classification_with_transformer) ---
VOCAB, MAXLEN, DIM, HEADS, FF, DEPTH = 1000, 32, 32, 2, 32, 2


def transformer_block(inputs: Any, rate: float = 0.1) -> Any:
    attn_output = L.MultiHeadAttention(num_heads=HEADS, key_dim=DIM)(inputs, inputs)
    attn_output = L.Dropout(rate)(attn_output)
    out1 = L.LayerNormalization(epsilon=1e-6)(inputs + attn_output)
    ffn_output = L.Dense(DIM)(L.Dense(FF, activation="relu")(out1))
    ffn_output = L.Dropout(rate)(ffn_output)
    return L.LayerNormalization(epsilon=1e-6)(out1 + ffn_output)


def hand_transformer() -> keras.Model:
    tokens = keras.Input((MAXLEN,), dtype="int32")
    positions = ops.zeros_like(tokens) + ops.arange(MAXLEN, dtype="int32")  # keras.io: arange
    x = L.Embedding(VOCAB, DIM)(tokens) + L.Embedding(MAXLEN, DIM)(positions)
    for k in range(DEPTH):
        x = nested(f"encoder_{k}", x, transformer_block)
    x = L.GlobalAveragePooling1D()(x)
    x = L.Dropout(0.1)(x)
    x = L.Dense(20, activation="relu")(x)
    x = L.Dropout(0.1)(x)
    return keras.Model(tokens, L.Dense(2, activation="softmax")(x))


def test_transformer_classifier_is_the_keras_io_transformer(tmp_path: Path) -> None:
    spec = build_model(spec_path("transformer_classifier"))
    hand = hand_transformer()
    copied(spec, hand)
    encoders = [layer for layer in spec.layers if layer.name.startswith("encoder_")]
    assert [e.name for e in encoders] == ["encoder_0", "encoder_1"]
    assert encoders[0].get_layer("att") is not encoders[1].get_layer("att")
    tokens = np.random.default_rng(2).integers(0, VOCAB, (3, MAXLEN)).astype("int32")
    expected = hand(tokens, training=False)
    assert_same(spec(tokens, training=False), expected)
    assert_same(reloaded(spec, tmp_path)(tokens, training=False), expected)
    # the positions expression gives 0 .. maxlen - 1 on every row
    positions = keras.Model(spec.input, spec.get_layer("pos_emb").input)(tokens)
    assert_same(positions, np.tile(np.arange(MAXLEN), (3, 1)))


# -- VAE (keras.io: generative/vae) ------------------------------------------------
LATENT = 2


class KerasIoSampling(L.Layer):
    """keras.io's Sampling layer, as published (Keras 3 version)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs: Any) -> Any:
        z_mean, z_log_var = inputs
        batch = ops.shape(z_mean)[0]
        dim = ops.shape(z_mean)[1]
        epsilon = keras.random.normal(shape=(batch, dim), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


def hand_encoder() -> keras.Model:
    encoder_inputs = keras.Input((8, 8, 1))
    x = L.Conv2D(32, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
    x = L.Conv2D(64, 3, activation="relu", strides=2, padding="same")(x)
    x = L.Flatten()(x)
    x = L.Dense(16, activation="relu")(x)
    z_mean = L.Dense(LATENT, name="z_mean")(x)
    z_log_var = L.Dense(LATENT, name="z_log_var")(x)
    z = KerasIoSampling()([z_mean, z_log_var])
    return keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")


def hand_decoder() -> keras.Model:
    latent_inputs = keras.Input((LATENT,))
    x = L.Dense(2 * 2 * 64, activation="relu")(latent_inputs)
    x = L.Reshape((2, 2, 64))(x)
    x = L.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same")(x)
    x = L.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(x)
    outputs = L.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(x)
    return keras.Model(latent_inputs, outputs, name="decoder")


def kl_loss(z_mean: Any, z_log_var: Any) -> Any:
    """keras.io's KL term (in its train_step)."""
    kl = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
    return ops.mean(ops.sum(kl, axis=1))


def test_vae_is_the_keras_io_vae(tmp_path: Path) -> None:
    spec = build_model(spec_path("vae"))
    encoder, decoder = hand_encoder(), hand_decoder()
    image = keras.Input((8, 8, 1))
    hand = keras.Model(image, decoder(encoder(image)[2]))  # keras.io's VAE.call
    copied(spec, hand)
    x = np.random.default_rng(3).uniform(size=(4, 8, 8, 1)).astype("float32")

    # The first draw of a fresh Sampling(seed=1337) is keras.io's first draw.
    assert_same(spec(x, training=False), hand(x, training=False))
    z_mean, z_log_var, _ = encoder(x, training=False)
    assert len(spec.losses) == 1  # the KL term, from the add_loss expression
    assert_same(spec.losses[0], kl_loss(z_mean, z_log_var))

    # Deterministic parts: the encoder's z_mean and z_log_var, the decoder alone.
    spec_encoder = spec.get_layer("encoder")
    got = spec_encoder(x, training=False)
    assert_same(got[0], z_mean)
    assert_same(got[1], z_log_var)
    z_sampled = ops.convert_to_numpy(got[2])
    assert not np.allclose(z_sampled, ops.convert_to_numpy(z_mean))  # sampled in inference too
    alone = build_model(spec_path("vae"), block="decoder")
    assert alone.input.shape == (None, LATENT) and alone.count_params() == decoder.count_params()
    alone.set_weights(decoder.get_weights())
    z = np.random.default_rng(4).normal(size=(5, LATENT)).astype("float32")
    assert_same(alone(z, training=False), decoder(z, training=False))

    again = reloaded(spec, tmp_path)
    got = again.get_layer("encoder")(x, training=False)
    assert_same(got[0], z_mean)
    assert_same(got[1], z_log_var)
    assert_same(again.get_layer("reconstruction")(z, training=False), decoder(z))
    again(x, training=False)
    assert len(again.losses) == 1


# -- ResNet (keras.applications ResNet v1, small) -----------------------------------
WIDTH, BLOCKS, EPS = 16, 2, 1.001e-5


def bottleneck(x: Any, filters: int, stride: int = 1) -> Any:
    x = L.Conv2D(filters, 1, strides=stride)(x)
    x = L.Activation("relu")(L.BatchNormalization(epsilon=EPS)(x))
    x = L.Conv2D(filters, 3, padding="same")(x)
    x = L.Activation("relu")(L.BatchNormalization(epsilon=EPS)(x))
    return L.BatchNormalization(epsilon=EPS)(L.Conv2D(4 * filters, 1)(x))


def conv_block(filters: int, stride: int) -> Callable[[Any], Any]:
    def body(x: Any) -> Any:
        shortcut = L.Conv2D(4 * filters, 1, strides=stride)(x)
        shortcut = L.BatchNormalization(epsilon=EPS)(shortcut)
        return L.Activation("relu")(L.Add()([shortcut, bottleneck(x, filters, stride)]))

    return body


def identity_block(filters: int) -> Callable[[Any], Any]:
    def body(x: Any) -> Any:
        return L.Activation("relu")(L.Add()([x, bottleneck(x, filters)]))

    return body


def stack(filters: int, stride: int) -> Callable[[Any], Any]:
    def body(x: Any) -> Any:
        x = nested("block1", x, conv_block(filters, stride))
        for k in range(BLOCKS - 1):
            x = nested(f"block_{k}", x, identity_block(filters))
        return x

    return body


def hand_resnet() -> keras.Model:
    inputs = keras.Input((32, 32, 3))
    x = L.ZeroPadding2D(3)(inputs)
    x = L.Conv2D(64, 7, strides=2)(x)
    x = L.Activation("relu")(L.BatchNormalization(epsilon=EPS)(x))
    x = L.MaxPooling2D(3, strides=2)(L.ZeroPadding2D(1)(x))
    for k in range(3):
        x = nested(f"stage_{k}", x, stack(WIDTH * 2**k, 1 if k == 0 else 2))
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, L.Dense(10, activation="softmax")(x))


def keras_applications_resnet() -> keras.Model:
    """keras.applications' own ResNet v1 at the spec's size."""
    from keras.src.applications.resnet import ResNet, stack_residual_blocks_v1

    def stack_fn(x: Any) -> Any:
        x = stack_residual_blocks_v1(x, WIDTH, BLOCKS, stride1=1, name="conv2")
        x = stack_residual_blocks_v1(x, 2 * WIDTH, BLOCKS, name="conv3")
        return stack_residual_blocks_v1(x, 4 * WIDTH, BLOCKS, name="conv4")

    return ResNet(stack_fn, False, True, weights=None, input_shape=(32, 32, 3), classes=10)


#: The spec's layer names inside a residual block -> keras.applications' suffixes.
APP_SUFFIX = {
    "shortcut_conv": "0_conv",
    "shortcut_bn": "0_bn",
    **{f"{kind}_{k}": f"{k}_{kind}" for kind in ("conv", "bn") for k in (1, 2, 3)},
}


def test_resnet_is_a_small_keras_applications_resnet(tmp_path: Path) -> None:
    spec = build_model(spec_path("resnet"))
    hand = hand_resnet()
    copied(spec, hand)
    stage = spec.get_layer("stage_2")
    assert [layer.name for layer in stage.layers[1:]] == ["block1", "block_0"]
    assert stage.get_layer("block1").get_layer("conv_1").strides == (2, 2)
    x = np.random.default_rng(5).normal(size=(2, 32, 32, 3)).astype("float32")
    expected = hand(x, training=False)
    assert_same(spec(x, training=False), expected)
    assert_same(reloaded(spec, tmp_path)(x, training=False), expected)

    # The spec is keras.applications' ResNet: copy its weights by layer name.
    app = keras_applications_resnet()
    assert app.count_params() == spec.count_params()
    for name in ("conv1_conv", "conv1_bn", "predictions"):
        spec.get_layer(name).set_weights(app.get_layer(name).get_weights())
    for k in range(3):
        for block in spec.get_layer(f"stage_{k}").layers[1:]:
            number = 1 if block.name == "block1" else int(block.name.split("_")[1]) + 2
            for layer in block.layers:
                if layer.weights:
                    source = app.get_layer(f"conv{k + 2}_block{number}_{APP_SUFFIX[layer.name]}")
                    layer.set_weights(source.get_weights())
    assert_same(spec(x, training=False), app(x, training=False))


@pytest.mark.parametrize("name", ["unet", "transformer_classifier", "vae", "resnet"])
def test_example_specs_are_shorter_than_their_python(name: str) -> None:
    loader = importlib.util.spec_from_file_location(
        "example_lines", ROOT / "bench" / "example_lines.py"
    )
    assert loader is not None and loader.loader is not None
    bench = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(bench)
    spec_lines = bench.yaml_lines((ROOT / "specs" / f"{name}.yaml").read_text(encoding="utf-8"))
    assert spec_lines < bench.python_lines(bench.PYTHON[name])


def test_transfer_learning_trains_the_head_then_the_top_blocks(tmp_path: Path) -> None:
    """specs/transfer_learning.yaml, one epoch a stage: the head and the backbone's
    top blocks move, their BatchNormalization kept frozen; the rest of the backbone
    never moves; the model takes the raw 64 pixels (the reshape is in the model).
    A tenth of the digits trains (test split 0.8): which weights move does not need more."""
    from modelspec import train
    from modelspec.spec.validate import load_spec

    spec = ROOT / "specs" / "transfer_learning.yaml"
    overrides = [
        "train.stages.0.epochs=1",
        "train.stages.1.epochs=1",
        "train.data.split.test=0.8",
    ]
    keras.utils.set_random_seed(0)  # train() builds from the same seed
    before = build_model(load_spec(spec))

    def weights(model: keras.Model, path: str) -> list[np.ndarray]:
        layer = model
        for name in path.split("/"):
            layer = layer.get_layer(name)
        return [np.asarray(w) for w in layer.weights]

    def moved(model: keras.Model, path: str) -> bool:
        pairs = zip(weights(before, path), weights(model, path), strict=True)
        return any(not np.array_equal(a, b) for a, b in pairs)

    both = train(spec, overrides=overrides, out_dir=tmp_path)
    assert [name for name, *_ in both.stages] == ["head", "fine_tune"]
    assert len(both.history["loss"]) == 2
    assert moved(both.model, "probs")
    assert moved(both.model, "backbone/block_16_project")
    assert not moved(both.model, "backbone/block_16_project_BN")  # keep_frozen
    assert not moved(both.model, "backbone/block_1_project")
    reloaded = load_model(both.run_dir / "model.keras")
    x = np.random.default_rng(0).uniform(0, 16, (4, 64)).astype("float32")
    np.testing.assert_allclose(reloaded(x), both.model(x), atol=1e-6)
