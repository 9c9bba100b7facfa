"""Validate a spec completely, reporting every problem at once.

Stage 3 of the pipeline: structure (Pydantic, :mod:`modelspec.schema`), then
layer types and their arguments (:mod:`modelspec.catalogue` and the
registries), then the graph (:mod:`modelspec.graph`). Each problem becomes a
:class:`~modelspec.errors.Diagnostic` located in the spec's source. For a spec
whose layers are all built in, nothing here imports Keras or TensorFlow.

Example:
    >>> report = validate_spec('''
    ... modelspec: 1
    ... name: tiny
    ... inputs: [{name: x, shape: [4]}]
    ... layers:
    ...   - {name: out, type: Dense, units: 0}
    ... outputs: [out]
    ... ''')
    >>> print(report.diagnostics[0].format())
    <string>:6:37: layers[0] (out).units: expected a positive integer. Received: units=0
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from . import catalogue, plugins, registry
from . import plugins as plugins_module
from .catalogue import KINDS, REFUSED_LAYERS, LayerSignature, did_you_mean
from .errors import Diagnostic, SpecError
from .graph import effective_inputs, iter_refs, parse_ref, topological_order
from .loader import Document, load_document
from .schema import (
    ADD_LOSS_FUNCTIONS,
    EXPORT_FORMATS,
    KERAS_DATASETS,
    NAME_PATTERN,
    SKLEARN_DATASETS,
    TRANSFORMS,
    AddLossSpec,
    CompileSpec,
    DataSpec,
    ExportSpec,
    InputSpec,
    LayerNode,
    ModelSpec,
    SplitSpec,
    TrainSpec,
)

Source = str | os.PathLike[str] | Mapping[str, Any] | ModelSpec | Document
PathT = tuple[str | int, ...]
NAME_RE = re.compile(NAME_PATTERN)


@dataclass
class Report:
    """What :func:`validate_spec` found.

    Attributes:
        file: The spec's display name.
        diagnostics: Errors and warnings, in document order.
        spec: The validated spec, when there is no error.
    """

    file: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    spec: ModelSpec | None = None

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors


_FIELD_HINTS = {
    "name": "a name of letters, digits, '_', '.' or '-' starting with a letter or '_'",
    "share": "the name of another layer node",
    "shape": "a list of positive integers (null for a size not known in advance)",
    "type": "a layer type name such as Dense",
    "inputs": "a node name, a list of node names, or a mapping of call arguments "
    "to node names or literal values (use_causal_mask: true)",
    "outputs": "a node name, a list of node names, or a mapping {output name: node name}",
    "layers": "a list of layer nodes such as {name: dense_1, type: Dense, units: 64}",
    "imports": "a list of module names",
    "optimizer": "an optimizer name or {type: adam, learning_rate: 0.001}",
    "loss": "a loss name, a list of them, or a mapping {output name: loss name}",
    "metrics": "a list of metric names, or a mapping {output name: [metric names]}",
    "loss_weights": "a list of numbers, or a mapping {output name: number}",
    "weight": "a finite number",
    "fn": "one of " + ", ".join(ADD_LOSS_FUNCTIONS),
    "modelspec": "1, the spec format version this modelspec reads",
    "epochs": "a positive integer",
    "batch_size": "a positive integer",
    "steps_per_execution": "a positive integer",
    "source": "one of sklearn, keras, npz, csv, images, function",
    "validation": "a fraction: at least 0 and below 1",
    "test": "a fraction: at least 0 and below 1",
    "jit_compile": "true, false or auto",
    "verbose": "0 (silent), 1 (progress bar) or 2 (a line per epoch)",
    "formats": "formats from " + ", ".join(EXPORT_FORMATS),
    "tolerance": "a number at least 0, or a mapping {format: number}",
    "samples": "a positive integer",
}


def _fields_at(path: PathT) -> list[str]:
    """Keys allowed in the mapping at ``path`` (for did-you-mean)."""
    models: dict[PathT, type] = {
        (): ModelSpec,
        ("compile",): CompileSpec,
        ("train",): TrainSpec,
        ("train", "data"): DataSpec,
        ("train", "data", "split"): SplitSpec,
        ("export",): ExportSpec,
    }
    if len(path) == 2 and path[0] == "inputs":
        return list(InputSpec.model_fields)
    if len(path) == 3 and path[0] == "layers" and path[2] == "add_loss":
        return list(AddLossSpec.model_fields)
    model = models.get(tuple(path))
    return list(model.model_fields) if model else []  # type: ignore[attr-defined]


def _existing(data: Any, loc: Iterable[Any]) -> tuple[PathT, Any]:
    """The longest prefix of a Pydantic ``loc`` that exists in ``data``, and its value."""
    path: list[str | int] = []
    for part in loc:
        in_dict = isinstance(data, dict) and part in data
        in_list = isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        if in_dict or in_list:
            data = data[part]
        else:
            break
        path.append(part)
    return tuple(path), data


def _value_text(data: Any, path: PathT) -> str:
    """``key=value`` for messages; a list item is shown as its whole list."""
    keys = [i for i, p in enumerate(path) if isinstance(p, str)]
    if not keys:
        return f"value={_existing(data, path)[1]!r}"
    return f"{path[keys[-1]]}={_existing(data, path[: keys[-1] + 1])[1]!r}"


class _Checker:
    def __init__(self, doc: Document, allow_imports: bool) -> None:
        self.doc = doc
        self.data: dict[str, Any] = doc.data
        self.allow_imports = allow_imports
        self.diagnostics: list[Diagnostic] = []
        self.signatures: dict[str, LayerSignature | None] = {}
        self.broken_refs = False

    # -- reporting ---------------------------------------------------------
    def node_name(self, path: PathT) -> str | None:
        if len(path) >= 2 and path[0] in ("layers", "inputs") and isinstance(path[1], int):
            items = self.data.get(path[0])
            if (
                isinstance(items, list)
                and path[1] < len(items)
                and isinstance(items[path[1]], dict)
            ):
                name = items[path[1]].get("name")
                return name if isinstance(name, str) else None
        return None

    def add(self, path: PathT, message: str, *, key: bool = False, warning: bool = False) -> None:
        self.diagnostics.append(
            self.doc.diagnostic(
                path,
                message,
                key=key,
                node=self.node_name(path),
                severity="warning" if warning else "error",
            )
        )

    # -- stage 1: structure ------------------------------------------------
    def structure(self) -> ModelSpec | None:
        try:
            return ModelSpec.model_validate(self.data)
        except ValidationError as err:
            self._pydantic(err)
            return None

    def _pydantic(self, err: ValidationError) -> None:
        seen: set[PathT] = set()
        for e in err.errors():
            loc = tuple(e["loc"])
            if e["type"] == "missing":
                parent, _ = _existing(self.data, loc[:-1])
                if len(parent) == len(loc) - 1:
                    self.add(parent, f"missing required key '{loc[-1]}'")
                    continue
            if e["type"] == "extra_forbidden":
                path, _ = _existing(self.data, loc)
                hint = did_you_mean(str(loc[-1]), _fields_at(path[:-1]))
                self.add(path, f"unknown key '{loc[-1]}'.{hint}", key=True)
                continue
            path, _ = _existing(self.data, loc)
            if path in seen:
                continue  # one message per place, whichever union branch failed
            seen.add(path)
            keys = [p for p in path if isinstance(p, str)]
            field_hint = _FIELD_HINTS.get(keys[-1]) if keys else None
            if e["type"] == "too_short":
                expected = "at least one entry"
            elif field_hint and (len(path) < len(loc) or e["type"] != "value_error"):
                expected = field_hint
            else:
                expected = e["msg"][0].lower() + e["msg"][1:]
                expected = expected.removeprefix("value error, ").removeprefix("expected ")
                expected = expected.removeprefix("input should be ")
            received = _value_text(self.data, path)
            value = _existing(self.data, loc)[1]
            if e["type"] == "literal_error" and isinstance(value, str):
                choices = re.findall(r"'([^']*)'", str(e.get("ctx", {}).get("expected", "")))
                received = f"{value!r}.{did_you_mean(value, choices)}".removesuffix(".")
            self.add(path, f"expected {expected}. Received: {received}")

    # -- stage 2: imports, layer types, arguments --------------------------
    def imports(self) -> None:
        modules = self.data.get("imports")
        if not modules or not isinstance(modules, list):
            return
        if not self.allow_imports:
            names = ", ".join(str(m) for m in modules)
            self.add(
                ("imports",),
                f"this spec imports Python modules ({names}); importing runs their code, "
                "so a spec's imports are refused by default. Pass --allow-imports "
                "(allow_imports=True) if you trust this spec, or load the modules "
                "yourself with --plugin.",
                key=True,
            )
            return
        for i, module in enumerate(modules):
            if isinstance(module, str):
                try:
                    plugins.import_module(module)
                except Exception as err:
                    self.add(("imports", i), str(err))

    def signature(self, type_name: str) -> LayerSignature | None:
        if type_name not in self.signatures:
            self.signatures[type_name] = _resolve_signature(type_name)
        return self.signatures[type_name]

    def layer_type(self, type_name: Any, path: PathT) -> LayerSignature | None:
        """Resolve a ``type:``; report it when unknown."""
        if not isinstance(type_name, str):
            return None
        sig = self.signature(type_name)
        if sig is not None:
            return sig
        if type_name in REFUSED_LAYERS:
            self.add(
                path,
                f"layer type '{type_name}' cannot be used in a spec: {REFUSED_LAYERS[type_name]}.",
            )
            return None
        known = [*catalogue.builtin_layer_names(), *registry.layers]
        hint = did_you_mean(type_name, known)
        self.add(
            path,
            f"unknown layer type '{type_name}'.{hint} Run `modelspec layers` to "
            "list the available types; custom layers need their plugin (--plugin).",
        )
        return None

    def layer_args(self, sig: LayerSignature, args: dict[str, Any], path: PathT) -> None:
        for name, value in args.items():
            arg_path = (*path, name)
            info = sig.args.get(name)
            if info is None:
                hint = did_you_mean(str(name), sig.args)
                if name == "name" and path[0] == "layers":
                    hint = " A node's name is its `name:` key."
                elif name in ("input_shape", "input_dim", "batch_input_shape"):
                    hint = " Declare shapes under `inputs:` instead."
                self.add(arg_path, f"unknown argument '{name}' for {sig.type}.{hint}", key=True)
                continue
            if value is None and not info.required:
                continue
            kind = info.kind
            if not kind.accepts(value):
                self.add(arg_path, f"expected {kind.description}. Received: {name}={value!r}")
            elif kind.names and isinstance(value, str):
                self.known_name(kind.names, value, arg_path)
            elif kind is KINDS["layer"]:
                self.nested_layer(value, arg_path)
            elif kind is KINDS["learning_rate"] and isinstance(value, dict):
                self.schedule(value, arg_path)
            elif kind is KINDS["layers"]:
                for i, item in enumerate(value):
                    self.nested_layer(item, (*arg_path, i))
        for name in sig.required:
            if name not in args:
                self.add(path, f"missing required argument '{name}' for {sig.type}")

    def known_name(self, namespace: str, value: str, path: PathT) -> None:
        reg = registry.REGISTRIES[namespace]
        if value in catalogue.builtin_names(namespace) or value in reg:
            return
        plugins.load_entry_point_plugins()  # installed plugins may register it
        if value in reg:
            return
        known = [*catalogue.builtin_names(namespace), *reg]
        hint = did_you_mean(value, known) or f" Custom {namespace} need their plugin (--plugin)."
        self.add(path, f"unknown {reg.kind} '{value}'.{hint}")

    def nested_layer(self, spec: Any, path: PathT) -> None:
        if not isinstance(spec, dict) or "type" not in spec:
            self.add(path, f"expected {KINDS['layer'].description}. Received: {spec!r}")
            return
        name = spec.get("name")
        if name is not None and not (isinstance(name, str) and NAME_RE.match(name)):
            self.add((*path, "name"), f"expected {_FIELD_HINTS['name']}. Received: name={name!r}")
        args = {k: v for k, v in spec.items() if k not in ("type", "name")}
        sig = self.layer_type(spec["type"], (*path, "type"))
        if sig is not None:
            self.layer_args(sig, args, path)

    # -- stage 3: the graph ------------------------------------------------
    def input_dtypes(self) -> None:
        dtypes = catalogue.builtin_names("dtypes")
        for i, item in enumerate(_list(self.data.get("inputs"))):
            dtype = item.get("dtype") if isinstance(item, dict) else None
            if isinstance(dtype, str) and dtype not in dtypes:
                hint = did_you_mean(dtype, dtypes) or f" Known: {', '.join(sorted(dtypes))}."
                self.add(("inputs", i, "dtype"), f"unknown dtype '{dtype}'.{hint}")

    def graph(self) -> None:
        self.input_dtypes()
        inputs = _list(self.data.get("inputs"))
        layers = _list(self.data.get("layers"))
        input_names = [i.get("name") for i in inputs if isinstance(i, dict)]
        owners: dict[str, PathT] = {}
        for section, items in (("inputs", inputs), ("layers", layers)):
            for i, item in enumerate(items):
                name = item.get("name") if isinstance(item, dict) else None
                if not isinstance(name, str):
                    continue
                if name in owners:
                    first = self.doc.locate(owners[name])[0]
                    self.add(
                        (section, i, "name"),
                        f"duplicate node name '{name}' (first "
                        f"defined at line {first}); node names must be unique.",
                    )
                else:
                    owners[name] = (section, i, "name")
        layer_names = {n for n, p in owners.items() if p[0] == "layers"}
        deps: dict[str, list[str]] = {n: [] for n in owners}
        sources: dict[str, LayerSignature | None] = {}
        wiring = effective_inputs(layers, [n for n in input_names if isinstance(n, str)])
        for i, node in enumerate(layers):
            if not isinstance(node, dict) or not isinstance(node.get("name"), str):
                continue
            name = node["name"]
            if owners.get(name) != ("layers", i, "name"):
                continue  # a duplicate: already reported
            sig = self.node(i, node, sources, layer_names)
            sources[name] = sig
            share = node.get("share")
            if isinstance(share, str) and share in owners:
                deps[name].append(share)
            field_ = wiring[i]
            if field_ is None:
                if len(input_names) < 2:
                    continue  # no input at all: the structure stage reported it
                self.add(
                    ("layers", i),
                    "missing `inputs:`: the first layer must say which of "
                    f"the inputs ({', '.join(map(str, input_names))}) it takes",
                )
                continue
            deps[name].extend(self.refs(i, node, field_, owners, sig))
        outputs = self.outputs(owners)
        _, cycles = topological_order(deps)
        for cycle in cycles:
            flow = " -> ".join([*reversed(cycle), cycle[-1]])
            self.add(
                owners[cycle[0]][:2],
                f"the graph has a cycle: {flow}. A node cannot depend on its own output.",
            )
        if not self.broken_refs:  # else "unused" would mostly echo those errors
            self.unused(deps, owners, outputs)

    def node(
        self, i: int, node: dict[str, Any], sources: dict[str, Any], layer_names: set[str]
    ) -> LayerSignature | None:
        path: PathT = ("layers", i)
        args = {k: v for k, v in node.items() if k not in LayerNode.model_fields}
        share = node.get("share")
        if share is not None:
            if not isinstance(share, str):
                return None
            if share not in layer_names:
                hint = did_you_mean(share, layer_names)
                self.add(
                    (*path, "share"),
                    f"cannot share the layer of '{share}': no layer node has that name.{hint}",
                )
                return None
            if args:
                self.add(
                    (*path, next(iter(args))),
                    f"a node that shares the layer of '{share}' "
                    f"takes no layer arguments; they come from '{share}'.",
                    key=True,
                )
            owner = sources.get(share)
            if share not in sources:
                self.add(
                    (*path, "share"),
                    f"cannot share the layer of '{share}' before it "
                    "is defined: move this node after it.",
                )
            elif owner is not None and node.get("type") not in (None, owner.type):
                self.add(
                    (*path, "type"),
                    f"a node that shares the layer of '{share}' has "
                    f"its type ({owner.type}). Received: type={node.get('type')!r}",
                )
            return owner
        if "type" not in node:
            self.add(
                path, "missing required key 'type' (or `share:` to reuse another node's layer)"
            )
            return None
        sig = self.layer_type(node.get("type"), (*path, "type"))
        if sig is not None:
            self.layer_args(sig, args, path)
        return sig

    def refs(
        self,
        i: int,
        node: dict[str, Any],
        field_: Any,
        owners: dict[str, PathT],
        sig: LayerSignature | None,
    ) -> list[str]:
        path: PathT = ("layers", i, "inputs")
        found = []
        if isinstance(field_, dict) and sig is not None and sig.call_args:
            for key in field_:
                if key not in sig.call_args and key != "inputs":
                    hint = did_you_mean(str(key), sig.call_args)
                    self.add(
                        (*path, key),
                        f"unknown call argument '{key}' for {sig.type} "
                        f"(it takes {', '.join(sig.call_args)}).{hint}",
                        key=True,
                    )
        for sub, text in iter_refs(field_):
            ref = parse_ref(text)
            if ref is None:
                continue  # a wrong type: reported by the structure stage
            if ref.node == node["name"]:
                self.add((*path, *sub), f"node '{ref.node}' cannot take its own output as input")
            elif ref.node not in owners:
                hint = did_you_mean(ref.node, owners)
                self.add((*path, *sub), f"unknown node '{ref.node}'.{hint}")
                self.broken_refs = True
            else:
                found.append(ref.node)
        return found

    def outputs(self, owners: dict[str, PathT]) -> list[str]:
        outputs = self.data.get("outputs")
        items: Iterable[tuple[PathT, Any]]
        if isinstance(outputs, str):
            items = [(("outputs",), outputs)]
        elif isinstance(outputs, list):
            items = [(("outputs", i), v) for i, v in enumerate(outputs)]
        elif isinstance(outputs, dict):
            items = [(("outputs", k), v) for k, v in outputs.items()]
        else:
            return []
        found = []
        for path, text in items:
            ref = parse_ref(text)
            if ref is None:
                continue
            if ref.node not in owners:
                hint = did_you_mean(ref.node, owners)
                self.add(path, f"unknown node '{ref.node}'.{hint}")
                self.broken_refs = True
            else:
                found.append(ref.node)
        return found

    def unused(
        self, deps: dict[str, list[str]], owners: dict[str, PathT], outputs: list[str]
    ) -> None:
        used: set[str] = set()
        stack = list(outputs)
        while stack:
            node = stack.pop()
            if node not in used:
                used.add(node)
                stack.extend(deps.get(node, ()))
        for name, path in owners.items():
            if name not in used and outputs:
                self.add(
                    path[:2],
                    f"node '{name}' is not used by any output; it will not be part of the model",
                    warning=True,
                )

    # -- compile -----------------------------------------------------------
    def compile(self) -> None:
        section = self.data.get("compile")
        if not isinstance(section, dict):
            return
        names = _output_names(self.data.get("outputs"))
        for key, namespace in (("loss", "losses"), ("metrics", "metrics"), ("loss_weights", "")):
            value = section.get(key)
            if key != "metrics" and isinstance(value, list) and names and len(value) != len(names):
                self.add(
                    ("compile", key),
                    f"expected one entry per output ({len(names)}: {', '.join(names)}). "
                    f"Received {len(value)}: {key}={value!r}",
                )
            for sub, item in _named_items(value):
                if isinstance(sub, str) and sub and names and sub not in names:
                    self.add(
                        ("compile", key, sub),
                        f"unknown output '{sub}' (the outputs are {', '.join(names)})."
                        f"{did_you_mean(sub, names)}",
                        key=True,
                    )
                if namespace and isinstance(item, str):
                    self.known_name(namespace, item, ("compile", key, *_as_path(sub)))
        self.optimizer(section.get("optimizer"))

    # -- train -------------------------------------------------------------
    def train(self) -> None:
        section = self.data.get("train")
        if not isinstance(section, dict):
            return
        compile_ = self.data.get("compile")
        if not (isinstance(compile_, dict) and compile_.get("loss")):
            self.add(
                ("train",),
                "training needs a loss: add `compile: {loss: ...}` "
                "(e.g. sparse_categorical_crossentropy)",
                key=True,
            )
        for i, callback in enumerate(_list(section.get("callbacks"))):
            if isinstance(callback, dict) and "type" in callback:
                path: PathT = ("train", "callbacks", i)
                sig = self.keras_class("callbacks", callback["type"], (*path, "type"))
                if sig is not None:
                    if callback["type"] in catalogue.CALLBACK_RUN_FILES:  # has a default
                        arg = catalogue.CALLBACK_RUN_FILES[callback["type"]][0]
                        optional = dataclasses.replace(sig.args[arg], required=False)
                        sig = dataclasses.replace(sig, args=sig.args | {arg: optional})
                    args = {k: v for k, v in callback.items() if k != "type"}
                    self.layer_args(sig, args, path)
        data = section.get("data")
        if isinstance(data, dict):
            self.train_data(data)

    def train_data(self, data: dict[str, Any]) -> None:
        path: PathT = ("train", "data")
        source, name = data.get("source"), data.get("name")
        known = {"sklearn": SKLEARN_DATASETS, "keras": KERAS_DATASETS}.get(str(source))
        if known is not None:
            if name is None:
                self.add(path, f"missing required key 'name' (one of {', '.join(known)})")
            elif isinstance(name, str) and name not in known:
                hint = did_you_mean(name, known) or f" Known: {', '.join(known)}."
                self.add((*path, "name"), f"unknown {source} dataset '{name}'.{hint}")
        elif source == "function":
            if name is None:
                self.add(path, "missing required key 'name' (a registered data function)")
            elif isinstance(name, str):
                self.known_name("datasets", name, (*path, "name"))
        elif source in ("npz", "csv", "images") and data.get("path") is None:
            self.add(path, f"missing required key 'path' (the {source} file or folder)")
        input_names = [i.get("name") for i in _list(self.data.get("inputs")) if isinstance(i, dict)]
        output_names = _output_names(self.data.get("outputs"))
        for key, names, noun in (
            ("inputs", input_names, "model input"),
            ("targets", output_names, "model output"),
            ("transform", [*input_names, *output_names], "model input or output"),
        ):
            mapping = data.get(key)
            if not isinstance(mapping, dict):
                continue
            for name_ in mapping:
                if name_ not in names:
                    hint = did_you_mean(str(name_), map(str, names))
                    self.add(
                        (*path, key, name_),
                        f"unknown {noun} '{name_}' (the model has "
                        f"{', '.join(map(str, names))}).{hint}",
                        key=True,
                    )
        for name_, steps in (data.get("transform") or {}).items():
            for j, step in enumerate(_list(steps)):
                if not isinstance(step, dict):
                    continue
                for op in step:
                    if op not in TRANSFORMS:
                        hint = (
                            did_you_mean(str(op), TRANSFORMS) or f" Known: {', '.join(TRANSFORMS)}."
                        )
                        self.add(
                            (*path, "transform", name_, j, op),
                            f"unknown transform '{op}'.{hint}",
                            key=True,
                        )

    def optimizer(self, optimizer: Any) -> None:
        path: PathT = ("compile", "optimizer")
        name = optimizer.get("type") if isinstance(optimizer, dict) else optimizer
        if isinstance(optimizer, dict) and "type" not in optimizer:
            self.add(path, "missing required key 'type' (the optimizer's name, such as adam)")
            return
        sig = self.keras_class("optimizers", name, (*path, "type") if name != optimizer else path)
        if sig is not None and isinstance(optimizer, dict):
            args = {k: v for k, v in optimizer.items() if k != "type"}
            self.layer_args(sig, args, path)

    def keras_class(self, section: str, name: Any, path: PathT) -> LayerSignature | None:
        """Resolve an optimizer or schedule name; report it when unknown."""
        if not isinstance(name, str):
            return None  # a wrong type: reported by the structure stage
        sig = catalogue.keras_class(section, name)
        if sig is None:
            known = catalogue.keras_class_names(section)
            noun = {"optimizers": "optimizer", "schedules": "learning-rate schedule"}.get(
                section, "callback"
            )
            hint = did_you_mean(name, known) or f" Known: {', '.join(known)}."
            self.add(path, f"unknown {noun} '{name}'.{hint}")
        return sig

    def schedule(self, value: dict[str, Any], path: PathT) -> None:
        if "type" not in value:
            self.add(path, "missing required key 'type' (a schedule such as ExponentialDecay)")
            return
        sig = self.keras_class("schedules", value["type"], (*path, "type"))
        if sig is not None:
            self.layer_args(sig, {k: v for k, v in value.items() if k != "type"}, path)


def _output_names(outputs: Any) -> list[str]:
    """The model's output names: the keys of a mapping, else the output nodes' names."""
    if isinstance(outputs, dict):
        return [str(k) for k in outputs]
    refs = [outputs] if isinstance(outputs, str) else _list(outputs)
    parsed = [parse_ref(r) for r in refs if isinstance(r, str)]
    return [r.node for r in parsed if r is not None]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _as_path(sub: Any) -> PathT:
    if sub is None:
        return ()
    return sub if isinstance(sub, tuple) else (sub,)


def _named_items(value: Any) -> list[tuple[Any, Any]]:
    """(sub-path, name) pairs of a loss/metrics value: a name, a list, or per output."""
    if isinstance(value, str):
        return [(None, value)]
    if isinstance(value, list):
        return list(enumerate(value))
    if isinstance(value, dict):
        pairs: list[tuple[Any, Any]] = []
        for out, item in value.items():
            if isinstance(item, list):
                pairs.extend(((out, i), v) for i, v in enumerate(item))
            else:
                pairs.append((out, item))
        return pairs
    return []


def _resolve_signature(type_name: str) -> LayerSignature | None:
    """A layer type's signature: registered, else built in, else from entry-point plugins."""
    for attempt in range(2):
        cls = registry.layers.get(type_name)
        if cls is not None:
            source = "modelspec" if cls.__module__ == "modelspec.library" else "registered"
            return catalogue.signature_from_class(type_name, cls, source)
        sig = catalogue.keras_layer(type_name)
        if sig is not None or attempt:
            return sig
        plugins.load_entry_point_plugins()
    return None


def validate_spec(
    source: Source,
    *,
    plugins: Iterable[str] = (),
    allow_imports: bool = False,
) -> Report:
    """Check a spec and report every problem found, without raising for them.

    Args:
        source: A path, YAML text, a mapping, or a :class:`ModelSpec`.
        plugins: Modules to import first (they register custom objects).
        allow_imports: Honour the spec's ``imports:`` (it runs their code).

    Returns:
        A :class:`Report`; ``report.spec`` is set when there is no error.

    Raises:
        PluginError: A module in ``plugins`` cannot be imported.

    Example:
        >>> validate_spec("specs/antirectifier_digits.yaml").ok
        True
    """
    plugins_module.load_plugins(plugins)
    if isinstance(source, Document):
        doc = source
    elif isinstance(source, ModelSpec):
        doc = source.document
    else:
        try:
            doc = load_document(source)
        except SpecError as err:
            return Report(err.diagnostics[0].file, err.diagnostics)
    return _check(doc, allow_imports)


def _check(doc: Document, allow_imports: bool) -> Report:
    checker = _Checker(doc, allow_imports)
    spec = checker.structure()
    checker.imports()
    checker.graph()
    checker.compile()
    checker.train()
    order = {d: i for i, d in enumerate(checker.diagnostics)}
    diagnostics = sorted(checker.diagnostics, key=lambda d: (d.line, d.column, order[d]))
    report = Report(doc.file, diagnostics)
    if spec is not None and report.ok:
        spec._document = doc
        report.spec = spec
    return report


def load_spec(
    source: Source,
    *,
    plugins: Iterable[str] = (),
    allow_imports: bool = False,
) -> ModelSpec:
    """Read and validate a spec.

    Args:
        source: A path, YAML text, a mapping, or a :class:`ModelSpec`.
        plugins: Modules to import first (they register custom objects).
        allow_imports: Honour the spec's ``imports:`` (it runs their code).

    Returns:
        The validated :class:`ModelSpec`.

    Raises:
        SpecLoadError: The file cannot be read or is not a YAML mapping.
        SpecError: With every error found (``err.diagnostics``).

    Example:
        >>> load_spec("specs/antirectifier_digits.yaml").name
        'antirectifier_digits'
    """
    if isinstance(source, ModelSpec) and source._document is not None:
        return source
    plugins_module.load_plugins(plugins)
    if isinstance(source, Document):
        doc = source
    else:
        doc = source.document if isinstance(source, ModelSpec) else load_document(source)
    report = _check(doc, allow_imports)
    if report.spec is None:
        raise SpecError(report.diagnostics)
    return report.spec
