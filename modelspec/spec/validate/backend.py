"""What the Keras backend a spec runs on cannot do, found before it is imported.

The backend is ``validate --backend``'s, else the one Keras already runs in
this process, else the one it would run (:func:`modelspec.backend.effective`).

Example:
    >>> from modelspec.spec.loader import load_document
    >>> from .context import Context
    >>> ctx = Context(load_document('''
    ... inputs: [{name: text, shape: [1], dtype: string}]
    ... '''), allow_imports=False)
    >>> check_backend(ctx, "jax")
    'jax'
    >>> print(ctx.diagnostics[0].message)  # doctest: +NORMALIZE_WHITESPACE
    expected a numeric dtype on the jax backend (only TensorFlow has string tensors).
    Received: dtype: string. Run this spec with `--backend tensorflow`, or turn the
    text into numbers before the model.
"""

from __future__ import annotations

from ... import backend as backends
from .context import Context


def check_backend(ctx: Context, given: str | None, *, loading: bool = False) -> str:
    """Check the spec against its backend; return that backend's name.

    ``loading`` (to build it here): a ``backend:`` that is not the one Keras already
    runs in this process is an error, unless ``--backend`` chose it."""
    data = ctx.data if isinstance(ctx.data, dict) else {}
    declared = data.get("backend")
    declared = declared if declared in backends.BACKENDS else None
    name = backends.effective(declared, given, loading=loading)
    running = backends.running()
    if loading and declared and running and declared != running and not backends.overridden():
        ctx.add(
            ("backend",),
            f"expected the {running} backend, which Keras in this process already runs "
            f"(Keras picks its backend when it is first imported). Received: backend: "
            f"{declared}. Set KERAS_BACKEND={declared} before importing keras or modelspec's "
            f"training API, or run `modelspec ... --backend {declared}`.",
        )
    if name != "tensorflow":
        inputs = data.get("inputs")
        for i, item in enumerate(inputs if isinstance(inputs, list) else []):
            if isinstance(item, dict) and item.get("dtype") == "string":
                ctx.add(
                    ("inputs", i, "dtype"),
                    f"expected a numeric dtype on the {name} backend (only TensorFlow has "
                    "string tensors). Received: dtype: string. Run this spec with "
                    "`--backend tensorflow`, or turn the text into numbers before the model.",
                )
    train = data.get("train")
    steps = train.get("steps_per_execution") if isinstance(train, dict) else None
    if name == "torch" and isinstance(steps, int) and not isinstance(steps, bool) and steps > 1:
        ctx.add(
            ("train", "steps_per_execution"),
            "expected steps_per_execution: 1 on the torch backend (Keras runs PyTorch one step "
            f"at a time). Received: steps_per_execution: {steps}. Leave it out, or run on jax "
            "or tensorflow.",
        )
    return name
