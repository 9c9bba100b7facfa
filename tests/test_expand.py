"""Variables and expressions: ``vars:`` and ``${...}`` (modelspec.spec.expand)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelspec import build_model, load_spec, validate_spec
from modelspec.spec.expand import expand
from modelspec.spec.loader import apply_overrides, load_document
from modelspec.spec.scalars import ExpressionError, evaluate, substitute

SPEC = """\
modelspec: 1
name: m
vars: {dim: 32, width: "${dim * 2}", act: relu}
inputs:
  - {name: x, shape: ["${dim}"]}
layers:
  - {name: "d_${dim}", type: Dense, units: "${width}", activation: "${act}"}
  - {name: out, type: Dense, units: "${max(2, dim // 16)}"}
outputs: [out]
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2 + 3 * 4", 14),
        ("(2 + 3) * 4", 20),
        ("dim // 3", 10),
        ("dim / 4", 8.0),
        ("dim % 5", 2),
        ("2 ** 10", 1024),
        ("-dim + +1", -31),
        ("1e-3 * 10", 0.01),
        ("min(dim, 8) + max(1, 2) + abs(-3)", 13),
        ("round(2.5) + int(3.9) + float(1)", 6.0),
        ("round(3.14159, 2)", 3.14),
    ],
)
def test_expressions_evaluate_with_python_arithmetic(text: str, expected: Any) -> None:
    value = evaluate(text, {"dim": 32})
    assert value == pytest.approx(expected) and type(value) is type(expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dimm + 1", "unknown name 'dimm'. Did you mean 'dim'?"),
        ("1 / 0", "division by zero"),
        ("2 ** 2 ** 10", "2 ** 1024 is too large"),
        ("10 ** 30", "10 ** 30 is too large"),
        ("__import__('os')", "'__import__('os')' is not something expressions have: numbers, "
         "vars, + - * / // % **, parentheses, min, max, abs, round, int, float and node.shape[k]"),
        ("dim.bit_length()", "'dim.bit_length()' is not something expressions have"),
        ("'a' * 3", "''a'' is not something expressions have"),
        ("True + 1", "'True' is not something expressions have"),
        ("max(dim, key=abs)", "'max(dim, key=abs)' is not something expressions have"),
        ("1 +", "cannot parse the expression (invalid syntax)"),
        ("x" * 1_001, "expected an expression of at most 1,000 characters"),
        ("(" * 300 + "1" + ")" * 300, "cannot parse the expression"),
    ],
)  # fmt: skip
def test_what_expressions_refuse(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as err:
        evaluate(text, {"dim": 32})
    assert str(err.value).startswith(message)


def test_a_whole_expression_keeps_its_type_and_a_longer_string_interpolates() -> None:
    assert substitute("${dim * 2}", {"dim": 32}) == 64
    assert substitute("d_${dim}_${dim + 1}", {"dim": 32}) == "d_32_33"
    assert substitute("no expression", {}) == "no expression"
    with pytest.raises(ExpressionError, match="closing"):
        substitute("d_${dim", {"dim": 32})


def test_vars_and_expressions_build(write_spec: Callable[..., str]) -> None:
    path = write_spec(SPEC)
    spec = load_spec(path)
    assert spec.inputs[0].shape == [32]
    assert spec.layers[0].name == "d_32" and spec.layers[0].args == {
        "units": 64,
        "activation": "relu",
    }
    assert spec.vars == {"dim": 32, "width": 64, "act": "relu"}
    assert build_model(spec).count_params() == (32 * 64 + 64) + (64 * 2 + 2)


def test_set_changes_a_var_for_one_run(write_spec: Callable[..., str]) -> None:
    doc = load_document(write_spec(SPEC))
    apply_overrides(doc, ["vars.dim=4"])
    spec = load_spec(doc)
    assert spec.inputs[0].shape == [4] and spec.layers[0].args["units"] == 8


def test_expression_problems_are_located_at_their_value(write_spec: Callable[..., str]) -> None:
    path = write_spec(
        """\
modelspec: 1
name: m
vars: {dim: 32, bad: "${later + 1}", later: 3}
inputs:
  - {name: x, shape: ["${dim}"]}
layers:
  - {name: e, type: Dense, units: "${dimm - 1}"}
  - {name: f, type: Dropout, rate: "${1 / 0}"}
  - {name: i, type: Dense, units: "${dim - 40}"}
outputs: [i]
"""
    )
    assert [d.format() for d in validate_spec(path).errors] == [
        "spec.yaml:3:22: vars.bad: unknown name 'later'. Known: dim. ('later' comes later in "
        "vars: vars are read in order) (in '${later + 1}')",
        "spec.yaml:7:35: layers[0] (e).units: unknown name 'dimm'. Did you mean 'dim'? "
        "(in '${dimm - 1}')",
        "spec.yaml:8:36: layers[1] (f).rate: division by zero (in '${1 / 0}')",
        "spec.yaml:9:35: layers[2] (i).units: expected a positive integer. Received: units=-8",
    ]


def test_a_spec_without_expressions_is_left_as_it_is() -> None:
    doc = load_document("modelspec: 1\nname: m\nprice: '$5'\n")
    assert expand(doc) == (doc, [])


def test_a_name_without_vars_says_where_to_declare_it() -> None:
    with pytest.raises(ExpressionError) as err:
        evaluate("dim * 2", {})
    assert str(err.value) == "unknown name 'dim'. Declare it under `vars:`."


def test_vars_cannot_lead_a_run_out_of_its_directory(write_spec: Callable[..., str]) -> None:
    spec = SPEC.replace("act: relu}", "act: relu, where: ../..}") + (
        "compile: {loss: mse}\ntrain:\n  data: {source: sklearn, name: iris}\n"
        '  callbacks: [{type: csv_logger, filename: "${where}/h.csv"}]\n'
    )
    assert [d.message.split(".")[0] for d in validate_spec(write_spec(spec)).errors] == [
        "expected a path relative to the run directory, staying inside it"
    ]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_any_text_in_an_expression_is_reported_not_raised(text: str) -> None:
    spec = SPEC.replace("${width}", "${" + text.replace("}", "") + "}")
    report = validate_spec(spec + "\n")
    assert all(d.line >= 1 and len(d.message) <= 1_000 for d in report.errors)
