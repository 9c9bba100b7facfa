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

from ..spaces import Space
from .context import Context
from .train import check_quantities


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
        for space in spaces:
            if space.grid() is None:
                ctx.diagnostics.append(
                    ctx.doc.diagnostic(
                        space.path,
                        f"the grid sampler tries every value, and {{tune: float}} "
                        f"{space.name} has no step. Received: low={space.low}, high={space.high}. "
                        "Give it a step (e.g. step: 0.1), or use sampler: tpe",
                        source=True,
                    )
                )
