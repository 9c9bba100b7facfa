"""Check: which ``keras.ops`` functions survive a ``.keras`` save and a ``safe_mode=True`` reload.

For each op of the catalogue (``keras.ops``, top level, refused ones too with
``--all``), the op is called on symbolic inputs (``keras.Input``) with arguments
from the table below, or by default on one or two float tensors; the functional
model is saved, reloaded with ``keras.saving.load_model(..., safe_mode=True)``
and both are run on the same data, outputs compared (NaNs equal).

Ops that only make constants (``arange``, ``eye``, ``zeros``...) cannot be a
graph node: they are checked the way a spec uses them, added to a symbolic
input (``x + arange(3)``), which saves the constant in the node's arguments.

Each op ends in one status:

* ``ok``: reloaded, same outputs;
* ``symbolic``: the call fails on symbolic tensors (these arguments, or the op
  needs values known only at run time, e.g. ``unique``, ``nonzero``);
* ``not a tensor``: the result is a Python value, not a symbolic tensor;
* ``save``/``load``/``differs``: saving, reloading under ``safe_mode`` or
  the reloaded outputs failed: such an op belongs in ``REFUSED_OPS``.

This prints a table and a summary; it asserts nothing.

Usage:
    python bench/ops_round_trip.py                # every usable op
    python bench/ops_round_trip.py --all          # the refused ones too
    python bench/ops_round_trip.py mean exp take  # just these
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
from keras import ops

from modelspec.catalogue import signatures

RNG = np.random.default_rng(0)
BATCH = 2


def _spd(n: int) -> np.ndarray:
    m = RNG.uniform(0.1, 0.9, (BATCH, n, n)).astype("float32")
    return m @ m.transpose(0, 2, 1) + 3 * np.eye(n, dtype="float32")


#: Symbolic inputs an op can take: name -> (shape without batch, dtype, data).
INPUTS: dict[str, tuple[tuple[int, ...], str, Callable[[], np.ndarray]]] = {
    "f": ((4, 3), "float32", lambda: RNG.uniform(0.1, 0.9, (BATCH, 4, 3)).astype("float32")),
    "g": ((4, 3), "float32", lambda: RNG.uniform(0.1, 0.9, (BATCH, 4, 3)).astype("float32")),
    "sq": ((3, 3), "float32", lambda: _spd(3)),
    "sq2": ((3, 3), "float32", lambda: _spd(3)),
    "i": ((4, 3), "int32", lambda: RNG.integers(0, 3, (BATCH, 4, 3)).astype("int32")),
    "j": ((4, 3), "int32", lambda: RNG.integers(1, 4, (BATCH, 4, 3)).astype("int32")),
    "b": ((4, 3), "bool", lambda: RNG.integers(0, 2, (BATCH, 4, 3)).astype("bool")),
    "c": ((4, 3), "bool", lambda: RNG.integers(0, 2, (BATCH, 4, 3)).astype("bool")),
    "v": (
        (8,),
        "float32",
        lambda: np.sort(RNG.uniform(0.1, 0.9, (BATCH, 8)), -1).astype("float32"),
    ),
    "iv": ((8,), "int32", lambda: RNG.integers(0, 4, (BATCH, 8)).astype("int32")),
    "p": ((3,), "float32", lambda: RNG.uniform(0.1, 0.9, (BATCH, 3)).astype("float32")),
    "lab": ((), "int32", lambda: RNG.integers(0, 3, (BATCH,)).astype("int32")),
    "seq": ((4,), "int32", lambda: RNG.integers(1, 3, (BATCH, 4)).astype("int32")),
    "n": ((), "int32", lambda: np.full((BATCH,), 4, "int32")),
    "m": ((), "int32", lambda: np.full((BATCH,), 2, "int32")),
    "img": (
        (8, 8, 3),
        "float32",
        lambda: RNG.uniform(0.1, 0.9, (BATCH, 8, 8, 3)).astype("float32"),
    ),
    "img4": (
        (8, 8, 4),
        "float32",
        lambda: RNG.uniform(0.1, 0.9, (BATCH, 8, 8, 4)).astype("float32"),
    ),
    "pair": ((4, 2), "float32", lambda: RNG.uniform(0.1, 0.9, (BATCH, 4, 2)).astype("float32")),
}


class Inputs:
    """Symbolic inputs, made on first use (the model takes only those an op used)."""

    def __init__(self) -> None:
        self.used: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name not in INPUTS:
            raise AttributeError(name)
        if name not in self.used:
            shape, dtype, _ = INPUTS[name]
            self.used[name] = keras.Input(shape, dtype=dtype, name=name)
        return self.used[name]


K = np.ones((3, 3, 3, 2), "float32") / 9
SEGMENTS = np.array([0, 0, 1, 1, 2, 2, 3, 3], "int32")

#: How to call the ops whose arguments are not one or two float tensors.
CALLS: dict[str, Callable[[Inputs], Any]] = {
    "adaptive_average_pool": lambda t: ops.adaptive_average_pool(t.img, (2, 2)),
    "adaptive_max_pool": lambda t: ops.adaptive_max_pool(t.img, (2, 2)),
    "append": lambda t: ops.append(t.f, t.g, axis=1),
    "arange": lambda t: t.p + ops.arange(3, dtype="float32"),
    "argpartition": lambda t: ops.argpartition(t.p, 1),
    "array_split": lambda t: ops.array_split(t.f, 2, axis=1),
    "average": lambda t: ops.average(t.f, axis=1),
    "average_pool": lambda t: ops.average_pool(t.img, 2),
    "bartlett": lambda t: t.v + ops.bartlett(8),
    "batch_normalization": lambda t: ops.batch_normalization(
        t.f, np.zeros(3, "float32"), np.ones(3, "float32"), axis=-1
    ),
    "bincount": lambda t: ops.bincount(t.iv, minlength=4),
    "bitwise_and": lambda t: ops.bitwise_and(t.i, t.j),
    "bitwise_invert": lambda t: ops.bitwise_invert(t.i),
    "bitwise_left_shift": lambda t: ops.bitwise_left_shift(t.i, t.j),
    "bitwise_not": lambda t: ops.bitwise_not(t.i),
    "bitwise_or": lambda t: ops.bitwise_or(t.i, t.j),
    "bitwise_right_shift": lambda t: ops.bitwise_right_shift(t.i, t.j),
    "bitwise_xor": lambda t: ops.bitwise_xor(t.i, t.j),
    "blackman": lambda t: t.v + ops.blackman(8),
    "broadcast_to": lambda t: ops.broadcast_to(t.f[:, :1], (BATCH, 4, 3)),
    "cast": lambda t: ops.cast(t.f, "int32"),
    "categorical_crossentropy": lambda t: ops.categorical_crossentropy(t.g, t.f),
    "cholesky": lambda t: ops.cholesky(t.sq),
    "cholesky_inverse": lambda t: ops.cholesky_inverse(ops.cholesky(t.sq)),
    "clip": lambda t: ops.clip(t.f, 0.2, 0.6),
    "concatenate": lambda t: ops.concatenate([t.f, t.g], axis=1),
    "conv": lambda t: ops.conv(t.img, K, padding="same"),
    "conv_transpose": lambda t: ops.conv_transpose(t.img, K.transpose(0, 1, 3, 2), 2),
    "convert_to_tensor": lambda t: ops.convert_to_tensor(t.f),
    "corrcoef": lambda t: ops.corrcoef(t.v),
    "correlate": lambda t: ops.correlate(t.v[0], t.v[1]),
    "count_nonzero": lambda t: ops.count_nonzero(t.i, axis=1),
    "ctc_decode": lambda t: ops.ctc_decode(ops.softmax(t.f), t.n),
    "ctc_loss": lambda t: ops.ctc_loss(t.seq, ops.softmax(t.f), t.m, t.n),
    "cumprod": lambda t: ops.cumprod(t.f, axis=1),
    "cumsum": lambda t: ops.cumsum(t.f, axis=1),
    "depth_to_space": lambda t: ops.depth_to_space(t.img4, 2),
    "depthwise_conv": lambda t: ops.depthwise_conv(t.img, np.ones((3, 3, 3, 1), "float32")),
    "diag": lambda t: ops.diag(t.sq[0]),
    "diagflat": lambda t: ops.diagflat(t.p),
    "diagonal": lambda t: ops.diagonal(t.f, axis1=1, axis2=2),
    "det": lambda t: ops.det(t.sq),
    "digitize": lambda t: ops.digitize(t.f, np.array([0.25, 0.5, 0.75], "float32")),
    "dot": lambda t: ops.dot(t.f, t.sq),
    "dot_product_attention": lambda t: ops.dot_product_attention(t.img, t.img, t.img),
    "dsplit": lambda t: ops.dsplit(t.img, 2),
    "dstack": lambda t: ops.dstack([t.f, t.g]),
    "eig": lambda t: ops.eig(t.sq),
    "eigh": lambda t: ops.eigh(t.sq),
    "einsum": lambda t: ops.einsum("bij,bkj->bik", t.f, t.g),
    "empty": lambda t: t.p + ops.zeros(3) * ops.empty((3,)),
    "expand_dims": lambda t: ops.expand_dims(t.f, 1),
    "extract_sequences": lambda t: ops.extract_sequences(t.v, 4, 2),
    "eye": lambda t: t.sq + ops.eye(3),
    "fft": lambda t: ops.fft((t.f, t.g)),
    "fft2": lambda t: ops.fft2((t.f, t.g)),
    "fold": lambda t: ops.fold(ops.unfold(ops.transpose(t.img, (0, 3, 1, 2)), 2), (8, 8), 2),
    "full": lambda t: t.p + ops.full((3,), 2.0),
    "full_like": lambda t: ops.full_like(t.f, 2.0),
    "gcd": lambda t: ops.gcd(t.i, t.j),
    "geomspace": lambda t: t.p + ops.geomspace(1.0, 4.0, 3),
    "get_item": lambda t: ops.get_item(t.f, (slice(None), slice(None, -1))),
    "glu": lambda t: ops.glu(t.img4),
    "hamming": lambda t: t.v + ops.hamming(8),
    "hanning": lambda t: t.v + ops.hanning(8),
    "histogram": lambda t: ops.histogram(t.v[0]),
    "hsplit": lambda t: ops.hsplit(t.f, 2),
    "hstack": lambda t: ops.hstack([t.f, t.g]),
    "identity": lambda t: t.sq + ops.identity(3),
    "ifft2": lambda t: ops.ifft2((t.f, t.g)),
    "in_top_k": lambda t: ops.in_top_k(t.lab, t.p, 2),
    "inv": lambda t: ops.inv(t.sq),
    "irfft": lambda t: ops.irfft((t.f, t.g)),
    "isin": lambda t: ops.isin(t.i, t.j),
    "istft": lambda t: ops.istft(ops.stft(t.v, 4, 2, 4), 4, 2, 4),
    "kaiser": lambda t: t.v + ops.kaiser(8, 5.0),
    "kron": lambda t: ops.kron(t.p, t.p),
    "lcm": lambda t: ops.lcm(t.i, t.j),
    "ldexp": lambda t: ops.ldexp(t.f, t.i),
    "left_shift": lambda t: ops.left_shift(t.i, t.j),
    "linspace": lambda t: t.p + ops.linspace(0.0, 1.0, 3),
    "logical_and": lambda t: ops.logical_and(t.b, t.c),
    "logical_not": lambda t: ops.logical_not(t.b),
    "logical_or": lambda t: ops.logical_or(t.b, t.c),
    "logical_xor": lambda t: ops.logical_xor(t.b, t.c),
    "logdet": lambda t: ops.logdet(t.sq),
    "logspace": lambda t: t.p + ops.logspace(0.0, 1.0, 3),
    "lstsq": lambda t: ops.lstsq(t.sq[0], t.sq2[0]),
    "lu_factor": lambda t: ops.lu_factor(t.sq[0]),  # TensorFlow: one matrix, not a batch
    "matmul": lambda t: ops.matmul(t.f, t.sq),
    "max_pool": lambda t: ops.max_pool(t.img, 2),
    "meshgrid": lambda t: ops.meshgrid(t.p[0], t.p[0]),
    "moments": lambda t: ops.moments(t.f, axes=[1]),
    "moveaxis": lambda t: ops.moveaxis(t.f, 1, 2),
    "multi_hot": lambda t: ops.multi_hot(t.seq, num_classes=4),
    "nanpercentile": lambda t: ops.nanpercentile(t.f, 50, axis=1),
    "nanquantile": lambda t: ops.nanquantile(t.f, 0.5, axis=1),
    "norm": lambda t: ops.norm(t.f, axis=-1),
    "one_hot": lambda t: ops.one_hot(t.seq, 4),
    "ones": lambda t: t.p + ops.ones((3,)),
    "outer": lambda t: ops.outer(t.p[0], t.p[0]),
    "pad": lambda t: ops.pad(t.f, ((0, 0), (1, 1), (0, 0))),
    "percentile": lambda t: ops.percentile(t.f, 50, axis=1),
    "psnr": lambda t: ops.psnr(t.f, t.g, 1.0),
    "quantile": lambda t: ops.quantile(t.f, 0.5, axis=1),
    "rearrange": lambda t: ops.rearrange(t.f, "b h w -> b w h"),
    "repeat": lambda t: ops.repeat(t.f, 2, axis=1),
    "reshape": lambda t: ops.reshape(t.f, (-1, 12)),
    "right_shift": lambda t: ops.right_shift(t.i, t.j),
    "roll": lambda t: ops.roll(t.f, 1, axis=1),
    "rot90": lambda t: ops.rot90(t.f, axes=(1, 2)),
    "saturate_cast": lambda t: ops.saturate_cast(t.f * 300, "int8"),
    "scatter": lambda t: t.p + ops.scatter([[0], [2]], [1.0, 2.0], (3,)),
    "scatter_update": lambda t: ops.scatter_update(t.p, [[0, 0]], [5.0]),
    "searchsorted": lambda t: ops.searchsorted(t.v[0], t.p[0]),
    "segment_max": lambda t: ops.segment_max(t.v[0], SEGMENTS, num_segments=4),
    "segment_min": lambda t: ops.segment_min(t.v[0], SEGMENTS, num_segments=4),
    "segment_prod": lambda t: ops.segment_prod(t.v[0], SEGMENTS, num_segments=4),
    "segment_sum": lambda t: ops.segment_sum(t.v[0], SEGMENTS, num_segments=4),
    "select": lambda t: ops.select([t.b, t.c], [t.f, t.g], 0.0),
    "separable_conv": lambda t: ops.separable_conv(
        t.img, np.ones((3, 3, 3, 1), "float32"), np.ones((1, 1, 3, 2), "float32")
    ),
    "slogdet": lambda t: ops.slogdet(t.sq),
    "slice": lambda t: ops.slice(t.f, (0, 1, 0), (BATCH, 2, 3)),
    "slice_update": lambda t: ops.slice_update(t.f, (0, 1, 0), np.ones((BATCH, 2, 3), "float32")),
    "solve": lambda t: ops.solve(t.sq, t.sq2),
    "solve_triangular": lambda t: ops.solve_triangular(t.sq, t.sq2, lower=True),
    "space_to_depth": lambda t: ops.space_to_depth(t.img, 2),
    "sparse_categorical_crossentropy": lambda t: ops.sparse_categorical_crossentropy(t.lab, t.p),
    "split": lambda t: ops.split(t.f, 3, axis=2),
    "stack": lambda t: ops.stack([t.f, t.g], axis=1),
    "stft": lambda t: ops.stft(t.v, 4, 2, 4),
    "swapaxes": lambda t: ops.swapaxes(t.f, 1, 2),
    "take": lambda t: ops.take(t.f, [0, 2], axis=1),
    "take_along_axis": lambda t: ops.take_along_axis(t.f, t.i, axis=1),
    "tensordot": lambda t: ops.tensordot(t.f, np.ones((3, 2), "float32"), axes=1),
    "threshold": lambda t: ops.threshold(t.f, 0.5, 0.0),
    "tile": lambda t: ops.tile(t.f, (1, 2, 1)),
    "top_k": lambda t: ops.top_k(t.f, 2),
    "trace": lambda t: ops.trace(t.f, axis1=1, axis2=2),
    "tri": lambda t: t.sq + ops.tri(3),
    "unfold": lambda t: ops.unfold(ops.transpose(t.img, (0, 3, 1, 2)), 2),
    "unravel_index": lambda t: ops.unravel_index(t.i, (2, 2)),
    "unstack": lambda t: ops.unstack(t.f, axis=1),
    "vander": lambda t: ops.vander(t.p[0]),
    "view": lambda t: ops.view(t.f, "int32"),
    "view_as_complex": lambda t: ops.view_as_real(ops.view_as_complex(t.pair)),
    "view_as_real": lambda t: ops.view_as_real(ops.cast(t.f, "complex64")),
    "vsplit": lambda t: ops.vsplit(t.f, 2),
    "vstack": lambda t: ops.vstack([t.f, t.g]),
    "where": lambda t: ops.where(t.b, t.f, t.g),
    "zeros": lambda t: t.p + ops.zeros((3,)),
    "convert_to_numpy": lambda t: ops.convert_to_numpy(t.f),
    "dtype": lambda t: ops.dtype(t.f),
    "is_tensor": lambda t: ops.is_tensor(t.f),
    "shape": lambda t: ops.shape(t.f),
}

#: The representative sample the brief asks for (and tests/test_catalogue.py checks).
SAMPLE = (
    *("add", "mean", "exp", "square", "sum", "concatenate", "stack", "matmul", "reshape"),
    *("transpose", "expand_dims", "squeeze", "softmax", "relu", "sigmoid", "where", "take"),
    *("einsum", "norm", "erf", "log", "sqrt", "maximum", "cumsum", "one_hot", "argmax", "cast"),
)


def _default_call(name: str) -> Callable[[Inputs], Any]:
    fn = getattr(ops, name)
    sig = signatures.op_signature_from_function(name, fn)
    if len(sig.required) == 1:
        return lambda t: fn(t.f)
    if len(sig.required) == 2:
        return lambda t: fn(t.f, t.g)
    raise TypeError(f"no call for {name}{sig.required}: add one to CALLS")


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "fc":
        return a.shape == b.shape and bool(np.allclose(a, b, equal_nan=True, atol=1e-6))
    return bool(np.array_equal(a, b))


def check(name: str, folder: Path) -> tuple[str, str]:
    """(status, detail) of one op's round trip."""
    t = Inputs()
    try:
        call = CALLS.get(name) or _default_call(name)
        out = call(t)
    except Exception as err:
        return "symbolic", f"{type(err).__name__}: {str(err).splitlines()[0][:120]}"
    outputs = keras.tree.flatten(out)
    if not outputs or not all(isinstance(o, keras.KerasTensor) for o in outputs):
        return "not a tensor", f"returns {type(out).__name__} {str(out)[:60]}"
    model = keras.Model(list(t.used.values()), outputs)
    data = [INPUTS[n][2]() for n in t.used]
    try:
        before = [keras.ops.convert_to_numpy(o) for o in keras.tree.flatten(model(data))]
    except Exception as err:
        return "run", f"{type(err).__name__}: {str(err).splitlines()[0][:120]}"
    path = folder / f"{name}.keras"
    try:
        model.save(path)
    except Exception as err:
        return "save", f"{type(err).__name__}: {str(err).splitlines()[0][:120]}"
    try:
        loaded = keras.saving.load_model(path, safe_mode=True)
    except Exception as err:
        return "load", f"{type(err).__name__}: {str(err).splitlines()[0][:160]}"
    after = [keras.ops.convert_to_numpy(o) for o in keras.tree.flatten(loaded(data))]
    if len(before) != len(after) or not all(map(_same, before, after)):
        return "differs", "reloaded outputs differ"
    return "ok", ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("names", nargs="*", help="ops to check (default: the catalogue's)")
    parser.add_argument("--all", action="store_true", help="check the refused ops too")
    parser.add_argument("--sample", action="store_true", help="check the brief's sample only")
    parser.add_argument("-v", "--verbose", action="store_true", help="tracebacks of failures")
    args = parser.parse_args()
    every = signatures.keras_op_functions()
    if args.names:
        names = args.names
    elif args.sample:
        names = SAMPLE
    else:
        names = [
            n for n, fn in every.items() if args.all or not signatures.refused_op_reason(n, fn)
        ]
    counts: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            try:
                status, detail = check(name, Path(tmp))
            except Exception:
                status, detail = "crash", traceback.format_exc(limit=1).splitlines()[-1]
            keras.backend.clear_session()
            counts.setdefault(status, []).append(name)
            refused = signatures.refused_op_reason(name, every[name]) if name in every else None
            mark = " [refused]" if refused else ""
            print(f"{name:32} {status:12} {detail}{mark}", flush=True)
    print()
    for status, found in sorted(counts.items()):
        print(f"{status}: {len(found)}" + ("" if status == "ok" else f": {' '.join(found)}"))
    sys.exit(0)


if __name__ == "__main__":
    main()
