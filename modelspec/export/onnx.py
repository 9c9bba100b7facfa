"""The ONNX format: Keras's ONNX export, run by onnxruntime.

Keras converts with tf2onnx on TensorFlow, jax2onnx on JAX and ``torch.onnx``
on PyTorch.

The provenance is in the model's ``metadata_props``, one ``modelspec.<key>``
entry per field.

Example:
    >>> from modelspec.export.onnx import ONNX
    >>> ONNX.extra, ONNX.modules, ONNX.backend_modules["jax"]
    ('onnx', ('onnx', 'onnxruntime'), ('jax2onnx',))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np

from ..errors import ExportError
from ..provenance import PROVENANCE
from .check import ordered, output_keys
from .format import Format


def write(model: keras.Model, path: Path, notes: list[str]) -> None:
    """Write ``model`` as an ``.onnx`` file at ``path`` with Keras's exporter."""
    model.export(str(path), format="onnx", verbose=False)


def run(path: Path, model: keras.Model, arrays: list[np.ndarray]) -> tuple[list[np.ndarray], str]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {i.name: a for i, a in zip(session.get_inputs(), arrays, strict=True)}
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, session.run(None, feeds), strict=True))
    keys = output_keys(model)
    flat = [outputs[n] for n in names] if not keys or not set(keys) <= set(names) else None
    return flat or ordered(outputs, keys), f"onnxruntime {ort.__version__}"


def stamp(path: Path, record: dict[str, Any]) -> None:
    """Write ``record`` into the ``.onnx`` file at ``path``."""
    import onnx

    proto = onnx.load(str(path))
    for key, value in record.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = f"{PROVENANCE}.{key}", "" if value is None else str(value)
    onnx.save(proto, str(path))


def read(path: Path) -> dict[str, Any]:
    """The provenance the ``.onnx`` file at ``path`` carries."""
    import onnx

    props = onnx.load(str(path), load_external_data=False).metadata_props
    found = {
        p.key.removeprefix(f"{PROVENANCE}."): p.value or None
        for p in props
        if p.key.startswith(f"{PROVENANCE}.")
    }
    if not found:
        raise ExportError(f"{path} carries no modelspec provenance")
    return found


ONNX = Format(
    "onnx",
    ".onnx",
    1e-4,
    "onnx",
    ("onnx", "onnxruntime"),
    "onnxruntime",
    backend_modules={"tensorflow": ("tf2onnx",), "jax": ("jax2onnx",)},
    write=write,
    run=run,
    stamp=stamp,
    read=read,
)
