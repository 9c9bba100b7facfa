"""The shipped catalogue of layer signatures and the argument kinds (modelspec.catalogue)."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import keras
import pytest

from modelspec import catalogue
from modelspec.catalogue import KINDS, arg_kind, store
from modelspec.errors import did_you_mean
from modelspec.layers.catalogue import generate_catalogue


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
        cached.write_text(json.dumps(data | {"marker": 1}), encoding="utf-8")
        store._raw.cache_clear()
        assert store._raw()["marker"] == 1  # read back, not regenerated
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
