"""The interface every export format supplies: a :class:`Format`.

A format is its name, file suffix, default tolerance and optional packages,
plus four operations: write the artifact, load and run it in its own runtime,
stamp provenance into it, and read that provenance back.

Example:
    >>> from modelspec.export.onnx import ONNX
    >>> ONNX.default_path("digits"), ONNX.tolerance
    ('digits.onnx', 0.0001)
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import keras
import numpy as np

#: Writes a model as the format at a path; may append notes for people.
Writer: TypeAlias = Callable[[keras.Model, Path, list[str]], None]
#: Loads an artifact in its runtime and runs it on the sample inputs: the
#: outputs in Keras's order, and the runtime with its version.
Runner: TypeAlias = Callable[[Path, keras.Model, list[np.ndarray]], tuple[list[np.ndarray], str]]
#: Writes a provenance record into an artifact.
Stamper: TypeAlias = Callable[[Path, dict[str, Any]], None]
#: Reads the provenance record an artifact carries.
Reader: TypeAlias = Callable[[Path], dict[str, Any]]


#: Modules Keras's exporters need on some backend that no modelspec extra
#: installs, with their pip names.
PIP_NAMES = {"jax2onnx": "jax2onnx"}


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
        backend_modules: More modules Keras's exporter needs on a backend
            (``{"jax": ("jax2onnx",)}``).
        write: Writes the artifact with Keras's own exporter.
        run: Reloads the artifact in ``runtime`` and runs it.
        stamp: Writes the provenance record into the artifact.
        read: Reads the provenance record back (raises ``OSError``,
            ``KeyError``, ``StopIteration`` or ``ValueError`` when there is none).
    """

    name: str
    suffix: str
    tolerance: float
    extra: str | None = None
    modules: tuple[str, ...] = ()
    runtime: str = ""
    backend_modules: dict[str, tuple[str, ...]] = field(
        default_factory=dict, kw_only=True, compare=False
    )
    write: Writer = field(kw_only=True, repr=False, compare=False)
    run: Runner = field(kw_only=True, repr=False, compare=False)
    stamp: Stamper = field(kw_only=True, repr=False, compare=False)
    read: Reader = field(kw_only=True, repr=False, compare=False)

    def default_path(self, stem: str) -> str:
        """The artifact's file name for a model called ``stem``."""
        return f"{stem}_saved_model" if self.name == "saved_model" else stem + self.suffix

    def missing(self, backend: str | None = None) -> list[str]:
        """Those of :attr:`modules` (and ``backend``'s :attr:`backend_modules`)
        that are not installed."""
        needed = (*self.modules, *self.backend_modules.get(backend or "", ()))
        return [m for m in needed if importlib.util.find_spec(m) is None]

    def install(self, missing: list[str]) -> str:
        """The pip command that installs ``missing`` modules.

        Example:
            >>> from modelspec.export.onnx import ONNX
            >>> ONNX.install(["onnxruntime", "jax2onnx"])
            "pip install 'modelspec[onnx]' jax2onnx"
        """
        outside = [PIP_NAMES[m] for m in missing if m in PIP_NAMES]
        inside = [f"'modelspec[{self.extra}]'"] if len(outside) < len(missing) else []
        return "pip install " + " ".join(inside + outside)
