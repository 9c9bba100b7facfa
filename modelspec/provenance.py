"""The provenance record every model file and artifact carries, and the installed versions
it names.

A ``.keras`` file modelspec writes (``build -o``, a run's ``model.keras``, a
``keras`` export) carries it as an extra entry of its zip (:func:`stamp_keras`);
each export format stamps it in its own way (see its module).
:func:`~modelspec.export.formats.read_provenance` reads any of them back.

Example:
    >>> from modelspec.provenance import provenance
    >>> record = provenance("name: m\\n", "m.yaml", "onnx")
    >>> record["format"], record["source"], len(record["spec_sha256"])
    ('onnx', 'm.yaml', 64)
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import json
import zipfile
from pathlib import Path
from typing import Any

import keras

from ._version import __version__

#: Name of the provenance entry in every artifact.
PROVENANCE = "modelspec"


def dist_version(dist: str) -> str:
    """The installed version of the distribution ``dist`` (``?`` when absent)."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def provenance(source_text: str | None, origin: str, fmt: str) -> dict[str, Any]:
    """What an artifact records about where it came from."""
    return {
        "format": fmt,
        "source": origin,
        "spec_sha256": hashlib.sha256(source_text.encode()).hexdigest() if source_text else None,
        "spec": source_text,
        "modelspec_version": __version__,
        "keras_version": keras.__version__,
        "backend": keras.backend.backend(),
        "tensorflow_version": tf_version(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def tf_version() -> str:
    """The installed TensorFlow's version (tensorflow-cpu or tensorflow)."""
    found = dist_version("tensorflow-cpu")
    return found if found != "?" else dist_version("tensorflow")


def stamp_keras(path: Path, record: dict[str, Any]) -> None:
    """Write ``record`` into the ``.keras`` file at ``path`` (Keras ignores the entry)."""
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(f"{PROVENANCE}.json", json.dumps(record, indent=1))


def read_keras(path: Path) -> dict[str, Any]:
    """The provenance the ``.keras`` file at ``path`` carries."""
    with zipfile.ZipFile(path) as archive:
        return dict(json.loads(archive.read(f"{PROVENANCE}.json")))
