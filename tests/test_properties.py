"""Property tests of validation: a bad spec is reported at its line, never raised; a valid one builds.

(a) Mutants of the seed specs (the mutations of ``bench/fuzz.py``), YAML-ish
documents and raw token soup: ``validate_spec`` returns a report whose errors
each have a line >= 1 and a message of at most 1,000 characters. Mappings given
directly (no positions) must not raise either. (b) Generated valid specs,
chains and small DAGs of built-in layers with valid arguments: they validate
and build. The runs are derandomized, so a failure is the same on every run;
each crash the fuzzer once found is pinned below as a small example.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from modelspec import validate_spec
from modelspec.catalogue import builtin_names

ROOT = Path(__file__).resolve().parent.parent


def _load_fuzz() -> ModuleType:
    """``bench/fuzz.py`` (not a package) as a module: its mutations and checks."""
    spec = importlib.util.spec_from_file_location("modelspec_fuzz", ROOT / "bench" / "fuzz.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


fuzz = _load_fuzz()
SEEDS = fuzz.seed_specs()

SETTINGS = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def as_text(text: str) -> str:
    """A one-line string naming an existing file would be read as a path: end with a newline."""
    return text if "\n" in text else text + "\n"


def assert_reported(source: Any, *, located: bool = True) -> None:
    """``validate_spec`` returns (no exception); its errors are located and bounded."""
    report = validate_spec(source)
    for d in report.errors:
        assert d.file and len(d.message) <= fuzz.MAX_MESSAGE, f"{d.file}: {d.message[:200]}"
        if located:
            assert d.line >= 1 and d.column >= 1, d.format()[:300]


# --------------------------------------------------------------------------- (a) never raises


@SETTINGS
@given(seed=st.sampled_from(sorted(SEEDS)), rng=st.randoms(use_true_random=False))
def test_mutated_seed_specs_are_reported_not_raised(seed: str, rng: Any) -> None:
    mutant = fuzz.mutate(rng, SEEDS[seed], seed)
    note(f"{seed}: {'; '.join(mutant.steps)}\n{mutant.text[:2000]!r}")
    assert_reported(as_text(mutant.text))


SPEC_KEYS = ["modelspec", "name", "description", "imports", "inputs", "layers", "outputs"]
SPEC_KEYS += ["compile", "train", "export", "type", "shape", "dtype", "units", "rate", "share"]
SPEC_KEYS += ["activation", "add_loss", "optimizer", "loss", "metrics", "loss_weights", "data"]
SPEC_KEYS += ["source", "transform", "split", "callbacks", "formats", "vocabulary", "layer"]
WORDS = ["Dense", "Dropout", "LSTM", "Add", "Bidirectional", "StringLookup", "relu", "adam"]
WORDS += ["mse", "x", "y", "x[0]", "x[-1]", "sklearn", "digits", "float32", "onnx", "<<"]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(SPEC_KEYS + WORDS)
)
keys = st.sampled_from(SPEC_KEYS) | st.text(max_size=6) | st.integers(-3, 3) | st.none()
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)
nodes = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["x", "a", "b", ""]) | values,
        "type": st.sampled_from(WORDS) | values,
        "shape": st.lists(st.integers(-1, 4) | st.none(), max_size=3) | values,
        "inputs": st.sampled_from(["x", "a", "b", "a[1]"]) | values,
        "units": st.integers(-1, 3) | values,
        "share": st.sampled_from(["a", "b"]) | values,
        "activation": st.sampled_from(["relu", "nope"]) | values,
        "layer": values,
        "vocabulary": st.sampled_from(["", ".", "\x00", "a" * 300]) | values,
    },
)
documents = st.fixed_dictionaries(
    {},
    optional={
        "modelspec": st.just(1) | values,
        "name": st.just("m") | values,
        "inputs": st.lists(nodes, max_size=3) | values,
        "layers": st.lists(nodes, max_size=4) | values,
        "outputs": st.sampled_from(["a", ["a", "b"], {"o": "a"}]) | values,
        "compile": st.dictionaries(st.sampled_from(SPEC_KEYS), values, max_size=3) | values,
        "train": st.dictionaries(st.sampled_from(SPEC_KEYS), values, max_size=3) | values,
        "export": values,
    },
)


@SETTINGS
@given(documents)
def test_yaml_documents_are_reported_not_raised(data: dict[str, Any]) -> None:
    text = fuzz.dump(data)
    note(text)
    assert_reported(as_text(text))


@SETTINGS
@given(documents)
def test_mappings_are_reported_not_raised(data: dict[str, Any]) -> None:
    assert_reported(data, located=False)  # a mapping has no lines: "<dict>:"


TOKENS = ["modelspec", "name", "inputs", "layers", "outputs", "type", "Dense", "units", "x"]
TOKENS += [":", ": ", "- ", "\n", "  ", "\t", "{", "}", "[", "]", ",", "'", '"', "#", "?", "|"]
TOKENS += [">", "&a ", "*a", "<<: ", "---\n", "...\n", "%YAML 1.2\n", "!!str ", "!x ", "1"]
TOKENS += ["1e5", ".nan", "-.inf", "null", "~", "true", "x[0]", "\x00", "\x07", "\x85", "\ufeff"]
TOKENS += ["\u2028", "\ud800", "é", "\\"]


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS) | st.text(max_size=3), max_size=60).map("".join))
def test_token_soup_is_reported_not_raised(text: str) -> None:
    assert_reported(as_text(text))


# ---------------------------------------------------------- crashes found once, kept fixed


HEAD = "modelspec: 1\nname: m\ninputs: [{name: x, shape: [4]}]\n"
#: The smallest case of each kind the fuzzer found (the fixed ones stay, as regressions).
KNOWN_TEXTS = [
    pytest.param("\n", id="empty"),
    pytest.param("# nothing here\n", id="comment only"),
    pytest.param(
        "layers:\n- {name: [a], add_loss: {}}\ncompile: {loss: mse}\ntrain: {}\n",
        id="list as a layer name",
    ),
    pytest.param(
        HEAD + 'layers: [{name: d, type: StringLookup, vocabulary: "a\\0b"}]\noutputs: [d]\n',
        id="vocabulary with NUL",
    ),
    pytest.param(
        HEAD
        + f"layers: [{{name: d, type: StringLookup, vocabulary: {'a' * 300}}}]\noutputs: [d]\n",
        id="vocabulary name too long",
    ),
    pytest.param("train:\n  data:\n    transform: 1\n", id="transform not a mapping"),
    pytest.param("name: \ud800\n", id="lone surrogate"),
    pytest.param("a: {<<: 1}\n", id="merge of a scalar"),
    pytest.param("<<: [2]\n", id="merge of a list of scalars"),
    pytest.param("name: a\x0e\n", id="control character"),
    pytest.param("a: " + "[" * 500 + "]" * 500 + "\n", id="nesting 500 deep"),
    pytest.param(
        "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a]\n"
        "description: [*b, *b, *b, *b, *b, *b]\n",
        id="alias to a long list",
    ),
    pytest.param(
        "train: {data: {source: sklearn, name: " + "x" * 2000 + "}}\n", id="long dataset name"
    ),
]


@pytest.mark.parametrize("text", KNOWN_TEXTS)
def test_known_texts_are_reported(text: str) -> None:
    assert_reported(text)


@pytest.mark.parametrize(
    "content",
    [b"modelspec: 1\nname: \xff\n", b"modelspec: 1\x00\n"],
    ids=["not UTF-8", "binary"],
)
def test_known_files_are_reported(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(content)
    assert_reported(str(path))


def _nested_layers(depth: int) -> dict[str, Any]:
    layer: dict[str, Any] = {"type": "Dense", "units": 2}
    for _ in range(depth):
        layer = {"type": "TimeDistributed", "layer": layer}
    return layer


DEEP_DICTS = {
    "deep list argument": {"units": fuzz.nested_list(5000)},
    "deep mapping argument": {"units": 2, "kernel_initializer": fuzz.nested_dict(5000)},
    "deep nested layers": {"type": "TimeDistributed", "layer": _nested_layers(2000)},
}


@pytest.mark.parametrize("node", list(DEEP_DICTS.values()), ids=list(DEEP_DICTS))
def test_deep_mappings_are_reported(node: dict[str, Any]) -> None:
    layer = {"name": "d", "type": "Dense", **node}
    data = {"modelspec": 1, "name": "m", "inputs": [{"name": "x", "shape": [4]}]}
    assert_reported({**data, "layers": [layer], "outputs": ["d"]}, located=False)


# --------------------------------------------------------------------------- (b) valid specs build

#: Every built-in activation but glu, which halves the last axis (an odd size fails in Keras).
ACTIVATIONS = sorted(set(builtin_names("activations")) - {"glu"})


class _Graph:
    """A spec being generated: its layer nodes, and each node's output shape."""

    def __init__(self, draw: Any, shapes: dict[str, list[int]]) -> None:
        self.draw = draw
        self.shapes = dict(shapes)
        self.layers: list[dict[str, Any]] = []
        self.single_input = len(shapes) == 1

    def add(self, type_: str, shape: list[int], inputs: Any, **args: Any) -> str:
        name = f"n{len(self.layers)}"
        node: dict[str, Any] = {"name": name, "type": type_, **args}
        previous = self.layers[-1]["name"] if self.layers else None
        first_default = not self.layers and self.single_input
        implied = isinstance(inputs, str) and (inputs == previous or first_default)
        if not implied or self.draw(st.booleans()):  # omitted inputs: the previous node
            node["inputs"] = inputs
        self.layers.append(node)
        self.shapes[name] = shape
        return name

    def activation(self) -> dict[str, str]:
        act = self.draw(st.none() | st.sampled_from(ACTIVATIONS))
        return {} if act is None else {"activation": act}

    def dense(self, x: str, units: int | None = None) -> str:
        units = units or self.draw(st.integers(1, 8))
        return self.add("Dense", [*self.shapes[x][:-1], units], x, units=units, **self.activation())

    def conv(self, x: str) -> str:
        """Conv1D on a sequence, Conv2D on an image: kernel within the input, valid padding."""
        *sizes, _ = self.shapes[x]
        kernel = [self.draw(st.integers(1, s)) for s in sizes]
        padding = self.draw(st.sampled_from(["valid", "same"]))
        out = (
            sizes if padding == "same" else [s - k + 1 for s, k in zip(sizes, kernel, strict=True)]
        )
        filters = self.draw(st.integers(1, 6))
        as_int = len(set(kernel)) == 1 and self.draw(st.booleans())
        kernel_size: Any = kernel[0] if as_int else kernel
        type_ = f"Conv{len(sizes)}D"
        args = {"filters": filters, "kernel_size": kernel_size, "padding": padding}
        return self.add(type_, [*out, filters], x, **args, **self.activation())

    def step(self, x: str) -> str:
        """One random layer, or a small DAG, after node ``x``."""
        shape = self.shapes[x]
        ops = ["dense", "dropout", "norm", "activation", "add", "concat", "residual"]
        ops += ["conv", "pool"] if len(shape) > 1 else []
        op = self.draw(st.sampled_from(ops))
        if op == "dense":
            return self.dense(x)
        if op == "dropout":
            return self.add("Dropout", shape, x, rate=self.draw(st.floats(0, 1)))
        if op == "norm":
            return self.add("LayerNormalization", shape, x)
        if op == "activation":
            return self.add(
                "Activation", shape, x, activation=self.draw(st.sampled_from(ACTIVATIONS))
            )
        if op == "conv":
            return self.conv(x)
        if op == "pool":
            pool = "GlobalAveragePooling" if self.draw(st.booleans()) else "GlobalMaxPooling"
            return self.add(f"{pool}{len(shape) - 1}D", shape[-1:], x)
        if op == "residual":
            branch = self.dense(x, units=shape[-1])
            return self.add("Add", shape, [x, branch])
        a = self.dense(x)
        b = self.dense(x, units=self.shapes[a][-1] if op == "add" else None)
        last = self.shapes[a][-1] + (self.shapes[b][-1] if op == "concat" else 0)
        return self.add("Add" if op == "add" else "Concatenate", [*shape[:-1], last], [a, b])


@st.composite
def valid_specs(draw: Any) -> tuple[dict[str, Any], list[int]]:
    """A valid spec of built-in layers, and the shape of its output (batch excluded)."""
    rank = draw(st.sampled_from([1, 2, 3]))  # vectors, sequences (Conv1D), images (Conv2D)
    shape = [draw(st.integers(1, 6)) for _ in range(rank - 1)] + [draw(st.integers(1, 8))]
    shapes = {"x": shape}
    if rank == 1 and draw(st.booleans()):
        shapes["y"] = [draw(st.integers(1, 8))]
    graph = _Graph(draw, shapes)
    x = "x"
    if "y" in shapes:
        x = graph.add("Concatenate", [shape[0] + shapes["y"][0]], ["x", "y"])
    for _ in range(draw(st.integers(1, 5))):
        x = graph.step(x)
    spec: dict[str, Any] = {
        "modelspec": 1,
        "name": "generated",
        "inputs": [{"name": n, "shape": s} for n, s in shapes.items()],
        "layers": graph.layers,
        "outputs": draw(st.sampled_from([x, [x], {"out": x}])),
    }
    if draw(st.booleans()):
        optimizer = draw(st.sampled_from(["adam", {"type": "sgd", "learning_rate": 0.01}]))
        spec["compile"] = {"optimizer": optimizer, "loss": "mse"}
    return spec, graph.shapes[x]


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(valid_specs())
def test_generated_valid_specs_validate_and_build(
    generated: tuple[dict[str, Any], list[int]],
) -> None:
    import keras

    from modelspec import build_model

    spec, shape = generated
    text = fuzz.dump(spec)
    note(text)
    report = validate_spec(text)
    assert report.ok, "\n".join(d.format() for d in report.errors)
    try:
        model = build_model(text)
        assert tuple(model.outputs[0].shape) == (None, *shape)
    finally:
        keras.backend.clear_session()


# ------------------------------------------------------- (d) the language: blocks, repeat, exprs
RESIDUAL = {
    "params": {"units": 4},
    "inputs": ["v"],
    "layers": [
        {"name": "h", "type": "Dense", "units": "${units}", "activation": "relu"},
        {"name": "o", "expr": "v + h"},
    ],
    "outputs": ["o"],
}


@st.composite
def language_specs(draw: Any) -> tuple[dict[str, Any], int]:
    """A valid spec that uses vars, repeat, a block, expressions and ops; its width."""
    width = draw(st.integers(1, 6))
    names = ["x"]
    layers: list[dict[str, Any]] = []
    for k in range(draw(st.integers(1, 6))):
        a, b = draw(st.sampled_from(names)), draw(st.sampled_from(names))
        kind = draw(st.sampled_from(["dense", "repeat", "block", "expr", "op", "share"]))
        name = f"n{k}"
        repeat = draw(st.integers(1, 3))
        if kind == "dense":
            node: dict[str, Any] = {"name": name, "type": "Dense", "units": "${w}", "inputs": a}
        elif kind == "repeat":
            node = {"name": name, "type": "Dense", "units": "${w}", "repeat": repeat}
            node["inputs"] = a
        elif kind == "block":
            node = {"name": name, "block": "res", "units": "${w * 1}", "repeat": repeat}
            node["inputs"] = a
        elif kind == "expr":
            text = draw(st.sampled_from(["{a} + {b}", "maximum({a}, {b}) * 0.5", "-{a} / 2"]))
            node = {"name": name, "expr": text.format(a=a, b=b)}
        elif kind == "op":
            node = {"name": name, "op": "multiply", "inputs": {"x1": a, "x2": b}}
        else:
            blocks = [n for n in names if n.startswith("b")]
            if not blocks:
                continue
            node = {"name": name, "share": draw(st.sampled_from(blocks)), "inputs": a}
        if kind == "block" and repeat == 1:
            name = node["name"] = f"b{k}"  # an instance others may share
            node.pop("repeat")
        layers.append(node)
        names.append(name)
    if not layers:
        layers.append({"name": "n0", "type": "Dense", "units": "${w}"})
        names.append("n0")
    spec = {
        "modelspec": 1,
        "name": "language",
        "vars": {"w": width},
        "inputs": [{"name": "x", "shape": ["${w}"]}],
        "blocks": {"res": RESIDUAL},
        "layers": layers,
        "outputs": [names[-1]],
    }
    return spec, width


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(language_specs())
def test_generated_language_specs_build_and_expand_to_the_same_model(
    generated: tuple[dict[str, Any], int],
) -> None:
    import keras

    from modelspec import build_model, load_spec
    from modelspec.spec.render import render

    spec, width = generated
    text = fuzz.dump(spec)
    note(text)
    report = validate_spec(text)
    assert not report.errors, "\n".join(d.format() for d in report.errors)
    try:
        model = build_model(text)
        assert tuple(model.outputs[0].shape) == (None, width)
        expanded = render(load_spec(text).document)
        note(expanded)
        assert build_model(expanded).count_params() == model.count_params()
    finally:
        keras.backend.clear_session()


@settings(SETTINGS, max_examples=60)
@given(seed=st.sampled_from(sorted(SEEDS)), rng=st.randoms(use_true_random=False))
def test_mutants_with_search_spaces_are_reported_not_raised(seed: str, rng: Any) -> None:
    # bench/fuzz.py --spaces: odd {tune: ...} mappings anywhere, vars, aliases, tune: sections
    mutant = fuzz.mutate(rng, SEEDS[seed], seed, spaces=True)
    note(f"{seed}: {'; '.join(mutant.steps)}\n{mutant.text[:2000]!r}")
    assert_reported(as_text(mutant.text))
