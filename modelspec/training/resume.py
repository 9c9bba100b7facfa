"""What a run keeps so that a kill at any moment loses at most the epoch in progress.

:class:`RunState`, the last callback of a run, commits each epoch with one atomic
write of ``backup/state.json``: the epochs done, the history rows, the best
checkpoint's value, the epoch's checkpoint (a ``.keras`` file with the weights
and the optimizer's state, written before under its own name) and the best model
waiting to be published. Only after the commit does it publish what follows from
it: ``best.keras`` (renamed into place), ``history.csv`` (rewritten from the rows)
and the removal of older checkpoints. :meth:`RunState.restore` replays those
steps from the state before ``fit`` resumes at the next epoch, so a kill between
any two of them is finished on resume; the best checkpoint's value is restored
too, so the first epoch after a resume does not overwrite a better ``best.keras``.

One model save per epoch: when the best model improves at the end of an epoch,
the epoch's checkpoint is a hard link to it rather than a second copy.

Example:
    What ``train`` does (not run here: it trains)::

        callbacks, state = make_callbacks(spec, run_dir, has_validation=True)
        model.fit(..., initial_epoch=state.restore(model), callbacks=callbacks)
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras

from ..files import atomic_path, remove, write_text
from ..provenance import stamp_keras

#: The commit record in the backup folder.
STATE = "state.json"
#: What RunState and its checkpoint write in the backup folder (temporary names included).
OWN_FILES = re.compile(
    r"^(state\.json|(epoch|best)-\d+\.keras|\.best\.pending\.keras"
    r"|\.(state|epoch-\d+)\.\d+\.tmp(\.json|\.keras))$"
)


class PendingCheckpoint(keras.callbacks.ModelCheckpoint):
    """Keras's ModelCheckpoint, saving into the backup folder; :class:`RunState`
    publishes its file as the best model when the epoch is committed.

    Args:
        target: Where the best model is published (``best.keras``; it may hold
            Keras's ``{epoch}``-style fields).
        pending: Where Keras's checkpoint writes.
    """

    def __init__(self, target: str, pending: Path, **kwargs: Any) -> None:
        self.target, self.pending = target, pending
        self.saved_at_epoch_end = False
        super().__init__(str(pending), **kwargs)

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        before = _mtime(self.pending)
        super().on_epoch_end(epoch, logs)
        self.saved_at_epoch_end = _mtime(self.pending) not in (None, before)


class RunState(keras.callbacks.Callback):
    """Commits each epoch, then publishes the best model and the history.

    Args:
        backup_dir: Where the state and the checkpoints live.
        history: The ``history.csv`` path.
        checkpoint: The run's best-model checkpoint.
        keep_checkpoints: Save a checkpoint each epoch (``backup_and_restore``
            ``save_freq: false`` turns it off: a resumed run then starts over).
        delete_at_end: Remove the backup folder when the run is complete.
        provenance: The record each published best model carries.
    """

    def __init__(
        self,
        backup_dir: Path,
        history: Path,
        checkpoint: PendingCheckpoint,
        keep_checkpoints: bool = True,
        delete_at_end: bool = True,
        provenance: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.provenance = provenance
        self.backup_dir, self.history, self.checkpoint = backup_dir, history, checkpoint
        self.keep_checkpoints, self.delete_at_end = keep_checkpoints, delete_at_end
        self.state: dict[str, Any] = {"epoch": 0, "rows": [], "checkpoint": None}

    # -- resume ------------------------------------------------------------------
    def restore(self, model: keras.Model, prepare: Callable[[int], None] | None = None) -> int:
        """Finish what a killed run left half done; load its last checkpoint into
        ``model``; return the epoch to resume at (0 for a new run).

        ``prepare(epoch)`` is called before a checkpoint is loaded, with the epochs
        it holds: it makes the model what it was when it was saved (the trainable
        layers and the optimizer of that epoch's stage)."""
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        path = self.backup_dir / STATE
        if path.is_file():
            self.state = json.loads(path.read_text(encoding="utf-8"))
        self._publish()
        if self.state.get("best") is not None:
            self.checkpoint.best = self.state["best"]
        name = self.state.get("checkpoint")
        if name and (self.backup_dir / name).is_file():
            if prepare is not None:
                prepare(int(self.state["epoch"]))
            model.load_weights(self.backup_dir / name)  # weights and optimizer state
            return int(self.state["epoch"])
        self.state = {"epoch": 0, "rows": [], "checkpoint": None}
        return 0

    def extend(
        self,
        model: keras.Model,
        saved: Path,
        best: float | None,
        prepare: Callable[[int], None] | None = None,
    ) -> int:
        """A finished run trained further: its final model (weights and optimizer
        state) and its history become the committed state to continue from (so a kill
        in the next epoch resumes here, losing nothing); returns the epochs done.
        ``prepare`` as for :meth:`restore`."""
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        with self.history.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        if prepare is not None:
            prepare(len(rows))
        model.load_weights(saved)
        name = f"epoch-{len(rows)}.keras"
        with atomic_path(self.backup_dir / name) as tmp:
            shutil.copyfile(saved, tmp)
        self.state = {"epoch": len(rows), "rows": rows, "checkpoint": name}
        if best is not None:
            self.state["best"] = self.checkpoint.best = best
        write_text(self.backup_dir / STATE, json.dumps(self.state))  # the commit
        return len(rows)

    # -- each epoch ----------------------------------------------------------------
    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        logs = logs or {}
        row = {"epoch": str(epoch)} | {k: repr(float(v)) for k, v in logs.items()}
        state = dict(self.state, epoch=epoch + 1, rows=[*self.state["rows"], row])
        if self.checkpoint.pending.exists():  # improved (or saved on schedule) this epoch
            best = f"best-{epoch + 1}.keras"
            if self.provenance is not None and self.checkpoint.pending.suffix == ".keras":
                stamp_keras(self.checkpoint.pending, self.provenance)
            os.replace(self.checkpoint.pending, self.backup_dir / best)
            target = self.checkpoint.target.format(epoch=epoch + 1, **logs)
            state["best_file"], state["best_target"] = best, target
        if self.checkpoint.best is not None:
            state["best"] = float(self.checkpoint.best)
        if self.keep_checkpoints:
            state["checkpoint"] = self._checkpoint(epoch + 1, state)
        write_text(self.backup_dir / STATE, json.dumps(state))  # the commit
        self.state = state
        self._publish()

    def _checkpoint(self, epoch: int, state: dict[str, Any]) -> str:
        """Save this epoch's checkpoint under its own name (a link to the best model
        when the checkpoint just saved the very same weights)."""
        name = f"epoch-{epoch}.keras"
        with atomic_path(self.backup_dir / name) as tmp:
            linked = False
            if self.checkpoint.saved_at_epoch_end and state.get("best_file"):
                with contextlib.suppress(OSError):  # a file system without hard links
                    os.link(self.backup_dir / state["best_file"], tmp)
                    linked = True
            if not linked:
                self.model.save(tmp)
        return name

    def _publish(self) -> None:
        """What follows a commit: the best model in place, history.csv, no stale files."""
        best = self.state.get("best_file")
        if best and (self.backup_dir / best).is_file():
            target = Path(self.state["best_target"])
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.backup_dir / best, target)
        if self.state["rows"] or self.history.exists():
            write_text(self.history, _csv(self.state["rows"]))
        keep = {STATE, self.state.get("checkpoint")}
        for path in self._own_files():
            if path.name not in keep:
                remove(path)

    def _own_files(self) -> list[Path]:
        """The files of the backup folder this class writes: nothing else in the folder
        (``backup_dir: .`` is the run directory itself) is ever removed."""
        return [p for p in self.backup_dir.iterdir() if OWN_FILES.match(p.name)]

    def finish(self) -> None:
        """The run is complete: remove the backup (and its folder, left empty) unless
        asked to keep it."""
        if self.delete_at_end:
            for path in self._own_files():
                remove(path)
            with contextlib.suppress(OSError):  # the folder holds other files too
                self.backup_dir.rmdir()


def _csv(rows: list[dict[str, str]]) -> str:
    fields = list(dict.fromkeys(k for r in rows for k in r))
    out = io.StringIO()
    writer = csv.DictWriter(out, fields, restval="")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _mtime(path: Path) -> int | None:
    with contextlib.suppress(OSError):
        return path.stat().st_mtime_ns
    return None
