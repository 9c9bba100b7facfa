"""What modelspec ships on top of Keras: layers, an activation and a loss.

Importing this package imports Keras and registers them (with modelspec's
registries and with Keras serialization). Their signatures are also in the
catalogue, so validating a spec that uses them imports nothing.
``python -m modelspec.layers.catalogue`` rewrites that catalogue.

Example:
    >>> from modelspec.layers import LAYERS
    >>> sorted(LAYERS)
    ['AddLoss', 'Antirectifier', 'CustomDense', 'L2Normalization', 'Sampling', 'TwoInputDense']
"""

from .shipped import (
    ACTIVATIONS,
    LAYERS,
    LOSSES,
    AddLoss,
    Antirectifier,
    CustomDense,
    L2Normalization,
    Sampling,
    TwoInputDense,
    leaky_relu_01,
    max_penalty_crossentropy,
)

__all__ = [
    "ACTIVATIONS",
    "LAYERS",
    "LOSSES",
    "AddLoss",
    "Antirectifier",
    "CustomDense",
    "L2Normalization",
    "Sampling",
    "TwoInputDense",
    "leaky_relu_01",
    "max_penalty_crossentropy",
]
