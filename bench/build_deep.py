"""Benchmark: building deep specs with modelspec versus writing them by hand in Keras.

Two model shapes, each ``N`` layers deep:

* ``chain``: ``Input(shape=[16])`` then ``N`` ``Dense(16)`` layers, each taking the previous;
* ``residual``: blocks of ``Dense(16, relu)`` followed by ``Add([block_input, dense_out])``,
  each Dense and each Add counting as one layer (``N`` layers in all).

Part 1 times ``build_model(spec_dict)`` against the same model written by hand with the
functional API (``keras.Input``, layers called in a loop, ``keras.Model(inp, out)``), runs
interleaved (the order alternating between repeats), ``keras.backend.clear_session()``
before every build, and prints the median of each and their ratio.
Target: spec / hand <= 1.15 for both shapes at N=1000.

Part 2 times ``build_model`` of the chain at N=1000 and N=10000 and prints their ratio.
Target: linear growth, i.e. about 10.  For reference it times the hand-written chain at
both sizes too (how Keras alone grows; ``--no-growth-hand`` skips it), and it times
``validate_spec(spec_dict)`` alone at 10000 layers, to show that validation is not the
bottleneck.

Keras walks a functional graph recursively (one Python frame per layer and more), so both
sides raise the recursion limit around ``keras.Model(...)`` with
``modelspec.build.deep_graph(n)``, the context manager ``build_model`` uses itself.

This prints numbers; it asserts nothing about timing.

Usage:
    python bench/build_deep.py                 # N=1000 (3 repeats), growth to 10000
    python bench/build_deep.py --quick         # N=200 / 2000, 1 repeat: a smoke run
    python bench/build_deep.py --profile       # also cProfile one spec build of each shape
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras

from modelspec import build_model, validate_spec
from modelspec.build import deep_graph

TARGET_RATIO = 1.15
WIDTH = 16
SHAPES = ("chain", "residual")


# -- the two model shapes, as a spec dict and by hand ------------------------------------
def chain_spec(n: int) -> dict[str, Any]:
    layers = [{"name": f"d{i}", "type": "Dense", "units": WIDTH} for i in range(n)]
    return {
        "modelspec": 1,
        "name": f"chain_{n}",
        "inputs": [{"name": "x", "shape": [WIDTH]}],
        "layers": layers,
        "outputs": [f"d{n - 1}"],
    }


def chain_hand(n: int) -> keras.Model:
    inp = keras.Input(shape=(WIDTH,), name="x")
    x = inp
    for i in range(n):
        x = keras.layers.Dense(WIDTH, name=f"d{i}")(x)
    with deep_graph(n):
        return keras.Model(inp, x, name=f"chain_{n}")


def residual_spec(n: int) -> dict[str, Any]:
    layers: list[dict[str, Any]] = []
    block_input = "x"
    i = 0
    while len(layers) < n:
        dense = f"d{i}"
        layers.append({"name": dense, "type": "Dense", "units": WIDTH, "activation": "relu"})
        if len(layers) < n:
            add = f"a{i}"
            layers.append({"name": add, "type": "Add", "inputs": [block_input, dense]})
            block_input = add
        i += 1
    return {
        "modelspec": 1,
        "name": f"residual_{n}",
        "inputs": [{"name": "x", "shape": [WIDTH]}],
        "layers": layers,
        "outputs": [layers[-1]["name"]],
    }


def residual_hand(n: int) -> keras.Model:
    inp = keras.Input(shape=(WIDTH,), name="x")
    block_input = out = inp
    count = 0
    i = 0
    while count < n:
        out = keras.layers.Dense(WIDTH, activation="relu", name=f"d{i}")(block_input)
        count += 1
        if count < n:
            out = keras.layers.Add(name=f"a{i}")([block_input, out])
            block_input = out
            count += 1
        i += 1
    with deep_graph(n):
        return keras.Model(inp, out, name=f"residual_{n}")


SPECS: dict[str, Callable[[int], dict[str, Any]]] = {
    "chain": chain_spec,
    "residual": residual_spec,
}
HANDS: dict[str, Callable[[int], keras.Model]] = {"chain": chain_hand, "residual": residual_hand}


# -- timing --------------------------------------------------------------------------------
def fresh() -> None:
    """Forget the previous model (not timed)."""
    keras.backend.clear_session()
    gc.collect()


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    fresh()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def describe(model: keras.Model) -> tuple[int, int]:
    return len(model.layers), model.count_params()


def compare(shape: str, n: int, repeats: int) -> float:
    """Interleaved hand / spec builds of one shape; returns median(spec) / median(hand)."""
    spec = SPECS[shape](n)
    hand_times: list[float] = []
    spec_times: list[float] = []
    print(f"\n[{shape}] N={n} layers, {repeats} repeat(s) each, interleaved")
    for r in range(repeats):
        order = ("hand", "spec") if r % 2 == 0 else ("spec", "hand")
        row = {}
        for side in order:
            if side == "hand":
                t, model = timed(lambda: HANDS[shape](n))
                hand_times.append(t)
            else:
                t, model = timed(lambda: build_model(spec))
                spec_times.append(t)
            row[side] = (t, describe(model))
            del model
        (th, dh), (ts, ds) = row["hand"], row["spec"]
        same = "same" if dh == ds else f"DIFFERENT: hand {dh} vs spec {ds}"
        print(
            f"  run {r + 1}: hand {th:7.3f} s   spec {ts:7.3f} s   "
            f"({ds[0]} keras layers, {ds[1]:,} params; {same})"
        )
    fresh()
    med_h, med_s = statistics.median(hand_times), statistics.median(spec_times)
    ratio = med_s / med_h
    print(f"  median hand {med_h:.3f} s, spec {med_s:.3f} s, spec/hand {ratio:.3f}")
    return ratio


def median_build(make: Callable[[], keras.Model], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t, model = timed(make)
        del model
        times.append(t)
    fresh()
    return statistics.median(times)


def median_validate(spec: dict[str, Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        report = validate_spec(spec)
        times.append(time.perf_counter() - start)
        if not report.ok:
            sys.exit(f"spec unexpectedly invalid: {report.errors[:3]}")
    return statistics.median(times)


def profile(shape: str, n: int, top: int) -> None:
    spec = SPECS[shape](n)
    fresh()
    prof = cProfile.Profile()
    prof.enable()
    model = build_model(spec)
    prof.disable()
    del model
    fresh()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    print(f"\n[profile] build_model({shape} N={n}), top {top} by cumulative time")
    print(out.getvalue())


def short(n: int) -> str:
    """1000 -> '1k', 200 -> '200'."""
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="layers for spec/hand (1000)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats at N (3)")
    parser.add_argument("--big", type=int, default=10000, help="layers for growth (10000)")
    parser.add_argument("--big-repeats", type=int, default=1, help="repeats at --big (1)")
    parser.add_argument("--shapes", nargs="+", choices=SHAPES, default=list(SHAPES))
    parser.add_argument("--quick", action="store_true", help="N=200, big=2000, 1 repeat")
    parser.add_argument("--no-growth", action="store_true", help="skip part 2")
    parser.add_argument(
        "--no-growth-hand", action="store_true", help="in part 2, skip the hand-written reference"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile one build per shape")
    parser.add_argument("--profile-top", type=int, default=30, help="rows of profile (30)")
    args = parser.parse_args()
    if args.quick:
        args.n, args.big, args.repeats, args.big_repeats = 200, 2000, 1, 1

    backend = keras.backend.backend()
    print(f"python {sys.version.split()[0]}, keras {keras.__version__}, backend {backend}")
    print(f"recursion limit {sys.getrecursionlimit()}, cpus {os.cpu_count()}")

    # Warm-up: first calls pay one-off costs (TF op registration, caches), not timed.
    for shape in args.shapes:
        build_model(SPECS[shape](10))
        HANDS[shape](10)
    fresh()

    ratios = {shape: compare(shape, args.n, args.repeats) for shape in args.shapes}

    growth = hand_growth = None
    if not args.no_growth:
        print(f"\n[growth] chain build_model at N={args.n} and N={args.big}")
        small = chain_spec(args.n)
        big = chain_spec(args.big)
        t_small = median_build(lambda: build_model(small), args.repeats)
        print(f"  build_model N={args.n}: {t_small:.3f} s (median of {args.repeats})")
        t_big = median_build(lambda: build_model(big), args.big_repeats)
        print(f"  build_model N={args.big}: {t_big:.3f} s (median of {args.big_repeats})")
        growth = t_big / t_small
        if not args.no_growth_hand:
            # For reference: how Keras alone grows (the same chain written by hand).
            h_small = median_build(lambda: chain_hand(args.n), args.repeats)
            print(f"  by hand N={args.n}: {h_small:.3f} s (median of {args.repeats})")
            h_big = median_build(lambda: chain_hand(args.big), args.big_repeats)
            print(f"  by hand N={args.big}: {h_big:.3f} s (median of {args.big_repeats})")
            hand_growth = h_big / h_small
        v_small = median_validate(small, args.repeats)
        v_big = median_validate(big, args.big_repeats)
        print(f"  validate_spec N={args.n}: {v_small:.3f} s ({v_small / t_small:.1%} of build)")
        print(f"  validate_spec N={args.big}: {v_big:.3f} s ({v_big / t_big:.1%} of build)")

    if args.profile:
        for shape in args.shapes:
            profile(shape, args.n, args.profile_top)

    print("\nsummary:")
    for shape, ratio in ratios.items():
        print(f"build {shape} N={args.n} spec / hand: {ratio:.3f} (target <= {TARGET_RATIO})")
    if growth is not None:
        scale = args.big / args.n
        label = f"{short(args.big)}/{short(args.n)}"
        print(f"growth ratio {label}: {growth:.2f} (linear = {scale:g})")
        if hand_growth is not None:
            print(f"hand-written growth ratio {label}: {hand_growth:.2f} (Keras alone, reference)")
        print(f"validate_spec N={args.big}: {v_big:.3f} s = {v_big / t_big:.1%} of build_model")


if __name__ == "__main__":
    main()
