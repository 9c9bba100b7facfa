"""Validation: structure, layer types and arguments, the graph (modelspec.spec.validate)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from modelspec import ModelSpec, SpecError, load_spec, validate_spec

from .conftest import ROOT, SMALL

HEADER = """\
modelspec: 1
name: m
inputs:
  - {name: x, shape: [8]}
layers:
"""


def lines(spec: str, **kwargs: object) -> list[str]:
    return [d.format() for d in validate_spec(spec, **kwargs).diagnostics]  # type: ignore[arg-type]


def test_valid_spec_gives_a_spec_and_no_diagnostics(write_spec: Callable[..., str]) -> None:
    path = write_spec(HEADER + "  - {name: out, type: Dense, units: 2}\noutputs: [out]\n")
    report = validate_spec(path)
    assert report.ok and report.diagnostics == []
    assert isinstance(report.spec, ModelSpec)
    assert report.spec.layers[0].args == {"units": 2}
    assert report.spec.document.file == "spec.yaml"


def test_argument_errors_point_at_the_value(write_spec: Callable[..., str]) -> None:
    path = write_spec(
        HEADER
        + """\
  - {name: dense_1, type: Dense, units: 16}
  - {name: dense_2, type: Dense, units: 0}
  - {name: bn, type: BatchNormalization, momentum: "0.9", input_shape: [8]}
  - {name: drop, type: Dropout, rate: 1.5}
  - {name: out, type: Dense, unitz: 2, activation: sofmax, use_bias: "yes"}
outputs: [out]
"""
    )
    assert lines(path) == [
        "spec.yaml:7:41: layers[1] (dense_2).units: expected a positive integer. Received: units=0",
        "spec.yaml:8:52: layers[2] (bn).momentum: expected a number. Received: momentum='0.9'",
        "spec.yaml:8:59: layers[2] (bn).input_shape: unknown argument 'input_shape' for "
        "BatchNormalization. Declare shapes under `inputs:` instead.",
        "spec.yaml:9:39: layers[3] (drop).rate: expected a number between 0 and 1. Received: rate=1.5",
        "spec.yaml:10:30: layers[4] (out).unitz: unknown argument 'unitz' for Dense. Did you mean 'units'?",
        "spec.yaml:10:52: layers[4] (out).activation: unknown activation 'sofmax'. Did you mean 'softmax'?",
        "spec.yaml:10:70: layers[4] (out).use_bias: expected a boolean (true or false). Received: use_bias='yes'",
    ]


def test_unknown_and_refused_types(write_spec: Callable[..., str]) -> None:
    path = write_spec(
        HEADER
        + """\
  - {name: a, type: dense, units: 4}
  - {name: b, type: Conv2d, filters: 4, kernel_size: 3}
  - {name: c, type: Lambda}
  - {name: d, type: Frobnicate}
  - {name: e, type: TFSMLayer, filepath: /tmp/any_saved_model}
outputs: [d]
"""
    )
    hint = " Run `modelspec layers` to list the available types; custom layers need their plugin (--plugin)."
    assert [line for line in lines(path) if "warning" not in line] == [
        "spec.yaml:6:21: layers[0] (a).type: unknown layer type 'dense'. Did you mean 'Dense'?"
        + hint,
        "spec.yaml:7:21: layers[1] (b).type: unknown layer type 'Conv2d'. Did you mean 'Conv2D'?"
        + hint,
        "spec.yaml:8:21: layers[2] (c).type: layer type 'Lambda' cannot be used in a spec: "
        "it runs a Python function; register a custom layer instead.",
        "spec.yaml:9:21: layers[3] (d).type: unknown layer type 'Frobnicate'. " + hint.lstrip(),
        "spec.yaml:10:21: layers[4] (e).type: layer type 'TFSMLayer' cannot be used in a spec: "
        "it runs a TensorFlow SavedModel from any path, and a SavedModel's graph can read and "
        "write files; register a layer that loads the model you trust instead.",
    ]


def test_graph_errors_all_at_once(write_spec: Callable[..., str]) -> None:
    path = write_spec(
        HEADER
        + """\
  - {name: a, type: Dense, units: 4}
  - {name: a, type: Dense, units: 4}
  - {name: b, type: Dense, units: 4, inputs: c}
  - {name: c, type: Dense, units: 4, inputs: b}
  - {name: d, type: Dense, units: 4, inputs: aa}
  - {name: e, type: Dense, units: 4, inputs: e}
  - {name: f, type: Add, inputs: [a, "d[1]", missing]}
outputs: [f, nope]
"""
    )
    errors = [d.format() for d in validate_spec(path).errors]
    assert errors == [
        "spec.yaml:7:12: layers[1] (a).name: duplicate node name 'a' (first defined at line 6); "
        "node names must be unique.",
        "spec.yaml:8:5: layers[2] (b): the graph has a cycle: c -> b -> c. "
        "A node cannot depend on its own output.",
        "spec.yaml:10:46: layers[4] (d).inputs: unknown node 'aa'. Did you mean 'a'?",
        "spec.yaml:11:46: layers[5] (e).inputs: node 'e' cannot take its own output as input",
        "spec.yaml:12:46: layers[6] (f).inputs[2]: unknown node 'missing'.",
        "spec.yaml:13:14: outputs[1]: unknown node 'nope'.",
    ]


def test_unused_nodes_are_warnings_not_errors(write_spec: Callable[..., str]) -> None:
    path = write_spec(
        HEADER
        + """\
  - {name: used, type: Dense, units: 4}
  - {name: dead_end, type: Dense, units: 4, inputs: x}
outputs: [used]
"""
    )
    report = validate_spec(path)
    assert report.ok and report.spec is not None
    assert [d.format() for d in report.warnings] == [
        "spec.yaml:7:5: warning: layers[1] (dead_end): node 'dead_end' is not used by any "
        "output; it will not be part of the model"
    ]


def test_structure_errors_are_keras_style(write_spec: Callable[..., str]) -> None:
    path = write_spec(
        """\
modelspec: 2
name: my model
inputs:
  - {name: x, shape: [8, 0], dtyp: float32}
layers: []
outptus: [x]
"""
    )
    assert lines(path) == [
        "spec.yaml:1:1: missing required key 'outputs'",
        "spec.yaml:1:12: modelspec: expected 1, the spec format version this modelspec reads. "
        "Received: modelspec=2",
        "spec.yaml:2:7: name: expected a name of letters, digits, '_', '.' or '-' starting with "
        "a letter or '_'. Received: name='my model'",
        "spec.yaml:4:26: inputs[0] (x).shape[1]: expected a list of positive integers (null for "
        "a size not known in advance). Received: shape=[8, 0]",
        "spec.yaml:4:30: inputs[0] (x).dtyp: unknown key 'dtyp'. Did you mean 'dtype'?",
        "spec.yaml:5:9: layers: expected at least one entry. Received: layers=[]",
        "spec.yaml:6:1: outptus: unknown key 'outptus'. Did you mean 'outputs'?",
    ]


def test_nested_layers_call_arguments_and_indexed_refs(write_spec: Callable[..., str]) -> None:
    path = write_spec(
        """\
modelspec: 1
name: m
inputs:
  - {name: seq, shape: [null, 4]}
layers:
  - {name: enc, type: LSTM, units: 8, return_state: true}
  - {name: bi, type: Bidirectional, layer: {type: LSTM, unit: 8}, inputs: "enc[0]"}
  - name: dec
    type: LSTM
    units: 8
    inputs: {sequences: seq, initial_stat: ["enc[1]", "enc[2]"]}
  - {name: att, type: MultiHeadAttention, num_heads: 2, key_dim: 4, inputs: {query: dec, value: dec}}
outputs: [bi, att]
"""
    )
    assert lines(path) == [
        "spec.yaml:7:57: layers[1] (bi).layer.unit: unknown argument 'unit' for LSTM. "
        "Did you mean 'units'?",
        "spec.yaml:11:30: layers[2] (dec).inputs.initial_stat: unknown call argument "
        "'initial_stat' for LSTM (it takes sequences, initial_state, mask, training). "
        "Did you mean 'initial_state'?",
    ]


def test_sharing_rules(write_spec: Callable[..., str]) -> None:
    path = write_spec(
        """\
modelspec: 1
name: m
inputs:
  - {name: a, shape: [4]}
  - {name: b, shape: [4]}
layers:
  - {name: early, share: enc, inputs: b}
  - {name: enc, type: Dense, units: 3, inputs: a}
  - {name: twin, share: enc, inputs: b, units: 5}
  - {name: other, share: nothing, inputs: b}
  - {name: join, type: Concatenate, inputs: [early, enc, twin, other]}
outputs: [join]
"""
    )
    assert lines(path) == [
        "spec.yaml:7:26: layers[0] (early).share: cannot share the layer of 'enc' before it "
        "is defined: move this node after it.",
        "spec.yaml:9:41: layers[2] (twin).units: a node that shares the layer of 'enc' takes "
        "no layer arguments; they come from 'enc'.",
        "spec.yaml:10:26: layers[3] (other).share: cannot share the layer of 'nothing': no "
        "layer node has that name.",
    ]


def test_first_layer_must_choose_among_several_inputs(write_spec: Callable[..., str]) -> None:
    path = write_spec(
        """\
modelspec: 1
name: m
inputs: [{name: a, shape: [4]}, {name: b, shape: [4]}]
layers:
  - {name: d, type: Dense, units: 3}
outputs: [d]
"""
    )
    assert [d.format() for d in validate_spec(path).errors] == [
        "spec.yaml:5:5: layers[0] (d): missing `inputs:`: the first layer must say which of "
        "the inputs (a, b) it takes"
    ]


def test_compile_names_are_checked(write_spec: Callable[..., str]) -> None:
    path = write_spec(
        HEADER
        + """\
  - {name: out, type: Dense, units: 2}
outputs: {label: out}
compile:
  optimizer: {type: adamm, learning_rate: 1e-3}
  loss: {labl: sparse_categorical_crossentropy}
  metrics: {label: [acuracy]}
"""
    )
    assert lines(path) == [
        "spec.yaml:9:21: compile.optimizer.type: unknown optimizer 'adamm'. Did you mean 'adam'?",
        "spec.yaml:10:10: compile.loss.labl: unknown output 'labl' (the outputs are label). "
        "Did you mean 'label'?",
        "spec.yaml:11:21: compile.metrics.label[0]: unknown metric 'acuracy'. "
        "Did you mean 'accuracy'?",
    ]


def test_spec_imports_are_refused_unless_allowed(write_spec: Callable[..., str]) -> None:
    path = write_spec(
        "imports: [json]\n" + HEADER + "  - {name: out, type: Dense, units: 2}\noutputs: [out]\n"
    )
    assert lines(path) == [
        "spec.yaml:1:1: imports: this spec imports Python modules (json); importing runs their "
        "code, so a spec's imports are refused by default. Pass --allow-imports "
        "(allow_imports=True) if you trust this spec, or load the modules yourself with --plugin."
    ]
    assert validate_spec(path, allow_imports=True).ok
    bad = write_spec(
        "imports: [no_such_module_xyz]\n"
        + HEADER
        + "  - {name: o, type: Dense, units: 2}\noutputs: [o]\n",
        "bad.yaml",
    )
    assert lines(bad, allow_imports=True) == [
        "bad.yaml:1:11: imports[0]: cannot import plugin module 'no_such_module_xyz': no module "
        "named 'no_such_module_xyz' in this environment or in the current folder "
        f"({os.getcwd()}). Check the name, install its package, or run from the folder that "
        "holds it."
    ]


def test_load_spec_raises_with_every_error_and_accepts_dicts() -> None:
    with pytest.raises(SpecError) as info:
        load_spec({"modelspec": 1, "name": "m", "inputs": [], "layers": [{"name": "d"}]})
    messages = [d.format() for d in info.value.errors]
    assert messages == [
        "<dict>: inputs: expected at least one entry. Received: inputs=[]",
        "<dict>: missing required key 'outputs'",
        "<dict>: layers[0] (d): missing required key 'type' (or `op:`, `expr:`, `block:`, "
        "or `share:` to reuse another node's layer)",
    ]
    assert str(info.value).startswith("3 errors in spec:\n<dict>: inputs")


def test_a_model_spec_made_in_python_validates() -> None:
    spec = ModelSpec.model_validate(
        {"modelspec": 1, "name": "m", "inputs": [{"name": "x", "shape": [3]}],
         "layers": [{"name": "d", "type": "Dense", "units": 0}], "outputs": ["d"]}
    )  # fmt: skip
    assert [d.message for d in validate_spec(spec).errors] == [
        "expected a positive integer. Received: units=0"
    ]


def test_files_a_run_writes_must_stay_in_the_run_directory(
    write_spec: Callable[..., str],
) -> None:
    path = write_spec(
        SMALL
        + """\
  callbacks:
    - {type: backup_and_restore, backup_dir: ../../victim}
    - {type: csv_logger, filename: /abs/file.csv}
    - {type: ModelCheckpoint, filepath: ../x.keras}
    - {type: tensorboard, log_dir: logs/../../out}
    - {type: tensorboard, log_dir: logs/../board}
"""
    )
    hint = (
        "A run writes only inside its run directory (absolute paths and '..' that climb "
        "out of it are refused): copy the files elsewhere after training."
    )
    expected = "expected a path relative to the run directory, staying inside it. Received:"
    assert lines(path) == [
        f"spec.yaml:22:46: train.callbacks[0].backup_dir: {expected} backup_dir='../../victim'. {hint}",
        f"spec.yaml:23:36: train.callbacks[1].filename: {expected} filename='/abs/file.csv'. {hint}",
        f"spec.yaml:24:41: train.callbacks[2].filepath: {expected} filepath='../x.keras'. {hint}",
        f"spec.yaml:25:36: train.callbacks[3].log_dir: {expected} log_dir='logs/../../out'. {hint}",
    ]


def test_checkpoint_names_and_backup_frequency_that_training_could_not_honour(
    write_spec: Callable[..., str],
) -> None:
    path = write_spec(
        SMALL
        + """\
  callbacks:
    - {type: model_checkpoint, filepath: "b-{epoch.__class__}.keras"}
    - {type: model_checkpoint, filepath: "b-{val_acc:.2f}.keras"}
    - {type: model_checkpoint, filepath: "b-{epoch:02d}-{val_accuracy:.2f}.keras"}
    - {type: backup_and_restore, save_freq: 5}
"""
    )
    assert lines(path) == [
        "spec.yaml:22:42: train.callbacks[0].filepath: expected {fields} that are plain names, "
        "such as {epoch:02d} or {val_loss:.2f}. Received: filepath='b-{epoch.__class__}.keras'",
        "spec.yaml:23:42: train.callbacks[1].filepath: unknown field {val_acc} in filepath: it "
        "can use epoch, accuracy, loss, val_accuracy, val_loss. Did you mean 'val_accuracy'?",
        "spec.yaml:25:45: train.callbacks[3].save_freq: expected 'epoch' or false: a run is "
        "backed up once per epoch, and resumes at the start of the epoch in progress. "
        "Received: save_freq=5",
    ]


def test_serialized_objects_name_keras_or_registered_classes_only(
    write_spec: Callable[..., str],
) -> None:
    path = write_spec(
        HEADER
        + """\
  - {name: a, type: Dense, units: 4, kernel_initializer: {class_name: Foo, module: os}}
  - {name: b, type: Dense, units: 4, kernel_initializer: {module: builtins, class_name: eval}}
  - {name: c, type: Dense, units: 4, bias_initializer: {class_name: Zeros, registered_name: e>x}}
  - {name: d, type: Dense, units: 4, kernel_initializer: {class_name: GlorotUnifrm}}
  - {name: e, type: Dense, units: 4, bias_initializer: {config: {}}}
  - {name: f, type: Normalization, mean: {module: os, class_name: system, config: {a: ls}}}
  - {name: g, type: Dense, units: 4, kernel_initializer: {class_name: Ones, cfg: 1}}
  - {name: h, type: Bidirectional, layer: {type: [LSTM], units: 3}}
outputs: [h]
compile:
  optimizer: {type: sgd, learning_rate: {type: 5, initial_learning_rate: 0.1}}
"""
    )
    module = (
        "expected a Keras module (keras or keras.*). Received: module={}. A spec names "
        "Keras objects and registered ones, never other Python modules."
    )
    assert lines(path) == [
        "spec.yaml:6:71: layers[0] (a).kernel_initializer.class_name: unknown initializer 'Foo'. Custom initializers need their plugin (--plugin).",
        "spec.yaml:6:84: layers[0] (a).kernel_initializer.module: " + module.format("'os'"),
        "spec.yaml:7:67: layers[1] (b).kernel_initializer.module: " + module.format("'builtins'"),
        "spec.yaml:7:89: layers[1] (b).kernel_initializer.class_name: unknown initializer 'eval'. Custom initializers need their plugin (--plugin).",
        "spec.yaml:8:93: layers[2] (c).bias_initializer.registered_name: unknown registered name 'e>x': no plugin registered it. Register the object with modelspec (@register_layer, ...) in a plugin (--plugin).",
        "spec.yaml:9:71: layers[3] (d).kernel_initializer.class_name: unknown initializer 'GlorotUnifrm'. Did you mean 'GlorotUniform'?",
        "spec.yaml:10:56: layers[4] (e).bias_initializer: expected {class_name: NAME, config: {...}} with the initializer's name. Received: {'config': {}}",
        "spec.yaml:11:51: layers[5] (f).mean.module: " + module.format("'os'"),
        "spec.yaml:12:77: layers[6] (g).kernel_initializer.cfg: unknown key 'cfg' in initializer {class_name: ..., config: ...}. Did you mean 'config'?",
        "spec.yaml:13:50: layers[7] (h).layer.type: expected a layer type name such as LSTM. Received: type=['LSTM']",
        "spec.yaml:16:48: compile.optimizer.learning_rate.type: expected a schedule name such as ExponentialDecay. Received: type=5",
    ]


def test_an_activation_mapping_of_a_keras_function_is_refused(
    write_spec: Callable[..., str],
) -> None:
    # Keras cannot deserialize it ("Could not locate class 'leaky_relu'"): build failed
    path = write_spec(
        HEADER
        + """\
  - {name: d, type: Dense, units: 4, activation: {class_name: leaky_relu, config: {negative_slope: 0.1}}}
outputs: [d]
"""
    )
    assert lines(path) == [
        "spec.yaml:6:50: layers[0] (d).activation: expected an activation's name: Keras "
        "activations are functions, with no config to set. Received: {'class_name': "
        "'leaky_relu', 'config': {'negative_slope': 0.1}}. Write its name (activation: "
        "leaky_relu), or follow this layer with one that takes the arguments (such as "
        "{type: LeakyReLU, negative_slope: 0.1})"
    ]


def test_keras_serialized_objects_that_validate_also_build(write_spec: Callable[..., str]) -> None:
    from modelspec import build_model

    path = write_spec(
        HEADER
        + """\
  - name: d
    type: Dense
    units: 4
    kernel_regularizer: {class_name: L2, config: {l2: 0.1}}
    kernel_constraint: {class_name: MaxNorm, module: keras.constraints, registered_name: null}
    kernel_initializer: {module: keras.initializers, class_name: GlorotUniform, config: {seed: 1}}
    dtype: {module: keras, class_name: DTypePolicy, config: {name: float32}}
outputs: [d]
"""
    )
    assert validate_spec(path).ok
    layer = build_model(path).get_layer("d")
    assert type(layer.kernel_regularizer).__name__ == "L2"
    assert type(layer.kernel_constraint).__name__ == "MaxNorm"


def test_files_a_layer_reads_must_exist_relative_to_the_spec(
    write_spec: Callable[..., str], tmp_path: Path
) -> None:
    (tmp_path / "words").mkdir()
    path = write_spec(
        """\
modelspec: 1
name: m
inputs:
  - {name: x, shape: [1], dtype: string}
layers:
  - {name: a, type: StringLookup, vocabulary: nope.txt}
  - {name: b, type: StringLookup, vocabulary: words}
  - {name: c, type: IntegerLookup, vocabulary: [1, 2], inputs: x}
outputs: [b, c]
"""
    )
    expected = "expected a list, or the path of a text file with one entry per line. Received:"
    where = f"(relative paths start at the spec's folder, {tmp_path})"
    assert [d.format() for d in validate_spec(path).errors] == [
        f"spec.yaml:6:47: layers[0] (a).vocabulary: {expected} vocabulary='nope.txt': no such file {where}",
        f"spec.yaml:7:47: layers[1] (b).vocabulary: {expected} vocabulary='words': a folder {where}",
    ]


TWO_OUTPUTS = """\
modelspec: 1
name: m
inputs:
  - {name: x, shape: [4]}
layers:
  - {name: a, type: Dense, units: 3, activation: softmax}
  - {name: b, type: Dense, units: 1, inputs: x}
"""


def test_monitor_must_name_what_training_logs(write_spec: Callable[..., str]) -> None:
    path = write_spec(
        TWO_OUTPUTS
        + """\
outputs: {cls: a, reg: b}
compile:
  loss: {cls: ce, reg: mse}
  metrics: {cls: [acc]}
train:
  data: {source: sklearn, name: iris}
  monitor: val_cls_accuracy
  callbacks:
    - {type: early_stopping, monitor: val_acc}
    - {type: reduce_lr_on_plateau, monitor: reg_loss}
"""
    )
    logs = (
        "training logs cls_acc, cls_loss, loss, reg_loss, val_cls_acc, val_cls_loss, "
        "val_loss, val_reg_loss."
    )
    assert lines(path) == [
        f"spec.yaml:14:12: train.monitor: unknown quantity to monitor 'val_cls_accuracy': {logs} Did you mean 'val_cls_acc'?",
        f"spec.yaml:16:39: train.callbacks[0].monitor: unknown quantity to monitor 'val_acc': {logs} Did you mean 'val_cls_acc'?",
    ]
    no_validation = write_spec(
        SMALL.replace("    name: digits\n", "    name: digits\n    split: {validation: 0}\n")
        + "  monitor: val_accuracy\n"
    )
    assert lines(no_validation) == [
        "spec.yaml:22:12: train.monitor: 'val_accuracy' is logged only with a validation "
        "split, and train.data.split.validation is 0. Monitor 'accuracy', or set a fraction."
    ]


def test_losses_metrics_and_weights_that_keras_would_refuse(
    write_spec: Callable[..., str],
) -> None:
    path = write_spec(
        TWO_OUTPUTS
        + """\
outputs: {cls: a, reg: b}
compile:
  loss: {cls: ce}
  loss_weights: {cls: 1.0, reg: 0.5}
  metrics: [acc]
"""
    )
    assert lines(path) == [
        "spec.yaml:10:9: warning: compile.loss: output 'reg' has no loss (compile.loss does not "
        "name it): training leaves it out, and the data need no target for it",
        "spec.yaml:11:28: compile.loss_weights.reg: output 'reg' has no loss (compile.loss does "
        "not name it), so it takes no loss weight. Give it a loss, or drop its weight.",
        "spec.yaml:12:12: compile.metrics: expected one entry per output (2: cls, reg) or a "
        "mapping {output: [metrics]}. Received 1: metrics=['acc']",
    ]
    weights_list = write_spec(
        TWO_OUTPUTS
        + "outputs: {cls: a, reg: b}\ncompile: {loss: {cls: ce}, loss_weights: [1, 2]}\n"
    )
    assert [line for line in lines(weights_list) if "warning" not in line] == [
        "spec.yaml:9:42: compile.loss_weights: expected one weight per loss (1: cls). "
        "Received 2: loss_weights=[1, 2]"
    ]


def test_every_alias_keras_compile_accepts_is_accepted(write_spec: Callable[..., str]) -> None:
    for loss, metric in (("crossentropy", "acc"), ("CE", "Accuracy"), ("ce", "ACC")):
        spec = SMALL.replace("sparse_categorical_crossentropy", loss).replace(
            "[accuracy]", f"[{metric}]"
        )
        assert lines(write_spec(spec)) == []
    assert lines(write_spec(SMALL.replace("[accuracy]", "[acuracy]"))) == [
        "spec.yaml:12:13: compile.metrics[0]: unknown metric 'acuracy'. Did you mean 'accuracy'?"
    ]


def test_a_transform_that_is_not_a_mapping_is_located(write_spec: Callable[..., str]) -> None:
    for transform, received in (("5", "5"), ("[1, 2]", "[1, 2]")):
        path = write_spec(SMALL.replace("{pixels: [{divide_by: 16}]}", transform))
        assert lines(path) == [
            f"spec.yaml:17:16: train.data.transform: expected a mapping {{input or output name: "
            f"[{{op: argument}}, ...]}}. Received: transform={received}"
        ]


def test_messages_echo_at_most_80_characters_of_a_value_or_key(
    write_spec: Callable[..., str],
) -> None:
    long, key = "k" * 100_000, "q" * 1_000  # YAML keys stop at 1,024 characters
    path = write_spec(
        HEADER
        + f"  - {{name: n{long}, type: Dense, units: {long}, {key}: 1, activation: {long}}}\n"
        + f"  - {{name: b, type: Dense, units: 2, inputs: {long}}}\n"
        + f"outputs: [n{long}]\n{key}: 2\n"
    )
    found = lines(path)
    node = "n" + "k" * 76 + "..."
    assert found[0] == (
        f"spec.yaml:6:100035: layers[0] ({node}).units: expected a positive integer. "
        f"Received: units='{'k' * 75}...' (100,000 characters)"
    )
    assert len(found) == 5 and all(len(line) < 320 for line in found), [len(x) for x in found]


def test_validating_builtin_specs_does_not_import_tensorflow() -> None:
    code = (
        "import sys, glob\n"
        "from modelspec import validate_spec\n"
        "from modelspec.spec.jsonschema import spec_json_schema\n"
        "assert all(validate_spec(p).ok for p in glob.glob('specs/*.yaml'))\n"
        "spec_json_schema()\n"
        "from click.testing import CliRunner\n"
        "from modelspec.cli import main\n"  # expand and ops read no Keras either
        "for args in (['expand', 'specs/vae.yaml'], ['ops', 'mean'], ['layers', 'Sampling']):\n"
        "    assert CliRunner().invoke(main, args).exit_code == 0, args\n"
        "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_optimizer_and_schedule_arguments_are_checked(write_spec: Callable[..., str]) -> None:
    path = write_spec(
        HEADER
        + """\
  - {name: out, type: Dense, units: 2}
outputs: [out]
compile:
  optimizer:
    type: RMSprop
    learning_rat: 1e-3
    rho: "0.9"
    learning_rate: {type: ExponentialDecy, decay_steps: 10}
  loss: mse
"""
    )
    assert lines(path) == [
        "spec.yaml:11:5: compile.optimizer.learning_rat: unknown argument 'learning_rat' for "
        "RMSprop. Did you mean 'learning_rate'?",
        "spec.yaml:12:10: compile.optimizer.rho: expected a number. Received: rho='0.9'",
        "spec.yaml:13:27: compile.optimizer.learning_rate.type: unknown learning-rate schedule "
        "'ExponentialDecy'. Did you mean 'ExponentialDecay'?",
    ]
    text = (
        HEADER
        + "  - {name: out, type: Dense, units: 2}\noutputs: [out]\ncompile:\n"
        + "  optimizer: {type: sgd, learning_rate: {type: ExponentialDecay, decay_steps: 5}}\n"
    )
    assert lines(text) == [
        "<string>:9:41: compile.optimizer.learning_rate: missing required argument "
        "'initial_learning_rate' for ExponentialDecay",
        "<string>:9:41: compile.optimizer.learning_rate: missing required argument "
        "'decay_rate' for ExponentialDecay",
    ]
    assert lines(
        text.replace("{type: ExponentialDecay, decay_steps: 5}", "{type: Nope, x: 1}")
    ) == [
        "<string>:9:48: compile.optimizer.learning_rate.type: unknown learning-rate schedule "
        "'Nope'. Known: CosineDecay, CosineDecayRestarts, ExponentialDecay, InverseTimeDecay, "
        "PiecewiseConstantDecay, PolynomialDecay."
    ]
    assert (
        lines(
            text.replace(
                "decay_steps: 5", "initial_learning_rate: 0.1, decay_steps: 5, decay_rate: 0.5"
            )
        )
        == []
    )


def test_optimizer_values_keras_refuses_when_made_are_errors(
    write_spec: Callable[..., str],
) -> None:
    """Keras's SGD refuses momentum outside [0, 1] (a tuned momentum up to 1.5 failed its
    trials), ema_momentum too with use_ema, and two clip arguments: validate said ok."""
    path = write_spec(
        HEADER
        + """\
  - {name: out, type: Dense, units: 2}
outputs: [out]
compile:
  optimizer: {type: sgd, momentum: 1.5, clipnorm: 1.0, clipvalue: 0.5, use_ema: true, ema_momentum: -1}
  loss: mse
"""
    )
    assert lines(path) == [
        "spec.yaml:9:36: compile.optimizer.momentum: expected momentum between 0 and 1. "
        "Received: momentum=1.5",
        "spec.yaml:9:56: compile.optimizer.clipvalue: expected one of clipnorm, clipvalue and "
        "global_clipnorm. Received: clipnorm=1.0, clipvalue=0.5",
        "spec.yaml:9:101: compile.optimizer.ema_momentum: expected ema_momentum between 0 and "
        "1. Received: ema_momentum=-1",
    ]
    # RMSprop's momentum has no such range, ema_momentum only counts with use_ema
    text = (
        Path(path)
        .read_text()
        .replace(
            "sgd, momentum: 1.5, clipnorm: 1.0, clipvalue: 0.5, use_ema: true, ema_momentum: -1",
            "rmsprop, momentum: 3, clipnorm: 1.0, ema_momentum: 2",
        )
    )
    assert lines(text) == []


def test_losses_and_weights_must_match_the_outputs(write_spec: Callable[..., str]) -> None:
    path = write_spec(
        HEADER
        + """\
  - {name: a, type: Dense, units: 2}
  - {name: b, type: Dense, units: 1, inputs: x}
outputs: [a, b]
compile:
  loss: [mse, mse, mae]
  loss_weights: {a: 1.0, bb: 0.5}
"""
    )
    assert lines(path) == [
        "spec.yaml:10:9: compile.loss: expected one entry per output (2: a, b). "
        "Received 3: loss=['mse', 'mse', 'mae']",
        "spec.yaml:11:26: compile.loss_weights.bb: unknown output 'bb' (the outputs are a, b). "
        "Did you mean 'b'?",
    ]


def test_input_dtypes_and_nested_layer_names_are_checked(write_spec: Callable[..., str]) -> None:
    path = write_spec(
        """\
modelspec: 1
name: m
inputs:
  - {name: x, shape: [4, 3], dtype: flaot32}
layers:
  - {name: rnn, type: Bidirectional, layer: {type: LSTM, units: 4, name: "bad name"}}
outputs: [rnn]
"""
    )
    assert lines(path) == [
        "spec.yaml:4:37: inputs[0] (x).dtype: unknown dtype 'flaot32'. Did you mean 'float32'?",
        "spec.yaml:6:74: layers[0] (rnn).layer.name: expected a name of letters, digits, '_', "
        "'.' or '-' starting with a letter or '_'. Received: name='bad name'",
    ]


def test_literal_argument_choices_are_checked() -> None:
    text = HEADER + "  - {name: out, type: AddLoss, fn: squares}\noutputs: [out]\n"
    assert lines(text) == [
        "<string>:6:36: layers[0] (out).fn: expected one of 'mean_square', 'mean_abs', "
        "'sum_square', 'sum_abs', 'mean', 'sum'. Received: fn='squares'"
    ]


def test_call_arguments_may_be_literals() -> None:
    text = (
        HEADER
        + "  - {name: att, type: MultiHeadAttention, num_heads: 1, key_dim: 2,"
        + " inputs: {query: x, value: x, use_causal_mask: true}}\noutputs: [att]\n"
    )
    assert lines(text.replace("[8]", "[3, 8]")) == []
    assert lines(text.replace("true", "'x'")) == []  # a string is a reference
    assert lines(text.replace("true", "[true]")) == [
        "<string>:6:77: layers[0] (att).inputs: expected a node name, a list of node names, or a "
        "mapping of call arguments to node names or literal values (use_causal_mask: true). "
        "Received: inputs={'query': 'x', 'value': 'x', 'use_causal_mask': [True]}"
    ]


def test_unknown_reference_does_not_flood_unused_warnings() -> None:
    text = (
        HEADER
        + "  - {name: a, type: Dense, units: 2}\n"
        + "  - {name: b, type: Dense, units: 2}\n"
        + "  - {name: c, type: Dense, units: 2}\n"
        + "outputs: [cc]\n"
    )
    assert lines(text) == ["<string>:9:11: outputs[0]: unknown node 'cc'. Did you mean 'c'?"]
    assert len(validate_spec(text.replace("[cc]", "[b]")).warnings) == 1  # c is unused


def test_load_failures_raise_spec_load_error(write_spec: Callable[..., str]) -> None:
    from modelspec import SpecLoadError

    with pytest.raises(SpecLoadError, match="no such file"):
        load_spec("missing.yaml")
    with pytest.raises(SpecLoadError) as err:
        load_spec(write_spec("- a list\n"))
    assert isinstance(err.value, SpecError)


def test_train_section_is_checked(write_spec: Callable[..., str]) -> None:
    path = write_spec(
        """\
modelspec: 1
name: t
inputs: [{name: x, shape: [64]}]
layers:
  - {name: out, type: Dense, units: 10}
outputs: [out]
compile: {loss: sparse_categorical_crossentropy}
train:
  data:
    source: sklearn
    name: digit
    inputs: {xx: data}
    transform: {x: [{divde_by: 16}]}
  callbacks:
    - {type: early_stoping, patience: 2}
    - {type: ReduceLROnPlateau, patiense: 2}
  epochs: 0
  epoch: 3
"""
    )
    assert lines(path) == [
        "spec.yaml:11:11: train.data.name: unknown sklearn dataset 'digit'. Did you mean 'digits'?",
        "spec.yaml:12:14: train.data.inputs.xx: unknown model input 'xx' (the model has x). Did you mean 'x'?",
        "spec.yaml:13:22: train.data.transform.x[0].divde_by: unknown transform 'divde_by'. Did you mean 'divide_by'?",
        "spec.yaml:15:14: train.callbacks[0].type: unknown callback 'early_stoping'. Did you mean 'early_stopping'?",
        "spec.yaml:16:33: train.callbacks[1].patiense: unknown argument 'patiense' for ReduceLROnPlateau. Did you mean 'patience'?",
        "spec.yaml:17:11: train.epochs: expected a positive integer. Received: epochs=0",
        "spec.yaml:18:3: train.epoch: unknown key 'epoch'. Did you mean 'epochs'?",
    ]


def test_train_needs_a_loss_and_source_specific_keys() -> None:
    text = (
        HEADER
        + "  - {name: out, type: Dense, units: 2}\noutputs: [out]\n"
        + "train: {data: {source: npz}}\n"
    )
    assert lines(text) == [
        "<string>:8:1: train: training needs a loss: add `compile: {loss: ...}` (e.g. sparse_categorical_crossentropy)",
        "<string>:8:15: train.data: missing required key 'path' (the npz file or folder)",
    ]
    keras_text = text.replace("{source: npz}", "{source: keras, name: mnits}")
    assert lines(keras_text)[1] == (
        "<string>:8:37: train.data.name: unknown keras dataset 'mnits'. Did you mean 'mnist'?"
    )
    fn_text = text.replace("{source: npz}", "{source: function, name: my_data}")
    assert lines(fn_text)[1] == (
        "<string>:8:40: train.data.name: unknown data function 'my_data'. "
        "Custom datasets need their plugin (--plugin)."
    )


def test_callbacks_run_file_args_are_optional_and_freqs_take_ints() -> None:
    text = (
        HEADER
        + "  - {name: out, type: Dense, units: 2}\noutputs: [out]\n"
        + "compile: {loss: mse}\n"
        + "train:\n  data: {source: sklearn, name: iris}\n  callbacks:\n"
        + "    - {type: model_checkpoint, save_freq: 10}\n"
        + "    - {type: backup_and_restore, save_freq: false}\n"
        + "    - {type: tensorboard, update_freq: batch}\n"
        + "    - {type: csv_logger}\n"
    )
    assert lines(text) == []
    bad = text.replace("save_freq: 10", "save_freq: 0").replace(
        "update_freq: batch", "update_freq: 1.5"
    )
    assert lines(bad) == [
        "<string>:12:43: train.callbacks[0].save_freq: expected 'epoch', 'batch', a positive "
        "integer (batches) or false. Received: save_freq=0",
        "<string>:14:40: train.callbacks[2].update_freq: expected 'epoch', 'batch', a positive "
        "integer (batches) or false. Received: update_freq=1.5",
    ]


def test_export_section_is_checked() -> None:
    text = (
        HEADER
        + "  - {name: out, type: Dense, units: 2}\noutputs: [out]\n"
        + "export:\n  formats: [onxx, litert]\n  tolerance: -1\n  sample: 3\n"
    )
    assert lines(text) == [
        "<string>:9:13: export.formats[0]: expected formats from keras, saved_model, litert, onnx, openvino. Received: 'onxx'. Did you mean 'onnx'?",
        "<string>:10:14: export.tolerance: expected a number at least 0, or a mapping {format: number}. Received: tolerance=-1",
        "<string>:11:3: export.sample: unknown key 'sample'. Did you mean 'samples'?",
    ]
    good = text.replace("[onxx, litert]", "[onnx, litert]").replace("-1", "{onnx: 1e-3}")
    assert lines(good.replace("  sample: 3\n", "  samples: 3\n")) == []


def test_a_first_layer_without_inputs_is_reported_once() -> None:
    report = validate_spec(
        "modelspec: 1\nname: two\ninputs: [{name: a, shape: [2]}, {name: b, shape: [2]}]\n"
        "layers: [{name: d, type: Dense, units: 1}]\noutputs: [d]\n"
    )
    assert [d.format() for d in report.diagnostics] == [
        "<string>:4:10: layers[0] (d): missing `inputs:`: the first layer must say which of "
        "the inputs (a, b) it takes"
    ]


def test_unknown_names_after_refused_imports_point_at_them() -> None:
    report = validate_spec(
        "imports: [my_team.layers]\nmodelspec: 1\nname: m\ninputs: [{name: x, shape: [4]}]\n"
        "layers: [{name: s, type: Scale}, {name: d, type: Dense, units: 2, activation: shf}]\n"
        "outputs: [d]\n"
    )
    assert [d.message for d in report.errors][1:] == [
        "unknown layer type 'Scale'. It may come from the spec's refused imports (my_team.layers).",
        "unknown activation 'shf'. It may come from the spec's refused imports (my_team.layers).",
    ]
