"""``python -m modelspec``: the same as the ``modelspec`` command."""

from .cli import main

main(prog_name="modelspec")
