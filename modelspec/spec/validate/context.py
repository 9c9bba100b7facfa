"""What every section's checks share: the document, the diagnostics found so far.

Example:
    >>> from modelspec.spec.loader import load_document
    >>> ctx = Context(load_document("layers: [{name: a}]"), allow_imports=False)
    >>> ctx.add(("layers", 0), "a problem")
    >>> print(ctx.diagnostics[0].format())
    <string>:1:10: layers[0] (a): a problem
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from ...catalogue import LayerSignature
from ...errors import Diagnostic
from ...registry import layer_signature
from ..graph import parse_ref
from ..loader import Document, PathT


class Context:
    """The spec being checked and what was found in it.

    Attributes:
        doc: The document (data and positions).
        data: Its data, a mapping (any value inside may have any type).
        allow_imports: Whether the spec's ``imports:`` may be imported.
        diagnostics: Errors and warnings, in the order found.
        broken_refs: Whether a reference to an unknown node was reported.
        in_block: Whether this is a block's body.
    """

    def __init__(self, doc: Document, allow_imports: bool) -> None:
        self.doc = doc
        self.data: dict[str, Any] = doc.data
        self.allow_imports = allow_imports
        self.diagnostics: list[Diagnostic] = []
        self.broken_refs = False
        #: Whether this is a block instance's (or definition's) body.
        self.in_block = False
        #: The Keras backend the spec is checked for (:mod:`.backend`).
        self.backend = "tensorflow"
        self._signatures: dict[str, LayerSignature | None] = {}
        data = self.data if isinstance(self.data, dict) else {}
        blocks = data.get("blocks")
        #: The spec's block definitions (as written), by name.
        self.blocks: dict[str, Any] = blocks if isinstance(blocks, dict) else {}
        variables = data.get("vars")
        #: The spec's ``imports:`` when they were refused (unknown names may be theirs).
        self.refused_imports: list[str] = []
        #: The files the spec reads by a relative path: ``(source path, path as written)``
        #: (data files, a lookup layer's vocabulary), for a copy of the spec elsewhere.
        self.reads: list[tuple[PathT, str]] = []
        #: The names ``${...}`` knew here (vars; block params in a body).
        self.scalars: set[str] = set(variables) if isinstance(variables, dict) else set()

    def within(self, body: Document, params: Any = None) -> Context:
        """A context for a block instance's body, its problems reported at the instance."""
        inner = Context(body, self.allow_imports)
        inner.blocks = self.blocks
        inner.scalars = self.scalars | (set(params) if isinstance(params, dict) else set())
        inner._signatures = self._signatures
        inner.diagnostics = self.diagnostics
        inner.refused_imports = self.refused_imports
        inner.reads = self.reads
        inner.in_block = True
        inner.backend = self.backend
        return inner

    def read(self, path: PathT, value: str) -> None:
        """Note that the spec reads the file ``value`` (written at ``path``), when it is
        relative to the spec's folder."""
        with contextlib.suppress(OSError, ValueError):
            if not Path(value).expanduser().is_absolute():
                self.reads.append((self.doc.source_path(path), value))

    def node_name(self, path: PathT) -> str | None:
        """The name of the input or layer node ``path`` is inside, if any."""
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
        """Report a problem at ``path`` (at its key with ``key``)."""
        self.diagnostics.append(
            self.doc.diagnostic(
                path,
                message,
                key=key,
                node=self.node_name(path),
                severity="warning" if warning else "error",
            )
        )

    def signature(self, type_name: str) -> LayerSignature | None:
        """A layer type's signature, resolved once per check."""
        if type_name not in self._signatures:
            self._signatures[type_name] = layer_signature(type_name)
        return self._signatures[type_name]


def as_list(value: Any) -> list[Any]:
    """``value`` when it is a list, else ``[]`` (a wrong type is the structure check's)."""
    return value if isinstance(value, list) else []


def output_names(outputs: Any) -> list[str]:
    """The model's output names: the keys of a mapping, else the output nodes' names."""
    if isinstance(outputs, dict):
        return [str(k) for k in outputs]
    refs = [outputs] if isinstance(outputs, str) else as_list(outputs)
    parsed = [parse_ref(r) for r in refs if isinstance(r, str)]
    return [r.node for r in parsed if r is not None]
