"""Expansion, before validation: ``vars:`` and ``${...}``, ``repeat:``, block instances.

- ``vars:`` names values, read in order (a var may use the ones before it);
  every ``${...}`` is substituted (:mod:`modelspec.spec.scalars`): a value that
  is exactly ``"${expr}"`` takes the expression's type, a longer string is
  interpolated. ``--set vars.dim=64`` changes a var for one run.
- ``repeat: N`` on a node makes N copies named ``NAME_0 … NAME_{N-1}`` (or as
  its name says, when the name holds ``${...}``: ``"stage${i + 1}"``), one
  after the other; ``${i}`` is the copy index in their values. Each later copy
  takes the copy before it in place of the first copy's first input (a
  reference or an expression; for an ``expr:`` node, its first name); a node
  without ``inputs:`` simply takes the node before it. ``NAME`` stands
  for the last copy; each ``NAME_k`` can be referenced.
- ``blocks:`` are reusable sub-graphs. A node ``{block: NAME, ...params}`` is
  an instance: its body is the block's inputs, layers and outputs with the
  params in scope (the instance's values over the block's defaults, both
  over the top-level vars), expanded like the top level.

The expanded document keeps every position: its :attr:`~Document.origins`
lead each copy back to where it was written, and a problem in an instance's
body is reported at the instance, naming the definition (``layers[1] (enc_1)
→ blocks.encoder.layers[0] (attn) at spec.yaml:12:9``).

Example:
    >>> from modelspec.spec.loader import load_document
    >>> doc = load_document('''
    ... vars: {dim: 32}
    ... layers:
    ...   - {name: d, type: Dense, units: "${dim * 2 ** i}", repeat: 3}
    ... ''')
    >>> expanded, problems = expand(doc)
    >>> [(n["name"], n["units"]) for n in expanded.data["layers"]], problems
    ([('d_0', 32), ('d_1', 64), ('d_2', 128)], [])
    >>> expanded.aliases, expanded.locate(("layers", 2, "units"))
    ({'d': 'd_2'}, (4, 35))
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import Diagnostic, Via, clipped, shown
from . import tensors
from .graph import NODE_KEYS, leaves, parse_ref
from .loader import Document, PathT
from .scalars import ExpressionError, substitute

#: Most nodes a spec may expand to (repeats unrolled, block bodies counted).
MAX_NODES = 200_000
#: How deeply blocks may nest inside blocks.
MAX_NESTING = 32


@dataclasses.dataclass
class _Expansion:
    doc: Document
    vars: dict[str, Any]
    blocks: dict[str, Any]
    problems: list[Diagnostic]
    nodes: int = 0
    used: set[str] = dataclasses.field(default_factory=set)
    overflow: bool = False

    def fail(self, doc: Document, path: PathT, message: str, node: str | None = None) -> None:
        self.problems.append(doc.diagnostic(path, message, node=node, source=True))


def expand(doc: Document) -> tuple[Document, list[Diagnostic]]:
    """``doc`` with vars resolved, ``${...}`` substituted, repeats unrolled and
    each block instance's body made.

    Returns:
        The expanded document and the problems found, each located; a value
        whose expression fails is left as it was written.
    """
    data = doc.data
    if not isinstance(data, dict) or not _expands(data):
        return doc, []
    exp = _Expansion(doc, {}, {}, [])
    resolved_vars = _vars(exp, data.get("vars"))
    expanded: dict[Any, Any] = {}
    for key, value in data.items():
        if key in ("vars", "layers", "blocks"):
            expanded[key] = value
        else:
            expanded[key] = _walk(exp, doc, value, (key,), exp.vars, None)
    if isinstance(data.get("vars"), dict):
        expanded["vars"] = resolved_vars
    blocks = data.get("blocks")
    exp.blocks = blocks if isinstance(blocks, dict) else {}
    top = dataclasses.replace(doc, data=expanded)
    if isinstance(data.get("layers"), list):
        expanded["layers"], top.origins, top.aliases = _unroll(
            exp, top, data["layers"], ("layers",), exp.vars
        )
    top.bodies = _bodies(exp, top, ())
    for name, definition in exp.blocks.items():
        if isinstance(name, str) and name not in exp.used and isinstance(definition, dict):
            body = _body(exp, name, {}, top, None, ())
            if body is not None:
                top.definitions[name] = body
    return top, exp.problems


def _expands(data: dict[Any, Any]) -> bool:
    """Whether there is anything to expand (most specs have nothing)."""
    if "blocks" in data:
        return True
    layers = data.get("layers")
    if isinstance(layers, list) and any(isinstance(n, dict) and "repeat" in n for n in layers):
        return True
    return _mentions(data)


def _vars(exp: _Expansion, raw: Any) -> dict[Any, Any]:
    """``vars:`` resolved in order into ``exp.vars``; the resolved mapping."""
    resolved: dict[Any, Any] = {}
    if not isinstance(raw, dict):
        return resolved
    pending = [k for k in raw if isinstance(k, str)]
    for name, value in raw.items():
        if isinstance(value, str) and "${" in value:
            try:
                value = substitute(value, exp.vars)
            except ExpressionError as err:
                later = [k for k in pending if k not in exp.vars and k != name]
                exp.fail(
                    exp.doc, ("vars", name), f"{err}{_later_hint(err, later)} (in {shown(value)})"
                )
        resolved[name] = value
        if isinstance(name, str):
            exp.vars[name] = value
    return resolved


def _later_hint(err: ExpressionError, later: list[str]) -> str:
    """`` ('b' comes later in vars: ...)`` when that is why a name is unknown."""
    found = re.match(r"unknown name '([^']*)'", str(err))
    if found and found.group(1) in later:
        return f" ('{found.group(1)}' comes later in vars: vars are read in order)"
    return ""


def _walk(
    exp: _Expansion,
    doc: Document,
    value: Any,
    path: PathT,
    names: Mapping[str, Any],
    node: str | None,
) -> Any:
    """``value`` with its ``${...}`` substituted; ``path`` is its source path."""
    if isinstance(value, dict):
        return {k: _walk(exp, doc, v, (*path, k), names, node) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(exp, doc, v, (*path, i), names, node) for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:
        try:
            return substitute(value, names)
        except ExpressionError as err:
            exp.fail(doc, path, f"{err} (in {shown(value)})", node)
    return value


def _unroll(
    exp: _Expansion,
    doc: Document,
    items: list[Any],
    source: PathT,
    names: Mapping[str, Any],
) -> tuple[list[Any], dict[PathT, PathT], dict[str, str]]:
    """A layer list with its repeats unrolled and ``${...}`` substituted.

    Returns:
        The nodes, where each was written (``{("layers", j): source path}``),
        and the name each repeat gives its last copy.
    """
    layers: list[Any] = []
    origins: dict[PathT, PathT] = {}
    aliases: dict[str, str] = {}
    for k, item in enumerate(items):
        where = (*source, k)
        raw_name = item.get("name") if isinstance(item, dict) else None
        name = raw_name if isinstance(raw_name, str) else None
        count = _count(exp, doc, item, where, names, name)
        if count is None:
            node = _walk(exp, doc, item, where, names, name)
            if isinstance(node, dict):
                node.pop("repeat", None)
            origins[("layers", len(layers))] = where
            layers.append(node)
            continue
        first: str | None = None
        previous = ""
        for c in range(count):
            scope = {**names, "i": c}
            copy = {
                key: _walk(exp, doc, value, (*where, key), scope, name)
                for key, value in item.items()
                if key != "repeat"
            }
            base = copy.get("name")
            templated = isinstance(raw_name, str) and "${" in raw_name  # named by the user
            copy["name"] = base if templated else f"{base}_{c}"
            if c == 0:
                first = _first_ref(copy.get("expr"))
            elif "expr" in copy and first is not None:  # the expression's first node
                copy["expr"] = renamed(copy["expr"], {first: previous})
            elif "inputs" in copy:  # the first input, a reference or an expression
                copy["inputs"] = _chained(copy["inputs"], previous)
            previous = copy["name"]
            origins[("layers", len(layers))] = where
            layers.append(copy)
        if isinstance(base, str) and not (isinstance(raw_name, str) and "${" in raw_name):
            aliases[base] = previous
    return layers, origins, aliases


def _count(
    exp: _Expansion,
    doc: Document,
    item: Any,
    where: PathT,
    names: Mapping[str, Any],
    node: str | None,
) -> int | None:
    """How many copies a node's ``repeat:`` asks for; ``None`` for a node without one
    (or with a bad one, reported)."""
    if not isinstance(item, dict) or "repeat" not in item:
        return None
    path = (*where, "repeat")
    value = item["repeat"]
    if isinstance(value, str) and "${" in value:
        try:
            value = substitute(value, names)
        except ExpressionError as err:
            exp.fail(doc, path, f"{err} (in {shown(value)})", node)
            return None
    if type(value) is not int or value < 1:
        exp.fail(doc, path, f"expected a positive integer. Received: repeat={shown(value)}", node)
        return None
    if not isinstance(item.get("name"), str):
        return None  # the structure check reports the missing name
    exp.nodes += value
    if exp.nodes > MAX_NODES:
        if not exp.overflow:
            exp.fail(
                doc,
                path,
                f"the spec expands to more than {MAX_NODES:,} nodes (repeats unrolled, block "
                f"bodies counted). Received: repeat={value}",
                node,
            )
        exp.overflow = True
        return None
    return value


def _first_ref(text: Any) -> str | None:
    """The node an expression reads first."""
    found = tensors.refs(text) if isinstance(text, str) else []
    return found[0] if found else None


def _chained(field: Any, previous: str) -> Any:
    """An ``inputs:`` field with its first input (a reference or an expression)
    replaced by the previous copy."""
    if isinstance(field, dict) and field:
        first = next(iter(field))
        return {k: previous if k == first else v for k, v in field.items()}
    if isinstance(field, list) and field:
        return [previous, *field[1:]]
    return previous if isinstance(field, str) else field


def renamed(field: Any, names: Mapping[str, str]) -> Any:
    """An ``inputs:`` field with references to some nodes replaced."""
    if isinstance(field, dict):
        return {k: renamed(v, names) for k, v in field.items()}
    if isinstance(field, list):
        return [renamed(v, names) for v in field]
    if not isinstance(field, str):
        return field
    ref = parse_ref(field)
    if ref is not None:
        if ref.node not in names:
            return field
        return names[ref.node] + ("" if ref.index is None else f"[{ref.index}]")
    try:
        return tensors.rename(field, names)
    except ExpressionError:
        return field  # reported by the validator


def _bodies(exp: _Expansion, doc: Document, stack: tuple[str, ...]) -> dict[str, Document]:
    """The body of each block instance among ``doc``'s layers, by instance name."""
    bodies: dict[str, Document] = {}
    layers = doc.data.get("layers") if isinstance(doc.data, dict) else None
    for j, node in enumerate(layers if isinstance(layers, list) else []):
        if not isinstance(node, dict) or not isinstance(node.get("block"), str):
            continue
        name = node.get("name")
        block = node["block"]
        if not isinstance(name, str) or block not in exp.blocks:
            continue  # the validator reports it
        if block in stack or len(stack) >= MAX_NESTING:
            chain = " -> ".join([*stack, block])
            message = (
                f"block '{clipped(block)}' cannot contain itself: {chain}"
                if block in stack
                else f"blocks nest more than {MAX_NESTING} deep: {chain}"
            )
            exp.problems.append(doc.diagnostic(("layers", j, "block"), message, node=name))
            continue
        exp.used.add(block)
        body = _body(exp, block, node, doc, ("layers", j), stack)
        if body is not None:
            bodies[name] = body
    return bodies


def _body(
    exp: _Expansion,
    block: str,
    instance: Mapping[str, Any],
    parent: Document,
    at: PathT | None,
    stack: tuple[str, ...],
) -> Document | None:
    """A block's body with an instance's params (``at`` its path in ``parent``),
    or with the defaults when ``at`` is ``None``."""
    definition = exp.blocks.get(block)
    if not isinstance(definition, dict):
        return None
    source: PathT = ("blocks", block)
    params = definition.get("params")
    defaults = _walk(exp, exp.doc, params, (*source, "params"), exp.vars, None)
    scope = dict(exp.vars)
    if isinstance(defaults, dict):
        scope.update({k: v for k, v in defaults.items() if isinstance(k, str)})
        scope.update({k: v for k, v in instance.items() if k in defaults and k not in NODE_KEYS})
    body = dataclasses.replace(
        exp.doc,
        data=None,
        origins={},
        aliases={},
        bodies={},
        definitions={},
        within=None if at is None else _within(parent, at, instance.get("name")),
    )
    data: dict[str, Any] = {}
    inputs = definition.get("inputs")
    if isinstance(inputs, list):
        data["inputs"] = [
            {"name": item}
            if isinstance(item, str)
            else _walk(exp, body, item, (*source, "inputs", i), scope, None)
            for i, item in enumerate(inputs)
        ]
        body.origins.update({("inputs", i): (*source, "inputs", i) for i in range(len(inputs))})
    else:
        data["inputs"] = inputs
    layers = definition.get("layers")
    if isinstance(layers, list):
        data["layers"], origins, body.aliases = _unroll(
            exp, body, layers, (*source, "layers"), scope
        )
        body.origins.update(origins)
    else:
        data["layers"] = layers
    data["outputs"] = _walk(exp, body, definition.get("outputs"), (*source, "outputs"), scope, None)
    body.origins[("outputs",)] = (*source, "outputs")
    body.data = data
    body.bodies = _bodies(exp, body, (*stack, block))
    return body


def _within(parent: Document, at: PathT, name: Any) -> Callable[[Diagnostic], Diagnostic]:
    """Report a problem found in an instance's body at the instance, naming the definition."""
    node = name if isinstance(name, str) else None

    def report(found: Diagnostic) -> Diagnostic:
        outer = parent.diagnostic(at, found.message, node=node, severity=found.severity)
        via = Via(found.where, found.file, found.line, found.column)
        return dataclasses.replace(outer, via=(*outer.via, via))

    return report


def _mentions(data: Any) -> bool:
    """Whether any string in ``data`` holds ``${`` (most specs have none)."""
    return any(isinstance(value, str) and "${" in value for value in leaves(data))
