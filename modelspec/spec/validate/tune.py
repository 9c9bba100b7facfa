"""The ``tune:`` section: what a study judges trials by, and how it samples.

Each search space was read and checked by :mod:`modelspec.spec.spaces` (and the
spec at each space's ends by :func:`modelspec.spec.validate.validate_spec`);
here the study's settings are checked against the spec and its spaces.

Example:
    >>> from modelspec.spec.validate import validate_spec
    >>> report = validate_spec('''
    ... modelspec: 1
    ... name: tiny
    ... inputs: [{name: x, shape: [4]}]
    ... layers:
    ...   - {name: out, type: Dense, units: {tune: int, low: 1, high: 4}}
    ... outputs: [out]
    ... compile: {loss: mse}
    ... train: {data: {source: sklearn, name: digits}}
    ... tune: {objective: val_los}
    ... ''')
    >>> print(report.errors[0].format())
    <string>:10:19: tune.objective: unknown quantity to monitor 'val_los': training logs loss, val_loss. Did you mean 'val_loss'?
"""  # noqa: E501

from __future__ import annotations

import math

from ..spaces import Space
from .context import Context
from .train import check_quantities

#: The most combinations ``sampler: grid`` may have (Optuna lists them all at once).
MAX_GRID = 100_000


def _check_grid_size(ctx: Context, spaces: list[Space]) -> None:
    """A grid Optuna can list: at most :data:`MAX_GRID` combinations."""
    sizes = [(s, s.size()) for s in spaces]
    total = 1
    for _, size in sizes:
        total *= size or 1
    if total <= MAX_GRID:
        return
    biggest = sorted(((size or 0, s.name) for s, size in sizes), reverse=True)[:3]
    shown = ", ".join(f"{name} has {_count(size)}" for size, name in biggest)
    ctx.add(
        ("tune", "sampler"),
        f"expected a grid of at most {MAX_GRID:,} combinations: the grid sampler lists and "
        f"tries every one. Received: {_count(total)} combinations ({shown} values). Give the "
        "spaces larger steps or fewer values, or use sampler: tpe",
    )


def _count(number: int) -> str:
    """A count, with thousands separators, or as a power of ten when it is huge.

    Example:
        >>> _count(123456), _count(10**30)
        ('123,456', 'about 10^30')
    """
    return f"{number:,}" if number < 10**12 else f"about 10^{len(str(number)) - 1}"


def check_tune(ctx: Context, spaces: list[Space]) -> None:
    """``tune.objective`` is logged by training; ``grid`` has a finite space; a
    ``tune:`` section without any search space is said."""
    section = ctx.data.get("tune")
    if section is not None and not isinstance(section, dict):
        return  # reported by the structure stage
    section = section or {}
    if not spaces:
        if "tune" in ctx.data:
            ctx.add(
                ("tune",),
                "this spec has a `tune:` section but no search space: `modelspec tune` "
                "would have nothing to search. Make a value one, e.g. "
                "units: {tune: int, low: 32, high: 512}",
                key=True,
                warning=True,
            )
        return
    if "objective" in section:
        where: tuple[str | int, ...] = ("tune", "objective")
    else:  # val_loss, the default, is logged unless the validation split is 0
        where = ("train", "data", "split", "validation")
    check_quantities(ctx, [(where, section.get("objective", "val_loss"))])
    if section.get("sampler") == "grid":
        _check_grid_size(ctx, spaces)
        for space in spaces:
            if space.within is not None:  # Optuna's GridSampler takes one fixed grid
                ctx.diagnostics.append(
                    ctx.doc.diagnostic(
                        space.path,
                        "the grid sampler tries every combination of one fixed set of "
                        f"spaces, and {space.name} is searched only when its choice is "
                        "picked. Received: a search space inside a choice's value. List "
                        "its values as choices of their own, or use sampler: tpe",
                        source=True,
                    )
                )
            elif space.size() is None:
                assert space.low is not None and space.high is not None
                low, high = space.low, space.high
                if space.log:  # log and step do not go together: a choice of values does
                    middle = float(f"{math.sqrt(low * high):.2g}")
                    hint = (
                        f"Received: low={low}, high={high}, log=true. A log scale has no "
                        f"grid: list the values, e.g. {{tune: choice, values: [{low}, "
                        f"{middle}, {high}]}}, or use sampler: tpe"
                    )
                else:
                    step = float(f"{(high - low) / 5:.12g}")
                    hint = (
                        f"Received: low={low}, high={high}. Give it a step (e.g. step: "
                        f"{step}), or use sampler: tpe"
                    )
                ctx.diagnostics.append(
                    ctx.doc.diagnostic(
                        space.path,
                        f"the grid sampler tries every value, and {{tune: float}} "
                        f"{space.name} has no step. {hint}",
                        source=True,
                    )
                )
