"""Every export format, in order: :data:`FORMATS`, :func:`require` and :func:`read_provenance`.

:data:`RUNNERS` holds the load-and-run step the export uses for each format
(a test may replace one).

Example:
    >>> from modelspec.export.formats import FORMATS
    >>> list(FORMATS)
    ['keras', 'saved_model', 'litert', 'onnx', 'openvino']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras

from ..backend import export_problem
from ..errors import ExportError, did_you_mean
from ..spec.schema import EXPORT_FORMATS
from .format import Format, Runner
from .keras_format import KERAS
from .litert import LITERT
from .onnx import ONNX
from .openvino import OPENVINO
from .saved_model import SAVED_MODEL
from .source import PathLike

FORMATS: dict[str, Format] = {f.name: f for f in (KERAS, SAVED_MODEL, LITERT, ONNX, OPENVINO)}
assert tuple(FORMATS) == EXPORT_FORMATS

#: How the export reloads and runs each format's artifact (``Format.run``).
RUNNERS: dict[str, Runner] = {name: f.run for name, f in FORMATS.items()}


def require(fmt: str, backend: str | None = None) -> Format:
    """The :class:`Format` called ``fmt``, checked against the backend Keras runs
    on and its optional packages.

    Args:
        fmt: The format's name.
        backend: The backend to check (default: the one Keras runs on).

    Raises:
        ExportError: Unknown format, a backend Keras cannot export it from (one
            line naming the backends that can), or its packages are not
            installed (the message gives the exact pip command).

    Example:
        >>> require("litert", "jax")
        Traceback (most recent call last):
        ...
        modelspec.errors.ExportError: litert export needs the tensorflow backend. Received: ...
    """
    if fmt not in FORMATS:
        hint = did_you_mean(fmt, FORMATS) or f" Known: {', '.join(FORMATS)}."
        raise ExportError(f"unknown export format '{fmt}'.{hint}")
    spec = FORMATS[fmt]
    backend = backend or keras.backend.backend()
    problem = export_problem(fmt, backend)
    if problem:
        raise ExportError(problem)
    missing = spec.missing(backend)
    if missing:
        on = f" on {backend}" if set(missing) & set(spec.backend_modules.get(backend, ())) else ""
        raise ExportError(
            f"{fmt} export{on} needs {', '.join(missing)}, not installed: {spec.install(missing)}"
        )
    return spec


def read_provenance(path: PathLike) -> dict[str, Any]:
    """The provenance an exported artifact carries (see :func:`export_model`).

    Args:
        path: A ``.keras``, ``.tflite``, ``.onnx`` or OpenVINO ``.xml`` file,
            or a SavedModel directory.

    Returns:
        ``{"spec": yaml text, "spec_sha256": ..., "modelspec_version": ...,
        "keras_version": ..., "source": ..., "format": ..., "created": ...}``.

    Raises:
        ExportError: The artifact carries no modelspec provenance.

    Example:
        >>> import tempfile
        >>> from modelspec.export import export_model
        >>> out = tempfile.mkdtemp()
        >>> _ = export_model("specs/siamese.yaml", "keras", f"{out}/siamese.keras")
        >>> read_provenance(f"{out}/siamese.keras")["source"]
        'specs/siamese.yaml'
    """
    path = Path(path)
    try:
        # a directory is a SavedModel (suffix ""); a file goes by its suffix
        suffix = "" if path.is_dir() else path.suffix or None
        fmt = next((f for f in FORMATS.values() if f.suffix == suffix), None)
        if fmt is None:
            raise ExportError(f"expected an exported artifact. Received: {path}")
        return fmt.read(path)
    except (OSError, KeyError, StopIteration, ValueError) as err:
        raise ExportError(f"{path} carries no modelspec provenance ({err})") from None
