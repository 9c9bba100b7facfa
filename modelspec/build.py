"""Build a functional Keras model from a validated spec.

The first stage that imports Keras. Nodes are built in
topological order; an error Keras raises for a node (a shape or dtype
mismatch) becomes a :class:`~modelspec.errors.BuildError` at that node's line.
Keras walks a functional graph recursively (about one Python frame per layer,
so ~1 000 layers exhaust the default recursion limit); the builder and
:func:`load_model` raise the limit for the duration, so 10 000-layer specs
build and reload.

Example:
    >>> model = build_model("specs/antirectifier_digits.yaml")
    >>> model.count_params()
    153098
"""

from __future__ import annotations

import contextlib
import os
import sys
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import catalogue, registry
from .catalogue import KINDS, LayerSignature
from .errors import BuildError, ModelLoadError
from .files import spec_path
from .spec.graph import effective_inputs, iter_refs, parse_ref, topological_order
from .spec.schema import LayerNode, ModelSpec
from .spec.validate import load_spec

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


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


class _Builder:
    def __init__(self, spec: ModelSpec) -> None:
        import keras

        from . import layers  # noqa: F401  (registers the shipped layers)

        self.keras = keras
        self.spec = spec
        self.doc = spec.document
        self.resolve = registry.layer_signature
        self.tensors: dict[str, Any] = {}
        self.layers: dict[str, Any] = {}

    def fail(self, path: tuple[str | int, ...], node: str | None, message: str) -> BuildError:
        return BuildError([self.doc.diagnostic(path, message, node=node)])

    # -- layers ------------------------------------------------------------
    def layer_class(self, type_name: str) -> Any:
        cls = registry.layers.get(type_name)
        return cls if cls is not None else getattr(self.keras.layers, type_name)

    def named(self, namespace: str, value: Any) -> Any:
        """A registered object for a name Keras would not resolve by itself."""
        obj = registry.REGISTRIES[namespace].get(value) if isinstance(value, str) else None
        if obj is None:
            return value
        return obj() if isinstance(obj, type) else obj

    def convert(self, sig: LayerSignature, args: dict[str, Any], owner: str) -> dict[str, Any]:
        result = {}
        for key, value in args.items():
            info = sig.args[key]
            kind = info.kind
            if value is None:
                pass
            elif kind is KINDS["layer"]:
                value = self.make_layer(value, f"{owner}_{key}")
            elif kind is KINDS["layers"]:
                value = [self.make_layer(v, f"{owner}_{key}_{i}") for i, v in enumerate(value)]
            elif kind.names:
                value = self.named(kind.names, value)
            elif kind is KINDS["file_or_list"] and isinstance(value, str):
                value = str(spec_path(self.doc.base_dir, value))  # relative to the spec
            elif info.is_tuple or kind in (KINDS["int_or_ints"], KINDS["shape"]):
                value = _tuples(value)
            result[key] = value
        return result

    def make_layer(self, spec: dict[str, Any], name: str) -> Any:
        type_name = spec["type"]
        sig = self.resolve(type_name)
        assert sig is not None, type_name  # validated
        args = {k: v for k, v in spec.items() if k not in ("type", "name")}
        return self.layer_class(type_name)(
            name=spec.get("name", name), **self.convert(sig, args, name)
        )

    # -- wiring ------------------------------------------------------------
    def tensor(self, text: str) -> Any:
        ref = parse_ref(text)
        assert ref is not None
        value = self.tensors[ref.node]
        if ref.index is not None:
            if not isinstance(value, list | tuple):
                raise ValueError(
                    f"'{ref.node}' has a single output, so it cannot be indexed. Received: {text}"
                )
            if not -len(value) <= ref.index < len(value):
                raise ValueError(
                    f"'{ref.node}' has {len(value)} outputs (indices 0 to {len(value) - 1}). "
                    f"Received: {text}"
                )
            value = value[ref.index]
        return value

    def resolve_field(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.tensor(v) for v in value]
        if not isinstance(value, str):
            return value  # a literal call argument: use_causal_mask: true
        return self.tensor(value)

    def call(self, layer: Any, field: Any, sig: LayerSignature | None) -> Any:
        if not isinstance(field, dict):
            return layer(self.resolve_field(field))
        kwargs = {k: self.resolve_field(v) for k, v in field.items()}
        first = sig.call_args[0] if sig and sig.call_args else "inputs"
        positional = kwargs.pop(first, None)
        if positional is None:
            positional = kwargs.pop("inputs", None)
        if positional is None:
            return layer(**kwargs)
        return layer(positional, **kwargs)

    def node(self, index: int, node: LayerNode, field: Any) -> None:
        path = ("layers", index)
        sig: LayerSignature | None
        try:
            if node.share:
                layer = self.layers[node.share]
                sig = self.resolve(type(layer).__name__) or catalogue.signature_from_class(
                    node.share, type(layer)
                )
            else:
                new = self.resolve(node.type or "")
                assert new is not None  # validated
                sig = new
                layer = self.layer_class(node.type or "")(
                    name=node.name, **self.convert(new, node.args, node.name)
                )
            self.layers[node.name] = layer
            output = self.call(layer, field, sig)
            if node.add_loss is not None:
                from .layers import AddLoss

                output = AddLoss(
                    fn=node.add_loss.fn, weight=node.add_loss.weight, name=f"{node.name}_add_loss"
                )(output)
        except Exception as err:
            raise self.fail(path, node.name, _keras_message(err)) from err
        self.tensors[node.name] = output

    def build(self) -> keras.Model:
        spec = self.spec
        keras = self.keras
        inputs = []
        for i, inp in enumerate(spec.inputs):
            try:
                tensor = keras.Input(
                    shape=tuple(inp.shape),
                    dtype=inp.dtype,
                    sparse=inp.sparse,
                    batch_size=inp.batch_size,
                    name=inp.name,
                )
            except Exception as err:
                raise self.fail(("inputs", i), inp.name, _keras_message(err)) from err
            self.tensors[inp.name] = tensor
            inputs.append(tensor)
        wiring = effective_inputs(
            [n.model_dump() for n in spec.layers], [i.name for i in spec.inputs]
        )
        index = {node.name: i for i, node in enumerate(spec.layers)}
        deps: dict[str, list[str]] = {i.name: [] for i in spec.inputs}
        for i, node in enumerate(spec.layers):
            parsed = [parse_ref(t) for _, t in iter_refs(wiring[i])]
            deps[node.name] = [r.node for r in parsed if r] + ([node.share] if node.share else [])
        order, _ = topological_order(deps)
        for name in order:
            if name in index:
                i = index[name]
                self.node(i, spec.layers[i], wiring[i])
        outputs: Any
        refs = spec.output_refs
        try:
            if isinstance(spec.outputs, dict):
                outputs = {k: self.tensor(v) for k, v in refs.items()}
            else:
                outputs = [self.tensor(v) for v in refs.values()]
                outputs = outputs[0] if len(outputs) == 1 else outputs
            model = keras.Model(
                inputs=inputs[0] if len(inputs) == 1 else inputs, outputs=outputs, name=spec.name
            )
        except Exception as err:
            raise self.fail(("outputs",), None, _keras_message(err)) from err
        if spec.compile is not None:
            self.compile(model)
        return model

    def compile(self, model: keras.Model) -> None:
        section = self.spec.compile
        assert section is not None

        def names(value: Any, namespace: str) -> Any:
            if isinstance(value, list):
                return [names(v, namespace) for v in value]
            if isinstance(value, dict):
                return {k: names(v, namespace) for k, v in value.items()}
            return self.named(namespace, value)

        train = self.spec.train
        knobs: dict[str, Any] = {}
        if train is not None:  # compile-time knobs of `train:`
            knobs = {
                "steps_per_execution": train.steps_per_execution,
                "jit_compile": train.jit_compile,
            }
        try:
            model.compile(
                optimizer=make_optimizer(section.optimizer),
                loss=names(section.loss, "losses"),
                loss_weights=section.loss_weights,
                metrics=names(section.metrics, "metrics"),
                **knobs,
            )
            # Built now, the optimizer's variables exist when the model is saved
            # (no "skipping optimizer variables" warning on reload) and fit() starts faster.
            model.optimizer.build(model.trainable_variables)
        except Exception as err:
            raise self.fail(("compile",), None, _keras_message(err, "compiling")) from err


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
        return getattr(module, sig.type)(**args)

    optimizer: keras.optimizers.Optimizer = instance("optimizers", spec)
    return optimizer


def _keras_message(err: Exception, doing: str = "building this node") -> str:
    text = " ".join(str(err).split()) or repr(err)
    return f"{type(err).__name__} while {doing}: {text}"


def build_model(
    spec: Source,
    *,
    plugins: Iterable[str] = (),
    allow_imports: bool = False,
) -> keras.Model:
    """Build the functional Keras model a spec describes.

    Args:
        spec: A :class:`ModelSpec`, a path, YAML text, or a mapping.
        plugins: Modules to import first (they register custom layers...).
        allow_imports: Honour the spec's ``imports:`` (it runs their code).

    Returns:
        A ``keras.Model``, compiled when the spec has a ``compile:`` section.

    Raises:
        SpecError: The spec is invalid (every error at once).
        BuildError: Keras refused a node; located at that node's line.

    Example:
        >>> build_model("specs/antirectifier_digits.yaml").name
        'antirectifier_digits'
    """
    loaded = load_spec(spec, plugins=plugins, allow_imports=allow_imports)
    with deep_graph(len(loaded.layers)):
        return _Builder(loaded).build()


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

    from . import layers  # noqa: F401  (registers the shipped layers)
    from .plugins import load_plugins

    load_plugins(plugins)
    target = Path(path)
    if not target.is_file():
        raise ModelLoadError(f"expected a .keras file. Received: {target} (no such file)")
    if not zipfile.is_zipfile(target):
        raise ModelLoadError(
            f"expected a .keras file (a zip archive). Received: {target}, which is not one: "
            "cut short while being written, or another format. Save or export it again."
        )
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
