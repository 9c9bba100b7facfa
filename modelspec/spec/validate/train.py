"""The train section: a loss to train with, callbacks and their arguments, the data entry.

Example:
    >>> from modelspec.spec.loader import load_document
    >>> ctx = Context(load_document('''
    ... train: {data: {source: sklearn, name: digit}}
    ... compile: {loss: mse}
    ... '''), allow_imports=False)
    >>> check_train(ctx)
    >>> ctx.diagnostics[0].message
    "unknown sklearn dataset 'digit'. Did you mean 'digits'?"
"""

from __future__ import annotations

import dataclasses
import re
import string
from typing import Any

from ... import catalogue
from ...errors import clipped, did_you_mean, listed, shown
from ...files import data_path_problem, stays_inside
from ..loader import PathT
from ..schema import KERAS_DATASETS, SKLEARN_DATASETS, TRANSFORMS
from .arguments import check_args, keras_class, known_name
from .compile import logged_names
from .context import Context, as_list, output_names


def check_train(ctx: Context) -> None:
    section = ctx.data.get("train")
    if not isinstance(section, dict):
        return
    compile_ = ctx.data.get("compile")
    if not (isinstance(compile_, dict) and compile_.get("loss")):
        ctx.add(
            ("train",),
            "training needs a loss: add `compile: {loss: ...}` "
            "(e.g. sparse_categorical_crossentropy)",
            key=True,
        )
    for i, callback in enumerate(as_list(section.get("callbacks"))):
        if isinstance(callback, dict) and "type" in callback:
            path: PathT = ("train", "callbacks", i)
            sig = keras_class(ctx, "callbacks", callback["type"], (*path, "type"))
            if sig is not None:
                name = catalogue.callback_name(sig.type)
                if name in catalogue.CALLBACK_RUN_FILES:  # a file in the run directory
                    arg = catalogue.CALLBACK_RUN_FILES[name][0]
                    optional = dataclasses.replace(sig.args[arg], required=False)
                    sig = dataclasses.replace(sig, args=sig.args | {arg: optional})
                    if arg in callback:
                        _run_file(ctx, arg, callback[arg], (*path, arg))
                args = {k: v for k, v in callback.items() if k != "type"}
                check_args(ctx, sig, args, path)
                freq = callback.get("save_freq")
                if name == "backup_and_restore" and type(freq) is int:
                    ctx.add(
                        (*path, "save_freq"),
                        "expected 'epoch' or false: a run is backed up once per epoch, "
                        f"and resumes at the start of the epoch in progress. Received: "
                        f"save_freq={freq}",
                    )
    data = section.get("data")
    if isinstance(data, dict):
        _train_data(ctx, data)
    _monitors(ctx, section)
    _distribute(ctx, section)


def _distribute(ctx: Context, section: dict[str, Any]) -> None:
    """``train.distribute`` needs a backend with a distribution API: not PyTorch;
    ``model_parallel`` needs JAX, a mesh and a layout over the mesh's axes."""
    value = section.get("distribute")
    kind = value.get("type") if isinstance(value, dict) else value
    backend = ctx.backend  # the spec's, else the one it runs on (--backend, KERAS_BACKEND)
    here: PathT = ("train", "distribute")
    if kind == "data_parallel" and backend == "torch":
        ctx.add(
            here,
            "expected the jax or tensorflow backend for data_parallel. Received: "
            "backend: torch (modelspec distributes training through Keras's "
            "distribution API, which PyTorch lacks). Use `backend: jax` (devices, "
            "processes and hosts) or `backend: tensorflow` (the devices of one process).",
        )
    if not isinstance(value, dict):
        return
    if kind != "model_parallel":
        for key in ("mesh", "layout"):
            if key in value:
                ctx.add(
                    (*here, key),
                    f"`{key}` is for type: model_parallel. Received: type: {shown(kind)}. "
                    f"Remove `{key}`, or use type: model_parallel.",
                    key=True,
                )
        return
    if backend in ("torch", "tensorflow"):
        ctx.add(
            (*here, "type"),
            f"expected the jax backend for model_parallel. Received: backend: {backend} "
            "(Keras's ModelParallel and LayoutMap run on JAX). Use `backend: jax`.",
        )
    missing = [f"'{key}'" for key in ("mesh", "layout") if key not in value]
    if missing:
        ctx.add(
            here,
            f"missing required key{'s' * (len(missing) > 1)} {' and '.join(missing)} "
            "(model_parallel needs a device mesh and a layout of variables over its axes)",
        )
    mesh = value.get("mesh")
    if not isinstance(mesh, dict):
        return
    shape, axes = mesh.get("shape"), mesh.get("axes")
    if not (isinstance(shape, list) and isinstance(axes, list)):
        return
    if len(shape) != len(axes):
        ctx.add(
            (*here, "mesh", "axes"),
            f"expected one axis name per mesh dimension ({len(shape)}). Received: "
            f"{len(axes)} ({listed(map(str, axes))})",
        )
        return
    names = [str(a) for a in axes]
    layout = value.get("layout")
    for pattern, dims in layout.items() if isinstance(layout, dict) else ():
        try:
            re.compile(str(pattern))
        except re.error as err:
            ctx.add(
                (*here, "layout", pattern),
                f"expected a regular expression. Received: {shown(pattern)} ({err})",
                key=True,
            )
        for i, dim in enumerate(as_list(dims)):
            if dim is not None and dim not in names:
                ctx.add(
                    (*here, "layout", pattern, i),
                    f"unknown mesh axis {shown(dim)} (the mesh has {listed(names)}; null "
                    f"leaves a dimension whole).{did_you_mean(str(dim), names)}",
                )


def _monitors(ctx: Context, section: dict[str, Any]) -> None:
    """``train.monitor`` and each callback's ``monitor`` name something training logs."""
    places: list[tuple[PathT, Any]] = [(("train", "monitor"), section.get("monitor"))]
    for i, callback in enumerate(as_list(section.get("callbacks"))):
        if isinstance(callback, dict) and "monitor" in callback:
            places.append((("train", "callbacks", i, "monitor"), callback["monitor"]))
    check_quantities(ctx, places)


def check_quantities(ctx: Context, places: list[tuple[PathT, Any]]) -> None:
    """Each ``(path, name)`` names a loss or metric training logs (``val_`` ones with a
    validation split), with did-you-mean; nothing is said when the spec cannot tell."""
    logged = logged_names(ctx.data)
    section = ctx.data.get("train")
    if logged is None or not isinstance(section, dict):
        return
    data = section.get("data")
    split = data.get("split") if isinstance(data, dict) else None
    fraction = split.get("validation", 0.1) if isinstance(split, dict) else 0.1
    validated = not isinstance(fraction, int | float) or fraction > 0
    known = sorted(logged | ({f"val_{n}" for n in logged} if validated else set()))
    for path, value in places:
        if not isinstance(value, str) or value in known:
            continue
        if value.startswith("val_") and value[4:] in logged:
            ctx.add(
                path,
                f"'{clipped(value)}' is logged only with a validation split, and "
                "train.data.split.validation is 0. "
                f"Monitor '{clipped(value[4:])}', or set a fraction.",
            )
            continue
        ctx.add(
            path,
            f"unknown quantity to monitor '{clipped(value)}': training logs "
            f"{listed(known)}.{did_you_mean(value, known)}",
        )


def _run_file(ctx: Context, arg: str, value: Any, path: PathT) -> None:
    """A file a callback writes must stay inside the run directory."""
    if isinstance(value, str) and stays_inside(value):
        if arg == "filepath":
            _filepath_fields(ctx, value, path)
        return
    ctx.add(
        path,
        "expected a path relative to the run directory, staying inside it. "
        f"Received: {arg}={shown(value)}. A run writes only inside its run directory "
        "(absolute paths and '..' that climb out of it are refused): copy the files "
        "elsewhere after training.",
    )


def _filepath_fields(ctx: Context, value: str, path: PathT) -> None:
    """Keras formats a checkpoint's file name with ``str.format(epoch=..., **logs)``:
    plain names only (``{epoch:02d}``, ``{val_loss:.2f}``), and names it will have."""
    try:
        parts = list(string.Formatter().parse(value))
    except ValueError as err:
        ctx.add(
            path,
            f"expected a file name whose {{fields}} are closed. Received: "
            f"filepath={shown(value)} ({err})",
        )
        return
    logged = logged_names(ctx.data)
    known = ["epoch", *sorted(logged | {f"val_{n}" for n in logged})] if logged else None
    for _, field, spec, _ in parts:
        if field is None:
            continue
        if not field.isidentifier() or "{" in (spec or ""):
            ctx.add(
                path,
                "expected {fields} that are plain names, such as {epoch:02d} or "
                f"{{val_loss:.2f}}. Received: filepath={shown(value)}",
            )
        elif known is not None and field not in known:
            ctx.add(
                path,
                f"unknown field {{{clipped(field)}}} in filepath: it can use "
                f"{listed(known)}.{did_you_mean(field, known)}",
            )


def _train_data(ctx: Context, data: dict[str, Any]) -> None:
    path: PathT = ("train", "data")
    source, name = data.get("source"), data.get("name")
    known = {"sklearn": SKLEARN_DATASETS, "keras": KERAS_DATASETS}.get(str(source))
    if known is not None:
        if name is None:
            ctx.add(path, f"missing required key 'name' (one of {', '.join(known)})")
        elif isinstance(name, str) and name not in known:
            hint = did_you_mean(name, known) or f" Known: {', '.join(known)}."
            ctx.add((*path, "name"), f"unknown {source} dataset '{clipped(name)}'.{hint}")
    elif source == "function":
        if name is None:
            ctx.add(path, "missing required key 'name' (a registered data function)")
        elif isinstance(name, str):
            known_name(ctx, "datasets", name, (*path, "name"))
    elif source in ("npz", "csv", "images") and data.get("path") is None:
        ctx.add(path, f"missing required key 'path' (the {source} file or folder)")
    elif source in ("npz", "csv", "images") and isinstance(data.get("path"), str):
        _data_path(ctx, str(source), data["path"], (*path, "path"))
    input_names = [i.get("name") for i in as_list(ctx.data.get("inputs")) if isinstance(i, dict)]
    outputs = output_names(ctx.data.get("outputs"))
    for key, names, noun in (
        ("inputs", input_names, "model input"),
        ("targets", outputs, "model output"),
        ("transform", [*input_names, *outputs], "model input or output"),
    ):
        mapping = data.get(key)
        if not isinstance(mapping, dict):
            continue
        for name_ in mapping:
            if name_ not in names:
                hint = did_you_mean(str(name_), map(str, names))
                ctx.add(
                    (*path, key, name_),
                    f"unknown {noun} '{clipped(name_)}' (the model has {listed(names)}).{hint}",
                    key=True,
                )
    transform = data.get("transform")
    for name_, steps in transform.items() if isinstance(transform, dict) else ():
        for j, step in enumerate(as_list(steps)):
            if not isinstance(step, dict):
                continue
            for op in step:
                if op not in TRANSFORMS:
                    hint = did_you_mean(str(op), TRANSFORMS) or f" Known: {', '.join(TRANSFORMS)}."
                    ctx.add(
                        (*path, "transform", name_, j, op),
                        f"unknown transform '{clipped(op)}'.{hint}",
                        key=True,
                    )


def _data_path(ctx: Context, source: str, value: str, path: PathT) -> None:
    """The data file (a folder for ``images``) exists: training would start only
    to stop at it."""
    ctx.read(path, value)
    problem = data_path_problem(ctx.doc.base_dir, source, value)
    if problem:
        ctx.add(path, problem)
