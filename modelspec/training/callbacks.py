"""The callbacks of a run: Keras's own, with their files inside the run directory.

``BackupAndRestore`` comes first (it sets the epoch the others resume from);
the best checkpoint and ``history.csv`` are written atomically after each
epoch, so a run killed at any moment resumes without losing or repeating an
epoch. The spec's other callbacks follow, by name.

Example:
    What ``train`` passes to ``model.fit``::

        callbacks = make_callbacks(spec, run_dir, has_validation=True)
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import keras

from .. import catalogue
from ..errors import SpecError, shown
from ..files import inside, write_text
from ..spec.schema import ModelSpec


def make_callbacks(spec: ModelSpec, run_dir: Path, has_validation: bool) -> list[Any]:
    """The callbacks of a run, in the order they must run.

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

    callbacks: list[Any] = [
        # First: it sets the initial epoch the others see when resuming.
        keras.callbacks.BackupAndRestore(**args("backup_and_restore")),
        AtomicCheckpoint(
            **args("model_checkpoint", monitor=monitor, save_best_only=True, verbose=0)
        ),
        AtomicHistory(Path(args("csv_logger")["filename"])),
        keras.callbacks.TensorBoard(**args("tensorboard")),
    ]
    for name, (_, given) in user.items():
        sig = catalogue.keras_class("callbacks", name)
        assert sig is not None  # validated
        extra = {"monitor": monitor} if "monitor" in sig.args and "monitor" not in given else {}
        callbacks.append(getattr(keras.callbacks, sig.type)(**(extra | given)))
    return callbacks


class AtomicHistory(keras.callbacks.Callback):
    """Writes ``history.csv`` atomically after every epoch (Keras's CSVLogger
    appends in place, which a kill can leave half-written). On resume, rows
    from epochs that are being redone are dropped."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.rows: list[dict[str, str]] = []

    def on_train_begin(self, logs: Any = None) -> None:
        start = int(getattr(self.model, "_initial_epoch", 0) or 0)
        self.rows = []
        if self.path.is_file():
            with self.path.open(encoding="utf-8", newline="") as f:
                self.rows = [r for r in csv.DictReader(f) if int(r["epoch"]) < start]

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        row = {"epoch": str(epoch)} | {k: repr(float(v)) for k, v in (logs or {}).items()}
        self.rows.append(row)
        fields = list(dict.fromkeys(k for r in self.rows for k in r))
        out = io.StringIO()
        writer = csv.DictWriter(out, fields, restval="")
        writer.writeheader()
        writer.writerows(self.rows)
        write_text(self.path, out.getvalue())


class AtomicCheckpoint(keras.callbacks.ModelCheckpoint):
    """Keras's ModelCheckpoint, saving to a temporary name renamed into place."""

    def __init__(self, filepath: str, **kwargs: Any) -> None:
        self.target = Path(filepath)
        self.tmp = self.target.with_name(f".{self.target.stem}.tmp{self.target.suffix}")
        super().__init__(str(self.tmp), **kwargs)

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        super().on_epoch_end(epoch, logs)
        if self.tmp.exists():
            os.replace(self.tmp, self.target)
