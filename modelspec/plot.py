"""Draw a built model: Mermaid text (no dependency), or an image through Graphviz.

What is drawn is what Keras built, not the spec: the functional graph of the
model is walked, one node per layer or ``keras.ops`` operation, one edge per
connection, each nested functional model (a block instance) a ``subgraph``
holding its own layers (recursively for nested blocks). An operation of an
``op:`` or ``expr:`` node carries the name Keras gave it (``cumsum``,
``add_1``), since ``keras.ops`` calls take no name.

Keras 3.15 has no public API for the calls of a layer inside one model (a
layer shared by two models has calls in both); like ``keras.utils.plot_model``
this module reads ``model._nodes_by_depth`` and each tensor's
``_keras_history``, in :func:`_calls` and :func:`_producer` only.

Example:
    >>> import keras
    >>> x = keras.Input((4,), name="features")
    >>> model = keras.Model(x, keras.layers.Dense(2, name="scores")(x), name="tiny")
    >>> print(mermaid(model), end="")
    flowchart TD
        %% tiny: 10 parameters
        n0["features<br/>InputLayer<br/>(None, 4)"]
        n1["scores<br/>Dense<br/>(None, 2) · 10 params"]
        n0 --> n1
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .build.model import Source, build_model
from .errors import ModelSpecError
from .files import atomic_path, write_text

if TYPE_CHECKING:
    import keras

#: What ``-o`` may end in: Mermaid text, or an image drawn by Graphviz.
SUFFIXES = (".mmd", ".svg", ".png")
#: The modules ``keras.utils.plot_model`` draws with (any one of them).
PYDOT_MODULES = ("pydot", "pydot_ng", "pydotplus")
_ENTITIES = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;"}


def _label(*lines: str) -> str:
    """Lines as a quoted Mermaid label: quotes, ``#``, ``<`` ``>`` ``&`` as entities."""
    text = "<br/>".join(
        re.sub(r"[#\"<>&]", lambda m: _ENTITIES[m.group()], " ".join(line.split()))
        for line in lines
    )
    return f'"{text}"'


def _is_graph(op: Any) -> bool:
    """Whether ``op`` is a functional model (drawn as a subgraph)."""
    return hasattr(op, "_nodes_by_depth") and hasattr(op, "operations")


def _calls(graph: Any) -> dict[int, list[Any]]:
    """The calls (Keras ``Node``s) of each operation inside ``graph``, by ``id(op)``,
    in the order the graph runs them."""
    calls: dict[int, list[Any]] = {}
    for depth in sorted(graph._nodes_by_depth, reverse=True):
        for node in graph._nodes_by_depth[depth]:
            calls.setdefault(id(node.operation), []).append(node)
    return calls


def _producer(tensor: Any) -> tuple[Any, int] | None:
    """The operation that made ``tensor`` and its output index (``None`` for a
    tensor with no history)."""
    history = getattr(tensor, "_keras_history", None)
    if history is None or history.operation is None:
        return None
    return history.operation, history.tensor_index


def _snake(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def op_type(op: Any) -> str:
    """A layer's class name, or the ``keras.ops`` function an operation comes from.

    Example:
        >>> import keras
        >>> x = keras.Input((3,))
        >>> op_type(keras.ops.cumsum(x, axis=1)._keras_history.operation)
        'keras.ops.cumsum'
        >>> op_type(keras.layers.Dense(2))
        'Dense'
    """
    import keras

    if isinstance(op, keras.layers.Layer):
        return type(op).__name__
    return _function_of(type(op).__name__, type(op).__module__)


@functools.cache
def _function_of(cls: str, module_name: str) -> str:
    """``keras.ops.NAME`` for an operation class (``Cumsum`` -> ``cumsum``,
    ``IsIn`` -> ``isin``), in its namespace (``keras.ops.image.resize``); else
    the class name."""
    import keras

    namespace = module_name.rsplit(".", 1)[-1]  # numpy, math, nn, image, linalg...
    modules = [("keras.ops", keras.ops)]
    inner = getattr(keras.ops, namespace, None)
    if inner is not None and inner is not keras.ops:
        modules.append((f"keras.ops.{namespace}", inner))
    for prefix, module in modules:
        squashed = {n.replace("_", ""): n for n in dir(module) if not n.startswith("_")}
        snake = _snake(cls)
        name = snake if hasattr(module, snake) else squashed.get(cls.lower())
        if name and callable(getattr(module, name)):
            return f"{prefix}.{name}"
    return cls


def _shapes(calls: Iterable[Any]) -> str:
    """The output shape(s) of an operation's calls; several when they differ."""
    seen: list[str] = []
    for node in calls:
        shapes = [tuple(t.shape) for t in node.output_tensors]
        text = str(shapes[0]) if len(shapes) == 1 else ", ".join(map(str, shapes))
        if text not in seen:
            seen.append(text)
    return " / ".join(seen) or "?"


def _params(op: Any) -> str | None:
    import keras

    if not isinstance(op, keras.layers.Layer) or isinstance(op, keras.layers.InputLayer):
        return None
    try:
        count = int(op.count_params())
    except ValueError:  # a layer that was never built
        return None
    return f"{count:,} param{'' if count == 1 else 's'}"


class _Mermaid:
    """Collects the lines of a flowchart: nodes and subgraphs, then edges."""

    def __init__(self) -> None:
        self.ids: dict[int, str] = {}
        self.lines: list[str] = []
        self.edges: dict[tuple[str, str], None] = {}  # an ordered set
        self.counts = {"n": 0, "s": 0}  # nodes, subgraphs

    def new_id(self, op: Any, kind: str = "n") -> str:
        self.ids[id(op)] = f"{kind}{self.counts[kind]}"
        self.counts[kind] += 1
        return self.ids[id(op)]

    def draw(self, graph: Any, indent: str) -> None:
        """The operations of ``graph`` (recursively into nested models), then
        their connections."""
        calls = _calls(graph)
        for op in graph.operations:
            if id(op) in self.ids:  # a layer already drawn in another model
                continue
            mine = calls.get(id(op), [])
            shape, params = _shapes(mine), _params(op)
            info = f"{shape} · {params}" if params else shape
            if _is_graph(op):
                label = _label(op.name, op_type(op), info)
                self.lines.append(f"{indent}subgraph {self.new_id(op, 's')}[{label}]")
                self.draw(op, indent + "    ")
                self.lines.append(f"{indent}end")
            else:
                self.lines.append(
                    f"{indent}{self.new_id(op)}[{_label(op.name, op_type(op), info)}]"
                )
        for op in graph.operations:
            for node in calls.get(id(op), []):
                for k, tensor in enumerate(node.input_tensors):
                    source = _producer(tensor)
                    if source is not None:
                        self.connect(*source, op, k)

    def connect(self, source: Any, output: int, target: Any, position: int) -> None:
        """An edge from ``source``'s output to ``target``'s input; a nested model
        is entered at its input and left from the layer that makes its output."""
        while _is_graph(source):
            found = _producer(source.outputs[output])
            if found is None:
                return
            source, output = found
        while _is_graph(target):
            found = _producer(target.inputs[position])
            if found is None:
                return
            target, position = found[0], 0
        start, end = self.ids.get(id(source)), self.ids.get(id(target))
        if start and end:  # one edge however many tensors go along it, as plot_model draws
            self.edges[(start, end)] = None


def mermaid(model: keras.Model) -> str:
    """A Mermaid flowchart (``flowchart TD``) of a built functional model.

    One node per layer or operation (its name, its class or ``keras.ops``
    function, its output shape, and a layer's parameter count), one edge
    per pair of connected nodes, and a ``subgraph`` per nested functional
    model (a block instance); a layer or block called several times (shared)
    is drawn once, with an edge from each caller.

    Args:
        model: A functional ``keras.Model``.

    Returns:
        The flowchart's text, ending with a newline. Node ids are ``n0``,
        ``n1``..., subgraph ids ``s0``...; labels are quoted, with ``"``,
        ``#``, ``<``, ``>`` and ``&`` written as Mermaid entities.

    Example:
        >>> import keras
        >>> x = keras.Input((8,), name="x")
        >>> h = keras.layers.Dense(4, name="hidden.1")(x)
        >>> text = mermaid(keras.Model(x, keras.ops.mean(h, axis=1), name="m"))
        >>> print(text.splitlines()[4])
            n2["mean...<br/>keras.ops.mean<br/>(None,)"]
        >>> text.splitlines()[-2:]
        ['    n0 --> n1', '    n1 --> n2']
    """
    chart = _Mermaid()
    if _is_graph(model):
        chart.draw(model, "    ")
    else:  # a subclassed model: one node
        chart.lines.append(f"    {chart.new_id(model)}[{_label(model.name, op_type(model))}]")
    total = int(model.count_params())
    title = " ".join(str(model.name).split())
    head = ["flowchart TD", f"    %% {title}: {total:,} parameter{'' if total == 1 else 's'}"]
    edges = [f"    {a} --> {b}" for a, b in chart.edges]
    return "\n".join([*head, *chart.lines, *edges]) + "\n"


def suffix_problem(output: str | os.PathLike[str]) -> str | None:
    """Why ``output`` cannot be drawn into (its suffix), or ``None``.

    Example:
        >>> suffix_problem("graph.mmd") is None, suffix_problem("graph.pdf")
        (True, 'expected a path ending in .mmd, .svg or .png. Received: graph.pdf')
    """
    if Path(output).suffix.lower() in SUFFIXES:
        return None
    accepted = f"{', '.join(SUFFIXES[:-1])} or {SUFFIXES[-1]}"
    return f"expected a path ending in {accepted}. Received: {output}"


def missing_tools() -> list[str]:
    """What drawing an image needs and is not installed: ``pydot`` (or a fork of
    it) and Graphviz's ``dot`` program on ``PATH``."""
    missing = []
    if not any(importlib.util.find_spec(name) for name in PYDOT_MODULES):
        missing.append("pydot is not installed")
    if shutil.which("dot") is None:
        missing.append("Graphviz's `dot` program is not on PATH")
    return missing


def _needs_tools(output: Path, missing: list[str]) -> ModelSpecError:
    text = " and ".join(m.rstrip(".") for m in missing)
    return ModelSpecError(
        f"cannot draw {output}: {text}. Install them (`pip install pydot` and the system "
        "package `graphviz`: apt install graphviz, brew install graphviz), or write Mermaid "
        f"text with `-o {output.with_suffix('.mmd')}`, which needs neither."
    )


def plot(
    spec: Source,
    output: str | os.PathLike[str],
    *,
    plugins: Iterable[str] = (),
    allow_imports: bool = False,
) -> Path:
    """Build a spec's model and draw it: Mermaid text, or an SVG or PNG image.

    Args:
        spec: A :class:`~modelspec.spec.schema.ModelSpec`, a path, YAML text,
            or a mapping.
        output: The file to write, ending in ``.mmd`` (Mermaid, see
            :func:`mermaid`), ``.svg`` or ``.png`` (``keras.utils.plot_model``,
            nested blocks expanded; needs pydot and Graphviz). Its folder is
            made if needed; the file is replaced atomically.
        plugins: Modules to import first (they register custom layers...).
        allow_imports: Honour the spec's ``imports:`` (it runs their code).

    Returns:
        The path written.

    Raises:
        SpecError: The spec is invalid (every error at once).
        BuildError: Keras refused a node; located at that node's line.
        ModelSpecError: ``output`` has another suffix, an image is asked for
            and pydot or Graphviz is missing, or the file cannot be written.
    """
    target = Path(output)
    suffix = target.suffix.lower()
    if suffix not in SUFFIXES:
        raise ModelSpecError(f"expected a path ending in {', '.join(SUFFIXES)}. Received: {target}")
    missing = missing_tools() if suffix != ".mmd" else []
    if missing:  # before building: the answer does not depend on the model
        raise _needs_tools(target, missing)
    model = build_model(spec, plugins=plugins, allow_imports=allow_imports)
    try:
        if suffix == ".mmd":
            write_text(target, mermaid(model))
        else:
            _draw(model, target, suffix)
    except OSError as err:
        raise ModelSpecError(f"cannot write {target}: {err.strerror or err}") from err
    return target


def _draw(model: keras.Model, target: Path, suffix: str) -> None:
    """``keras.utils.plot_model`` into ``target``, atomically; Graphviz takes the
    image format from the file's suffix, so it draws into a lower-case one."""
    import keras

    with atomic_path(target) as tmp:
        drawn = tmp.with_suffix(suffix)
        try:
            keras.utils.plot_model(
                model,
                to_file=str(drawn),
                show_shapes=True,
                show_layer_names=True,
                expand_nested=True,
                show_trainable=False,
                show_layer_activations=True,
            )
        except ImportError as err:  # pydot or dot present, but unusable
            raise _needs_tools(target, [" ".join(str(err).split())]) from err
        finally:
            if drawn != tmp and drawn.exists():
                os.replace(drawn, tmp)
