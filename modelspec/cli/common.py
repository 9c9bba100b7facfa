"""What every verb shares: the ``modelspec`` group, plugin options, and errors as exit codes.

Exit codes: 0 success, 1 a bad spec (or a model Keras refused to build),
2 bad usage (unknown option, missing file, plugin that does not import).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from typing import Any, NoReturn, TypeVar

import click

from .._version import __version__
from ..console import captured_stderr, verbose
from ..errors import (
    Diagnostic,
    PluginError,
    RunError,
    SpecError,
)

F = TypeVar("F", bound=Callable[..., Any])

#: Exit code for a bad spec; click uses 2 for bad usage.
EXIT_BAD_SPEC = 1
#: Exit code for a run interrupted with Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130


def _plugin_options(func: F) -> F:
    func = click.option(
        "--allow-imports",
        is_flag=True,
        help="Honour the spec's `imports:` list (it runs those modules' code).",
    )(func)
    return click.option(
        "--plugin",
        "plugins",
        multiple=True,
        metavar="MODULE",
        help="Import MODULE first (it registers custom layers...). Repeatable.",
    )(func)


def _usage_error(err: PluginError | RunError) -> click.UsageError:
    return click.UsageError(str(err))


def _fail_spec(err: SpecError, source: str) -> NoReturn:
    """Print a spec error's diagnostics and exit 1."""
    _print_diagnostics(err.diagnostics, err=True)
    click.echo(f"{source}: {_plural(len(err.errors), 'error')}", err=True)
    sys.exit(EXIT_BAD_SPEC)


def _fail(err: Exception) -> NoReturn:
    """Print an error that is not about a spec's lines, and exit 1."""
    click.echo(f"Error: {err}", err=True)
    sys.exit(EXIT_BAD_SPEC)


def _print_diagnostics(diagnostics: Iterable[Diagnostic], *, err: bool = False) -> None:
    for d in diagnostics:
        click.echo(d.format(), err=err)


def _quiet_tensorflow() -> None:
    """Import Keras without TensorFlow's start-up chatter on stderr.

    TensorFlow prints C++ INFO lines (oneDNN...) before its logging is set up,
    which no environment variable hides; the import runs with file descriptor 2
    captured, and the capture is replayed if the import fails. Nothing is
    hidden when the user asked for TensorFlow's logs (``TF_CPP_MIN_LOG_LEVEL=0``).
    """
    if "keras" in sys.modules or verbose():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with captured_stderr(replay_on_error=True):
        import keras  # noqa: F401


def _before_plugins(plugins: tuple[str, ...], allow_imports: bool) -> None:
    """Plugins usually import Keras: do it quietly first when there are any."""
    if plugins or allow_imports:
        _quiet_tensorflow()


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class _Verbs(click.Group):
    """A group whose help lists each verb with its whole first sentence (click cuts it short)."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=_Verbs, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="modelspec")
def main() -> None:
    """Declarative Keras models from YAML specs: validate, expand, build, plot, train,
    evaluate, predict and export them."""
