"""The JSON Schema editors use (``modelspec schema``) accepts every shipped spec."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from modelspec.spec.jsonschema import spec_json_schema

SPECS = sorted((Path(__file__).resolve().parent.parent / "specs").glob("*.yaml"))
VALIDATOR = jsonschema.Draft202012Validator(spec_json_schema())


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_every_spec_is_valid_under_the_schema(path: Path) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    problems = [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(data)]
    assert problems == []


def test_the_schema_knows_the_language_keys() -> None:
    spec = {
        "modelspec": 1,
        "name": "s",
        "vars": {"dim": 8, "n": 2},
        "inputs": [{"name": "x", "shape": ["${dim}"]}],
        "blocks": {
            "b": {
                "params": {"units": 4},
                "inputs": ["v"],
                "layers": [{"name": "d", "type": "Dense", "units": "${units}"}],
                "outputs": ["d"],
            }
        },
        "layers": [
            {"name": "r", "block": "b", "repeat": "${n}", "units": 3},
            {"name": "m", "op": "mean", "axis": 1, "inputs": "r"},
            {"name": "e", "expr": "m * 2", "add_loss": {"expr": "mean(m)", "weight": 0.1}},
        ],
        "outputs": ["e"],
    }
    assert list(VALIDATOR.iter_errors(spec)) == []
    spec["blocks"]["b"]["layers"][0]["unts"] = 2  # a block's layers are checked too
    spec["layers"][1]["axis"] = "one"
    found = sorted(str(list(e.absolute_path)) for e in VALIDATOR.iter_errors(spec))
    assert found == ["['blocks', 'b', 'layers', 0]"]


def test_the_schema_knows_configured_losses_and_metrics() -> None:
    base = {"modelspec": 1, "name": "s", "inputs": [{"name": "x", "shape": [4]}]}
    base |= {"layers": [{"name": "a", "type": "Dense", "units": 2}], "outputs": {"a": "a"}}
    good = {
        "loss": {"a": {"type": "BinaryCrossentropy", "from_logits": True}, "b": None},
        "metrics": {"a": ["acc", {"type": "AUC", "name": "auc", "curve": "PR"}]},
    }
    assert list(VALIDATOR.iter_errors(base | {"compile": good})) == []
    one = {"loss": {"type": "SparseCategoricalCrossentropy", "ignore_class": -1}}
    assert list(VALIDATOR.iter_errors(base | {"compile": one})) == []
    for bad in (
        {"loss": {"type": "BinaryCrossentropy", "from_logit": True}},
        {"loss": {"a": {"type": "Huber", "delta": "big"}}},
        {"metrics": [{"type": "AUC", "curve": "XY"}]},
        {"metrics": [{"k": 3}]},
    ):
        assert list(VALIDATOR.iter_errors(base | {"compile": bad})) != [], bad
