"""Layers, activations and losses that ship with modelspec.

Importing this module imports Keras and registers everything below, both with
modelspec's registries and with Keras serialization. The builder imports it;
validation does not need to (their signatures are in the shipped catalogue).

Example:
    >>> import numpy as np
    >>> from modelspec.layers import Antirectifier
    >>> Antirectifier()(np.ones((2, 3), "float32")).shape
    TensorShape([2, 6])
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from ..registry import register_activation, register_layer, register_loss
from ..spec.schema import ADD_LOSS_FUNCTIONS, AddLossFn


@register_layer
class Antirectifier(keras.layers.Layer):
    """Centre each sample, L2-normalise it, and concatenate its positive and negative parts.

    An alternative to ReLU that keeps the information of negative activations:
    the last dimension doubles. From the Keras ``antirectifier`` example.

    Example:
        >>> import numpy as np
        >>> Antirectifier()(np.array([[1.0, -1.0]], "float32")).numpy().round(3)
        array([[0.707, 0.   , 0.   , 0.707]], dtype=float32)
    """

    def call(self, inputs: Any) -> Any:
        centred = inputs - ops.mean(inputs, axis=-1, keepdims=True)
        normalised = centred / ops.sqrt(
            ops.maximum(ops.sum(ops.square(centred), axis=-1, keepdims=True), 1e-12)
        )
        return ops.concatenate([ops.relu(normalised), ops.relu(-normalised)], axis=-1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        last = input_shape[-1]
        return (*input_shape[:-1], None if last is None else 2 * last)


@register_layer
class L2Normalization(keras.layers.Layer):
    """L2-normalise across channels, then scale each channel by a learnable factor.

    The SSD detector's normalisation of the conv4_3 feature map (Liu et al.,
    2016): any rank, channels last, one scale per channel initialised to
    ``scale_init`` (20 in the paper).

    Args:
        scale_init: Initial value of every channel's scale.

    Example:
        >>> import numpy as np
        >>> L2Normalization(scale_init=2.0)(np.array([[3.0, 4.0]], "float32")).numpy()
        array([[1.2, 1.6]], dtype=float32)
    """

    def __init__(self, scale_init: float = 20.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale_init = scale_init

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.scale = self.add_weight(
            name="scale",
            shape=(input_shape[-1],),
            initializer=keras.initializers.Constant(self.scale_init),
            trainable=True,
        )

    def call(self, inputs: Any) -> Any:
        norm = ops.sqrt(ops.maximum(ops.sum(ops.square(inputs), axis=-1, keepdims=True), 1e-12))
        return inputs / norm * self.scale

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale_init": self.scale_init}


@register_layer
class TwoInputDense(keras.layers.Layer):
    """A dense layer over two inputs: one kernel each, outputs concatenated.

    Called with a list ``[x1, x2]``; returns ``concat([x1 @ W1 + b1, x2 @ W2 + b2])``,
    whose last dimension is ``2 * units``.

    Args:
        units: Output units per input.
        activation: Applied to the concatenated output.
        use_bias: Whether each branch adds a bias.

    Example:
        >>> import numpy as np
        >>> layer = TwoInputDense(3)
        >>> layer([np.ones((2, 4), "float32"), np.ones((2, 5), "float32")]).shape
        TensorShape([2, 6])
    """

    def __init__(
        self, units: int, activation: str | None = None, use_bias: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias

    def build(self, input_shape: list[tuple[int | None, ...]]) -> None:
        shapes = input_shape if isinstance(input_shape, list | tuple) else ()
        if len(shapes) != 2 or not all(isinstance(s, list | tuple) for s in shapes):
            raise ValueError(
                f"TwoInputDense expects a list of two inputs. Received: input_shape={input_shape}"
            )
        self.kernels = [
            self.add_weight(name=f"kernel_{i}", shape=(shape[-1], self.units))
            for i, shape in enumerate(input_shape)
        ]
        self.biases = (
            [
                self.add_weight(name=f"bias_{i}", shape=(self.units,), initializer="zeros")
                for i in range(2)
            ]
            if self.use_bias
            else []
        )

    def call(self, inputs: list[Any]) -> Any:
        parts = [ops.matmul(x, k) for x, k in zip(inputs, self.kernels, strict=True)]
        if self.use_bias:
            parts = [p + b for p, b in zip(parts, self.biases, strict=True)]
        return self.activation(ops.concatenate(parts, axis=-1))

    def compute_output_shape(
        self, input_shape: list[tuple[int | None, ...]]
    ) -> tuple[int | None, ...]:
        return (*input_shape[0][:-1], 2 * self.units)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
        }


@register_layer
class Sampling(keras.layers.Layer):
    """Draw ``z_mean + exp(0.5 * z_log_var) * epsilon`` with ``epsilon ~ N(0, 1)``.

    A variational autoencoder's reparameterisation trick (the Keras ``vae``
    example): called on ``[z_mean, z_log_var]`` (two tensors of one shape),
    returns a sample of that shape from ``N(z_mean, exp(z_log_var))`` through
    which gradients reach both inputs. It samples at every call, in training
    and in inference. Its random generator is a ``keras.random.SeedGenerator``
    held by the layer, so a saved model keeps its state.

    Args:
        seed: Seed of the random generator: layers with the same seed draw the
            same sequence. ``None`` draws a different one each time.

    Example:
        >>> import numpy as np
        >>> z_mean = np.array([[1.0, -2.0]], "float32")
        >>> Sampling(seed=1)([z_mean, np.zeros((1, 2), "float32")]).shape
        TensorShape([1, 2])
        >>> tiny_var = np.full((1, 2), -250.0, "float32")  # exp(-125): no noise left
        >>> Sampling(seed=1)([z_mean, tiny_var]).numpy()
        array([[ 1., -2.]], dtype=float32)
    """

    def __init__(self, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape: list[tuple[int | None, ...]]) -> None:
        self._pair_shape(input_shape)

    def call(self, inputs: list[Any]) -> Any:
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(
            ops.shape(z_mean), dtype=self.compute_dtype, seed=self.seed_generator
        )
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    def compute_output_shape(
        self, input_shape: list[tuple[int | None, ...]]
    ) -> tuple[int | None, ...]:
        return self._pair_shape(input_shape)

    def _pair_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        """The shape of ``z_mean``, after checking the input is two tensors of one shape."""
        shapes = input_shape if isinstance(input_shape, list | tuple) else ()
        if len(shapes) != 2 or not all(isinstance(s, list | tuple) for s in shapes):
            raise ValueError(
                "Sampling expects a list of two inputs, [z_mean, z_log_var]. "
                f"Received: input_shape={input_shape}"
            )
        if tuple(shapes[0]) != tuple(shapes[1]):
            raise ValueError(
                "Sampling expects z_mean and z_log_var of the same shape. "
                f"Received: {tuple(shapes[0])} and {tuple(shapes[1])}"
            )
        return tuple(shapes[0])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed}


@register_layer
class CustomDense(keras.layers.Layer):
    """A dense layer with a trainable kernel and a non-trainable (frozen) bias.

    Shows both kinds of weights: ``kernel`` is trained, ``bias`` keeps the
    value its initializer gave it.

    Args:
        units: Output units.
        activation: Activation name.
        bias_initializer: Initializer of the frozen bias.

    Example:
        >>> import numpy as np
        >>> layer = CustomDense(4)
        >>> _ = layer(np.ones((1, 3), "float32"))
        >>> len(layer.trainable_weights), len(layer.non_trainable_weights)
        (1, 1)
    """

    def __init__(
        self,
        units: int,
        activation: str | None = None,
        bias_initializer: str = "zeros",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.units))
        self.bias = self.add_weight(
            name="bias", shape=(self.units,), initializer=self.bias_initializer, trainable=False
        )

    def call(self, inputs: Any) -> Any:
        return self.activation(ops.matmul(inputs, self.kernel) + self.bias)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (*input_shape[:-1], self.units)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }


@register_layer
class AddLoss(keras.layers.Layer):
    """Pass its input through unchanged and add ``weight * fn(input)`` to the model's loss;
    called on ``[output, term]``, pass ``output`` through and add ``weight * fn(term)``.

    The spec's ``add_loss:`` on a node inserts one of these after the node.
    Being a layer that calls ``self.add_loss``, the term survives ``.keras``
    save and load (Keras 3 functional models reject ``Model.add_loss`` on
    symbolic tensors).

    Args:
        fn: One of ``mean_square`` (default), ``mean_abs``, ``sum_square``,
            ``sum_abs``, ``mean``, ``sum``.
        weight: Factor applied to the term.

    Example:
        >>> import numpy as np
        >>> layer = AddLoss(fn="mean_square", weight=2.0)
        >>> _ = layer(np.array([[1.0, 3.0]], "float32"))
        >>> float(layer.losses[0])
        10.0
    """

    def __init__(self, fn: AddLossFn = "mean_square", weight: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if fn not in ADD_LOSS_FUNCTIONS:
            raise ValueError(f"expected fn to be one of {ADD_LOSS_FUNCTIONS}. Received: fn={fn!r}")
        self.fn = fn
        self.weight = weight

    def call(self, inputs: Any) -> Any:
        # [output, term]: the term is an expression computed beside the output
        output, term = inputs if isinstance(inputs, list | tuple) else (inputs, inputs)
        value = ops.square(term) if self.fn.endswith("square") else term
        value = ops.abs(value) if self.fn.endswith("abs") else value
        reduced = ops.sum(value) if self.fn.startswith("sum") else ops.mean(value)
        self.add_loss(self.weight * ops.cast(reduced, "float32"))
        return output

    def compute_output_shape(self, input_shape: Any) -> Any:
        is_pair = isinstance(input_shape, list | tuple) and isinstance(input_shape[0], list | tuple)
        return input_shape[0] if is_pair else input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "fn": self.fn, "weight": self.weight}


@register_activation
def leaky_relu_01(x: Any) -> Any:
    """Leaky ReLU as ``maximum(0.1 * x, x)``, the custom-activation seed's function."""
    return ops.maximum(0.1 * x, x)


@register_loss
def max_penalty_crossentropy(y_true: Any, y_pred: Any) -> Any:
    """Categorical cross-entropy plus ``max(y_pred)``, the custom-loss seed's loss."""
    return keras.losses.categorical_crossentropy(y_true, y_pred) + ops.max(y_pred)


LAYERS: dict[str, type[keras.layers.Layer]] = {
    cls.__name__: cls
    for cls in (Antirectifier, L2Normalization, TwoInputDense, Sampling, CustomDense, AddLoss)
}
ACTIVATIONS = {"leaky_relu_01": leaky_relu_01}
LOSSES = {"max_penalty_crossentropy": max_penalty_crossentropy}
