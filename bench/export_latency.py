"""Benchmark: export time per format, and inference latency of each runtime versus Keras.

Two models: the antirectifier MLP (``specs/antirectifier_digits.yaml``, one input of
shape ``[64]``) and the SSD L2Normalization head (``specs/ssd_l2norm.yaml``, one
``[32, 32, 3]`` image in, two named outputs), each built with ``build_model``.

Part 1, export: each model is written once per format (keras, saved_model, litert, onnx,
openvino) with modelspec's own exporter, ``export_model(model, fmt, path, check=False)``,
into a temporary directory, under ``FORMATS[fmt].default_path(model.name)``. "write s" is
``ExportResult.seconds`` (writing the artifact, the provenance stamp included).
"w/check s" is the wall time of a whole second call with ``check=True`` (sample inputs,
writing, reloading in the format's runtime, comparing with Keras); it runs after the first,
so it is slightly warmer. Unless ``--no-warmup``, a tiny model is first exported to every
format (untimed), so the first timed model does not pay the converters' imports and
one-off initialisation alone.

Part 2, latency: one batch of random float32 inputs (``--batch``, default 1 and 32), run
in every runtime with its default threading:

* Keras ``model.predict(x, verbose=0)`` and Keras's direct call ``model(x,
  training=False)``: the two baselines;
* SavedModel: ``tf.saved_model.load(path).serve(x)``;
* LiteRT: ``ai_edge_litert.interpreter.Interpreter(model_path=...)``, its signature
  runner called with ``{input name: array}``;
* ONNX: ``onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])``,
  ``.run(None, feeds)``;
* OpenVINO: ``ov.Core().compile_model(path, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})``,
  then ``compiled([x])``.

"load s" is the time to load the artifact into its runtime (session creation,
compilation). Inputs are prepared outside the timed call; outputs are not converted.
After ``--warmup`` untimed calls each, every runtime is called ``--repeats`` times, in
``--rounds`` blocks whose order rotates from round to round (so a drift of the machine
hits them all alike, while a runtime's idle thread pool does not run into another's
block); the table gives the median. Ratios are runtime latency / Keras latency (< 1:
faster than Keras), ``/predict`` against ``model.predict`` and ``/call`` against the
direct call, all from this one process run. "max diff" is the largest absolute
difference from the Keras direct call's outputs over the batches, as a sanity check.

This prints numbers; it asserts nothing.

Usage:
    python bench/export_latency.py                      # batches 1 and 32, 50 repeats
    python bench/export_latency.py --batch 1 --repeats 200
    python bench/export_latency.py --models ssd --no-check --quick
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from modelspec.console import captured_stderr

with captured_stderr(replay_on_error=True):  # oneDNN and absl notices from C++
    import ai_edge_litert
    import keras
    import numpy as np
    import onnxruntime as ort
    import openvino as ov
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    from modelspec import build_model
    from modelspec.export import FORMATS, export_model

ROOT = Path(__file__).resolve().parent.parent
SPECS = {
    "antirectifier": ROOT / "specs" / "antirectifier_digits.yaml",
    "ssd": ROOT / "specs" / "ssd_l2norm.yaml",
}
PREDICT = "keras predict()"
CALL = "keras model(x)"
#: runtime row label -> the export format it loads
RUNTIMES = {
    "saved_model serve()": "saved_model",
    "litert signature": "litert",
    "onnxruntime": "onnx",
    "openvino f32": "openvino",
}
WARMUP_SPEC: dict[str, Any] = {
    "modelspec": 1,
    "name": "warmup",
    "inputs": [{"name": "x", "shape": [4]}],
    "layers": [{"name": "d", "type": "Dense", "units": 2}],
    "outputs": ["d"],
}
L = 20  # width of the runtime column

Call = Callable[[], Any]


# -- inputs and outputs ------------------------------------------------------------------
def random_inputs(model: keras.Model, batch: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((batch, *t.shape[1:])).astype(np.float32) for t in model.inputs]


def flat(outputs: Any) -> list[np.ndarray]:
    """Any runtime's outputs (tensor, list, dict, OVDict) as a list of arrays."""
    if hasattr(outputs, "to_tuple"):  # OpenVINO's OVDict
        outputs = list(outputs.to_tuple())
    elif isinstance(outputs, dict):
        outputs = list(outputs.values())
    return [np.asarray(v) for v in keras.tree.flatten(outputs)]


def max_diff(expected: list[np.ndarray], received: list[np.ndarray]) -> float:
    """Largest difference, each expected output matched with the received outputs of
    its shape (runtimes name and order outputs their own way); inf when one has none."""
    worst = 0.0
    for a in expected:
        diffs = [float(np.abs(a - b).max()) for b in received if b.shape == a.shape]
        worst = max(worst, min(diffs, default=float("inf")))
    return worst


# -- part 1: export ----------------------------------------------------------------------
def export_formats(
    model: keras.Model, out: Path, check: bool
) -> tuple[dict[str, Path], dict[str, float], dict[str, float]]:
    """Export ``model`` to every format; returns the paths (check=False), the
    ``.seconds`` of those exports and the whole call's time with check=True."""
    paths, write, checked = {}, {}, {}
    for fmt, spec in FORMATS.items():
        path = out / spec.default_path(model.name)
        with captured_stderr(replay_on_error=True):
            result = export_model(model, fmt, path, check=False)
        paths[fmt], write[fmt] = result.path, result.seconds
        if check:
            (out / "checked").mkdir(exist_ok=True)
            start = time.perf_counter()
            with captured_stderr(replay_on_error=True):
                export_model(model, fmt, out / "checked" / spec.default_path(model.name))
            checked[fmt] = time.perf_counter() - start
    return paths, write, checked


def warm_up_exporters() -> None:
    """Export a tiny model to every format, checked (untimed): converters' imports and
    one-off initialisation, and every runtime once."""
    model = build_model(WARMUP_SPEC)
    with tempfile.TemporaryDirectory() as out:
        export_formats(model, Path(out), check=True)


# -- part 2: runtimes --------------------------------------------------------------------
class Loaded:
    """One artifact loaded in its runtime; ``prepare(arrays)`` returns the call to time."""

    def __init__(self, fmt: str, path: Path, model: keras.Model) -> None:
        self.fmt, self.model, self.notes = fmt, model, []
        start = time.perf_counter()
        with captured_stderr(replay_on_error=True):
            self._load(path)
        self.seconds = time.perf_counter() - start

    def _load(self, path: Path) -> None:
        names = [t.name for t in self.model.inputs]
        if self.fmt == "saved_model":
            self.saved = tf.saved_model.load(str(path))
        elif self.fmt == "litert":
            self.runner = Interpreter(model_path=str(path)).get_signature_runner()
            details = self.runner.get_input_details()
            self.names = names if set(names) == set(details) else sorted(details)
            self.fixed = all(d["shape_signature"][0] == 1 for d in details.values())
        elif self.fmt == "onnx":
            self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            self.names = [i.name for i in self.session.get_inputs()]
        elif self.fmt == "openvino":
            config = {"INFERENCE_PRECISION_HINT": "f32"}
            self.compiled = ov.Core().compile_model(str(path), "CPU", config)

    def prepare(self, arrays: list[np.ndarray]) -> Call:
        if self.fmt == "saved_model":
            arg = arrays if len(arrays) > 1 else arrays[0]
            return lambda: self.saved.serve(arg)
        if self.fmt == "litert":
            feeds = dict(zip(self.names, arrays, strict=True))
            if self.fixed and len(arrays[0]) > 1:  # batch fixed to 1: one call per row
                note = "batch fixed to 1 in the artifact: timed row by row"
                if note not in self.notes:
                    self.notes.append(note)
                rows = [{n: a[i : i + 1] for n, a in feeds.items()} for i in range(len(arrays[0]))]
                return lambda: [self.runner(**row) for row in rows]
            return lambda: self.runner(**feeds)
        if self.fmt == "onnx":
            feeds = dict(zip(self.names, arrays, strict=True))
            return lambda: self.session.run(None, feeds)
        return lambda: self.compiled(list(arrays))

    def outputs(self, result: Any) -> list[np.ndarray]:
        if self.fmt == "litert" and isinstance(result, list):  # row by row
            parts = [flat(r) for r in result]
            return [np.concatenate(chunks) for chunks in zip(*parts, strict=True)]
        return flat(result)


def keras_calls(model: keras.Model, arrays: list[np.ndarray]) -> dict[str, Call]:
    arg = arrays if len(arrays) > 1 else arrays[0]
    return {
        PREDICT: lambda: model.predict(arg, verbose=0),
        CALL: lambda: model(arg, training=False),
    }


def measure(calls: dict[str, Call], repeats: int, rounds: int, warmup: int) -> dict[str, float]:
    """Median seconds per call of each, the calls in blocks rotating over rounds."""
    for call in calls.values():
        for _ in range(warmup):
            call()
    times: dict[str, list[float]] = {label: [] for label in calls}
    labels = list(calls)
    per_round = [repeats // rounds + (r < repeats % rounds) for r in range(rounds)]
    for r, count in enumerate(per_round):
        shift = r % len(labels)
        for label in labels[shift:] + labels[:shift]:
            call = calls[label]
            for _ in range(count):
                start = time.perf_counter()
                call()
                times[label].append(time.perf_counter() - start)
    return {label: statistics.median(t) for label, t in times.items()}


# -- one model -------------------------------------------------------------------------
def bench_model(key: str, args: argparse.Namespace) -> dict[str, Any]:
    with captured_stderr(replay_on_error=True):
        model = build_model(SPECS[key])
    shapes = ", ".join(f"{t.name} {tuple(t.shape[1:])}" for t in model.inputs)
    print(
        f"\n[{key}] {SPECS[key].relative_to(ROOT)}: {model.count_params():,} params, "
        f"input {shapes}, {len(model.outputs)} output(s)"
    )
    latency: dict[int, dict[str, float]] = {}
    diffs: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths, write, checked = export_formats(model, Path(tmp), not args.no_check)
        loaded = {label: Loaded(fmt, paths[fmt], model) for label, fmt in RUNTIMES.items()}
        for batch in args.batch:
            arrays = random_inputs(model, batch)
            calls = keras_calls(model, arrays)
            calls |= {label: rt.prepare(arrays) for label, rt in loaded.items()}
            expected = flat(calls[CALL]())
            for label, call in calls.items():
                result = call()
                got = loaded[label].outputs(result) if label in loaded else flat(result)
                diffs[label] = max(diffs.get(label, 0.0), max_diff(expected, got))
            latency[batch] = measure(calls, args.repeats, args.rounds, args.warmup)
        notes = {label: rt.notes for label, rt in loaded.items() if rt.notes}
        load = {label: rt.seconds for label, rt in loaded.items()}
        del loaded  # before the artifacts go (OpenVINO maps its .bin)

    def cell(value: float | None, spec: str, width: int) -> str:
        return f"{'-':>{width}s}" if value is None else f"{value:{width}{spec}}"

    head = f"{'runtime':{L}s} {'write s':>7s} {'w/check s':>9s} {'load s':>6s}"
    for batch in args.batch:
        head += f" | {f'b={batch} ms':>9s} {'/predict':>8s} {'/call':>8s}"
    print(head + f" | {'max diff':>8s}")
    for label in (PREDICT, CALL, *RUNTIMES):
        fmt = "keras" if label == PREDICT else RUNTIMES.get(label)
        line = (
            f"{label:{L}s} {cell(write.get(fmt) if fmt else None, '.2f', 7)} "
            f"{cell(checked.get(fmt) if fmt else None, '.2f', 9)} "
            f"{cell(load.get(label), '.3f', 6)}"
        )
        for batch in args.batch:
            t = latency[batch]
            line += (
                f" | {t[label] * 1000:9.3f} {t[label] / t[PREDICT]:8.3g} {t[label] / t[CALL]:8.3g}"
            )
        print(line + f" | {diffs[label]:8.1e}")
    for label, texts in notes.items():
        for text in texts:
            print(f"  note: {label}: {text}")
    return {"write": write, "checked": checked, "latency": latency}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models", nargs="+", choices=list(SPECS), default=list(SPECS), help="(both)"
    )
    parser.add_argument(
        "--batch", type=int, nargs="+", default=[1, 32], help="batch sizes timed (1 32)"
    )
    parser.add_argument("--repeats", type=int, default=50, help="timed calls per runtime (50)")
    parser.add_argument("--rounds", type=int, default=5, help="blocks the repeats run in (5)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls first (5)")
    parser.add_argument(
        "--no-check", action="store_true", help="skip the second, checked export per format"
    )
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed warm-up export")
    parser.add_argument("--quick", action="store_true", help="batch 1, 10 repeats in 2 rounds")
    args = parser.parse_args()
    if args.quick:
        args.batch, args.repeats, args.rounds = [1], 10, 2
    args.rounds = max(1, min(args.rounds, args.repeats))

    print(
        f"python {sys.version.split()[0]}, keras {keras.__version__} "
        f"(backend {keras.backend.backend()}), tensorflow {tf.__version__}, "
        f"ai-edge-litert {getattr(ai_edge_litert, '__version__', '?')}, "
        f"onnxruntime {ort.__version__}, openvino {ov.get_version().split('-')[0]}"
    )
    print(
        f"{platform.machine()}, {os.cpu_count()} cpus; latency: median of {args.repeats} "
        f"calls in {args.rounds} rounds after {args.warmup} warm-up calls"
    )
    if not args.no_warmup:
        start = time.perf_counter()
        warm_up_exporters()
        print(
            f"warm-up export of a tiny model to every format: {time.perf_counter() - start:.1f} s"
        )

    results = {key: bench_model(key, args) for key in args.models}

    print("\nsummary (ratio = runtime latency / keras latency; < 1 is faster):")
    for key, res in results.items():
        exports = ", ".join(f"{fmt} {s:.2f}" for fmt, s in res["write"].items())
        print(f"{key}: export write s: {exports}")
        for batch, t in res["latency"].items():
            ratios = ", ".join(
                f"{label.split()[0]} {t[label] / t[PREDICT]:.3g}/{t[label] / t[CALL]:.3g}"
                for label in RUNTIMES
            )
            print(
                f"  batch {batch}: keras predict {t[PREDICT] * 1000:.2f} ms, call "
                f"{t[CALL] * 1000:.2f} ms; vs predict/call: {ratios}"
            )


if __name__ == "__main__":
    main()
