"""``modelspec plot`` and :mod:`modelspec.plot`: Mermaid text of the built graph."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelspec.cli import main
from modelspec.plot import mermaid

from .conftest import ROOT

NODE = re.compile(r'^\s*(n\d+)\["(.*)"\]$')
SUBGRAPH = re.compile(r'^\s*subgraph (s\d+)\["(.*)"\]$')
EDGE = re.compile(r"^\s*(\w+) --> (\w+)$")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def chart(text: str) -> tuple[dict[str, str], dict[str, list[str]], list[tuple[str, str]]]:
    """``({node id: label}, {subgraph label: its node labels}, edges)``; every line is
    a header, a node, a subgraph's start or end, or an edge."""
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    assert lines[1].startswith("    %% ")
    nodes: dict[str, str] = {}
    groups: dict[str, list[str]] = {}
    open_groups: list[str] = []
    edges: list[tuple[str, str]] = []
    ids: list[str] = []
    for line in lines[2:]:
        if m := NODE.match(line):
            ids.append(m[1])
            nodes[m[1]] = m[2]
            for group in open_groups:
                groups[group].append(m[2])
        elif m := SUBGRAPH.match(line):
            ids.append(m[1])
            groups[m[2]] = []
            open_groups.append(m[2])
        elif line.strip() == "end":
            open_groups.pop()
        elif m := EDGE.match(line):
            edges.append((m[1], m[2]))
        else:
            raise AssertionError(f"unexpected line: {line!r}")
    assert not open_groups
    assert len(ids) == len(set(ids)), "node ids must be unique"
    assert all(a in nodes and b in nodes for a, b in edges), "edges join drawn nodes"
    assert len(edges) == len(set(edges))
    return nodes, groups, edges


def draw(spec: str, tmp_path: Path) -> str:
    target = tmp_path / "out" / "graph.mmd"
    code, out = run("plot", str(ROOT / "specs" / spec), "-o", str(target))
    assert (code, out) == (0, f"wrote {target}\n")
    assert [p.name for p in target.parent.iterdir()] == ["graph.mmd"]  # no temporary left
    return target.read_text(encoding="utf-8")


def test_transformer_blocks_are_subgraphs_with_their_layers(tmp_path: Path) -> None:
    text = draw("transformer_classifier.yaml", tmp_path)
    nodes, groups, edges = chart(text)
    assert text.splitlines()[1] == "    %% transformer_classifier: 55,038 parameters"
    by_label = {label.split("<br/>")[0]: node for node, label in nodes.items()}
    titles = {title.split("<br/>")[0]: title for title in groups}
    assert set(titles) == {"encoder_0", "encoder_1"}
    assert titles["encoder_0"] == "encoder_0<br/>Functional<br/>(None, 32, 32) · 10,656 params"
    for block in ("encoder_0", "encoder_1"):
        inside = [label.split("<br/>")[0] for label in groups[titles[block]]]
        assert inside[:3] == ["x", "att", "dropout1"] and "layernorm2" in inside
    # the `positions` expression: its last keras.ops call takes the node's name, the
    # others keep Keras's
    assert nodes[by_label["positions"]] == "positions<br/>keras.ops.subtract<br/>(None, 32)"
    ones = next(n for n, label in nodes.items() if "<br/>keras.ops.ones_like<br/>" in label)
    cumsum = next(n for n, label in nodes.items() if "<br/>keras.ops.cumsum<br/>" in label)
    assert {(by_label["tokens"], ones), (ones, cumsum), (cumsum, by_label["positions"])} <= set(
        edges
    )
    assert (by_label["positions"], by_label["pos_emb"]) in edges
    assert (
        nodes[by_label["token_emb"]] == "token_emb<br/>Embedding<br/>(None, 32, 32) · 32,000 params"
    )
    assert nodes[by_label["probs"]] == "probs<br/>Dense<br/>(None, 2) · 42 params"
    # into a block at its input, out of it from the layer that makes its output
    inner = [n for n, label in nodes.items() if label.startswith(("x<br/>", "layernorm2<br/>"))]
    x_0, out_0, x_1, out_1 = inner
    assert (by_label["embedded"], x_0) in edges
    assert (out_0, x_1) in edges
    assert (out_1, by_label["pooled"]) in edges
    assert len(edges) == 36


def test_a_shared_layer_is_drawn_once_with_an_edge_from_each_caller(tmp_path: Path) -> None:
    nodes, groups, edges = chart(draw("siamese.yaml", tmp_path))
    ids = {label.split("<br/>")[0]: node for node, label in nodes.items()}
    assert list(ids) == ["left", "right", "encoder_a", "diff", "same"]
    assert not groups
    assert nodes[ids["encoder_a"]] == "encoder_a<br/>Dense<br/>(None, 32) · 2,080 params"
    into = [a for a, b in edges if b == ids["encoder_a"]]
    assert into == [ids["left"], ids["right"]]
    assert (ids["encoder_a"], ids["diff"]) in edges


def test_labels_are_quoted_for_mermaid() -> None:
    import keras

    x = keras.Input((3,), name="in.put-1")
    y = keras.layers.Dense(2, name='say "hi" #1 <b>')(x)
    nodes, _, edges = chart(mermaid(keras.Model(x, y, name="quoted")))
    assert list(nodes.values()) == [
        "in.put-1<br/>InputLayer<br/>(None, 3)",
        "say #quot;hi#quot; #35;1 #lt;b#gt;<br/>Dense<br/>(None, 2) · 8 params",
    ]
    assert edges == [("n0", "n1")]


def test_nested_blocks_are_nested_subgraphs(write_spec: Callable[..., str]) -> None:
    path = write_spec(
        """
        modelspec: 1
        name: nested
        inputs: [{name: x, shape: [4]}]
        blocks:
          inner:
            inputs: [a]
            layers: [{name: d, type: Dense, units: 3}]
            outputs: [d]
          outer:
            inputs: [b]
            layers:
              - {name: first, block: inner, inputs: b}
              - {name: scaled, expr: "first * 2"}
            outputs: [scaled]
        layers:
          - {name: o, block: outer}
        outputs: [o]
        """
    )
    code, out = run("plot", path, "-o", "nested.mmd")
    assert code == 0, out
    text = Path("nested.mmd").read_text(encoding="utf-8")
    _, groups, _ = chart(text)
    assert [t.split("<br/>")[0] for t in groups] == ["o", "first"]
    assert [label.split("<br/>")[1] for label in groups[next(iter(groups))]] == [
        "InputLayer",
        "InputLayer",
        "Dense",
        "keras.ops.multiply",
    ]
    assert "    subgraph s0" in text and "        subgraph s1" in text


def test_an_image_without_pydot_or_graphviz_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pydot", None)  # find_spec answers None
    monkeypatch.setitem(sys.modules, "pydot_ng", None)
    monkeypatch.setitem(sys.modules, "pydotplus", None)
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot`
    target = tmp_path / "graph.svg"
    code, out = run("plot", str(ROOT / "specs" / "siamese.yaml"), "-o", str(target))
    assert code == 1
    assert out == (
        f"Error: cannot draw {target}: pydot is not installed and Graphviz's `dot` program is "
        "not on PATH. Install them (`pip install pydot` and the system package `graphviz`: "
        "apt install graphviz, brew install graphviz), or write Mermaid text with "
        f"`-o {tmp_path / 'graph.mmd'}`, which needs neither.\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_another_suffix_is_bad_usage(tmp_path: Path) -> None:
    code, out = run("plot", str(ROOT / "specs" / "siamese.yaml"), "-o", str(tmp_path / "g.pdf"))
    assert code == 2
    assert "Invalid value for '--output': expected a path ending in .mmd, .svg or .png." in out
    assert list(tmp_path.iterdir()) == []


def test_a_bad_spec_exits_one_at_its_line(write_spec: Callable[..., str]) -> None:
    path = write_spec(
        "modelspec: 1\nname: bad\ninputs: [{name: x, shape: [8]}]\n"
        "layers:\n  - {name: d, type: Dense, units: 0}\noutputs: [d]\n"
    )
    code, out = run("plot", path, "-o", "bad.mmd")
    assert code == 1
    assert out.splitlines() == [
        "spec.yaml:5:35: layers[0] (d).units: expected a positive integer. Received: units=0",
        "spec.yaml: 1 error",
    ]
    assert not Path("bad.mmd").exists()


def test_a_build_error_exits_one_at_the_node(write_spec: Callable[..., str]) -> None:
    path = write_spec(
        "modelspec: 1\nname: m\ninputs: [{name: a, shape: [4]}, {name: b, shape: [3]}]\n"
        "layers:\n  - {name: sum, type: Add, inputs: [a, b]}\noutputs: [sum]\n"
    )
    code, out = run("plot", path, "-o", "m.mmd")
    assert code == 1
    assert out.startswith("spec.yaml:5:5: layers[0] (sum): ValueError while building this node: ")
    assert out.endswith("spec.yaml: 1 error\n")
    assert not Path("m.mmd").exists()
