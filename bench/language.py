"""Benchmark: the spec language at scale (issue #11's performance targets).

Part 1 times ``load_spec`` (read the YAML, expand vars and ``${...}``, unroll the
repeat, validate) of a spec whose one ``repeat:`` unrolls to N layers, and of a
spec whose residual block is repeated N/2 times (N layers inside block bodies).
Target: < 1 s at N = 10,000.

Part 2 times ``build_model`` of the repeat spec against the same chain written
by hand with the functional API, and of the block spec against the same
nested models written by hand; runs interleaved, ``keras.backend.clear_session()``
before each, medians and their ratio. Target: spec / hand <= 1.15.

This prints numbers; it asserts nothing about timing.

Usage:
    python bench/language.py            # N=10000 for validation, 1000 for building, 3 repeats
    python bench/language.py --quick    # N=2000 / 200, 1 repeat
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

WIDTH = 16


def repeat_spec(n: int) -> str:
    return f"""\
modelspec: 1
name: chain
vars: {{width: {WIDTH}, n: {n}}}
inputs: [{{name: x, shape: ["${{width}}"]}}]
layers:
  - {{name: d, type: Dense, units: "${{width}}", repeat: "${{n}}"}}
outputs: [d]
"""


def block_spec(n: int) -> str:
    return f"""\
modelspec: 1
name: residual
vars: {{width: {WIDTH}}}
inputs: [{{name: x, shape: ["${{width}}"]}}]
blocks:
  residual:
    params: {{units: 16}}
    inputs: [v]
    layers:
      - {{name: dense, type: Dense, units: "${{units}}", activation: relu}}
      - {{name: out, type: Add, inputs: [v, dense]}}
    outputs: [out]
layers:
  - {{name: res, block: residual, repeat: {n // 2}, units: "${{width}}"}}
outputs: [res]
"""


def hand_chain(n: int) -> Any:
    import keras

    x = inp = keras.Input((WIDTH,), name="x")
    for k in range(n):
        x = keras.layers.Dense(WIDTH, name=f"d_{k}")(x)
    return keras.Model(inp, x, name="chain")


def hand_blocks(n: int) -> Any:
    import keras

    x = inp = keras.Input((WIDTH,), name="x")
    for k in range(n // 2):
        v = keras.Input((WIDTH,), name="v")
        dense = keras.layers.Dense(WIDTH, activation="relu", name="dense")(v)
        block = keras.Model(v, keras.layers.Add(name="out")([v, dense]), name=f"res_{k}")
        x = block(x)
    return keras.Model(inp, x, name="residual")


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n_validate, n_build, repeats = (2_000, 200, 1) if args.quick else (10_000, 1_000, 3)

    from modelspec import load_spec

    print(f"Part 1: load_spec (read, expand, validate) at N={n_validate:,} layers")
    for label, text in (("repeat", repeat_spec(n_validate)), ("blocks", block_spec(n_validate))):
        times = [timed(lambda text=text: load_spec(text)) for _ in range(repeats)]
        best = min(times)
        verdict = "ok" if best < 1.0 else "over the 1 s target"
        print(f"  {label:7s} {best:6.3f} s  ({verdict})")

    import keras

    from modelspec import build_model
    from modelspec.build import deep_graph

    print(f"Part 2: build_model vs the functional code by hand at N={n_build:,} layers")
    for label, text, hand in (
        ("repeat", repeat_spec(n_build), hand_chain),
        ("blocks", block_spec(n_build), hand_blocks),
    ):
        spec = load_spec(text)
        spec_times, hand_times = [], []
        for r in range(repeats):
            order = ("spec", "hand") if r % 2 == 0 else ("hand", "spec")
            for side in order:
                keras.backend.clear_session()
                if side == "spec":
                    spec_times.append(timed(lambda spec=spec: build_model(spec)))
                else:
                    with deep_graph(n_build):
                        hand_times.append(timed(lambda hand=hand: hand(n_build)))
        s, h = statistics.median(spec_times), statistics.median(hand_times)
        print(f"  {label:7s} spec {s:6.2f} s  hand {h:6.2f} s  ratio {s / h:.2f} (target <= 1.15)")


if __name__ == "__main__":
    main()
