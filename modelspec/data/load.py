"""``load_data``: read the source, map its arrays, split them with the seed, transform them.

Example:
    >>> from modelspec import load_spec
    >>> data = load_data(load_spec("specs/antirectifier_digits.yaml"))
    >>> data.description
    'sklearn digits: 1,257 train / 180 validation / 360 test'
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import Diagnostic
from ..spec.schema import ModelSpec
from .common import (
    DATA,
    Data,
    Split,
    fail,
    input_names,
    no_target,
    output_names,
    raise_all,
    trained_outputs,
)
from .mapping import arrays_for, check_arrays, pick
from .sources import load_source
from .transforms import Stats, plan_transforms, split_steps, transform


def _sizes(n: int, fraction: float) -> int:
    return math.ceil(n * fraction) if fraction > 0 else 0


def _take(x: dict[str, np.ndarray], y: list[np.ndarray], index: np.ndarray) -> Split:
    return Split({k: v[index] for k, v in x.items()}, [a[index] for a in y])


def load_with_stats(spec: ModelSpec, preprocess: str | None = None) -> tuple[Data, Stats]:
    doc = spec.document
    if spec.train is None:
        raise fail(
            doc,
            (),
            "this spec has no `train.data` section: add e.g. `train: {data: {source: "
            "sklearn, name: digits}}`",
        )
    entry = spec.train.data
    ins, outs = input_names(spec), output_names(spec)
    plan = plan_transforms(spec, entry, [*ins, *outs])
    source = load_source(spec, entry)

    errors: list[Diagnostic] = []
    trained = trained_outputs(spec)  # an output without a loss needs no target
    targets = pick(doc, entry.targets, source, "targets", trained, errors)
    used = {k for m in targets.values() for k in m.keys}
    inputs = pick(doc, entry.inputs, source, "inputs", ins, errors, exclude=used)
    raise_all(errors)
    specs = {i.name: i for i in spec.inputs}
    x, y = arrays_for(doc, source, source.arrays, inputs, targets, errors, specs)
    raise_all(errors)
    check_arrays(doc, x, y, inputs, targets, errors, " (training set)" if source.test else "")
    test: Split | None = None
    if source.test is not None:
        tx, ty = arrays_for(doc, source, source.test, inputs, targets, errors, specs)
        check_arrays(doc, tx, ty, inputs, targets, errors, " (test set)")
        test = Split(tx, [ty.get(n, no_target(_length(tx, ty))) for n in outs])
    raise_all(errors)
    pool = Split(x, [y.get(n, no_target(_length(x, y))) for n in outs])

    split = entry.split
    n = len(pool)
    order = np.random.default_rng(split.seed).permutation(n)
    n_test = 0 if test is not None else _sizes(n, split.test)
    n_val = _sizes(n, split.validation)
    if n - n_test - n_val < 1:
        raise fail(
            doc,
            (*DATA, "split"),
            f"expected some samples left for training. Received: {n:,} samples, of which "
            f"{n_test:,} go to test and {n_val:,} to validation; lower the fractions",
        )
    if test is None and n_test:
        test = _take(pool.x, pool.y, order[:n_test])
    validation = _take(pool.x, pool.y, order[n_test : n_test + n_val]) if n_val else None
    train = _take(pool.x, pool.y, order[n_test + n_val :])
    data = Data(train, validation, test, "")

    stats: Stats = {}
    in_model = (preprocess or entry.preprocess) == "model"
    views = {part: Split(dict(s.x), s.y) for part, s in data.splits()}
    for name, steps in plan.items():
        if name not in ins and name not in trained:
            continue  # an output without a loss: no target to transform
        splits = [s for _, s in data.splits()]
        if name in ins:
            steps, model_steps = split_steps(steps) if in_model else (steps, [])
            arrays = transform(doc, name, steps, [s.x[name] for s in splits], stats)
            for s, a in zip(splits, arrays, strict=True):
                s.x[name] = a
            model_steps = [st for st in model_steps if st.op != "standardize" or st.arg]
            if model_steps:
                # checked and measured here (errors at their steps, statistics from
                # the training split); the model's layers will apply them
                data.in_model[name] = model_steps
                arrays = transform(doc, name, model_steps, arrays, stats)
            for view, a in zip(views.values(), arrays, strict=True):
                view.x[name] = a
        else:
            i = outs.index(name)
            arrays = transform(doc, name, steps, [s.y[i] for s in splits], stats)
            for s, a in zip(splits, arrays, strict=True):
                s.y[i] = a
    y_names = tuple(outs) if isinstance(spec.outputs, dict) else None
    sizes = []
    for part, s in data.splits():
        s.y_names = views[part].y_names = y_names
        sizes.append(f"{len(s):,} {part}")
    data.description = f"{source.label}: {' / '.join(sizes)}"
    data.stats = stats
    if data.in_model:
        data.graph_view = Data(
            views["train"], views.get("validation"), views.get("test"), data.description
        )
    return data, stats


def _length(x: dict[str, np.ndarray], y: dict[str, np.ndarray]) -> int:
    """How many samples the arrays hold (checked equal before)."""
    return len(next(iter([*x.values(), *y.values()]), np.empty(0)))


def load_data(spec: ModelSpec, preprocess: str | None = None) -> Data:
    """Read, map, split and transform the data of a spec's ``train.data``.

    Sources (``source:``): ``sklearn`` (offline datasets shipped with
    scikit-learn), ``keras`` (downloaded on first use; their own test set is
    the test split), ``npz`` and ``csv`` files, ``images`` (a folder with one
    sub-folder per class, read by ``keras.utils.image_dataset_from_directory``
    and held in memory: fine for small folders), and ``function`` (a
    registered data function). ``split`` fractions are of all samples: test
    first, then validation, with ``numpy.random.default_rng(seed)``.

    Args:
        spec: A loaded spec with a ``train.data`` section.
        preprocess: Where the inputs' transforms run (``model`` or ``data``;
            default: the spec's ``train.data.preprocess``). With ``model`` the
            inputs stay raw before the steps the model's preprocessing layers
            apply (:attr:`Data.in_model`); they are checked and measured here.

    Returns:
        The :class:`Data`; float64 arrays are float32.

    Raises:
        DataError: A missing file, array or column, arrays of different lengths,
            NaN or inf, a transform that does not apply; every mapping problem at once.
        DownloadError: A Keras dataset could not be downloaded (the message
            says where to put a copy).
    """
    return load_with_stats(spec, preprocess)[0]
