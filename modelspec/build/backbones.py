"""Building the node types from outside ``keras.layers``: ``keras.applications``
models and KerasHub layers.

An ``applications.X`` node calls ``keras.applications.X`` (its ``input_shape``
the input's unless the spec gives one, ``weights`` null unless the spec says
``imagenet``) and calls the model it returns on the node's input: a nested
``keras.Model`` whose layers keep their Keras names. ImageNet weights are
downloaded once into Keras's cache folder; when that fails (offline), the error
names the file and the folder where a copy can be put.

Example:
    >>> import keras
    >>> x = keras.Input((32, 32, 3))
    >>> model = application("applications.MobileNetV2", "backbone",
    ...     {"include_top": False, "pooling": "avg", "alpha": 0.35}, x)
    >>> model.name, model(x).shape
    ('backbone', (None, 1280))
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
from collections.abc import Iterator
from typing import Any

from ..catalogue.backbones import APPLICATION_DEFAULTS, HUB_INSTALL, split_type

#: Seconds a stalled weights download may wait for the network before it fails.
DOWNLOAD_TIMEOUT = 30.0
_FETCH_FAILURE = re.compile(r"URL fetch failure on (\S+?): (?:None -- )?(.*)", re.DOTALL)


class Unavailable(Exception):
    """What a node needs cannot be had (weights offline, KerasHub not installed).

    Attributes:
        key: The node's key the problem is reported at (``weights``, ``type``).
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def keras_cache_folder() -> str:
    """Where Keras keeps downloaded weights (``~/.keras/models``, or under ``KERAS_HOME``)."""
    from keras.src.backend import config

    base = os.path.expanduser(config.keras_home())
    if not os.access(base, os.W_OK):  # what keras.utils.get_file falls back to
        base = os.path.join("/tmp", ".keras")
    return os.path.join(base, "models")


@contextlib.contextmanager
def _download_timeout(seconds: float) -> Iterator[None]:
    """A stalled download (a network that drops packets) fails instead of hanging."""
    before = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(before)


def _renamed(model: Any, name: str) -> Any:
    """``model``, named ``name``: renamed once built, as some applications look
    their own name up (EfficientNetV2 reads its block arguments by it)."""
    model.name = name
    return model


def application(type_name: str, name: str, args: dict[str, Any], inputs: Any) -> Any:
    """The ``keras.Model`` of the ``keras.applications`` node ``name``, for ``inputs``.

    Raises:
        Unavailable: ``weights: imagenet`` could not be downloaded.
    """
    import keras

    prefixed = split_type(type_name)
    assert prefixed is not None, type_name  # validated
    build = getattr(keras.applications, prefixed[1])
    args = APPLICATION_DEFAULTS | args
    if args.get("input_shape") is None and not isinstance(inputs, list | tuple | dict):
        args["input_shape"] = tuple(inputs.shape[1:])
    if args["weights"] != "imagenet":
        return _renamed(build(**args), name)
    try:
        with _download_timeout(DOWNLOAD_TIMEOUT):
            return _renamed(build(**args), name)
    except Exception as err:
        found = _FETCH_FAILURE.match(str(err))
        if found is None:
            raise
        url, reason = found.groups()
        file = url.rsplit("/", 1)[-1]
        raise Unavailable(
            "weights",
            f"could not download the ImageNet weights of {prefixed[1]} ({file}) from {url}: "
            f"{' '.join(reason.split())}. Without a network, put a copy of {file} in "
            f"{keras_cache_folder()} (Keras's cache; the KERAS_HOME environment variable "
            "moves it), or use weights: null.",
        ) from err


def hub_layer_class(type_name: str) -> type:
    """The ``keras_hub.layers`` class of a ``hub.X`` type.

    Raises:
        Unavailable: KerasHub is not installed.
    """
    prefixed = split_type(type_name)
    assert prefixed is not None, type_name  # validated
    try:
        import keras_hub
    except ImportError as err:
        raise Unavailable(
            "type",
            f"layer type '{type_name}' comes from KerasHub, which is not installed. "
            f"Install it with: {HUB_INSTALL}",
        ) from err
    cls: type = getattr(keras_hub.layers, prefixed[1])
    return cls
