"""Fine-tuning: ``train.trainable`` patterns and ``train.stages`` (validate, build, train, resume)."""

from __future__ import annotations

import csv
import json
import math
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from modelspec import BuildError, build_model, load_spec, train, validate_spec
from modelspec.build import set_trainable, start_stage
from modelspec.cli import main

#: A digits classifier whose "backbone" is a block instance (a nested functional
#: keras.Model) with a BatchNormalization inside; the recipe in two stages.
FT = """\
modelspec: 1
name: ft
inputs:
  - {name: pixels, shape: [64]}
blocks:
  body:
    inputs: [x]
    layers:
      - {name: dense_1, type: Dense, units: 16, activation: relu}
      - {name: bn, type: BatchNormalization}
      - {name: top, type: Dense, units: 16, activation: relu}
    outputs: [top]
layers:
  - {name: backbone, block: body}
  - {name: probs, type: Dense, units: 10, activation: softmax}
outputs: [probs]
compile:
  optimizer: {type: adam, learning_rate: 1e-2}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
train:
  data: {source: sklearn, name: digits, transform: {pixels: [{divide_by: 16}]}}
  batch_size: 64
  verbose: 2
"""
STAGES = """\
  trainable: {keep_frozen: [BatchNormalization]}
  stages:
    - {name: head, epochs: 2, trainable: {freeze: [backbone]}}
    - name: fine_tune
      epochs: 2
      learning_rate: 1e-3
      trainable: {freeze: [backbone], unfreeze: ["backbone/top"]}
"""


def lines(path: str) -> list[str]:
    return [d.format() for d in validate_spec(path).diagnostics]


def history_rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "history.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def trainable_paths(model: keras.Model) -> list[str]:
    return [w.path for w in model.trainable_weights]


# -- validate ------------------------------------------------------------------------


def test_each_bad_value_is_reported_at_its_line(write_spec: Callable[..., str]) -> None:
    path = write_spec(
        FT
        + """\
  trainable: {freeze: [backbon, "probs/x"], unfreeze: ["backbone/tpo"], keep_frozen: [BatchNorm]}
  stages:
    - {name: head, epochs: 2, lr: 1}
    - {name: head, epoch: 2}
    - {epochs: 0, learning_rate: -1}
    - {epochs: 1, learning_rate: 0.1, optimizer: {type: adam, learning_rate: 0.1}}
    - {epochs: 1, optimizer: adan, trainable: {freeze: 3, unfreez: []}}
    - {epochs: 1, optimizer: {type: sgd, momentun: 0.9}}
"""
    )
    assert lines(path) == [
        "spec.yaml:25:24: train.trainable.freeze[0]: pattern 'backbon' matches no node "
        "(the nodes are pixels, backbone, probs). Did you mean 'backbone'?",
        "spec.yaml:25:33: train.trainable.freeze[1]: pattern 'probs/x' reaches inside 'probs', "
        "which is not a block instance or a nested model: 'node/layer-glob' matches the layers "
        "of a block instance or a backbone",
        "spec.yaml:25:56: train.trainable.unfreeze[0]: pattern 'backbone/tpo' matches no node "
        "inside 'backbone' (its nodes are x, dense_1, bn, top). Did you mean 'top'?",
        "spec.yaml:25:87: train.trainable.keep_frozen[0]: expected a layer class name such as "
        "BatchNormalization. Received: 'BatchNorm', which is no layer type. "
        "Did you mean 'BatchNormalization'?",
        "spec.yaml:27:31: train.stages[0].lr: unknown key 'lr'.",
        "spec.yaml:28:7: train.stages[1]: missing required key 'epochs'",
        "spec.yaml:28:14: train.stages[1].name: expected a name of its own for each stage. "
        "Received: name='head', the name of stage 1 too",
        "spec.yaml:28:20: train.stages[1].epoch: unknown key 'epoch'. Did you mean 'epochs'?",
        "spec.yaml:29:16: train.stages[2].epochs: expected a positive integer. Received: epochs=0",
        "spec.yaml:29:34: train.stages[2].learning_rate: expected a positive number. "
        "Received: learning_rate=-1",
        "spec.yaml:30:19: train.stages[3].learning_rate: expected one learning rate per stage. "
        "Received: learning_rate=0.1 and optimizer.learning_rate=0.1. Keep one of them.",
        "spec.yaml:31:30: train.stages[4].optimizer: unknown optimizer 'adan'. "
        "Did you mean 'adam'?",
        "spec.yaml:31:56: train.stages[4].trainable.freeze: expected a list of node-name "
        "patterns such as backbone or 'backbone/block_16*'. Received: freeze=3",
        "spec.yaml:31:59: train.stages[4].trainable.unfreez: unknown key 'unfreez'. "
        "Did you mean 'unfreeze'?",
        "spec.yaml:32:42: train.stages[5].optimizer.momentun: unknown argument 'momentun' "
        "for SGD. Did you mean 'momentum'?",
    ]


def test_patterns_reach_blocks_inside_blocks_and_name_repeats(
    write_spec: Callable[..., str],
) -> None:
    spec = FT.replace(
        "  - {name: backbone, block: body}\n",
        "  - {name: backbone, block: outer}\n  - {name: extra, type: Dense, units: 64, repeat: 2}\n",
    ).replace(
        "layers:\n  - {name: backbone",
        "  outer:\n    inputs: [x]\n    layers:\n      - {name: inner, block: body}\n"
        "    outputs: [inner]\nlayers:\n  - {name: backbone",
    )
    good = write_spec(spec + '  trainable: {unfreeze: ["backbone/inner/t*", "extra_*"]}\n')
    assert lines(good) == []
    bad = write_spec(
        spec + '  trainable: {unfreeze: ["backbone/inner/tp", "backbone/innr/top", extra]}\n',
        "bad.yaml",
    )
    assert lines(bad) == [
        "bad.yaml:31:26: train.trainable.unfreeze[0]: pattern 'backbone/inner/tp' matches no "
        "node inside 'inner' (its nodes are x, dense_1, bn, top). Did you mean 'top'?",
        "bad.yaml:31:47: train.trainable.unfreeze[1]: pattern 'backbone/innr/top' matches no "
        "node inside 'backbone' (its nodes are x, inner). Did you mean 'inner'?",
        "bad.yaml:31:68: train.trainable.unfreeze[2]: pattern 'extra' matches no node (the "
        "nodes are pixels, backbone, extra_0, extra_1, probs). 'extra' is repeated: match "
        "its copies with 'extra_*'.",
    ]


def test_patterns_that_set_nothing(write_spec: Callable[..., str]) -> None:
    spec = FT.replace(
        "  - {name: probs,", '  - {name: scaled, expr: "backbone * 2"}\n  - {name: probs,'
    )
    path = write_spec(spec + "  trainable: {freeze: [scaled], keep_frozen: [BatchNormalization]}\n")
    assert lines(path) == [
        "spec.yaml:26:24: train.trainable.freeze[0]: pattern 'scaled' matches only nodes "
        "without a layer of their own (scaled: op, expr or share nodes), so it sets no "
        "weights. Match the layers they use."
    ]
    alone = write_spec(FT + "  trainable: {keep_frozen: [BatchNormalization]}\n", "alone.yaml")
    assert lines(alone) == [
        "alone.yaml:25:15: warning: train.trainable.keep_frozen: keep_frozen keeps layers "
        "frozen inside the parts that freeze or unfreeze patterns touch, and no section has "
        "one: it changes nothing here. Add `freeze: [...]` or `unfreeze: [...]`."
    ]


def test_stages_and_train_epochs(write_spec: Callable[..., str]) -> None:
    assert load_spec(write_spec(FT + STAGES)).train.total_epochs == 4  # type: ignore[union-attr]
    longer = write_spec(FT + "  epochs: 5\n" + STAGES, "longer.yaml")
    assert lines(longer) == [
        "longer.yaml:25:11: warning: train.epochs: train.epochs=5 is not the stages' total "
        "(2 + 2 = 4): the last stage, 'fine_tune', trains 1 more epoch. Leave train.epochs "
        "out to train each stage's epochs."
    ]
    assert load_spec(longer).train.total_epochs == 5  # type: ignore[union-attr]
    shorter = write_spec(FT + "  epochs: 2\n" + STAGES, "shorter.yaml")
    assert lines(shorter) == [
        "shorter.yaml:25:11: warning: train.epochs: train.epochs=2 is not the stages' total "
        "(2 + 2 = 4): the run stops after epoch 2, in stage 'head' (1 later stage(s) do not "
        "run). Leave train.epochs out to train each stage's epochs."
    ]
    empty = write_spec(FT + "  stages: []\n", "empty.yaml")
    assert lines(empty) == [
        "empty.yaml:25:11: train.stages: expected at least one entry. Received: stages=[]"
    ]


def test_the_editor_schema_knows_stages_and_trainable() -> None:
    import jsonschema
    import yaml

    from modelspec.spec.jsonschema import spec_json_schema

    validator = jsonschema.Draft202012Validator(spec_json_schema())
    data = yaml.safe_load(FT + STAGES)
    assert [e.message for e in validator.iter_errors(data)] == []
    data["train"]["stages"][0]["epoch"] = 2
    del data["train"]["stages"][0]["epochs"]
    data["train"]["trainable"]["keep"] = []

    def messages(errors: Any) -> Any:  # inside the anyOf of each optional key too
        for error in errors:
            yield error.message
            yield from messages(error.context or ())

    found = set(messages(validator.iter_errors(data)))
    assert {
        "'epochs' is a required property",
        "Additional properties are not allowed ('epoch' was unexpected)",
        "Additional properties are not allowed ('keep' was unexpected)",
    } <= found


# -- build: which weights train ------------------------------------------------------


def test_patterns_set_keras_trainable_in_nested_models(write_spec: Callable[..., str]) -> None:
    spec = load_spec(write_spec(FT))
    model = build_model(spec)
    backbone = model.get_layer("backbone")
    everything = trainable_paths(model)
    assert len(everything) == 8  # dense_1, bn (gamma, beta), top, probs

    def apply(**section: Any) -> list[str]:
        set_trainable(model, [(section, ())])
        return trainable_paths(model)

    assert apply(freeze=["backbone"]) == ["probs/kernel", "probs/bias"]
    # unfreezing inside a frozen model: the model trains, its other layers do not
    assert apply(freeze=["backbone"], unfreeze=["backbone/top"]) == [
        "top/kernel",
        "top/bias",
        "probs/kernel",
        "probs/bias",
    ]
    assert backbone.trainable and not backbone.get_layer("dense_1").trainable
    # keep_frozen inside the parts the patterns touch (not a BN elsewhere)
    assert apply(freeze=["backbone"], unfreeze=["backbone/*"], keep_frozen=["BatchNormalization"])
    assert not backbone.get_layer("bn").trainable
    assert len(trainable_paths(model)) == 6
    # each application starts from the model as built, not from the previous one
    assert apply() == everything
    assert apply(freeze=["*"]) == []
    assert apply(unfreeze=["prob*"]) == everything


def test_a_stage_sets_its_layers_and_a_fresh_optimizer(write_spec: Callable[..., str]) -> None:
    spec = load_spec(write_spec(FT + STAGES))
    model = build_model(spec)  # set up for the first stage
    assert trainable_paths(model) == ["probs/kernel", "probs/bias"]
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(1e-2)
    first = model.optimizer
    start_stage(model, spec, 1)
    assert trainable_paths(model) == ["top/kernel", "top/bias", "probs/kernel", "probs/bias"]
    assert model.optimizer is not first
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(1e-3)
    assert int(model.optimizer.iterations.numpy()) == 0


def test_a_frozen_model_saves_and_reloads_in_safe_mode(
    write_spec: Callable[..., str], tmp_path: Path
) -> None:
    spec = load_spec(write_spec(FT + STAGES))
    model = build_model(spec)
    start_stage(model, spec, 1)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    x = np.random.default_rng(0).random((3, 64), dtype="float32")
    np.testing.assert_allclose(reloaded(x), model(x), atol=1e-6)
    assert trainable_paths(reloaded) == trainable_paths(model)


@pytest.mark.usefixtures("clean_registry")
def test_patterns_inside_a_backbone_are_checked_when_built(
    write_spec: Callable[..., str],
) -> None:
    import modelspec

    @modelspec.register_layer
    class TinyBackbone(keras.Model):  # any nested keras.Model, like keras.applications'
        def __init__(self, units: int = 8, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.first = keras.layers.Dense(units, name="block_1_dense")
            self.second = keras.layers.Dense(units, name="block_2_dense")

        def call(self, x: Any) -> Any:
            return self.second(self.first(x))

    spec = FT.replace("block: body", "type: TinyBackbone")
    good = write_spec(spec + '  trainable: {freeze: [backbone], unfreeze: ["backbone/block_2*"]}\n')
    assert lines(good) == []
    model = build_model(good)
    assert [p.rsplit("/", 2)[-2:] for p in trainable_paths(model)] == [
        ["block_2_dense", "kernel"],
        ["block_2_dense", "bias"],
        ["probs", "kernel"],
        ["probs", "bias"],
    ]
    bad = write_spec(
        spec + '  stages: [{epochs: 1, trainable: {unfreeze: ["backbone/block_3*"]}}]\n'
    )
    assert lines(bad) == []  # its layers are known only once built
    with pytest.raises(BuildError) as err:
        build_model(bad)
    assert err.value.diagnostics[0].format() == (
        "spec.yaml:25:47: train.stages[0].trainable.unfreeze[0]: pattern 'backbone/block_3*' "
        "matched no layer in backbone (its layers are named like block_1_dense, "
        "block_2_dense)."
    )


# -- train ------------------------------------------------------------------------


def weights(model: keras.Model, layer: str) -> list[np.ndarray]:
    return [w.numpy() for w in model.get_layer("backbone").get_layer(layer).weights]


def test_two_stages_train_the_head_then_the_unfrozen_top(
    write_spec: Callable[..., str], tmp_path: Path
) -> None:
    path = write_spec(FT + STAGES)
    keras.utils.set_random_seed(0)  # the run's seed: the same initial weights
    initial = build_model(path)
    # --epochs 2: the run stops at the end of the first stage
    first = train(path, epochs=2, out_dir=tmp_path / "runs", verbose=0)
    assert first.stages == [("head", 1, 2)]
    for layer in ("dense_1", "bn", "top"):
        for before, after in zip(weights(initial, layer), weights(first.model, layer), strict=True):
            np.testing.assert_array_equal(before, after)  # the backbone was frozen
    # trained further: the second stage, its layers, its optimizer
    second = train(resume=first.run_dir, epochs=4, verbose=0)
    assert second.stages == [("head", 1, 2), ("fine_tune", 3, 4)]
    assert [r["epoch"] for r in history_rows(first.run_dir)] == ["0", "1", "2", "3"]
    changed = [
        not np.array_equal(a, b)
        for a, b in zip(weights(first.model, "top"), weights(second.model, "top"), strict=True)
    ]
    assert all(changed)
    for layer in ("dense_1", "bn"):  # still frozen; bn kept frozen (inference mode)
        for before, after in zip(
            weights(initial, layer), weights(second.model, layer), strict=True
        ):
            np.testing.assert_array_equal(before, after)
    assert float(second.model.optimizer.learning_rate.numpy()) == pytest.approx(1e-3)


KILL_AFTER_COMMIT = """
import os, signal, sys
from modelspec import train
from modelspec.training import resume

commits, spec, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
real_write = resume.write_text
done = []


def write_text(path, text):
    real_write(path, text)
    if os.path.basename(str(path)) == "state.json":
        done.append(path)
        if len(done) == commits:
            os.kill(os.getpid(), signal.SIGKILL)


resume.write_text = write_text
train(spec, out_dir=out)
"""


@pytest.mark.parametrize("commits", [3, 2], ids=["mid-stage-2", "at-the-boundary"])
def test_a_run_killed_in_a_stage_resumes_in_that_stage(
    commits: int, write_spec: Callable[..., str], tmp_path: Path
) -> None:
    from modelspec.data import load_data

    path = write_spec(FT + STAGES)
    out = tmp_path / "runs"
    killed = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_COMMIT, str(commits), path, str(out)],
        capture_output=True,
        text=True,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run_dir = next(out.glob("ft-*"))
    committed = json.loads((run_dir / "backup" / "state.json").read_text())["epoch"]
    assert committed == commits  # killed just after committing that epoch

    result = CliRunner().invoke(main, ["train", "--resume", str(run_dir)])
    assert result.exit_code == 0, result.output
    shown = [line for line in result.output.splitlines() if line.startswith(("Epoch", "Stage"))]
    head = "Stage 2/2 fine_tune: epochs 3-4, 442 of 1,546 parameters train, learning rate 0.001"
    assert shown == [head, *(f"Epoch {e}/4" for e in range(commits + 1, 5))]
    assert "stages: head 1-2, fine_tune 3-4" in result.output
    assert [r["epoch"] for r in history_rows(run_dir)] == ["0", "1", "2", "3"]  # each once
    assert json.loads((run_dir / "run.json").read_text())["status"] == "done"
    # the second stage's optimizer: fresh at its start, restored in its middle
    final = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    data = load_data(load_spec(path)).train
    steps = math.ceil(len(data) / 64)
    assert int(final.optimizer.iterations.numpy()) == 2 * steps
    assert trainable_paths(final) == ["top/kernel", "top/bias", "probs/kernel", "probs/bias"]
