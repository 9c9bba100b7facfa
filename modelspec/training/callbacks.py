"""The callbacks of a run: Keras's own, with their files inside the run directory.

The spec's callbacks come first, by name; then Keras's ModelCheckpoint for
the best model, the run's :class:`RunState`, which commits each epoch
(:mod:`~modelspec.training.resume`), and TensorBoard. The spec's
``model_checkpoint``, ``csv_logger``, ``tensorboard`` and ``backup_and_restore``
entries set the arguments of these always-present ones.

Example:
    What ``train`` passes to ``model.fit``::

        callbacks, state = make_callbacks(spec, run_dir, has_validation=True)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras

from .. import catalogue, registry
from ..errors import SpecError, shown
from ..files import inside
from ..provenance import provenance
from ..spec.schema import ModelSpec
from ..spec.validate.compile import logged_metrics
from .resume import PendingCheckpoint, RunState


def make_callbacks(
    spec: ModelSpec, run_dir: Path, has_validation: bool
) -> tuple[list[Any], RunState]:
    """The callbacks of a run, in the order they must run, and its :class:`RunState`.

    Raises:
        SpecError: A callback's file would land outside the run directory
            once symlinks are followed (validation refuses the others).
    """
    assert spec.train is not None
    # by spec name (early_stopping), whether the spec gave that or a class name
    user = {
        catalogue.callback_name(c.type) or c.type.lower(): (i, c.args)
        for i, c in enumerate(spec.train.callbacks)
    }
    monitor = spec.train.monitor or ("val_loss" if has_validation else "loss")

    def args(name: str, **defaults: Any) -> dict[str, Any]:
        index, given = user.pop(name, (None, {}))
        given = dict(given)
        if name in catalogue.CALLBACK_RUN_FILES:  # relative paths are inside the run directory
            key, default = catalogue.CALLBACK_RUN_FILES[name]
            relative = given.get(key, default)
            target = inside(run_dir, relative)
            if target is None:
                where = ("train", "callbacks", index, key) if index is not None else ("train",)
                raise SpecError(
                    [
                        spec.document.diagnostic(
                            where,
                            f"expected a path inside the run directory {run_dir}. Received: "
                            f"{key}={shown(relative)}, which leads out of it (through a "
                            "symlink?). A run writes only inside its run directory.",
                        )
                    ]
                )
            given[key] = str(target)
        return defaults | given

    backup = args("backup_and_restore")
    unknown = set(backup) - {"backup_dir", "save_freq", "delete_checkpoint", "double_checkpoint"}
    assert not unknown, unknown  # validated
    backup_dir = Path(backup["backup_dir"])
    mode = monitor_mode(spec, monitor)
    options = args("model_checkpoint", monitor=monitor, save_best_only=True, verbose=0, mode=mode)
    checkpoint = PendingCheckpoint(
        options.pop("filepath"), backup_dir / ".best.pending.keras", **options
    )
    state = RunState(
        backup_dir,
        Path(args("csv_logger")["filename"]),
        checkpoint,
        keep_checkpoints=backup.get("save_freq", "epoch") is not False,
        delete_at_end=backup.get("delete_checkpoint", True),
        provenance=_provenance(run_dir),
    )
    board = keras.callbacks.TensorBoard(**args("tensorboard"))
    # what is left in `user` are the spec's other callbacks
    callbacks: list[Any] = []
    for name, (_, given) in user.items():
        sig = catalogue.keras_class("callbacks", name)
        assert sig is not None  # validated
        extra = {"monitor": monitor} if "monitor" in sig.args and "monitor" not in given else {}
        if "mode" in sig.args and "mode" not in given:  # Keras's auto mode misses some metrics
            watched = monitor_mode(spec, str(given.get("monitor", monitor)))
            extra |= {"mode": watched} if watched != "auto" else {}
        callbacks.append(getattr(keras.callbacks, sig.type)(**(extra | given)))
    # the checkpoint saves what the spec's callbacks made of the epoch (a learning
    # rate ReduceLROnPlateau lowered), then RunState commits the epoch; TensorBoard
    # last (saving a model between its batch hooks upsets its summary writer)
    callbacks += [checkpoint, state, board]
    return callbacks, state


def _provenance(run_dir: Path) -> dict[str, Any]:
    """The record ``best.keras`` carries, like the run's ``model.keras``: its resolved spec."""
    resolved = run_dir / "spec.yaml"
    text = resolved.read_text(encoding="utf-8") if resolved.is_file() else None
    return provenance(text, str(resolved), "keras")


def monitor_mode(spec: ModelSpec, monitor: str) -> str:
    """``min`` or ``max`` for a monitored loss or metric, by the metric's own direction;
    ``auto`` when unknown. Keras's ``auto`` mode finds a metric by its bare name, so it
    misses one output's metric on a multi-output model (``val_cls_acc``) and guesses
    ``ReduceLROnPlateau``'s direction from ``acc`` in the name (AUC would be minimised).

    Example:
        >>> from modelspec import load_spec
        >>> spec = load_spec("specs/antirectifier_digits.yaml")
        >>> monitor_mode(spec, "val_loss"), monitor_mode(spec, "val_accuracy")
        ('min', 'max')
    """
    name = monitor.removeprefix("val_")
    if name == "loss" or name.endswith("_loss"):
        return "min"
    metric = logged_metrics(spec.document.data).get(name)
    if metric is None:
        return "auto"
    direction = getattr(_metric(metric), "_direction", None)
    return {"up": "max", "down": "min"}.get(str(direction), "auto")


def _metric(spec: Any) -> Any:
    """A metric object for a spec's metric (a name or ``{type: ..., ...}``), or ``None``."""
    try:
        if isinstance(spec, str):
            if spec.lower() in ("acc", "accuracy"):  # compile picks the variant: all go up
                return keras.metrics.Accuracy()
            obj = registry.metrics.get(spec) or keras.metrics.get(spec)
        else:
            args = {k: v for k, v in spec.items() if k not in ("type", "name")}
            obj = registry.metrics.get(spec["type"])
            if obj is None:
                sig = catalogue.keras_class("metrics", spec["type"])
                obj = getattr(keras.metrics, sig.type) if sig is not None else None
            obj = obj(**args) if isinstance(obj, type) else obj
        if isinstance(obj, type):
            obj = obj()
        if callable(obj) and not isinstance(obj, keras.metrics.Metric):
            obj = keras.metrics.MeanMetricWrapper(obj)
        return obj
    except Exception:  # an unusual metric: Keras's auto mode decides
        return None
