"""A run's history: ``history.csv`` read back, and ``curves.png`` drawn from it.

Example:
    The loss per epoch of a run (not run here: it needs a trained run)::

        read_history("runs/antirectifier_digits-20261123-101500")["loss"]  # [0.61, 0.24, ...]
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from pathlib import Path

from ..files import atomic_path

PathLike = str | os.PathLike[str]


def read_history(run_dir: PathLike) -> dict[str, list[float]]:
    """``history.csv`` of a run as ``{column: [value per epoch]}``."""
    path = Path(run_dir) / "history.csv"
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    keys = [k for k in (rows[0] if rows else {}) if k != "epoch"]
    return {k: [float(r[k]) for r in rows if r.get(k)] for k in keys}


def plot_history(history: Mapping[str, list[float]], target: Path, *, title: str = "") -> None:
    """Plot loss and each metric per epoch, train vs validation, to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [k for k in history if not k.startswith("val_") and k != "learning_rate"]
    names.sort(key=lambda k: k != "loss")  # loss first, then the metrics in order
    if not names:
        return
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        epochs = range(1, len(history[name]) + 1)
        ax.plot(epochs, history[name], marker="o", label="train")
        if f"val_{name}" in history:
            ax.plot(
                range(1, len(history[f"val_{name}"]) + 1),
                history[f"val_{name}"],
                marker="o",
                label="validation",
            )
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
