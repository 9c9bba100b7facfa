"""The OpenVINO format: an ``.xml`` with its ``.bin``, run by the OpenVINO runtime at f32.

Written by Keras's OpenVINO export, through Keras's ONNX export when the
TensorFlow front end or PyTorch's tracer cannot take a graph (and always on
JAX, whose jax2tf graphs OpenVINO cannot read); the ``add_loss`` terms that
front end exposes as extra outputs are dropped. The provenance is in the model's ``rt_info``.

Example:
    >>> from modelspec.export.openvino import OPENVINO
    >>> OPENVINO.default_path("digits")
    'digits.xml'
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ..errors import ExportError
from ..provenance import PROVENANCE, dist_version
from .check import output_keys
from .format import Format
from .locate import op_list
from .onnx import ONNX


def _save_openvino(ov_model: Any, path: Path) -> None:
    import openvino as ov

    # keep the weights' precision: the check compares with the f32 Keras model
    ov.save_model(ov_model, str(path), compress_to_fp16=False)


def _rewrite_openvino(path: Path, edit: Callable[[Any], bool]) -> bool:
    """Read an OpenVINO model, ``edit`` it, and save it back when ``edit`` says so.

    The ``.bin`` is memory-mapped while the model is read: the edited model is
    saved beside it and renamed over it, never written into the mapped file.
    """
    import openvino as ov

    ov_model = ov.Core().read_model(path)
    if not edit(ov_model):
        return False
    fresh = path.parent / "rewrite" / path.name
    fresh.parent.mkdir(exist_ok=True)
    _save_openvino(ov_model, fresh)
    del ov_model
    os.replace(fresh.with_suffix(".bin"), path.with_suffix(".bin"))
    os.replace(fresh, path)
    fresh.parent.rmdir()
    return True


def _drop_side_outputs(path: Path, count: int) -> bool:
    """OpenVINO's TensorFlow front end also returns the tensors of ``add_loss``
    terms; keep the model's own outputs (``Identity*`` or named) when that
    leaves exactly ``count``. Returns True when it removed some."""

    def drop(ov_model: Any) -> bool:
        if len(ov_model.outputs) <= count:
            return False
        extra = [
            result
            for result, out in zip(ov_model.get_results(), ov_model.outputs, strict=True)
            if all("/" in n for n in out.names)
            and not any(n.startswith("Identity") for n in out.names)
        ]
        if len(ov_model.outputs) - len(extra) != count:
            return False
        for result in extra:
            ov_model.remove_result(result)
        return True

    return _rewrite_openvino(path, drop)


def _through_onnx(model: keras.Model, path: Path) -> None:
    """Write ``model`` with Keras's ONNX export, and convert that with OpenVINO's ONNX front end."""
    import openvino as ov

    onnx_path = path.with_suffix(".via.onnx")
    try:
        ONNX.write(model, onnx_path, [])
        ov_model = ov.convert_model(str(onnx_path))
    finally:
        onnx_path.unlink(missing_ok=True)
    _save_openvino(ov_model, path)


def write(model: keras.Model, path: Path, notes: list[str]) -> None:
    """Write ``model`` as OpenVINO's ``.xml`` and ``.bin`` at ``path``."""
    backend = keras.backend.backend()
    if backend == "jax":
        # Keras's OpenVINO export reads JAX through jax2tf, whose XlaCallModule
        # op OpenVINO's TensorFlow front end has no rule for: ONNX (jax2onnx) it reads
        _through_onnx(model, path)
        notes.append("converted through ONNX (jax2onnx): OpenVINO cannot read jax2tf's graphs")
        return
    try:
        model.export(str(path), format="openvino", verbose=False)
    except Exception as err:
        # OpenVINO's ONNX front end takes graphs its TensorFlow front end cannot
        # (recurrent layers' TensorList loops), and on PyTorch Keras's ONNX export
        # takes models its torch.jit.trace cannot (dict outputs): go through ONNX
        convert = type(err).__name__ == "OpConversionFailure"
        if not (convert or backend == "torch") or ONNX.missing(backend):
            raise
        try:
            _through_onnx(model, path)
        except Exception:
            raise err from None
        route = "the TensorFlow front end" if convert else "Keras's OpenVINO export"
        reason = textwrap.shorten(op_list(err), 100, placeholder="...")
        notes.append(f"converted through ONNX: {route} failed ({reason})")
        return
    if _drop_side_outputs(path, len(model.outputs)):
        notes.append("dropped the add_loss terms OpenVINO's converter exposed as extra outputs")


def run(path: Path, model: keras.Model, arrays: list[np.ndarray]) -> tuple[list[np.ndarray], str]:
    import openvino as ov

    core = ov.Core()
    # the CPU plugin runs bf16 on CPUs that have it unless asked for f32
    compiled = core.compile_model(core.read_model(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    result = compiled(list(arrays))
    outputs = [np.asarray(result[o]) for o in compiled.outputs]
    keys = output_keys(model)
    if keys:
        named = {n: v for o, v in zip(compiled.outputs, outputs, strict=True) for n in o.names}
        if set(keys) <= set(named):
            outputs = [named[k] for k in keys]
    return outputs, f"openvino {dist_version('openvino')}"


def stamp(path: Path, record: dict[str, Any]) -> None:
    """Write ``record`` into the OpenVINO model at ``path``."""

    def add_info(ov_model: Any) -> bool:
        for key, value in record.items():
            ov_model.set_rt_info("" if value is None else str(value), [PROVENANCE, key])
        return True

    _rewrite_openvino(path, add_info)


def read(path: Path) -> dict[str, Any]:
    """The provenance the OpenVINO model at ``path`` carries."""
    import openvino as ov

    info = ov.Core().read_model(path).get_rt_info()[PROVENANCE]
    found = {k: (v.astype(str) or None) for k, v in info.items()}
    if not found:
        raise ExportError(f"{path} carries no modelspec provenance")
    return found


OPENVINO = Format(
    "openvino",
    ".xml",
    1e-4,
    "openvino",
    ("openvino",),
    "openvino",
    backend_modules={"jax": ("jax2onnx",)},
    write=write,
    run=run,
    stamp=stamp,
    read=read,
)
