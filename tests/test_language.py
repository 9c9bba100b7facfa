"""The spec language: repeat, blocks, tensor expressions, ops, shapes, add_loss expressions."""

from __future__ import annotations

import contextlib
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelspec import SpecError, build_model, load_spec, validate_spec
from modelspec.build import load_model
from modelspec.errors import BuildError
from modelspec.spec import tensors
from modelspec.spec.expand import MAX_NODES, expand
from modelspec.spec.loader import load_document
from modelspec.spec.render import render
from modelspec.spec.scalars import ExpressionError

HEAD = "modelspec: 1\nname: lang\n"


def spec_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(HEAD + textwrap.dedent(body), encoding="utf-8")
    return path


def errors(path: Path) -> list[str]:
    return [d.format().replace(str(path), "spec.yaml") for d in validate_spec(path).diagnostics]


ENCODER = """\
vars: {vocab: 50, maxlen: 6, dim: 8, depth: 2}
inputs:
  - {name: tokens, shape: ["${maxlen}"], dtype: int32}
blocks:
  encoder:
    params: {dim: 16, heads: 2, ff: 16, rate: 0.1}
    inputs: [x]
    layers:
      - {name: attn, type: MultiHeadAttention, num_heads: "${heads}", key_dim: "${dim}", inputs: {query: x, value: x}}
      - {name: drop1, type: Dropout, rate: "${rate}"}
      - {name: norm1, type: LayerNormalization, epsilon: 1e-6, inputs: "x + drop1"}
      - {name: ff1, type: Dense, units: "${ff}", activation: relu}
      - {name: ff2, type: Dense, units: "${dim}"}
      - {name: out, type: LayerNormalization, epsilon: 1e-6, inputs: "norm1 + ff2"}
    outputs: [out]
layers:
  - {name: embed, type: Embedding, input_dim: "${vocab}", output_dim: "${dim}", inputs: tokens}
  - {name: enc, block: encoder, repeat: "${depth}", dim: "${dim}", ff: 12}
  - {name: pooled, op: mean, axis: 1}
  - {name: probs, type: Dense, units: 2, activation: softmax}
outputs: [probs]
"""


# -- repeat --------------------------------------------------------------------
def test_repeat_unrolls_chains_and_names_copies(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path,
        """\
        inputs: [{name: x, shape: [4]}]
        layers:
          - {name: d, type: Dense, units: "${2 ** (i + 2)}", repeat: 3}
          - {name: skip, type: Dense, units: 4, inputs: d_0}
          - {name: out, type: Concatenate, inputs: [d, skip]}
        outputs: [out]
        """,
    )
    model = build_model(path)
    assert [layer.name for layer in model.layers][1:4] == ["d_0", "d_1", "d_2"]
    assert [model.get_layer(f"d_{k}").units for k in range(3)] == [4, 8, 16]
    assert model.get_layer("d_1").input.name == model.get_layer("d_0").output.name
    assert model.output.shape == (None, 20)  # d is the last copy (16) + skip (4)


def test_repeat_with_inputs_replaces_the_first_input_and_templates_the_others(
    tmp_path: Path,
) -> None:
    path = spec_file(
        tmp_path,
        """\
        inputs: [{name: x, shape: [4]}]
        layers:
          - {name: down, type: Dense, units: 4, repeat: 3}
          - {name: mid, type: Dense, units: 4}
          - {name: up, type: Concatenate, inputs: [mid, "down_${2 - i}"], repeat: 3}
        outputs: [up]
        """,
    )
    doc, problems = expand(load_document(path))
    assert problems == []
    ups = [n["inputs"] for n in doc.data["layers"] if n["name"].startswith("up_")]
    assert ups == [["mid", "down_2"], ["up_0", "down_1"], ["up_1", "down_0"]]
    assert build_model(path).output.shape == (None, 16)


def test_repeat_errors_are_located(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path,
        """\
        inputs: [{name: x, shape: [4]}]
        layers:
          - {name: a, type: Dense, units: 4, repeat: 0}
          - {name: b, type: Dense, units: 4, repeat: "${n}"}
          - {name: c, type: Dense, units: "${j}", repeat: 2}
        outputs: [c]
        """,
    )
    assert errors(path) == [
        "spec.yaml:5:46: layers[0] (a).repeat: expected a positive integer. Received: repeat=0",
        "spec.yaml:6:46: layers[1] (b).repeat: unknown name 'n'. Declare it under `vars:`. "
        "(in '${n}')",
        "spec.yaml:7:35: layers[2] (c).units: unknown name 'j'. Known: i. (in '${j}')",
    ]


def test_a_repeat_that_explodes_is_refused_at_its_line(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path,
        f"""\
        inputs: [{{name: x, shape: [4]}}]
        layers:
          - {{name: a, type: Dense, units: 4, repeat: {MAX_NODES + 1}}}
        outputs: [a]
        """,
    )
    assert errors(path)[0].startswith(
        "spec.yaml:5:46: layers[0] (a).repeat: the spec expands to more than 200,000 nodes"
    )


def test_an_error_in_a_copy_names_the_copy_and_is_reported_once(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path,
        """\
        inputs: [{name: x, shape: [4]}]
        layers:
          - {name: d, type: Dense, units: 4, activation: rleu, repeat: 3}
        outputs: [d]
        """,
    )
    assert errors(path) == [
        "spec.yaml:5:50: layers[0] (d_0).activation: unknown activation 'rleu'. "
        "Did you mean 'relu'?"
    ]


# -- blocks ----------------------------------------------------------------------
def test_a_transformer_with_repeated_encoder_blocks_builds(tmp_path: Path) -> None:
    path = spec_file(tmp_path, ENCODER)
    model = build_model(path)
    assert [layer.name for layer in model.layers] == [
        "tokens",
        "embed",
        "enc_0",
        "enc_1",
        "probs",
    ] or "enc_1" in [layer.name for layer in model.layers]
    enc = model.get_layer("enc_0")
    assert enc.get_layer("ff1").units == 12  # the instance's value
    assert enc.get_layer("attn")._num_heads == 2  # the block's default
    assert enc.get_layer("attn")._key_dim == 8  # the instance's, from a var
    assert model.get_layer("enc_1").get_layer("attn") is not enc.get_layer("attn")
    x = np.random.default_rng(0).integers(0, 50, (3, 6)).astype("int32")
    reloaded_path = tmp_path / "m.keras"
    model.save(reloaded_path)
    reloaded = load_model(reloaded_path)
    np.testing.assert_allclose(model.predict(x, verbose=0), reloaded.predict(x, verbose=0))


def test_errors_inside_a_block_name_the_instance_and_the_definition(tmp_path: Path) -> None:
    bad = (
        ENCODER.replace('key_dim: "${dim}"', 'key_dim: "${dim}", nm_heads: 3')
        .replace('"norm1 + ff2"', '"norm1 + ff3"')
        .replace("ff: 12", "fff: 12")
    )
    path = spec_file(tmp_path, bad)
    assert errors(path) == [
        "spec.yaml:20:5: layers[1] (enc_0) → blocks.encoder.layers[0] (attn).nm_heads at "
        "spec.yaml:11:90: unknown argument 'nm_heads' for MultiHeadAttention. "
        "Did you mean 'num_heads'?",
        "spec.yaml:20:5: layers[1] (enc_0) → blocks.encoder.layers[5] (out).inputs at "
        "spec.yaml:16:70: unknown node 'ff3'. Did you mean 'ff2'? (in 'norm1 + ff3')",
        "spec.yaml:20:68: layers[1] (enc_0).fff: block 'encoder' has no param 'fff'. "
        "Did you mean 'ff'?",
    ]


def test_block_usage_errors(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path,
        """\
        inputs: [{name: x, shape: [4]}, {name: y, shape: [4]}]
        blocks:
          pair:
            inputs: [a, b]
            layers: [{name: s, type: Add, inputs: [a, b]}]
            outputs: [s]
          loop:
            inputs: [a]
            layers: [{name: again, block: loop, inputs: a}]
            outputs: [again]
        layers:
          - {name: p, block: piar, inputs: [x, y]}
          - {name: q, block: pair, inputs: x}
          - {name: r, block: pair, inputs: {a: x, c: y}}
          - {name: l, block: loop, inputs: x}
          - {name: out, type: Concatenate, inputs: [p, q, r, l]}
        outputs: [out]
        """,
    )
    assert errors(path) == [
        "spec.yaml:14:22: layers[0] (p).block: unknown block 'piar'. Did you mean 'pair'?",
        "spec.yaml:15:36: layers[1] (q).inputs: block 'pair' takes 2 inputs (a, b). Received: 1",
        "spec.yaml:16:36: layers[2] (r).inputs: block 'pair' takes 2 inputs (a, b). "
        "Received no 'b'",
        "spec.yaml:16:43: layers[2] (r).inputs.c: block 'pair' takes 2 inputs (a, b); "
        "it has no input 'c'.",
        "spec.yaml:17:5: layers[3] (l) → blocks.loop.layers[0] (again).block at spec.yaml:11:35: "
        "block 'loop' cannot contain itself: loop -> loop",
    ]


def test_a_shared_instance_reuses_the_block_weights(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path,
        """\
        inputs: [{name: left, shape: [5]}, {name: right, shape: [5]}]
        blocks:
          tower:
            inputs: [x]
            layers:
              - {name: h, type: Dense, units: 4, activation: relu}
              - {name: e, type: Dense, units: 3}
            outputs: [e]
        layers:
          - {name: a, block: tower, inputs: left}
          - {name: b, share: a, inputs: right}
          - {name: dist, expr: "sum(square(a - b), axis=-1, keepdims=True)"}
        outputs: [dist]
        """,
    )
    model = build_model(path)
    assert model.count_params() == (5 * 4 + 4) + (4 * 3 + 3)
    assert model.output_names == ["dist"]


def test_a_block_with_several_outputs_is_indexed(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path,
        """\
        inputs: [{name: x, shape: [4]}]
        blocks:
          split:
            inputs: [v]
            layers:
              - {name: lo, type: Dense, units: 2}
              - {name: hi, type: Dense, units: 3, inputs: v}
            outputs: [lo, hi]
        layers:
          - {name: s, block: split}
          - {name: out, type: Dense, units: 1, inputs: "s[1]"}
        outputs: [out]
        """,
    )
    assert build_model(path).get_layer("out").input.shape == (None, 3)


def test_a_block_builds_alone(tmp_path: Path) -> None:
    path = spec_file(tmp_path, ENCODER)
    alone = build_model(path, block="encoder")  # no declared shape: its first use's
    assert alone.name == "encoder" and alone.input.shape == (None, 6, 8)
    declared = ENCODER.replace("inputs: [x]", "inputs: [{name: x, shape: [10, 8]}]")
    alone = build_model(spec_file(tmp_path, declared), block="encoder")
    assert alone.name == "encoder" and alone.input.shape == (None, 10, 8)
    with pytest.raises(BuildError) as err:
        build_model(path, block="encodr")
    assert "unknown block 'encodr'. Did you mean 'encoder'?" in str(err.value)


def test_an_unused_block_is_checked_with_its_defaults(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path,
        """\
        inputs: [{name: x, shape: [4]}]
        blocks:
          spare:
            params: {units: 0}
            inputs: [{name: v, shape: [3]}]
            layers: [{name: d, type: Dense, units: "${units}"}]
            outputs: [d]
        layers: [{name: out, type: Dense, units: 1}]
        outputs: [out]
        """,
    )
    assert errors(path) == [
        "spec.yaml:8:44: blocks.spare.layers[0] (d).units: expected a positive integer. "
        "Received: units=0"
    ]


# -- expressions and ops -----------------------------------------------------------
VAE = """\
inputs: [{name: x, shape: [6]}]
layers:
  - {name: h, type: Dense, units: 8, activation: relu}
  - {name: mu, type: Dense, units: 2, inputs: h}
  - {name: lv, type: Dense, units: 2, inputs: h}
  - name: z
    expr: "mu + exp(0.5 * lv) * ones_like(mu)"
    add_loss: {expr: "-0.5 * mean(sum(1 + lv - square(mu) - exp(lv), axis=-1))", weight: 1.0}
  - {name: scaled, expr: "z[:, :1] / 255"}
  - {name: pooled, op: concatenate, inputs: [scaled, z], axis: -1}
outputs: [pooled]
"""


def test_expressions_and_ops_build_save_and_reload(tmp_path: Path) -> None:
    model = build_model(spec_file(tmp_path, VAE))
    assert model.output_names == ["pooled"]
    names = [op.name for op in model.operations]
    assert {"z", "scaled", "pooled"} <= set(names) and "Identity" not in str(model.layers)
    x = np.random.default_rng(1).normal(size=(4, 6)).astype("float32")
    out = model(x)
    assert tuple(out.shape) == (4, 3)
    assert len(model.losses) == 1 and float(model.losses[0]) >= 0
    path = tmp_path / "vae.keras"
    model.save(path)
    reloaded = load_model(path)
    np.testing.assert_allclose(model.predict(x, verbose=0), reloaded.predict(x, verbose=0))
    assert [op.name for op in reloaded.operations] == names
    reloaded(x)
    assert len(reloaded.losses) == 1


def test_expression_errors_are_located(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path,
        """\
        vars: {scale: 2}
        inputs: [{name: x, shape: [4]}]
        layers:
          - {name: a, expr: "x * scale"}
          - {name: b, expr: "mean(a, axs=1)"}
          - {name: c, expr: "a + "}
          - {name: d, expr: "map(a)"}
          - {name: e, op: meen, inputs: a}
          - {name: f, expr: "a.__class__"}
          - {name: g, type: Concatenate, inputs: [a, b, c, d, e, f]}
        outputs: [g]
        """,
    )
    found = errors(path)
    assert found[0] == (
        "spec.yaml:6:21: layers[0] (a).expr: unknown node 'scale'. A var or block param goes in "
        "as ${scale}. (in 'x * scale')"
    )
    assert found[1] == (
        "spec.yaml:7:21: layers[1] (b).expr: unknown argument 'axs' for mean() "
        "(it takes x, axis, keepdims). Did you mean 'axis'? (in 'mean(a, axs=1)')"
    )
    assert found[2].startswith("spec.yaml:8:21: layers[2] (c).expr: cannot parse the expression")
    assert found[3].startswith("spec.yaml:9:21: layers[3] (d).expr: keras.ops.map cannot be used")
    assert found[4].startswith(
        "spec.yaml:10:19: layers[4] (e).op: unknown op 'meen'. Did you mean 'mean'?"
    )
    assert found[5].startswith(
        "spec.yaml:11:21: layers[5] (f).expr: 'a.__class__' is not something expressions have"
    )


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_text_is_an_expression_or_an_expression_error(text: str) -> None:
    class Anything:
        def node(self, name: str) -> None: ...
        def constant(self, value: object) -> None: ...
        def call(self, fn: str, args: list[object], kwargs: dict[str, object]) -> None: ...
        def item(self, value: object, index: object) -> None: ...
        def span(self, lower: object, upper: object, step: object) -> None: ...
        def sequence(self, items: list[object], is_tuple: bool) -> None: ...

    with contextlib.suppress(ExpressionError):
        tensors.interpret(text, Anything())
    tensors.refs(text)


# -- shapes ------------------------------------------------------------------------
def test_a_value_can_read_a_node_shape_while_building(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path,
        """\
        vars: {k: 2}
        inputs: [{name: seq, shape: [null, 5]}]
        layers:
          - {name: conv, type: Conv1D, filters: "${k * seq.shape[-1]}", kernel_size: 3}
          - {name: back, type: Dense, units: "${shape(seq)[2]}"}
        outputs: [back]
        """,
    )
    doc, _ = expand(load_document(path))
    assert doc.data["layers"][0]["filters"] == "${2 * seq.shape[-1]}"
    model = build_model(path)
    assert model.get_layer("conv").filters == 10 and model.get_layer("back").units == 5


def test_shape_errors_are_located(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path,
        """\
        inputs: [{name: seq, shape: [null, 5]}]
        layers:
          - {name: a, type: Dense, units: "${sq.shape[-1]}"}
          - {name: b, type: Dense, units: "${seq.shape[1]}", inputs: seq}
          - {name: c, type: Dense, units: "d_${seq.shape[1]}", inputs: seq}
          - {name: out, type: Concatenate, inputs: [a, b]}
        outputs: [out]
        """,
    )
    assert errors(path)[:2] == [
        "spec.yaml:5:35: layers[0] (a).units: unknown node 'sq' in sq.shape. Did you mean 'seq'?",
        "spec.yaml:7:35: layers[2] (c).units: a node's shape is known only while building, so "
        'it can be a whole value ("${x.shape[-1]}") but not part of a longer string '
        "(in 'd_${seq.shape[1]}')",
    ]
    ok = path.read_text().replace('  - {name: a, type: Dense, units: "${sq.shape[-1]}"}\n', "")
    ok = ok.replace('"d_${seq.shape[1]}"', "3").replace("[a, b]", "[b, c]")
    path.write_text(ok)
    with pytest.raises(BuildError) as err:
        build_model(path)
    assert str(err.value).endswith(
        "layers[0] (b).units: dimension 1 of the shape (None, None, 5) is not known before the "
        "model runs (None) (in '${seq.shape[1]}')"
    )


# -- expand ------------------------------------------------------------------------
def test_the_expanded_spec_is_a_spec_of_the_same_model(tmp_path: Path) -> None:
    path = spec_file(tmp_path, ENCODER)
    text = render(load_spec(path).document)
    assert "- {name: enc_1, block: encoder, dim: 8, ff: 12}  # line 20 (copy 2 of 2)" in text
    again = tmp_path / "expanded.yaml"
    again.write_text(text)
    assert build_model(again).count_params() == build_model(path).count_params()


def test_load_spec_error_lists_block_errors(tmp_path: Path) -> None:
    path = spec_file(tmp_path, ENCODER.replace("rate: 0.1}", "rate: 1.5}"))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert "blocks.encoder.layers[1] (drop1).rate" in str(err.value)


def test_later_copies_take_the_previous_copy_in_place_of_a_whole_expression(
    tmp_path: Path,
) -> None:
    path = spec_file(
        tmp_path,
        """\
        inputs: [{name: a, shape: [4]}, {name: b, shape: [4]}]
        layers:
          - {name: d, type: Dense, units: 4, repeat: 3, inputs: "a + b"}
          - {name: h, expr: "h0 * 2", repeat: 2}
          - {name: h0, type: Dense, units: 4, inputs: a}
        outputs: [d, h]
        """,
    )
    doc, _ = expand(load_document(path))
    wired = {n["name"]: n.get("inputs", n.get("expr")) for n in doc.data["layers"]}
    assert wired == {
        "d_0": "a + b",
        "d_1": "d_0",
        "d_2": "d_1",
        "h_0": "h0 * 2",
        "h_1": "h_0 * 2",
        "h0": "a",
    }


def test_a_block_input_shape_may_use_params(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path,
        """\
        vars: {n: 4}
        inputs: [{name: x, shape: [4]}]
        blocks:
          dec:
            params: {width: 3}
            inputs: [{name: z, shape: ["${n}"]}]
            layers: [{name: d, type: Dense, units: "${width}"}]
            outputs: [d]
          bad:
            inputs: [{name: z, shape: [0]}]
            layers: [{name: d, type: Dense, units: 1}]
            outputs: [d]
        layers: [{name: out, block: dec}]
        outputs: [out]
        """,
    )
    assert errors(path) == [
        "spec.yaml:12:32: blocks.bad.inputs[0] (z).shape[0]: expected a list of positive integers "
        "(null for a size not known in advance). Received: shape=[0]"
    ]
    path.write_text(path.read_text().replace("[0]", "[2]"))
    assert build_model(path, block="dec").input.shape == (None, 4)


def test_an_error_in_nested_block_copies_is_reported_once(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path,
        """\
        inputs: [{name: x, shape: [4]}]
        blocks:
          unit:
            inputs: [v]
            layers: [{name: d, type: Dense, unts: 4}]
            outputs: [d]
          stage:
            inputs: [v]
            layers: [{name: u, block: unit, repeat: 3}]
            outputs: [u]
        layers: [{name: s, block: stage, repeat: 4}]
        outputs: [s]
        """,
    )
    assert errors(path) == [
        "spec.yaml:13:10: layers[0] (s_0) → blocks.stage.layers[0] (u_0) at spec.yaml:11:14 → "
        "blocks.unit.layers[0] (d).unts at spec.yaml:7:37: unknown argument 'unts' for Dense. "
        "Did you mean 'units'?"
    ]


def test_a_long_cycle_is_clipped(tmp_path: Path) -> None:
    names = [f"{c * 60}" for c in "abcdefghij"]
    layers = "\n".join(
        f"  - {{name: {n}, type: Dense, units: 2, inputs: {names[k - 1]}}}"
        for k, n in enumerate(names)
    )
    path = spec_file(
        tmp_path, f"inputs: [{{name: x, shape: [4]}}]\nlayers:\n{layers}\noutputs: [x]\n"
    )
    message = errors(path)[0]
    assert "the graph has a cycle" in message and " -> ... -> " in message
    assert len(message) < 500


def test_a_build_error_inside_a_block_names_the_instance_and_the_definition(
    tmp_path: Path,
) -> None:
    path = spec_file(
        tmp_path,
        """\
        inputs: [{name: x, shape: [4]}]
        blocks:
          res:
            params: {units: 4}
            inputs: [v]
            layers:
              - {name: d, type: Dense, units: "${units}"}
              - {name: out, type: Add, inputs: [v, d]}
            outputs: [out]
        layers:
          - {name: r, block: res, repeat: 2, units: "${4 + i}"}
        outputs: [r]
        """,
    )
    with pytest.raises(BuildError) as err:
        build_model(path)
    message = str(err.value).splitlines()[1].replace(str(path), "spec.yaml")
    assert message == (
        "spec.yaml:13:5: layers[0] (r_1) → blocks.res.layers[1] (out) at spec.yaml:10:9: "
        "ValueError while building this node: Inputs have incompatible shapes. "
        "Received shapes (4,) and (5,)"
    )


def test_a_node_cannot_take_the_name_a_repeat_gives_its_last_copy(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path,
        """\
        inputs: [{name: x, shape: [4]}]
        layers:
          - {name: d, type: Dense, units: 4, repeat: 2}
          - {name: d, type: Dense, units: 4}
        outputs: [d]
        """,
    )
    assert errors(path) == [
        "spec.yaml:6:12: layers[1] (d).name: duplicate node name 'd': the repeat at line 5 "
        "names its last copy so"
    ]


def test_an_empty_block_is_reported_once_at_its_definition(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path,
        """\
        inputs: [{name: x, shape: [4]}]
        blocks: {b: {inputs: [], layers: [], outputs: [q]}}
        layers: [{name: d, block: b}]
        outputs: [d]
        """,
    )
    assert errors(path) == [
        "spec.yaml:4:22: blocks.b.inputs: expected at least one entry. Received: inputs=[]",
        "spec.yaml:4:34: blocks.b.layers: expected at least one entry. Received: layers=[]",
        "spec.yaml:5:10: layers[0] (d) → blocks.b.outputs[0] at spec.yaml:4:48: unknown node 'q'.",
    ]


def test_a_block_whose_inputs_are_not_a_list_is_reported_at_its_definition(
    tmp_path: Path,
) -> None:
    path = spec_file(
        tmp_path,
        """        inputs: [{name: x, shape: [4]}]
        blocks: {b: {inputs: "x y", layers: [{name: q, type: Dense, units: 1}], outputs: [q]}}
        layers: [{name: d, block: b}]
        outputs: [d]
        """,
    )
    assert errors(path) == [
        "spec.yaml:4:22: blocks.b.inputs: expected a list of input names, or of {name, shape, "
        "dtype}. Received: inputs='x y'"
    ]


def test_a_node_cannot_read_its_own_shape(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path,
        """\
        inputs: [{name: x, shape: [4]}]
        layers: [{name: e, type: Dense, units: "${e.shape[1]}"}]
        outputs: [e]
        """,
    )
    assert errors(path) == [
        "spec.yaml:4:40: layers[0] (e).units: node 'e' cannot read its own shape"
    ]


def test_what_validate_now_sees_that_build_used_to(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path,
        """\
        inputs: [{name: x, shape: [4]}, {name: y, shape: [4]}]
        blocks:
          tower:
            inputs: [img]
            layers: [{name: d, type: Dense, units: 2}]
            outputs: [d]
        layers:
          - {name: a, block: tower, inputs: x}
          - {name: b, share: a, inputs: {imgg: y}}
          - {name: c, type: Dense, units: 2, inputs: "x[1]"}
          - {name: e, type: Dense, units: 2, inputs: "a[1]"}
          - {name: f, op: add, inputs: [a, b]}
          - {name: g, op: mean, axs: 1, inputs: c}
          - {name: h, expr: "add(e, e, axs=1) * (10 ** 10 ** 10)"}
          - {name: out, type: Concatenate, inputs: [f, g, h]}
        outputs: [out]
        """,
    )
    found = errors(path)
    assert found == [
        "spec.yaml:11:33: layers[1] (b).inputs: block 'tower' takes 1 input (img). Received no 'img'",
        "spec.yaml:11:34: layers[1] (b).inputs.imgg: block 'tower' takes 1 input (img); it has no "
        "input 'imgg'. Did you mean 'img'?",
        "spec.yaml:12:46: layers[2] (c).inputs: 'x' has a single output, so it cannot be indexed",
        "spec.yaml:13:46: layers[3] (e).inputs: 'a' has a single output, so it cannot be indexed",
        "spec.yaml:14:19: layers[4] (f).op: missing required argument 'x2' for add(): a list of "
        "inputs is one argument (as concatenate takes it); give several by name (inputs: "
        '{x1: a, x2: b}) or write an expression (expr: "add(a, b)")',
        "spec.yaml:15:25: layers[5] (g).axs: unknown argument 'axs' for mean() (it takes x, "
        "axis, keepdims). Did you mean 'axis'?",
        "spec.yaml:16:21: layers[6] (h).expr: unknown argument 'axs' for add() (it takes x1, "
        "x2). (in 'add(e, e, axs=1) * (10 ** 10 ** 10)')",
    ]


def test_a_repeat_whose_name_has_an_expression_names_each_copy_so(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path,
        """\
        inputs: [{name: x, shape: [4]}]
        layers:
          - {name: "stage${i + 1}", type: Dense, units: 4, repeat: 3}
          - {name: out, type: Dense, units: 1, inputs: stage3}
        outputs: [out]
        """,
    )
    doc, problems = expand(load_document(path))
    assert [n["name"] for n in doc.data["layers"]] == ["stage1", "stage2", "stage3", "out"]
    assert problems == [] and doc.aliases == {}
    model = build_model(path)
    assert model.get_layer("out").input.shape == (None, 4)
    assert [layer.name for layer in model.layers][1:4] == ["stage1", "stage2", "stage3"]


def test_json_diagnostics_give_the_definition_as_data(tmp_path: Path) -> None:
    path = spec_file(tmp_path, ENCODER.replace('"norm1 + ff2"', '"norm1 + ff3"'))
    (found,) = validate_spec(path).diagnostics
    data = found.to_dict()
    assert (data["line"], data["column"], data["path"]) == (20, 5, ["layers", 1])
    assert data["via"] == [
        {
            "where": "blocks.encoder.layers[5] (out).inputs",
            "file": str(path),
            "line": 16,
            "column": 70,
        }
    ]


def test_bad_values_of_the_language_keys_are_located(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path,
        """\
        inputs: [{name: x, shape: [4]}]
        blocks:
          b:
            params: {p: [1, 2]}
            inputs: [{name: v, shape: [4], dtype: flot32}]
            layers: [{name: d, type: Dense, units: 2}]
            outputs: [d]
        layers:
          - {name: s, type: Sampling, seed: "x", inputs: [x, x]}
          - {name: e, expr: 3}
          - {name: r, type: Dense, units: 2, repeat: "${1.5}", inputs: x}
          - {name: l, type: Dense, units: 2, inputs: x, add_loss: {expr: "mean(zz)"}}
          - {name: k, block: 3, inputs: x}
        outputs: [s, e, r, l, k]
        """,
    )
    found = errors(path)
    assert found == [
        "spec.yaml:6:17: blocks.b.params.p: expected a number, a boolean, a string or a "
        "${expression}. Received: p=[1, 2]",
        "spec.yaml:7:43: blocks.b.inputs[0] (v).dtype: unknown dtype 'flot32'. Did you mean "
        "'float32'?",
        "spec.yaml:11:37: layers[0] (s).seed: expected an integer. Received: seed='x'",
        "spec.yaml:12:21: layers[1] (e).expr: expected a tensor expression over node names such "
        "as 'x + y'. Received: expr=3",
        "spec.yaml:13:46: layers[2] (r).repeat: expected a positive integer. Received: repeat=1.5",
        "spec.yaml:14:66: layers[3] (l).add_loss.expr: unknown node 'zz'. (in 'mean(zz)')",
        "spec.yaml:15:22: layers[4] (k).block: expected the name of a block defined under "
        "`blocks:`. Received: block=3",
    ]


def test_a_block_named_null_or_by_a_number_beside_an_unknown_block() -> None:
    # did_you_mean folded every block name with .lower(): AttributeError on a null or
    # int key (found by bench/fuzz.py --spaces)
    text = (
        "modelspec: 1\nname: m\n"
        "blocks: {null: {inputs: [a], layers: [{name: c, type: Dense, units: 1}], outputs: [c]}}\n"
        "inputs: [{name: x, shape: [4]}]\nlayers:\n  - {name: b, block: nope}\noutputs: [b]\n"
    )
    found = [d.format() for d in validate_spec(text).errors]
    assert found[0].startswith(
        "<string>:3:9: blocks: expected a mapping {block name: {params, inputs, layers, "
        "outputs}}. Received: blocks={None: "
    )
    assert found[1:] == ["<string>:6:22: layers[0] (b).block: unknown block 'nope'. Known: None."]
