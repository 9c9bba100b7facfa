"""Tensor expressions as ``keras.ops`` calls on symbolic tensors.

The builder's :class:`~modelspec.spec.tensors.Algebra`: each operator and call
of an expression becomes the ``keras.ops`` function it names, so it is part of
the functional graph and saves and reloads with ``safe_mode=True``. Arithmetic
on plain numbers (``1.0 / 255``) stays Python arithmetic.

Example:
    >>> import keras
    >>> x = keras.Input((3,))
    >>> tuple(evaluate("mean(x * 2.0, axis=1, keepdims=True)", {"x": x}.__getitem__).shape)
    (None, 1)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..spec import tensors
from ..spec.tensors import constant_call


class KerasOps:
    """Evaluates an expression's parts with ``keras.ops``; ``lookup`` gives a node's output."""

    def __init__(self, lookup: Callable[[str], Any]) -> None:
        import keras

        self.ops = keras.ops
        self.lookup = lookup

    def node(self, name: str) -> Any:
        return self.lookup(name)

    def constant(self, value: Any) -> Any:
        return value

    def call(self, fn: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        constant = constant_call(fn, args, kwargs)
        if constant is not None:
            return constant
        return getattr(self.ops, fn)(*args, **kwargs)

    def item(self, value: Any, index: Any) -> Any:
        return value[index]

    def span(self, lower: Any, upper: Any, step: Any) -> Any:
        return slice(lower, upper, step)

    def sequence(self, items: list[Any], is_tuple: bool) -> Any:
        return tuple(items) if is_tuple else items


def evaluate(text: str, lookup: Callable[[str], Any]) -> Any:
    """The value of the tensor expression ``text``, each node name looked up with ``lookup``."""
    return tensors.interpret(text, KerasOps(lookup))
