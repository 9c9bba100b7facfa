"""Search spaces ({tune: ...}) and the tune: section, as validate sees them (no Keras)."""

from __future__ import annotations

import textwrap
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelspec.spec.filled import filled_text
from modelspec.spec.jsonschema import spec_json_schema
from modelspec.spec.loader import load_document
from modelspec.spec.spaces import Space, find
from modelspec.spec.validate import validate_spec

HEAD = """\
modelspec: 1
name: tiny
inputs: [{name: x, shape: [64]}]
layers:
"""
TAIL = """\
outputs: [out]
compile:
  optimizer: {type: adam, learning_rate: 1.0e-3}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
train: {data: {source: sklearn, name: digits}}
"""


def spec(layers: str, tail: str = TAIL) -> str:
    return HEAD + textwrap.indent(textwrap.dedent(layers).strip("\n"), "  ") + "\n" + tail


def messages(text: str) -> list[str]:
    return [d.format() for d in validate_spec(text).diagnostics]


def test_a_valid_space_validates_with_one_note_of_the_defaults() -> None:
    text = spec(
        """
        - {name: d, type: Dense, units: {tune: int, low: 8, high: 64, log: true}}
        - {name: drop, type: Dropout, rate: {tune: float, low: 0.0, high: 0.5, step: 0.1}}
        - {name: out, type: Dense, units: 10, use_bias: {tune: bool}}
        """
    )
    report = validate_spec(text)
    assert report.ok
    assert messages(text) == [
        "<string>:5:35: warning: layers[0].units: search spaces (3): build and train use "
        "their defaults (d.units=8, drop.rate=0.0, out.use_bias=false); `modelspec tune` "
        "searches them"
    ]
    assert report.spec is not None
    assert report.spec.layers[0].model_extra == {"units": 8}


@pytest.mark.parametrize(
    ("space", "message"),
    [
        (
            "{tune: int, low: 64, high: 8}",
            "<string>:5:35: layers[0].units: expected low <= high. Received: low=64, high=8",
        ),
        (
            "{tune: int, low: 0, high: 8, log: true}",
            "<string>:5:52: layers[0].units.low: expected a low above 0 with log: true (a log "
            "scale has no 0). Received: low=0",
        ),
        (
            "{tune: int, low: 1, high: 8, step: 3}",
            "<string>:5:70: layers[0].units.step: expected a step that divides high - low (7). "
            "Received: step=3: the values would stop at 7, short of high=8. Set high: 7, or a "
            "step that divides the range",
        ),
        (
            "{tune: choice, values: []}",
            "<string>:5:58: layers[0].units.values: a {tune: choice} search space needs "
            "`values:`, a list of at least one value, e.g. {tune: choice, values: [adam, "
            "rmsprop]}. Received: values=[]",
        ),
        (
            "{tune: float, low: 8, high: 64}",
            "<string>:5:35: layers[0] (d).units: expected a positive integer. Received: "
            "units=8.0 (at its search space's low=8.0, its default)",
        ),
        (
            "{tune: bool}",
            "<string>:5:35: layers[0] (d).units: expected a positive integer. Received: "
            "units=False (at its search space's values[0]=false, its default)",
        ),
        (
            "{tune: int, low: 1, high: 8, default: 0}",
            "<string>:5:73: layers[0].units.default: expected a default between low=1 and "
            "high=8. Received: default=0",
        ),
        (
            "{tune: int, low: 0, high: 8, default: 4}",
            "<string>:5:35: layers[0] (d).units: expected a positive integer. Received: "
            "units=0 (at its search space's low=0)",
        ),
        (
            "{tune: int, low: 0.5, high: 8}",
            "<string>:5:52: layers[0].units.low: expected an integer. Received: low=0.5; use "
            "{tune: float} for fractions",
        ),
        (
            "{tune: flaot, low: 1, high: 8}",
            "<string>:5:42: layers[0].units.tune: expected a search space kind: int, float, "
            "choice, bool. Received: tune='flaot'. Did you mean 'float'?",
        ),
        (
            "{tune: int, low: 1, hihg: 8}",
            "<string>:5:55: layers[0].units.hihg: unknown key 'hihg' in a {tune: int} search "
            "space (it takes low, high, step, log, default). Did you mean 'high'?",
        ),
        (
            "{tune: int, low: 1, high: 8, default: 9}",
            "<string>:5:73: layers[0].units.default: expected a default between low=1 and "
            "high=8. Received: default=9",
        ),
        (
            "{tune: float, low: 1.0e-4, high: 1.0, log: true, step: 0.1}",
            "<string>:5:90: layers[0].units.step: expected log: true or a step, not both "
            "(Optuna samples a log scale continuously). Received: log=true, step=0.1",
        ),
    ],
)
def test_a_bad_space_is_an_error_at_its_line(space: str, message: str) -> None:
    text = spec(
        f"- {{name: d, type: Dense, units: {space}}}\n- {{name: out, type: Dense, units: 10}}"
    )
    assert [m for m in messages(text) if "warning" not in m] == [message]


def test_each_end_of_a_space_and_each_choice_is_checked() -> None:
    text = spec(
        """
        - {name: d, type: Dense, units: 16}
        - {name: drop, type: Dropout, rate: {tune: float, low: 0.0, high: 1.5, step: 0.5}}
        - {name: act, type: Activation, activation: {tune: choice, values: [relu, tanhh]}}
        - {name: out, type: Dense, units: 10}
        """
    )
    assert messages(text) == [
        "<string>:6:39: layers[1] (drop).rate: expected a number between 0 and 1. Received: "
        "rate=1.5 (at its search space's high=1.5)",
        "<string>:7:47: layers[2] (act).activation: unknown activation 'tanhh'. Did you mean "
        "'tanh'? (at its search space's values[1]=tanhh)",
    ]


def test_a_problem_elsewhere_names_the_space_and_its_line() -> None:
    text = spec(
        """
        - {name: d, type: Dense, units: 16, activation: "${act}"}
        - {name: out, type: Dense, units: 10}
        """
    ).replace("inputs:", "vars:\n  act: {tune: choice, values: [relu, tanhh]}\ninputs:")
    assert messages(text) == [
        "<string>:7:51: layers[0] (d).activation: unknown activation 'tanhh'. Did you mean "
        "'tanh'? (when the search space vars.act, line 4, is at values[1]=tanhh)"
    ]


def test_a_default_that_breaks_an_expression_names_the_var_space() -> None:
    text = spec('- {name: out, type: Dense, units: "${2 * w}"}').replace(
        "inputs:", "vars: {w: {tune: int, low: -1, high: 4}}\ninputs:"
    )
    assert [m for m in messages(text) if "warning" not in m] == [
        "<string>:6:37: layers[0] (out).units: expected a positive integer. Received: "
        "units=-2 (when the search space vars.w, line 3, is at low=-1, its default)"
    ]


def test_a_bad_var_space_is_reported_once_not_again_where_it_is_used() -> None:
    """The use of a var whose space is not valid got the space's raw mapping: 'expected
    a positive integer. Received: units={'tune': 'int', ...}', a second error for one."""
    text = spec('- {name: out, type: Dense, units: "${w}"}').replace(
        "inputs:", "vars: {w: {tune: int, low: 16, high: 64, default: 99}}\ninputs:"
    )
    assert messages(text) == [
        "<string>:3:51: vars.w.default: expected a default between low=16 and high=64. "
        "Received: default=99"
    ]


def test_tune_section_objective_and_grid() -> None:
    text = (
        spec(
            "- {name: out, type: Dense, units: 10, use_bias: {tune: bool}}\n"
            "- {name: d, type: Dropout, rate: {tune: float, low: 0.0, high: 0.5}}",
        ).replace("outputs: [out]", "outputs: [d]")
        + "tune: {objective: val_acuracy, sampler: grid}\n"
    )
    assert [m for m in messages(text) if "warning" not in m] == [
        "<string>:6:36: layers[1].rate: the grid sampler tries every value, and {tune: float} "
        "d.rate has no step. Received: low=0.0, high=0.5. Give it a step (e.g. step: 0.1), or "
        "use sampler: tpe",
        "<string>:13:19: tune.objective: unknown quantity to monitor 'val_acuracy': training "
        "logs accuracy, loss, val_accuracy, val_loss. Did you mean 'val_accuracy'?",
    ]
    logged = text.replace(
        "{tune: float, low: 0.0, high: 0.5}", "{tune: float, low: 1.0e-4, high: 1.0e-2, log: true}"
    ).replace("val_acuracy", "val_accuracy")
    assert [m for m in messages(logged) if "warning" not in m] == [  # log: true takes no step
        "<string>:6:36: layers[1].rate: the grid sampler tries every value, and {tune: float} "
        "d.rate has no step. Received: low=0.0001, high=0.01, log=true. A log scale has no "
        "grid: list the values, e.g. {tune: choice, values: [0.0001, 0.001, 0.01]}, or use "
        "sampler: tpe",
    ]


def test_tune_section_without_a_space_warns_and_a_space_in_it_is_refused() -> None:
    text = spec("- {name: out, type: Dense, units: 10}") + "tune: {trials: 4}\n"
    assert messages(text) == [
        "<string>:12:1: warning: tune: this spec has a `tune:` section but no search space: "
        "`modelspec tune` would have nothing to search. Make a value one, e.g. units: "
        "{tune: int, low: 32, high: 512}"
    ]
    bad = (
        spec("- {name: out, type: Dense, units: 10}")
        + "tune: {trials: {tune: int, low: 1, high: 3}}\n"
    )
    assert [d.format() for d in validate_spec(bad).errors] == [
        "<string>:12:16: tune.trials: a search space cannot stand in `tune:`: the spec's study "
        "settings are fixed. Received: {'tune': 'int', 'low': 1, 'high': 3}"
    ]


def test_a_spec_with_spaces_meets_the_json_schema() -> None:
    text = (
        spec(
            """
        - {name: d, type: Dense, units: {tune: int, low: 8, high: 64}, activation: {tune: choice, values: [relu, tanh]}}
        - {name: out, type: Dense, units: 10}
        """
        )
        + "tune: {objective: val_accuracy, trials: 8, sampler: random, pruner: none}\n"
    )
    jsonschema.validate(load_document(text).data, spec_json_schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            load_document(text.replace("tune: int", "tune: integer")).data, spec_json_schema()
        )


def test_filled_text_keeps_comments_and_layout() -> None:
    doc = load_document(
        "# a comment\nvars:\n  width:   # how wide\n    tune: int\n    low: 8\n    high: 64\n"
        "layers:\n  - {name: d, units: {tune: int, low: 1, high: 4}}  # kept\n"
        "  - tune: choice\n    values: [a, b]\ntune: {trials: 3}\nafter: 1\n"
    )
    spaces, problems = find(doc)
    assert problems == [] and [s.name for s in spaces] == ["vars.width", "d.units", "layers.1"]
    values = {spaces[0].path: 32, spaces[1].path: 2, spaces[2].path: "b"}
    assert filled_text(doc, values, drop=("tune",)) == (
        "# a comment\nvars:\n  width: 32   # how wide\nlayers:\n  - {name: d, units: 2}  # kept\n  - b\n"
        "after: 1\n"
    )
    assert load_document(filled_text(doc, values)).data["vars"] == {"width": 32}


def test_filled_text_puts_a_space_set_on_the_command_line_in_the_text() -> None:
    """--set train.batch_size={tune: ...}: best.yaml is still the text, comments kept."""
    from modelspec.spec.loader import apply_overrides

    text = "# mine\ntrain:\n  batch_size: 64  # small\n  epochs: 30\nlayers: [{name: d}]\n"
    doc = load_document(text)
    apply_overrides(doc, ["train.batch_size={tune: choice, values: [16, 32]}", "train.epochs=2"])
    spaces, _ = find(doc)
    assert filled_text(doc, {spaces[0].path: 32}) == text.replace("64", "32")
    # a space inside a value --set replaced is not in the text: the data, dumped
    doc = load_document(text)
    apply_overrides(doc, ["layers=[{name: d, units: {tune: int, low: 1, high: 4}}]"])
    spaces, _ = find(doc)
    assert "units: 3" in filled_text(doc, {spaces[0].path: 3})


SCALAR = st.one_of(
    st.integers(-5, 600), st.floats(-1, 600, allow_nan=False), st.booleans(), st.text(max_size=3)
)


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(["int", "float", "choice", "bool", "other"]),
    fields=st.dictionaries(
        st.sampled_from(["low", "high", "step", "log", "default", "values", "extra"]),
        st.one_of(SCALAR, st.lists(SCALAR, max_size=4)),
        max_size=5,
    ),
)
def test_any_space_is_read_or_refused_with_a_located_message(
    kind: str, fields: dict[str, Any]
) -> None:
    doc = load_document({"layers": [{"name": "d", "units": {"tune": kind, **fields}}]})
    spaces, problems = find(doc)
    assert len(spaces) + len(problems) >= 1
    for problem in problems:
        assert problem.message and problem.path[:3] == ("layers", 0, "units")
    for space in spaces:
        assert isinstance(space, Space)
        if space.kind in ("int", "float"):
            assert space.low is not None and space.high is not None
            assert space.low <= space.default <= space.high
            grid = space.grid()
            if grid is not None:
                assert grid[0] == space.low and abs(grid[-1] - space.high) < 1e-6
        else:
            assert space.default in space.values


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("{direction: up}", "tune.direction: expected 'minimize' or 'maximize'"),
        ("{trials: 0}", "tune.trials: expected greater than 0. Received: trials=0"),
        ("{timeout: -5}", "tune.timeout: expected greater than 0. Received: timeout=-5"),
        ("{sampler: tpee}", "tune.sampler: expected 'tpe', 'random' or 'grid'"),
        ("{pruner: mediam}", "tune.pruner: expected 'median', 'hyperband' or 'none'"),
        ("{seeds: 1}", "tune.seeds: unknown key 'seeds'."),
    ],
)
def test_each_tune_setting_refuses_a_bad_value(section: str, message: str) -> None:
    text = spec("- {name: out, type: Dense, units: {tune: int, low: 8, high: 16}}")
    errors = [d.format() for d in validate_spec(text + f"tune: {section}\n").errors]
    assert len(errors) == 1 and message in errors[0], errors


def test_a_block_param_and_a_compile_choice_of_mappings_are_spaces() -> None:
    text = (
        HEAD.replace("layers:\n", "")
        + textwrap.dedent(
            """\
            blocks:
              mlp:
                params: {width: {tune: int, low: 8, high: 32, step: 8}}
                inputs: [h]
                layers:
                  - {name: d, type: Dense, units: "${width}"}
                outputs: [d]
            layers:
              - {name: b, block: mlp}
              - {name: out, type: Dense, units: 10}
            """
        )
        + TAIL.replace(
            "{type: adam, learning_rate: 1.0e-3}",
            "{tune: choice, values: [adam, {type: sgd, momentum: 0.9}]}",
        )
    )
    report = validate_spec(text)
    assert report.ok, [d.format() for d in report.diagnostics]
    assert [(s.name, s.default, s.by_index) for s in report.spaces] == [
        ("blocks.mlp.params.width", 8, False),
        ("compile.optimizer", "adam", True),
    ]
    assert report.spec is not None  # the default went into the instance's body
    assert report.spec.document.bodies["b"].data["layers"][0]["units"] == 8


def test_a_name_cannot_be_searched() -> None:
    text = spec("- {name: {tune: choice, values: [a, b]}, type: Dense, units: 10}")
    assert [d.format() for d in validate_spec(text.replace("[out]", "[a]")).errors][:1] == [
        "<string>:5:12: layers[0].name: a search space cannot stand in a `name:`: names are "
        "what references and logs go by, and stay as written. Received: {'tune': 'choice', "
        "'values': ['a', 'b']}"
    ]


CONDITIONAL = spec(
    """
    - {name: d, type: Dense, units: 16}
    - {name: out, type: Dense, units: 10}
    """,
    tail="""\
outputs: [out]
compile:
  optimizer:
    tune: choice
    values:
      - adam
      - {type: sgd, momentum: {tune: float, low: 0.5, high: 0.9}, nesterov: {tune: bool}}
  loss: sparse_categorical_crossentropy
train: {data: {source: sklearn, name: digits}}
""",
)


def test_a_space_inside_a_choice_s_value_is_searched_with_that_value() -> None:
    """Conditional spaces: named after their value, folded into it when it is picked,
    left out when another is; validate checks them with their value picked."""
    from modelspec.spec.spaces import fold, substitute

    doc = load_document(CONDITIONAL)
    spaces, problems = find(doc)
    assert problems == []
    assert [(s.name, s.within) for s in spaces] == [
        ("compile.optimizer", None),
        ("compile.optimizer[sgd].momentum", (("compile", "optimizer"), 1)),
        ("compile.optimizer[sgd].nesterov", (("compile", "optimizer"), 1)),
    ]
    choice, momentum, nesterov = (s.path for s in spaces)
    sgd = spaces[0].values[1]
    picked = {choice: sgd, momentum: 0.7, nesterov: True}
    assert fold(doc.data, picked) == {choice: {"type": "sgd", "momentum": 0.7, "nesterov": True}}
    assert fold(doc.data, picked | {choice: "adam"}) == {choice: "adam"}
    data = substitute(doc, picked).data
    assert data["compile"]["optimizer"] == {"type": "sgd", "momentum": 0.7, "nesterov": True}
    report = validate_spec(CONDITIONAL)
    assert report.ok and "compile.optimizer[sgd].momentum=0.5" in report.warnings[0].message
    text = filled_text(doc, picked)
    assert "  optimizer: {type: sgd, momentum: 0.7, nesterov: true}\n" in text


def test_a_bad_value_of_a_space_inside_a_choice_is_reported_at_that_space() -> None:
    bad = CONDITIONAL.replace(
        "{tune: float, low: 0.5, high: 0.9}", "{tune: choice, values: [0.5, fast]}"
    )
    assert [d.format() for d in validate_spec(bad).errors] == [
        "<string>:13:31: compile.optimizer.momentum: expected a number. Received: "
        "momentum='fast' (at its search space's values[1]=fast)"
    ]
    grid = bad.replace("[0.5, fast]", "[0.5, 0.9]") + "tune: {sampler: grid}\n"
    assert [d.format() for d in validate_spec(grid).errors] == [
        "<string>:13:31: compile.optimizer.values[1].momentum: the grid sampler tries every "
        "combination of one fixed set of spaces, and compile.optimizer[sgd].momentum is "
        "searched only when its choice is picked. Received: a search space inside a "
        "choice's value. List its values as choices of their own, or use sampler: tpe",
        "<string>:13:77: compile.optimizer.values[1].nesterov: the grid sampler tries every "
        "combination of one fixed set of spaces, and compile.optimizer[sgd].nesterov is "
        "searched only when its choice is picked. Received: a search space inside a "
        "choice's value. List its values as choices of their own, or use sampler: tpe",
    ]
    jsonschema.validate(load_document(CONDITIONAL).data, spec_json_schema())


@pytest.mark.parametrize(
    ("space", "message"),
    [
        (
            "{tune: float, low: 0, high: 1.0e+308, step: 5.0e-324}",
            "<string>:5:79: layers[0].units.step: expected a step that divides high - low "
            "(1e+308) into a countable number of values. Received: step=5e-324",
        ),
        (
            "{tune: float, low: -1.0e+308, high: 1.0e+308}",
            "<string>:5:35: layers[0].units: expected a range a float can hold: high - low "
            "overflows. Received: low=-1e+308, high=1e+308",
        ),
        (
            "{tune: int, low: 1, high: " + "1" + "0" * 400 + "}",
            "<string>:5:61: layers[0].units.high: expected a number between -2**53 and 2**53 "
            "(Optuna samples through floats, which count exactly up to there). Received: "
            "high=10^400",
        ),
        (
            "{tune: int, low: 1, high: 9007199254740993}",
            "<string>:5:61: layers[0].units.high: expected a number between -2**53 and 2**53 "
            "(Optuna samples through floats, which count exactly up to there). Received: "
            "high=9007199254740993",
        ),
        (
            "{tune: bool, default: 1}",
            "<string>:5:57: layers[0].units.default: expected a default among the space's "
            "values [False, True]. Received: default=1",
        ),
        (
            "{tune: choice, values: [1, 2], default: true}",
            "<string>:5:75: layers[0].units.default: expected a default among the space's "
            "values [1, 2]. Received: default=True",
        ),
    ],
)
def test_hostile_numbers_in_a_space_are_located_errors(space: str, message: str) -> None:
    # these raised OverflowError (a float step that counts to inf, an int past a float),
    # or took `true` for the choice 1
    text = spec(
        f"- {{name: d, type: Dense, units: {space}}}\n- {{name: out, type: Dense, units: 10}}"
    )
    assert [d.format() for d in validate_spec(text).errors] == [message]


@pytest.mark.parametrize(
    ("layer", "received"),
    [
        (
            "{name: d, type: Dense, units: {tune: int, low: 1, high: 9007199254740992}}",
            "about 10^15 combinations (d.units has about 10^15 values)",
        ),
        (
            "{name: d, type: Dropout, rate: {tune: float, low: 0, high: 0.5, step: 1.0e-9}}",
            "500,000,001 combinations (d.rate has 500,000,001 values)",
        ),
    ],
)
def test_a_grid_too_large_to_list_is_refused_without_listing_it(layer: str, received: str) -> None:
    # grid() listed every value: an OverflowError, or minutes and gigabytes, in validate
    text = spec(f"- {layer}\n- {{name: out, type: Dense, units: 10}}")
    errors = [d.format() for d in validate_spec(text + "tune: {sampler: grid}\n").errors]
    assert errors == [
        "<string>:13:17: tune.sampler: expected a grid of at most 100,000 combinations: the "
        f"grid sampler lists and tries every one. Received: {received}. Give the spaces "
        "larger steps or fewer values, or use sampler: tpe"
    ]


def test_choices_past_the_checked_variants_are_said() -> None:
    # 0 is the 100th choice: past MAX_VARIANTS, it was never checked, and nothing said so
    values = ", ".join(map(str, [*range(1, 100), 0]))
    text = spec(
        f"- {{name: d, type: Dense, units: {{tune: choice, values: [{values}]}}}}\n"
        "- {name: out, type: Dense, units: 10}"
    )
    report = validate_spec(text)
    assert report.ok
    assert report.diagnostics[0].format() == (
        "<string>:5:35: warning: layers[0].units: validate checks the spec at 64 of the 99 "
        "ends and choices of its search spaces; 35 more (d.units) are not checked: a trial "
        "that samples one that makes an invalid model fails, and the study goes on"
    )


def test_a_space_in_a_fixed_key_and_seeds_out_of_range() -> None:
    text = spec("- {name: out, type: Dense, units: {tune: int, low: 8, high: 16}}")
    assert [d.format() for d in validate_spec(text + "backend: {tune: bool}\n").errors] == [
        "<string>:12:10: backend: a search space cannot stand in `backend:`: it is fixed. "
        "Received: {'tune': 'bool'}"
    ]
    # NumPy and Optuna's samplers take seeds from 0 to 2**32 - 1: a tune crashed on them
    seeded = text.replace("name: digits}", "name: digits}, seed: -1")
    assert [d.format() for d in validate_spec(seeded + "tune: {seed: 4294967296}\n").errors] == [
        "<string>:11:54: train.seed: expected greater than or equal to 0. Received: seed=-1",
        "<string>:12:14: tune.seed: expected less than 4294967296. Received: seed=4294967296",
    ]


def test_substitute_does_not_copy_the_spaces_it_replaces() -> None:
    # validate substitutes each end of each space into a copy of the spec: copying 60
    # spaces of 10,000 values each time took minutes; the replaced spaces go uncopied
    class NoCopy:
        def __deepcopy__(self, memo: Any) -> Any:
            raise AssertionError("a replaced space was copied")

    from modelspec.spec.spaces import substitute

    doc = load_document({"a": {"tune": "choice", "values": [NoCopy()]}, "b": [1, {"c": 2}]})
    new = substitute(doc, {("a",): 3})
    assert new.data == {"a": 3, "b": [1, {"c": 2}]}
    assert new.data["b"] is not doc.data["b"] and new.data["b"][1] is not doc.data["b"][1]


def test_a_problem_of_a_choice_s_mapping_is_reported_at_the_mapping_not_the_choice() -> None:
    """At the value's own line (12, 13), not the choice's `tune: choice` (line 9)."""
    text = spec(
        """
        - name: d
          type: Dense
          units: 8
          kernel_initializer:
            tune: choice
            values:
              - glorot_uniform
              - {class_name: RandomNormal, config: {stddev: {tune: float, low: 0.01, high: 0.1}}}
              - class_name: Orthogonal
                config: {gain: {tune: float, low: 0.5, high: 2.0}}
        - {name: out, type: Dense, units: 10}
        """
    )
    assert [d.format() for d in validate_spec(text).errors] == []
    bad = text.replace("RandomNormal", "RandomNormall").replace("Orthogonal", "Orthogonall")
    assert [d.format().split(": unknown")[0] for d in validate_spec(bad).errors] == [
        "<string>:12:24: layers[0] (d).kernel_initializer.class_name",
        "<string>:13:23: layers[0] (d).kernel_initializer.class_name",
    ]
