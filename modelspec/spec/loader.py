"""Load a spec's YAML safely, remembering where every key and value stands.

The first step of validation. Only YAML's plain data types are constructed (the
``yaml.safe_load`` set: no Python tags); anchors and aliases work, but a
document whose aliases expand past the node limit is refused before anything
is built from it. Two YAML 1.1 surprises are fixed the YAML 1.2 way:
``1e-3`` is the float 0.001 (PyYAML would read a string) and only
``true``/``false`` are booleans (``on``, ``no``, ``y`` stay strings).

Hostile input gets a located error, never a crash, a hang or a read without
end: :mod:`~modelspec.spec.guard` reads only regular files of bounded size,
refuses control characters at their line, and bounds nesting and the number
of values before the composer and the builder, which recurse, see them.

Example:
    >>> doc = load_document("modelspec: 1\\nlr: 1e-3\\n")
    >>> doc.data["lr"], doc.locate(("lr",))
    (0.001, (2, 5))
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import Diagnostic, SpecLoadError, clipped
from .guard import (
    check_characters,
    check_data,
    check_events,
    fail,
    pos,
    read_file,
    size_limit,
)

PathT = tuple[str | int, ...]
Position = tuple[int, int]

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BOOL = "tag:yaml.org,2002:bool"
_FLOAT = "tag:yaml.org,2002:float"
_MERGE = "tag:yaml.org,2002:merge"
_PLAIN_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


class _SpecLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """SafeLoader with YAML 1.2 booleans and exponent floats; merge keys checked."""

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        """Check merge keys first: PyYAML drops a bad one, then fails unlocated."""
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE and (received := _not_mergeable(value_node)):
                raise yaml.constructor.ConstructorError(
                    problem="expected a mapping or a list of mappings after the merge key "
                    f"'<<'. Received: {received}. A merge key copies the keys of other "
                    "mappings, e.g. `<<: *base`",
                    problem_mark=key_node.start_mark,
                )
        super().flatten_mapping(node)


_SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SpecLoader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_SpecLoader.add_implicit_resolver(
    _FLOAT,
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


@dataclass
class Document:
    """A parsed spec document and the source position of each of its parts.

    Attributes:
        data: The plain Python value (a dict for a valid spec).
        file: Display name of the source: a path, ``<string>`` or ``<dict>``.
        positions: ``path -> (line, column)`` of each value (1-based).
        key_positions: ``path -> (line, column)`` of each mapping key.
        base_dir: Directory relative paths in the spec resolve against.
        text: The source text, when read from text.
        overridden: Paths whose value a ``--set key=value`` gave, and that text.
        origins: For an expanded document (:mod:`modelspec.spec.expand`), where
            its parts come from: ``{path prefix here: path prefix in the source}``
            (a repeat's copies, a block instance's layers).
        within: For a block instance's body, turns a problem found in it into
            one reported at the instance (naming the definition).
        aliases: Node names that stand for another node (a repeat's name for
            its last copy).
        bodies: The body of each block instance, by instance name.
        definitions: The body of each block no node instantiates, with its
            params' defaults (checked, and built alone with ``--block``).
    """

    data: Any
    file: str = "<string>"
    positions: dict[PathT, Position] = field(default_factory=dict)
    key_positions: dict[PathT, Position] = field(default_factory=dict)
    base_dir: Path = field(default_factory=Path.cwd)
    text: str | None = None
    overridden: dict[PathT, str] = field(default_factory=dict)
    origins: dict[PathT, PathT] = field(default_factory=dict)
    within: Callable[[Diagnostic], Diagnostic] | None = None
    aliases: dict[str, str] = field(default_factory=dict)
    bodies: dict[str, Document] = field(default_factory=dict)
    definitions: dict[str, Document] = field(default_factory=dict)

    def source_path(self, path: PathT) -> PathT:
        """Where ``path`` of this (maybe expanded) document was written in the source."""
        path = tuple(path)
        if self.origins:
            for end in range(len(path), 0, -1):
                origin = self.origins.get(path[:end])
                if origin is not None:
                    return (*origin, *path[end:])
        return path

    def locate(self, path: PathT, *, key: bool = False) -> Position:
        """Position of ``path``, or of its nearest located ancestor.

        Args:
            path: Location inside the document.
            key: Prefer the position of the mapping key over its value.
        """
        return self._position(self.source_path(path), key=key)

    def _position(self, path: PathT, *, key: bool = False) -> Position:
        path = tuple(path)
        while True:
            if key and path in self.key_positions:
                return self.key_positions[path]
            if path in self.positions:
                return self.positions[path]
            if not path:
                return (0, 0)
            path = path[:-1]
            key = False

    def diagnostic(
        self,
        path: PathT,
        message: str,
        *,
        key: bool = False,
        node: str | None = None,
        severity: str = "error",
        source: bool = False,
    ) -> Diagnostic:
        """A :class:`Diagnostic` located at ``path`` in this document, or at the
        ``--set`` override that gave the value there.

        ``path`` is a path of this document, or with ``source`` already a path
        in the source. A problem in a block instance's body is reported at the
        instance, naming the definition (:attr:`within`).
        """
        path = tuple(path) if source else self.source_path(path)
        for end in range(len(path), 0, -1):
            given = self.overridden.get(tuple(path[:end]))
            if given is not None:
                file, line, column = f"--set {given}", 0, 0
                break
        else:
            file, (line, column) = self.file, self._position(path, key=key)
        found = Diagnostic(
            message=message,
            path=path,
            file=file,
            line=line,
            column=column,
            node=node,
            severity=severity,  # type: ignore[arg-type]
        )
        return self.within(found) if self.within is not None else found


def _short(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!")


def _mark(node: yaml.Node) -> Position:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def _preview(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:37] + "...")


def _not_mergeable(node: yaml.Node, *, item: bool = False) -> str | None:
    """What a merge key's value is, when it is not a mapping or a list of them."""
    if isinstance(node, yaml.ScalarNode):
        return f"the scalar {_preview(node.value)}"
    if isinstance(node, yaml.SequenceNode):
        if item:
            return "a list"
        for i, value in enumerate(node.value):
            if received := _not_mergeable(value, item=True):
                return f"a list whose item {i} is {received}"
    return None


class _Builder:
    """Constructs plain data from a composed node tree, recording positions."""

    def __init__(self, loader: yaml.SafeLoader, doc: Document) -> None:
        self.loader = loader
        self.doc = doc
        self.own_keys: dict[int, set[int]] = {}

    def build(self, node: yaml.Node, path: PathT) -> Any:
        self.doc.positions.setdefault(path, _mark(node))
        if isinstance(node, yaml.ScalarNode):
            try:
                return self.loader.construct_object(node, deep=True)
            except yaml.constructor.ConstructorError as err:
                raise self.refuse_tag(node) from err
            except (ValueError, LookupError, AttributeError) as err:  # e.g. 2001-13-45
                raise self.refuse_value(node, err) from None
        if node.tag not in _PLAIN_TAGS:
            raise self.refuse_tag(node)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.MappingNode)
        # flatten_mapping rewrites node.value in place: remember the node's own
        # keys on first sight, for a mapping an alias makes us visit again.
        own = self.own_keys.setdefault(id(node), {id(k) for k, _ in node.value})
        try:
            self.loader.flatten_mapping(node)  # resolves `<<: *anchor` merge keys
        except yaml.constructor.ConstructorError as err:
            raise fail(self.doc.file, str(err.problem), *pos(err.problem_mark)) from None
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise fail(self.doc.file, "mapping keys must be plain scalars", *_mark(key_node))
            key = self.build(key_node, ())
            if key in result and id(key_node) in own and (*path, key) in self.doc.key_positions:
                raise fail(
                    self.doc.file,
                    f"duplicate key {key!r} in this mapping (the first one is at line "
                    f"{self.doc.key_positions[(*path, key)][0]})",
                    *_mark(key_node),
                )
            if id(key_node) in own:  # a merged key is overridden silently, as YAML says
                self.doc.key_positions[(*path, key)] = _mark(key_node)
            result[key] = self.build(value_node, (*path, key))
        return result

    def refuse_value(self, node: yaml.ScalarNode, err: Exception) -> SpecLoadError:
        reason = f" ({str(err).partition(';')[0]})" if isinstance(err, ValueError) else ""
        implicit = self.loader.resolve(yaml.ScalarNode, node.value, (True, False)) == node.tag
        return fail(
            self.doc.file,
            f"expected a valid {_short(node.tag)} value. Received: {_preview(node.value)}"
            f"{reason}; {'quote it' if implicit else 'remove the tag'} to keep it a string",
            *_mark(node),
        )

    def refuse_tag(self, node: yaml.Node) -> SpecLoadError:
        return fail(
            self.doc.file,
            f"the tag {_short(node.tag)!r} is not allowed: a spec holds plain data only "
            "(mappings, lists, strings, numbers, booleans, null)",
            *_mark(node),
        )


#: ``enc[1]`` not inside quotes: in YAML flow style it breaks the parse.
_UNQUOTED_INDEXED_REF = re.compile(r"(?<!['\"\w])([A-Za-z_][\w.\-]*\[-?\d+\])")


def _parse(text: str, doc: Document) -> Any:
    check_characters(text, doc.file)
    loader = _SpecLoader(text)
    try:
        check_events(text, doc.file)
        root = loader.get_single_node()
    except yaml.composer.ComposerError as err:
        mark = err.problem_mark or err.context_mark
        problem = err.problem or "invalid document"
        if "expected a single document" in str(err.context):
            problem = "expected one YAML document, found several (remove the '---')"
        raise fail(doc.file, problem, *(pos(mark) if mark else (0, 0))) from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err)
        if mark is not None and "did not find expected ','" in problem:
            line = text.splitlines()[mark.line] if mark.line < len(text.splitlines()) else ""
            ref = _UNQUOTED_INDEXED_REF.search(line)
            if ref:
                problem += (
                    f". Inside [...] or {{...}}, YAML reads '[' as the start of a list: "
                    f"quote indexed references, e.g. '{ref.group(1)}'"
                )
        if mark is not None:
            problem += _syntax_hint(problem, text.splitlines(), mark.line)
        raise fail(doc.file, f"invalid YAML: {problem}", *(pos(mark) if mark else (0, 0))) from err
    finally:
        loader.dispose()
    if root is None:
        return None
    return _Builder(loader, doc).build(root, ())


_INDENTATION = ("did not find expected key", "expected '-' indicator", "expected <block end>")


def _syntax_hint(problem: str, lines: list[str], index: int) -> str:
    """A hint in modelspec's words for PyYAML's usual syntax errors (``index``: 0-based line).

    Example:
        >>> _syntax_hint("did not find expected key", ["a:", "  b: 1", " c: 2"], 2)
        ". 'c' at line 3 starts at column 2, between 'a' (column 1, line 1) and 'b' (column 3, line 2): line it up with one of them; keys of one mapping start in the same column (YAML reads nesting from indentation)"
    """  # noqa: E501
    line = lines[index] if 0 <= index < len(lines) else ""
    if "tab" in problem or line.lstrip(" ").startswith("\t"):
        return f". YAML indents with spaces, not tabs: replace the tab on line {index + 1}"
    if "expected ',' or '}'" in problem or "expected ',' or ']'" in problem:
        if "quote indexed references" in problem:
            return ""
        opened, close = ("{", "}") if "'}'" in problem else ("[", "]")
        return (
            f". A '{opened}' opened before line {index + 1} is not closed with '{close}', or "
            "a value inside it holds a ',' or ':' and needs quotes"
        )
    indentation = any(p in problem for p in _INDENTATION)
    if "mapping values are not allowed" in problem:
        value = line.split(": ", 1)[1] if ": " in line else ""
        if ": " in value and not value.lstrip().startswith(("'", '"', "{", "[")):
            name = line.split(":", 1)[0].strip(" -")
            return f". A value holding ': ' must be quoted: {name}: '{value.strip()}'"
        indentation = True
    if not indentation:
        return ""

    def column(text: str) -> int:  # where a line's key starts, after any '- '
        stripped = text.lstrip(" ")
        indent = len(text) - len(stripped)
        while stripped.startswith("- "):
            indent += 2
            stripped = stripped[2:]
        return indent + 1

    def key(text: str) -> str:  # a line's key, or its flow item
        item = text.strip().lstrip("- ")
        return clipped(item if item.startswith(("{", "[")) else item.split(":", 1)[0].strip(), 30)

    if not line.strip():
        return ""
    here = column(line)
    above = [
        (i, column(lines[i]))
        for i in range(index - 1, -1, -1)
        if lines[i].strip() and not lines[i].lstrip().startswith("#")
    ]
    if not above:
        return ""
    start = f". '{key(line)}' at line {index + 1} starts at column {here}"
    rule = "keys of one mapping start in the same column (YAML reads nesting from indentation)"
    nearest, nearest_column = above[0]
    if nearest_column < here:
        return (
            f"{start}, right of '{key(lines[nearest])}' at line {nearest + 1} "
            f"(column {nearest_column}): {rule}"
        )
    left = next(((i, c) for i, c in above if c < here), None)
    if left is None:
        return f"{start}, left of the line above (column {nearest_column}): {rule}"
    return (
        f"{start}, between '{key(lines[left[0]])}' (column {left[1]}, line {left[0] + 1}) and "
        f"'{key(lines[nearest])}' (column {nearest_column}, line {nearest + 1}): line it up with "
        f"one of them; {rule}"
    )


def _is_path(source: str) -> bool:
    if "\n" in source:
        return False
    return source.endswith((".yaml", ".yml", ".json")) or os.path.exists(source)


def load_document(
    source: str | os.PathLike[str] | Mapping[str, Any], *, max_bytes: int | None = None
) -> Document:
    """Read a spec from a path, YAML text or an in-memory mapping.

    A ``str`` is a path when it has no newline and names an existing file or
    ends in ``.yaml``/``.yml``/``.json``; otherwise it is YAML text. Only a
    regular file is read (a FIFO or a device is refused without reading it).
    Text, like a file, may hold at most :data:`~modelspec.spec.guard.MAX_NODES` values,
    nested at most :data:`~modelspec.spec.guard.MAX_DEPTH` levels deep.

    Args:
        source: Where the spec comes from.
        max_bytes: Largest file to read, in bytes; by default the environment
            variable ``MODELSPEC_MAX_SPEC_BYTES``, else
            :data:`~modelspec.spec.guard.MAX_SPEC_BYTES`.

    Returns:
        The parsed :class:`Document`.

    Raises:
        SpecLoadError: The file is missing, unreadable, not a regular file,
            too large, binary, empty, not valid YAML, nested too deep, too
            large once its aliases are expanded, or not a mapping at the top.
    """
    if isinstance(source, Mapping):
        check_data(source, "<dict>")
        return Document(data=dict(source), file="<dict>")
    if isinstance(source, os.PathLike) or _is_path(source):
        path = Path(source)
        file = str(source)
        raw = read_file(path, file, size_limit(file, max_bytes))
        if b"\0" in raw:
            raise fail(
                file, "is a binary file, not a YAML spec", *_byte_position(raw, raw.index(b"\0"))
            )
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            start = err.start + (3 if raw.startswith(b"\xef\xbb\xbf") else 0)
            raise fail(
                file,
                f"is not UTF-8 text (byte {err.start} cannot be decoded)",
                *_byte_position(raw, start),
            ) from None
        doc = Document(data=None, file=file, base_dir=path.resolve().parent, text=text)
    else:
        doc = Document(data=None, text=str(source))
    doc.data = _parse(doc.text or "", doc)
    if doc.data is None:
        raise fail(
            doc.file,
            "the spec is empty: expected a mapping with the keys modelspec, name, "
            "inputs, layers and outputs",
            1,
            1,
        )
    if not isinstance(doc.data, dict):
        kind = "a list" if isinstance(doc.data, list) else f"{doc.data!r}"
        raise fail(
            doc.file,
            f"expected a mapping at the top of the spec. Received: {kind}",
            *doc.locate(()),
        )
    return doc


def _byte_position(raw: bytes, index: int) -> tuple[int, int]:
    """Line and column (1-based, in bytes) of byte ``index`` of a file."""
    line_start = raw.rfind(b"\n", 0, index) + 1
    return raw.count(b"\n", 0, index) + 1, index - line_start + 1


def apply_overrides(doc: Document, overrides: Mapping[str, Any] | list[str]) -> list[str]:
    """Set values in ``doc.data`` from ``key.path=value`` overrides (``--set``).

    Values are read as YAML with the spec's rules (``1e-3`` is a float), so
    ``train.epochs=3`` sets an integer and ``compile.optimizer={type: sgd}`` a
    mapping. List items are addressed by index (``layers.2.units=64``).
    Returns the overrides as ``key=value`` strings, for the run's record.

    Raises:
        SpecLoadError: An override is not ``key=value``, or its path runs
            through a value that is not a mapping or a list.

    Example:
        >>> doc = load_document("train: {epochs: 10}")
        >>> apply_overrides(doc, ["train.epochs=3"]); doc.data["train"]["epochs"]
        ['train.epochs=3']
        3
    """
    items: list[tuple[str, Any]] = []
    record: list[str] = []
    if isinstance(overrides, Mapping):
        items = list(overrides.items())
        record = [f"{k}={v!r}" for k, v in items]
    else:
        for text in overrides:
            key, sep, value = text.partition("=")
            if not sep or not key.strip():
                raise fail(
                    "--set", f"expected key.path=value (e.g. train.epochs=3). Received: {text!r}"
                )
            try:
                parsed = load_document(f"value: {value}").data["value"]
            except SpecLoadError as err:
                raise fail("--set", f"{key}: {err.diagnostics[0].message}") from None
            items.append((key.strip(), parsed))
            record.append(f"{key.strip()}={value.strip()}")
    for (key, value), given in zip(items, record, strict=True):
        parts: list[str | int] = [int(p) if p.lstrip("-").isdigit() else p for p in key.split(".")]
        _no_brackets(key, parts)
        doc.overridden[tuple(parts)] = given  # its problems are reported at the option
        target = doc.data
        for i, part in enumerate(parts[:-1]):
            if isinstance(target, dict):
                target = target.setdefault(part, {})
            elif (
                isinstance(target, list)
                and isinstance(part, int)
                and -len(target) <= part < len(target)
            ):
                target = target[part]
            else:
                where = ".".join(map(str, parts[:i])) or "the spec"
                raise fail(
                    "--set",
                    f"{key}: cannot go into '{part}': '{where}' is {target!r}, "
                    "not a mapping or a list long enough",
                )
        last = parts[-1]
        if isinstance(target, dict) or (
            isinstance(target, list)
            and isinstance(last, int)
            and -len(target) <= last < len(target)
        ):
            target[last] = value  # type: ignore[index]
        else:
            raise fail("--set", f"{key}: cannot set '{last}' in {type(target).__name__}")
    return record


def _no_brackets(key: str, parts: list[str | int]) -> None:
    """Refuse ``layers[0].units`` (it would add a key ``layers[0]``) and the name of a
    space inside a choice (``compile.optimizer[sgd].momentum``), with the path to use.

    Example:
        >>> try:
        ...     _no_brackets("layers[0].units", ["layers[0]", "units"])
        ... except SpecLoadError as err:
        ...     print(err.diagnostics[0].message.split(". ")[-1])
        Did you mean 'layers.0.units'?
    """
    for i, part in enumerate(parts):
        found = re.fullmatch(r"([^\[\]]+)\[([^\[\]]*)\]", part) if isinstance(part, str) else None
        if found is None:
            continue
        name, inside = found.groups()
        head = ".".join(map(str, [*parts[:i], name]))
        if inside.lstrip("-").isdigit():
            rest = "".join(f".{p}" for p in parts[i + 1 :])
            hint = f"Did you mean '{head}.{inside}{rest}'?"
        else:  # a space inside a choice's value, named after the value
            hint = f"A choice's value is set whole: {head}={{type: {inside}, ...}}"
        raise fail(
            "--set",
            f"{key}: expected keys and list indexes joined by dots. Received: "
            f"{clipped(part)!r}. {hint}",
        )
