"""The ``.keras`` format: Keras's own zip, reloaded by Keras in safe mode.

The provenance is one more entry of the zip (``modelspec.json``), which Keras
ignores when loading.

Example:
    >>> from modelspec.export.keras_format import KERAS
    >>> KERAS.default_path("digits")
    'digits.keras'
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from ..provenance import read_keras, stamp_keras
from .format import Format
from .source import call_arg, flat


def write(model: keras.Model, path: Path, notes: list[str]) -> None:
    """Write ``model`` as a ``.keras`` file at ``path``."""
    model.save(path)


def run(path: Path, model: keras.Model, arrays: list[np.ndarray]) -> tuple[list[np.ndarray], str]:
    from ..build import load_model

    reloaded = load_model(path)
    return flat(reloaded(call_arg(reloaded, arrays), training=False)), f"keras {keras.__version__}"


stamp = stamp_keras
read = read_keras


KERAS = Format(
    "keras", ".keras", 1e-5, runtime="keras", write=write, run=run, stamp=stamp, read=read
)
