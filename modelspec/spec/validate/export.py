"""The export section against the spec's backend: formats that backend cannot export.

Example:
    >>> from modelspec.spec.loader import load_document
    >>> ctx = Context(load_document('''
    ... backend: jax
    ... export: {formats: [keras, litert]}
    ... '''), allow_imports=False)
    >>> check_export(ctx)
    >>> print(ctx.diagnostics[0].format())  # doctest: +ELLIPSIS
    <string>:3:27: export.formats[1]: litert export needs the tensorflow backend. Received: ...
"""

from __future__ import annotations

from ...backend import BACKENDS, EXPORT_BACKENDS
from .context import Context, as_list


def check_export(ctx: Context) -> None:
    """Each of ``export.formats`` can be exported from the backend the spec runs on
    (what ``modelspec train`` exports at the end of a run on it).

    A format the spec's own ``backend:`` cannot export is an error; one that only the
    backend chosen from outside (``--backend``, ``KERAS_BACKEND``) cannot is a warning:
    ``train`` skips it and says so."""
    declared = ctx.data.get("backend")
    backend = declared if declared in BACKENDS else ctx.backend
    section = ctx.data.get("export")
    if not isinstance(section, dict):
        return
    for i, fmt in enumerate(as_list(section.get("formats"))):
        able = EXPORT_BACKENDS.get(fmt) if isinstance(fmt, str) else None
        if able is None or backend in able:
            continue
        if declared == backend:
            ctx.add(
                ("export", "formats", i),
                f"{fmt} export needs the {' or '.join(able)} backend. Received: backend: "
                f"{backend}. Drop {fmt} here and export the trained run with `modelspec "
                f"export RUN_DIR -f {fmt} --backend {able[0]}` (its .keras file loads on "
                "any backend).",
            )
        else:
            ctx.add(
                ("export", "formats", i),
                f"{fmt} export needs the {' or '.join(able)} backend; this spec runs on "
                f"{backend}, so `train` will skip it. Export the trained run with `modelspec "
                f"export RUN_DIR -f {fmt} --backend {able[0]}`.",
                warning=True,
            )
