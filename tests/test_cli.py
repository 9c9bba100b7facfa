"""The command line (modelspec.cli), through click's CliRunner."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelspec import load_model
from modelspec.cli import main

from .conftest import ROOT, SPECS

GOOD = str(ROOT / "specs" / "antirectifier_digits.yaml")
BAD = """\
modelspec: 1
name: bad
inputs:
  - {name: x, shape: [8]}
layers:
  - {name: dense_1, type: Dense, units: 0}
  - {name: dense_2, type: Dens, units: 4}
outputs: [dense_2]
"""


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_validate_ok_exits_zero() -> None:
    code, out = run("validate", GOOD)
    assert (code, out) == (0, f"{GOOD}: ok (1 input, 7 layers, 1 output)\n")


def test_validate_reports_every_error_and_exits_one(write_spec: Callable[..., str]) -> None:
    path = write_spec(BAD)
    code, out = run("validate", path, GOOD)
    assert code == 1
    assert out.splitlines() == [
        "spec.yaml:6:41: layers[0] (dense_1).units: expected a positive integer. Received: units=0",
        "spec.yaml:7:27: layers[1] (dense_2).type: unknown layer type 'Dens'. Did you mean "
        "'Dense'? Run `modelspec layers` to list the available types; custom layers need their "
        "plugin (--plugin).",
        "spec.yaml: 2 errors, 0 warnings",
        f"{GOOD}: ok (1 input, 7 layers, 1 output)",
    ]


def test_validate_json_format(write_spec: Callable[..., str]) -> None:
    path = write_spec(BAD)
    code, out = run("validate", "--format", "json", path)
    payload = json.loads(out)
    assert code == 1 and payload["ok"] is False
    first = payload["files"][0]["diagnostics"][0]
    assert first == {
        "file": "spec.yaml",
        "line": 6,
        "column": 41,
        "path": ["layers", 0, "units"],
        "where": "layers[0] (dense_1).units",
        "node": "dense_1",
        "severity": "error",
        "message": "expected a positive integer. Received: units=0",
        "via": [],
    }


def test_strict_turns_warnings_into_failure(write_spec: Callable[..., str]) -> None:
    path = write_spec(BAD.replace("units: 0}", "units: 3}").replace("Dens,", "Dense,").replace(
        "units: 4}", "units: 4, inputs: x}"))  # fmt: skip
    assert run("validate", path)[0] == 0
    code, out = run("validate", "--strict", path)
    assert code == 1
    assert "warning: layers[0] (dense_1): node 'dense_1' is not used by any output" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["validate", "missing.yaml"], "File 'missing.yaml' does not exist."),
        (["validate"], "Missing argument 'SPECS...'."),
        (["validate", "--frobnicate", GOOD], "No such option '--frobnicate'"),
        (["validate", "--plugin", "no_such_plugin_mod", GOOD],
         "cannot import plugin module 'no_such_plugin_mod'"),
        (["build", GOOD, "-o", "model.h5"], "expected a path ending in .keras. Received: model.h5"),
        (["layers", "Frobnicate"], "no layer type matches 'Frobnicate'."),
        (["ops", "meen"], "Error: no op matches 'meen'. Did you mean 'mean'?"),
    ],
)  # fmt: skip
def test_usage_errors_exit_two(args: list[str], message: str) -> None:
    code, out = run(*args)
    assert code == 2
    assert message in out


def test_build_prints_summary_and_saves(tmp_path: Path) -> None:
    target = tmp_path / "model.keras"
    code, out = run("build", GOOD, "-o", str(target))
    assert code == 0, out
    assert 'Model: "antirectifier_digits"' in out
    assert "antirectifier_digits: 153,098 parameters (153,098 trainable, 0 non-trainable)" in out
    assert out.rstrip().endswith(f"saved {target}")
    assert load_model(target).count_params() == 153_098
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]  # no temporary left


def test_set_problems_are_reported_at_the_option(tmp_path: Path) -> None:
    for given, expected in (
        (
            "train.epochs=two",
            "--set train.epochs=two: train.epochs: expected a positive integer. Received: epochs='two'",
        ),
        ("epochs=2", "--set epochs=2: epochs: unknown key 'epochs'. Did you mean 'train.epochs'?"),
    ):
        code, out = run("train", GOOD, "--set", given, "--out", str(tmp_path))
        assert (code, out.splitlines()[0]) == (1, expected)
    assert list(tmp_path.iterdir()) == []


def test_a_key_in_the_wrong_section_gets_the_right_one(write_spec: Callable[..., str]) -> None:
    path = write_spec(
        "modelspec: 1\nname: m\ninputs: [{name: x, shape: [4]}]\n"
        "layers: [{name: a, type: Dense, units: 2}]\noutputs: [a]\nbatch_size: 3\n"
        "compile: {loss: mse, epochs: 3}\n"
    )
    code, out = run("validate", path)
    assert code == 1
    assert out.splitlines()[:2] == [
        "spec.yaml:6:1: batch_size: unknown key 'batch_size'. Did you mean 'train.batch_size'?",
        "spec.yaml:7:22: compile.epochs: unknown key 'epochs'. Did you mean 'train.epochs'?",
    ]


def test_build_makes_the_output_folders(tmp_path: Path) -> None:
    target = tmp_path / "new" / "dir" / "m.keras"
    code, out = run("build", GOOD, "-q", "-o", str(target))
    assert code == 0, out
    assert out.rstrip().endswith(f"saved {target}")
    assert [p.name for p in target.parent.iterdir()] == ["m.keras"]


def test_build_reports_keras_errors_at_the_node(write_spec: Callable[..., str]) -> None:
    path = write_spec(
        "modelspec: 1\nname: m\ninputs: [{name: a, shape: [4]}, {name: b, shape: [3]}]\n"
        "layers:\n  - {name: sum, type: Add, inputs: [a, b]}\noutputs: [sum]\n"
    )
    result = CliRunner().invoke(main, ["build", path])
    assert result.exit_code == 1
    assert result.output.startswith(
        "spec.yaml:5:5: layers[0] (sum): ValueError while building this node: "
    )
    assert result.output.endswith("spec.yaml: 1 error\n")


def test_build_prints_validation_warnings(write_spec: Callable[..., str]) -> None:
    path = write_spec(
        "modelspec: 1\nname: m\ninputs: [{name: x, shape: [4]}]\nlayers:\n"
        "  - {name: out, type: Dense, units: 2}\n  - {name: spare, type: Dense, units: 2, inputs: x}\n"
        "outputs: [out]\n"
    )
    code, out = run("build", "-q", path)
    assert code == 0
    assert out.splitlines() == [
        "spec.yaml:6:5: warning: layers[1] (spare): node 'spare' is not used by any output; "
        "it will not be part of the model",
        "m: 10 parameters (10 trainable, 0 non-trainable)",
    ]


def test_build_bad_spec_exits_one(write_spec: Callable[..., str]) -> None:
    code, out = run("build", write_spec(BAD))
    assert code == 1
    assert "spec.yaml:6:41: layers[0] (dense_1).units: expected a positive integer." in out


def test_schema_is_json_schema_with_layer_arguments() -> None:
    code, out = run("schema")
    schema = json.loads(out)
    assert code == 0
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    rules = {r["if"]["properties"]["type"]["const"]: r["then"] for r in
             schema["$defs"]["LayerNode"]["allOf"]}  # fmt: skip
    assert rules["Dense"]["required"] == ["units"]
    units = rules["Dense"]["properties"]["units"]["anyOf"]  # a value or a ${...} expression
    assert units[0] == {"type": "integer", "exclusiveMinimum": 0}
    assert units[1]["pattern"] == r"^\$\{[^{}]*\}$"
    assert "scale_init" in rules["L2Normalization"]["properties"]


def test_layers_lists_and_details() -> None:
    code, out = run("layers", "conv*")
    assert code == 0
    names = [line.split(" ")[0] for line in out.splitlines()]
    assert "Conv2D" in names and "Conv1DTranspose" in names and "Dense" not in names
    code, out = run("layers", "antirectifier")
    assert out.splitlines()[0].startswith("Antirectifier [modelspec]:")
    assert "  call arguments: inputs" in out


def test_ops_lists_and_details() -> None:
    code, out = run("ops")
    assert code == 0
    lines = out.splitlines()
    assert "mean: Compute the arithmetic mean along the specified axes." in lines
    assert len(lines) > 300 and not [line for line in lines if line.startswith("map:")]
    code, out = run("ops", "mean")
    assert (code, out.splitlines()) == (0, [
        "mean(x, axis=None, keepdims=False)",
        "  Compute the arithmetic mean along the specified axes.",
        "  x: required",
        "  axis: default None",
        "  keepdims: default False",
    ])  # fmt: skip
    code, out = run("ops", "EINSUM")
    assert out.splitlines()[0] == "einsum(subscripts, *operands, **kwargs)"
    assert "  operands: any number of further positional arguments" in out
    code, out = run("ops", "arg*")
    names = [line.split(":")[0] for line in out.splitlines()]
    assert code == 0 and "argmax" in names and "argsort" in names and "max" not in names


def test_ops_says_why_an_op_is_refused() -> None:
    code, out = run("ops", "shape")
    assert (code, out) == (
        1,
        "Error: shape cannot be used in a spec: it returns a Python tuple, not a tensor; "
        "use node.shape[k] in a ${...} expression\n",
    )
    code, out = run("ops", "while_loop")
    assert (code, out) == (
        1,
        "Error: while_loop cannot be used in a spec: it calls a Python function; "
        "register a custom layer instead\n",
    )


@pytest.mark.parametrize("command", [[], *[[name] for name in main.commands]])
def test_every_command_has_help(command: list[str]) -> None:
    code, out = run(*command, "--help")
    assert code == 0
    assert out.startswith("Usage: ")


def test_python_dash_m_works_and_every_spec_validates() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "modelspec", "validate", *map(str, SPECS)],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count(": ok (") == len(SPECS)


def test_build_hides_tensorflow_start_up_chatter(tmp_path: Path) -> None:
    env = {k: v for k, v in __import__("os").environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    for extra in ({}, {"TF_CPP_MIN_LOG_LEVEL": "2"}):
        out = subprocess.run(
            [sys.executable, "-m", "modelspec", "build", "-q", GOOD],
            capture_output=True, text=True, cwd=ROOT, env=env | extra,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert out.stderr == ""
        assert "153,098 parameters" in out.stdout


REPEATED = """\
modelspec: 1
name: rep
vars: {n: 2}
inputs: [{name: x, shape: [4]}]
blocks:
  tower:
    params: {units: 3}
    inputs: [{name: v, shape: [4]}]
    layers: [{name: d, type: Dense, units: "${units}"}]
    outputs: [d]
layers:
  - {name: h, type: Dense, units: 4, repeat: "${n}"}
  - {name: t, block: tower, units: 5}
  - {name: out, expr: "t * 2"}
outputs: [out]
"""


def test_expand_prints_the_unrolled_spec(write_spec: Callable[..., str]) -> None:
    path = write_spec(REPEATED)
    code, out = run("expand", path)
    assert code == 0
    assert out.splitlines()[-6:] == [
        "layers:",
        "- {name: h_0, type: Dense, units: 4}  # line 12 (copy 1 of 2)",
        "- {name: h_1, type: Dense, units: 4}  # line 12 (copy 2 of 2)",
        "- {name: t, block: tower, units: 5}  # line 13",
        "- {name: out, expr: t * 2}  # line 14",
        "outputs: [out]",
    ]
    bad = write_spec(REPEATED.replace("units: 4,", "units: 0,"))
    code, out = run("expand", bad)
    assert code == 1
    assert "- {name: h_0, type: Dense, units: 0}  # line 12 (copy 1 of 2)" in out
    assert "spec.yaml:12:35: layers[0] (h_0).units: expected a positive integer." in out


def test_build_one_block_alone(write_spec: Callable[..., str]) -> None:
    path = write_spec(REPEATED)
    code, out = run("build", "-q", "--block", "tower", path)
    assert (code, out) == (0, "tower: 25 parameters (25 trainable, 0 non-trainable)\n")
    code, out = run("build", "--block", "towr", path)
    assert code == 2
    assert "no block 'towr' in spec.yaml. Did you mean 'tower'?" in out


def test_help_lists_every_verb_with_its_whole_first_sentence() -> None:
    code, out = run("--help")
    commands = out.split("Commands:")[1]
    assert code == 0 and "..." not in commands
    listed = [line.split()[0] for line in commands.splitlines() if line[2:3].isalpha()]
    assert listed == [
        "build", "evaluate", "expand", "export", "layers", "ops", "plot", "predict", "schema",
        "train", "tune", "validate",
    ]  # fmt: skip
    assert "export them." in out and "parameter\n            counts." in out


def test_layers_lists_every_match_the_exact_one_first() -> None:
    code, out = run("layers", "dense")
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("Dense [keras]: units, ")
    assert lines[-1] == (
        "also matching: CustomDense, EinsumDense, TwoInputDense, applications.DenseNet121, "
        "applications.DenseNet169, applications.DenseNet201, hub.DenseNetImageConverter"
    )
    code, out = run("layers")
    assert "Antirectifier [modelspec]: no arguments\n" in out


def test_a_built_model_file_carries_its_provenance(tmp_path: Path) -> None:
    from modelspec import read_provenance

    out = tmp_path / "m.keras"
    code, _ = run("build", "-q", GOOD, "-o", str(out))
    record = read_provenance(out)
    assert code == 0 and (record["format"], record["source"]) == ("keras", GOOD)
    assert record["spec"] == Path(GOOD).read_text(encoding="utf-8")
    assert load_model(out).name == "antirectifier_digits"
