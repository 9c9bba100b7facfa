"""The shipped catalogue of layer signatures and the argument kinds (modelspec.catalogue)."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import types
from pathlib import Path

import keras
import numpy as np
import pytest

from modelspec import catalogue
from modelspec.catalogue import KINDS, arg_kind, store
from modelspec.catalogue.signatures import CALLABLE_PARAMS
from modelspec.errors import did_you_mean
from modelspec.layers.catalogue import generate_catalogue

from .conftest import ROOT


def test_catalogue_in_use_matches_the_installed_keras() -> None:
    fresh = json.loads(json.dumps(generate_catalogue()))
    assert store.installed_keras_version() == keras.__version__
    assert store._raw() == fresh, "keras_catalogue.json is stale: run `make catalogue`"
    shipped = json.loads(store.CATALOGUE_PATH.read_text(encoding="utf-8"))
    if shipped["keras_version"] == keras.__version__:
        assert store._raw() == shipped


def test_another_keras_version_gets_a_generated_cached_catalogue(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(store, "installed_keras_version", lambda: "3.99.0")
    monkeypatch.setenv("MODELSPEC_CACHE_DIR", str(tmp_path))
    store._raw.cache_clear()
    try:
        data = store._raw()
        cached = tmp_path / "modelspec" / "keras_catalogue-3.99.0.json"
        assert json.loads(cached.read_text(encoding="utf-8")) == data
        assert data["keras_version"] == keras.__version__  # generated from the real one
        shipped = json.loads(store.CATALOGUE_PATH.read_text(encoding="utf-8"))
        assert data["modelspec_layers"] == shipped["modelspec_layers"]  # kept from the file
        assert data["modelspec_names"] == shipped["modelspec_names"]
        assert data["hub_layers"] == shipped["hub_layers"]  # KerasHub's part too
        assert "MobileNetV2" in data["applications"]  # generated with Keras's
        cached.write_text(json.dumps(data | {"marker": 1}), encoding="utf-8")
        store._raw.cache_clear()
        assert store._raw()["marker"] == 1  # read back, not regenerated
    finally:
        store._raw.cache_clear()


def test_a_cached_catalogue_an_older_modelspec_wrote_is_made_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(store, "installed_keras_version", lambda: "3.99.0")
    monkeypatch.setenv("MODELSPEC_CACHE_DIR", str(tmp_path))
    cached = tmp_path / "modelspec" / "keras_catalogue-3.99.0.json"
    cached.parent.mkdir()
    older = json.loads(store.CATALOGUE_PATH.read_text(encoding="utf-8"))
    del older["ops"], older["refused_ops"]
    cached.write_text(json.dumps(older | {"modelspec_layers": {}}), encoding="utf-8")
    store._raw.cache_clear()
    try:
        data = store._raw()
        assert "mean" in data["ops"] and "map" in data["refused_ops"]  # generated again
        assert "Sampling" in data["modelspec_layers"]  # the shipped part is the file's
        assert "mean" in json.loads(cached.read_text(encoding="utf-8"))["ops"]
    finally:
        store._raw.cache_clear()


def test_every_keras_layer_but_the_refused_ones_is_usable() -> None:
    public = {
        name
        for name in dir(keras.layers)
        if isinstance(getattr(keras.layers, name), type)
        and issubclass(getattr(keras.layers, name), keras.layers.Layer)
    }
    assert set(catalogue.builtin_layer_names()) >= public - set(catalogue.REFUSED_LAYERS)
    assert not set(catalogue.builtin_layer_names()) & set(catalogue.REFUSED_LAYERS)


def test_signatures_merge_base_layer_keywords() -> None:
    dense = catalogue.keras_layer("Dense")
    assert dense is not None
    assert dense.required == ["units"]
    assert {"trainable", "dtype", "autocast", "activity_regularizer"} <= set(dense.args)
    assert "name" not in dense.args
    embedding = catalogue.keras_layer("Embedding")
    assert embedding is not None and embedding.required == ["input_dim", "output_dim"]
    lstm = catalogue.keras_layer("LSTM")
    assert lstm is not None and lstm.call_args[:2] == ("sequences", "initial_state")


@pytest.mark.parametrize(
    ("name", "default", "kind"),
    [
        ("units", inspect_empty := inspect.Parameter.empty, "positive_int"),
        ("rate", inspect_empty, "fraction"),
        ("activation", None, "activations"),
        ("kernel_initializer", "glorot_uniform", "initializers"),
        ("bias_regularizer", None, "regularizers"),
        ("kernel_constraint", None, "constraints"),
        ("kernel_size", inspect_empty, "int_or_ints"),
        ("strides", (1, 1), "int_or_ints"),
        ("target_shape", inspect_empty, "shape"),
        ("layer", inspect_empty, "layer"),
        ("momentum", 0.99, "number"),
        ("use_bias", True, "bool"),
        ("axis", -1, "int"),
        ("padding", "valid", "str"),
        ("data_format", None, "any"),
    ],
)
def test_argument_kinds(name: str, default: object, kind: str) -> None:
    assert arg_kind(name, default) is KINDS[kind]


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        ("positive_int", [1, 512], [0, -1, 1.0, True, "3"]),
        ("number", [0.9, 1, -2.5], ["0.9", True, None, float("nan")]),
        ("fraction", [0, 0.5, 1], [1.5, -0.1, "0.5"]),
        ("bool", [True, False], [1, "true", "yes"]),
        ("int_or_ints", [3, [3, 3], [[1, 1], [2, 2]]], ["3", 3.0]),
        ("shape", [[-1, 21], [None, 4]], [3, ["a"]]),
    ],
)
def test_kinds_are_strict(kind: str, good: list[object], bad: list[object]) -> None:
    assert all(KINDS[kind].accepts(v) for v in good)
    assert not any(KINDS[kind].accepts(v) for v in bad)


def test_did_you_mean() -> None:
    assert did_you_mean("Dens", ["Dense", "Dropout"]) == " Did you mean 'Dense'?"
    assert did_you_mean("conv2d", ["Conv2D", "Conv1D"]) == " Did you mean 'Conv2D'?"
    assert did_you_mean("xyz", ["Dense"]) == ""
    # among a few choices, a slip in a short name is still close
    assert did_you_mean("jaks", ["tensorflow", "jax", "torch"]) == " Did you mean 'jax'?"
    assert did_you_mean("tpee", ["tpe", "random", "grid"]) == " Did you mean 'tpe'?"
    assert did_you_mean("jaks", [f"jax{i}" for i in range(9)]) == ""  # many: as strict as before
    assert did_you_mean("nothing", ["twin", "dense"]) == ""  # a longer name: as strict
    assert did_you_mean("c3", ["c1", "labels"]) == ""


def _public_ops() -> dict[str, object]:
    return {
        name: fn
        for name in dir(keras.ops)
        if not name.startswith("_")
        and callable(fn := getattr(keras.ops, name))
        and not isinstance(fn, type | types.ModuleType)
    }


def test_every_keras_op_is_usable_or_refused_with_a_reason() -> None:
    public = _public_ops()
    usable, refused = set(catalogue.op_names()), set(store._raw()["refused_ops"])
    assert usable | refused == set(public) and not usable & refused
    assert "mean" in usable and "nn" not in usable and "linalg" not in usable
    assert set(catalogue.REFUSED_OPS) <= set(public)  # no stale names
    assert refused == set(catalogue.REFUSED_OPS)
    takes_function = {
        name for name, fn in public.items()
        if CALLABLE_PARAMS & set(inspect.signature(fn).parameters)  # type: ignore[arg-type]
    }  # fmt: skip
    assert {"map", "scan", "fori_loop", "while_loop", "cond", "switch", "jvp"} <= takes_function
    assert takes_function <= refused
    for name in refused:
        reason = catalogue.refused_op(name)
        assert reason is not None and reason == catalogue.REFUSED_OPS[name]
        assert reason[0].islower() and not reason.endswith(".") and len(reason) <= 100, reason
        assert catalogue.op_signature(name) is None


def test_op_signatures() -> None:
    mean = catalogue.op_signature("mean")
    assert mean is not None
    assert (mean.required, mean.keywords, mean.varargs) == (["x"], ["x", "axis", "keepdims"], False)
    assert [(p.name, p.kind, p.required, p.default) for p in mean.params] == [
        ("x", "positional", True, None),
        ("axis", "positional", False, None),
        ("keepdims", "positional", False, False),
    ]
    assert mean.summary == "Compute the arithmetic mean along the specified axes."
    einsum = catalogue.op_signature("einsum")
    assert einsum is not None and einsum.varargs and einsum.varkw
    assert (einsum.keywords, einsum.required) == (["subscripts"], ["subscripts"])
    assert str(einsum) == "einsum(subscripts, *operands, **kwargs)"
    rot90 = catalogue.op_signature("rot90")
    assert rot90 is not None and rot90.params[-1].default == (0, 1)  # a tuple stays one
    assert catalogue.op_signature("no_such_op") is None
    assert catalogue.refused_op("no_such_op") is None and catalogue.refused_op("mean") is None


def test_op_signatures_match_keras() -> None:
    for name in catalogue.op_names():
        sig = catalogue.op_signature(name)
        params = inspect.signature(getattr(keras.ops, name)).parameters.values()
        assert sig is not None and [p.name for p in sig.params] == [p.name for p in params]
        assert sig.required == [
            p.name for p in params
            if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]  # fmt: skip


def test_ops_are_read_without_importing_keras() -> None:
    code = (
        "import sys\n"
        "from modelspec import catalogue\n"
        "assert catalogue.op_signature('mean').keywords == ['x', 'axis', 'keepdims']\n"
        "assert len(catalogue.op_names()) > 300 and catalogue.refused_op('map')\n"
        "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_a_sample_of_ops_saves_and_reloads_in_safe_mode(tmp_path: Path) -> None:
    """One model calling the ops specs use most; bench/ops_round_trip.py checks every op."""
    ops = keras.ops
    x = keras.Input((4, 3), name="x")
    y = keras.Input((4, 3), name="y")
    labels = keras.Input((4,), dtype="int32", name="labels")
    outputs = {
        "add": ops.add(x, y),
        "mean": ops.mean(x, axis=1),
        "exp": ops.exp(x),
        "square": ops.square(x),
        "sum": ops.sum(x, axis=-1, keepdims=True),
        "concatenate": ops.concatenate([x, y], axis=-1),
        "stack": ops.stack([x, y], axis=1),
        "matmul": ops.matmul(x, ops.transpose(y, (0, 2, 1))),
        "reshape": ops.reshape(x, (-1, 12)),
        "transpose": ops.transpose(x, (0, 2, 1)),
        "expand_dims": ops.expand_dims(x, 1),
        "squeeze": ops.squeeze(ops.expand_dims(x, 1), axis=1),
        "softmax": ops.softmax(x, axis=-1),
        "relu": ops.relu(x - 0.5),
        "sigmoid": ops.sigmoid(x),
        "where": ops.where(ops.greater(x, y), x, y),
        "take": ops.take(x, [0, 2], axis=1),
        "einsum": ops.einsum("bij,bkj->bik", x, y),
        "norm": ops.norm(x, axis=-1),
        "erf": ops.erf(x),
        "log": ops.log(x),
        "sqrt": ops.sqrt(x),
        "maximum": ops.maximum(x, y),
        "cumsum": ops.cumsum(x, axis=1),
        "one_hot": ops.one_hot(labels, 3),
        "argmax": ops.argmax(x, axis=-1),
        "cast": ops.cast(x * 10, "int32"),
        "get_item": x[:, :-1],
        "constant": x + ops.arange(3, dtype="float32"),
    }
    assert set(outputs) - {"get_item", "constant"} <= set(catalogue.op_names())
    model = keras.Model([x, y, labels], outputs)
    rng = np.random.default_rng(0)
    data = [rng.uniform(0.1, 0.9, (2, 4, 3)).astype("float32") for _ in range(2)]
    data.append(rng.integers(0, 3, (2, 4)).astype("int32"))
    model.save(tmp_path / "ops.keras")
    reloaded = keras.saving.load_model(tmp_path / "ops.keras", safe_mode=True)
    expected, got = model(data), reloaded(data)
    for name in outputs:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-6, err_msg=name)
