"""The layer graph of a spec: references, default wiring, and a topological order.

Works on plain data so the validator can use it on a spec that is not (yet)
valid as a whole; iterative throughout, so 10 000-node specs are no problem.

Example:
    >>> parse_ref("lstm_1[1]")
    Ref(node='lstm_1', index=1)
    >>> topological_order({"a": [], "b": ["a"], "c": ["b", "a"]})
    (['a', 'b', 'c'], [])
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from . import tensors
from .scalars import is_deferred, shape_refs

_REF = re.compile(r"^([A-Za-z_][A-Za-z0-9_.\-]*?)(?:\[(-?\d+)\])?$")
PathT = tuple[str | int, ...]
#: Keys of a node that are not a layer's arguments, an op's or a block's params.
NODE_KEYS = (
    *("name", "type", "op", "expr", "block", "inputs", "share", "add_loss", "adapt", "repeat"),
)


@dataclass(frozen=True)
class Ref:
    """A reference to a node's output, optionally one item of a multi-output node."""

    node: str
    index: int | None = None


def parse_ref(text: Any) -> Ref | None:
    """Parse ``name`` or ``name[index]``; ``None`` when ``text`` is neither."""
    if not isinstance(text, str):
        return None
    match = _REF.match(text)
    if not match:
        return None
    return Ref(match.group(1), int(match.group(2)) if match.group(2) is not None else None)


def iter_refs(field: Any, path: PathT = ()) -> Iterator[tuple[PathT, Any]]:
    """Every reference in an ``inputs:`` field, with its path inside the field."""
    if isinstance(field, dict):
        for key, value in field.items():
            yield from iter_refs(value, (*path, key))
    elif isinstance(field, list):
        for i, value in enumerate(field):
            yield (*path, i), value
    else:
        yield path, field


def effective_inputs(layers: list[Any], input_names: list[str]) -> list[Any]:
    """Each layer's ``inputs:``, the omitted ones filled with the previous node.

    The first layer's omitted inputs default to the model input when there is
    exactly one; otherwise they stay ``None`` (the validator reports it).
    """
    result: list[Any] = []
    previous: str | None = input_names[0] if len(input_names) == 1 else None
    for node in layers:
        node = node if isinstance(node, dict) else {}
        inputs = node.get("inputs")
        result.append(inputs if inputs is not None else previous)
        name = node.get("name")
        previous = name if isinstance(name, str) else None
    return result


def topological_order(deps: dict[str, list[str]]) -> tuple[list[str], list[list[str]]]:
    """Order nodes so each comes after its dependencies (Kahn's algorithm).

    Args:
        deps: ``node -> nodes it depends on`` (unknown names are ignored).

    Returns:
        The order of the nodes not caught in a cycle (ties keep ``deps`` order),
        and each cycle found, as a list of node names.
    """
    indegree = {n: 0 for n in deps}
    users: dict[str, list[str]] = {n: [] for n in deps}
    for node, needs in deps.items():
        for dep in dict.fromkeys(needs):
            if dep in deps:
                indegree[node] += 1
                users[dep].append(node)
    position = {n: i for i, n in enumerate(deps)}
    ready = [n for n in deps if indegree[n] == 0]
    ready.reverse()
    order: list[str] = []
    while ready:
        node = ready.pop()
        order.append(node)
        freed = []
        for user in users[node]:
            indegree[user] -= 1
            if indegree[user] == 0:
                freed.append(user)
        ready.extend(sorted(freed, key=position.__getitem__, reverse=True))
    return order, _cycles({n for n in deps if indegree[n] > 0}, deps, position)


def _cycles(
    stuck: set[str], deps: dict[str, list[str]], position: dict[str, int]
) -> list[list[str]]:
    """The cycles among nodes Kahn's algorithm could not order."""
    cycles: list[list[str]] = []
    seen: set[str] = set()
    for start in sorted(stuck, key=position.__getitem__):
        if start in seen:
            continue
        trail: list[str] = []
        index: dict[str, int] = {}
        node: str | None = start
        while node is not None and node not in index and node not in seen:
            index[node] = len(trail)
            trail.append(node)
            node = next((d for d in deps[node] if d in stuck), None)
        seen.update(trail)
        if node is not None and node in index:
            cycle = trail[index[node] :]
            first = min(range(len(cycle)), key=lambda i: position[cycle[i]])
            cycles.append(cycle[first:] + cycle[:first])
    return cycles


def field_refs(field: Any) -> Iterator[tuple[PathT, Ref]]:
    """Every node an ``inputs:`` field reads, references and tensor expressions alike."""
    for path, text in iter_refs(field):
        ref = parse_ref(text)
        if ref is not None:
            yield path, ref
        elif isinstance(text, str):
            for name in tensors.refs(text):
                yield path, Ref(name)


def node_deps(node: dict[str, Any], field: Any) -> list[str]:
    """The nodes a node needs built before it: its inputs (``field``, the effective
    ``inputs:``), its expression's and its add_loss expression's names, the node
    it shares, the nodes whose shapes its arguments read.

    Example:
        >>> node_deps({"name": "z", "expr": "m + exp(v) * e"}, None)
        ['m', 'v', 'e']
    """
    name = node.get("name")
    found: list[str] = []
    if isinstance(node.get("expr"), str):
        found += tensors.refs(node["expr"])
    else:
        found += [ref.node for _, ref in field_refs(field)]
    add_loss = node.get("add_loss")
    if isinstance(add_loss, dict) and isinstance(add_loss.get("expr"), str):
        found += tensors.refs(add_loss["expr"])
    if isinstance(node.get("share"), str):
        found.append(node["share"])
    for value in leaves([v for k, v in node.items() if k not in NODE_KEYS]):
        if is_deferred(value):
            found += shape_refs(value)
    return [n for n in dict.fromkeys(found) if n != name]


def leaves(data: Any) -> Iterator[Any]:
    """Every value inside nested lists and mappings that is neither.

    Example:
        >>> sorted(leaves({"a": [1, {"b": 2}], "c": 3}))
        [1, 2, 3]
    """
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        else:
            yield value
