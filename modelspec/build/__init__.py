"""Build a functional Keras model from a validated spec.

The first stage that imports Keras. :mod:`.graph` builds one graph (the
model's, or a block instance's body, as a nested ``keras.Model``) node by node;
:mod:`.ops` turns tensor expressions into ``keras.ops`` calls; :mod:`.model`
makes and compiles the model, builds a block alone, and reloads saved models.
An error Keras raises for a node (a shape or dtype mismatch) becomes a
:class:`~modelspec.errors.BuildError` at that node's line.

Example:
    >>> model = build_model("specs/antirectifier_digits.yaml")
    >>> model.count_params()
    153098
"""

from .model import (
    build_model,
    deep_graph,
    graph_size,
    load_model,
    make_optimizer,
    stage_optimizer,
    start_stage,
)
from .trainable import set_trainable

__all__ = [
    "build_model",
    "deep_graph",
    "graph_size",
    "load_model",
    "make_optimizer",
    "set_trainable",
    "stage_optimizer",
    "start_stage",
]
