"""Export: a model to .keras, SavedModel, LiteRT, ONNX or OpenVINO, each artifact checked.

Stage 6 of the pipeline. Every artifact is written by Keras itself
(``model.save`` and ``model.export(format=...)``) into a temporary path next
to its target, reloaded in its own runtime (Keras with ``safe_mode``, a fresh
``tf.saved_model.load``, the LiteRT interpreter, onnxruntime, the OpenVINO
runtime at f32 precision), run on sample inputs and compared with the Keras
model. Only an artifact within tolerance is renamed onto its target; otherwise
nothing is left there and :class:`~modelspec.errors.ExportError` says by how much
it missed. A format that cannot take a layer fails with the layer's spec line;
one that Keras cannot export from the backend it runs on
(:data:`modelspec.backend.EXPORT_BACKENDS`) fails at once, in one line.

Each artifact carries its provenance (the spec's YAML text, its sha256, the
modelspec, Keras and TensorFlow versions, the backend): in ``assets.extra/`` of a SavedModel,
in ONNX ``metadata_props``, in OpenVINO ``rt_info``, in the ``.tflite``
flatbuffer's metadata and inside the ``.keras`` zip. :func:`read_provenance`
reads it back.

Read in order: :mod:`~modelspec.export.format` (the interface a format
supplies: write, load-and-run, stamp and read provenance) →
:mod:`~modelspec.export.provenance` (the record) →
:mod:`~modelspec.export.source` (what to export, sample inputs) →
:mod:`~modelspec.export.check` (the numeric check) →
:mod:`~modelspec.export.locate` (failures at spec lines) → one module per
format: :mod:`~modelspec.export.keras_format`,
:mod:`~modelspec.export.saved_model`, :mod:`~modelspec.export.litert`,
:mod:`~modelspec.export.onnx`, :mod:`~modelspec.export.openvino` →
:mod:`~modelspec.export.formats` (all of them, ``require``,
``read_provenance``) → :mod:`~modelspec.export.staging` (write beside, rename
onto) → :mod:`~modelspec.export.api` (``export_model``, ``export_all``).

Example:
    >>> import tempfile
    >>> from modelspec.export import export_model
    >>> out = tempfile.mkdtemp()
    >>> result = export_model("specs/siamese.yaml", "keras", f"{out}/siamese.keras")
    >>> result.max_abs_diff <= result.tolerance
    True
"""

from .api import ExportResult, export_all, export_model
from .check import max_abs_diff
from .format import Format
from .formats import FORMATS, RUNNERS, read_provenance, require
from .locate import layers_using_ops
from .source import sample_inputs

__all__ = [
    "FORMATS",
    "RUNNERS",
    "ExportResult",
    "Format",
    "export_all",
    "export_model",
    "layers_using_ops",
    "max_abs_diff",
    "read_provenance",
    "require",
    "sample_inputs",
]
