"""What a study leaves in its folder: the best spec, the trials table, two plots.

- ``best.yaml``: the spec as written, with the best trial's values in place of
  its search spaces and without the ``tune:`` section, ready for ``modelspec train``;
- ``trials.csv``: every trial, its state, value, values, epochs, run directory, error;
- ``history.png`` and ``importances.png``: Optuna's optimisation history and
  parameter importances (matplotlib).

Example:
    >>> row = Row(3, "COMPLETE", 0.25, {"d.units": 64}, 5, "trial-0003", None)
    >>> row.cells(["d.units"])
    ['3', 'COMPLETE', '0.25', '64', '5', 'trial-0003', '']
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import os
import warnings
from pathlib import Path
from typing import Any

from .._version import __version__
from ..files import atomic_path, spec_path, write_text
from ..spec.filled import filled_text, written_string
from ..spec.loader import Document
from ..spec.spaces import Space, fold, shown_value, substitute
from ..spec.validate import validate_spec


@dataclasses.dataclass
class Row:
    """One trial of a study, as the table shows it."""

    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    epochs: int | None
    run_dir: str | None
    error: str | None

    def cells(self, names: list[str]) -> list[str]:
        value = "" if self.value is None else f"{self.value:.6g}"
        params = [shown_value(self.params[n]) if n in self.params else "" for n in names]
        epochs = "" if self.epochs is None else str(self.epochs)
        return [
            str(self.number),
            self.state,
            value,
            *params,
            epochs,
            self.run_dir or "",
            self.error or "",
        ]


def params_of(data: Any, spaces: list[Space], sampled: dict[str, Any]) -> dict[str, Any]:
    """Each space's value as the spec writes it, by name, from what the study recorded
    (``sampled``): a choice's value with the values of the spaces inside it.

    Example:
        >>> space = Space(("a",), "a", "choice", values=("x", "y"), default="x")
        >>> params_of({"a": {"tune": "choice", "values": ["x", "y"]}}, [space], {"a": "y"})
        {'a': 'y'}
    """
    present = [s for s in spaces if s.name in sampled]
    values = {s.path: s.value_of(sampled[s.name]) for s in present}
    params = {}
    for space in present:
        inside = {p: v for p, v in values.items() if p[: len(space.path)] == space.path}
        params[space.name] = fold(data, inside)[space.path]  # a choice: its spaces filled
    return params


def rows(study: Any, spaces: list[Space], data: Any) -> list[Row]:
    """Every trial of the study, in order, with each space's value as the spec writes it."""
    found = []
    for trial in study.get_trials(deepcopy=False):
        params = params_of(data, spaces, trial.params)
        found.append(
            Row(
                trial.number,
                trial.state.name,
                trial.value if trial.state.name in ("COMPLETE", "PRUNED") else None,
                params,
                trial.user_attrs.get("epochs"),
                trial.user_attrs.get("run_dir"),
                trial.user_attrs.get("error"),
            )
        )
    return found


def short(value: Any) -> str:
    """A value for a line or a table: floats to 4 significant digits.

    Example:
        >>> short(0.000584632612), short("adam"), short(True)
        ('0.0005846', 'adam', 'true')
    """
    return shown_value(_rounded(value))


def _rounded(value: Any) -> Any:
    """Floats, also inside mappings and lists, to 4 significant digits."""
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def best_row(table: list[Row], direction: str) -> Row | None:
    """The completed trial with the best value."""
    done = [r for r in table if r.state == "COMPLETE" and r.value is not None]
    if not done:
        return None
    pick = max if direction == "maximize" else min
    return pick(done, key=lambda r: (r.value, -r.number) if pick is max else (r.value, r.number))


def write_best(
    study_dir: Path, doc: Document, spaces: list[Space], best: Row, objective: str
) -> Path:
    """``best.yaml``: the spec with the best trial's values, without ``tune:``."""
    # (a space inside a choice's value not picked has no value)
    values: dict[Any, Any] = {s.path: best.params[s.name] for s in spaces if s.name in best.params}
    values.update(_spaces_set_away(doc, values))
    head = (
        f"# The best trial ({best.number}, {objective} {best.value:.6g}) of the study in "
        f"{study_dir}, by modelspec {__version__}\n# from {doc.file}: train it with "
        f"`modelspec train {study_dir / 'best.yaml'}`\n"
    )
    kept = _relocate(study_dir, doc, values)
    if kept:
        head += (
            f"# paths relative to {doc.base_dir} not rewritten for this folder (made with "
            f"${{...}} or --set): {', '.join(kept)}: edit them, or copy this file there\n"
        )
    text = filled_text(doc, values, drop=("tune",))
    unsaid = _overrides_not_in(text, doc, values)
    if unsaid:  # the trials ran with them; the spec as written has its own values
        head += (
            f"# its trials ran with --set {' --set '.join(unsaid)}, not in this file: add "
            "them to train as they did\n"
        )
    target = study_dir / "best.yaml"
    write_text(target, head + text)
    return target


def _relocate(study_dir: Path, doc: Document, values: dict[Any, Any]) -> list[str]:
    """Each file the spec reads by a path relative to its folder, in ``values`` as
    the same file seen from ``study_dir`` (where ``best.yaml`` goes); the paths that
    cannot be rewritten (made with ``${...}``), as the spec writes them."""
    report = validate_spec(substitute(doc, values))
    kept = []
    for path, given in report.reads:
        if path not in values and written_string(doc.text, path) != given:
            kept.append(given)
            continue
        target = spec_path(doc.base_dir, given)
        with contextlib.suppress(ValueError):  # another drive: the absolute path
            target = Path(os.path.relpath(target, study_dir.resolve()))
        values[path] = target.as_posix()
    return sorted(set(kept))


def _overrides_not_in(text: str, doc: Document, values: dict[Any, Any]) -> list[str]:
    """The ``--set`` overrides (other than the spaces and ``tune:``) that ``text`` lacks.

    Example:
        >>> from modelspec.spec.loader import apply_overrides, load_document
        >>> doc = load_document("train: {epochs: 30}\\n")
        >>> _ = apply_overrides(doc, ["train.epochs=2"])
        >>> _overrides_not_in("train: {epochs: 30}\\n", doc, {})
        ['train.epochs=2']
    """
    return [
        doc.overridden[path]
        for path, here, there in _overridden(text, doc, values)
        if here != there or here is _MISSING
    ]


_MISSING = object()


def _spaces_set_away(doc: Document, values: dict[Any, Any]) -> dict[Any, Any]:
    """The ``--set`` values that replaced a search space of the file with a plain value:
    the trials ran with them, and the file's space cannot stay in ``best.yaml``.

    Example:
        >>> from modelspec.spec.loader import apply_overrides, load_document
        >>> doc = load_document("vars:\\n  w: {tune: int, low: 1, high: 8}\\n")
        >>> _ = apply_overrides(doc, ["vars.w=4"])
        >>> _spaces_set_away(doc, {})
        {('vars', 'w'): 4}
    """
    return {
        path: there
        for path, here, there in _overridden(doc.text or "", doc, values)
        if _has_space(here) and not _has_space(there)
    }


def _overridden(text: str, doc: Document, values: dict[Any, Any]) -> list[tuple[Any, Any, Any]]:
    """Each ``--set`` path (but the spaces' and ``tune:``'s), with its value in the YAML
    ``text`` and in the spec (:data:`_MISSING` where there is none)."""
    import yaml

    try:
        written: Any = yaml.safe_load(text)
    except yaml.YAMLError:
        return []
    found = []
    for path in doc.overridden:
        if path in values or path[:1] == ("tune",):
            continue
        here: Any = written
        there: Any = doc.data
        for part in path:
            here = _step(here, part)
            there = _step(there, part)
        found.append((path, here, there))
    return found


def _has_space(value: Any) -> bool:
    if isinstance(value, dict):
        return "tune" in value or any(_has_space(v) for v in value.values())
    return isinstance(value, list) and any(_has_space(v) for v in value)


def _step(value: Any, part: Any) -> Any:
    if isinstance(value, dict):
        return value.get(part, _MISSING)
    if isinstance(value, list) and isinstance(part, int) and -len(value) <= part < len(value):
        return value[part]
    return _MISSING


def write_table(study_dir: Path, table: list[Row], spaces: list[Space]) -> Path:
    """``trials.csv``, one row per trial."""
    names = [s.name for s in spaces]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["trial", "state", "value", *names, "epochs", "run_dir", "error"])
    for row in table:
        writer.writerow(row.cells(names))
    target = study_dir / "trials.csv"
    write_text(target, out.getvalue())
    return target


def top(table: list[Row], direction: str, count: int = 5) -> list[Row]:
    """The best ``count`` completed trials, best first."""
    done = [r for r in table if r.state == "COMPLETE" and r.value is not None]
    return sorted(done, key=lambda r: r.value or 0.0, reverse=direction == "maximize")[:count]


def write_plots(study: Any, study_dir: Path) -> tuple[list[Path], list[str]]:
    """``history.png`` and ``importances.png``; the plots that cannot be drawn yet are
    named with why (importances need two completed trials)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as vis

    written, skipped = [], []
    done = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    plots: list[tuple[str, Any]] = []
    if done:  # else an empty plot, and Optuna's log line 'There are no complete trials.'
        plots.append(("history.png", vis.plot_optimization_history))
    else:
        skipped.append("history.png: no trial completed")
    if len(done) >= 2:
        plots.append(("importances.png", vis.plot_param_importances))
    else:
        skipped.append("importances.png: needs two completed trials")
    for name, plot in plots:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axes = plot(study)
                figure: Any = axes.figure
                figure.set_size_inches(8, 5)
                figure.tight_layout()
                with atomic_path(study_dir / name) as tmp:
                    figure.savefig(tmp, format="png", dpi=100)
                plt.close(figure)
        except Exception as err:  # Optuna could not draw it (e.g. one value everywhere)
            skipped.append(f"{name}: {' '.join(str(err).split())[:200]}")
            plt.close("all")
            continue
        written.append(study_dir / name)
    return written, skipped
