"""Exporting: :func:`export_model` and :func:`export_all`, each artifact staged, checked, published.

For each format: sample inputs and the Keras model's outputs on them, the
format's writer and provenance stamp into a staging directory, its runtime's
outputs compared with Keras's within the tolerance, then the rename onto the
target. A failure names the layers concerned at their spec lines.

Example:
    >>> import tempfile
    >>> done, failed = export_all("specs/siamese.yaml", ["keras", "onnxx"], tempfile.mkdtemp())
    >>> [r.format for r in done], [f for f, _ in failed]
    (['keras'], ['onnxx'])
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ..backend import export_problem
from ..console import captured_stderr
from ..errors import ExportError
from ..provenance import provenance
from ..spec.schema import ModelSpec
from .check import max_abs_diff, tolerance_for
from .format import Format
from .formats import FORMATS, RUNNERS, require
from .litert import flex_ops
from .locate import failure
from .source import LoadedSource, PathLike, Source, call_arg, flat, load_source, named_inputs
from .staging import publish, staging


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
        >>> import tempfile
        >>> out = tempfile.mkdtemp()
        >>> result = export_model("specs/ssd_l2norm.yaml", "keras", f"{out}/ssd.keras")
        >>> print(result.summary())  # doctest: +ELLIPSIS
        keras: wrote .../ssd.keras (... s); keras ... on 8 random inputs: max abs diff ...
    """
    fmt = require(format)
    target = Path(path)
    if fmt.suffix and not target.name.endswith(fmt.suffix):
        raise ExportError(
            f"expected a path ending in {fmt.suffix} for {fmt.name}. Received: {target}"
        )
    source = load_source(model_or_source, spec, plugins, allow_imports, best)
    return _export(source, fmt, target, check, tolerance, inputs, samples)


def _export(
    source: LoadedSource,
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
        arrays = named_inputs(model, inputs)
        described = f"{len(arrays[0])} given inputs"
    # the reference outputs (this also makes sure the model has been called,
    # which Keras's ONNX export needs)
    expected = flat(model(call_arg(model, arrays), training=False))
    limit = tolerance_for(fmt, tolerance, source.spec)
    record = provenance(source.yaml_text, source.origin, fmt.name)
    notes: list[str] = []
    # what a failure suggests instead: the formats this backend exports
    others = [f for f in FORMATS if export_problem(f, keras.backend.backend()) is None]
    with staging(target) as stage:
        staged = stage / target.name
        start = time.perf_counter()
        try:
            # converters print MLIR dumps and warnings from C++
            with captured_stderr(), _constant_weights(model):
                fmt.write(model, staged, notes)
                fmt.stamp(staged, record)
        except Exception as err:
            raise failure(fmt, "convert", err, source, others) from err
        seconds = time.perf_counter() - start
        diff, runtime = None, None
        if check:
            try:
                with captured_stderr():
                    received, runtime = RUNNERS[fmt.name](staged, model, arrays)
            except Exception as err:
                raise failure(fmt, "check", err, source, others) from err
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
        placed = publish(files, target.parent, stage)
    if fmt.name == "litert":
        flex = flex_ops(target)
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


@contextlib.contextmanager
def _constant_weights(model: Any) -> Iterator[None]:
    """On PyTorch, the model's weights without autograd while an exporter traces
    it: the tracer cannot make a weight that requires grad a constant, which it
    does for the weights of some layers inside a block (a repeated block's
    ``MultiHeadAttention``: ``specs/transformer_classifier.yaml``)."""
    if keras.backend.backend() != "torch":
        yield
        return
    tensors = [v.value for v in model.variables if getattr(v.value, "requires_grad", False)]
    for tensor in tensors:
        tensor.requires_grad_(False)
    try:
        yield
    finally:
        for tensor in tensors:
            tensor.requires_grad_(True)


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
        >>> import tempfile
        >>> done, failed = export_all("specs/siamese.yaml", ["keras"], tempfile.mkdtemp())
        >>> done[0].path.name, failed
        ('siamese_digits.keras', [])
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
    source = load_source(model_or_source, spec, plugins, allow_imports, best)
    for fmt in chosen:
        limit = tolerance.get(fmt.name) if isinstance(tolerance, Mapping) else tolerance
        target = Path(out_dir) / fmt.default_path(source.model.name)
        try:
            results.append(_export(source, fmt, target, check, limit, inputs, samples))
        except ExportError as err:
            failures.append((fmt.name, err))
    return results, failures
