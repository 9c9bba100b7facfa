"""Training data: sources, mapping, split, transforms, checks against the model (modelspec.data)."""

from __future__ import annotations

import textwrap
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelspec import (
    DataError,
    DownloadError,
    ModelSpec,
    SpecError,
    build_model,
    load_spec,
    register_dataset,
)
from modelspec.data import (
    Data,
    Split,
    check_against_model,
    load_data,
    read_arrays,
    to_dataset,
    write_arrays,
)
from modelspec.spec.loader import load_document

WriteSpec = Callable[..., str]

#: A digits classifier; ``train.data``'s keys start on line 11, column 5.
DIGITS = """\
modelspec: 1
name: t
inputs:
  - {name: pixels, shape: [64]}
layers:
  - {name: probs, type: Dense, units: 10, activation: softmax}
outputs: [probs]
compile: {loss: sparse_categorical_crossentropy}
train:
  data:
"""
#: Two inputs, two named outputs (a mapping, so Keras matches targets by name).
TWO = """\
modelspec: 1
name: two
inputs:
  - {name: a, shape: [3]}
  - {name: b, shape: [2]}
layers:
  - {name: cat, type: Concatenate, inputs: [a, b]}
  - {name: zeta, type: Dense, units: 4, activation: softmax, inputs: cat}
  - {name: alpha, type: Dense, units: 1, inputs: cat}
outputs: {kind: zeta, size: alpha}
compile:
  loss: {kind: sparse_categorical_crossentropy, size: mse}
train:
  data:
"""


def spec_with(write_spec: WriteSpec, data: str, head: str = DIGITS) -> ModelSpec:
    """Load ``head`` + the ``train.data`` entries in ``data`` (indented under ``data:``)."""
    return load_spec(write_spec(head + textwrap.indent(textwrap.dedent(data).lstrip("\n"), "    ")))


def unchecked(write_spec: WriteSpec, data: str, head: str = DIGITS) -> ModelSpec:
    """Like :func:`spec_with`, without the validation that would catch the mistake first."""
    path = write_spec(head + textwrap.indent(textwrap.dedent(data).lstrip("\n"), "    "))
    doc = load_document(path)
    spec = ModelSpec.model_validate(doc.data)
    spec._document = doc
    return spec


def messages(err: pytest.ExceptionInfo[DataError]) -> list[str]:
    return [d.format() for d in err.value.diagnostics]


def data_error(spec: ModelSpec) -> list[str]:
    with pytest.raises(DataError) as err:
        load_data(spec)
    return messages(err)


def check_error(spec: ModelSpec, data: Data | None = None) -> list[str]:
    with pytest.raises(DataError) as err:
        check_against_model(data or load_data(spec), build_model(spec), spec)
    return messages(err)


def two_arrays(n: int = 50, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "feat_a": rng.normal(size=(n, 3)),
        "c1": rng.normal(size=n),
        "c2": rng.normal(size=n),
        "labels": rng.integers(0, 4, n),
        "value": rng.normal(size=(n, 1)).astype(np.float32),
    }


# -- sources -------------------------------------------------------------------
def test_sklearn_digits_split_and_transform(write_spec: WriteSpec) -> None:
    spec = spec_with(
        write_spec, "{source: sklearn, name: digits, transform: {pixels: [{divide_by: 16}]}}"
    )
    data = load_data(spec, "data")  # the arrays transformed
    assert data.description == "sklearn digits: 1,257 train / 180 validation / 360 test"
    assert (len(data.train), len(data.validation or []), len(data.test or [])) == (1257, 180, 360)
    pixels = data.train.x["pixels"]
    assert pixels.shape == (1257, 64) and pixels.dtype == np.float32
    assert pixels.max() == 1.0 and data.train.y[0].shape == (1257,)
    check_against_model(data, build_model(spec), spec)


def test_sklearn_iris_split_sizes_and_seed(write_spec: WriteSpec) -> None:
    head = DIGITS.replace("[64]", "[4]").replace("units: 10", "units: 3")
    spec = spec_with(write_spec, "{source: sklearn, name: iris, split: {seed: 7}}", head)
    first, again = load_data(spec), load_data(spec)
    assert first.description == "sklearn iris: 105 train / 15 validation / 30 test"
    for a, b in zip(first.splits(), again.splits(), strict=True):
        assert np.array_equal(a[1].x["pixels"], b[1].x["pixels"])
        assert np.array_equal(a[1].y[0], b[1].y[0])
    other = load_data(
        spec_with(write_spec, "{source: sklearn, name: iris, split: {seed: 8}}", head)
    )
    assert not np.array_equal(first.test.x["pixels"], other.test.x["pixels"])  # type: ignore[union-attr]
    from sklearn.datasets import load_iris

    rows = np.concatenate([s.x["pixels"] for _, s in first.splits()])  # every sample once
    assert sorted(map(tuple, rows.tolist())) == sorted(
        map(tuple, load_iris().data.astype(np.float32).tolist())
    )


def test_sklearn_linnerud_has_three_targets_and_no_validation(write_spec: WriteSpec) -> None:
    head = (
        DIGITS.replace("[64]", "[3]")
        .replace("units: 10, activation: softmax", "units: 3")
        .replace("sparse_categorical_crossentropy", "mse")
    )
    spec = spec_with(
        write_spec, "{source: sklearn, name: linnerud, split: {validation: 0, test: 0.25}}", head
    )
    data = load_data(spec)
    assert data.description == "sklearn linnerud: 15 train / 5 test"
    assert data.validation is None and data.train.y[0].shape == (15, 3)
    check_against_model(data, build_model(spec), spec)


def test_npz_maps_several_inputs_and_named_outputs(write_spec: WriteSpec, tmp_path: Path) -> None:
    np.savez(tmp_path / "parts.npz", **two_arrays())
    spec = spec_with(
        write_spec,
        """
        source: npz
        path: parts.npz
        inputs: {a: feat_a, b: [c1, c2]}
        targets: {kind: labels, size: value}
        split: {validation: 0.2, test: 0.2}
        """,
        TWO,
    )
    data = load_data(spec)
    assert data.description == "npz parts.npz: 30 train / 10 validation / 10 test"
    assert data.train.x["a"].shape == (30, 3) and data.train.x["b"].shape == (30, 2)
    assert data.train.x["a"].dtype == np.float32  # float64 in the file
    assert [y.shape for y in data.train.y] == [(30,), (30, 1)]  # the order of `outputs`
    assert data.train.y_names == ("kind", "size")
    model = build_model(spec)
    check_against_model(data, model, spec)
    x, y = next(iter(to_dataset(data.train, batch_size=8)))
    assert set(x) == {"a", "b"} and set(y) == {"kind", "size"}
    model.compile(optimizer="adam", loss={"kind": "sparse_categorical_crossentropy", "size": "mse"})
    history = model.fit(
        to_dataset(data.train, batch_size=8), epochs=1, verbose=0, shuffle=False
    ).history
    assert set(history) == {"loss", "kind_loss", "size_loss"}


def test_csv_text_labels_become_class_ids(write_spec: WriteSpec, tmp_path: Path) -> None:
    (tmp_path / "flowers.csv").write_text(
        "length,width,species\n"
        + "".join(
            f"{i}.5,{i % 3},{['setosa', 'virginica', 'versicolor'][i % 3]}\n" for i in range(12)
        )
    )
    head = DIGITS.replace("[64]", "[2]").replace("units: 10", "units: 3")
    spec = spec_with(
        write_spec,
        "{source: csv, path: flowers.csv, targets: {probs: species}, split: {validation: 0, test: 0}}",
        head,
    )
    data = load_data(spec)  # the input takes every column the targets leave
    assert data.description == "csv flowers.csv: 12 train"
    order = np.argsort(data.train.x["pixels"][:, 0])
    assert data.train.x["pixels"][order][:2].tolist() == [[0.5, 0], [1.5, 1]]
    assert data.train.y[0][order].tolist() == [0, 2, 1] * 4  # setosa, versicolor, virginica
    check_against_model(data, build_model(spec), spec)
    listed = spec_with(
        write_spec,
        "{source: csv, path: flowers.csv, inputs: {pixels: [width, length]}, targets: {probs: species}}",
        head,
    )
    assert load_data(listed).train.x["pixels"].shape == (7, 2)  # 12 - 3 test - 2 validation


def test_images_folder(write_spec: WriteSpec, tmp_path: Path) -> None:
    import keras

    for label, value in (("cats", 0), ("dogs", 255)):
        (tmp_path / "pics" / label).mkdir(parents=True)
        for i in range(3):
            image = np.full((6, 6, 1), value, dtype=np.uint8)
            keras.utils.save_img(tmp_path / "pics" / label / f"{i}.png", image, scale=False)
    head = (
        DIGITS.replace("[64]", "[6, 6, 1]")
        .replace("units: 10", "units: 2")
        .replace("type: Dense", "type: Dense")
    )
    head = head.replace(
        "  - {name: probs, type: Dense, units: 2, activation: softmax}",
        "  - {name: flat, type: Flatten}\n  - {name: probs, type: Dense, units: 2, activation: softmax}",
    )
    spec = spec_with(
        write_spec,
        """
        source: images
        path: pics
        args: {image_size: [6, 6], color_mode: grayscale}
        transform: {pixels: [{divide_by: 255}]}
        split: {validation: 0, test: 0.5}
        """,
        head,
    )
    data = load_data(spec, "data")  # the arrays transformed
    assert data.description == "images pics: 3 train / 3 test"
    both = np.concatenate([data.train.x["pixels"], data.test.x["pixels"]])  # type: ignore[union-attr]
    labels = np.concatenate([data.train.y[0], data.test.y[0]])  # type: ignore[union-attr]
    assert both.shape == (6, 6, 6, 1)
    assert (
        sorted(zip(labels.tolist(), both.mean(axis=(1, 2, 3)).tolist(), strict=True))
        == [(0, 0.0)] * 3 + [(1, 1.0)] * 3
    )
    check_against_model(data, build_model(spec), spec)


def test_function_source_dict_or_tuple(write_spec: WriteSpec, clean_registry: None) -> None:
    @register_dataset("blobs")
    def blobs(n: int = 10) -> dict[str, np.ndarray]:
        return {"pixels": np.ones((n, 64)), "probs": np.arange(n) % 10}

    @register_dataset("pairs")
    def pairs(n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros((n, 64)), np.arange(n) % 10

    data = load_data(spec_with(write_spec, "{source: function, name: blobs, args: {n: 20}}"))
    assert data.description == "function blobs: 14 train / 2 validation / 4 test"
    data = load_data(spec_with(write_spec, "{source: function, name: pairs}"))
    assert data.description == "function pairs: 7 train / 1 validation / 2 test"
    assert data.train.x["pixels"].sum() == 0


def test_keras_dataset_uses_its_own_test_set(
    write_spec: WriteSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keras

    def fake_load_data() -> Any:
        train = (np.full((50, 8, 8), 255, np.uint8), np.arange(50) % 10)
        test = (np.zeros((20, 8, 8), np.uint8), np.arange(20) % 10)
        return train, test

    monkeypatch.setattr(keras.datasets.mnist, "load_data", fake_load_data)
    spec = spec_with(
        write_spec,
        """
        source: keras
        name: mnist
        transform: {pixels: [{reshape: [64]}, {divide_by: 255}]}
        split: {validation: 0.1, test: 0.5}
        """,
    )
    data = load_data(spec, "data")  # the arrays transformed
    assert data.description == "keras mnist: 45 train / 5 validation / 20 test"
    assert data.test is not None and data.test.x["pixels"].max() == 0  # the dataset's test set
    assert data.train.x["pixels"].shape == (45, 64) and data.train.x["pixels"].min() == 1
    check_against_model(data, build_model(spec), spec)


def test_keras_download_failure_says_where_to_put_a_copy(
    write_spec: WriteSpec, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import keras.src.backend.config

    home = tmp_path / "keras_home"
    home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.setattr(keras.src.backend.config, "_KERAS_DIR", str(home))  # read at import
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")  # no network, whatever the machine
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.setattr(urllib.request, "_opener", None)
    spec = spec_with(write_spec, "{source: keras, name: mnist}")
    with pytest.raises(DownloadError) as err:
        load_data(spec)
    assert messages(err) == [
        "spec.yaml:11:27: train.data.name: could not load the keras dataset 'mnist': Keras "
        "downloads it on first use, and that failed (Exception: URL fetch failure on "
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz: None -- "
        "[Errno 111] Connection refused). Without network access, put a copy of mnist.npz at "
        f"{home}/datasets/mnist.npz (the Keras cache: $KERAS_HOME/datasets, else ~/.keras/datasets)"
    ]
    cifar = spec_with(write_spec, "{source: keras, name: cifar10}")
    with pytest.raises(DownloadError) as err:
        load_data(cifar)
    assert messages(err)[0].endswith(
        f"put a copy of cifar-10-python.tar.gz at {home}/datasets/cifar-10-batches-py-target_archive, "
        "under that name (Keras extracts it) (the Keras cache: $KERAS_HOME/datasets, else "
        "~/.keras/datasets)"
    )


# -- transforms ----------------------------------------------------------------
def test_standardize_uses_training_statistics_only(write_spec: WriteSpec) -> None:
    spec = spec_with(
        write_spec, "{source: sklearn, name: digits, transform: {pixels: [{standardize: true}]}}"
    )
    data = load_data(spec, "data")  # the arrays transformed
    train, test = data.train.x["pixels"], data.test.x["pixels"]  # type: ignore[union-attr]
    assert train.dtype == np.float32
    assert np.allclose(train.mean(axis=0), 0, atol=1e-5)
    constant = train.std(axis=0) == 0  # always-zero pixels: std 0 becomes 1
    assert constant.any() and np.allclose(train.std(axis=0)[~constant], 1, atol=1e-4)
    assert not np.allclose(test.mean(axis=0), 0, atol=1e-3)


def test_one_hot_cast_and_reshape(write_spec: WriteSpec) -> None:
    head = (
        DIGITS.replace("[64]", "[8, 8, 1]")
        .replace("sparse_categorical_crossentropy", "categorical_crossentropy")
        .replace("  - {name: probs", "  - {name: flat, type: Flatten}\n  - {name: probs")
    )
    spec = spec_with(
        write_spec,
        """
        source: sklearn
        name: digits
        transform:
          pixels: [{reshape: [8, 8, 1]}, {cast: float16}]
          probs: [{one_hot: 10}]
        """,
        head,
    )
    data = load_data(spec, "data")  # the arrays transformed
    assert (
        data.train.x["pixels"].shape == (1257, 8, 8, 1)
        and data.train.x["pixels"].dtype == np.float16
    )
    labels = data.train.y[0]
    assert labels.shape == (1257, 10) and labels.dtype == np.float32
    assert np.array_equal(labels.sum(axis=1), np.ones(1257))
    check_against_model(data, build_model(spec), spec)


def test_pad_sequences(write_spec: WriteSpec, clean_registry: None) -> None:
    @register_dataset("texts")
    def texts() -> tuple[np.ndarray, np.ndarray]:
        seqs = np.empty(10, dtype=object)
        seqs[:] = [list(range(1, i + 2)) for i in range(10)]
        return seqs, np.arange(10) % 2

    head = DIGITS.replace("[64]", "[4]").replace("units: 10", "units: 2")
    spec = spec_with(
        write_spec,
        "{source: function, name: texts, transform: {pixels: [{pad_sequences: 4}]}}",
        head,
    )
    data = load_data(spec)
    rows = {
        tuple(r)
        for s in (data.train, data.validation, data.test)
        if s
        for r in s.x["pixels"].tolist()
    }
    assert (0, 0, 1, 2) in rows and (7, 8, 9, 10) in rows
    check_against_model(data, build_model(spec), spec)
    unpadded = spec_with(write_spec, "{source: function, name: texts}", head)
    assert check_error(unpadded) == [
        "spec.yaml:11:5: train.data: expected arrays of per-sample shape (4,) for the model input "
        "'pixels' (the batch dimension excluded). Received: (). Transform them in train.data: "
        "`transform: {pixels: [{pad_sequences: LENGTH}]}` (sequences of different lengths)"
    ]


def test_transform_mistakes(write_spec: WriteSpec) -> None:
    spec = unchecked(
        write_spec,
        """
        source: sklearn
        name: digits
        transform:
          pixel: [{divide_by: 16}]
          pixels: [{divde_by: 16}, {divide_by: 0}, {one_hot: 10, cast: int32}]
          probs: [{reshape: [2, -1, -1]}, {cast: text}]
        """,
    )
    assert data_error(spec) == [
        "spec.yaml:14:7: train.data.transform.pixel: unknown model input or output 'pixel' "
        "(the model has pixels, probs). Did you mean 'pixels'?",
        "spec.yaml:15:17: train.data.transform.pixels[0].divde_by: unknown transform 'divde_by'. "
        "Did you mean 'divide_by'?",
        "spec.yaml:15:44: train.data.transform.pixels[1].divide_by: expected divide_by: a "
        "non-zero number, e.g. 255. Received: divide_by=0",
        "spec.yaml:15:48: train.data.transform.pixels[2]: expected one {op: argument} per step, "
        "e.g. {divide_by: 255}. Received: {'one_hot': 10, 'cast': 'int32'}",
        "spec.yaml:16:25: train.data.transform.probs[0].reshape: expected reshape: a list of "
        "dimensions (at most one -1), e.g. [8, 8, 1]. Received: reshape=[2, -1, -1]",
        "spec.yaml:16:46: train.data.transform.probs[1].cast: expected cast: a numeric dtype "
        "such as float32, int32 or bool. Received: cast='text'",
    ]


def test_transforms_that_do_not_fit_the_data(write_spec: WriteSpec) -> None:
    spec = spec_with(
        write_spec, "{source: sklearn, name: digits, transform: {pixels: [{reshape: [10]}]}}"
    )
    assert data_error(spec) == [
        "spec.yaml:11:68: train.data.transform.pixels[0].reshape: cannot apply reshape to "
        "'pixels': cannot reshape per-sample shape (64,) (64 values) to (10,)"
    ]
    spec = spec_with(
        write_spec, "{source: sklearn, name: digits, transform: {probs: [{one_hot: 5}]}}"
    )
    assert data_error(spec) == [
        "spec.yaml:11:67: train.data.transform.probs[0].one_hot: cannot apply one_hot to "
        "'probs': expected class ids in [0, 5). Received: values from 0 to 9; give one_hot "
        "the number of classes (10?)"
    ]


# -- errors --------------------------------------------------------------------
def test_missing_file_says_the_resolved_path(write_spec: WriteSpec, tmp_path: Path) -> None:
    missing = (
        f"spec.yaml:12:11: train.data.path: expected a .npz file. Received: no such file: "
        f"{tmp_path / 'data' / 'missing.npz'} (relative paths start at the spec's folder, {tmp_path})"
    )
    # validate says it (training would start only to stop at it) ...
    with pytest.raises(SpecError) as err:
        spec_with(write_spec, "source: npz\npath: data/missing.npz\n")
    assert [d.format() for d in err.value.diagnostics] == [missing]
    # ... and loading the data, for a file gone since
    assert data_error(unchecked(write_spec, "source: npz\npath: data/missing.npz\n")) == [missing]
    (tmp_path / "pics").write_text("")
    with pytest.raises(SpecError) as err:
        spec_with(write_spec, "source: images\npath: pics\n")
    assert [d.format() for d in err.value.diagnostics] == [
        "spec.yaml:12:11: train.data.path: expected a folder of images (one sub-folder per "
        f"class). Received: {tmp_path / 'pics'} is a file (relative paths start at the spec's "
        f"folder, {tmp_path})"
    ]


def test_missing_npz_keys_are_reported_together(write_spec: WriteSpec, tmp_path: Path) -> None:
    np.savez(tmp_path / "parts.npz", **two_arrays())
    spec = spec_with(
        write_spec,
        """
        source: npz
        path: parts.npz
        inputs: {a: feat_A, b: [c1, c3]}
        targets: {kind: label, size: value}
        """,
        TWO,
    )
    available = "Arrays: feat_a, c1, c2, labels, value"
    assert data_error(spec) == [
        f"spec.yaml:17:17: train.data.inputs.a: no array 'feat_A' in parts.npz. Did you mean 'feat_a'? {available}",
        f"spec.yaml:17:33: train.data.inputs.b[1]: no array 'c3' in parts.npz. {available}",
        f"spec.yaml:18:21: train.data.targets.kind: no array 'label' in parts.npz. Did you mean 'labels'? {available}",
    ]


def test_inputs_mapping_needed_for_several_inputs(write_spec: WriteSpec, tmp_path: Path) -> None:
    np.savez(tmp_path / "parts.npz", **two_arrays())
    spec = spec_with(
        write_spec, "{source: npz, path: parts.npz, targets: {kind: labels, size: value}}", TWO
    )
    assert data_error(spec) == [
        "spec.yaml:15:5: train.data: cannot tell which array feeds the model input 'a': the "
        "model has 2 model inputs (a, b) and parts.npz has no array named 'a' (arrays: feat_a, "
        "c1, c2, labels, value). Map them in train.data: `inputs: {a: ARRAY, b: ARRAY}`",
        "spec.yaml:15:5: train.data: cannot tell which array feeds the model input 'b': the "
        "model has 2 model inputs (a, b) and parts.npz has no array named 'b' (arrays: feat_a, "
        "c1, c2, labels, value). Map them in train.data: `inputs: {a: ARRAY, b: ARRAY}`",
    ]
    one = spec_with(write_spec, "{source: npz, path: parts.npz, targets: {probs: labels}}")
    assert data_error(one) == [
        "spec.yaml:11:5: train.data: no array for the model input 'pixels': expected one named "
        "'pixels' or 'x' in parts.npz. Received: feat_a, c1, c2, labels, value. Map one in "
        "train.data: `inputs: {pixels: ARRAY}`"
    ]


def test_csv_mistakes(write_spec: WriteSpec, tmp_path: Path) -> None:
    (tmp_path / "flowers.csv").write_text("length,width,species\n1,2,setosa\n3,4,virginica\n")
    head = DIGITS.replace("[64]", "[2]").replace("units: 10", "units: 3")
    spec = spec_with(
        write_spec,
        "{source: csv, path: flowers.csv, inputs: {pixels: [lenght, species]}, targets: {probs: specie}}",
        head,
    )
    assert data_error(spec) == [
        "spec.yaml:11:56: train.data.inputs.pixels[0]: no column 'lenght' in flowers.csv. Did "
        "you mean 'length'? Columns: length, width, species",
        "spec.yaml:11:92: train.data.targets.probs: no column 'specie' in flowers.csv. Did you "
        "mean 'species'? Columns: length, width, species",
    ]
    spec = spec_with(
        write_spec,
        "{source: csv, path: flowers.csv, inputs: {pixels: [length, species]}, targets: {probs: species}}",
        head,
    )
    assert data_error(spec) == [
        "spec.yaml:11:55: train.data.inputs.pixels: expected numbers in the column 'species' for "
        "the model input 'pixels'. Received: text (line 2: 'setosa'). Give the input `dtype: "
        "string`, leave the column out of `inputs`, or map it as a target (text labels become "
        "class ids)"
    ]
    (tmp_path / "bare.csv").write_text("1,2,0\n3,4,1\n")
    spec = spec_with(write_spec, "{source: csv, path: bare.csv}", head)
    assert data_error(spec) == [
        "spec.yaml:11:25: train.data.path: expected a header row of column names in bare.csv. "
        "Received: a first line of numbers (1,2,0); add a line with the column names"
    ]
    (tmp_path / "ragged.csv").write_text("a,y\n1,2\n3\n")
    spec = spec_with(write_spec, "{source: csv, path: ragged.csv}", head)
    assert data_error(spec) == [
        "spec.yaml:11:25: train.data.path: expected 2 fields on each line of ragged.csv (as in "
        "its header). Received: 1 on line 3"
    ]


def test_sample_counts_and_non_finite_values(write_spec: WriteSpec, tmp_path: Path) -> None:
    pixels = np.ones((20, 64))
    pixels[3, 5] = np.nan
    pixels[7, :2] = np.inf
    np.savez(tmp_path / "d.npz", x=pixels, y=np.zeros(20), short=np.zeros(19))
    spec = spec_with(write_spec, "{source: npz, path: d.npz}")
    assert data_error(spec) == [
        "spec.yaml:11:5: train.data: expected finite numbers for the model input 'pixels' (from "
        "'x'). Received: 1 NaN value and 2 inf values in 2 samples of 20 (the first is sample 3). "
        "Drop or fill those samples"
    ]
    spec = spec_with(
        write_spec, "{source: npz, path: d.npz, inputs: {pixels: x}, targets: {probs: short}}"
    )
    assert data_error(spec)[0] == (
        "spec.yaml:11:5: train.data: expected every array to have the same number of samples. "
        "Received: pixels <- 'x': 20, probs <- 'short': 19"
    )


def test_data_function_mistakes(write_spec: WriteSpec, clean_registry: None) -> None:
    @register_dataset("broken")
    def broken() -> Any:
        raise OSError("the server is down")

    @register_dataset("odd")
    def odd() -> Any:
        return [1, 2, 3]

    assert data_error(spec_with(write_spec, "{source: function, name: broken}")) == [
        "spec.yaml:11:30: train.data.name: the data function 'broken' raised OSError: the "
        "server is down"
    ]
    assert data_error(spec_with(write_spec, "{source: function, name: odd}")) == [
        "spec.yaml:11:30: train.data.name: expected the data function 'odd' to return "
        "{name: array} or a tuple (x, y). Received: list"
    ]
    spec = spec_with(write_spec, "{source: function, name: odd}")
    from modelspec import registry

    registry.datasets.unregister("odd")  # the plugin that registers it was not loaded
    assert data_error(spec) == [
        "spec.yaml:11:30: train.data.name: unknown data function 'odd'. Registered: broken. "
        "Register one with @modelspec.register_dataset (in a plugin module)"
    ]


def test_too_few_samples_for_the_split(write_spec: WriteSpec, clean_registry: None) -> None:
    register_dataset("tiny")(lambda: (np.zeros((2, 64)), np.zeros(2)))
    spec = spec_with(write_spec, "{source: function, name: tiny, split: {validation: 0.5}}")
    assert data_error(spec) == [
        "spec.yaml:11:43: train.data.split: expected some samples left for training. Received: "
        "2 samples, of which 1 go to test and 1 to validation; lower the fractions"
    ]


# -- check_against_model -------------------------------------------------------
def test_input_shape_mismatch_suggests_a_reshape(write_spec: WriteSpec) -> None:
    head = DIGITS.replace("[64]", "[8, 8]").replace(
        "  - {name: probs", "  - {name: flat, type: Flatten}\n  - {name: probs"
    )
    spec = spec_with(write_spec, "{source: sklearn, name: digits, inputs: {pixels: x}}", head)
    assert check_error(spec) == [
        "spec.yaml:12:54: train.data.inputs.pixels: expected arrays of per-sample shape (8, 8) "
        "for the model input 'pixels' (the batch dimension excluded). Received: (64,). "
        "Transform them in train.data: `transform: {pixels: [{reshape: [8, 8]}]}`"
    ]
    head = DIGITS.replace("[64]", "[None, 64]".replace("None", "null"))
    spec = spec_with(write_spec, "{source: sklearn, name: digits}", head)
    assert check_error(spec) == [
        "spec.yaml:11:5: train.data: expected arrays of per-sample shape (None, 64) for the model "
        "input 'pixels' (the batch dimension excluded). Received: (64,). Transform them in "
        "train.data: `transform: {pixels: [{reshape: [...]}]}`, or change the input's shape",
        "spec.yaml:11:5: train.data: expected integer class ids of per-sample shape (None,) or "
        "(None, 1) for the loss sparse_categorical_crossentropy on the output 'probs' (shape "
        "(None, 10)). Received: ()",
    ]


def test_labels_checked_against_the_loss(write_spec: WriteSpec) -> None:
    small = DIGITS.replace("units: 10", "units: 8")
    spec = spec_with(write_spec, "{source: sklearn, name: digits, targets: {probs: y}}", small)
    assert check_error(spec) == [
        "spec.yaml:11:54: train.data.targets.probs: expected class ids in [0, 8) for the loss "
        "sparse_categorical_crossentropy on the output 'probs' (shape (8,)). Received: values "
        "from 0 to 9. Give the output 10 units, or re-map the labels"
    ]
    one_hot = spec_with(
        write_spec, "{source: sklearn, name: digits, transform: {probs: [{one_hot: 10}]}}"
    )
    assert check_error(one_hot) == [
        "spec.yaml:11:5: train.data: expected integer class ids of per-sample shape () or (1,) "
        "for the loss sparse_categorical_crossentropy on the output 'probs' (shape (10,)). "
        "Received: (10,); these look one-hot: use loss: categorical_crossentropy"
    ]
    categorical = DIGITS.replace("sparse_categorical_crossentropy", "CategoricalCrossentropy")
    spec = spec_with(write_spec, "{source: sklearn, name: digits}", categorical)
    assert check_error(spec) == [
        "spec.yaml:11:5: train.data: expected one-hot labels of per-sample shape (10,) for the "
        "loss CategoricalCrossentropy on the output 'probs' (shape (10,)). Received: (). Add "
        "`transform: {probs: [{one_hot: 10}]}` to train.data, or use loss: "
        "sparse_categorical_crossentropy"
    ]


def test_regression_targets_checked_against_the_output(
    write_spec: WriteSpec, clean_registry: None
) -> None:
    register_dataset("reg")(lambda: (np.zeros((10, 64)), np.zeros((10, 2))))
    register_dataset("flat")(lambda: (np.zeros((10, 64)), np.zeros(10)))
    head = DIGITS.replace("units: 10, activation: softmax", "units: 1").replace(
        "sparse_categorical_crossentropy", "mse"
    )
    assert check_error(spec_with(write_spec, "{source: function, name: reg}", head)) == [
        "spec.yaml:11:5: train.data: expected targets of per-sample shape (1,) for the loss mse "
        "on the output 'probs' (shape (1,)): the output's shape. Received: (2,)"
    ]
    flat = spec_with(write_spec, "{source: function, name: flat}", head)  # () broadcasts to (1,)
    check_against_model(load_data(flat), build_model(flat), flat)


def test_validation_split_problems_are_named(write_spec: WriteSpec) -> None:
    spec = spec_with(write_spec, "{source: sklearn, name: digits}")
    data = load_data(spec)
    assert data.validation is not None
    data.validation.y[0] = data.validation.y[0] + 1
    assert check_error(spec, data) == [
        "spec.yaml:11:5: train.data: expected class ids in [0, 10) for the loss "
        "sparse_categorical_crossentropy on the output 'probs' (shape (10,)). Received: values "
        "from 1 to 10. Give the output 11 units, or re-map the labels (in the validation split)"
    ]


# -- to_dataset ----------------------------------------------------------------
def test_to_dataset_batches_and_shuffles_with_a_seed() -> None:
    split = Split({"pixels": np.arange(10, dtype=np.float32).reshape(5, 2)}, [np.arange(5)])
    batches = list(to_dataset(split, batch_size=2))
    assert [tuple(x.shape) for x, _ in batches] == [(2, 2), (2, 2), (1, 2)]
    assert [y.numpy().tolist() for _, y in batches] == [[0, 1], [2, 3], [4]]

    def order(seed: int) -> list[int]:
        return [
            int(v) for _, y in to_dataset(split, batch_size=5, shuffle=True, seed=seed) for v in y
        ]

    assert order(1) == order(1) and sorted(order(1)) == [0, 1, 2, 3, 4]
    two = Split({"a": np.zeros((4, 3)), "b": np.zeros((4, 2))}, [np.zeros(4), np.ones((4, 1))])
    x, y = next(iter(to_dataset(two, batch_size=4)))
    assert set(x) == {"a", "b"} and isinstance(y, tuple) and y[1].shape == (4, 1)


# -- read_arrays / write_arrays -----------------------------------------------
def test_write_and_read_arrays_round_trip(tmp_path: Path) -> None:
    arrays = {"probs": np.array([[0.1, 0.9], [0.25, 0.75]], np.float32), "id": np.array([3, 4])}
    write_arrays(tmp_path / "out.npz", arrays)
    back = read_arrays(tmp_path / "out.npz")
    assert set(back) == {"probs", "id"} and np.array_equal(back["probs"], arrays["probs"])
    write_arrays(tmp_path / "sub" / "out.csv", arrays)
    text = (tmp_path / "sub" / "out.csv").read_text()
    assert text.splitlines() == ["probs_0,probs_1,id", "0.100000001,0.899999976,3", "0.25,0.75,4"]
    back = read_arrays(tmp_path / "sub" / "out.csv")
    assert np.allclose(back["probs_1"], [0.9, 0.75]) and back["id"].tolist() == [3, 4]
    assert sorted(p.name for p in tmp_path.rglob("*")) == [
        "out.csv",
        "out.npz",
        "sub",
    ]  # no temp files
    with pytest.raises(DataError) as err:
        write_arrays(tmp_path / "out.txt", arrays)
    assert messages(err) == [
        f"{tmp_path / 'out.txt'}: expected a .npz or .csv file name. Received: out.txt"
    ]
    with pytest.raises(DataError) as err:
        read_arrays(tmp_path / "nothing.csv")
    assert messages(err) == [
        f"{tmp_path / 'nothing.csv'}: no such file: {tmp_path / 'nothing.csv'}"
    ]


def test_read_arrays_maps_and_transforms_for_a_spec(write_spec: WriteSpec, tmp_path: Path) -> None:
    spec = spec_with(
        write_spec,
        """
        source: sklearn
        name: digits
        transform: {pixels: [{reshape: [64]}, {standardize: true}]}
        """,
    )
    from sklearn.datasets import load_digits

    images = load_digits().images[:5]
    write_arrays(tmp_path / "new.npz", {"x": images})
    x = read_arrays(tmp_path / "new.npz", spec)
    assert list(x) == ["pixels"] and x["pixels"].shape == (5, 64)
    raw = load_data(spec_with(write_spec.__call__, "{source: sklearn, name: digits}")).train
    mean, std = raw.x["pixels"].mean(axis=0), raw.x["pixels"].std(axis=0)  # the training split's
    expected = (images.reshape(5, 64) - mean) / np.where(std == 0, 1, std)
    assert np.allclose(x["pixels"], expected, atol=1e-5)
    train_pixels = load_digits().data.astype(np.float32)
    # CSV columns pixels_0..pixels_63 (what write_arrays writes) stack into the input.
    write_arrays(tmp_path / "new.csv", {"pixels": train_pixels[:3]})
    assert read_arrays(tmp_path / "new.csv", spec)["pixels"].shape == (3, 64)
    write_arrays(tmp_path / "other.npz", {"image": images})
    with pytest.raises(DataError) as err:
        read_arrays(tmp_path / "other.npz", spec)
    assert messages(err) == [
        f"{tmp_path / 'other.npz'}: no array for the model input 'pixels': expected one named "
        "'pixels' or 'x' in other.npz. Received: image. Map one in train.data: "
        "`inputs: {pixels: ARRAY}`"
    ]
