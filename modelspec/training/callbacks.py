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

from .. import catalogue
from ..errors import SpecError, shown
from ..files import inside
from ..provenance import provenance
from ..spec.schema import ModelSpec
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
    options = args("model_checkpoint", monitor=monitor, save_best_only=True, verbose=0)
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
