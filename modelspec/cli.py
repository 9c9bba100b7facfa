"""The ``modelspec`` command line: a thin click layer over the library.

Exit codes: 0 success, 1 a bad spec (or a model Keras refused to build),
2 bad usage (unknown option, missing file, plugin that does not import).

Example:
    $ modelspec validate specs/*.yaml
    $ modelspec build specs/antirectifier_digits.yaml -o model.keras
"""

from __future__ import annotations

import fnmatch
import json
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from ._version import __version__
from .console import captured_stderr, verbose
from .errors import (
    Diagnostic,
    ExportError,
    ModelLoadError,
    PluginError,
    RunError,
    RunInterrupted,
    SpecError,
    TrainingFailed,
)

if TYPE_CHECKING:
    from .spec.schema import ModelSpec

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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="modelspec")
def main() -> None:
    """Declarative Keras models: validate, build, train and inspect YAML model specs."""


@main.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output for people, or JSON for tools.",
)
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1).")
@_plugin_options
def validate(
    specs: tuple[str, ...], fmt: str, strict: bool, plugins: tuple[str, ...], allow_imports: bool
) -> None:
    """Check SPECS and report every problem, each as FILE:LINE:COL: PATH: MESSAGE.

    Exits 0 when every spec is valid, 1 when one is not. Specs that only use
    built-in layers are checked without importing TensorFlow.
    """
    from .spec.validate import validate_spec

    _before_plugins(plugins, allow_imports)
    results = []
    failed = False
    for path in specs:
        try:
            report = validate_spec(path, plugins=plugins, allow_imports=allow_imports)
        except PluginError as err:
            raise _usage_error(err) from None
        bad = bool(report.errors) or (strict and bool(report.warnings))
        failed |= bad
        results.append((path, report, bad))
    if fmt == "json":
        payload = {
            "ok": not failed,
            "files": [
                {
                    "file": path,
                    "ok": not bad,
                    "errors": len(report.errors),
                    "warnings": len(report.warnings),
                    "diagnostics": [d.to_dict() for d in report.diagnostics],
                }
                for path, report, bad in results
            ],
        }
        click.echo(json.dumps(payload, indent=2))
    else:
        for path, report, _ in results:
            _print_diagnostics(report.diagnostics)
            if report.spec is not None and not report.diagnostics:
                spec = report.spec
                click.echo(
                    f"{path}: ok ({_plural(len(spec.inputs), 'input')}, "
                    f"{_plural(len(spec.layers), 'layer')}, "
                    f"{_plural(len(spec.output_refs), 'output')})"
                )
            else:
                click.echo(
                    f"{path}: {_plural(len(report.errors), 'error')}, "
                    f"{_plural(len(report.warnings), 'warning')}"
                )
    if failed:
        sys.exit(EXIT_BAD_SPEC)


@main.command()
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
@_plugin_options
def expand(spec: str, plugins: tuple[str, ...], allow_imports: bool) -> None:
    """Print SPEC as modelspec reads it: vars substituted, repeats unrolled.

    Blocks are kept as written; each node ends with a comment naming its
    source line. The output is itself a spec of the same model. Problems go
    to stderr (exit 1), after the expansion is printed.
    """
    from .spec.expand import expand as expand_document
    from .spec.loader import load_document
    from .spec.render import render
    from .spec.validate import validate_spec

    _before_plugins(plugins, allow_imports)
    try:
        report = validate_spec(spec, plugins=plugins, allow_imports=allow_imports)
    except PluginError as err:
        raise _usage_error(err) from None
    try:
        expanded, _ = expand_document(load_document(spec))
        click.echo(render(expanded), nl=False)
    except SpecError:
        pass  # not a document: the report says why
    _print_diagnostics(report.diagnostics, err=True)
    if report.errors:
        sys.exit(EXIT_BAD_SPEC)


@main.command()
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Save the built model to this .keras file.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print only the parameter counts.")
@click.option(
    "--block",
    metavar="NAME",
    help="Build this block alone (its first instance's params, its declared input shapes).",
)
@_plugin_options
def build(
    spec: str,
    output: str | None,
    quiet: bool,
    block: str | None,
    plugins: tuple[str, ...],
    allow_imports: bool,
) -> None:
    """Build SPEC into a Keras model; print its summary and parameter counts.

    A layer Keras refuses (a shape or dtype mismatch) is reported at its
    node's line in the spec, like a validation error. With --block, build one
    of the spec's blocks alone (a VAE's decoder).
    """
    if output is not None and not output.endswith(".keras"):
        raise click.BadParameter(
            f"expected a path ending in .keras. Received: {output}", param_hint="'--output'"
        )
    from .spec.validate import validate_spec

    _before_plugins(plugins, allow_imports)
    try:
        report = validate_spec(spec, plugins=plugins, allow_imports=allow_imports)
    except PluginError as err:
        raise _usage_error(err) from None
    _print_diagnostics(report.diagnostics, err=True)
    if report.spec is None:
        click.echo(f"{spec}: {_plural(len(report.errors), 'error')}", err=True)
        sys.exit(EXIT_BAD_SPEC)
    _quiet_tensorflow()
    from .build import build_model

    if block is not None and block not in report.spec.blocks:
        from .errors import did_you_mean

        known = ", ".join(report.spec.blocks) or "none"
        hint = did_you_mean(block, report.spec.blocks) or f" Its blocks: {known}."
        raise click.BadParameter(f"no block '{block}' in {spec}.{hint}", param_hint="'--block'")
    try:
        model = build_model(report.spec, block=block)
    except SpecError as err:
        _print_diagnostics(err.diagnostics, err=True)
        click.echo(f"{spec}: {_plural(len(err.errors), 'error')}", err=True)
        sys.exit(EXIT_BAD_SPEC)
    if not quiet:
        model.summary(print_fn=lambda line, *_, **__: click.echo(line))
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    total = model.count_params()
    click.echo(
        f"{model.name}: {total:,} parameters ({trainable:,} trainable, "
        f"{total - trainable:,} non-trainable)"
    )
    if output is not None:
        from .rundir import save_model

        save_model(model, Path(output))
        click.echo(f"saved {output}")


@main.command()
@click.option("--indent", type=int, default=2, show_default=True, help="JSON indentation.")
def schema(indent: int) -> None:
    """Print the JSON Schema of a spec, per-layer-type arguments included.

    Save it and point your YAML editor at it, e.g. with a first line
    `# yaml-language-server: $schema=modelspec.schema.json`.
    """
    from .spec.jsonschema import spec_json_schema

    click.echo(json.dumps(spec_json_schema(), indent=indent or None))


@main.command()
@click.argument("pattern", required=False)
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE", help="Import MODULE first.")
def layers(pattern: str | None, plugins: tuple[str, ...]) -> None:
    """List the layer types a spec can use, and their arguments.

    PATTERN filters the names: a glob (`Conv*`) or a substring, case-insensitive.
    Naming exactly one type shows its details.
    """
    from . import catalogue, registry
    from . import plugins as plugin_loader
    from .errors import did_you_mean

    _before_plugins(plugins, plugin_loader.has_entry_point_plugins())
    try:
        plugin_loader.load_plugins(plugins)
        plugin_loader.load_entry_point_plugins()
    except PluginError as err:
        raise _usage_error(err) from None
    names = sorted({*catalogue.builtin_layer_names(), *registry.layers})
    if pattern:
        glob = pattern if any(c in pattern for c in "*?[") else f"*{pattern}*"
        names = [n for n in names if fnmatch.fnmatch(n.lower(), glob.lower())]
        exact = [n for n in names if n.lower() == pattern.lower()]
        names = exact or names
    if not names:
        hint = did_you_mean(pattern or "", catalogue.builtin_layer_names())
        raise click.UsageError(f"no layer type matches '{pattern}'.{hint}")
    detail = len(names) == 1
    for name in names:
        sig = registry.layer_signature(name)
        if sig is None:
            continue
        args = ", ".join(
            a.name if a.required else f"{a.name}={a.default!r}"
            for a in sig.args.values()
            if detail or a.name not in catalogue.BASE_LAYER_ARGS
        )
        click.echo(f"{name} [{sig.source}]: {args}")
        if detail:
            click.echo(f"  {sig.summary}")
            click.echo(f"  call arguments: {', '.join(sig.call_args)}")
            for arg in sig.args.values():
                need = "required" if arg.required else f"default {arg.default!r}"
                click.echo(f"  {arg.name}: {arg.kind.description} ({need})")


@main.command()
@click.argument("pattern", required=False)
def ops(pattern: str | None) -> None:
    """List the keras.ops functions a spec can call, and their parameters.

    PATTERN filters the names: a glob (`*max*`) or a substring, case-insensitive.
    Naming exactly one op shows its parameters; naming a refused op says why.
    """
    from . import catalogue
    from .errors import did_you_mean

    key = (pattern or "").lower()
    refused = catalogue.refused_op(key)
    if refused:
        click.echo(f"Error: {key} cannot be used in a spec: {refused}", err=True)
        sys.exit(EXIT_BAD_SPEC)
    names = catalogue.op_names()
    if key:
        glob = key if any(c in key for c in "*?[") else f"*{key}*"
        names = [n for n in names if fnmatch.fnmatch(n, glob)]
        names = [n for n in names if n == key] or names
    if not names:
        hint = did_you_mean(key, catalogue.op_names())
        raise click.UsageError(f"no op matches '{pattern}'.{hint}")
    sigs = [sig for sig in map(catalogue.op_signature, names) if sig is not None]
    if len(sigs) > 1:
        for sig in sigs:
            click.echo(f"{sig.name}: {sig.summary}")
        return
    click.echo(str(sigs[0]))
    click.echo(f"  {sigs[0].summary}")
    for param in sigs[0].params:
        click.echo(f"  {param.name}: {param.describe()}")


@main.command()
@click.argument("spec", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY.PATH=VALUE",
    help="Override a spec value, read as YAML (train.epochs=3). Repeatable.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default="runs",
    show_default=True,
    help="Where the run directory is made.",
)
@click.option(
    "--resume",
    type=click.Path(exists=True, file_okay=False),
    help="Continue this run directory from its last completed epoch.",
)
@click.option("--epochs", type=click.IntRange(min=1), help="Total epochs (overrides train.epochs).")
@_plugin_options
def train(
    spec: str | None,
    overrides: tuple[str, ...],
    out_dir: str,
    resume: str | None,
    epochs: int | None,
    plugins: tuple[str, ...],
    allow_imports: bool,
) -> None:
    """Train SPEC on the data of its `train:` section; write a run directory.

    The run directory (runs/<name>-<timestamp>/) holds the resolved spec, the
    final model.keras, the best checkpoint best.keras, history.csv,
    metrics.json (evaluation on the test split), curves.png and TensorBoard
    logs. A killed run continues with --resume RUN_DIR.
    """
    if (spec is None) == (resume is None):
        raise click.UsageError("give a SPEC to train, or --resume RUN_DIR (not both)")
    if resume is not None and overrides:
        raise click.UsageError("--set cannot change a run being resumed; start a new run")
    for item in overrides:
        if "=" not in item:
            raise click.BadParameter(
                f"expected key.path=value (e.g. train.epochs=3). Received: {item}",
                param_hint="'--set'",
            )
    _quiet_tensorflow()
    from .training import train as run_training

    try:
        result = run_training(
            spec,
            overrides=list(overrides),
            out_dir=out_dir,
            resume=resume,
            epochs=epochs,
            plugins=plugins,
            allow_imports=allow_imports,
        )
    except SpecError as err:
        _fail_spec(err, spec or str(resume))
    except (PluginError, RunError) as err:
        raise _usage_error(err) from None
    except TrainingFailed as err:
        _fail(err)
    except RunInterrupted as err:
        click.echo(f"\n{err}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    history = result.history
    done = len(next(iter(history.values()), []))
    if result.already_done:
        click.echo(
            f"run {result.run_dir} already finished its {done} epochs: nothing to resume "
            "(give --epochs N to train it further)."
        )
    click.echo(f"\nrun: {result.run_dir}")
    monitor = "val_loss" if "val_loss" in history else "loss"
    if history.get(monitor):
        values = history[monitor]
        best = min(range(len(values)), key=values.__getitem__)
        click.echo(f"epochs: {done} (best {monitor} {values[best]:.4f} at epoch {best + 1})")
    if result.metrics:
        shown = "  ".join(f"{k} {v:.4f}" for k, v in result.metrics.items())
        click.echo(f"test: {shown}")
    files = sorted(p.name + ("/" if p.is_dir() else "") for p in result.run_dir.iterdir())
    click.echo(f"files: {' '.join(f for f in files if not f.startswith('.'))}")
    for exported in result.exports:
        click.echo(exported.summary())
    for _, error in result.export_errors:
        click.echo(f"Error: {error}", err=True)
    if result.export_errors:
        sys.exit(EXIT_BAD_SPEC)


@main.command()
@click.argument("source", type=click.Path(exists=True))
@click.option(
    "--spec",
    type=click.Path(exists=True, dir_okay=False),
    help="The spec whose train.data to use (a run directory keeps its own).",
)
@click.option(
    "--data",
    type=click.Path(exists=True, dir_okay=False),
    help="Evaluate on this .npz or .csv file (all rows) instead of the test split.",
)
@click.option("--best", is_flag=True, help="Use the run's best checkpoint, not its final model.")
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE", help="Import MODULE first.")
def evaluate(
    source: str, spec: str | None, data: str | None, best: bool, plugins: tuple[str, ...]
) -> None:
    """Evaluate SOURCE (a run directory or a .keras file) on held-out data.

    Uses the test split of the spec's train.data (the same seeded split as
    training), or every row of --data FILE. Prints one `metric: value` per line.
    """
    _quiet_tensorflow()
    from .training import evaluate as run_evaluate

    try:
        metrics = run_evaluate(source, spec=spec, data=data, plugins=plugins, best=best)
    except SpecError as err:
        _fail_spec(err, spec or source)
    except (PluginError, RunError) as err:
        raise _usage_error(err) from None
    except ModelLoadError as err:
        _fail(err)
    for key, value in metrics.items():
        click.echo(f"{key}: {value:.6g}")


@main.command()
@click.argument("source", type=click.Path(exists=True))
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Inputs: a .npz (arrays named like the model inputs) or a .csv file.",
)
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="Where to write the predictions: .npz or .csv.",
)
@click.option(
    "--spec",
    type=click.Path(exists=True, dir_okay=False),
    help="The spec that maps file columns onto inputs (a run directory keeps its own).",
)
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE", help="Import MODULE first.")
def predict(
    source: str, input_path: str, output: str, spec: str | None, plugins: tuple[str, ...]
) -> None:
    """Run SOURCE (a run directory or a .keras file) on new inputs; write predictions."""
    if Path(output).suffix.lower() not in (".npz", ".csv"):
        raise click.BadParameter(
            f"expected a path ending in .npz or .csv. Received: {output}", param_hint="'--output'"
        )
    _quiet_tensorflow()
    from .training import predict as run_predict

    try:
        result = run_predict(source, input_path, output=output, spec=spec, plugins=plugins)
    except SpecError as err:
        _fail_spec(err, spec or input_path)
    except (PluginError, RunError) as err:
        raise _usage_error(err) from None
    except ModelLoadError as err:
        _fail(err)
    for name, values in result.items():
        click.echo(f"{name}: {values.shape[0]} predictions, shape {tuple(values.shape[1:])}")
    click.echo(f"wrote {output}")


def _export_formats(values: tuple[str, ...]) -> list[str]:
    """``-f onnx -f litert,openvino`` or ``-f all`` -> format names (checked by click)."""
    from .errors import did_you_mean
    from .spec.schema import EXPORT_FORMATS

    chosen: list[str] = []
    for value in values:
        for name in filter(None, (v.strip() for v in value.split(","))):
            if name == "all":
                chosen += EXPORT_FORMATS
            elif name in EXPORT_FORMATS:
                chosen.append(name)
            else:
                hint = did_you_mean(name, [*EXPORT_FORMATS, "all"])
                raise click.BadParameter(
                    f"expected one of {', '.join(EXPORT_FORMATS)} or all. Received: {name}.{hint}",
                    param_hint="'--format'",
                )
    return list(dict.fromkeys(chosen))


@main.command(name="export")
@click.argument("source", type=click.Path(exists=True))
@click.option(
    "--format",
    "-f",
    "formats",
    multiple=True,
    metavar="FMT",
    help="keras, saved_model, litert, onnx, openvino, or all; repeatable or comma-separated. "
    "Default: the spec's export.formats.",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(),
    help="The artifact's path (one format), or a directory. Default: the run "
    "directory's export/, else the current directory.",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0),
    help="Largest max abs difference from Keras accepted (default 1e-5 for keras and "
    "saved_model, 1e-4 for the others, or the spec's export.tolerance).",
)
@click.option(
    "--samples",
    type=click.IntRange(min=1),
    help="Sample inputs the check runs (default 8, or the spec's export.samples).",
)
@click.option("--no-check", is_flag=True, help="Do not reload and compare the artifacts.")
@click.option("--best", is_flag=True, help="From a run directory, export best.keras.")
@click.option(
    "--spec",
    type=click.Path(exists=True, dir_okay=False),
    help="The spec of a .keras SOURCE (sample data and provenance).",
)
@_plugin_options
def export(
    source: str,
    formats: tuple[str, ...],
    out: str | None,
    tolerance: float | None,
    samples: int | None,
    no_check: bool,
    best: bool,
    spec: str | None,
    plugins: tuple[str, ...],
    allow_imports: bool,
) -> None:
    """Export SOURCE (a spec, a .keras file or a run directory) and check each artifact.

    Each artifact is reloaded in its own runtime (Keras, TensorFlow, LiteRT,
    onnxruntime, OpenVINO), run on sample inputs (the spec's data, else random)
    and compared with the Keras model; the max abs difference is printed. An
    artifact over tolerance is not written, and the exit code is 1.
    """
    chosen = _export_formats(formats)
    path = Path(source)
    _quiet_tensorflow()
    from .export import FORMATS, export_all, export_model

    try:
        if not chosen:  # the spec's export section
            from .rundir import run_spec
            from .spec.validate import load_spec

            loaded: ModelSpec | None = None
            if path.is_dir():
                loaded = run_spec(path, plugins=plugins, allow_imports=allow_imports)
            else:
                named = spec or (source if path.suffix != ".keras" else None)
                loaded = load_spec(named, plugins=plugins) if named else None
            if loaded is None or loaded.export is None:
                raise click.UsageError("give --format FMT (the spec has no export: section)")
            chosen = list(loaded.export.formats)
        options: dict[str, Any] = {
            "check": not no_check,
            "tolerance": tolerance,
            "samples": samples,
            "spec": spec,
            "plugins": plugins,
            "allow_imports": allow_imports,
            "best": best,
        }
        default_dir = path / "export" if path.is_dir() else Path(".")
        # -o names the artifact for one format, unless it is a folder to export
        # into; a SavedModel there is the artifact itself (the same command twice
        # replaces it rather than nesting a new one inside it)
        saved_model = out is not None and (Path(out) / "saved_model.pb").is_file()
        as_file = (
            out is not None
            and len(chosen) == 1
            and (not Path(out).is_dir() or (saved_model and chosen[0] == "saved_model"))
            and not out.endswith(("/", os.sep))
        )
        if as_file:
            assert out is not None
            suffix = FORMATS[chosen[0]].suffix
            if suffix and not out.endswith(suffix):
                raise click.BadParameter(
                    f"expected a path ending in {suffix} for {chosen[0]}. Received: {out}",
                    param_hint="'--out'",
                )
            results = [export_model(source, chosen[0], out, **options)]
            failures: list[tuple[str, ExportError]] = []
        else:
            results, failures = export_all(source, chosen, out or default_dir, **options)
    except SpecError as err:
        _fail_spec(err, spec or source)
    except (PluginError, RunError) as err:
        raise _usage_error(err) from None
    except (ExportError, ModelLoadError) as err:
        _fail(err)
    for result in results:
        click.echo(result.summary())
    for _, error in failures:
        click.echo(f"Error: {error}", err=True)
    if failures:
        sys.exit(EXIT_BAD_SPEC)
