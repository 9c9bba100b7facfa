"""The error hierarchy of modelspec, and the hint every message can end with.

Every error the library raises for a user's mistake derives from
:class:`ModelSpecError`. Errors about a spec carry :class:`Diagnostic` objects
that point at the spec's file, line and column; only the CLI turns them into
exit codes. Messages follow Keras's style: what was expected, what was
received, then a hint such as :func:`did_you_mean`'s.

Example:
    >>> from modelspec import SpecError, load_spec
    >>> try:
    ...     load_spec({"modelspec": 1})
    ... except SpecError as err:
    ...     print(err.diagnostics[0].message)
    missing required key 'name'
"""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Severity = Literal["error", "warning"]
#: How many characters of a user's value a message echoes (a 100 KB key is not printed whole).
ECHO_LIMIT = 80


@dataclass(frozen=True)
class Via:
    """A definition a problem was found through: a block's layer for an instance."""

    where: str
    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.where} at {self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a spec, located in its source.

    Attributes:
        message: Keras-style text: what was expected, what was received, a hint.
        path: Location inside the document, e.g. ``("layers", 2, "units")``.
        file: The spec's file name, or ``"<string>"`` / ``"<dict>"``.
        line: 1-based line, 0 when unknown.
        column: 1-based column, 0 when unknown.
        node: Name of the input or layer node the problem belongs to.
        severity: ``"error"`` or ``"warning"``.
    """

    message: str
    path: tuple[str | int, ...] = ()
    file: str = "<string>"
    line: int = 0
    column: int = 0
    node: str | None = None
    severity: Severity = "error"
    via: tuple[Via, ...] = ()

    @property
    def where(self) -> str:
        """The spec path as a user reads it: ``layers[2] (dense_2).units``."""
        text = ""
        named = False
        for i, part in enumerate(self.path):
            if isinstance(part, int):
                text += f"[{part}]"
            else:
                text += f".{clipped(part)}" if text else clipped(part)
            if (
                not named
                and self.node
                and isinstance(part, int)
                and i > 0
                and self.path[i - 1] in ("inputs", "layers")
            ):
                text += f" ({clipped(self.node)})"
                named = True
        return text

    @property
    def location(self) -> str:
        """``FILE:LINE:COL``, or the file alone when the line is unknown."""
        return f"{self.file}:{self.line}:{self.column}" if self.line else self.file

    def format(self) -> str:
        """Render as ``FILE:LINE:COL: PATH (NODE): MESSAGE``; a problem inside a
        block instance or a repeat adds ``→ DEFINITION at FILE:LINE:COL`` after
        the instance's path."""
        kind = "warning: " if self.severity == "warning" else ""
        where = "".join([self.where, *(f" → {v}" for v in self.via)]) if self.path else ""
        return f"{self.location}: {kind}{where + ': ' if where else ''}{self.message}"

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready mapping, as printed by ``modelspec validate --format json``."""
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": list(self.path),
            "where": self.where,
            "node": self.node,
            "severity": self.severity,
            "message": self.message,
            "via": [vars(v) for v in self.via],
        }


class ModelSpecError(Exception):
    """Base class of every error modelspec raises for a user's mistake."""


class SpecError(ModelSpecError):
    """A spec is invalid: carries every problem found, all at once.

    Attributes:
        diagnostics: Errors and warnings, in document order.
    """

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        super().__init__(self._text())

    @property
    def errors(self) -> list[Diagnostic]:
        """The diagnostics of severity ``error``."""
        return [d for d in self.diagnostics if d.severity == "error"]

    def _text(self) -> str:
        errors = self.errors
        head = f"{len(errors)} error{'s' if len(errors) != 1 else ''} in spec"
        return head + ":\n" + "\n".join(d.format() for d in errors)


class SpecLoadError(SpecError):
    """The spec's file could not be read or parsed as a YAML mapping."""


class BuildError(SpecError):
    """Keras refused a node while the model was being built (shape, dtype...)."""


class DataError(SpecError):
    """Training data does not fit the spec: a missing file or column, a shape that
    does not match the model, labels that do not match the loss, NaN values.
    Located at the ``train.data`` entry concerned."""


class DownloadError(DataError):
    """A dataset that is downloaded on first use could not be fetched."""


class RunError(ModelSpecError):
    """A run directory or a saved model cannot be used (missing, incomplete)."""


class ModelLoadError(ModelSpecError):
    """A saved model cannot be loaded: missing, not a ``.keras`` archive (cut short?),
    refused by Keras safe mode, or needing a plugin that is not loaded."""


class TrainingFailed(ModelSpecError):
    """Training stopped on an error that validation could not foresee (Keras refused
    the data in ``fit``, say). The run directory keeps the completed epochs.

    Attributes:
        run_dir: The run directory, which ``train --resume`` continues.
        cause: What was raised.
    """

    def __init__(self, run_dir: Path, cause: BaseException) -> None:
        self.run_dir, self.cause = run_dir, cause
        text = " ".join(str(cause).split())
        text = text if len(text) <= 400 else text[:397] + "..."
        super().__init__(
            f"training failed: {type(cause).__name__}: {text}\nThe run directory {run_dir} "
            "keeps the completed epochs: fix the cause, then resume with "
            f"`modelspec train --resume {shlex.quote(str(run_dir))}`."
        )


class RunInterrupted(KeyboardInterrupt):
    """A run was interrupted (Ctrl-C): still a ``KeyboardInterrupt``, carrying the
    run directory that ``train --resume`` continues.

    Attributes:
        run_dir: The run directory.
    """

    def __init__(self, run_dir: Path, message: str | None = None) -> None:
        self.run_dir = run_dir
        super().__init__(
            message
            or f"interrupted: {run_dir} keeps the completed epochs. Resume with "
            f"`modelspec train --resume {shlex.quote(str(run_dir))}`."
        )


class ExportError(ModelSpecError):
    """An export failed, or its artifact does not reproduce the Keras model."""


class TuneError(ModelSpecError):
    """A study cannot run: Optuna is not installed, its storage cannot be opened, or
    the study there searches other spaces than the spec."""


class StudyStopped(ModelSpecError):
    """A study stopped because its trials failed with the same data error whatever
    values they had (a data file the spec cannot read, a dataset that cannot be
    downloaded): the trials are queued again, for when the cause is fixed."""


class RegistryError(ModelSpecError):
    """A name is registered twice, or a registration is malformed."""


class PluginError(ModelSpecError):
    """A plugin module or entry point could not be imported."""


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A ``" Did you mean 'x'?"`` suffix, or ``""`` when nothing is close.

    A short name (3 to 5 characters) among a few choices (eight or fewer:
    backends, samplers) needs a looser likeness, as one slip changes much of it.

    Example:
        >>> did_you_mean("Dens", ["Dense", "Dropout"]), did_you_mean("jaks", ["jax", "torch"])
        (" Did you mean 'Dense'?", " Did you mean 'jax'?")
    """
    candidates = [c for c in candidates if isinstance(c, str)]  # (a YAML key may be null)
    cutoff = 0.5 if len(candidates) <= 8 and 3 <= len(name) <= 5 else 0.6
    folded = {c.lower(): c for c in candidates}
    if name.lower() in folded:
        return f" Did you mean '{folded[name.lower()]}'?"
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=cutoff)
    if not close:
        close = difflib.get_close_matches(name.lower(), list(folded), n=1, cutoff=cutoff)
        close = [folded[c] for c in close]
    return f" Did you mean '{close[0]}'?" if close else ""


def shown(value: Any, limit: int = ECHO_LIMIT) -> str:
    """``repr(value)`` for a message, cut to about ``limit`` characters.

    Example:
        >>> shown([1, 2]), shown("x" * 500, limit=12)
        ('[1, 2]', "'xxxxxxx...' (500 characters)")
        >>> shown(list(range(100)), limit=12)
        '[0, 1, 2,... (list, 100 items)'
    """
    text = repr(value)
    if len(text) <= limit:
        return text
    if isinstance(value, str):
        return f"{text[: limit - 4]}...' ({len(value):,} characters)"
    size = f", {len(value):,} items" if isinstance(value, list | dict | tuple | set) else ""
    return f"{text[: limit - 3]}... ({type(value).__name__}{size})"


def clipped(text: object, limit: int = ECHO_LIMIT) -> str:
    """A user's string (a key, a name) for quoting in a message, cut to about ``limit``.

    Example:
        >>> clipped("dense_1"), clipped("k" * 100, limit=8)
        ('dense_1', 'kkkkk...')
    """
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def listed(names: Iterable[object], limit: int = 3 * ECHO_LIMIT) -> str:
    """Names for a message, comma-separated and cut to about ``limit`` characters.

    Example:
        >>> listed(["a", "b"]), listed(map(str, range(100)), limit=12)
        ('a, b', '0, 1, 2, ... (100 in all)')
    """
    items = [str(n) for n in names]
    text = ", ".join(items)
    if len(text) <= limit:
        return text
    shown_items: list[str] = []
    for item in items:
        if len(", ".join([*shown_items, item])) > limit - 3:
            break
        shown_items.append(item)
    return ", ".join([*shown_items, "..."]) + f" ({len(items)} in all)"
