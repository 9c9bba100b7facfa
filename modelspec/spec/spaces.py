"""Search spaces: values of a spec that ``modelspec tune`` samples.

Any value of a spec (a layer argument, a var, a block param, a compile or train
setting) may be a search space, a mapping with a ``tune:`` key::

    units: {tune: int, low: 32, high: 512, log: true}
    learning_rate: {tune: float, low: 1.0e-4, high: 1.0e-2, log: true}
    rate: {tune: float, low: 0.0, high: 0.5, step: 0.1}
    optimizer: {tune: choice, values: [adam, rmsprop]}
    use_bias: {tune: bool}

Each space has a default (its ``default:``, else its low or first value): a plain
``build`` or ``train`` uses the defaults. :func:`find` reads and checks the spaces
of a document, :func:`substitute` puts values in their place, :func:`filled_text`
writes the spec with chosen values in place of the spaces (``best.yaml``),
keeping the rest of the text as it was written. Nothing here imports Optuna.

Example:
    >>> from modelspec.spec.loader import load_document
    >>> doc = load_document("layers: [{name: d, units: {tune: int, low: 8, high: 64}}]")
    >>> spaces, problems = find(doc)
    >>> spaces[0].name, spaces[0].default, problems
    ('d.units', 8, [])
    >>> substitute(doc, {spaces[0].path: 32}).data
    {'layers': [{'name': 'd', 'units': 32}]}
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from ..errors import Diagnostic, did_you_mean, listed, shown
from .loader import Document, PathT

KINDS = ("int", "float", "choice", "bool")
_KEYS = {
    "int": ("low", "high", "step", "log", "default"),
    "float": ("low", "high", "step", "log", "default"),
    "choice": ("values", "default"),
    "bool": ("default",),
}
_EXAMPLE = {
    "int": "{tune: int, low: 32, high: 512}",
    "float": "{tune: float, low: 0.0, high: 0.5}",
    "choice": "{tune: choice, values: [adam, rmsprop]}",
    "bool": "{tune: bool}",
}
#: Top-level keys whose values cannot be searched.
FIXED = ("modelspec", "name", "description", "backend", "imports", "tune")


@dataclasses.dataclass(frozen=True)
class Space:
    """One search space of a spec.

    Attributes:
        path: Where it stands in the spec (as written, before vars are expanded).
        name: The parameter's name in the study (``dense_1.units``).
        kind: ``int``, ``float``, ``choice`` or ``bool``.
        low: Lowest value (``int``/``float``).
        high: Highest value (``int``/``float``).
        step: Distance between values, when they are discrete.
        log: Sampled on a log scale.
        values: The choices (``choice``; ``(False, True)`` for ``bool``).
        default: The value ``build`` and ``train`` use.
        within: For a space inside a choice's value: that choice's path and the
            value's index (the space is searched only when that value is picked).
    """

    path: PathT
    name: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    log: bool = False
    values: tuple[Any, ...] = ()
    default: Any = None
    within: tuple[PathT, int] | None = None

    @property
    def by_index(self) -> bool:
        """Whether a study samples the index of a choice (some are mappings or lists)."""
        scalar = (bool, int, float, str, type(None))
        return self.kind == "choice" and not all(isinstance(v, scalar) for v in self.values)

    def value_of(self, sampled: Any) -> Any:
        """The spec's value for what a study recorded: a choice by its index, a float on
        its step's grid without binary noise.

        Example:
            >>> Space((), "r", "float", low=0.0, high=0.5, step=0.1).value_of(0.30000000000000004)
            0.3
        """
        if self.by_index:
            return self.values[sampled]
        if self.kind == "float" and self.step is not None:
            return _tidy(sampled)
        return sampled

    def ends(self) -> list[tuple[str, Any]]:
        """The values validate checks the spec at: both ends of a range, every choice.

        Example:
            >>> Space((), "x", "int", low=1, high=9, default=1).ends()
            [('low', 1), ('high', 9)]
        """
        if self.kind in ("int", "float"):
            return [("low", self.low), ("high", self.high)]
        return [(f"values[{i}]", v) for i, v in enumerate(self.values)]

    def grid(self) -> list[Any] | None:
        """Every value of a finite space, ``None`` for a continuous one.

        Example:
            >>> Space((), "r", "float", low=0.0, high=0.5, step=0.25, default=0.0).grid()
            [0.0, 0.25, 0.5]
        """
        if self.kind in ("choice", "bool"):
            return list(self.values)
        assert self.low is not None and self.high is not None
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.step is None:
            return None
        count = round((self.high - self.low) / self.step)
        return [_tidy(self.low + i * self.step) for i in range(count + 1)]

    def describe(self) -> dict[str, Any]:
        """The space as a plain mapping (what a study records to recognise it)."""
        found: dict[str, Any] = {"tune": self.kind, "path": ".".join(map(str, self.path))}
        for key in _KEYS[self.kind]:
            value = getattr(self, key, None) if key != "values" else list(self.values)
            if key != "default" and value not in (None, False):
                found[key] = value
        return found

    def index_of(self, value: Any) -> int | None:
        """The index of the choice ``value`` is (its spaces, if any, filled or not).

        Example:
            >>> raw = {"type": "sgd", "momentum": {"tune": "float", "low": 0.5, "high": 0.9}}
            >>> Space((), "o", "choice", values=("adam", raw)).index_of({"type": "sgd", "momentum": 0.7})
            1
        """  # noqa: E501
        return next((i for i, v in enumerate(self.values) if _fits(v, value)), None)


def _fits(template: Any, value: Any) -> bool:
    """Whether ``value`` is ``template`` with each search space in it given a value."""
    if is_space(template):
        return True
    if isinstance(template, dict):
        return (
            isinstance(value, dict)
            and template.keys() == value.keys()
            and all(_fits(template[k], value[k]) for k in template)
        )
    if isinstance(template, list):
        return (
            isinstance(value, list)
            and len(template) == len(value)
            and all(_fits(t, v) for t, v in zip(template, value, strict=True))
        )
    return type(template) is type(value) and template == value


def _tidy(value: float) -> float:
    """A float without binary noise: 0.30000000000000004 → 0.3."""
    return float(f"{value:.12g}")


@dataclasses.dataclass
class _Finder:
    doc: Document
    spaces: list[Space] = dataclasses.field(default_factory=list)
    problems: list[Diagnostic] = dataclasses.field(default_factory=list)

    def fail(self, path: PathT, message: str, *, key: bool = False) -> None:
        self.problems.append(self.doc.diagnostic(path, message, key=key, source=True))


def is_space(value: Any) -> bool:
    """Whether a spec value is a search space (a mapping with a ``tune:`` key)."""
    return isinstance(value, dict) and "tune" in value


def space_of(data: Any, path: PathT) -> PathT:
    """The path of the search space ``path`` is in (``path`` when it is in none).

    Example:
        >>> space_of({"a": {"tune": "int", "low": 1}}, ("a", "low"))
        ('a',)
    """
    value = data
    for end in range(len(path) + 1):
        if end and is_space(value):  # (the top level holds the `tune:` section)
            return path[:end]
        if end == len(path):
            break
        try:
            value = value[path[end]]
        except (KeyError, IndexError, TypeError):
            break
    return path


def _walk(value: Any, path: PathT) -> Iterator[tuple[PathT, Any]]:
    """Every search space under ``value``, outermost first (not inside a space)."""
    if is_space(value):
        yield path, value
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, (*path, i))


def find(doc: Document) -> tuple[list[Space], list[Diagnostic]]:
    """The search spaces of a document (as written, before vars are expanded), and
    the problems of those that are not valid (each at its line).

    A space with a problem is left out of the list; its path is in the problems.
    """
    finder = _Finder(doc)
    data = doc.data
    if not isinstance(data, dict):
        return [], []
    for key, value in data.items():
        for path, raw in _walk(value, (key,)):
            if key in FIXED:
                finder.fail(
                    path,
                    f"a search space cannot stand in `{key}:`: the spec's "
                    f"{'study settings' if key == 'tune' else key} are fixed. Received: "
                    f"{shown(raw)}",
                )
                continue
            if path[-1] == "name":
                finder.fail(
                    path,
                    "a search space cannot stand in a `name:`: names are what references "
                    f"and logs go by, and stay as written. Received: {shown(raw)}",
                )
                continue
            _collect(finder, path, raw, _name(data, path), None)
    return finder.spaces, finder.problems


def _collect(
    finder: _Finder, path: PathT, raw: dict[str, Any], name: str, within: tuple[PathT, int] | None
) -> None:
    """The space at ``path``, then those inside its choices' values (conditional:
    searched when their value is picked), named after the value they are in:
    ``compile.optimizer[sgd].momentum``."""
    space = _read(finder, path, raw, name)
    if space is None:
        return
    finder.spaces.append(dataclasses.replace(space, within=within))
    types = [v.get("type") if isinstance(v, dict) else None for v in space.values]
    for i, value in enumerate(space.values if space.kind == "choice" else ()):
        label = types[i] if isinstance(types[i], str) and types.count(types[i]) == 1 else i
        start = (*path, "values", i)
        for inner, inner_raw in _walk(value, start):
            if inner and inner[-1] == "name":
                finder.fail(
                    inner,
                    "a search space cannot stand in a `name:`: names are what references "
                    f"and logs go by, and stay as written. Received: {shown(inner_raw)}",
                )
                continue
            rest = "".join(f".{part}" for part in inner[len(start) :])
            _collect(finder, inner, inner_raw, f"{name}[{label}]{rest}", (path, i))


def _name(data: dict[str, Any], path: PathT) -> str:
    """A space's parameter name: its path, a named list item by its name, top-level
    layers without ``layers.``: ``dense_1.units``, ``compile.optimizer.learning_rate``."""
    parts: list[str] = []
    value: Any = data
    for i, part in enumerate(path):
        value = value[part] if isinstance(value, dict | list) else None  # type: ignore[index]
        if isinstance(part, int) and isinstance(value, dict) and isinstance(value.get("name"), str):
            if i == 1 and path[0] == "layers":
                parts.pop()
            parts.append(value["name"])
        else:
            parts.append(str(part))
    return ".".join(parts)


def _number(value: Any, integer: bool) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) if integer else isinstance(value, int | float)


def _read(finder: _Finder, path: PathT, raw: dict[str, Any], name: str) -> Space | None:
    """The :class:`Space` a ``{tune: ...}`` mapping describes, or ``None`` (reported)."""
    kind = raw["tune"]
    if kind not in KINDS:
        finder.fail(
            (*path, "tune"),
            f"expected a search space kind: {listed(KINDS)}. Received: tune={shown(kind)}."
            f"{did_you_mean(str(kind), KINDS)}",
        )
        return None
    allowed = _KEYS[kind]
    ok = True
    for key in raw:
        if key != "tune" and key not in allowed:
            finder.fail(
                (*path, key),
                f"unknown key {shown(key)} in a {{tune: {kind}}} search space (it takes "
                f"{listed(allowed)}).{did_you_mean(str(key), allowed)}",
                key=True,
            )
            ok = False
    if not ok:
        return None
    if kind in ("int", "float"):
        return _range(finder, path, raw, name, kind)
    if kind == "bool":
        values: tuple[Any, ...] = (False, True)
    else:
        given = raw.get("values")
        if not isinstance(given, list) or not given:
            finder.fail(
                (*path, "values") if "values" in raw else path,
                "a {tune: choice} search space needs `values:`, a list of at least one "
                f"value, e.g. {_EXAMPLE['choice']}. Received: values={shown(given)}",
            )
            return None
        for i, v in enumerate(given):
            if v in given[:i]:
                finder.fail(
                    (*path, "values", i),
                    f"expected different values. Received: {shown(v)} twice in values",
                )
                return None
        values = tuple(given)
    default = raw.get("default", values[0])
    if "default" in raw and default not in values:
        finder.fail(
            (*path, "default"),
            f"expected a default among the space's values {shown(list(values))}. "
            f"Received: default={shown(default)}",
        )
        return None
    return Space(path, name, kind, values=values, default=default)


def _range(finder: _Finder, path: PathT, raw: dict[str, Any], name: str, kind: str) -> Space | None:
    """An ``int`` or ``float`` space: bounds, step, log scale and default checked."""
    integer = kind == "int"
    what = "an integer" if integer else "a number"
    for key in ("low", "high"):
        if key not in raw:
            finder.fail(
                path,
                f"a {{tune: {kind}}} search space needs low and high, e.g. {_EXAMPLE[kind]}. "
                f"Received: {shown(raw)}",
            )
            return None
    for key in ("low", "high", "step", "default"):
        if key in raw and not _number(raw[key], integer):
            hint = (
                "; use {tune: float} for fractions" if integer and _number(raw[key], False) else ""
            )
            finder.fail((*path, key), f"expected {what}. Received: {key}={shown(raw[key])}{hint}")
            return None
        if key in raw and not math.isfinite(raw[key]):
            finder.fail((*path, key), f"expected a finite number. Received: {key}={raw[key]}")
            return None
    low, high = raw["low"], raw["high"]
    step, log = raw.get("step"), raw.get("log", False)
    if not isinstance(log, bool):
        finder.fail((*path, "log"), f"expected true or false. Received: log={shown(log)}")
        return None
    if low > high:
        finder.fail(path, f"expected low <= high. Received: low={low}, high={high}")
        return None
    if log and low <= 0:
        finder.fail(
            (*path, "low"),
            f"expected a low above 0 with log: true (a log scale has no 0). Received: low={low}",
        )
        return None
    if step is not None:
        if step <= 0:
            finder.fail((*path, "step"), f"expected a step above 0. Received: step={step}")
            return None
        if log and (not integer or step != 1):
            finder.fail(
                (*path, "step"),
                f"expected log: true or a step, not both (Optuna samples a log scale "
                f"continuously). Received: log=true, step={step}",
            )
            return None
        count = (high - low) / step
        span = high - low if integer else _tidy(high - low)
        if abs(count - round(count)) > 1e-9 * max(1.0, abs(count)):
            last = (
                _tidy(low + math.floor(count) * step)
                if not integer
                else low + ((high - low) // step) * step
            )
            finder.fail(
                (*path, "step"),
                f"expected a step that divides high - low ({span}). "
                f"Received: step={step}: the values would stop at {last}, short of "
                f"high={high}. Set high: {last}, or a step that divides the range",
            )
            return None
    default = raw.get("default", low)
    if "default" in raw:
        off_grid = step is not None and abs(
            (default - low) / step - round((default - low) / step)
        ) > 1e-9 * max(1.0, abs((default - low) / step))
        if not low <= default <= high or off_grid:
            grid = f" on the grid {low}, {_tidy(low + step)}, ..." if step is not None else ""
            finder.fail(
                (*path, "default"),
                f"expected a default between low={low} and high={high}{grid}. "
                f"Received: default={default}",
            )
            return None
    if not integer:
        low, high, default = float(low), float(high), float(default)
    return Space(path, name, kind, low=low, high=high, step=step, log=log, default=default)


def substitute(doc: Document, values: Mapping[PathT, Any]) -> Document:
    """A copy of ``doc`` with each path's value replaced (a space by its value).

    The positions stay: a problem of a substituted value is reported at its space.
    """
    data = copy.deepcopy(doc.data)
    for path, value in fold(doc.data, values).items():
        target = data
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
    return dataclasses.replace(doc, data=data)


def fold(data: Any, values: Mapping[PathT, Any]) -> dict[PathT, Any]:
    """``values`` with the value of each space inside a choice's value put into the
    value picked, when it is the one picked (else left out): one value per place.

    Example:
        >>> raw = {"type": "sgd", "momentum": {"tune": "float", "low": 0.5, "high": 0.9}}
        >>> data = {"opt": {"tune": "choice", "values": ["adam", raw]}}
        >>> fold(data, {("opt",): raw, ("opt", "values", 1, "momentum"): 0.7})
        {('opt',): {'type': 'sgd', 'momentum': 0.7}}
        >>> fold(data, {("opt",): "adam", ("opt", "values", 1, "momentum"): 0.7})
        {('opt',): 'adam'}
    """
    outer = [p for p in values if not any(p[:n] in values for n in range(len(p)))]
    return {p: _filled(data, p, values[p], values) for p in outer}


def _filled(data: Any, path: PathT, value: Any, values: Mapping[PathT, Any]) -> Any:
    """``value`` (the one given for the space at ``path``) with the values of the
    spaces inside it, when it is a choice's value that has some."""
    inner = [p for p in values if len(p) > len(path) + 1 and p[: len(path)] == path]
    if not inner:
        return value
    raw: Any = data
    for part in path:
        try:
            raw = raw[part]
        except (KeyError, IndexError, TypeError):
            return value
    if not is_space(raw) or not isinstance(raw.get("values"), list):
        return value  # (not a choice as written: --set replaced it)
    space = Space(path, "", "choice", values=tuple(raw["values"]))
    index = space.index_of(value)
    value = copy.deepcopy(value)
    for p in inner:
        nearest = max(n for n in range(len(path), len(p)) if p[:n] in values)
        if nearest != len(path) or p[len(path) : len(path) + 2] != ("values", index):
            continue  # inside another space, or a value not picked
        rest, given = p[len(path) + 2 :], _filled(data, p, values[p], values)
        if not rest:
            value = given
            continue
        target = value
        for part in rest[:-1]:
            target = target[part]
        target[rest[-1]] = given
    return value


def defaults(spaces: list[Space]) -> dict[PathT, Any]:
    """``{path: default}`` of each space: the spec ``build`` and ``train`` use."""
    return {space.path: space.default for space in spaces}


def defaults_note(spaces: list[Space], verbs: str = "build and train") -> str:
    """What a plain build or train of a spec with search spaces does with them.

    Example:
        >>> defaults_note([Space(("u",), "d.units", "int", low=8, high=64, default=8)])
        'search spaces (1): build and train use their defaults (d.units=8); `modelspec tune` searches them'
    """  # noqa: E501
    shown = ", ".join(f"{s.name}={shown_value(s.default)}" for s in spaces[:6])
    more = ", ..." if len(spaces) > 6 else ""
    use = "uses" if verbs == "train" else "use"
    return (
        f"search spaces ({len(spaces)}): {verbs} {use} their defaults ({shown}{more}); "
        "`modelspec tune` searches them"
    )


def shown_value(value: Any) -> str:
    """A value as the spec would write it (YAML flow style, one line).

    Example:
        >>> shown_value(0.001), shown_value("adam"), shown_value({"type": "sgd"})
        ('0.001', 'adam', '{type: sgd}')
    """
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6, sort_keys=False)
    return text.strip().removesuffix("...").strip()


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
