"""Staging and publishing: an artifact is written next to its target, then renamed onto it.

A failed check or an interrupted export leaves nothing at the target; a
SavedModel directory being replaced is moved aside whole.

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
import os
import shutil
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def staging(target: Path) -> Iterator[Path]:
    """A fresh directory next to ``target`` to export into; removed afterwards."""
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = target.parent / f".{target.name}.{os.getpid()}.export-tmp"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def publish(staged: list[Path], target_dir: Path, stage: Path) -> list[Path]:
    """Rename the staged files onto their targets (an OpenVINO ``.bin`` before its
    ``.xml``); a directory being replaced is first moved aside into the stage."""
    placed = []
    for item in staged:
        final = target_dir / item.name
        if item.is_dir() and final.exists():
            os.replace(final, stage / f"{item.name}.old")
        os.replace(item, final)
        placed.append(final)
    return placed
