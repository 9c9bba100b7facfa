"""What to export, resolved into a model and its spec, and the inputs to check it on.

:func:`load_source` resolves what the user gave (a model, a spec file, a
``.keras`` file or a run directory) into a model with its spec and the spec's
text (the provenance); :func:`sample_inputs` finds rows of the spec's data,
else random inputs of the declared shapes and dtypes.

Example:
    >>> from modelspec.export.source import load_source
    >>> source = load_source("specs/siamese.yaml", None, (), False, False)
    >>> arrays, described = source.sample(8)
    >>> described, [a.shape for a in arrays]
    ('8 random inputs', [(8, 64), (8, 64)])
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import keras
import numpy as np
import yaml

from ..errors import DownloadError, ExportError, RunError
from ..spec.schema import ModelSpec

PathLike: TypeAlias = str | os.PathLike[str]
#: What can be exported: a model, a spec file, a ``.keras`` file or a run directory.
Source: TypeAlias = "keras.Model | str | os.PathLike[str]"


# -- resolving what to export -----------------------------------------------------------
@dataclass
class LoadedSource:
    """What is being exported: the model, its spec (if known) and where it came from."""

    model: keras.Model
    spec: ModelSpec | None
    origin: str  # the path the user gave, or "<model>"
    yaml_text: str | None
    samples: dict[int, tuple[list[np.ndarray], str]] = field(default_factory=dict)

    def sample(self, n: int) -> tuple[list[np.ndarray], str]:
        """:func:`sample_inputs`, loaded once for every format."""
        if n not in self.samples:
            self.samples[n] = sample_inputs(self.model, self.spec, n)
        return self.samples[n]


def _spec_text(spec: ModelSpec) -> str:
    doc = spec.document
    if doc.text is not None:
        return doc.text
    return yaml.safe_dump(doc.data, sort_keys=False)


def load_source(
    source: Source,
    spec: PathLike | ModelSpec | None,
    plugins: Iterable[str],
    allow_imports: bool,
    best: bool,
) -> LoadedSource:
    from ..build import build_model, load_model
    from ..rundir import model_file, run_spec
    from ..spec.validate import load_spec

    loaded = None
    if spec is not None:
        loaded = spec if isinstance(spec, ModelSpec) else load_spec(spec, plugins=plugins)
    if isinstance(source, keras.Model):
        model = source
        origin = loaded.document.file if loaded is not None else "<model>"
    else:
        path, origin = Path(source), str(source)
        if path.is_dir():
            if loaded is None:
                # the resolved spec the run trained from (its text is the provenance)
                loaded = run_spec(path, plugins=plugins, allow_imports=allow_imports)
            model = load_model(model_file(path, best), plugins=plugins)
        elif path.suffix == ".keras":
            if not path.is_file():
                raise RunError(f"expected a .keras file. Received: {source} (no such file)")
            model = load_model(path, plugins=plugins)
        else:
            loaded = load_spec(source, plugins=plugins, allow_imports=allow_imports)
            model = build_model(loaded, plugins=plugins)
    return LoadedSource(model, loaded, origin, _spec_text(loaded) if loaded else None)


# -- sample inputs ----------------------------------------------------------------------
def flat(values: Any) -> list[np.ndarray]:
    """Outputs as NumPy arrays: the backend's tensors (a torch tensor that requires
    grad included) through Keras, a runtime's arrays as they are."""
    return [
        keras.ops.convert_to_numpy(v) if keras.ops.is_tensor(v) else np.asarray(v)
        for v in keras.tree.flatten(values)
    ]


def call_arg(model: keras.Model, arrays: Sequence[np.ndarray]) -> Any:
    return list(arrays) if len(model.inputs) > 1 else arrays[0]


def _random_inputs(model: keras.Model, n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    # integer inputs are usually token ids: keep them inside every Embedding's range
    dims = [layer.input_dim for layer in model.layers if hasattr(layer, "input_dim")]
    high = max(2, min([d for d in dims if isinstance(d, int)] or [10]))
    arrays = []
    for tensor in model.inputs:
        shape = [n] + [4 if d is None else d for d in tensor.shape[1:]]
        dtype = np.dtype(tensor.dtype)
        if dtype.kind in "iu":
            arrays.append(rng.integers(0, high, shape).astype(dtype))
        elif dtype.kind == "b":
            arrays.append(rng.integers(0, 2, shape).astype(bool))
        elif dtype.kind == "f":
            arrays.append(rng.standard_normal(shape).astype(dtype))
        else:
            raise ExportError(
                f"cannot make random sample inputs for input '{tensor.name}' of dtype "
                f"{tensor.dtype}: pass sample inputs (a spec with train.data, or inputs=...)"
            )
    return arrays


def sample_inputs(
    model: keras.Model, spec: ModelSpec | None = None, n: int = 8
) -> tuple[list[np.ndarray], str]:
    """Inputs to check an export with: ``n`` rows of the spec's data, else random.

    Rows come from the test split of ``train.data`` (the train split when there
    is no test split), as the model takes them: raw when it has the spec's
    input transforms as layers, else transformed as for training. Without data (no spec, no
    ``train:`` section, or a ``source: keras`` dataset not downloaded yet), random
    inputs of the declared shapes and dtypes (sequence lengths of 4).

    Returns:
        The arrays in the order of ``model.inputs``, and a description for people.
    """
    if spec is not None and spec.train is not None:
        from ..data import keras_dataset_cached, load_data, transforms_in

        entry = spec.train.data
        try:
            if entry.source == "keras" and not keras_dataset_cached(entry):
                raise DownloadError([])  # a few sample rows are not worth a download
            # raw inputs for a model with the transforms as layers
            data = load_data(spec, "model" if transforms_in(model, spec) else "data")
        except DownloadError:
            return _random_inputs(model, n), f"{n} random inputs ({entry.name} is not downloaded)"
        name, split = ("test", data.test) if data.test is not None else ("train", data.train)
        names = [t.name for t in model.inputs]
        if all(k in split.x for k in names):
            rows = min(n, len(split))
            what = spec.train.data.name or spec.train.data.path or spec.train.data.source
            rows_ = as_declared(model, [split.x[k][:rows] for k in names])
            return rows_, f"{rows} rows of {what} ({name} split)"
    return _random_inputs(model, n), f"{n} random inputs"


def as_declared(model: keras.Model, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Numeric arrays in their model input's dtype, as Keras casts what an input is fed:
    int64 data rows for an int32 input, float64 for float32. A runtime that takes
    only the declared type (ONNX Runtime, LiteRT) then gets what Keras got.

    Example:
        >>> import keras
        >>> x = keras.Input((2,), dtype="int32")
        >>> model = keras.Model(x, keras.layers.Identity()(x))
        >>> [a.dtype for a in as_declared(model, [np.array([[1, 2]])])]
        [dtype('int32')]
    """
    cast = []
    for tensor, array in zip(model.inputs, arrays, strict=True):
        dtype = np.dtype(tensor.dtype) if tensor.dtype != "string" else None
        numeric = array.dtype.kind in "iufb"
        cast.append(array.astype(dtype) if dtype is not None and numeric else array)
    return cast


def named_inputs(
    model: keras.Model, inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray]
) -> list[np.ndarray]:
    names = [t.name for t in model.inputs]
    if isinstance(inputs, Mapping):
        missing = [n for n in names if n not in inputs]
        if missing:
            raise ExportError(
                f"sample inputs lack {', '.join(missing)} (the model has {', '.join(names)})"
            )
        return as_declared(model, [np.asarray(inputs[n]) for n in names])
    if len(inputs) != len(names):
        raise ExportError(
            f"expected {len(names)} sample input arrays ({', '.join(names)}). "
            f"Received: {len(inputs)}"
        )
    return as_declared(model, [np.asarray(a) for a in inputs])
