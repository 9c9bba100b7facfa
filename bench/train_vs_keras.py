"""Benchmark: training through modelspec vs the seed's hand-written Keras style.

Both train the antirectifier MLP on the same digits arrays (modelspec's seeded
split of ``specs/antirectifier_digits.yaml``, reproduced with
``modelspec.data.load_data``), same epochs, batch size (128) and optimizer
(RMSprop, learning rate 1e-3), no early stopping:

* modelspec: ``modelspec.train`` (a tf.data pipeline, run directory,
  checkpoints, TensorBoard logs, history CSV, the per-epoch commit for resume...);
* Keras: the model written by hand (``Dense(256)`` -> ``Antirectifier`` ->
  ``Dropout(0.1)``, twice, then ``Dense(10, softmax)``), ``model.compile(...)``
  then ``model.fit(x_numpy, y_numpy, batch_size=128, validation_data=...)`` as
  the seed script does.

Each run happens in its own subprocess (fresh TensorFlow state, so neither
warms the other), the order of the configurations reversed every other
repeat. Epoch times come from two callbacks, one first and one last in the
list, stamping ``on_epoch_begin`` and ``on_epoch_end`` (so modelspec's own
callbacks, validation included, are inside the epoch). The first epoch
(tracing) is reported apart from the median of the others; "fit" is the wall
time of ``model.fit``, "train()" the whole ``modelspec.train`` call (building,
data, fit, test evaluation, saving, plot).

Then a sweep over modelspec settings, as ``--set`` overrides:
``train.steps_per_execution`` in {1, 4, 16, 32} x ``train.jit_compile`` in
{true, false} (``auto``, the default, is false on a CPU-only machine), to find
defaults that beat the seed style. ``--variant OVERRIDE`` adds configurations.

This prints numbers; it asserts nothing.

Usage:
    python bench/train_vs_keras.py [--epochs 10] [--repeats 2] [--no-sweep]
        [--variant "train.steps_per_execution=10;train.jit_compile=false"] [--quick]
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
from collections import defaultdict
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "antirectifier_digits.yaml"
BATCH_SIZE = 128
KERAS = "keras (seed style)"
DEFAULTS = "modelspec (defaults)"
W = 36  # width of the configuration column
SWEEP_SPE = (1, 4, 16, 32)
SWEEP_JIT = ("true", "false")


# -- workers (each in its own process) -------------------------------------------------
class _Clock:
    """Epoch times: ``begin`` goes first in the callback list, ``end`` last."""

    def __init__(self) -> None:
        import keras

        clock = self
        self.epochs: list[float] = []
        self.start = 0.0

        class Begin(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
                clock.start = time.perf_counter()

        class End(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                clock.epochs.append(time.perf_counter() - clock.start)

        self.begin, self.end = Begin(), End()


def _time_callbacks(callbacks: list[Any], spent: dict[str, float]) -> None:
    """Add the time each callback spends in its epoch/train hooks to ``spent``."""
    hooks = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end")
    for callback in callbacks:
        name = type(callback).__name__
        for hook in hooks:
            original = getattr(callback, hook)

            def timed(*args: Any, _original: Any = original, _name: str = name) -> Any:
                start = time.perf_counter()
                try:
                    return _original(*args)
                finally:
                    spent[_name] += time.perf_counter() - start

            setattr(callback, hook, timed)


def _instrument_fit(clock: _Clock, record: dict[str, Any], per_callback: bool) -> None:
    """Wrap ``keras.Model.fit``: the clock's callbacks around the caller's, and
    the wall time, the resolved compile settings and (optionally) the time each
    callback takes."""
    import keras

    original = keras.Model.fit
    spent: dict[str, float] = defaultdict(float)

    def fit(self: Any, *args: Any, callbacks: Any = None, **kwargs: Any) -> Any:
        callbacks = list(callbacks or [])
        if per_callback:
            _time_callbacks(callbacks, spent)
        start = time.perf_counter()
        try:
            return original(self, *args, callbacks=[clock.begin, *callbacks, clock.end], **kwargs)
        finally:
            record["fit"] = time.perf_counter() - start
            record["jit_compile"] = self.jit_compile
            record["steps_per_execution"] = self.steps_per_execution
            record["callbacks"] = dict(spent)

    keras.Model.fit = fit  # type: ignore[method-assign]


def worker_modelspec(epochs: int, overrides: list[str]) -> dict[str, Any]:
    from modelspec import train

    clock, record = _Clock(), {}
    _instrument_fit(clock, record, per_callback=True)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = train(
            SPEC,
            overrides=[
                f"train.epochs={epochs}",
                f"train.batch_size={BATCH_SIZE}",
                "train.callbacks=[]",
                "train.verbose=0",
                *overrides,
            ],
            out_dir=out,
        )
        record["train"] = time.perf_counter() - start
    return record | {"epochs": clock.epochs, "accuracy": result.metrics["accuracy"]}


def worker_keras(epochs: int) -> dict[str, Any]:
    import keras

    from modelspec import load_spec
    from modelspec.data import load_data
    from modelspec.layers import Antirectifier

    data = load_data(load_spec(SPEC))  # the very arrays modelspec trains on
    assert data.validation is not None and data.test is not None
    x, y = data.train.x["pixels"], data.train.y[0]
    xv, yv = data.validation.x["pixels"], data.validation.y[0]
    xt, yt = data.test.x["pixels"], data.test.y[0]

    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(64,))
    h = keras.layers.Dense(256)(inputs)
    h = Antirectifier()(h)
    h = keras.layers.Dropout(0.1)(h)
    h = keras.layers.Dense(256)(h)
    h = Antirectifier()(h)
    h = keras.layers.Dropout(0.1)(h)
    outputs = keras.layers.Dense(10, activation="softmax")(h)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    clock, record = _Clock(), {}
    _instrument_fit(clock, record, per_callback=False)
    model.fit(x, y, batch_size=BATCH_SIZE, epochs=epochs, validation_data=(xv, yv), verbose=0)
    accuracy = model.evaluate(xt, yt, batch_size=BATCH_SIZE, verbose=0, return_dict=True)
    return record | {"epochs": clock.epochs, "accuracy": float(accuracy["accuracy"])}


# -- the driver ------------------------------------------------------------------------
def run_worker(kind: str, epochs: int, overrides: list[str]) -> dict[str, Any] | None:
    cmd = [sys.executable, __file__, "--worker", kind, "--epochs", str(epochs)]
    cmd += [arg for o in overrides for arg in ("--variant", o)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        print(f"FAILED: {' '.join(cmd)}\n{out.stderr[-4000:]}", file=sys.stderr)
        return None
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "first": statistics.median(r["epochs"][0] for r in runs),
        "epoch": statistics.median(t for r in runs for t in r["epochs"][1:]),
        "fit": statistics.median(r["fit"] for r in runs),
        "train": statistics.median(r["train"] for r in runs) if "train" in runs[0] else None,
        "accuracy": statistics.mean(r["accuracy"] for r in runs),
        "jit": runs[0]["jit_compile"],
        "spe": runs[0]["steps_per_execution"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="modelspec --set overrides to compare, several separated by ';'",
    )
    parser.add_argument(
        "--no-sweep", action="store_true", help="skip the steps_per_execution x jit_compile sweep"
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
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first epoch is reported apart)")

    configs: dict[str, tuple[str, list[str]]] = {KERAS: ("keras", []), DEFAULTS: ("modelspec", [])}
    if not args.no_sweep:
        for spe in SWEEP_SPE:
            for jit in SWEEP_JIT:
                overrides = [f"train.steps_per_execution={spe}", f"train.jit_compile={jit}"]
                configs[f"modelspec spe={spe} jit={jit}"] = ("modelspec", overrides)
    for variant in args.variant:  # "a=1;b=2": several overrides in one configuration
        overrides = [v.strip() for v in variant.split(";")]
        label = " ".join(o.removeprefix("train.") for o in overrides)
        for long, short in (("steps_per_execution", "spe"), ("jit_compile", "jit")):
            label = label.replace(long, short)
        configs[f"modelspec {label}"] = ("modelspec", overrides)

    results: dict[str, list[dict[str, Any]]] = {name: [] for name in configs}
    for i in range(args.repeats):
        order = list(configs) if i % 2 == 0 else list(reversed(configs))
        for name in order:
            kind, overrides = configs[name]
            result = run_worker(kind, args.epochs, overrides)
            if result is not None:
                results[name].append(result)
        print(f"repeat {i + 1}/{args.repeats} done", file=sys.stderr)

    stats = {name: summary(runs) for name, runs in results.items() if runs}
    failed = [name for name, runs in results.items() if not runs]
    print(
        f"antirectifier on digits, {args.epochs} epochs, batch {BATCH_SIZE}, "
        f"{args.repeats} repeats, {os.cpu_count()} CPUs"
    )
    print(
        f"{'':{W}s} {'jit':>5s} {'spe':>3s} {'1st epoch':>9s} {'epoch':>8s} "
        f"{'fit':>7s} {'train()':>7s} {'test acc':>8s}"
    )
    for name, s in stats.items():
        train_s = f"{s['train']:6.2f}s" if s["train"] is not None else f"{'-':>7s}"
        print(
            f"{name:{W}s} {s['jit']!s:>5s} {s['spe']:>3d} {s['first']:8.3f}s "
            f"{s['epoch'] * 1000:6.1f}ms {s['fit']:6.2f}s {train_s} {s['accuracy']:8.4f}"
        )
    for name in failed:
        print(f"{name:{W}s} FAILED (see stderr)")

    if KERAS not in stats:
        return
    keras_s = stats[KERAS]
    print("\nratios modelspec / keras (target: epoch <= 1.0)")
    ratios = {}
    for name, s in stats.items():
        if name != KERAS:
            ratios[name] = {k: s[k] / keras_s[k] for k in ("epoch", "first", "fit")}
            r = ratios[name]
            print(
                f"{name:{W}s} epoch {r['epoch']:.2f}  first epoch {r['first']:.2f}  "
                f"fit {r['fit']:.2f}"
            )
    if ratios:
        for key, label in (("epoch", "median epoch"), ("fit", "fit total")):
            best = min(ratios, key=lambda n, k=key: ratios[n][k])
            print(f"fastest by {label}: {best} ({key} ratio {ratios[best][key]:.2f})")

    if results.get(DEFAULTS):
        print(f"\n{DEFAULTS}: time in modelspec's callbacks per fit (median over runs)")
        names = results[DEFAULTS][0]["callbacks"]
        for callback in names:
            spent = statistics.median(r["callbacks"][callback] for r in results[DEFAULTS])
            per_epoch = spent / args.epochs * 1000
            print(f"  {callback:28s} {spent * 1000:8.1f}ms  ({per_epoch:.1f}ms/epoch)")


if __name__ == "__main__":
    main()
