"""The ``.keras`` format: Keras's own zip, reloaded by Keras in safe mode.

The provenance is one more entry of the zip (``modelspec.json``), which Keras
ignores when loading.

Example:
    >>> from modelspec.export.keras_format import KERAS
    >>> KERAS.default_path("digits")
    'digits.keras'
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import keras
import numpy as np

from .format import Format
from .provenance import PROVENANCE
from .source import call_arg, flat


def write(model: keras.Model, path: Path, notes: list[str]) -> None:
    """Write ``model`` as a ``.keras`` file at ``path``."""
    model.save(path)


def run(path: Path, model: keras.Model, arrays: list[np.ndarray]) -> tuple[list[np.ndarray], str]:
    from ..build import load_model

    reloaded = load_model(path)
    return flat(reloaded(call_arg(reloaded, arrays), training=False)), f"keras {keras.__version__}"


def stamp(path: Path, record: dict[str, Any]) -> None:
    """Write ``record`` into the ``.keras`` file at ``path``."""
    text = json.dumps(record, indent=1)
    # Keras reads its own entries of the zip and ignores others
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(f"{PROVENANCE}.json", text)


def read(path: Path) -> dict[str, Any]:
    """The provenance the ``.keras`` file at ``path`` carries."""
    with zipfile.ZipFile(path) as archive:
        return dict(json.loads(archive.read(f"{PROVENANCE}.json")))


KERAS = Format(
    "keras", ".keras", 1e-5, runtime="keras", write=write, run=run, stamp=stamp, read=read
)
