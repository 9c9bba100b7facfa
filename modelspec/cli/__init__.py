"""The ``modelspec`` command line: a thin click layer over the library.

Exit codes: 0 success, 1 a bad spec (or a model Keras refused to build),
2 bad usage (unknown option, missing file, plugin that does not import).

Example:
    $ modelspec validate specs/*.yaml
    $ modelspec build specs/antirectifier_digits.yaml -o model.keras
"""

from . import run, spec, tune  # noqa: F401  (the verbs register on `main`)
from .common import EXIT_BAD_SPEC, EXIT_INTERRUPTED, main

__all__ = ["EXIT_BAD_SPEC", "EXIT_INTERRUPTED", "main"]
