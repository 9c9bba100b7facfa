"""Run directories: where ``modelspec train`` puts a run, and how a run is read back.

A run directory (``runs/<name>-<timestamp>/``) holds ``spec.yaml`` (the resolved
spec), ``run.json`` (where the spec came from, overrides, status),
``model.keras``, ``best.keras``, ``history.csv``, ``metrics.json``,
``curves.png``, TensorBoard ``logs/``, ``backup/`` (for ``--resume``) and
``export/``. Training writes it; evaluate, predict, export and resume read it.

Example:
    The spec and the final model of a run (not run here: it needs a trained run)::

        spec = run_spec("runs/antirectifier_digits-20261123-101500")
        model_file(Path("runs/antirectifier_digits-20261123-101500"))  # .../model.keras
"""

from __future__ import annotations

import datetime
import itertools
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import RunError
from .files import atomic_path
from .spec.loader import load_document
from .spec.schema import ModelSpec
from .spec.validate import load_spec

if TYPE_CHECKING:
    import keras

PathLike = str | os.PathLike[str]


def new_run_dir(out_dir: Path, name: str) -> Path:
    """Make ``out_dir/<name>-<timestamp>`` (``-2``, ``-3``... if it exists).

    Each name is claimed by ``mkdir`` itself, so runs started at the same
    instant (in parallel processes) each get their own directory.
    """
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir.mkdir(parents=True, exist_ok=True)
    for n in itertools.count(1):
        run_dir = out_dir / (f"{name}-{stamp}" if n == 1 else f"{name}-{stamp}-{n}")
        try:
            run_dir.mkdir()
        except FileExistsError:
            continue
        return run_dir
    raise AssertionError("unreachable")  # pragma: no cover


def read_run(run_dir: Path) -> dict[str, Any]:
    """A run's ``run.json``.

    Raises:
        RunError: ``run_dir`` is not a run directory.
    """
    meta_path = run_dir / "run.json"
    if not meta_path.is_file() or not (run_dir / "spec.yaml").is_file():
        raise RunError(
            f"expected a run directory made by `modelspec train` (with run.json and spec.yaml). "
            f"Received: {run_dir}"
        )
    meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
    return meta


def run_spec(
    run_dir: PathLike, *, plugins: Iterable[str] = (), allow_imports: bool = False
) -> ModelSpec:
    """The resolved spec a run was trained from (data paths still resolve
    against the original spec's folder)."""
    run_dir = Path(run_dir)
    meta = read_run(run_dir)
    doc = load_document(run_dir / "spec.yaml")
    doc.base_dir = Path(meta["base_dir"])
    return load_spec(doc, plugins=plugins, allow_imports=allow_imports)


def model_file(run_dir: Path, best: bool = False) -> Path:
    """The run's ``model.keras`` (``best.keras`` with ``best``).

    Raises:
        RunError: The run did not get that far.
    """
    path = run_dir / ("best.keras" if best else "model.keras")
    if not path.is_file():
        raise RunError(
            f"expected {path.name} in the run directory {run_dir} (the run did not "
            "finish: resume it with `modelspec train --resume`)"
        )
    return path


def save_model(
    model: keras.Model, target: Path, *, spec_text: str | None = None, source: str = ""
) -> None:
    """``model.save`` to ``target`` atomically, stamped with its provenance (the spec's
    text and where it came from) so ``read_provenance`` reads it like an export's."""
    from .provenance import provenance, stamp_keras

    with atomic_path(target) as tmp:
        model.save(tmp)
        stamp_keras(tmp, provenance(spec_text, source or str(target), "keras"))
