"""``to_dataset``: a split as a batched ``tf.data.Dataset`` for ``model.fit``.

Example:
    >>> import numpy as np
    >>> split = Split({"x": np.zeros((10, 4), np.float32)}, [np.arange(10)])
    >>> [len(y) for _, y in to_dataset(split, batch_size=4)]
    [4, 4, 2]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .common import Split

if TYPE_CHECKING:
    import tensorflow as tf


def to_dataset(
    split: Split, *, batch_size: int, shuffle: bool = False, seed: int = 0
) -> tf.data.Dataset:
    """A batched ``tf.data.Dataset`` of ``(inputs, targets)`` for ``model.fit``.

    Inputs are a dict by input name (the bare array for a one-input model,
    which Keras expects unwrapped); targets are the array of a one-output
    model, else a tuple in output order, or a dict when the spec's
    ``outputs`` is a mapping. The dataset is cached, reshuffled each epoch
    when ``shuffle`` is set (buffer: the whole split), batched and prefetched.

    Args:
        split: The split to feed.
        batch_size: Samples per batch.
        shuffle: Shuffle (with ``seed``), differently each epoch.
        seed: The shuffle's seed.
    """
    import tensorflow as tf

    x: Any = next(iter(split.x.values())) if len(split.x) == 1 else dict(split.x)
    y: Any
    if split.y_names is not None and len(split.y) > 1:
        y = dict(zip(split.y_names, split.y, strict=True))
    else:
        y = tuple(split.y) if len(split.y) > 1 else split.y[0]
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    if shuffle:
        dataset = dataset.shuffle(max(len(split), 1), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
