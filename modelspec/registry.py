"""Registries of the custom objects a spec can name.

One small class, one instance per kind of object. Registering also registers
the object with Keras serialization (``keras.saving.register_keras_serializable``)
so a saved model reloads with ``safe_mode=True`` and no ``custom_objects``.

Example:
    >>> import keras
    >>> from modelspec import register_layer
    >>> @register_layer
    ... class Scale(keras.layers.Layer):
    ...     def __init__(self, factor: float = 2.0, **kwargs):
    ...         super().__init__(**kwargs)
    ...         self.factor = factor
    ...     def call(self, x):
    ...         return x * self.factor
    ...     def get_config(self):
    ...         return {**super().get_config(), "factor": self.factor}
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from . import catalogue, plugins
from .catalogue import LayerSignature
from .errors import RegistryError

T = TypeVar("T")
#: Where modelspec's own layers, activations and losses live: they may take built-in names.
SHIPPED_PACKAGE = "modelspec.layers"


@dataclass(frozen=True)
class Entry:
    """A registered object and who registered it."""

    name: str
    obj: Any
    origin: str


def _origin(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or "?"
    return f"{module}.{getattr(obj, '__qualname__', repr(obj))}"


class Registry:
    """Named objects of one kind (layers, activations, losses...).

    Args:
        kind: Singular noun used in messages (``layer``, ``activation``...).
        namespace: The catalogue namespace checked for clashes with built-ins.
        keras_serializable: Also register with Keras serialization (objects that
            end up inside saved models).
    """

    def __init__(self, kind: str, namespace: str, *, keras_serializable: bool = True) -> None:
        self.kind = kind
        self.namespace = namespace
        self.keras_serializable = keras_serializable
        self._entries: dict[str, Entry] = {}

    @overload
    def register(self, name: T, *, force: bool = False) -> T: ...
    @overload
    def register(self, name: str | None = None, *, force: bool = False) -> Callable[[T], T]: ...
    def register(self, name: Any = None, *, force: bool = False) -> Any:
        """Register an object; usable as ``@register``, ``@register("name")`` or a call.

        Args:
            name: The name specs use; defaults to the object's ``__name__``.
                May also be the object itself (bare decorator use).
            force: Replace an existing registration instead of failing.

        Raises:
            RegistryError: The name is taken (the message names who took it)
                or shadows a built-in Keras name.
        """
        if name is not None and not isinstance(name, str):
            return self._add(name, None, force)

        def decorator(obj: T) -> T:
            return self._add(obj, name, force)

        return decorator

    def _add(self, obj: T, name: str | None, force: bool) -> T:
        key = name or getattr(obj, "__name__", None)
        if not key or not isinstance(key, str):
            raise RegistryError(f"cannot register {obj!r}: pass a name=")
        if not force:
            if key in self._entries and self._entries[key].obj is not obj:
                first = self._entries[key].origin
                raise RegistryError(
                    f"{self.kind} '{key}' is already registered by {first} (registered "
                    f"first); cannot register {_origin(obj)} under the same name. "
                    "Choose another name, or pass force=True to replace it."
                )
            shipped = _origin(obj).startswith(f"{SHIPPED_PACKAGE}.")
            builtin = not shipped and (
                catalogue.keras_layer(key) is not None
                if self.namespace == "layers"
                else key in catalogue.builtin_names(self.namespace)
            )
            if builtin:
                raise RegistryError(
                    f"{self.kind} '{key}' is a built-in name; registering "
                    f"{_origin(obj)} under it would shadow the built-in. Choose another "
                    "name, or pass force=True to replace it."
                )
        self._register_with_keras(obj, key)
        self._entries[key] = Entry(key, obj, _origin(obj))
        return obj

    def _register_with_keras(self, obj: Any, name: str) -> None:
        if not callable(obj):
            raise RegistryError(f"cannot register {obj!r} as a {self.kind}: not callable")
        if not self.keras_serializable:
            return
        if isinstance(obj, type) and not hasattr(obj, "get_config"):
            raise RegistryError(
                f"cannot register {_origin(obj)} as a {self.kind}: it has no get_config()"
            )
        import keras

        keras.saving.register_keras_serializable(package=self._package, name=name)(obj)

    @property
    def _package(self) -> str:
        return "modelspec" if self.namespace == "layers" else f"modelspec.{self.namespace}"

    def keras_names(self) -> set[str]:
        """The names Keras serialization knows the entries by (``modelspec>Antirectifier``),
        as a saved model's ``registered_name`` says them."""
        if not self.keras_serializable:
            return set()
        return {f"{self._package}>{name}" for name in self._entries}

    def get(self, name: str) -> Any | None:
        """The object registered as ``name``, or ``None``."""
        entry = self._entries.get(name)
        return entry.obj if entry else None

    def unregister(self, name: str) -> None:
        """Forget ``name`` (for tests and interactive sessions)."""
        self._entries.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def entries(self) -> list[Entry]:
        """Every entry, sorted by name."""
        return [self._entries[k] for k in sorted(self._entries)]


layers = Registry("layer", "layers")
activations = Registry("activation", "activations")
losses = Registry("loss", "losses")
metrics = Registry("metric", "metrics")
initializers = Registry("initializer", "initializers")
regularizers = Registry("regularizer", "regularizers")
constraints = Registry("constraint", "constraints")
#: Data functions for ``train.data: {source: function, name: ...}``: called with
#: the entry's ``args``, they return ``{name: array}`` with the model's input and
#: output names (or ``x``/``y``), or ``(x, y)``.
datasets = Registry("data function", "datasets", keras_serializable=False)

REGISTRIES: dict[str, Registry] = {
    r.namespace: r
    for r in (
        layers,
        activations,
        losses,
        metrics,
        initializers,
        regularizers,
        constraints,
        datasets,
    )
}

register_layer = layers.register
register_activation = activations.register
register_loss = losses.register
register_metric = metrics.register
register_initializer = initializers.register
register_regularizer = regularizers.register
register_constraint = constraints.register
register_dataset = datasets.register


def layer_signature(type_name: str) -> LayerSignature | None:
    """A layer type's signature: registered, else built in, else from entry-point plugins.

    Example:
        >>> layer_signature("Dense").source
        'keras'
    """
    for attempt in range(2):
        cls = layers.get(type_name)
        if cls is not None:
            shipped = cls.__module__.startswith(f"{SHIPPED_PACKAGE}.")
            source = "modelspec" if shipped else "registered"
            return catalogue.signature_from_class(type_name, cls, source)
        sig = catalogue.keras_layer(type_name)
        if sig is not None or attempt:
            return sig
        plugins.load_entry_point_plugins()
    return None
