"""The verbs about specs: validate, expand, build, plot, schema, layers, ops."""

from __future__ import annotations

import fnmatch
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import (
    PluginError,
    SpecError,
)

if TYPE_CHECKING:
    from ..spec.schema import ModelSpec

from .common import (
    EXIT_BAD_SPEC,
    _backend_option,
    _before_plugins,
    _fail,
    _fail_spec,
    _plugin_options,
    _plural,
    _print_diagnostics,
    _start_keras,
    _usage_error,
    main,
)


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
@_backend_option
@_plugin_options
def validate(
    specs: tuple[str, ...],
    fmt: str,
    strict: bool,
    backend: str | None,
    plugins: tuple[str, ...],
    allow_imports: bool,
) -> None:
    """Check SPECS and report every problem, each as FILE:LINE:COL: PATH: MESSAGE.

    Exits 0 when every spec is valid, 1 when one is not. Specs that only use
    built-in layers are checked without importing TensorFlow. With --backend,
    they are checked for that Keras backend (none needs to be installed).
    """
    from ..backend import BackendError
    from ..spec.validate import SPACES_NOTE, validate_spec

    _before_plugins(plugins, allow_imports, backend, specs[0] if len(specs) == 1 else None)
    results = []
    failed = False
    for path in specs:
        try:
            report = validate_spec(
                path, plugins=plugins, allow_imports=allow_imports, backend=backend
            )
        except (PluginError, BackendError) as err:
            raise _usage_error(err) from None
        # that a spec has search spaces is a note, not a problem --strict refuses
        problems = [w for w in report.warnings if not w.message.startswith(SPACES_NOTE)]
        bad = bool(report.errors) or (strict and bool(problems))
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
            notes = [d for d in report.diagnostics if d.message.startswith(SPACES_NOTE)]
            if report.spec is not None and len(notes) == len(report.diagnostics):
                spec = report.spec
                click.echo(
                    f"{path}: ok ({_plural(len(spec.inputs), 'input')}, "
                    f"{_plural(len(spec.layers), 'layer')}, "
                    f"{_plural(len(spec.output_refs), 'output')}"
                    + (f", {_plural(len(report.spaces), 'search space')})" if notes else ")")
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
    from ..spec.expand import expand as expand_document
    from ..spec.loader import load_document
    from ..spec.render import render
    from ..spec.validate import validate_spec

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
@click.option(
    "--with-data",
    is_flag=True,
    help="Load the spec's train.data and build the model training makes: the inputs' "
    "transforms as layers in front of the graph, taking raw inputs.",
)
@_backend_option
@_plugin_options
def build(
    spec: str,
    output: str | None,
    quiet: bool,
    block: str | None,
    with_data: bool,
    backend: str | None,
    plugins: tuple[str, ...],
    allow_imports: bool,
) -> None:
    """Build SPEC into a Keras model; print its summary and parameter counts.

    A layer Keras refuses (a shape or dtype mismatch) is reported at its
    node's line in the spec, like a validation error. With --block, build one
    of the spec's blocks alone (a VAE's decoder). Without --with-data the
    graph is built as declared (its inputs take transformed arrays).
    """
    if output is not None and not output.endswith(".keras"):
        raise click.BadParameter(
            f"expected a path ending in .keras. Received: {output}", param_hint="'--output'"
        )
    loaded = _validated(spec, plugins, allow_imports, backend)
    from ..build import build_model
    from ..build.adapt import wants_adapt

    if block is not None and block not in loaded.blocks:
        from ..errors import did_you_mean

        known = ", ".join(loaded.blocks) or "none"
        hint = did_you_mean(block, loaded.blocks) or f" Its blocks: {known}."
        raise click.BadParameter(f"no block '{block}' in {spec}.{hint}", param_hint="'--block'")
    if with_data and (block is not None or loaded.train is None):
        why = "--block builds a block alone" if block else f"{spec} has no train.data"
        raise click.BadParameter(f"cannot load the data: {why}", param_hint="'--with-data'")
    try:
        if with_data:
            from ..training.fit import model_and_data

            assert loaded.train is not None
            model, _ = model_and_data(loaded, loaded.train.data.preprocess)
        else:
            model = build_model(loaded, block=block)
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
    adapted = [n.name for n in loaded.layers if block is None and wants_adapt(n)]
    if adapted and not with_data:  # with data, they are adapted on its training split
        click.echo(
            f"note: built without data, {', '.join(adapted)} {'is' if len(adapted) == 1 else 'are'}"
            " not adapted (`modelspec train` adapts on the training split)"
        )
    if output is not None:
        from ..rundir import save_model

        save_model(model, Path(output), spec_text=Path(spec).read_text("utf-8"), source=spec)
        click.echo(f"saved {output}")


@main.command()
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="The drawing: .mmd (Mermaid text), or .svg / .png (needs pydot and Graphviz).",
)
@_backend_option
@_plugin_options
def plot(
    spec: str, output: str, backend: str | None, plugins: tuple[str, ...], allow_imports: bool
) -> None:
    """Draw the model SPEC builds: one node per layer or op, blocks as subgraphs.

    Each node shows its name, type, output shape and parameters. A .mmd file
    is Mermaid text (GitHub renders it in Markdown); .svg and .png are drawn
    by keras.utils.plot_model.
    """
    from ..plot import suffix_problem

    problem = suffix_problem(output)
    if problem:
        raise click.BadParameter(problem, param_hint="'--output'")
    from ..errors import ModelSpecError

    loaded = _validated(spec, plugins, allow_imports, backend)
    from ..plot import plot as draw

    try:
        written = draw(loaded, output)
    except SpecError as err:
        _fail_spec(err, spec)
    except ModelSpecError as err:
        _fail(err)
    click.echo(f"wrote {written}")


@main.command()
@click.option("--indent", type=int, default=2, show_default=True, help="JSON indentation.")
def schema(indent: int) -> None:
    """Print the JSON Schema of a spec, per-layer-type arguments included.

    Save it and point your YAML editor at it, e.g. with a first line
    `# yaml-language-server: $schema=modelspec.schema.json`.
    """
    from ..spec.jsonschema import spec_json_schema

    click.echo(json.dumps(spec_json_schema(), indent=indent or None))


@main.command()
@click.argument("pattern", required=False)
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE", help="Import MODULE first.")
def layers(pattern: str | None, plugins: tuple[str, ...]) -> None:
    """List the layer types a spec can use, and their arguments.

    PATTERN filters the names: a glob (`Conv*`) or a substring, case-insensitive.
    A type named exactly shows its details, then the other matches.
    """
    from .. import catalogue, registry
    from .. import plugins as plugin_loader
    from ..errors import did_you_mean

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
        names = exact + [n for n in names if n not in exact]
    if not names:
        hint = did_you_mean(pattern or "", catalogue.builtin_layer_names())
        raise click.UsageError(f"no layer type matches '{pattern}'.{hint}")
    for i, name in enumerate(names):
        sig = registry.layer_signature(name)
        if sig is None:
            continue
        detail = i == 0 and (len(names) == 1 or name.lower() == (pattern or "").lower())
        args = ", ".join(
            a.name if a.required else f"{a.name}={a.default!r}"
            for a in sig.args.values()
            if detail or a.name not in catalogue.BASE_LAYER_ARGS
        )
        click.echo(f"{name} [{sig.source}]: {args or 'no arguments'}")
        if detail:
            click.echo(f"  {sig.summary}")
            click.echo(f"  call arguments: {', '.join(sig.call_args)}")
            for arg in sig.args.values():
                need = "required" if arg.required else f"default {arg.default!r}"
                click.echo(f"  {arg.name}: {arg.kind.description} ({need})")
            if len(names) > 1:
                click.echo(f"also matching: {', '.join(names[1:])}")
                break


@main.command()
@click.argument("pattern", required=False)
def ops(pattern: str | None) -> None:
    """List the keras.ops functions a spec can call, and their parameters.

    PATTERN filters the names: a glob (`*max*`) or a substring, case-insensitive.
    Naming exactly one op shows its parameters; naming a refused op says why.
    """
    from .. import catalogue
    from ..errors import did_you_mean

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


def _validated(
    spec: str, plugins: tuple[str, ...], allow_imports: bool, backend: str | None = None
) -> ModelSpec:
    """The spec, validated for its backend; its warnings printed; a bad spec exits 1
    with its errors. Keras is imported after, on that backend."""
    from ..backend import BackendError
    from ..spec.validate import validate_spec

    _before_plugins(plugins, allow_imports, backend, spec)
    try:
        report = validate_spec(spec, plugins=plugins, allow_imports=allow_imports, backend=backend)
    except (PluginError, BackendError) as err:
        raise _usage_error(err) from None
    _print_diagnostics(report.diagnostics, err=True)
    if report.spec is None:
        click.echo(f"{spec}: {_plural(len(report.errors), 'error')}", err=True)
        sys.exit(EXIT_BAD_SPEC)
    _start_keras(backend, spec)
    return report.spec
