"""compile: losses and metrics as names or ``{type: Class, ...args}``; outputs without a loss."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from modelspec import build_model, load_model, train, validate_spec
from modelspec.cli import main
from modelspec.spec.validate.compile import logged_names

from .conftest import SMALL

#: Two outputs on digits: class logits, and an auxiliary head (3 numbers).
TWO = """\
modelspec: 1
name: two
inputs:
  - {name: pixels, shape: [64]}
layers:
  - {name: h, type: Dense, units: 16, activation: relu}
  - {name: logits, type: Dense, units: 10}
  - {name: aux, type: Dense, units: 3, inputs: h}
"""
DIGITS = """\
train:
  data: {source: sklearn, name: digits, targets: {logits: y}, transform: {pixels: [{divide_by: 16}]}}
  epochs: 1
  batch_size: 128
  verbose: 0
"""


def lines(spec: str) -> list[str]:
    return [d.format() for d in validate_spec(spec).diagnostics]


def small(compile_: str) -> str:
    """SMALL with its compile section's loss and metrics lines replaced, its output
    logits (its losses say `from_logits: true`)."""
    logits = SMALL.replace("units: 10, activation: softmax}", "units: 10}")
    head, tail = logits.split("  loss: sparse_categorical_crossentropy\n  metrics: [accuracy]\n")
    return head + compile_ + tail


@pytest.mark.parametrize(
    ("compile_", "expected"),
    [
        (
            "  loss: {type: SparseCategoricalCrossentropy, from_logit: true}\n",
            "spec.yaml:11:47: compile.loss.from_logit: unknown argument 'from_logit' for "
            "SparseCategoricalCrossentropy. Did you mean 'from_logits'?",
        ),
        (
            "  loss: sparse_categorical_crossentropy\n  metrics: [{type: AUC, nam: auc}]\n",
            "spec.yaml:12:25: compile.metrics[0].nam: unknown argument 'nam' for AUC. "
            "Did you mean 'name'?",
        ),
        (
            "  loss: {type: SparseCategoricalCrosentropy}\n",
            "spec.yaml:11:16: compile.loss.type: unknown loss class 'SparseCategoricalCrosentropy' "
            "(a {type: ...} loss names a class such as BinaryCrossentropy). "
            "Did you mean 'SparseCategoricalCrossentropy'?",
        ),
        (
            "  loss: {type: SparseCategoricalCrossentropy, from_logits: 'yes'}\n",
            "spec.yaml:11:60: compile.loss.from_logits: expected a boolean (true or false). "
            "Received: from_logits='yes'",
        ),
        (
            "  loss: {type: BinaryCrossentropy, label_smoothing: 1.5}\n",
            "spec.yaml:11:53: compile.loss.label_smoothing: expected a number between 0 and 1. "
            "Received: label_smoothing=1.5",
        ),
        (
            "  loss: {from_logits: true}\n",
            "spec.yaml:11:9: compile.loss: missing required key 'type' (the loss's class, such "
            "as BinaryCrossentropy)",
        ),
        (
            "  loss: {type: 3}\n",
            "spec.yaml:11:16: compile.loss.type: expected a loss class name such as "
            "BinaryCrossentropy. Received: type=3",
        ),
        (
            "  loss: sparse_categorical_crossentropy\n  metrics: [{}]\n",
            "spec.yaml:12:13: compile.metrics[0]: missing required key 'type' (the metric's "
            "class, such as AUC)",
        ),
        (
            "  loss: sparse_categorical_crossentropy\n  metrics: [{type: SparseTopKCategoricalAccuracy, kk: 3}]\n",
            "spec.yaml:12:51: compile.metrics[0].kk: unknown argument 'kk' for "
            "SparseTopKCategoricalAccuracy. Did you mean 'k'?",
        ),
        (
            "  loss: sparse_categorical_crossentropy\n  metrics: [{type: SparseTopKCategoricalAccuracy, k: 2.5}]\n",
            "spec.yaml:12:54: compile.metrics[0].k: expected an integer. Received: k=2.5",
        ),
        (
            "  loss: sparse_categorical_crossentropy\n  metrics: [{type: AUC, name: 'a b'}]\n",
            "spec.yaml:12:31: compile.metrics[0].name: expected a name of letters, digits and "
            "_ . - (the name it logs under). Received: name='a b'",
        ),
        (
            "  loss: sparse_categorical_crossentropy\n  metrics: [{type: Mean}]\n",
            "spec.yaml:12:20: compile.metrics[0].type: unknown metric class 'Mean' (a {type: "
            "...} metric names a class such as AUC). Did you mean 'MeanIoU'?",
        ),
        (
            "  loss: {probs: null}\n",
            "spec.yaml:11:9: compile.loss: expected a loss for at least one output (probs). "
            "Received: loss={'probs': None}. A model trained by add_loss terms alone leaves "
            "`loss:` out.",
        ),
        (
            "  loss: {type: BinaryCrossentropy, reduction: avg}\n",
            "spec.yaml:11:47: compile.loss.reduction: expected one of 'sum_over_batch_size', "
            "'sum', 'mean', 'mean_with_sample_weight', 'none'. Received: reduction='avg'",
        ),
        (
            "  loss: mse\n  metrics: [{type: AUC, curve: ROC, summation_method: bogus}]\n",
            "spec.yaml:12:55: compile.metrics[0].summation_method: expected one of "
            "'interpolation', 'majoring', 'minoring'. Received: summation_method='bogus'",
        ),
        (
            "  loss: {probs: 5}\n",
            "spec.yaml:11:17: compile.loss.probs: expected a loss name or {type: "
            "BinaryCrossentropy, ...}. Received: 5",
        ),
        (
            "  loss: {probs: {type: Huber, delta: -1, reduction: 3}}\n",
            "spec.yaml:11:53: compile.loss.probs.reduction: expected one of "
            "'sum_over_batch_size', 'sum', 'mean', 'mean_with_sample_weight', 'none'. Received: "
            "reduction=3",
        ),
    ],
)
def test_each_bad_configured_loss_or_metric_is_reported_at_its_line(
    compile_: str, expected: str, write_spec: Callable[..., str]
) -> None:
    assert lines(write_spec(small(compile_))) == [expected]


def test_configured_losses_and_metrics_validate_in_every_place_a_name_goes(
    write_spec: Callable[..., str],
) -> None:
    for compile_ in (
        "  loss: {type: SparseCategoricalCrossentropy, from_logits: true}\n",
        "  loss: [{type: SparseCategoricalCrossentropy, ignore_class: 3}]\n",
        "  loss: {probs: {type: sparse_categorical_crossentropy}}\n",
        "  loss: ce\n  metrics: [acc, {type: SparseTopKCategoricalAccuracy, k: 3}, "
        "{type: AUC, name: auc, from_logits: true}]\n",
        "  loss: mse\n  metrics: {probs: [{type: BinaryCrossentropy, label_smoothing: 0.1}]}\n",
    ):
        assert lines(write_spec(small(compile_))) == [], compile_


def test_outputs_without_a_loss_are_warned_about_and_checked(
    write_spec: Callable[..., str],
) -> None:
    three = TWO + "  - {name: extra, type: Dense, units: 1, inputs: h}\n"
    path = write_spec(
        three
        + """\
outputs: [logits, aux, extra]
compile:
  loss: {logits: ce, aux: null}
  loss_weights: {logits: 1.0, aux: 2.0}
  metrics: {aux: [mae], extra: [mse]}
train:
  data: {source: sklearn, name: digits, targets: {logits: y, aux: y}}
"""
    )
    assert lines(path) == [
        "spec.yaml:12:9: warning: compile.loss: output 'extra' has no loss (compile.loss does "
        "not name it): training leaves it out, and the data need no target for it",
        "spec.yaml:12:27: warning: compile.loss.aux: output 'aux' has no loss (null): training "
        "leaves it out, and the data need no target for it",
        "spec.yaml:13:31: compile.loss_weights.aux: output 'aux' has no loss (compile.loss maps "
        "it to null), so it takes no loss weight. Give it a loss, or drop its weight.",
        "spec.yaml:14:13: compile.metrics.aux: output 'aux' has no loss, so it takes no metrics: "
        "they would need a target, which an output without a loss does not get. Give it a loss "
        "(with loss_weights {aux: 0} it does not change training), or drop its metrics.",
        "spec.yaml:14:25: compile.metrics.extra: output 'extra' has no loss, so it takes no "
        "metrics: they would need a target, which an output without a loss does not get. Give "
        "it a loss (with loss_weights {extra: 0} it does not change training), or drop its "
        "metrics.",
        "spec.yaml:16:62: warning: train.data.targets.aux: output 'aux' has no loss, so it takes "
        "no target: this target is not used",
    ]
    as_list = write_spec(
        TWO + "outputs: [logits, aux]\ncompile: {loss: [null, null], metrics: [acc, mae]}\n"
    )
    assert lines(as_list) == [
        "spec.yaml:10:17: compile.loss: expected a loss for at least one output (logits, aux). "
        "Received: loss=[None, None]. A model trained by add_loss terms alone leaves `loss:` out."
    ]
    listed = write_spec(
        TWO + "outputs: [logits, aux]\ncompile: {loss: [ce, null], metrics: [acc, mae]}\n"
    )
    assert lines(listed) == [
        "spec.yaml:10:22: warning: compile.loss[1]: output 'aux' has no loss (null): training "
        "leaves it out, and the data need no target for it",
        "spec.yaml:10:44: compile.metrics[1]: output 'aux' has no loss, so it takes no metrics: "
        "they would need a target, which an output without a loss does not get. Give it a loss "
        "(with loss_weights {aux: 0} it does not change training), or drop its metrics.",
    ]
    weights = write_spec(
        three + "outputs: [logits, aux, extra]\n"
        "compile: {loss: {logits: ce, aux: null, extra: mse}, loss_weights: [1, 2, 3]}\n"
    )
    assert [line for line in lines(weights) if "warning" not in line] == [
        "spec.yaml:11:68: compile.loss_weights: expected one weight per loss (2: logits, extra). "
        "Received 3: loss_weights=[1, 2, 3]"
    ]


def test_one_configured_loss_for_every_output_takes_a_weight_per_output(
    write_spec: Callable[..., str],
) -> None:
    path = write_spec(
        TWO + "outputs: [logits, aux]\ncompile: {loss: {type: Huber}, loss_weights: [1]}\n"
    )
    assert lines(path) == [
        "spec.yaml:10:46: compile.loss_weights: expected one entry per output (2: logits, aux). "
        "Received 1: loss_weights=[1]"
    ]


def test_unknown_outputs_in_per_output_metrics_are_reported(
    write_spec: Callable[..., str],
) -> None:
    path = write_spec(
        TWO + "outputs: [logits, aux]\ncompile: {loss: {logits: ce}, metrics: {logit: [acc]}}\n"
    )
    assert [line for line in lines(path) if "warning" not in line] == [
        "spec.yaml:10:41: compile.metrics.logit: unknown output 'logit' (the outputs are "
        "logits, aux). Did you mean 'logits'?"
    ]


@pytest.mark.parametrize(
    ("metrics", "logged"),
    [
        ("[{type: AUC}]", {"auc"}),
        ("[{type: AUC, name: roc}]", {"roc"}),
        ("[{type: SparseTopKCategoricalAccuracy, k: 3}]", {"sparse_top_k_categorical_accuracy"}),
        ("[{type: LogCoshError}, {type: FBetaScore}]", {"logcosh", "fbeta_score"}),
        ("[acc, {type: Precision}]", {"acc", "precision"}),
    ],
)
def test_logged_names_know_configured_metrics(metrics: str, logged: set[str]) -> None:
    data = {"outputs": ["probs"], "compile": {"loss": "mse", "metrics": _yaml(metrics)}}
    assert logged_names(data) == {"loss"} | logged


def test_logged_names_leave_out_the_loss_of_outputs_without_one() -> None:
    data = {
        "outputs": {"a": "x", "b": "y", "c": "z"},
        "compile": {
            "loss": {"a": "ce", "b": None, "c": "mse"},
            "metrics": {"a": [{"type": "AUC"}]},
        },
    }
    assert logged_names(data) == {"loss", "a_loss", "c_loss", "a_auc"}
    data["compile"]["loss"] = {"a": "ce", "b": None}
    assert logged_names(data) == {"loss", "a_auc"}


def test_monitored_metrics_get_their_direction(write_spec: Callable[..., str]) -> None:
    from modelspec import load_spec
    from modelspec.training.callbacks import monitor_mode

    path = write_spec(
        TWO
        + """\
outputs: {digit: logits, aux: aux}
compile:
  loss: {digit: ce, aux: mse}
  metrics:
    digit: [acc, {type: AUC, name: roc}, {type: SparseTopKCategoricalAccuracy}]
    aux: [mae, {type: MeanSquaredError}]
"""
    )
    spec = load_spec(path)
    assert {
        m: monitor_mode(spec, m)
        for m in (
            "val_digit_acc",
            "val_digit_roc",
            "digit_sparse_top_k_categorical_accuracy",
            "val_aux_mae",
            "aux_mean_squared_error",
            "val_aux_loss",
            "loss",
        )
    } == {
        "val_digit_acc": "max",
        "val_digit_roc": "max",
        "digit_sparse_top_k_categorical_accuracy": "max",
        "val_aux_mae": "min",
        "aux_mean_squared_error": "min",
        "val_aux_loss": "min",
        "loss": "min",
    }


def _yaml(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def test_a_model_with_an_output_without_a_loss_trains_without_its_target(
    write_spec: Callable[..., str], tmp_path: Path, recwarn: pytest.WarningsRecorder
) -> None:
    path = write_spec(
        TWO
        + """\
outputs: {digit: logits, aux: aux}
compile:
  loss: {digit: {type: SparseCategoricalCrossentropy, from_logits: true}, aux: null}
  metrics: {digit: [{type: SparseTopKCategoricalAccuracy, k: 3, name: top3}, acc]}
"""
        + DIGITS.replace("targets: {logits: y}", "targets: {digit: y}")
        + "  monitor: val_digit_top3\n  callbacks: [{type: early_stopping, patience: 2}]\n"
    )
    report = validate_spec(path)
    assert report.ok
    result = train(path, out_dir=tmp_path / "runs")
    assert set(result.history) == {"loss", "digit_top3", "digit_acc"} | {
        "val_loss",
        "val_digit_top3",
        "val_digit_acc",
    }
    assert logged_names(report.spec.document.data) == {"loss", "digit_top3", "digit_acc"}  # type: ignore[union-attr]
    assert np.isfinite(result.metrics["loss"])
    # Keras's "Gradients do not exist for variables ['aux/kernel', 'aux/bias']" (did you
    # forget a loss?) is expected of an output without a loss: validate said so already
    assert not [w for w in recwarn if "Gradients do not exist" in str(w.message)]
    model = load_model(result.run_dir / "model.keras")
    assert sorted(model.output_names) == ["aux", "logits"]
    assert model.loss["aux"] is None


def test_an_output_left_out_of_a_list_model_trains_with_weights(
    write_spec: Callable[..., str], tmp_path: Path
) -> None:
    three = TWO + "  - {name: value, type: Dense, units: 1, inputs: h}\n"
    path = write_spec(
        three
        + """\
outputs: [aux, logits, value]
compile:
  loss: {logits: sparse_categorical_crossentropy, value: mse}
  loss_weights: [1.0, 0.0]
  metrics: {logits: [acc]}
"""
        + DIGITS.replace("targets: {logits: y}", "targets: {logits: y, value: y}")
    )
    result = train(path, out_dir=tmp_path / "runs")
    assert set(result.history) >= {"loss", "logits_loss", "value_loss", "logits_acc"}
    assert "aux_loss" not in result.history
    # the weight 0 on value: the total is the classification loss alone
    last = {k: v[-1] for k, v in result.history.items()}
    assert last["loss"] == pytest.approx(last["logits_loss"], rel=1e-3)


def test_configured_loss_and_metric_survive_a_safe_mode_round_trip(
    write_spec: Callable[..., str], tmp_path: Path
) -> None:
    import keras

    path = write_spec(
        small(
            "  loss: {type: SparseCategoricalCrossentropy, from_logits: true}\n"
            "  metrics: [{type: SparseTopKCategoricalAccuracy, k: 3, name: top3}]\n"
        ).replace("activation: softmax", "activation: linear")
    )
    model = build_model(path)
    loss = model.loss
    assert isinstance(loss, keras.losses.SparseCategoricalCrossentropy)
    assert loss.get_config()["from_logits"] is True
    rng = np.random.default_rng(0)
    x, y = rng.random((32, 64), np.float32), rng.integers(0, 10, 32)
    model.fit(x, y, epochs=1, verbose=0)
    before = model.evaluate(x, y, verbose=0, return_dict=True)
    model.save(tmp_path / "m.keras")
    again = load_model(tmp_path / "m.keras")
    assert isinstance(again.loss, keras.losses.SparseCategoricalCrossentropy)
    assert again.loss.get_config()["from_logits"] is True
    after = again.evaluate(x, y, verbose=0, return_dict=True)
    assert set(before) == set(after) == {"loss", "top3"}
    assert after == pytest.approx(before, rel=1e-5)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0))


def test_labels_are_checked_against_a_configured_loss_before_training(
    write_spec: Callable[..., str], tmp_path: Path
) -> None:
    from modelspec.errors import DataError

    path = write_spec(
        small("  loss: {type: SparseCategoricalCrossentropy, from_logits: true}\n").replace(
            "units: 10}", "units: 5}"
        )
    )
    with pytest.raises(DataError) as err:
        train(path, out_dir=tmp_path / "runs")
    assert err.value.diagnostics[0].format() == (
        "spec.yaml:14:5: train.data: expected class ids in [0, 5) for the loss "
        "SparseCategoricalCrossentropy on the output 'probs' (shape (5,)). Received: values "
        "from 0 to 9. Give the output 10 units, or re-map the labels"
    )


def test_a_registered_loss_class_takes_checked_arguments(
    write_spec: Callable[..., str], clean_registry: None
) -> None:
    import keras

    from modelspec import register_loss

    @register_loss("ScaledMSE")
    class ScaledMSE(keras.losses.Loss):
        def __init__(self, scale: float = 1.0, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.scale = scale

        def call(self, y_true: Any, y_pred: Any) -> Any:
            return self.scale * keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "scale": self.scale}

    good = write_spec(small("  loss: {type: ScaledMSE, scale: 0.5}\n"))
    assert lines(good) == []
    model = build_model(good)
    assert isinstance(model.loss, ScaledMSE) and model.loss.scale == 0.5
    bad = write_spec(small("  loss: {type: ScaledMSE, scal: 0.5}\n"))
    assert lines(bad) == [
        "spec.yaml:11:27: compile.loss.scal: unknown argument 'scal' for ScaledMSE. "
        "Did you mean 'scale'?"
    ]
    function = write_spec(small("  loss: {type: max_penalty_crossentropy, weight: 2}\n"))
    assert lines(function) == [
        "spec.yaml:11:16: compile.loss.type: registered loss 'max_penalty_crossentropy' is a "
        "function: it takes no arguments. Name it alone (`max_penalty_crossentropy`), or "
        "register a keras.losses.Loss subclass to configure it."
    ]


def test_the_cli_warns_about_an_output_without_a_loss(write_spec: Callable[..., str]) -> None:
    path = write_spec(TWO + "outputs: [logits, aux]\ncompile: {loss: {logits: ce, aux: null}}\n")
    result = CliRunner().invoke(main, ["build", "-q", path])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        "spec.yaml:10:35: warning: compile.loss.aux: output 'aux' has no loss (null): "
        "training leaves it out, and the data need no target for it"
    )


def test_the_readme_compile_example_validates(write_spec: Callable[..., str]) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("compile:\n  loss:\n    priority:")
    example = readme[start : readme.index("```", start)]
    path = write_spec(
        "modelspec: 1\nname: guide\ninputs:\n  - {name: x, shape: [8]}\nlayers:\n"
        "  - {name: priority, type: Dense, units: 1}\n"
        "  - {name: department, type: Dense, units: 4, inputs: x}\n"
        "outputs: {priority: priority, department: department}\n" + example
    )
    report = validate_spec(path)
    assert report.diagnostics == []
    assert logged_names(report.spec.document.data) == {  # type: ignore[union-attr]
        "loss",
        "priority_loss",
        "department_loss",
        "priority_auc",
        "department_acc",
        "department_top_k_categorical_accuracy",
    }
    model = build_model(path)
    assert model.loss["priority"].get_config()["from_logits"] is True


def test_from_logits_on_a_softmax_or_sigmoid_output_is_warned_about() -> None:
    """The loss would squash probabilities again: it trains, badly, with no error."""
    head = (
        "modelspec: 1\nname: t\ninputs: [{name: x, shape: [4]}]\nlayers:\n"
        "  - {name: probs, type: Dense, units: 3, activation: softmax}\n"
        "  - {name: aux, type: Dense, units: 1, activation: sigmoid, inputs: x}\n"
        "  - {name: sm, type: Softmax, inputs: probs}\n"
        "  - {name: logits, type: Dense, units: 3, inputs: x}\n"
    )
    sce = "{type: SparseCategoricalCrossentropy, from_logits: true}"
    spec = (
        head + "outputs: {main: probs, a: aux, s: sm, l: logits}\n"
        f"compile:\n  loss:\n    main: {sce}\n"
        "    a: {type: BinaryCrossentropy, from_logits: true}\n"
        "    s: {type: SparseCategoricalCrossentropy}\n"
        f"    l: {sce}\n"
    )
    again = (
        "the loss would apply it again to probabilities. Drop the activation (logits out, "
        "as from_logits says), or set from_logits: false."
    )
    assert [d.format() for d in validate_spec(spec).diagnostics] == [
        "<string>:12:62: warning: compile.loss.main.from_logits: from_logits: true, but "
        f"output 'main' ends in a softmax (node 'probs'): {again}",
        "<string>:13:48: warning: compile.loss.a.from_logits: from_logits: true, but "
        f"output 'a' ends in a sigmoid (node 'aux'): {again}",
    ]
    one = head.replace("  - {name: aux", "  #").replace("  - {name: logits", "  #")
    report = validate_spec(one + f"outputs: [sm]\ncompile: {{loss: {sce}}}\n")
    assert [d.format() for d in report.diagnostics] == [
        "<string>:10:68: warning: compile.loss.from_logits: from_logits: true, but output 'sm' "
        f"ends in a softmax (node 'sm'): {again}"
    ]
