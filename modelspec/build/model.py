"""The model: a spec's graph into a compiled functional ``keras.Model``; reloading one.

Keras walks a functional graph recursively (about one Python frame per layer,
so ~1 000 layers exhaust the default recursion limit); the builder and
:func:`load_model` raise the limit for the duration, so 10 000-layer specs
build and reload.
"""

from __future__ import annotations

import contextlib
import os
import sys
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import catalogue, registry
from ..catalogue.backbones import HUB_INSTALL
from ..errors import BuildError, ModelLoadError, did_you_mean
from ..spec.loader import Document
from ..spec.schema import ModelSpec
from ..spec.validate import load_spec
from ..spec.validate.compile import losses_by_output
from ..spec.validate.context import output_names
from .graph import Graph, body_of, build_body, keras_message
from .trainable import check_patterns, sections, set_trainable

if TYPE_CHECKING:
    import keras

Source = str | os.PathLike[str] | Mapping[str, Any] | ModelSpec


@contextlib.contextmanager
def deep_graph(nodes: int) -> Iterator[None]:
    """Raise the recursion limit enough for Keras to walk a graph of ``nodes`` layers.

    Keras's graph walk is pure-Python recursion, which on CPython >= 3.11 uses
    no C stack, so a higher limit is safe.
    """
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 20 * nodes + 2_000))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


class _Model:
    """The model's graph, its outputs, and its compile section."""

    def __init__(self, spec: ModelSpec, adapt_data: Mapping[str, Any] | None = None) -> None:
        import keras

        self.keras = keras
        self.spec = spec
        self.graph = Graph(spec.document, spec.layers, [i.name for i in spec.inputs])
        self.graph.adapt_data = adapt_data

    def build(self, front: Mapping[str, tuple[Any, Any]] | None = None) -> keras.Model:
        """The functional model; ``front`` maps input names to ``(model input,
        tensor the graph starts from)`` in place of a fresh ``keras.Input``."""
        spec = self.spec
        keras = self.keras
        graph = self.graph
        front = front or {}
        starts = graph.start(spec.inputs, given={k: v[1] for k, v in front.items()})
        inputs = [
            front[i.name][0] if i.name in front else t
            for i, t in zip(spec.inputs, starts, strict=True)
        ]
        graph.run()
        try:
            outputs = self.named_outputs()
            model = keras.Model(
                inputs=inputs[0] if len(inputs) == 1 else inputs, outputs=outputs, name=spec.name
            )
        except Exception as err:
            raise graph.fail(("outputs",), None, keras_message(err)) from err
        stage = 0 if spec.train is not None and spec.train.stages else None
        if spec.train is not None and (spec.train.trainable or spec.train.stages):
            check_patterns(model, spec)  # a backbone's layers are known only now
            set_trainable(model, sections(spec, stage), spec.document)
        if spec.compile is not None:
            self.compile(model, stage_optimizer(spec, stage))
        return model

    def named_outputs(self) -> Any:
        """The outputs; an op or expression output whose operation could not take its
        node's name (``expr: "a"`` is node a's output) passes through an ``Identity``
        layer with that name, so the model's output has it (losses and metrics are
        keyed by it)."""
        spec = self.spec
        graph = self.graph
        computed = {n.name for n in spec.layers if n.op is not None or n.expr is not None}
        outputs = graph.outputs(spec.output_refs, isinstance(spec.outputs, dict))
        if not computed:
            return outputs
        refs = list(spec.output_refs.values())
        named = []
        values = (
            list(outputs.values())
            if isinstance(outputs, dict)
            else (outputs if isinstance(outputs, list) else [outputs])
        )
        for ref, value in zip(refs, values, strict=True):
            node = graph.doc.aliases.get(ref, ref)
            history = getattr(value, "_keras_history", None)
            own = getattr(getattr(history, "operation", None), "name", None) == node
            if node in computed and not own:
                value = self.keras.layers.Identity(name=node)(value)
            named.append(value)
        if isinstance(outputs, dict):
            return dict(zip(outputs, named, strict=True))
        return named if isinstance(outputs, list) else named[0]

    def compile(self, model: keras.Model, optimizer: str | Mapping[str, Any] | None = None) -> None:
        section = self.spec.compile
        assert section is not None

        def names(value: Any, namespace: str) -> Any:
            if isinstance(value, list):
                return [names(v, namespace) for v in value]
            if isinstance(value, dict) and "type" not in value:
                return {k: names(v, namespace) for k, v in value.items()}
            return self.made(namespace, value)

        loss, loss_weights = self.per_output(section.loss, section.loss_weights)

        train = self.spec.train
        knobs: dict[str, Any] = {}
        if train is not None:  # compile-time knobs of `train:`
            knobs = {
                "steps_per_execution": train.steps_per_execution,
                "jit_compile": train.jit_compile,
            }
        try:
            model.compile(
                optimizer=make_optimizer(optimizer or section.optimizer),
                loss=names(loss, "losses"),
                loss_weights=loss_weights,
                metrics=names(section.metrics, "metrics"),
                **knobs,
            )
            # Built now, the optimizer's variables exist when the model is saved
            # (no "skipping optimizer variables" warning on reload) and fit() starts faster.
            model.optimizer.build(model.trainable_variables)
        except Exception as err:
            raise self.graph.fail(("compile",), None, keras_message(err, "compiling")) from err

    def made(self, namespace: str, value: Any) -> Any:
        """A loss or metric for ``model.compile``: a name Keras resolves, a registered
        object, or ``{type: Class, **args}`` made with Keras's (or the registered) class."""
        if not isinstance(value, dict):
            return None if value is None else self.graph.named(namespace, value)
        type_name = str(value["type"])
        args = {k: v for k, v in value.items() if k not in ("type", "name")}
        named = {"name": value["name"]} if "name" in value else {}
        obj = registry.REGISTRIES[namespace].get(type_name)
        if obj is not None:
            return obj(**args, **named) if isinstance(obj, type) else obj
        sig = catalogue.keras_class(namespace, type_name)
        assert sig is not None, type_name  # validated
        module = self.keras.losses if namespace == "losses" else self.keras.metrics
        return getattr(module, sig.type)(**self.graph.convert(sig, args, type_name), **named)

    def per_output(self, loss: Any, weights: Any) -> tuple[Any, Any]:
        """The loss and loss weights in the outputs' structure when an output has no
        loss: Keras takes ``None`` for it, and a weight for every output."""
        spec = self.spec
        names = output_names(spec.document.data.get("outputs"))
        per_output = losses_by_output(loss, names)
        if per_output is None or all(v is not None for v in per_output.values()):
            return loss, weights
        if isinstance(weights, list) and isinstance(loss, dict):  # one per loss, in its order
            weights = dict(zip([n for n in loss if loss[n] is not None], weights, strict=True))
        if isinstance(weights, dict):
            weights = {n: float(weights.get(n, 1.0)) for n in names}
        if isinstance(spec.outputs, dict):
            return per_output, weights
        listed = list(weights.values()) if isinstance(weights, dict) else weights
        return list(per_output.values()), listed


def start_stage(model: keras.Model, spec: ModelSpec, stage: int | None) -> None:
    """Set which layers train in a stage of ``train.stages`` (``None``: a run without
    stages) and compile the model again with the stage's optimizer, its state fresh.

    Raises:
        BuildError: A pattern matches no layer (checked by :func:`build_model` already).

    Example:
        >>> spec = load_spec("specs/antirectifier_digits.yaml")
        >>> model = build_model(spec)
        >>> start_stage(model, spec, None)
        >>> int(model.optimizer.iterations)
        0
    """
    with deep_graph(graph_size(spec.document)):
        set_trainable(model, sections(spec, stage), spec.document)
        if spec.compile is not None:
            _Model(spec).compile(model, stage_optimizer(spec, stage))


def stage_optimizer(spec: ModelSpec, stage: int | None) -> str | Mapping[str, Any] | None:
    """A stage's optimizer: its own, else ``compile.optimizer``, with the stage's
    ``learning_rate`` if it gives one (``None``: the compile section's as it is).

    Example:
        >>> spec = load_spec('''
        ... modelspec: 1
        ... name: s
        ... inputs: [{name: x, shape: [2]}]
        ... layers: [{name: y, type: Dense, units: 1}]
        ... outputs: [y]
        ... compile: {optimizer: adam, loss: mse}
        ... train: {data: {source: sklearn, name: iris}, stages: [{epochs: 1, learning_rate: 0.1}]}
        ... ''')
        >>> stage_optimizer(spec, 0)
        {'type': 'adam', 'learning_rate': 0.1}
    """
    if stage is None or spec.train is None or not spec.train.stages:
        return None
    settings = spec.train.stages[stage]
    optimizer = settings.optimizer
    if optimizer is None:
        optimizer = spec.compile.optimizer if spec.compile is not None else "adam"
    if settings.learning_rate is None:
        return optimizer
    given = {"type": optimizer} if isinstance(optimizer, str) else dict(optimizer)
    return given | {"learning_rate": settings.learning_rate}


def make_optimizer(spec: str | Mapping[str, Any]) -> keras.optimizers.Optimizer:
    """A Keras optimizer from its spec: a name, or ``{type: adam, **args}`` whose
    ``learning_rate`` may be a schedule ``{type: ExponentialDecay, **args}``.

    Example:
        >>> type(make_optimizer({"type": "sgd", "learning_rate": 0.1})).__name__
        'SGD'
    """
    import keras

    def instance(section: str, value: str | Mapping[str, Any]) -> Any:
        name = value if isinstance(value, str) else str(value["type"])
        sig = catalogue.keras_class(section, name)
        if sig is None:
            raise ValueError(f"unknown {section[:-1]} '{name}'")
        module = keras.optimizers if section == "optimizers" else keras.optimizers.schedules
        args = {} if isinstance(value, str) else {k: v for k, v in value.items() if k != "type"}
        if isinstance(args.get("learning_rate"), Mapping):
            args["learning_rate"] = instance("schedules", args["learning_rate"])
        momentum = args.get("momentum")
        if sig.type == "SGD" and isinstance(momentum, int) and not isinstance(momentum, bool):
            args["momentum"] = float(momentum)  # Keras's SGD refuses momentum=1 (an int)
        return getattr(module, sig.type)(**args)

    optimizer: keras.optimizers.Optimizer = instance("optimizers", spec)
    return optimizer


def build_model(
    spec: Source,
    *,
    plugins: Iterable[str] = (),
    allow_imports: bool = False,
    block: str | None = None,
    adapt_data: Mapping[str, Any] | None = None,
    front: Mapping[str, tuple[Any, Any]] | None = None,
) -> keras.Model:
    """Build the functional Keras model a spec describes, or one of its blocks alone.

    Args:
        spec: A :class:`ModelSpec`, a path, YAML text, or a mapping.
        plugins: Modules to import first (they register custom layers...).
        allow_imports: Honour the spec's ``imports:`` (it runs their code).
        block: Build this block alone (a VAE's decoder), with the params of its
            first instance (its defaults when no node uses it) and its inputs'
            declared shapes, else the shapes of its first use in the model.
        front: ``{input name: (model input, tensor)}``: the model takes
            ``model input`` (a ``keras.Input``) where the spec declares that
            input, and the graph starts from ``tensor`` (computed from it, e.g.
            by preprocessing layers); the other inputs are made as declared.

    Returns:
        A ``keras.Model``, compiled when the spec has a ``compile:`` section
        (a block alone is not compiled).

    Raises:
        SpecError: The spec is invalid (every error at once).
        BuildError: Keras refused a node; located at that node's line.

    Example:
        >>> build_model("specs/antirectifier_digits.yaml").name
        'antirectifier_digits'
    """
    loaded = load_spec(spec, plugins=plugins, allow_imports=allow_imports)
    with deep_graph(graph_size(loaded.document)):
        if block is not None:
            return _block(loaded, block)
        return _Model(loaded, adapt_data).build(front)


def graph_size(doc: Document) -> int:
    """How many nodes a document's graph has, block bodies included (for :func:`deep_graph`)."""
    layers = doc.data.get("layers") if isinstance(doc.data, dict) else None
    count = len(layers) if isinstance(layers, list) else 0
    return count + sum(
        graph_size(body) for body in (*doc.bodies.values(), *doc.definitions.values())
    )


def _first_use(doc: Document, block: str) -> list[str] | None:
    """The instance names leading to the first instance of ``block`` (depth first)."""
    for node in doc.data.get("layers", []):
        name = node.get("name")
        if node.get("block") == block:
            return [name]
        if name in doc.bodies:
            inner = _first_use(doc.bodies[name], block)
            if inner is not None:
                return [name, *inner]
    return None


def _block(spec: ModelSpec, name: str) -> keras.Model:
    """Block ``name`` built alone (see :func:`build_model`)."""
    doc = spec.document
    if name not in spec.blocks:
        known = list(spec.blocks)
        hint = did_you_mean(name, known) or (
            f" Known: {', '.join(known)}." if known else " This spec has no blocks."
        )
        raise BuildError([doc.diagnostic(("blocks",), f"unknown block '{name}'.{hint}")])
    definition = doc.definitions.get(name)
    chain = _first_use(doc, name)
    if definition is None and chain is not None:
        host = doc
        for instance in chain[:-1]:
            host = host.bodies[instance]
        definition = host.bodies[chain[-1]]
    assert definition is not None  # every block is used, or has a definition
    body = body_of(definition)
    if chain is None or all(i.shape is not None for i in body.inputs):
        return build_body(body, name)
    used = _Model(spec).build()
    for instance in chain:  # the first use, shaped by the model
        used = used.get_layer(instance)
    return build_body(body, name, like=used.inputs)


def _import_keras_hub_for(target: Path) -> None:
    """Import KerasHub (it registers its layers with Keras) when the saved model uses
    its layers; without KerasHub installed, say how to install it."""
    try:
        with zipfile.ZipFile(target) as archive:
            uses_hub = '"keras_hub' in archive.read("config.json").decode("utf-8", "replace")
    except (OSError, KeyError, zipfile.BadZipFile):
        return  # Keras's own load reports what is wrong with the file
    if not uses_hub:
        return
    try:
        import keras_hub  # noqa: F401
    except ImportError:
        raise ModelLoadError(
            f"{target} has KerasHub layers, and KerasHub is not installed. Install it with: "
            f"{HUB_INSTALL}"
        ) from None


def load_model(path: str | os.PathLike[str], *, plugins: Iterable[str] = ()) -> keras.Model:
    """Reload a saved ``.keras`` model with ``safe_mode=True``.

    Imports modelspec's shipped layers and ``plugins`` first so their classes
    are registered, and allows graphs deeper than Keras's default recursion
    limit permits.

    Example:
        >>> import tempfile
        >>> path = f"{tempfile.mkdtemp()}/siamese.keras"
        >>> build_model("specs/siamese.yaml").save(path)
        >>> load_model(path).name
        'siamese_digits'
    """
    import keras

    from .. import layers  # noqa: F401  (registers the shipped layers)
    from ..plugins import load_plugins

    load_plugins(plugins)
    target = Path(path)
    if not target.is_file():
        raise ModelLoadError(f"expected a .keras file. Received: {target} (no such file)")
    if not zipfile.is_zipfile(target):
        raise ModelLoadError(
            f"expected a .keras file (a zip archive). Received: {target}, which is not one: "
            "cut short while being written, or another format. Save or export it again."
        )
    _import_keras_hub_for(target)
    try:
        with deep_graph(20_000):
            return keras.saving.load_model(target, safe_mode=True)
    except Exception as err:
        text = " ".join(str(err).split())
        if "safe_mode" in text:
            reason = text.split(". ")[0]
            raise ModelLoadError(
                f"{target} cannot be loaded in Keras safe mode, the only way modelspec loads "
                f"models: {reason}. Rebuild the model without it (register a custom layer "
                "instead of a Lambda)."
            ) from err
        raise ModelLoadError(
            f"cannot load {target}: {type(err).__name__}: {text[:400]}. It may come from "
            "another Keras version, or need a plugin (--plugin) for its custom layers."
        ) from err
