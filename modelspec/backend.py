"""Which Keras backend a process runs: TensorFlow, JAX or PyTorch.

Keras picks its backend once, when it is first imported, from ``KERAS_BACKEND``
(or ``~/.keras/keras.json``). modelspec chooses before that import, from the
first of: ``--backend`` on the command line, the spec's ``backend:`` key,
``KERAS_BACKEND``, Keras's config file, and TensorFlow. Nothing here imports
Keras or a backend: ``validate`` uses it to check what a backend cannot do.

Example:
    >>> choose("jax", "torch", environ={})
    'jax'
    >>> choose(None, None, environ={"KERAS_BACKEND": "torch"}, config=None)
    'torch'
    >>> install_command("torch")
    "pip install 'modelspec[torch]'"
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from .errors import ModelSpecError, did_you_mean

#: The Keras backends modelspec builds and trains on, the default first.
BACKENDS: tuple[str, ...] = ("tensorflow", "jax", "torch")
DEFAULT = "tensorflow"
#: The module each backend imports (what must be installed).
_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}

#: The backends each export format can be written from, through Keras's own
#: exporters (``model.save``, ``model.export``), as measured with Keras 3.15:
#: a SavedModel from JAX goes through jax2tf, ONNX from JAX needs ``jax2onnx``
#: (and OpenVINO from JAX goes through that ONNX); from PyTorch, Keras's
#: SavedModel needs ``torch_xla`` (no wheel for modelspec's torch) and its LiteRT
#: ``litert-torch`` (it would downgrade pydantic). A ``.keras`` file loads on any backend.
EXPORT_BACKENDS: dict[str, tuple[str, ...]] = {
    "keras": BACKENDS,
    "saved_model": ("tensorflow", "jax"),
    "litert": ("tensorflow",),
    "onnx": BACKENDS,
    "openvino": BACKENDS,
}


def export_problem(fmt: str, name: str) -> str | None:
    """Why format ``fmt`` cannot be exported from backend ``name`` (one line), or ``None``.

    Example:
        >>> export_problem("onnx", "jax") is None
        True
        >>> print(export_problem("litert", "jax"))  # doctest: +ELLIPSIS
        litert export needs the tensorflow backend. Received: the jax backend. Export with ...
    """
    able = EXPORT_BACKENDS.get(fmt, BACKENDS)
    if name in able:
        return None
    return (
        f"{fmt} export needs the {' or '.join(able)} backend. Received: the {name} backend. "
        f"Export with --backend {able[0]}: a .keras file or a run directory from any "
        "backend loads there."
    )


class BackendError(ModelSpecError):
    """A backend that is unknown, not installed, or not the one Keras already runs."""


def _config_backend() -> str | None:
    """The backend in Keras's config file (``$KERAS_HOME/keras.json``), if it names one."""
    home = os.environ.get("KERAS_HOME") or str(Path("~/.keras").expanduser())
    try:
        text = (Path(home) / "keras.json").read_text(encoding="utf-8")
        value = json.loads(text).get("backend")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def choose(
    flag: str | None,
    spec: str | None,
    *,
    environ: Mapping[str, str] | None = None,
    config: str | bool | None = True,
) -> str:
    """The backend to run: ``flag`` (``--backend``), else the spec's, else
    ``KERAS_BACKEND``, else Keras's config file, else TensorFlow.

    Args:
        flag: ``--backend`` from the command line, or ``None``.
        spec: The spec's ``backend:``, or ``None``.
        environ: The environment (default ``os.environ``).
        config: The config file's backend; ``True`` reads it.

    Returns:
        A name in :data:`BACKENDS` (an unknown name raises).

    Raises:
        BackendError: The chosen name is not a backend.
    """
    environ = os.environ if environ is None else environ
    if config is True:
        config = _config_backend()
    for name, origin in (
        (flag, "--backend"),
        (spec, "the spec's `backend:`"),
        (environ.get("KERAS_BACKEND"), "KERAS_BACKEND"),
        (config or None, "Keras's config file (keras.json)"),
    ):
        if name:
            return check_name(name, origin)
    return DEFAULT


def check_name(name: str, origin: str | None = "--backend") -> str:
    """``name`` if it is a backend, else a :class:`BackendError` with did-you-mean.

    Example:
        >>> try:
        ...     check_name("tensorflw")
        ... except BackendError as err:
        ...     print(err)
        --backend: expected one of tensorflow, jax, torch. Received: 'tensorflw'. Did you...
    """
    if name in BACKENDS:
        return name
    hint = did_you_mean(name, BACKENDS)
    where = f"{origin}: " if origin else ""
    raise BackendError(f"{where}expected one of {', '.join(BACKENDS)}. Received: {name!r}.{hint}")


def install_command(name: str) -> str:
    """The command that installs a backend for modelspec."""
    if name == "tensorflow":
        return "pip install tensorflow-cpu"
    return f"pip install 'modelspec[{name}]'"


def installed(name: str) -> bool:
    """Whether the backend's package can be imported (it is not imported)."""
    module = _MODULES[name]
    return module in sys.modules or importlib.util.find_spec(module) is not None


def running() -> str | None:
    """The backend Keras runs on in this process, or ``None`` before Keras is imported."""
    if "keras" not in sys.modules:
        return None
    import keras

    return str(keras.backend.backend())


def use(name: str) -> str:
    """Make ``name`` the backend of this process's Keras.

    Before Keras is imported this sets ``KERAS_BACKEND``; after, Keras's backend
    must already be ``name`` (Keras cannot switch in a running process).

    Raises:
        BackendError: ``name`` is not installed, or Keras already runs another backend.
    """
    current = running()
    if current is not None:
        if current != name:
            raise BackendError(
                f"expected the {name} backend. Received: Keras in this process already runs "
                f"on {current} (Keras picks its backend when it is first imported). Set "
                f"KERAS_BACKEND={name} before importing keras or modelspec's training API, "
                f"or run `modelspec ... --backend {name}`."
            )
        return name
    if not installed(name):
        raise BackendError(
            f"the {name} backend is not installed. Received: no module named "
            f"{_MODULES[name]!r}. Install it with `{install_command(name)}`."
        )
    os.environ["KERAS_BACKEND"] = name
    return name


#: The backend ``--backend`` chose for this process (it overrides a spec's ``backend:``).
_flag: str | None = None


def select(flag: str | None, spec: str | None) -> str:
    """Choose this process's backend (:func:`choose`) and :func:`use` it; a ``flag``
    (``--backend``) is remembered, so that a spec's own ``backend:`` gives way to it.

    Raises:
        BackendError: An unknown name, a backend that is not installed, or Keras
            already running another one.
    """
    global _flag
    name = use(choose(flag, spec))
    if flag is not None:
        _flag = name
    return name


def effective(spec: str | None, given: str | None = None, *, loading: bool = False) -> str:
    """The backend a spec is checked for: ``given`` (``validate --backend``); when
    ``loading`` it to build here, the one Keras runs; else the spec's own, else the
    one Keras runs, else the one it would run (:func:`choose`)."""
    if given is not None:
        return check_name(given)
    current = running()
    if loading and current:
        return current
    return spec or current or choose(_flag, spec)


def overridden() -> bool:
    """Whether ``--backend`` chose this process's backend."""
    return _flag is not None
