"""Benchmark: what a study finds on digits, against the hand-tuned default spec.

1. ``modelspec.train`` of ``specs/antirectifier_digits.yaml`` (the hand-tuned
   default: 256 units, dropout 0.1, RMSprop at 1e-3; no export): its test
   accuracy and wall time.
2. ``modelspec.tune`` of ``specs/antirectifier_tune.yaml`` (the same model with
   units, dropout and learning rate as search spaces; TPE sampler, median pruner,
   ``val_loss``) for ``--trials`` trials in a fresh study: wall time, and the test
   accuracy of the best trial's run (chosen by validation loss, never by test).
3. ``modelspec.train`` of the study's ``best.yaml``: test accuracy.

Both runs share the data split and seed. Figures are printed with their ratios
(tuned / default) measured in this one run. This prints numbers; it asserts nothing.

Usage:
    python bench/tune_digits.py [--trials 20] [--study DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--study", help="study folder (default: a temporary one)")
    args = parser.parse_args()

    from modelspec import train, tune

    with tempfile.TemporaryDirectory(prefix="tune-bench-") as scratch:
        out = Path(scratch)
        started = time.perf_counter()
        default = train(
            ROOT / "specs" / "antirectifier_digits.yaml",
            overrides=["export=null"],
            out_dir=out / "runs",
            verbose=0,
        )
        default_s = time.perf_counter() - started
        study = Path(args.study) if args.study else out / "study"
        started = time.perf_counter()
        result = tune(
            ROOT / "specs" / "antirectifier_tune.yaml",
            trials=args.trials,
            study_dir=study,
            echo=lambda line: print(f"  {line}", flush=True),
        )
        tune_s = time.perf_counter() - started
        assert result.best is not None and result.best.run_dir is not None
        trial_metrics = json.loads((study / result.best.run_dir / "metrics.json").read_text())
        assert result.best_spec is not None
        retrained = train(result.best_spec, out_dir=out / "runs", verbose=0)

    states: dict[str, int] = {}
    for row in result.trials:
        states[row.state] = states.get(row.state, 0) + 1
    base = default.metrics["accuracy"]
    print()
    print(f"trials: {len(result.trials)} ({', '.join(f'{n} {s}' for s, n in states.items())})")
    print(f"best trial {result.best.number}: {result.best_params}")
    print(f"default spec test accuracy     {base:.4f}  (1.000x)")
    best = trial_metrics["accuracy"]
    print(f"best trial's test accuracy     {best:.4f}  ({best / base:.3f}x)")
    again = retrained.metrics["accuracy"]
    print(f"best.yaml retrained, accuracy  {again:.4f}  ({again / base:.3f}x)")
    print(f"default spec train wall time   {default_s:7.1f} s  (1.0x)")
    print(f"{args.trials}-trial tune wall time     {tune_s:7.1f} s  ({tune_s / default_s:.1f}x)")


if __name__ == "__main__":
    main()
