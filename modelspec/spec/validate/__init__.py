"""Validate a spec completely, reporting every problem at once.

Each section has its module, run in this order on a :class:`~.context.Context`:
:mod:`.structure` (pydantic: keys and types; ``imports:``), :mod:`.wiring` (node
types and arguments, through :mod:`.arguments`, then the graph),
:mod:`.compile`, :mod:`.train` and :mod:`.export` (formats the spec's backend
cannot export). Each problem becomes a
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

from ... import plugins as plugins_module
from ...errors import Diagnostic, SpecError
from ..expand import expand
from ..loader import Document, PathT, load_document
from ..schema import ModelSpec
from ..spaces import Space, defaults, defaults_note, shown_value, space_of, substitute
from ..spaces import find as find_spaces
from .backend import check_backend
from .compile import check_compile
from .context import Context
from .export import check_export
from .structure import check_imports, check_structure
from .train import check_train
from .trainable import check_trainable
from .tune import check_tune
from .wiring import check_graph

Source = str | os.PathLike[str] | Mapping[str, Any] | ModelSpec | Document


@dataclass
class Report:
    """What :func:`validate_spec` found.

    Attributes:
        file: The spec's display name.
        diagnostics: Errors and warnings, in document order.
        spec: The validated spec, when there is no error (search spaces at their defaults).
        spaces: The spec's search spaces (:mod:`modelspec.spec.spaces`).
        reads: The files the spec reads by a path relative to its folder, each as
            ``(where it is written, the path)``.
    """

    file: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    spec: ModelSpec | None = None
    spaces: list[Space] = field(default_factory=list)
    reads: list[tuple[PathT, str]] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors


def validate_spec(
    source: Source,
    *,
    plugins: Iterable[str] = (),
    allow_imports: bool = False,
    backend: str | None = None,
) -> Report:
    """Check a spec and report every problem found, without raising for them.

    Args:
        source: A path, YAML text, a mapping, or a :class:`ModelSpec`.
        plugins: Modules to import first (they register custom objects).
        allow_imports: Honour the spec's ``imports:`` (it runs their code).
        backend: Check against this Keras backend (default: the one Keras runs, else
            the spec's ``backend:``, else ``KERAS_BACKEND``, else tensorflow).

    Returns:
        A :class:`Report`; ``report.spec`` is set when there is no error.

    Raises:
        PluginError: A module in ``plugins`` cannot be imported.

    Example:
        >>> validate_spec("specs/antirectifier_digits.yaml").ok
        True
    """
    plugins_module.load_plugins(plugins)
    try:
        doc = _document(source)
    except SpecError as err:
        return Report(err.diagnostics[0].file, err.diagnostics)
    return _check(doc, allow_imports, backend)


def _document(source: Source) -> Document:
    """The document of a source: loaded (and parsed) unless it is one already."""
    if isinstance(source, Document):
        return source
    if isinstance(source, ModelSpec):
        return source.document
    return load_document(source)


#: How many variants of a spec with search spaces are checked (each space's ends).
MAX_VARIANTS = 64


def _check(
    doc: Document, allow_imports: bool, backend: str | None = None, *, loading: bool = False
) -> Report:
    """The spec with each search space at its default, then at each space's ends (so
    no value a study samples makes an invalid model), checked."""
    spaces, problems = find_spaces(doc)
    if not spaces and not problems:
        return _check_one(doc, allow_imports, backend, loading, [])
    report = _check_one(substitute(doc, defaults(spaces)), allow_imports, backend, loading, spaces)
    # a space that is not valid: the problems of its value are noise
    bad = [space_of(doc.data, d.path) for d in problems]
    bad_vars = {p[1] for p in bad if len(p) == 2 and p[0] == "vars"}  # and of its ${uses}
    found = problems + [
        _at_default(d, spaces, doc)
        for d in report.diagnostics
        if not _under(d.path, bad) and not _var_names_in(doc, d.path) & bad_vars
    ]
    if not found or all(d.severity == "warning" for d in found):
        found += _at_ends(doc, spaces, allow_imports, backend, loading, report.diagnostics)
    if spaces and all(d.severity == "warning" for d in found):
        found.append(
            doc.diagnostic(
                spaces[0].path,
                defaults_note(spaces),
                severity="warning",
                source=True,
            )
        )
    order = {d: i for i, d in enumerate(found)}
    report.diagnostics = sorted(found, key=lambda d: (d.line, d.column, order[d]))
    report.spaces = spaces
    if not report.ok:
        report.spec = None
    return report


#: How the warning that a spec has search spaces starts.
SPACES_NOTE = "search spaces"


def _at_default(d: Diagnostic, spaces: list[Space], doc: Document) -> Diagnostic:
    """A problem of a space's default value, saying so (also of a value whose
    ``${...}`` uses a var that is a space)."""
    if d.severity != "error" or "sampler" in d.message:
        return d
    space = next((s for s in spaces if _under(d.path, [s.path])), None)
    used = None if space is not None else _var_space_in(doc, d.path, spaces)
    space = space or used
    if space is None:
        return d
    # a default not written is the low end or the first value: named as the user wrote it
    end = next((e for e, v in space.ends() if _same(v, space.default)), None)
    at = f"default={shown_value(space.default)}"
    if end is not None:
        at = f"{end}={shown_value(space.default)}, its default"
    if used is not None:
        line = doc.locate(used.path)[0]
        return dataclasses.replace(
            d, message=f"{d.message} (when the search space {used.name}, line {line}, is at {at})"
        )
    return dataclasses.replace(d, message=f"{d.message} (at its search space's {at})")


def _var_space_in(doc: Document, path: tuple[Any, ...], spaces: list[Space]) -> Space | None:
    """The first var that is a space and that the ``${...}`` text at ``path`` names."""
    names = _var_names_in(doc, path)
    return next(
        (s for s in spaces if len(s.path) == 2 and s.path[0] == "vars" and s.path[1] in names),
        None,
    )


def _var_names_in(doc: Document, path: tuple[Any, ...]) -> set[str]:
    """The names in the ``${...}`` text at ``path`` (none when it is not one)."""
    value: Any = doc.data
    for part in path:
        inside = isinstance(value, dict) and part in value
        inside = inside or (
            isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value)
        )
        if not inside:
            return set()
        value = value[part]
    if not isinstance(value, str) or "${" not in value:
        return set()
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", value))


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _under(path: tuple[Any, ...], prefixes: list[tuple[Any, ...]]) -> bool:
    return any(path[: len(p)] == p for p in prefixes)


def _at_ends(
    doc: Document,
    spaces: list[Space],
    allow_imports: bool,
    backend: str | None,
    loading: bool,
    seen: list[Diagnostic],
) -> list[Diagnostic]:
    """The errors of the spec with one space at one of its ends (or choices), the
    others at their defaults, each said once, naming the space and the value."""
    known = {_place(d) for d in seen}
    found: list[Diagnostic] = []
    # a space inside a choice's value: at each end with that value picked
    variants = [(s, end, v) for s in spaces for end, v in s.ends() if v != s.default or s.within]
    for space, end, value in variants[:MAX_VARIANTS]:
        picked = _picking(space, spaces)
        variant = substitute(doc, defaults(spaces) | picked | {space.path: value})
        for d in _check_one(variant, allow_imports, backend, loading, spaces).errors:
            if _place(d) in known:
                continue
            known.add(_place(d))
            at = f"{end}={shown_value(value)}"
            if _under(d.path, [_placed(space, spaces)]):
                message = f"{d.message} (at its search space's {at})"
                line, column = doc.locate(space.path)  # inside a choice's value: there
            else:
                line = doc.locate(space.path)[0]
                message = (
                    f"{d.message} (when the search space {space.name}, line {line}, is at {at})"
                )
                line, column = d.line, d.column
            # in a choice's mapping picked (this one, or one this space is inside): its line
            line, column = _in_mapping_picked(doc, d, space, value, spaces) or (line, column)
            found.append(dataclasses.replace(d, message=message, line=line, column=column))
    skipped = variants[MAX_VARIANTS:]
    if skipped:
        names = list(dict.fromkeys(s.name for s, _, _ in skipped))
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        found.append(
            doc.diagnostic(
                skipped[0][0].path,
                f"validate checks the spec at {MAX_VARIANTS} of the {len(variants)} ends and "
                f"choices of its search spaces; {len(skipped)} more ({shown}) are not checked: "
                "a trial that samples one that makes an invalid model fails, and the study "
                "goes on",
                severity="warning",
                source=True,
            )
        )
    return found


def _in_mapping_picked(
    doc: Document, d: Diagnostic, space: Space, value: Any, spaces: list[Space]
) -> tuple[int, int] | None:
    """Where a problem inside a choice's mapping value is written (its own line, not the
    choice's): the value ``space`` is at, or the value of a choice it is inside."""
    chain = [(space, value)] + [
        (next(s for s in spaces if s.path == outer), picked)
        for outer, picked in _picking(space, spaces).items()
    ]
    for choice, picked in chain:
        placed = _placed(choice, spaces)
        index = choice.index_of(picked) if choice.kind == "choice" else None
        if isinstance(picked, dict) and index is not None and _under(d.path, [placed]):
            return doc.locate((*choice.path, "values", index, *d.path[len(placed) :]))
    return None


def _placed(space: Space, spaces: list[Space]) -> tuple[Any, ...]:
    """Where a space's value goes in the spec, its choices picked: ``optimizer.momentum``
    for ``optimizer.values[1].momentum``."""
    if space.within is None:
        return space.path
    outer = next(s for s in spaces if s.path == space.within[0])
    return (*_placed(outer, spaces), *space.path[len(outer.path) + 2 :])


def _picking(space: Space, spaces: list[Space]) -> dict[tuple[Any, ...], Any]:
    """The choices that make ``space`` searched: each value it is inside, picked."""
    picked: dict[tuple[Any, ...], Any] = {}
    while space.within is not None:
        outer, index = space.within
        space = next(s for s in spaces if s.path == outer)
        picked[outer] = space.values[index]
    return picked


def _check_one(
    doc: Document,
    allow_imports: bool,
    backend: str | None,
    loading: bool,
    spaces: list[Space],
) -> Report:
    """Vars and expressions substituted, then every section's checks, their findings
    in document order."""
    doc, expansion = expand(doc)
    ctx = Context(doc, allow_imports)
    spec = check_structure(ctx)
    ctx.backend = check_backend(ctx, backend, loading=loading)
    check_imports(ctx)
    check_graph(ctx)
    check_compile(ctx)
    check_train(ctx)
    check_trainable(ctx)
    check_export(ctx)
    check_tune(ctx, spaces)
    # a value whose expression failed is still its text: its other problems would echo that
    failed = [d.path for d in expansion]
    found = expansion + [
        d for d in ctx.diagnostics if not any(d.path[: len(p)] == p for p in failed)
    ]
    # a problem in a block or a repeat is found in each copy: reported once, at the first
    unique = {_place(d): d for d in reversed(found)}
    found = [d for d in found if unique[_place(d)] is d]
    order = {d: i for i, d in enumerate(found)}
    diagnostics = sorted(found, key=lambda d: (d.line, d.column, order[d]))
    report = Report(doc.file, diagnostics, reads=ctx.reads)
    if spec is not None and report.ok:
        spec._document = doc
        report.spec = spec
    return report


def _place(d: Diagnostic) -> tuple[Any, ...]:
    """Where a problem was written and what it is, whichever copy it was found in."""
    # without the copies' names
    via = tuple((re.sub(r" \([^()]*\)", "", v.where), v.line, v.column) for v in d.via)
    return (d.file, d.line, d.column, d.message, via, d.severity)


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
    report = _check(_document(source), allow_imports, loading=True)
    if report.spec is None:
        raise SpecError(report.diagnostics)
    return report.spec
