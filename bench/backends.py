"""Benchmark: the default spec on each Keras backend, as ratios to TensorFlow.

For each backend (tensorflow, jax, torch), in its own subprocess
(``KERAS_BACKEND=...``): ``modelspec.train`` of ``specs/antirectifier_digits.yaml``
(batch 128, no callbacks so every run trains ``--epochs`` epochs), timed with the
callbacks of ``bench/train_vs_keras.py`` (the first epoch, which traces or
compiles, apart from the median of the others), and the test accuracy it
reaches. Then the time of ``import keras`` on each backend (which imports the
backend), the median of fresh interpreters. The backends run in turn, the order
reversed every other repeat; every figure is printed beside its ratio to
TensorFlow's, measured in the same run.

This prints numbers; it asserts nothing.

Usage:
    python bench/backends.py [--epochs 30] [--repeats 2] [--imports 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "antirectifier_digits.yaml"
BACKENDS = ("tensorflow", "jax", "torch")


def worker(epochs: int) -> dict[str, Any]:
    """One run of modelspec.train, timed as bench/train_vs_keras.py times it."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import keras
    from train_vs_keras import worker_modelspec

    return worker_modelspec(epochs, ["export=null"]) | {"backend": keras.backend.backend()}


def run(backend: str, args: list[str]) -> dict[str, Any]:
    env = os.environ | {"KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT)}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    done = subprocess.run(
        [sys.executable, __file__, *args], env=env, capture_output=True, text=True, cwd=ROOT
    )
    if done.returncode != 0:
        raise SystemExit(f"{backend} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def import_time(backend: str) -> float:
    code = "import time; t = time.perf_counter(); import keras; print(time.perf_counter() - t)"
    env = os.environ | {"KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip().splitlines()[-1])


def ratio(value: float, base: float) -> str:
    return f"{value / base:5.2f}x" if base else "  n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--imports", type=int, default=5)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.epochs)))
        return

    runs: dict[str, list[dict[str, Any]]] = {b: [] for b in BACKENDS}
    imports: dict[str, list[float]] = {b: [] for b in BACKENDS}
    for repeat in range(args.repeats):
        order = BACKENDS if repeat % 2 == 0 else BACKENDS[::-1]
        for backend in order:
            runs[backend].append(run(backend, ["--worker", "--epochs", str(args.epochs)]))
    for repeat in range(args.imports):
        for backend in BACKENDS if repeat % 2 == 0 else BACKENDS[::-1]:
            imports[backend].append(import_time(backend))

    def median(backend: str, key: str) -> float:
        if key == "epoch":
            return statistics.median(t for r in runs[backend] for t in r["epochs"][1:])
        if key == "first":
            return statistics.median(r["epochs"][0] for r in runs[backend])
        if key == "import":
            return statistics.median(imports[backend])
        return statistics.median(r[key] for r in runs[backend])

    print(
        f"{SPEC.name}, {args.epochs} epochs, {args.repeats} runs per backend, "
        f"{os.cpu_count()} cores; ratio = backend / tensorflow, in this run"
    )
    head = ("backend", "epoch", "first epoch", "train()", "import keras", "test accuracy")
    print(
        f"{head[0]:11s} {head[1]:>16s} {head[2]:>16s} {head[3]:>16s} {head[4]:>16s} {head[5]:>14s}"
    )
    for backend in BACKENDS:
        cells = []
        for key in ("epoch", "first", "train", "import"):
            value, base = median(backend, key), median("tensorflow", key)
            cells.append(f"{value * 1000:7.0f}ms {ratio(value, base)}")
        accuracy = statistics.median(r["accuracy"] for r in runs[backend])
        print(f"{backend:11s} {' '.join(f'{c:>16s}' for c in cells)} {accuracy:14.4f}")


if __name__ == "__main__":
    main()
