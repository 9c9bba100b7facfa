"""Staging and publishing: an artifact is written next to its target, then renamed onto it.

A failed check or an interrupted export leaves nothing new at the target. A
single file replaces the old one in one rename. A directory (a SavedModel) or
a set of files (OpenVINO's ``.xml`` and ``.bin``) cannot be swapped in one
rename, so publishing keeps a journal in the staging folder: the list of items
(``publish.json``), the old artifact moved into ``old/``, then the new items
renamed in. Whoever finds the staging folder of an export that was killed (or
its own, after an interrupt) settles it: while new items are still staged, the
publication did not finish and the old artifact is put back; once none are, the
old one is discarded. So at every instant the old or the new artifact is
complete at the target, or the next export to that target makes it so.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> out = Path(tempfile.mkdtemp())
    >>> with staging(out / "m.onnx") as stage:
    ...     _ = (stage / "m.onnx").write_bytes(b"...")
    ...     published = publish([stage / "m.onnx"], out, stage)
    >>> [p.name for p in published], sorted(p.name for p in out.iterdir())
    (['m.onnx'], ['m.onnx'])
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from ..files import process_alive, remove, write_text

SUFFIX = ".export-tmp"
MANIFEST = "publish.json"
OLD = "old"


def stage_for(target: Path, pid: int) -> Path:
    """The staging folder of process ``pid`` for ``target``."""
    return target.parent / f".{target.name}.{pid}{SUFFIX}"


@contextlib.contextmanager
def staging(target: Path) -> Iterator[Path]:
    """A fresh directory next to ``target`` to export into; settled and removed afterwards.

    Staging folders that exports killed earlier left for the same target are
    settled first (see the module's docstring).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    recover(target)
    stage = stage_for(target, os.getpid())
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        yield stage
    finally:
        settle(stage, target.parent)


def publish(staged: list[Path], target_dir: Path, stage: Path) -> list[Path]:
    """Rename the staged items onto their targets (an OpenVINO ``.bin`` before its
    ``.xml``), through the journal when more than one rename is needed."""
    finals = [target_dir / item.name for item in staged]
    if len(staged) == 1 and not staged[0].is_dir():
        os.replace(staged[0], finals[0])  # one atomic rename
        return finals
    write_text(stage / MANIFEST, json.dumps([item.name for item in staged]))
    old = stage / OLD
    old.mkdir(exist_ok=True)
    for final in finals:
        if final.exists() or final.is_symlink():
            os.replace(final, old / final.name)
    for item, final in zip(staged, finals, strict=True):
        os.replace(item, final)
    return finals


def settle(stage: Path, target_dir: Path) -> None:
    """Finish or undo what a staging folder's journal says, then remove the folder."""
    manifest = stage / MANIFEST
    old = stage / OLD
    if manifest.is_file():
        names = json.loads(manifest.read_text(encoding="utf-8"))
        if any((stage / name).exists() for name in names):  # not all published: undo
            for name in names:
                final = target_dir / name
                if (old / name).exists():
                    remove(final)
                    os.replace(old / name, final)
                elif not (stage / name).exists():  # published, with nothing to restore
                    remove(final)
    shutil.rmtree(stage, ignore_errors=True)


def recover(target: Path) -> None:
    """Settle the staging folders that exports to ``target`` left when they were killed."""
    pattern = f".{glob.escape(target.name)}.*{SUFFIX}"
    for stage in target.parent.glob(pattern):
        pid = stage.name[len(target.name) + 2 : -len(SUFFIX)]
        if pid.isdigit() and int(pid) != os.getpid() and process_alive(int(pid)):
            continue  # another export of the same target is running
        settle(stage, target.parent)
