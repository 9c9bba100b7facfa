"""Export: a model to .keras, SavedModel, LiteRT, ONNX or OpenVINO, each artifact checked.

Stage 6 of the pipeline. Every artifact is written by Keras itself
(``model.save`` and ``model.export(format=...)``) into a temporary path next
to its target, reloaded in its own runtime (Keras with ``safe_mode``, a fresh
``tf.saved_model.load``, the LiteRT interpreter, onnxruntime, the OpenVINO
runtime at f32 precision), run on sample inputs and compared with the Keras
model. Only an artifact within tolerance is renamed onto its target; otherwise
nothing is left there and :class:`~modelspec.errors.ExportError` says by how much
it missed. A format that cannot take a layer fails with the layer's spec line.

Each artifact carries its provenance (the spec's YAML text, its sha256, the
modelspec, Keras and TensorFlow versions): in ``assets.extra/`` of a SavedModel,
in ONNX ``metadata_props``, in OpenVINO ``rt_info``, in the ``.tflite``
flatbuffer's metadata and inside the ``.keras`` zip. :func:`read_provenance`
reads it back.

Example:
    >>> from modelspec.export import export_model
    >>> result = export_model("specs/antirectifier_digits.yaml", "onnx", "digits.onnx")
    ... # doctest: +SKIP
    >>> result.max_abs_diff < result.tolerance  # doctest: +SKIP
    True
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import keras
import numpy as np
import yaml

from ._version import __version__
from .console import captured_stderr
from .errors import DownloadError, ExportError, RunError, did_you_mean
from .spec.schema import EXPORT_FORMATS, ModelSpec

PathLike: TypeAlias = str | os.PathLike[str]
#: What can be exported: a model, a spec file, a ``.keras`` file or a run directory.
Source: TypeAlias = "keras.Model | str | os.PathLike[str]"

#: Name of the provenance entry in every artifact.
PROVENANCE = "modelspec"


@dataclass(frozen=True)
class Format:
    """One export format.

    Attributes:
        name: As the CLI and specs spell it (``onnx``).
        suffix: The artifact's file suffix (``""`` for a SavedModel directory).
        tolerance: Default largest max-abs difference from Keras accepted.
        extra: The pip extra holding its converter/runtime, if any.
        modules: The modules that extra provides (checked before exporting).
        runtime: What the check reloads the artifact with.
    """

    name: str
    suffix: str
    tolerance: float
    extra: str | None = None
    modules: tuple[str, ...] = ()
    runtime: str = ""

    def default_path(self, stem: str) -> str:
        """The artifact's file name for a model called ``stem``."""
        return f"{stem}_saved_model" if self.name == "saved_model" else stem + self.suffix


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("keras", ".keras", 1e-5, runtime="keras"),
        Format("saved_model", "", 1e-5, runtime="tensorflow"),
        Format("litert", ".tflite", 1e-4, runtime="ai-edge-litert"),
        Format("onnx", ".onnx", 1e-4, "onnx", ("tf2onnx", "onnx", "onnxruntime"), "onnxruntime"),
        Format("openvino", ".xml", 1e-4, "openvino", ("openvino",), "openvino"),
    )
}
assert tuple(FORMATS) == EXPORT_FORMATS


@dataclass
class ExportResult:
    """What :func:`export_model` wrote and how its check went.

    Attributes:
        format: The format name.
        path: The artifact (a SavedModel directory; the ``.xml`` for OpenVINO).
        files: Every file or directory written (OpenVINO: the ``.bin`` too).
        max_abs_diff: Largest absolute difference between the artifact's
            outputs and the Keras model's on the sample inputs (``None``
            when not checked).
        tolerance: The largest difference that was accepted.
        runtime: The runtime the artifact was checked in, with its version.
        samples: Which sample inputs the check ran, for people.
        seconds: Time spent writing the artifact (the check excluded).
        notes: Things worth knowing about the artifact (a conversion route...).
        provenance: What the artifact carries about where it came from.
    """

    format: str
    path: Path
    files: list[Path]
    max_abs_diff: float | None
    tolerance: float
    runtime: str | None
    samples: str
    seconds: float
    notes: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        """One line: what was written and how close it is to Keras."""
        text = f"{self.format}: wrote {self.path} ({self.seconds:.2f} s)"
        if self.max_abs_diff is not None:
            text += (
                f"; {self.runtime} on {self.samples}: max abs diff {self.max_abs_diff:.3g}"
                f" (tolerance {self.tolerance:g})"
            )
        else:
            text += "; not checked"
        return text + "".join(f"\n  note: {n}" for n in self.notes)


# -- resolving what to export -----------------------------------------------------------
@dataclass
class _Source:
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


def _load_source(
    source: Source,
    spec: PathLike | ModelSpec | None,
    plugins: Iterable[str],
    allow_imports: bool,
    best: bool,
) -> _Source:
    from .build import build_model, load_model
    from .rundir import model_file, run_spec
    from .spec.validate import load_spec

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
    return _Source(model, loaded, origin, _spec_text(loaded) if loaded else None)


# -- sample inputs ----------------------------------------------------------------------
def _flat(values: Any) -> list[np.ndarray]:
    return [np.asarray(v) for v in keras.tree.flatten(values)]


def _call_arg(model: keras.Model, arrays: Sequence[np.ndarray]) -> Any:
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
    is no test split), transformed as for training. Without data (no spec, no
    ``train:`` section, or a ``source: keras`` dataset not downloaded yet), random
    inputs of the declared shapes and dtypes (sequence lengths of 4).

    Returns:
        The arrays in the order of ``model.inputs``, and a description for people.
    """
    if spec is not None and spec.train is not None:
        from .data import keras_dataset_cached, load_data

        entry = spec.train.data
        try:
            if entry.source == "keras" and not keras_dataset_cached(entry):
                raise DownloadError([])  # a few sample rows are not worth a download
            data = load_data(spec)
        except DownloadError:
            return _random_inputs(model, n), f"{n} random inputs ({entry.name} is not downloaded)"
        name, split = ("test", data.test) if data.test is not None else ("train", data.train)
        names = [t.name for t in model.inputs]
        if all(k in split.x for k in names):
            rows = min(n, len(split))
            what = spec.train.data.name or spec.train.data.path or spec.train.data.source
            return [split.x[k][:rows] for k in names], f"{rows} rows of {what} ({name} split)"
    return _random_inputs(model, n), f"{n} random inputs"


# -- comparing ------------------------------------------------------------------------
def max_abs_diff(expected: Sequence[np.ndarray], received: Sequence[np.ndarray]) -> float:
    """Largest absolute difference between two lists of arrays (inf if shapes differ;
    NaN where both are NaN counts as equal)."""
    if len(expected) != len(received):
        return float("inf")
    worst = 0.0
    for a, b in zip(expected, received, strict=True):
        a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if a64.shape != b64.shape:
            return float("inf")
        both_nan = np.isnan(a64) & np.isnan(b64)
        diff = np.where(both_nan, 0.0, np.abs(a64 - b64))
        if diff.size:
            worst = max(worst, float(np.nan_to_num(diff, nan=np.inf).max()))
    return worst


def _ordered(outputs: Mapping[str, Any], keys: Sequence[str] | None) -> list[np.ndarray]:
    """A runtime's named outputs in Keras's order: by the model's output keys when
    the runtime kept them, else in the runtime's own order (``output_0``...)."""
    if keys and set(keys) <= set(outputs):
        return [np.asarray(outputs[k]) for k in keys]
    names = sorted(
        outputs, key=lambda k: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", k)]
    )
    return [np.asarray(outputs[k]) for k in names]


def _output_keys(model: keras.Model) -> list[str] | None:
    """The output names when the model returns a dict (sorted, as ``tree.flatten``)."""
    structure = getattr(model, "_outputs_struct", None)
    return sorted(structure) if isinstance(structure, dict) else None


# -- runtimes -------------------------------------------------------------------------
Runner = Callable[[Path, keras.Model, list[np.ndarray]], tuple[list[np.ndarray], str]]


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _run_keras(
    path: Path, model: keras.Model, arrays: list[np.ndarray]
) -> tuple[list[np.ndarray], str]:
    from .build import load_model

    reloaded = load_model(path)
    return _flat(
        reloaded(_call_arg(reloaded, arrays), training=False)
    ), f"keras {keras.__version__}"


def _run_saved_model(
    path: Path, model: keras.Model, arrays: list[np.ndarray]
) -> tuple[list[np.ndarray], str]:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    return _flat(loaded.serve(_call_arg(model, arrays))), f"tensorflow {tf.__version__}"


def _flex_ops(path: Path) -> list[str]:
    """The TensorFlow ops (Flex delegate) a ``.tflite`` model needs."""
    from tensorflow.lite.tools import flatbuffer_utils

    flat = flatbuffer_utils.read_model(str(path))
    codes = [c.customCode.decode() for c in flat.operatorCodes if c.customCode]
    return sorted({c.removeprefix("Flex") for c in codes if c.startswith("Flex")})


def _run_litert(
    path: Path, model: keras.Model, arrays: list[np.ndarray]
) -> tuple[list[np.ndarray], str]:
    flex = _flex_ops(path)
    if flex:
        layers = layers_using_ops(model, flex)
        raise _Located(
            "it needs TensorFlow ops that builtin LiteRT runtimes lack (the Flex delegate): "
            + ", ".join(flex),
            layers,
        )
    if importlib.util.find_spec("ai_edge_litert") is not None:
        from ai_edge_litert.interpreter import Interpreter

        interpreter, runtime = Interpreter(model_path=str(path)), "ai-edge-litert"
    else:  # the fallback the issue allows: TensorFlow's own (deprecated) interpreter
        import tensorflow as tf

        interpreter, runtime = tf.lite.Interpreter(model_path=str(path)), "tf.lite"
    runner = interpreter.get_signature_runner()
    details = runner.get_input_details()
    names = [t.name for t in model.inputs]
    if set(names) != set(details):  # positional fallback, in signature order
        names = sorted(details)
    fixed_batch = all(d["shape_signature"][0] == 1 for d in details.values())
    rows = [slice(i, i + 1) for i in range(len(arrays[0]))] if fixed_batch else [slice(None)]
    parts = [
        _ordered(
            runner(**{n: a[r] for n, a in zip(names, arrays, strict=True)}), _output_keys(model)
        )
        for r in rows
    ]
    outputs = [np.concatenate(chunks) for chunks in zip(*parts, strict=True)]
    version = _version("ai-edge-litert") if runtime == "ai-edge-litert" else tf_version()
    return outputs, f"{runtime} {version}"


def _run_onnx(
    path: Path, model: keras.Model, arrays: list[np.ndarray]
) -> tuple[list[np.ndarray], str]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {i.name: a for i, a in zip(session.get_inputs(), arrays, strict=True)}
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, session.run(None, feeds), strict=True))
    keys = _output_keys(model)
    flat = [outputs[n] for n in names] if not keys or not set(keys) <= set(names) else None
    return flat or _ordered(outputs, keys), f"onnxruntime {ort.__version__}"


def _run_openvino(
    path: Path, model: keras.Model, arrays: list[np.ndarray]
) -> tuple[list[np.ndarray], str]:
    import openvino as ov

    core = ov.Core()
    # the CPU plugin runs bf16 on CPUs that have it unless asked for f32
    compiled = core.compile_model(core.read_model(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    result = compiled(list(arrays))
    outputs = [np.asarray(result[o]) for o in compiled.outputs]
    keys = _output_keys(model)
    if keys:
        named = {n: v for o, v in zip(compiled.outputs, outputs, strict=True) for n in o.names}
        if set(keys) <= set(named):
            outputs = [named[k] for k in keys]
    return outputs, f"openvino {_version('openvino')}"


RUNNERS: dict[str, Runner] = {
    "keras": _run_keras,
    "saved_model": _run_saved_model,
    "litert": _run_litert,
    "onnx": _run_onnx,
    "openvino": _run_openvino,
}


# -- provenance -------------------------------------------------------------------------
def provenance(source_text: str | None, origin: str, fmt: str) -> dict[str, Any]:
    """What an artifact records about where it came from."""
    return {
        "format": fmt,
        "source": origin,
        "spec_sha256": hashlib.sha256(source_text.encode()).hexdigest() if source_text else None,
        "spec": source_text,
        "modelspec_version": __version__,
        "keras_version": keras.__version__,
        "tensorflow_version": tf_version(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def tf_version() -> str:
    """The installed TensorFlow's version (tensorflow-cpu or tensorflow)."""
    found = _version("tensorflow-cpu")
    return found if found != "?" else _version("tensorflow")


def _stamp(fmt: str, path: Path, record: dict[str, Any]) -> None:
    """Write ``record`` into the artifact at ``path``."""
    text = json.dumps(record, indent=1)
    if fmt == "keras":  # Keras reads its own entries of the zip and ignores others
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr(f"{PROVENANCE}.json", text)
    elif fmt == "saved_model":  # the SavedModel place for files of higher-level libraries
        extra = path / "assets.extra"
        extra.mkdir(exist_ok=True)
        (extra / f"{PROVENANCE}.json").write_text(text, encoding="utf-8")
    elif fmt == "onnx":
        import onnx

        proto = onnx.load(str(path))
        for key, value in record.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = f"{PROVENANCE}.{key}", "" if value is None else str(value)
        onnx.save(proto, str(path))
    elif fmt == "openvino":

        def add_info(ov_model: Any) -> bool:
            for key, value in record.items():
                ov_model.set_rt_info("" if value is None else str(value), [PROVENANCE, key])
            return True

        _rewrite_openvino(path, add_info)
    elif fmt == "litert":
        from tensorflow.lite.python import schema_py_generated as schema
        from tensorflow.lite.tools import flatbuffer_utils

        flat = flatbuffer_utils.read_model(str(path))
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(text.encode(), dtype=np.uint8)
        flat.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name, entry.buffer = PROVENANCE.encode(), len(flat.buffers) - 1
        flat.metadata = [*(flat.metadata or []), entry]
        flatbuffer_utils.write_model(flat, str(path))


def read_provenance(path: PathLike) -> dict[str, Any]:
    """The provenance an exported artifact carries (see :func:`export_model`).

    Args:
        path: A ``.keras``, ``.tflite``, ``.onnx`` or OpenVINO ``.xml`` file,
            or a SavedModel directory.

    Returns:
        ``{"spec": yaml text, "spec_sha256": ..., "modelspec_version": ...,
        "keras_version": ..., "source": ..., "format": ..., "created": ...}``.

    Raises:
        ExportError: The artifact carries no modelspec provenance.

    Example:
        >>> read_provenance("digits.onnx")["spec_sha256"]  # doctest: +SKIP
        '3f2a...'
    """
    path = Path(path)
    try:
        if path.is_dir():
            return dict(json.loads((path / "assets.extra" / f"{PROVENANCE}.json").read_text()))
        if path.suffix == ".keras":
            with zipfile.ZipFile(path) as archive:
                return dict(json.loads(archive.read(f"{PROVENANCE}.json")))
        if path.suffix == ".tflite":
            from tensorflow.lite.tools import flatbuffer_utils

            flat = flatbuffer_utils.read_model(str(path))
            entry = next(m for m in flat.metadata or [] if m.name == PROVENANCE.encode())
            return dict(json.loads(flat.buffers[entry.buffer].data.tobytes()))
        if path.suffix == ".onnx":
            import onnx

            props = onnx.load(str(path), load_external_data=False).metadata_props
            found = {
                p.key.removeprefix(f"{PROVENANCE}."): p.value or None
                for p in props
                if p.key.startswith(f"{PROVENANCE}.")
            }
        elif path.suffix == ".xml":
            import openvino as ov

            info = ov.Core().read_model(path).get_rt_info()[PROVENANCE]
            found = {k: (v.astype(str) or None) for k, v in info.items()}
        else:
            raise ExportError(f"expected an exported artifact. Received: {path}")
    except (OSError, KeyError, StopIteration, ValueError) as err:
        raise ExportError(f"{path} carries no modelspec provenance ({err})") from None
    if not found:
        raise ExportError(f"{path} carries no modelspec provenance")
    return found


# -- writing ---------------------------------------------------------------------------
def _save_openvino(ov_model: Any, path: Path) -> None:
    import openvino as ov

    # keep the weights' precision: the check compares with the f32 Keras model
    ov.save_model(ov_model, str(path), compress_to_fp16=False)


def _rewrite_openvino(path: Path, edit: Callable[[Any], bool]) -> bool:
    """Read an OpenVINO model, ``edit`` it, and save it back when ``edit`` says so.

    The ``.bin`` is memory-mapped while the model is read: the edited model is
    saved beside it and renamed over it, never written into the mapped file.
    """
    import openvino as ov

    ov_model = ov.Core().read_model(path)
    if not edit(ov_model):
        return False
    fresh = path.parent / "rewrite" / path.name
    fresh.parent.mkdir(exist_ok=True)
    _save_openvino(ov_model, fresh)
    del ov_model
    os.replace(fresh.with_suffix(".bin"), path.with_suffix(".bin"))
    os.replace(fresh, path)
    fresh.parent.rmdir()
    return True


def _drop_side_outputs(path: Path, count: int) -> bool:
    """OpenVINO's TensorFlow front end also returns the tensors of ``add_loss``
    terms; keep the model's own outputs (``Identity*`` or named) when that
    leaves exactly ``count``. Returns True when it removed some."""

    def drop(ov_model: Any) -> bool:
        if len(ov_model.outputs) <= count:
            return False
        extra = [
            result
            for result, out in zip(ov_model.get_results(), ov_model.outputs, strict=True)
            if all("/" in n for n in out.names)
            and not any(n.startswith("Identity") for n in out.names)
        ]
        if len(ov_model.outputs) - len(extra) != count:
            return False
        for result in extra:
            ov_model.remove_result(result)
        return True

    return _rewrite_openvino(path, drop)


def _write(fmt: str, model: keras.Model, path: Path, notes: list[str]) -> None:
    """Write ``model`` as ``fmt`` at ``path`` with Keras's own exporters."""
    if fmt == "keras":
        model.save(path)
        return
    keras_format = {"saved_model": "tf_saved_model"}.get(fmt, fmt)
    if fmt == "litert":
        _write_litert(model, path, notes)
        return
    if fmt != "openvino":
        model.export(str(path), format=keras_format, verbose=False)
        return
    try:
        model.export(str(path), format="openvino", verbose=False)
    except Exception as err:
        if type(err).__name__ != "OpConversionFailure" or not _available(FORMATS["onnx"]):
            raise
        # OpenVINO's ONNX front end takes graphs its TensorFlow front end cannot
        # (recurrent layers' TensorList loops): go through Keras's ONNX export
        import openvino as ov

        onnx_path = path.with_suffix(".via.onnx")
        try:
            model.export(str(onnx_path), format="onnx", verbose=False)
            ov_model = ov.convert_model(str(onnx_path))
        except Exception:
            raise err from None
        finally:
            onnx_path.unlink(missing_ok=True)
        _save_openvino(ov_model, path)
        notes.append(f"converted through ONNX: the TensorFlow front end failed ({_op_list(err)})")
        return
    if _drop_side_outputs(path, len(model.outputs)):
        notes.append("dropped the add_loss terms OpenVINO's converter exposed as extra outputs")


def _write_litert(model: keras.Model, path: Path, notes: list[str]) -> None:
    """LiteRT with builtin ops only, which every LiteRT runtime runs; recurrent
    layers' loops lower to builtin ops only with a fixed batch size, so that is
    tried next (batch 1); last, Keras's default, which may need TensorFlow
    (Flex) ops: the check then names the layers that need them."""
    import tensorflow as tf

    builtins = {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}

    def attempt(**options: Any) -> Exception | None:
        try:
            model.export(str(path), format="litert", verbose=False, **options)
        except Exception as err:
            return err
        return None

    first = attempt(target_spec=builtins)
    if first is None:
        return
    if all(d is not None for t in model.inputs for d in t.shape[1:]):
        specs = [tf.TensorSpec((1, *t.shape[1:]), t.dtype, name=t.name) for t in model.inputs]
        signature = [specs] if len(specs) > 1 else specs
        if attempt(input_signature=signature, target_spec=builtins) is None:
            layers = layers_using_ops(model, _op_types(first)) or ["some layers"]
            notes.append(
                f"batch size fixed to 1: with a free batch size, {', '.join(layers)} "
                "cannot be lowered to builtin LiteRT ops"
            )
            return
    model.export(str(path), format="litert", verbose=False)  # Keras's default (Flex ops)


def _available(fmt: Format) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in fmt.modules)


def require(fmt: str) -> Format:
    """The :class:`Format` called ``fmt``, its optional packages checked.

    Raises:
        ExportError: Unknown format, or its runtime is not installed (the
            message gives the exact pip command).
    """
    if fmt not in FORMATS:
        hint = did_you_mean(fmt, FORMATS) or f" Known: {', '.join(FORMATS)}."
        raise ExportError(f"unknown export format '{fmt}'.{hint}")
    spec = FORMATS[fmt]
    missing = [m for m in spec.modules if importlib.util.find_spec(m) is None]
    if missing:
        raise ExportError(
            f"{fmt} export needs {', '.join(missing)}, not installed: "
            f"pip install 'modelspec[{spec.extra}]'"
        )
    return spec


@contextlib.contextmanager
def _staging(target: Path) -> Iterator[Path]:
    """A fresh directory next to ``target`` to export into; removed afterwards."""
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = target.parent / f".{target.name}.{os.getpid()}.export-tmp"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _publish(staged: list[Path], target_dir: Path, stage: Path) -> list[Path]:
    """Rename the staged files onto their targets (an OpenVINO ``.bin`` before its
    ``.xml``); a directory being replaced is first moved aside into the stage."""
    placed = []
    for item in staged:
        final = target_dir / item.name
        if item.is_dir() and final.exists():
            os.replace(final, stage / f"{item.name}.old")
        os.replace(item, final)
        placed.append(final)
    return placed


# -- errors -----------------------------------------------------------------------------
def _op_list(err: Exception) -> str:
    """The operations a converter names in its error, for one line."""
    text = str(err)
    for pattern in (
        r"failed to legalize operation '(?:tf\.)?(\w+)'",
        r"No conversion rule found for operations: ([^\n]+)",
        r"Unsupported ops: Counter\(\{([^}]*)\}\)",
        r"Conversion is failed for: ([^\n]+)",
    ):
        found = re.search(pattern, text)
        if found:
            return "no rule for " + found.group(1).strip()
    ops = sorted(set(re.findall(r"\btf\.(\w+)\(", text)))
    if ops:
        return "no rule for " + ", ".join(ops)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:300] if lines else type(err).__name__


def _op_types(err: Exception) -> list[str]:
    """Operation type names (or prefixes, like OpenVINO's ``TensorList``) in ``err``."""
    summary = _op_list(err)
    if not summary.startswith("no rule for "):
        return []
    return re.findall(r"[A-Z][A-Za-z0-9]+", summary.removeprefix("no rule for "))


def layers_using_ops(model: keras.Model, op_types: Iterable[str]) -> list[str]:
    """Names of the model's layers whose TensorFlow graph has ops of these types
    (a type matches as a prefix: ``TensorList`` finds ``TensorListReserve``),
    loops and conditions looked into."""
    import tensorflow as tf

    prefixes = tuple(op_types)
    if not prefixes:
        return []
    specs = [tf.TensorSpec(t.shape, t.dtype, name=t.name) for t in model.inputs]
    fn = tf.function(lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False))
    graph_def = fn.get_concrete_function(*specs).graph.as_graph_def()
    library = {f.signature.name: f for f in graph_def.library.function}

    def op_types_in(node: Any, seen: set[str]) -> Iterator[str]:
        yield node.op
        called = [node.op]  # a call of a library function, or loop/branch bodies
        for attr in node.attr.values():
            called += [attr.func.name] if attr.HasField("func") else []
            called += [f.name for f in attr.list.func]
        for name in called:
            if name in library and name not in seen:
                seen.add(name)
                for inner in library[name].node_def:
                    yield from op_types_in(inner, seen)

    layer_names = [layer.name for layer in model.layers]
    found: list[str] = []
    for node in graph_def.node:
        if any(t.startswith(prefixes) for t in op_types_in(node, set())):
            layer = _layer_of(node.name, layer_names)
            if layer and layer not in found:
                found.append(layer)
    return found


def _layer_of(op_name: str, layer_names: Sequence[str]) -> str | None:
    """The outermost layer whose name scope an op name is in."""
    for part in op_name.split("/")[1:]:  # the first scope is the model's
        for candidate in (part, re.sub(r"_\d+$", "", part)):
            if candidate in layer_names:
                return candidate
    return None


class _Located(Exception):
    """A failure whose cause is known: ``reason``, and the layers it concerns."""

    def __init__(self, reason: str, layers: list[str]) -> None:
        super().__init__(reason)
        self.reason, self.layers = reason, layers


def _layers_named_in(text: str, model: keras.Model) -> list[str]:
    """Layers whose name scope appears in op names quoted in ``text``."""
    names = [layer.name for layer in model.layers]
    found: list[str] = []
    for op_name in re.findall(r"[\w.\-]+(?:/[\w.\-]+)+", text):
        layer = _layer_of(op_name, names)
        if layer and layer not in found:
            found.append(layer)
    return found


def _failure(fmt: str, stage: str, err: Exception, source: _Source) -> ExportError:
    """An export failure, located at the spec lines of the layers it concerns.

    Args:
        fmt: The format.
        stage: ``convert`` (the converter refused) or ``check`` (the artifact's
            runtime refused it).
        err: What was raised.
        source: What was being exported.
    """
    if isinstance(err, _Located):
        reason, layers = err.reason, err.layers
    else:
        reason = _op_list(err) if stage == "convert" else _first_lines(err)
        try:  # locating is best effort: the converter's own message still stands
            layers = layers_using_ops(source.model, _op_types(err))
        except Exception:
            layers = []
        layers = layers or _layers_named_in(str(err), source.model)
    if stage == "convert":
        head = f"{fmt} export failed: the converter cannot take this model ({reason})"
        verb = "cannot convert"
    else:
        runtime = FORMATS[fmt].runtime
        head = f"{fmt} export failed its check: {runtime} cannot run the artifact ({reason})"
        verb = f"artifact fails in {runtime} at"
    lines = [head]
    by_name = {node.name: i for i, node in enumerate(source.spec.layers)} if source.spec else {}
    for name in layers:
        message = f"{fmt} {verb} this {type(source.model.get_layer(name)).__name__} layer"
        if name in by_name and source.spec is not None:
            where = source.spec.document.diagnostic(("layers", by_name[name]), message, node=name)
            lines.append(where.format())
        else:
            lines.append(f"layer '{name}': {message}")
    if not layers and not isinstance(err, _Located) and stage == "convert":
        lines.append(f"{type(err).__name__}: {_first_lines(err)}")
    others = [f for f in FORMATS if f != fmt]
    lines.append(
        f"Nothing was written. Export this model to another format ({', '.join(others)}), "
        "or change the layer."
    )
    return ExportError("\n".join(lines))


def _first_lines(err: Exception, limit: int = 400) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- the public entry point ---------------------------------------------------------------
def export_model(
    model_or_source: Source,
    format: str,
    path: PathLike,
    *,
    check: bool = True,
    tolerance: float | None = None,
    inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray] | None = None,
    samples: int | None = None,
    spec: PathLike | ModelSpec | None = None,
    plugins: Iterable[str] = (),
    allow_imports: bool = False,
    best: bool = False,
) -> ExportResult:
    """Export a model and check the artifact against Keras in the artifact's runtime.

    The artifact is written into a temporary path next to ``path``, reloaded in
    its own runtime, run on sample inputs and compared with the Keras model.
    Only then is it renamed onto ``path``: a failed check or an interrupted
    export leaves nothing there.

    Args:
        model_or_source: A ``keras.Model``, a spec file, a ``.keras`` file, or a
            run directory (its ``model.keras``, or ``best.keras`` with ``best``).
        format: ``keras``, ``saved_model``, ``litert``, ``onnx`` or ``openvino``.
        path: The artifact: ``.keras``, a SavedModel directory, ``.tflite``,
            ``.onnx``, or OpenVINO's ``.xml`` (its ``.bin`` goes beside it).
        check: Reload and compare (the artifact is published either way when False).
        tolerance: Largest max-abs difference accepted (default: 1e-5 for keras
            and saved_model, 1e-4 for the others).
        inputs: Sample inputs for the check (arrays in ``model.inputs`` order,
            or by input name); by default ``samples`` rows of the spec's data,
            else random inputs of the declared shapes and dtypes.
        samples: How many sample inputs when they are not given.
        spec: The spec (for sample data and provenance) when the source is a
            model or a ``.keras`` file; a spec or run directory brings its own.
        plugins: Modules to import first (custom layers).
        allow_imports: Honour the spec's ``imports:``.
        best: From a run directory, export ``best.keras``.

    Returns:
        An :class:`ExportResult` (path, files, max abs difference, runtime...).

    Raises:
        ExportError: The format's runtime is missing, the converter cannot take
            a layer (named with its spec line), or the artifact's outputs differ
            from Keras by more than ``tolerance``.
        SpecError: The spec is invalid.
        RunError: A run directory or ``.keras`` file cannot be used.

    Example:
        >>> result = export_model("specs/ssd_l2norm.yaml", "litert", "ssd.tflite")
        ... # doctest: +SKIP
        >>> print(result.summary())  # doctest: +SKIP
        litert: wrote ssd.tflite (1.21 s); ai-edge-litert 2.3.0 on 8 random inputs: ...
    """
    fmt = require(format)
    target = Path(path)
    if fmt.suffix and not target.name.endswith(fmt.suffix):
        raise ExportError(
            f"expected a path ending in {fmt.suffix} for {fmt.name}. Received: {target}"
        )
    source = _load_source(model_or_source, spec, plugins, allow_imports, best)
    return _export(source, fmt, target, check, tolerance, inputs, samples)


def _export(
    source: _Source,
    fmt: Format,
    target: Path,
    check: bool,
    tolerance: float | None,
    inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray] | None,
    samples: int | None,
) -> ExportResult:
    model = source.model
    if inputs is None:
        if samples is None:
            export = source.spec.export if source.spec is not None else None
            samples = export.samples if export is not None else 8
        arrays, described = source.sample(samples)
    else:
        arrays = _named_inputs(model, inputs)
        described = f"{len(arrays[0])} given inputs"
    # the reference outputs (this also makes sure the model has been called,
    # which Keras's ONNX export needs)
    expected = _flat(model(_call_arg(model, arrays), training=False))
    limit = _tolerance(fmt, tolerance, source.spec)
    record = provenance(source.yaml_text, source.origin, fmt.name)
    notes: list[str] = []
    with _staging(target) as stage:
        staged = stage / target.name
        start = time.perf_counter()
        try:
            with captured_stderr():  # converters print MLIR dumps and warnings from C++
                _write(fmt.name, model, staged, notes)
                _stamp(fmt.name, staged, record)
        except Exception as err:
            raise _failure(fmt.name, "convert", err, source) from err
        seconds = time.perf_counter() - start
        diff, runtime = None, None
        if check:
            try:
                with captured_stderr():
                    received, runtime = RUNNERS[fmt.name](staged, model, arrays)
            except Exception as err:
                raise _failure(fmt.name, "check", err, source) from err
            diff = max_abs_diff(expected, received)
            if not diff <= limit:
                raise ExportError(
                    f"{fmt.name} export does not reproduce the Keras model: max abs diff "
                    f"{diff:.3g} on {described} ({runtime}), expected at most {limit:g}. "
                    f"Nothing was written to {target}. Raise the tolerance if this is expected."
                )
        files = [staged]
        if fmt.name == "openvino":
            files.insert(0, staged.with_suffix(".bin"))
        placed = _publish(files, target.parent, stage)
    if fmt.name == "litert":
        flex = _flex_ops(target)
        if flex:
            notes.append(
                "needs TensorFlow ops (the Flex delegate, SELECT_TF_OPS) that builtin "
                f"LiteRT runtimes lack: {', '.join(flex)}"
            )
    return ExportResult(
        format=fmt.name,
        path=target,
        files=placed,
        max_abs_diff=diff,
        tolerance=limit,
        runtime=runtime,
        samples=described,
        seconds=seconds,
        notes=notes,
        provenance=record,
    )


def _tolerance(fmt: Format, given: float | None, spec: ModelSpec | None) -> float:
    """The tolerance: given, else the spec's ``export.tolerance``, else the format's."""
    if given is not None:
        return float(given)
    chosen: Any = spec.export.tolerance if spec is not None and spec.export is not None else None
    if isinstance(chosen, Mapping):
        chosen = dict(chosen).get(fmt.name)
    return fmt.tolerance if chosen is None else float(chosen)


def _named_inputs(
    model: keras.Model, inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray]
) -> list[np.ndarray]:
    names = [t.name for t in model.inputs]
    if isinstance(inputs, Mapping):
        missing = [n for n in names if n not in inputs]
        if missing:
            raise ExportError(
                f"sample inputs lack {', '.join(missing)} (the model has {', '.join(names)})"
            )
        return [np.asarray(inputs[n]) for n in names]
    if len(inputs) != len(names):
        raise ExportError(
            f"expected {len(names)} sample input arrays ({', '.join(names)}). "
            f"Received: {len(inputs)}"
        )
    return [np.asarray(a) for a in inputs]


def export_all(
    model_or_source: Source,
    formats: Iterable[str],
    out_dir: PathLike,
    *,
    check: bool = True,
    tolerance: float | Mapping[str, float] | None = None,
    inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray] | None = None,
    samples: int | None = None,
    spec: PathLike | ModelSpec | None = None,
    plugins: Iterable[str] = (),
    allow_imports: bool = False,
    best: bool = False,
) -> tuple[list[ExportResult], list[tuple[str, ExportError]]]:
    """Export to several formats into ``out_dir`` (``<model name><suffix>`` each),
    going on after a failure. Arguments as for :func:`export_model`; ``tolerance``
    may also be ``{format: tolerance}``.

    Returns:
        The results, and ``(format, error)`` for each format that failed.

    Example:
        >>> done, failed = export_all("specs/siamese.yaml", ["onnx", "litert"], "out")
        ... # doctest: +SKIP
    """
    results: list[ExportResult] = []
    failures: list[tuple[str, ExportError]] = []
    chosen = []
    for name in formats:  # a missing runtime fails before any work
        try:
            chosen.append(require(name))
        except ExportError as err:
            failures.append((name, err))
    if not chosen:
        return results, failures
    source = _load_source(model_or_source, spec, plugins, allow_imports, best)
    for fmt in chosen:
        limit = tolerance.get(fmt.name) if isinstance(tolerance, Mapping) else tolerance
        target = Path(out_dir) / fmt.default_path(source.model.name)
        try:
            results.append(_export(source, fmt, target, check, limit, inputs, samples))
        except ExportError as err:
            failures.append((fmt.name, err))
    return results, failures


__all__ = [
    "FORMATS",
    "ExportResult",
    "Format",
    "export_all",
    "export_model",
    "layers_using_ops",
    "max_abs_diff",
    "read_provenance",
    "require",
    "sample_inputs",
]
