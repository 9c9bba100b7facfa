"""One graph into Keras tensors: the model's, or a block instance's body.

Nodes are built in topological order. A layer node makes its layer and calls
it; an ``op:`` node calls a ``keras.ops`` function; an ``expr:`` node (and an
``inputs:`` that is an expression) evaluates its tensor expression; a block
instance builds its body into a nested functional ``keras.Model`` and calls
it. A ``${...}`` that reads a node's shape is evaluated here, once that node
is built. An error Keras raises for a node becomes a
:class:`~modelspec.errors.BuildError` at that node's line (inside a block, at
the instance, naming the definition).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .. import catalogue, registry
from ..catalogue import KINDS, LayerSignature
from ..errors import BuildError, shown
from ..files import spec_path
from ..spec.graph import effective_inputs, node_deps, parse_ref, topological_order
from ..spec.loader import Document, PathT
from ..spec.scalars import ExpressionError, is_deferred, substitute
from ..spec.schema import BlockInput, Body, InputSpec, LayerNode
from .adapt import adapt_layer, wants_adapt
from .backbones import Unavailable, application, hub_layer_class
from .ops import evaluate


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def keras_message(err: Exception, doing: str = "building this node") -> str:
    """A Keras error as one line of a message."""
    if isinstance(err, ExpressionError):
        return str(err)
    text = " ".join(str(err).split()) or repr(err)
    return f"{type(err).__name__} while {doing}: {text}"


class Graph:
    """Builds the nodes of one graph into tensors.

    Args:
        doc: The (expanded) document of the graph: positions, aliases, bodies.
        layers: Its nodes.
        input_names: Its inputs' names, in order.
    """

    def __init__(self, doc: Document, layers: Sequence[LayerNode], input_names: list[str]) -> None:
        import keras

        from .. import layers as _shipped  # noqa: F401  (registers the shipped layers)

        self.keras = keras
        self.doc = doc
        self.nodes = layers
        self.input_names = input_names
        self.tensors: dict[str, Any] = {}
        self.layers: dict[str, Any] = {}
        #: Each block instance's model and its inputs' names, by node name.
        self.instances: dict[str, tuple[Any, list[str]]] = {}
        #: The operations named after their op or expr node (by ``id``).
        self.renamed: set[int] = set()
        #: The training inputs ``adapt:`` nodes adapt on (``None``: not adapted).
        self.adapt_data: Mapping[str, Any] | None = None

    def fail(self, path: PathT, node: str | None, message: str) -> BuildError:
        return BuildError([self.doc.diagnostic(path, message, node=node)])

    # -- layers ------------------------------------------------------------
    def layer_class(self, type_name: str) -> Any:
        cls = registry.layers.get(type_name)
        if cls is not None:
            return cls
        if type_name.startswith("hub."):
            return hub_layer_class(type_name)
        return getattr(self.keras.layers, type_name)

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
        sig = registry.layer_signature(type_name)
        assert sig is not None, type_name  # validated
        args = {k: v for k, v in spec.items() if k not in ("type", "name")}
        return self.layer_class(type_name)(
            name=spec.get("name", name), **self.convert(sig, args, name)
        )

    def shaped(self, value: Any, path: PathT, node: str) -> Any:
        """``value`` (at ``path``) with each deferred ``${...}`` (it reads a node's
        shape) evaluated; a failure is located at its argument."""
        if isinstance(value, dict):
            return {k: self.shaped(v, (*path, k), node) for k, v in value.items()}
        if isinstance(value, list):
            return [self.shaped(v, (*path, i), node) for i, v in enumerate(value)]
        if is_deferred(value):
            try:
                return substitute(value, {}, shapes=self.shape)
            except ExpressionError as err:
                raise self.fail(path, node, f"{err} (in {shown(value)})") from err
        return value

    def shape(self, name: str) -> tuple[int | None, ...]:
        value = self.lookup(name)
        if isinstance(value, list | tuple | dict):
            raise ExpressionError(f"'{name}' has several outputs: index one, as {name}[0]")
        return tuple(value.shape)

    # -- wiring ------------------------------------------------------------
    def lookup(self, name: str) -> Any:
        return self.tensors[self.doc.aliases.get(name, name)]

    def tensor(self, text: str) -> Any:
        ref = parse_ref(text)
        if ref is None:  # a tensor expression
            return evaluate(text, self.lookup)
        value = self.lookup(ref.node)
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

    def instance_inputs(self, names: list[str], field: Any) -> list[Any]:
        """The tensors a block instance takes, in its inputs' order (given
        positionally, or by name)."""
        if isinstance(field, dict):
            return [self.resolve_field(field[n]) for n in names]
        if isinstance(field, list):
            return [self.tensor(v) for v in field]
        return [self.resolve_field(field)]

    def node(self, index: int, node: LayerNode, field: Any) -> None:
        path = ("layers", index)
        try:
            output = self.output_of(node, field, path)
            if node.op is not None or node.expr is not None:
                self.name_operation(output, node.name)
            if node.add_loss is not None:
                from ..layers import AddLoss

                loss = node.add_loss
                value = output if loss.expr is None else [output, evaluate(loss.expr, self.lookup)]
                output = AddLoss(
                    fn=loss.reduction, weight=loss.weight, name=f"{node.name}_add_loss"
                )(value)
        except BuildError:
            raise
        except Unavailable as err:
            raise self.fail((*path, err.key), node.name, str(err)) from err
        except Exception as err:
            raise self.fail(path, node.name, keras_message(err)) from err
        self.tensors[node.name] = output

    def name_operation(self, output: Any, name: str) -> None:
        """Give the ``keras.ops`` operation that made an op or expr node's output the
        node's name (summaries, plots and the model's output names show it; it saves
        and reloads), unless the output is another node's (``expr: "a"``)."""
        history = getattr(output, "_keras_history", None)
        operation = getattr(history, "operation", None)
        if operation is None or isinstance(operation, self.keras.layers.Layer):
            return
        if id(operation) in self.renamed:
            return
        operation.name = name
        self.renamed.add(id(operation))

    def output_of(self, node: LayerNode, field: Any, path: PathT) -> Any:
        if node.expr is not None:
            return evaluate(node.expr, self.lookup)
        if node.op is not None:
            kwargs = self.shaped(node.args, path, node.name)
            if isinstance(field, dict):
                return getattr(self.keras.ops, node.op)(
                    **{k: self.resolve_field(v) for k, v in field.items()}, **kwargs
                )
            return getattr(self.keras.ops, node.op)(self.resolve_field(field), **kwargs)
        share = self.doc.aliases.get(node.share, node.share) if node.share else None
        if node.block is not None:
            body = body_of(self.doc.bodies[node.name])
            names = [i.name for i in body.inputs]
            values = self.instance_inputs(names, field)
            model = build_body(body, node.name, values)
            self.instances[node.name] = (model, names)
            self.layers[node.name] = model
            return model(values[0] if len(values) == 1 else values)
        if share in self.instances:
            model, names = self.instances[node.name] = self.instances[str(share)]
            values = self.instance_inputs(names, field)
            return model(values[0] if len(values) == 1 else values)
        sig: LayerSignature | None
        if share:
            layer = self.layers[share]
            sig = registry.layer_signature(type(layer).__name__) or catalogue.signature_from_class(
                share, type(layer)
            )
        else:
            new = registry.layer_signature(node.type or "")
            assert new is not None  # validated
            sig = new
            args = self.convert(new, self.shaped(node.args, path, node.name), node.name)
            if (node.type or "").startswith("applications."):  # a model, called on the input
                layer = application(node.type or "", node.name, args, self.resolve_field(field))
            else:
                layer = self.layer_class(node.type or "")(name=node.name, **args)
            if wants_adapt(node):
                try:
                    inputs = {n: self.tensors[n] for n in self.input_names}
                    adapt_layer(layer, node, field, inputs, self.resolve_field, self.adapt_data)
                except Exception as err:
                    doing = "adapting this layer on the training data"
                    raise self.fail((*path, "adapt"), node.name, keras_message(err, doing)) from err
        self.layers[node.name] = layer
        return self.call(layer, field, sig)

    def start(
        self,
        specs: Sequence[InputSpec | BlockInput],
        like: Sequence[Any] | None = None,
        given: Mapping[str, Any] | None = None,
    ) -> list[Any]:
        """The graph's input tensors (a block's shaped like the tensors in ``like``).

        ``given`` tensors, by input name, take the place of fresh ``keras.Input``
        ones: the graph starts from them (e.g. a preprocessing front's outputs).
        """
        inputs = []
        for k, spec in enumerate(specs):
            try:
                if given is not None and spec.name in given:
                    tensor = given[spec.name]
                else:
                    tensor = make_input(self.keras, spec, like[k] if like else None)
            except Exception as err:
                raise self.fail(("inputs", k), spec.name, keras_message(err)) from err
            self.tensors[spec.name] = tensor
            inputs.append(tensor)
        return inputs

    def run(self) -> None:
        """Build every node (the inputs' tensors already in :attr:`tensors`)."""
        dumped = [n.model_dump(exclude_none=True) for n in self.nodes]
        wiring = effective_inputs(dumped, self.input_names)
        index = {node.name: i for i, node in enumerate(self.nodes)}
        deps: dict[str, list[str]] = {name: [] for name in self.input_names}
        aliases = self.doc.aliases
        for i, node in enumerate(self.nodes):
            deps[node.name] = [aliases.get(n, n) for n in node_deps(dumped[i], wiring[i])]
        order, _ = topological_order(deps)
        for name in order:
            if name in index:
                i = index[name]
                self.node(i, self.nodes[i], wiring[i])

    def outputs(self, refs: dict[str, str], as_dict: bool) -> Any:
        """The graph's outputs: a dict, a tensor, or a list."""
        if as_dict:
            return {k: self.tensor(v) for k, v in refs.items()}
        values = [self.tensor(v) for v in refs.values()]
        return values[0] if len(values) == 1 else values


def make_input(keras: Any, spec: InputSpec | BlockInput, like: Any = None) -> Any:
    """A ``keras.Input`` for a model's input, or a block's (shaped like ``like``)."""
    if isinstance(spec, InputSpec):
        return keras.Input(
            shape=tuple(spec.shape),
            dtype=spec.dtype,
            sparse=spec.sparse,
            batch_size=spec.batch_size,
            name=spec.name,
        )
    shape = spec.shape if spec.shape is not None else (like.shape[1:] if like is not None else None)
    if shape is None:
        raise ValueError(
            f"block input '{spec.name}' has no shape: give it `shape:` to build the block alone"
        )
    dtype = spec.dtype or (like.dtype if like is not None else "float32")
    return keras.Input(shape=tuple(shape), dtype=dtype, name=spec.name)


def body_of(doc: Document) -> Body:
    """The typed body of a block instance (validated already)."""
    body = Body.model_validate(doc.data)
    body._document = doc
    return body


def build_body(body: Body, name: str, like: Sequence[Any] | None = None) -> Any:
    """A block's body as a functional ``keras.Model`` named ``name``; its inputs
    shaped as declared, else like the tensors in ``like``."""
    import keras

    doc = body._document
    assert doc is not None
    graph = Graph(doc, body.layers, [i.name for i in body.inputs])
    inputs = graph.start(body.inputs, like)
    graph.run()
    try:
        outputs = graph.outputs(body.output_refs, isinstance(body.outputs, dict))
        return keras.Model(inputs[0] if len(inputs) == 1 else inputs, outputs, name=name)
    except Exception as err:
        raise graph.fail(("outputs",), None, keras_message(err)) from err
