"""keras.applications models and KerasHub layers as node types: validate, build, reload."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from modelspec import BuildError, build_model, catalogue, load_model, validate_spec
from modelspec.catalogue import backbones, store
from modelspec.cli import main
from modelspec.errors import ModelLoadError

from .conftest import ROOT

BACKBONE = """\
modelspec: 1
name: transfer
inputs:
  - {name: image, shape: [32, 32, 3]}
layers:
  - {name: backbone, type: applications.MobileNetV2, include_top: false, pooling: avg, alpha: 0.35}
  - {name: head, type: Dense, units: 3, activation: softmax}
outputs: [head]
"""

HUB = """\
modelspec: 1
name: tiny_transformer
inputs:
  - {name: tokens, shape: [8], dtype: int32}
layers:
  - name: embed
    type: hub.TokenAndPositionEmbedding
    vocabulary_size: 50
    sequence_length: 8
    embedding_dim: 16
  - {name: encoder, type: hub.TransformerEncoder, intermediate_dim: 32, num_heads: 2}
  - {name: pool, type: GlobalAveragePooling1D}
  - {name: out, type: Dense, units: 2}
outputs: [out]
"""


def lines(path: str) -> list[str]:
    return [d.format() for d in validate_spec(path).diagnostics]


def test_application_types_and_arguments_are_checked_at_their_lines(
    write_spec: Callable[..., str],
) -> None:
    path = write_spec(
        """\
modelspec: 1
name: bad
inputs:
  - {name: image, shape: [64, 64, 3]}
  - {name: flat, shape: [64]}
layers:
  - {name: a, type: applications.MobileNetV4, inputs: image}
  - {name: b, type: applications.mobilenetv2, inputs: image}
  - {name: c, type: MobileNetV2, inputs: image}
  - {name: d, type: applications.MobileNetV2, alfa: 1, inputs: image}
  - {name: e, type: applications.MobileNetV2, weights: imagnet, inputs: image}
  - {name: f, type: applications.MobileNetV2, pooling: mean, inputs: image}
  - {name: g, type: applications.MobileNetV2, include_top: "no", inputs: image}
  - {name: h, type: applications.MobileNetV2, classes: 0, inputs: image}
  - {name: i, type: applications.MobileNetV2, alpha: big, inputs: image}
  - {name: j, type: applications.MobileNetV2, input_shape: 96, inputs: image}
  - {name: k, type: applications.MobileNetV2, input_shape: [96, 96, 3], inputs: image}
  - {name: l, type: applications.ResNet50, weights: imagenet, classes: 10, inputs: image}
  - {name: m, type: applications.MobileNetV2, classifier_activation: softmx, inputs: image}
  - {name: n, type: applications.MobileNetV2, input_tensor: image, inputs: image}
  - {name: o, type: applications.MobileNetV2, inputs: flat}
outputs: [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o]
"""
    )
    assert lines(path) == [
        "spec.yaml:7:21: layers[0] (a).type: unknown layer type 'applications.MobileNetV4'. "
        "Did you mean 'applications.MobileNetV2'? Run `modelspec layers` to list the available "
        "types; custom layers need their plugin (--plugin).",
        "spec.yaml:8:21: layers[1] (b).type: unknown layer type 'applications.mobilenetv2'. "
        "Did you mean 'applications.MobileNetV2'? Run `modelspec layers` to list the available "
        "types; custom layers need their plugin (--plugin).",
        "spec.yaml:9:21: layers[2] (c).type: unknown layer type 'MobileNetV2'. "
        "Did you mean 'applications.MobileNetV2'? Run `modelspec layers` to list the available "
        "types; custom layers need their plugin (--plugin).",
        "spec.yaml:10:47: layers[3] (d).alfa: unknown argument 'alfa' for "
        "applications.MobileNetV2. Did you mean 'alpha'?",
        "spec.yaml:11:56: layers[4] (e).weights: expected null or 'imagenet'. "
        "Received: weights='imagnet'",
        "spec.yaml:12:56: layers[5] (f).pooling: expected null or one of 'avg', 'max'. "
        "Received: pooling='mean'",
        "spec.yaml:13:60: layers[6] (g).include_top: expected a boolean (true or false). "
        "Received: include_top='no'",
        "spec.yaml:14:56: layers[7] (h).classes: expected a positive integer. Received: classes=0",
        "spec.yaml:15:54: layers[8] (i).alpha: expected a number. Received: alpha='big'",
        "spec.yaml:16:60: layers[9] (j).input_shape: expected a list of integers (null for an "
        "unknown size). Received: input_shape=96",
        "spec.yaml:17:60: layers[10] (k).input_shape: expected the shape of 'image', the input "
        "this node is called on ([64, 64, 3]), or no input_shape (it is then the input's). "
        "Received: input_shape=[96, 96, 3]",
        "spec.yaml:18:72: layers[11] (l).classes: expected 1000 (ImageNet's classes) with "
        "weights: imagenet and include_top: true. Received: classes=10. For other classes, set "
        "include_top: false (and pooling: avg) and put your own Dense head after it.",
        "spec.yaml:19:70: layers[12] (m).classifier_activation: unknown activation 'softmx'. "
        "Did you mean 'softmax'?",
        "spec.yaml:20:47: layers[13] (n).input_tensor: unknown argument 'input_tensor' for "
        "applications.MobileNetV2. A model is called on the node's `inputs:`.",
        "spec.yaml:21:5: layers[14] (o): applications.MobileNetV2 takes images: expected its "
        "input 'flat' to have the shape [height, width, channels]. Received: [64]",
    ]


def test_a_matching_input_shape_and_an_imagenet_head_with_1000_classes_validate(
    write_spec: Callable[..., str],
) -> None:
    path = write_spec(
        """\
modelspec: 1
name: fine
inputs:
  - {name: image, shape: [null, null, 3]}
layers:
  - {name: a, type: applications.MobileNetV2, input_shape: [96, 96, 3], include_top: false}
  - {name: b, type: applications.ResNet50, weights: imagenet, classes: 1000, inputs: image}
  - {name: c, type: applications.ResNet50, weights: imagenet, include_top: false, classes: 7, inputs: image}
outputs: [a, b, c]
"""
    )
    assert lines(path) == []


def test_hub_layer_arguments_are_checked(write_spec: Callable[..., str]) -> None:
    path = write_spec(
        """\
modelspec: 1
name: bad_hub
inputs:
  - {name: x, shape: [8, 16]}
layers:
  - {name: a, type: hub.TransformerEncoder, num_heads: 2}
  - {name: b, type: hub.TransformerEncoder, intermediate_dim: 8, num_heads: 0, inputs: x}
  - {name: c, type: hub.TransformerEncodr, inputs: x}
outputs: [a, b, c]
"""
    )
    assert lines(path) == [
        "spec.yaml:6:5: layers[0] (a): missing required argument 'intermediate_dim' for "
        "hub.TransformerEncoder",
        "spec.yaml:7:77: layers[1] (b).num_heads: expected a positive integer. Received: "
        "num_heads=0",
        "spec.yaml:8:21: layers[2] (c).type: unknown layer type 'hub.TransformerEncodr'. "
        "Did you mean 'hub.TransformerEncoder'? Run `modelspec layers` to list the available "
        "types; custom layers need their plugin (--plugin).",
    ]


def test_hub_size_arguments_are_positive_integers(write_spec: Callable[..., str]) -> None:
    path = write_spec(
        """\
modelspec: 1
name: bad_sizes
inputs:
  - {name: tokens, shape: [8], dtype: int32}
layers:
  - name: embed
    type: hub.TokenAndPositionEmbedding
    vocabulary_size: abc
    sequence_length: 8
    embedding_dim: 16.5
  - {name: a, type: hub.TransformerEncoder, intermediate_dim: -4, num_heads: 2}
  - {name: b, type: hub.TransformerEncoder, intermediate_dim: [32], num_heads: 2, inputs: a}
outputs: [b]
"""
    )
    assert lines(path) == [
        "spec.yaml:8:22: layers[0] (embed).vocabulary_size: expected a positive integer. "
        "Received: vocabulary_size='abc'",
        "spec.yaml:10:20: layers[0] (embed).embedding_dim: expected a positive integer. "
        "Received: embedding_dim=16.5",
        "spec.yaml:11:63: layers[1] (a).intermediate_dim: expected a positive integer. "
        "Received: intermediate_dim=-4",
        "spec.yaml:12:63: layers[2] (b).intermediate_dim: expected a positive integer. "
        "Received: intermediate_dim=[32]",
    ]


def test_hub_arguments_take_simple_types_from_their_docstrings(
    write_spec: Callable[..., str],
) -> None:
    path = write_spec(
        """\
modelspec: 1
name: bad_types
inputs:
  - {name: boxes, shape: [4, 4]}
layers:
  - {name: nms, type: hub.NonMaxSuppression, bounding_box_format: 3, from_logits: "yes"}
outputs: [nms]
"""
    )
    assert lines(path) == [
        "spec.yaml:6:67: layers[0] (nms).bounding_box_format: expected a string. "
        "Received: bounding_box_format=3",
        "spec.yaml:6:83: layers[0] (nms).from_logits: expected a boolean (true or false). "
        "Received: from_logits='yes'",
    ]

    def kind(type_name: str, arg: str) -> str:
        sig = catalogue.keras_layer(type_name)
        assert sig is not None
        return sig.args[arg].kind.description

    assert kind("hub.RotaryEmbedding", "scaling_factor") == "a number"
    assert kind("hub.MaskedLMMaskGenerator", "mask_token_id") == "an integer"
    # "float, tuple of floats, or `None`" is not one simple type
    assert kind("hub.ImageConverter", "scale") == "any value"
    # documented as int, but its default is [64, 64]: the default's kind
    assert kind("hub.SAMPromptEncoder", "image_embedding_size") == (
        "an integer or a list of integers"
    )
    # Keras's own classes are not read from their docstrings
    shipped = json.loads(store.CATALOGUE_PATH.read_text(encoding="utf-8"))
    for section in ("layers", "optimizers", "schedules", "callbacks", "losses", "metrics"):
        for entry in shipped[section].values():
            assert not [a for a in entry["args"] if "type" in a]


def test_a_position_embedding_shorter_than_its_input_is_reported(
    write_spec: Callable[..., str],
) -> None:
    path = write_spec(
        """\
modelspec: 1
name: too_short
inputs:
  - {name: tokens, shape: [16], dtype: int32}
  - {name: x, shape: [16, 8]}
layers:
  - {name: e, type: hub.TokenAndPositionEmbedding, vocabulary_size: 50, sequence_length: 8,
     embedding_dim: 8, inputs: tokens}
  - {name: p, type: hub.PositionEmbedding, sequence_length: 12, inputs: x}
  - {name: out, expr: e + p}
outputs: [out]
"""
    )
    assert lines(path) == [
        "spec.yaml:7:90: layers[0] (e).sequence_length: expected sequence_length >= the "
        "input's length 16 ('tokens', the input this node is called on, has the shape [16]). "
        "Received: sequence_length=8. The layer has one position embedding per position: set "
        "sequence_length to the longest input it will see.",
        "spec.yaml:9:61: layers[1] (p).sequence_length: expected sequence_length >= the "
        "input's length 16 ('x', the input this node is called on, has the shape [16, 8]). "
        "Received: sequence_length=12. The layer has one position embedding per position: set "
        "sequence_length to the longest input it will see.",
    ]
    # as long as the input, or an input of unknown length: nothing to report
    spec = Path(path).read_text(encoding="utf-8")
    fitting = spec.replace("sequence_length: 8", "sequence_length: 16")
    assert lines(write_spec(fitting.replace("[16, 8]", "[null, 8]"))) == []


def test_validating_backbones_and_hub_layers_imports_neither_keras_nor_keras_hub(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.yaml").write_text(BACKBONE, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(HUB, encoding="utf-8")
    code = (
        "import sys\n"
        "from modelspec import validate_spec\n"
        f"for name in ('a', 'b'):\n"
        f"    assert validate_spec({str(tmp_path)!r} + f'/{{name}}.yaml').spec is not None\n"
        "print(sorted(m for m in ('keras', 'tensorflow', 'keras_hub') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_the_catalogue_has_every_application_and_the_hub_layers() -> None:
    names = catalogue.builtin_layer_names()
    expected = {f"applications.{n}" for n in backbones.application_functions()}
    assert {"applications.MobileNetV2", "applications.EfficientNetB0"} <= expected
    assert expected <= set(names)
    hub = {n for n in names if n.startswith("hub.")}
    assert {"hub.TransformerEncoder", "hub.TokenAndPositionEmbedding", "hub.RotaryEmbedding"} <= hub
    assert catalogue.keras_layer("applications.MobileNetV2").args["weights"].default is None
    assert "input_tensor" not in catalogue.keras_layer("applications.ResNet50").args


def test_make_catalogue_without_keras_hub_keeps_the_shipped_hub_part(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from modelspec.catalogue import store
    from modelspec.layers.catalogue import hub_part

    shipped = json.loads(store.CATALOGUE_PATH.read_text(encoding="utf-8"))
    assert hub_part()["hub_layers"] == shipped["hub_layers"]  # KerasHub installed: the same
    monkeypatch.setitem(sys.modules, "keras_hub", None)
    assert backbones.hub_catalogue() is None
    assert hub_part() == {
        "keras_hub_version": shipped["keras_hub_version"],
        "hub_layers": shipped["hub_layers"],
    }


def test_layers_lists_applications_and_hub_layers() -> None:
    result = CliRunner().invoke(main, ["layers", "applications.MobileNetV2"])
    assert result.exit_code == 0
    assert result.output.splitlines()[:2] == [
        "applications.MobileNetV2 [keras.applications]: input_shape=None, alpha=1.0, "
        "include_top=True, weights=None, pooling=None, classes=1000, "
        "classifier_activation='softmax'",
        "  Instantiates the MobileNetV2 architecture.",
    ]
    assert "  weights: null or 'imagenet' (default None)" in result.output
    listed = CliRunner().invoke(main, ["layers", "hub.*Embedding"]).output
    assert "hub.TokenAndPositionEmbedding [keras_hub]: vocabulary_size, sequence_length" in listed
    encoder = CliRunner().invoke(main, ["layers", "hub.TransformerEncoder"]).output.splitlines()
    assert "  intermediate_dim: a positive integer (required)" in encoder
    assert "  normalize_first: a boolean (true or false) (default False)" in encoder


def test_a_backbone_is_a_nested_model_that_reloads_in_safe_mode(tmp_path: Path) -> None:
    model = build_model(BACKBONE)
    backbone = model.get_layer("backbone")
    assert isinstance(backbone, keras.Model)
    names = [layer.name for layer in backbone.layers]
    assert names[0] == "input_layer" or names[0].startswith("input")
    assert "block_16_project" in names and "Conv1" in names  # the application's own names
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    before = model.predict(x, verbose=0)
    assert before.shape == (2, 3)
    model.save(tmp_path / "m.keras")
    again = load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), before, atol=1e-6)
    assert [layer.name for layer in again.get_layer("backbone").layers] == names


def test_a_backbone_takes_its_input_shape_from_its_input_and_the_node_name(
    write_spec: Callable[..., str],
) -> None:
    spec = BACKBONE.replace("[32, 32, 3]", "[48, 40, 3]").replace(", pooling: avg", "")
    # EfficientNetV2 looks its own name up: built under its Keras name, then renamed
    spec = spec.replace("MobileNetV2", "EfficientNetV2B0").replace(", alpha: 0.35", "")
    backbone = build_model(write_spec(spec)).get_layer("backbone")
    assert backbone.name == "backbone"
    assert backbone.input_shape == (None, 48, 40, 3)
    assert backbone.output_shape == (None, 2, 2, 1280)


def test_a_too_small_input_is_a_located_build_error(write_spec: Callable[..., str]) -> None:
    path = write_spec(BACKBONE.replace("[32, 32, 3]", "[16, 16, 3]"))
    with pytest.raises(BuildError) as info:
        build_model(path)
    text = info.value.diagnostics[0].format()
    assert text.startswith(
        "spec.yaml:6:5: layers[0] (backbone): ValueError while building this node: "
    )
    assert "16" in text


def test_imagenet_weights_offline_fail_at_once_naming_the_file_and_the_cache_folder(
    write_spec: Callable[..., str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keras.src.backend import config
    from keras.src.utils import file_utils

    home = tmp_path / "keras_home"
    home.mkdir()
    monkeypatch.setattr(config, "_KERAS_DIR", str(home))  # no cached copy: a download

    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError(OSError(-2, "Name or service not known"))

    monkeypatch.setattr(file_utils, "urlretrieve", offline)  # offline, network or not
    path = write_spec(
        BACKBONE.replace("[32, 32, 3]", "[96, 96, 3]").replace("alpha: 0.35", "weights: imagenet")
    )
    with pytest.raises(BuildError) as info:
        build_model(path)
    file = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top.h5"
    assert [d.format() for d in info.value.diagnostics] == [
        "spec.yaml:6:97: layers[0] (backbone).weights: could not download the ImageNet weights "
        f"of MobileNetV2 ({file}) from https://storage.googleapis.com/tensorflow/"
        f"keras-applications/mobilenet_v2/{file}: [Errno -2] Name or service not known. "
        f"Without a network, put a copy of {file} in {home}/models (Keras's cache; the "
        "KERAS_HOME environment variable moves it), or use weights: null."
    ]


def test_hub_layers_build_and_reload_in_safe_mode(tmp_path: Path) -> None:
    model = build_model(HUB)
    assert type(model.get_layer("encoder")).__module__.startswith("keras_hub.")
    x = np.random.default_rng(0).integers(0, 50, (2, 8)).astype("int32")
    before = model.predict(x, verbose=0)
    model.save(tmp_path / "m.keras")
    again = load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), before, atol=1e-6)


def test_without_keras_hub_validate_checks_and_build_says_how_to_install(
    write_spec: Callable[..., str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    saved = tmp_path / "hub.keras"
    build_model(HUB).save(saved)
    monkeypatch.setitem(sys.modules, "keras_hub", None)  # `import keras_hub` fails
    path = write_spec(HUB)
    assert lines(path) == []
    with pytest.raises(BuildError) as info:
        build_model(path)
    assert [d.format() for d in info.value.diagnostics] == [
        "spec.yaml:7:11: layers[0] (embed).type: layer type 'hub.TokenAndPositionEmbedding' "
        "comes from KerasHub, which is not installed. Install it with: "
        "pip install 'modelspec[hub]'"
    ]
    with pytest.raises(ModelLoadError) as loading:
        load_model(saved)
    assert str(loading.value) == (
        f"{saved} has KerasHub layers, and KerasHub is not installed. Install it with: "
        "pip install 'modelspec[hub]'"
    )
