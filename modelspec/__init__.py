"""modelspec: declarative Keras models from YAML specs.

Write a model as a YAML spec, validate it (without importing TensorFlow when
it only uses built-in layers), and build a functional Keras 3 model from it.

Example:
    >>> from modelspec import build_model, validate_spec
    >>> validate_spec("specs/antirectifier_digits.yaml").ok
    True
    >>> build_model("specs/antirectifier_digits.yaml").count_params()
    153098

Keras-dependent functions (``build_model``, ``load_model``, ``train``,
``evaluate``, ``predict``, ``export_model``, ``tune``) are imported on first use, so
``import modelspec`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import (
    BuildError,
    DataError,
    Diagnostic,
    DownloadError,
    ExportError,
    ModelLoadError,
    ModelSpecError,
    PluginError,
    RegistryError,
    RunError,
    RunInterrupted,
    SpecError,
    SpecLoadError,
    StudyStopped,
    TrainingFailed,
    TuneError,
)
from .registry import (
    Registry,
    register_activation,
    register_constraint,
    register_dataset,
    register_initializer,
    register_layer,
    register_loss,
    register_metric,
    register_regularizer,
)
from .spec.schema import ModelSpec
from .spec.validate import Report, load_spec, validate_spec

if TYPE_CHECKING:
    from .build import build_model, load_model
    from .export import ExportResult, export_model, read_provenance
    from .training import TrainResult, evaluate, predict, train
    from .tuning import TuneResult, tune

__all__ = [
    "BuildError",
    "DataError",
    "Diagnostic",
    "DownloadError",
    "ExportError",
    "ExportResult",
    "ModelLoadError",
    "ModelSpec",
    "ModelSpecError",
    "PluginError",
    "Registry",
    "RegistryError",
    "Report",
    "RunError",
    "RunInterrupted",
    "SpecError",
    "SpecLoadError",
    "StudyStopped",
    "TrainResult",
    "TrainingFailed",
    "TuneError",
    "TuneResult",
    "__version__",
    "build_model",
    "evaluate",
    "export_model",
    "load_model",
    "load_spec",
    "predict",
    "read_provenance",
    "register_activation",
    "register_constraint",
    "register_dataset",
    "register_initializer",
    "register_layer",
    "register_loss",
    "register_metric",
    "register_regularizer",
    "train",
    "tune",
    "validate_spec",
]


def __getattr__(name: str) -> Any:
    """The Keras-side API, imported on first use so ``import modelspec`` stays fast."""
    if name in ("build_model", "load_model"):
        from . import build as module
    elif name in ("train", "evaluate", "predict", "TrainResult"):
        from . import training as module  # type: ignore[no-redef]
    elif name in ("tune", "TuneResult"):
        from . import tuning as module  # type: ignore[no-redef]
    elif name in ("export_model", "ExportResult", "read_provenance"):
        from . import export as module  # type: ignore[no-redef]
    else:
        raise AttributeError(f"module 'modelspec' has no attribute {name!r}")
    return getattr(module, name)
