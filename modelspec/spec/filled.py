"""The spec's text with values in place of its search spaces (``best.yaml``): the
rest as written, comments kept.

Example:
    >>> from modelspec.spec.loader import load_document
    >>> doc = load_document("a: 1  # kept\\nb: {tune: int, low: 1, high: 4}\\n")
    >>> print(filled_text(doc, {("b",): 3}), end="")
    a: 1  # kept
    b: 3
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from .loader import Document, PathT
from .spaces import fold, shown_value, substitute


def filled_text(doc: Document, values: Mapping[PathT, Any], *, drop: tuple[str, ...] = ()) -> str:
    """The spec's text with each space replaced by its value, the rest as written
    (comments kept); top-level keys in ``drop`` are left out.

    Falls back to the data dumped as YAML when the text cannot be edited in place
    (the spec was a mapping, a space is not in the text, or stands inside a value
    ``--set`` replaced, or in an alias). A space ``--set`` put in place of a value
    of the text takes that value's place.

    Example:
        >>> from modelspec.spec.loader import load_document
        >>> doc = load_document("a: 1  # kept\\nb:\\n  tune: int\\n  low: 1\\n  high: 4\\n")
        >>> print(filled_text(doc, {("b",): 3}), end="")
        a: 1  # kept
        b: 3
    """
    text = doc.text
    values = fold(doc.data, values)
    edits = _spans(text, values, drop) if text is not None else None
    replaced = [p for p in doc.overridden if any(v[: len(p)] == p != v for v in values)]
    if edits is None or replaced:  # a space inside a value --set replaced: not in the text
        data = substitute(doc, values).data
        data = {k: v for k, v in data.items() if k not in drop}
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    assert text is not None
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _spans(
    text: str, values: Mapping[PathT, Any], drop: tuple[str, ...]
) -> list[tuple[int, int, str]] | None:
    """``(start, end, replacement)`` text edits, or ``None`` when a path cannot be
    found once in the text's node tree."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    if not isinstance(root, yaml.MappingNode):
        return None
    edits: list[tuple[int, int, str]] = []
    for path, value in values.items():
        found = _node(root, path)
        if found is None:
            return None
        key, node = found
        new = shown_value(value)
        start = node.start_mark.index
        end = start + len(text[start : node.end_mark.index].rstrip())
        if key is not None and "\n" in text[key.end_mark.index : start]:
            start = key.end_mark.index + 1  # a block mapping: the value goes after the key
            rest = text[start : text.index("\n", start)].rstrip()
            new = " " + new + (rest if rest.lstrip().startswith("#") else "")  # its comment
        if any(start < e and s < end for s, e, _ in edits):
            return None  # one text for two places (an alias): dumped instead
        edits.append((start, end, new))
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    keys = root.value
    for i, (key_node, _) in enumerate(keys):
        if key_node.value in drop:
            first = offsets[key_node.start_mark.line]
            nxt = keys[i + 1][0].start_mark.line if i + 1 < len(keys) else len(lines)
            edits.append((first, offsets[nxt], ""))
    return edits


def written_string(text: str | None, path: PathT) -> str | None:
    """The string written at ``path`` in the YAML ``text``, when it is one scalar there
    (not an alias, not inside a merge key).

    Example:
        >>> written_string("a: [x, {b: 'y.csv'}]\\n", ("a", 1, "b")), written_string("a: 1", ("b",))
        ('y.csv', None)
    """
    try:
        root = yaml.compose(text or "", Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    found = _node(root, path) if root is not None else None
    if found is None or not isinstance(found[1], yaml.ScalarNode):
        return None
    return str(found[1].value)


def _node(root: yaml.Node, path: PathT) -> tuple[yaml.Node | None, yaml.Node] | None:
    """The key node and value node at ``path`` (the key is ``None`` in a list)."""
    node: yaml.Node = root
    key: yaml.Node | None = None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            matches = [(k, v) for k, v in node.value if k.value == str(part)]
            if len(matches) != 1 or any(k.tag.endswith(":merge") for k, _ in node.value):
                return None
            key, node = matches[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not -len(node.value) <= part < len(node.value):
                return None
            key, node = None, node.value[part]
        else:
            return None
    return key, node
