"""Registries, Keras serialization, and plugins (modelspec.registry, modelspec.plugins)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import pytest

import modelspec
from modelspec import PluginError, RegistryError, build_model, load_model, registry, validate_spec
from modelspec import plugins as plugin_loader

pytestmark = pytest.mark.usefixtures("clean_registry")

SPEC = """\
modelspec: 1
name: scaled
inputs: [{name: x, shape: [3]}]
layers:
  - {name: scale, type: %s, factor: 3.0}
outputs: [scale]
"""


def make_scale_layer() -> type:
    class Scale(keras.layers.Layer):
        """Multiply by a constant factor."""

        def __init__(self, factor: float = 2.0, **kwargs: object) -> None:
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x: object) -> object:
            return x * self.factor  # type: ignore[operator]

        def get_config(self) -> dict[str, object]:
            return {**super().get_config(), "factor": self.factor}

    return Scale


def test_register_layer_defaults_to_class_name_and_round_trips(tmp_path: Path) -> None:
    scale = modelspec.register_layer(make_scale_layer())
    assert registry.layers.get("Scale") is scale
    model = build_model(SPEC % "Scale")
    x = np.array([[1.0, 2.0, 3.0]], "float32")
    np.testing.assert_allclose(model(x), 3 * x)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(reloaded(x), 3 * x)


def test_registered_layer_arguments_are_checked_from_annotations() -> None:
    modelspec.register_layer("Scaler")(make_scale_layer())
    report = validate_spec((SPEC % "Scaler").replace("3.0", '"3"'))
    assert [d.message for d in report.errors] == ["expected a number. Received: factor='3'"]


def test_duplicate_registration_names_who_registered_first() -> None:
    first = make_scale_layer()
    modelspec.register_layer("Twice")(first)
    with pytest.raises(RegistryError) as info:
        modelspec.register_layer("Twice")(make_scale_layer())
    origin = f"{__name__}.make_scale_layer.<locals>.Scale"
    assert str(info.value) == (
        f"layer 'Twice' is already registered by {origin} (registered first); cannot register "
        f"{origin} under the same name. Choose another name, or pass force=True to replace it."
    )
    second = make_scale_layer()
    modelspec.register_layer("Twice", force=True)(second)
    assert registry.layers.get("Twice") is second
    modelspec.register_layer("Twice")(second)  # the same object again is not a conflict


def test_builtin_names_cannot_be_shadowed_by_accident() -> None:
    with pytest.raises(RegistryError, match="layer 'Dense' is a built-in name"):
        modelspec.register_layer("Dense")(make_scale_layer())
    with pytest.raises(RegistryError, match="activation 'relu' is a built-in name"):
        modelspec.register_activation("relu")(lambda x: x)


def test_registered_activation_and_loss_resolve_and_reload(tmp_path: Path) -> None:
    @modelspec.register_activation
    def halve(x: object) -> object:
        return x * 0.5  # type: ignore[operator]

    @modelspec.register_loss("abs_error")
    def abs_error(y_true: object, y_pred: object) -> object:
        return keras.ops.mean(keras.ops.abs(y_true - y_pred))  # type: ignore[operator]

    spec = """\
modelspec: 1
name: m
inputs: [{name: x, shape: [2]}]
layers:
  - {name: d, type: Dense, units: 2, activation: halve, kernel_initializer: ones}
outputs: [d]
compile: {optimizer: sgd, loss: abs_error}
"""
    model = build_model(spec)
    assert model.loss is abs_error
    x = np.array([[1.0, 1.0]], "float32")
    np.testing.assert_allclose(model(x), [[1.0, 1.0]])
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(load_model(tmp_path / "m.keras")(x), [[1.0, 1.0]])


def test_register_rejects_classes_without_get_config() -> None:
    with pytest.raises(RegistryError, match="it has no get_config"):
        modelspec.register_metric("bare")(type("Bare", (), {"__call__": lambda s: 0}))


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in [m for m in sys.modules if m.startswith("msplug_")]:
        del sys.modules[name]


PLUGIN = """
import keras
import modelspec

@modelspec.register_layer(name="{name}")
class Doubler(keras.layers.Layer):
    def call(self, x):
        return x * 2
"""


def test_plugin_modules_load_on_request(plugin_dir: Path) -> None:
    (plugin_dir / "msplug_a.py").write_text(PLUGIN.format(name="DoublerA"))
    spec = SPEC.replace(", factor: 3.0", "") % "DoublerA"
    assert "unknown layer type 'DoublerA'" in validate_spec(spec).errors[0].message
    model = build_model(spec, plugins=["msplug_a"])
    np.testing.assert_allclose(model(np.ones((1, 3), "float32")), 2 * np.ones((1, 3)))
    with pytest.raises(PluginError, match="cannot import plugin module 'msplug_nope'"):
        validate_spec(spec, plugins=["msplug_nope"])
    (plugin_dir / "msplug_broken.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(PluginError, match="raised while importing: RuntimeError: boom"):
        validate_spec(spec, plugins=["msplug_broken"])


def test_entry_point_plugins_load_when_a_type_is_unknown(
    plugin_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (plugin_dir / "msplug_ep.py").write_text(PLUGIN.format(name="DoublerEP"))
    dist = plugin_dir / "msplug_ep-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: msplug-ep\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[modelspec.plugins]\ndoubler = msplug_ep\n")
    monkeypatch.setattr(plugin_loader, "_entry_points_loaded", None)
    assert validate_spec(SPEC.replace(", factor: 3.0", "") % "Flatten").ok
    assert "msplug_ep" not in sys.modules, "built-in types must not load plugins"
    report = validate_spec(SPEC.replace(", factor: 3.0", "") % "DoublerEP")
    assert report.ok, report.diagnostics
    assert "msplug_ep" in sys.modules


def test_entry_point_plugins_load_when_an_activation_is_unknown(
    plugin_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (plugin_dir / "msplug_act.py").write_text(
        "import modelspec\n\n@modelspec.register_activation\ndef cube_act(x):\n    return x ** 3\n"
    )
    dist = plugin_dir / "msplug_act-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: msplug-act\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[modelspec.plugins]\ncube = msplug_act\n")
    monkeypatch.setattr(plugin_loader, "_entry_points_loaded", None)
    spec = SPEC.replace(", factor: 3.0", "") % "Dense"
    spec = spec.replace("type: Dense", "type: Dense, units: 3, activation: cube_act")
    report = validate_spec(spec)
    assert report.ok, report.diagnostics
    assert "msplug_act" in sys.modules
    model = build_model(spec)
    assert model.get_layer("scale").activation.__name__ == "cube_act"


def test_spec_imports_run_only_when_allowed(plugin_dir: Path) -> None:
    (plugin_dir / "msplug_imp.py").write_text(PLUGIN.format(name="DoublerImp"))
    spec = "imports: [msplug_imp]\n" + SPEC.replace(", factor: 3.0", "") % "DoublerImp"
    with pytest.raises(modelspec.SpecError, match="refused by default"):
        build_model(spec)
    assert "msplug_imp" not in sys.modules
    assert build_model(spec, allow_imports=True).count_params() == 0


def test_a_plugin_in_the_current_folder_imports_and_may_be_a_spec_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "msplug_here.py").write_text(PLUGIN.format(name="DoublerHere"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    spec = "imports: [msplug_here]\n" + SPEC.replace(", factor: 3.0", "") % "DoublerHere"
    try:
        report = validate_spec(spec, plugins=["msplug_here"])  # named by --plugin: allowed
        assert report.ok, report.diagnostics
    finally:
        sys.modules.pop("msplug_here", None)
        plugin_loader.ALLOWED.discard("msplug_here")
    with pytest.raises(PluginError) as err:
        validate_spec(spec, plugins=["msplug_elsewhere"])
    assert (
        f"no module named 'msplug_elsewhere' in this environment or in the current folder ({tmp_path})"
        in str(err.value)
    )
