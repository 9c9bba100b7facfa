"""Which layers train: ``train.trainable`` and each stage's patterns, on a built model.

A pattern is a glob over node (layer) names; ``node/layer-glob`` reaches the
layers of a nested model (a block instance, a ``keras.applications`` backbone,
any ``keras.Model`` inside the model), at any depth: ``a/b/c*``. A stage's
layers are worked out from the model *as built*: ``train.trainable``'s
``freeze`` then ``unfreeze``, the stage's ``freeze`` then ``unfreeze``, then
``keep_frozen`` (layer class names) inside every part a pattern touched.

Keras cascades ``layer.trainable`` to a nested model's layers, and a frozen
model hides its layers' weights; so a nested model with any training layer
inside is set trainable and its other layers frozen one by one.

Example:
    >>> import keras
    >>> inner = keras.Sequential([keras.layers.Dense(2, name="a"),
    ...     keras.layers.BatchNormalization(name="bn"), keras.layers.Dense(2, name="b")],
    ...     name="backbone")
    >>> x = keras.Input((3,))
    >>> model = keras.Model(x, keras.layers.Dense(1, name="head")(inner(x)))
    >>> matched = set_trainable(model, [({"freeze": ["backbone"],
    ...     "unfreeze": ["backbone/*"], "keep_frozen": ["BatchNormalization"]}, ())])
    >>> [w.path for w in model.trainable_weights if w.path.endswith("kernel")]
    ['backbone/a/kernel', 'backbone/b/kernel', 'head/kernel']
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping, Sequence
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from ..errors import BuildError, clipped, did_you_mean, listed
from ..spec.loader import Document, PathT
from ..spec.schema import ModelSpec, TrainableSpec

if TYPE_CHECKING:
    import keras

#: One ``trainable:`` section and where it is written (its YAML path).
Section = tuple[TrainableSpec | Mapping[str, Any], PathT]

#: Each model's layers' ``trainable`` as built, before any pattern changed them.
_AS_BUILT: weakref.WeakKeyDictionary[Any, dict[int, bool]] = weakref.WeakKeyDictionary()


def sections(spec: ModelSpec, stage: int | None) -> list[Section]:
    """The ``trainable:`` sections that apply in a stage (``None``: a run without stages).

    Example:
        >>> from modelspec import load_spec
        >>> sections(load_spec("specs/antirectifier_digits.yaml"), None)
        []
    """
    train = spec.train
    found: list[Section] = []
    if train is None:
        return found
    if train.trainable is not None:
        found.append((train.trainable, ("train", "trainable")))
    if train.stages and stage is not None:
        own = train.stages[stage].trainable
        if own is not None:
            found.append((own, ("train", "stages", stage, "trainable")))
    return found


def check_patterns(model: keras.Model, spec: ModelSpec) -> None:
    """Every pattern of the spec matches a layer (the ones inside a backbone can be
    checked only now); raise a located :class:`BuildError` otherwise."""
    train = spec.train
    if train is None:
        return
    for stage in range(len(train.stages or [])) if train.stages else [None]:
        _matches(model, sections(spec, stage), spec.document)


def set_trainable(
    model: keras.Model, found: Sequence[Section], doc: Document | None = None
) -> list[keras.layers.Layer]:
    """Set which of ``model``'s layers train, from the sections' patterns applied to
    the model as built; returns the layers the patterns touched.

    Raises:
        BuildError: A pattern matches no layer (at its line in ``doc``).
    """
    touched = _matches(model, found, doc or Document(data={}))
    base = _AS_BUILT.setdefault(model, {id(layer): layer.trainable for layer in _tree(model)})
    flags = dict(base)
    keep: set[str] = set()
    for section, _ in found:
        keep |= set(_fields(section)[2])
    for layer, value in touched:
        for inner in _tree(layer):
            flags[id(inner)] = value
    for layer, _ in touched:
        for inner in _tree(layer):
            if type(inner).__name__ in keep:
                for part in _tree(inner):
                    flags[id(part)] = False
    _apply(model, flags, top=True)
    return [layer for layer, _ in touched]


def _fields(section: TrainableSpec | Mapping[str, Any]) -> tuple[list[str], list[str], list[str]]:
    if isinstance(section, TrainableSpec):
        return section.freeze, section.unfreeze, section.keep_frozen
    return (
        list(section.get("freeze", [])),
        list(section.get("unfreeze", [])),
        list(section.get("keep_frozen", [])),
    )


def _matches(
    model: keras.Model, found: Sequence[Section], doc: Document
) -> list[tuple[keras.layers.Layer, bool]]:
    """``(layer, trains)`` for each layer each pattern matches, in the order applied."""
    result = []
    for section, path in found:
        freeze, unfreeze, _ = _fields(section)
        for key, patterns, value in (("freeze", freeze, False), ("unfreeze", unfreeze, True)):
            for j, pattern in enumerate(patterns):
                layers = _match(model, pattern, doc, (*path, key, j))
                result += [(layer, value) for layer in layers]
    return result


def _match(model: keras.Model, pattern: str, doc: Document, path: PathT) -> list[Any]:
    """The layers ``pattern`` names, one ``/``-separated glob per nesting level."""
    current: list[Any] = [model]
    parts = pattern.split("/")
    for depth, part in enumerate(parts):
        found = [
            layer
            for parent in current
            for layer in _children(parent)
            if fnmatchcase(layer.name, part)
        ]
        if depth < len(parts) - 1:
            found = [layer for layer in found if _children(layer)]
        if not found:
            raise BuildError([doc.diagnostic(path, _no_match(current, parts, depth))])
        current = found
    return current


def _no_match(parents: list[Any], parts: list[str], depth: int) -> str:
    part = parts[depth]
    pattern = "/".join(parts)
    names = [layer.name for parent in parents for layer in _children(parent)]
    if depth < len(parts) - 1 and any(fnmatchcase(n, part) for n in names):
        return (
            f"pattern '{clipped(pattern)}' reaches inside '{clipped(part)}', which is not a "
            "nested model (a block instance or a backbone): only a model's layers can be "
            "matched with 'node/layer-glob'"
        )
    where = "the model" if depth == 0 else ", ".join(p.name for p in parents)
    shown_names = listed(names[:8]) + (", ..." if len(names) > 8 else "")
    return (
        f"pattern '{clipped(pattern)}' matched no layer in {clipped(where)} (its layers are "
        f"named like {shown_names}).{did_you_mean(part, names)}"
    )


def _children(layer: Any) -> list[Any]:
    """The layers of a nested model (``[]`` for any other layer)."""
    import keras

    return list(layer.layers) if isinstance(layer, keras.Model) else []


def _tree(layer: Any) -> Iterator[Any]:
    """A layer and every layer nested inside it, through nested models."""
    yield layer
    for child in _children(layer):
        yield from _tree(child)


def _apply(layer: Any, flags: dict[int, bool], top: bool = False) -> None:
    """Set ``trainable`` as ``flags`` say; a nested model trains when any layer of
    it does (setting it cascades to its layers, so they are set after it)."""
    children = _children(layer)
    if not children:
        layer.trainable = flags.get(id(layer), layer.trainable)
        return
    if top or any(flags.get(id(inner), False) for inner in _tree(layer)):
        layer.trainable = True
        for child in children:
            _apply(child, flags)
    else:
        layer.trainable = False
