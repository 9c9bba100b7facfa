"""The SavedModel format: a TensorFlow SavedModel directory, reloaded by ``tf.saved_model.load``.

The provenance is a file in ``assets.extra/``, the SavedModel place for files
of higher-level libraries.

Example:
    >>> from modelspec.export.saved_model import SAVED_MODEL
    >>> SAVED_MODEL.default_path("digits")
    'digits_saved_model'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ..provenance import PROVENANCE
from .format import Format
from .source import call_arg, flat


def write(model: keras.Model, path: Path, notes: list[str]) -> None:
    """Write ``model`` as a SavedModel directory at ``path`` with Keras's exporter."""
    model.export(str(path), format="tf_saved_model", verbose=False)


def run(path: Path, model: keras.Model, arrays: list[np.ndarray]) -> tuple[list[np.ndarray], str]:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    return flat(loaded.serve(call_arg(model, arrays))), f"tensorflow {tf.__version__}"


def stamp(path: Path, record: dict[str, Any]) -> None:
    """Write ``record`` into the SavedModel at ``path``."""
    text = json.dumps(record, indent=1)
    # the SavedModel place for files of higher-level libraries
    extra = path / "assets.extra"
    extra.mkdir(exist_ok=True)
    (extra / f"{PROVENANCE}.json").write_text(text, encoding="utf-8")


def read(path: Path) -> dict[str, Any]:
    """The provenance the SavedModel at ``path`` carries."""
    return dict(json.loads((path / "assets.extra" / f"{PROVENANCE}.json").read_text()))


SAVED_MODEL = Format(
    "saved_model", "", 1e-5, runtime="tensorflow", write=write, run=run, stamp=stamp, read=read
)
