"""Benchmark: the seed's claim, Antirectifier MLP vs a ReLU MLP with 2x wider dense layers.

The Keras "antirectifier" example claims the Antirectifier network matches a
ReLU network with twice as many units per dense layer while having about half
the parameters. This trains ``specs/antirectifier_digits.yaml`` and
``specs/relu_baseline_digits.yaml`` on scikit-learn's digits (offline) with the
same settings (same split, epochs, batch size, optimizer; no early stopping),
over several training seeds, and prints parameters and test accuracy.

This prints numbers; it asserts nothing.

Usage:
    python bench/antirectifier_vs_relu.py [--seeds 3] [--epochs 30] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
SPECS = {
    "antirectifier": ROOT / "specs" / "antirectifier_digits.yaml",
    "relu (2x wider)": ROOT / "specs" / "relu_baseline_digits.yaml",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per spec")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="2 seeds, 5 epochs")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.epochs = 2, 5

    from modelspec import train

    params: dict[str, int] = {}
    accuracy: dict[str, list[float]] = {name: [] for name in SPECS}
    with tempfile.TemporaryDirectory() as out:
        for seed in range(args.seeds):
            for name, spec in SPECS.items():
                result = train(
                    spec,
                    overrides=[
                        f"train.seed={seed}",  # initialisation, dropout, shuffling
                        "train.data.split.seed=0",  # the same test set for every run
                        f"train.epochs={args.epochs}",
                        "train.batch_size=128",
                        "train.callbacks=[]",
                        "train.verbose=0",
                    ],
                    out_dir=out,
                )
                params[name] = result.model.count_params()
                accuracy[name].append(result.metrics["accuracy"])
                print(f"seed {seed}  {name:16s} test accuracy {result.metrics['accuracy']:.4f}")

    print(f"\ndigits, {args.epochs} epochs, {args.seeds} seeds, same split (test 20%)")
    print(f"{'spec':16s} {'parameters':>10s}  test accuracy (mean ± std)")
    for name in SPECS:
        values = accuracy[name]
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"{name:16s} {params[name]:>10,d}  {statistics.mean(values):.4f} ± {std:.4f}")
    anti, relu = SPECS
    print(f"\nparameters antirectifier / relu: {params[anti] / params[relu]:.3f}")
    diff = statistics.mean(accuracy[anti]) - statistics.mean(accuracy[relu])
    print(f"accuracy antirectifier - relu:   {diff:+.4f}")


if __name__ == "__main__":
    main()
