"""What every verb shares: the ``modelspec`` group, plugin options, and errors as exit codes.

Exit codes: 0 success, 1 a bad spec (or a model Keras refused to build),
2 bad usage (unknown option, missing file, plugin that does not import).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from .. import backend as backends
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


def _key_values(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    for item in value:
        if "=" not in item:
            raise click.BadParameter(
                f"expected key.path=value (e.g. train.epochs=3). Received: {item}",
                param_hint="'--set'",
            )
    return value


def set_option(help_text: str) -> Callable[[F], F]:
    """``--set KEY.PATH=VALUE`` (repeatable), each checked to hold an ``=``."""
    return click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY.PATH=VALUE",
        callback=_key_values,
        help=help_text,
    )


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


def _backend_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return backends.check_name(value, None)
    except backends.BackendError as err:
        raise click.BadParameter(str(err)) from None


def _backend_option(func: F) -> F:
    return click.option(
        "--backend",
        metavar="NAME",
        callback=_backend_name,
        help="Keras backend: tensorflow, jax or torch (default: the spec's `backend:`, "
        "else KERAS_BACKEND, else tensorflow).",
    )(func)


def _declared_backend(source: str | None, overrides: Iterable[str] = ()) -> str | None:
    """The backend a source names, read without Keras: a run directory's (what it was
    trained on), a spec's ``backend:`` (``--set backend=...`` included); else ``None``."""
    import json
    from pathlib import Path

    import yaml

    from ..spec.loader import load_document

    if source is None:
        return None
    path = Path(source)
    value: object = None
    try:
        if path.is_dir():
            meta = path / "run.json"
            run = json.loads(meta.read_text(encoding="utf-8")) if meta.is_file() else {}
            value = run.get("backend") if isinstance(run, dict) else None
            path = path / "spec.yaml"
        if value is None and path.suffix.lower() != ".keras" and path.is_file():
            data = load_document(path).data
            value = data.get("backend") if isinstance(data, dict) else None
        for item in overrides:
            key, _, text = item.partition("=")
            if key.strip() == "backend":
                value = yaml.safe_load(text)
    except Exception:  # an unreadable source is reported by the command itself
        return None
    return value if isinstance(value, str) and value in backends.BACKENDS else None


def declared_in(spec: str) -> str | None:
    """The ``backend:`` a spec file names (read without Keras), if it is a backend."""
    return _declared_backend(spec) if not Path(spec).is_dir() else None


def _start_keras(
    flag: str | None,
    source: str | None = None,
    overrides: Iterable[str] = (),
    *,
    data: bool = False,
) -> None:
    """Choose this process's backend (``--backend``, else the source's, else
    ``KERAS_BACKEND``...), then import Keras quietly. A backend that cannot be used
    is a usage error (exit 2)."""
    run = Path(source) if source is not None else None
    if flag is None and run is not None and run.is_dir():
        # a run directory: the backend it ran on, as if given with --backend (its
        # spec.yaml may name another, from before --backend was recorded there)
        flag = _declared_backend(source)
    try:
        backends.select(flag, _declared_backend(source, overrides))
    except backends.BackendError as err:
        raise click.UsageError(str(err)) from None
    _quiet_tensorflow(with_tensorflow=data)


def _usage_error(err: PluginError | RunError | backends.BackendError) -> click.UsageError:
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


def _quiet_tensorflow(with_tensorflow: bool = False) -> None:
    """Import Keras without TensorFlow's start-up chatter on stderr.

    TensorFlow prints C++ INFO lines (oneDNN...) before its logging is set up,
    which no environment variable hides; the import runs with file descriptor 2
    captured, and the capture is replayed if the import fails. Nothing is
    hidden when the user asked for TensorFlow's logs (``TF_CPP_MIN_LOG_LEVEL=0``).
    With ``with_tensorflow`` (the verbs that read data: train, evaluate, predict,
    export), TensorFlow is imported there too on JAX and PyTorch when it is
    installed: Keras seeds it and the data pipelines are ``tf.data``, so it comes
    anyway. Building or drawing a model on those backends does not load it.
    """
    if "keras" in sys.modules or verbose():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with captured_stderr(replay_on_error=True):
        import keras

        tf_too = keras.backend.backend() != "tensorflow" and backends.installed("tensorflow")
        if with_tensorflow and tf_too:
            import tensorflow  # noqa: F401


def _before_plugins(
    plugins: tuple[str, ...],
    allow_imports: bool,
    backend: str | None = None,
    source: str | None = None,
) -> None:
    """Plugins usually import Keras: do it quietly first when there are any, on the
    backend chosen (``--backend``, else the spec's...)."""
    if plugins or allow_imports:
        _start_keras(backend, source)


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
    tune, evaluate, predict and export them."""
