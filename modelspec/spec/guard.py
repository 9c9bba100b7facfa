"""Hostile YAML is refused before PyYAML's recursive code runs.

A spec file must be a regular file (opened without blocking, so a FIFO or a
device is refused unread) of at most :data:`MAX_SPEC_BYTES`; its text must be
printable; its nesting and its number of values, as written and with aliases
expanded, are bounded (:data:`MAX_DEPTH`, :data:`MAX_NODES`). The checks walk
PyYAML's event stream, which does not recurse; PyYAML's composer and
constructor do, and crash (RecursionError, or a segfault in C) on deep files.
Every refusal is a :class:`~modelspec.errors.SpecLoadError` at its line.

Example:
    >>> check_events("a: [[[1]]]", "<string>")  # fine: returns None
    >>> try:
    ...     check_events("a: " + "[" * 200 + "]" * 200, "<string>")
    ... except SpecLoadError as err:
    ...     print(err.diagnostics[0].format()[:60])
    <string>:1:103: expected at most 100 levels of nesting. Rece
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from ..errors import Diagnostic, SpecLoadError

Position = tuple[int, int]
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: Most values a document may hold, as written and once its aliases are expanded.
MAX_NODES = 2_000_000

#: Deepest nesting of lists and mappings, aliases expanded (a real spec needs under 10).
MAX_DEPTH = 100

#: Largest spec file read, in bytes; the environment variable
#: ``MODELSPEC_MAX_SPEC_BYTES`` overrides it.
MAX_SPEC_BYTES = 10_000_000

#: A character YAML does not allow (as libyaml's and PyYAML's readers define it).
_NON_PRINTABLE = re.compile(r"[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

#: Names of the kinds of files that are not regular files.
_FILE_KINDS = {
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}

#: Opening a FIFO must not wait for a writer, nor a terminal become ours.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)


def fail(file: str, message: str, line: int = 0, column: int = 0) -> SpecLoadError:
    return SpecLoadError([Diagnostic(message, (), file, line, column)])


def pos(mark: Any) -> Position:
    return (mark.line + 1, mark.column + 1)


def check_characters(text: str, file: str) -> None:
    """Refuse a character YAML forbids, at its line and column."""
    found = _NON_PRINTABLE.search(text)
    if found is None:
        return
    code = ord(found.group())
    if 0xD800 <= code <= 0xDFFF:
        kind = "lone surrogate"
    elif code < 0x20 or 0x7F <= code <= 0x9F:
        kind = "control character"
    else:
        kind = "non-character"
    lines = (text[: found.start()] + "x").splitlines()  # YAML's line breaks, and no others
    raise fail(
        file,
        f"invalid YAML: expected printable text. Received: the {kind} #x{code:04x}; remove "
        f'it, or write it as the escape "\\u{code:04x}" inside double quotes',
        len(lines),
        len(lines[-1]),
    )


def check_events(text: str, file: str) -> None:
    """Refuse deep nesting, recursive aliases and too many values, located.

    Walks the parser's events before the composer and the builder, which
    recurse, run. Values are counted as written and with each alias expanded
    to the size of its anchor's value; nesting is measured aliases expanded.
    """
    # Open collections: [anchor, values before it, height]; each anchor's
    # (values, height) once its node is complete, and where those still open start.
    stack: list[list[Any]] = []
    done: dict[str, tuple[int, int]] = {}
    opened: dict[str, Position] = {}
    written = expanded = documents = 0
    max_depth, max_nodes = MAX_DEPTH, MAX_NODES
    loader = _BaseLoader(text)  # events do not depend on resolvers
    try:
        while True:
            event = loader.get_event()
            kind = type(event)
            if kind is ScalarEvent:
                written += 1
                expanded += 1
                if event.anchor is not None:
                    done[event.anchor] = (1, 0)
                    opened.pop(event.anchor, None)
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                if len(stack) == max_depth:
                    what = "list" if kind is SequenceStartEvent else "mapping"
                    raise _too_deep(file, event, f"a {what} at level {max_depth + 1}")
                written += 1
                expanded += 1
                stack.append([event.anchor, expanded - 1, 1])
                if event.anchor is not None:
                    opened[event.anchor] = pos(event.start_mark)
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                anchor, before, height = stack.pop()
                if anchor is not None:
                    done[anchor] = (expanded - before, height)
                    opened.pop(anchor, None)
                if stack and stack[-1][2] <= height:
                    stack[-1][2] = height + 1
            elif kind is AliasEvent:
                if event.anchor in opened:
                    raise fail(
                        file, "recursive alias: an anchor contains itself", *opened[event.anchor]
                    )
                values, height = done.get(event.anchor, (1, 0))  # undefined: composer says
                written += 1
                expanded += values
                if len(stack) + height > max_depth:
                    where = f"level {len(stack) + height} here"
                    raise _too_deep(
                        file, event, f"the alias *{event.anchor}, which reaches {where}"
                    )
                if stack and stack[-1][2] <= height:
                    stack[-1][2] = height + 1
            elif kind is StreamEndEvent:
                break
            elif kind is DocumentStartEvent:
                documents += 1
                if documents > 1:
                    break  # the composer says there is more than one document
            if expanded > max_nodes:
                raise _too_many(file, event, aliases=written <= max_nodes)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        if "nesting depth" in str(getattr(err, "problem", "")) and mark and mark.index < len(text):
            # libyaml refuses 1,000 levels while it looks ahead, before its events
            # reach level 101: walk the text up to there again to find that level.
            check_events(text[: mark.index], file)
        raise
    finally:
        loader.dispose()


def _too_deep(file: str, event: yaml.Event, received: str) -> SpecLoadError:
    return fail(
        file,
        f"expected at most {MAX_DEPTH} levels of nesting. Received: {received}; a real spec "
        "nests fewer than 10 levels",
        *pos(event.start_mark),
    )


def _too_many(file: str, event: yaml.Event, *, aliases: bool) -> SpecLoadError:
    if aliases:
        message = (
            f"the document expands to more than {MAX_NODES:,} values through its "
            "aliases (an alias bomb?); refusing to load it"
        )
    else:
        message = (
            f"expected at most {MAX_NODES:,} nodes (keys, values and list items). Received: "
            f"more than {MAX_NODES:,} nodes; no real spec comes near the limit: is this the "
            "right file?"
        )
    return fail(file, message, *pos(event.start_mark))


def size_limit(file: str, max_bytes: int | None) -> int:
    """``max_bytes``, else ``MODELSPEC_MAX_SPEC_BYTES``, else :data:`MAX_SPEC_BYTES`."""
    if max_bytes is not None:
        return max_bytes
    value = os.environ.get("MODELSPEC_MAX_SPEC_BYTES")
    if value is None:
        return MAX_SPEC_BYTES
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if limit <= 0:
        raise fail(
            file,
            "expected MODELSPEC_MAX_SPEC_BYTES to be a positive number of bytes. "
            f"Received: MODELSPEC_MAX_SPEC_BYTES={value!r}",
        )
    return limit


def read_file(path: Path, file: str, limit: int) -> bytes:
    """At most ``limit`` bytes of a regular file; nothing else is read at all."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise fail(file, "no such file") from None
    except OSError as err:
        raise fail(file, f"cannot read the file: {err.strerror}") from None
    except ValueError:  # no file name holds a NUL
        raise fail(file, "no such file (the name holds a NUL character)") from None
    try:
        info = os.fstat(fd)  # the file opened, wherever its symlinks led
        if stat.S_ISDIR(info.st_mode):
            raise fail(file, "is a directory, not a spec file")
        if not stat.S_ISREG(info.st_mode):
            kind = _FILE_KINDS.get(stat.S_IFMT(info.st_mode), "a special file")
            raise fail(
                file,
                f"expected a regular file. Received: {kind}; save the spec to a file first",
            )
        if info.st_size > limit:
            raise _too_large(file, limit, f"{info.st_size:,} bytes")
        chunks, left = [], limit + 1  # a file may hold more than it says (/proc)
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
        raw = b"".join(chunks)
        if len(raw) > limit:
            raise _too_large(file, limit, f"more than {limit:,} bytes")
        return raw
    except OSError as err:
        raise fail(file, f"cannot read the file: {err.strerror}") from None
    finally:
        os.close(fd)


def _too_large(file: str, limit: int, received: str) -> SpecLoadError:
    return fail(
        file,
        f"expected a spec file of at most {limit:,} bytes. Received: {received}; set "
        "MODELSPEC_MAX_SPEC_BYTES to raise the limit",
    )


def check_data(data: Any, file: str) -> None:
    """The limits of :func:`check_events` for a spec given as Python data (a mapping),
    which no YAML parser walked: a mapping nested too deep, or too large (or
    containing itself), would otherwise make validation recurse without end.

    Example:
        >>> check_data({"a": [1, 2]}, "<dict>")  # fine: returns None
    """
    stack: list[tuple[Any, int]] = [(data, 1)]
    nodes = 0
    while stack:
        value, depth = stack.pop()
        nodes += 1 + (len(value) if isinstance(value, dict) else 0)  # keys count too
        if nodes > MAX_NODES:
            raise fail(
                file,
                f"expected at most {MAX_NODES:,} nodes (keys, values and list items). "
                f"Received: more than {MAX_NODES:,} (or a value that contains itself)",
            )
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                what = "list" if isinstance(value, list) else "mapping"
                raise fail(
                    file,
                    f"expected at most {MAX_DEPTH} levels of nesting. Received: a {what} at "
                    f"level {depth}; a real spec nests fewer than 10 levels",
                )
            items = value.values() if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)
