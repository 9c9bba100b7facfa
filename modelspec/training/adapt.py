"""Training's side of ``adapt:``: the model rebuilt with its preprocessing layers adapted
on the training split (never validation or test) before fitting.

:func:`train` first builds the model unadapted to check the data against it,
then, when a node says ``adapt:``, builds it again from the same seed with the
training split's inputs (:func:`modelspec.build.build_model`'s ``adapt_data``).
On ``--resume`` the same split gives the same state: a Normalization's mean and
variance (weights) are then restored with the others, a lookup's vocabulary
(not a weight) is recomputed identically.

Example:
    Not run here (it loads data and builds twice)::

        spec = load_spec("specs/structured_data.yaml")
        data = load_data(spec)
        model = adapted_model(spec, build_model(spec), data)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..build import build_model
from ..build.adapt import has_adapt
from ..spec.schema import ModelSpec

if TYPE_CHECKING:
    import keras

    from ..data import Data


def adapted_model(spec: ModelSpec, model: keras.Model, data: Data) -> keras.Model:
    """``model`` when no node of ``spec`` says ``adapt:``; else the spec's model built
    again, its ``adapt:`` layers adapted on ``data.train``, with the same initial
    weights (the seed is set again)."""
    if not has_adapt(list(spec.layers)):
        return model
    import keras

    keras.utils.set_random_seed(spec.train.seed if spec.train else 0)
    return build_model(spec, adapt_data=data.train.x)
