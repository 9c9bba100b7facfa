"""The LiteRT format: a ``.tflite`` flatbuffer, run by the LiteRT interpreter.

Written with builtin ops when possible (every LiteRT runtime runs those); a
model that needs TensorFlow (Flex) ops fails its check with the layers that
need them. The provenance is an entry of the flatbuffer's metadata.

Example:
    >>> from modelspec.export.litert import LITERT
    >>> LITERT.default_path("ssd"), LITERT.runtime
    ('ssd.tflite', 'ai-edge-litert')
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ..provenance import PROVENANCE, dist_version, tf_version
from .check import ordered, output_keys
from .format import Format
from .locate import Located, layers_using_ops, op_types


def write(model: keras.Model, path: Path, notes: list[str]) -> None:
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
            found = ["/".join(p) for p in layers_using_ops(model, op_types(first))]
            notes.append(
                f"batch size fixed to 1: with a free batch size, "
                f"{', '.join(found) or 'some layers'} "
                "cannot be lowered to builtin LiteRT ops"
            )
            return
    model.export(str(path), format="litert", verbose=False)  # Keras's default (Flex ops)


def flex_ops(path: Path) -> list[str]:
    """The TensorFlow ops (Flex delegate) a ``.tflite`` model needs."""
    from tensorflow.lite.tools import flatbuffer_utils

    flat = flatbuffer_utils.read_model(str(path))
    codes = [c.customCode.decode() for c in flat.operatorCodes if c.customCode]
    return sorted({c.removeprefix("Flex") for c in codes if c.startswith("Flex")})


def run(path: Path, model: keras.Model, arrays: list[np.ndarray]) -> tuple[list[np.ndarray], str]:
    flex = flex_ops(path)
    if flex:
        layers = layers_using_ops(model, flex)
        raise Located(
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
        ordered(runner(**{n: a[r] for n, a in zip(names, arrays, strict=True)}), output_keys(model))
        for r in rows
    ]
    outputs = [np.concatenate(chunks) for chunks in zip(*parts, strict=True)]
    version = dist_version("ai-edge-litert") if runtime == "ai-edge-litert" else tf_version()
    return outputs, f"{runtime} {version}"


def stamp(path: Path, record: dict[str, Any]) -> None:
    """Write ``record`` into the ``.tflite`` file at ``path``."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    text = json.dumps(record, indent=1)
    flat = flatbuffer_utils.read_model(str(path))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(text.encode(), dtype=np.uint8)
    flat.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = PROVENANCE.encode(), len(flat.buffers) - 1
    flat.metadata = [*(flat.metadata or []), entry]
    flatbuffer_utils.write_model(flat, str(path))


def read(path: Path) -> dict[str, Any]:
    """The provenance the ``.tflite`` file at ``path`` carries."""
    from tensorflow.lite.tools import flatbuffer_utils

    flat = flatbuffer_utils.read_model(str(path))
    entry = next(m for m in flat.metadata or [] if m.name == PROVENANCE.encode())
    return dict(json.loads(flat.buffers[entry.buffer].data.tobytes()))


LITERT = Format(
    "litert",
    ".tflite",
    1e-4,
    runtime="ai-edge-litert",
    write=write,
    run=run,
    stamp=stamp,
    read=read,
)
