"""A spec as expansion sees it, printed back as YAML (``modelspec expand``).

Vars are substituted and repeats unrolled; blocks are kept as written (each
instance's body is made when the printed spec is read again). Each node ends
with a comment naming the line it was written at, and a reference to a
repeat's name is written as its last copy's, so the printed spec is itself a
spec that builds the same model.

Example:
    >>> from modelspec.spec.loader import load_document
    >>> from modelspec.spec.expand import expand
    >>> doc, _ = expand(load_document('''
    ... vars: {n: 2}
    ... layers:
    ...   - {name: d, type: Dense, units: 8, repeat: "${n}"}
    ...   - {name: out, type: Dense, units: 1, inputs: d}
    ... '''))
    >>> print(render(doc))
    vars: {n: 2}
    layers:
    - {name: d_0, type: Dense, units: 8}  # line 4 (copy 1 of 2)
    - {name: d_1, type: Dense, units: 8}  # line 4 (copy 2 of 2)
    - {name: out, type: Dense, units: 1, inputs: d_1}  # line 5
    <BLANKLINE>
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import yaml

from .expand import renamed
from .loader import Document


def _flow(value: Any) -> str:
    """``value`` as one line of flow-style YAML."""
    text = yaml.safe_dump(
        [value], default_flow_style=True, sort_keys=False, width=float("inf"), allow_unicode=True
    )
    return text.strip()[1:-1]


def render(doc: Document) -> str:
    """The expanded document ``doc`` as YAML text, each node commented with its source line."""
    data = doc.data if isinstance(doc.data, dict) else {}
    aliases = doc.aliases
    out: list[str] = []
    for key, value in data.items():
        if key == "layers" and isinstance(value, list):
            out.append("layers:")
            copies = Counter(doc.source_path(("layers", j)) for j in range(len(value)))
            seen: Counter[Any] = Counter()
            for j, node in enumerate(value):
                source = doc.source_path(("layers", j))
                seen[source] += 1
                line = doc.locate(("layers", j))[0]
                note = f"  # line {line}" if line else ""
                if copies[source] > 1:
                    note += f" (copy {seen[source]} of {copies[source]})"
                out.append(f"- {_flow(_unaliased(node, aliases))}{note}")
        elif key == "outputs":
            out.append(f"outputs: {_flow(renamed(value, aliases))}")
        elif not isinstance(value, dict | list):
            out.append(f"{_flow(key)}: {_flow(value)}")
        else:
            text = yaml.safe_dump(
                {key: value}, sort_keys=False, default_flow_style=None, allow_unicode=True
            )
            out.append(text.rstrip("\n"))
    return "\n".join(out) + "\n"


def _unaliased(node: Any, aliases: dict[str, str]) -> Any:
    """A node with references to a repeat's name written as its last copy's."""
    if not aliases or not isinstance(node, dict):
        return node
    node = dict(node)
    for key in ("inputs", "expr", "share"):
        if key in node:
            node[key] = renamed(node[key], aliases)
    add_loss = node.get("add_loss")
    if isinstance(add_loss, dict) and "expr" in add_loss:
        node["add_loss"] = {**add_loss, "expr": renamed(add_loss["expr"], aliases)}
    return node
