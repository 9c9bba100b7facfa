"""Benchmark: training through modelspec vs the seed's hand-written Keras style.

Both train the antirectifier MLP on the same digits arrays (modelspec's seeded
split of ``specs/antirectifier_digits.yaml``), same epochs, batch size and
optimizer:

* modelspec: ``modelspec.train`` (a tf.data pipeline, the optimizer built
  before fit, run directory, checkpoints, TensorBoard logs...);
* Keras: the model written by hand, ``model.compile(...)`` then
  ``model.fit(x_numpy, y_numpy, validation_data=...)`` as the seed script does.

Each run happens in its own subprocess (fresh TensorFlow state), alternating
the two. Epoch times come from a callback timing ``on_epoch_begin`` to
``on_epoch_end``; the first epoch (tracing) is reported apart from the median
of the others. Extra modelspec settings (``--set`` overrides) can be compared
with ``--variant``.

This prints numbers; it asserts nothing.

Usage:
    python bench/train_vs_keras.py [--epochs 10] [--repeats 2]
        [--variant train.steps_per_execution=8]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "antirectifier_digits.yaml"


def _timer() -> Any:
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.times: list[float] = []

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.times.append(time.perf_counter() - self.start)

    return EpochTimer()


def worker_modelspec(epochs: int, overrides: list[str]) -> dict[str, Any]:
    import modelspec.training as training

    timer = _timer()
    original = training._callbacks

    def with_timer(*args: Any, **kwargs: Any) -> list[Any]:
        return [*original(*args, **kwargs), timer]

    training._callbacks = with_timer  # time exactly the epochs modelspec runs
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = training.train(
            SPEC,
            overrides=[
                f"train.epochs={epochs}",
                "train.callbacks=[]",
                "train.verbose=0",
                *overrides,
            ],
            out_dir=out,
        )
        total = time.perf_counter() - start
    return {"epochs": timer.times, "total": total, "accuracy": result.metrics["accuracy"]}


def worker_keras(epochs: int) -> dict[str, Any]:
    import keras

    from modelspec import load_spec
    from modelspec.data import load_data
    from modelspec.library import Antirectifier

    data = load_data(load_spec(SPEC))  # the same arrays modelspec trains on
    x, y = data.train.x["pixels"], data.train.y[0]
    assert data.validation is not None and data.test is not None
    xv, yv = data.validation.x["pixels"], data.validation.y[0]
    xt, yt = data.test.x["pixels"], data.test.y[0]
    keras.utils.set_random_seed(0)
    start = time.perf_counter()
    inputs = keras.Input((64,))
    h = keras.layers.Dense(256)(inputs)
    h = Antirectifier()(h)
    h = keras.layers.Dropout(0.1)(h)
    h = keras.layers.Dense(256)(h)
    h = Antirectifier()(h)
    h = keras.layers.Dropout(0.1)(h)
    outputs = keras.layers.Dense(10, activation="softmax")(h)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    timer = _timer()
    model.fit(
        x, y, batch_size=128, epochs=epochs, validation_data=(xv, yv), callbacks=[timer], verbose=0
    )
    total = time.perf_counter() - start
    accuracy = model.evaluate(xt, yt, verbose=0, return_dict=True)["accuracy"]
    return {"epochs": timer.times, "total": total, "accuracy": float(accuracy)}


def run_worker(kind: str, epochs: int, overrides: list[str]) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", kind, "--epochs", str(epochs)]
    cmd += [arg for o in overrides for arg in ("--variant", o)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    return {
        "first": statistics.median(r["epochs"][0] for r in runs),
        "epoch": statistics.median(t for r in runs for t in r["epochs"][1:]),
        "total": statistics.median(r["total"] for r in runs),
        "accuracy": statistics.mean(r["accuracy"] for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--variant", action="append", default=[], help="a modelspec --set override to compare"
    )
    parser.add_argument("--quick", action="store_true", help="5 epochs, 1 repeat")
    parser.add_argument("--worker", choices=["modelspec", "keras"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "modelspec":
        print(json.dumps(worker_modelspec(args.epochs, args.variant)))
        return
    if args.worker == "keras":
        print(json.dumps(worker_keras(args.epochs)))
        return
    if args.quick:
        args.epochs, args.repeats = 5, 1

    configs: dict[str, list[str]] = {"modelspec (defaults)": []}
    for variant in args.variant:
        configs[f"modelspec {variant}"] = [variant]
    results: dict[str, list[dict[str, Any]]] = {"keras (seed style)": []}
    results |= {name: [] for name in configs}
    for i in range(args.repeats):
        results["keras (seed style)"].append(run_worker("keras", args.epochs, []))
        for name, overrides in configs.items():
            results[name].append(run_worker("modelspec", args.epochs, overrides))
        print(f"repeat {i + 1}/{args.repeats} done", file=sys.stderr)

    keras_s = summary(results["keras (seed style)"])
    print(f"antirectifier on digits, {args.epochs} epochs, batch 128, {args.repeats} repeats")
    print(f"{'':34s} {'1st epoch':>9s} {'epoch':>8s} {'fit total':>9s} {'test acc':>8s}")
    for name, runs in results.items():
        s = summary(runs)
        print(
            f"{name:34s} {s['first']:8.3f}s {s['epoch'] * 1000:6.1f}ms "
            f"{s['total']:8.2f}s {s['accuracy']:8.4f}"
        )
    print("\nratios modelspec / keras (target: epoch <= 1.0)")
    for name in configs:
        s = summary(results[name])
        ratio = {k: s[k] / keras_s[k] for k in ("epoch", "first", "total")}
        print(
            f"{name:34s} epoch {ratio['epoch']:.2f}  "
            f"first epoch {ratio['first']:.2f}  total {ratio['total']:.2f}"
        )


if __name__ == "__main__":
    main()
