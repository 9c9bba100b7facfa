"""Training throughput of one JAX process against ``--workers N`` on this machine.

Trains the antirectifier spec on digits with ``train.distribute: data_parallel``
on the JAX backend, once in one process and once with ``modelspec train
--workers N`` (Gloo collectives over 127.0.0.1), and prints samples/s of each
(from Keras's per-step time of the epochs after the first, which compiles), the
ratio, and each run's test accuracy. It asserts nothing.

On a CPU box the processes share the same cores, and every step all-reduces the
gradients over TCP: expect a ratio below 1 for a model this small. The point of
several processes is several hosts (or accelerators), each bringing its own.

Usage::

    python bench/distributed.py [--epochs 8] [--workers 2] [--batch-size 128]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "antirectifier_digits.yaml"
STEP = re.compile(r"^\s*\d+/\d+ - \S+ - (\d+(?:\.\d+)?)(ms|s|us)/step")


def run(workers: int, epochs: int, batch: int, out: Path) -> tuple[float, float, float]:
    """(samples/s, test accuracy, wall seconds) of one training run."""
    cmd = [
        sys.executable,
        "-m",
        "modelspec",
        "train",
        str(SPEC),
        *("--set", f"train.epochs={epochs}", "--set", f"train.batch_size={batch}"),
        *("--set", "export=null", "--set", "train.callbacks=[]", "--set", "train.verbose=2"),
        *("--set", "train.distribute=data_parallel", "--out", str(out)),
    ]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    scale = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
    steps = [
        float(m[1]) * scale[m[2]]
        for m in map(STEP.match, done.stdout.splitlines())
        if m is not None
    ]
    per_step = statistics.median(steps[1:] or steps)  # the first epoch compiles
    (run_dir,) = out.iterdir()
    accuracy = json.loads((run_dir / "metrics.json").read_text())["accuracy"]
    return batch / per_step, accuracy, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one = run(1, args.epochs, args.batch_size, Path(tmp) / "one")
        many = run(args.workers, args.epochs, args.batch_size, Path(tmp) / "many")
    print(f"cores: {os.cpu_count()}, epochs: {args.epochs}, global batch: {args.batch_size}")
    for name, (rate, accuracy, wall) in (("1 process", one), (f"{args.workers} processes", many)):
        print(f"{name:>12}: {rate:9.0f} samples/s, test accuracy {accuracy:.4f}, wall {wall:.0f} s")
    print(f"ratio ({args.workers} / 1): {many[0] / one[0]:.2f}")
    print(f"accuracy difference: {abs(many[1] - one[1]):.4f}")


if __name__ == "__main__":
    main()
