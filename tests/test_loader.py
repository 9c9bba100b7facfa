"""Safe YAML loading with positions (modelspec.spec.loader)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelspec import SpecLoadError
from modelspec.spec.loader import load_document


def error_of(source: object) -> str:
    with pytest.raises(SpecLoadError) as info:
        load_document(source)  # type: ignore[arg-type]
    assert len(info.value.diagnostics) == 1
    return info.value.diagnostics[0].format()


def test_exponent_floats_are_floats_and_positions_are_one_based() -> None:
    doc = load_document("a: 1e-3\nb: -2.5E+2\nc: 1_000\nd: '1e-3'\n")
    assert doc.data == {"a": 0.001, "b": -250.0, "c": 1000, "d": "1e-3"}
    assert isinstance(doc.data["a"], float)
    assert doc.locate(("b",)) == (2, 4)
    assert doc.locate(("b",), key=True) == (2, 1)


def test_only_true_and_false_are_booleans() -> None:
    doc = load_document("a: true\nb: False\nc: yes\nd: on\nno: 1\n")
    assert doc.data == {"a": True, "b": False, "c": "yes", "d": "on", "no": 1}


def test_nested_positions_and_ancestor_fallback() -> None:
    doc = load_document("layers:\n  - {name: d, units: 3}\n")
    assert doc.locate(("layers", 0, "units")) == (2, 22)
    assert doc.locate(("layers", 0, "missing", 4)) == (2, 5)


def test_anchors_aliases_and_merge_keys() -> None:
    doc = load_document(
        "base: &b {units: 4, activation: relu}\nnode: &n {<<: *b, units: 8}\nagain: *n\n"
    )
    assert doc.data["node"] == {"units": 8, "activation": "relu"}
    assert doc.data["again"] == doc.data["node"]


def test_duplicate_key_is_an_error_naming_both_lines() -> None:
    assert error_of("a: 1\nb: 2\na: 3\n") == (
        "<string>:3:1: duplicate key 'a' in this mapping (the first one is at line 1)"
    )


def test_python_tags_are_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    text = f"a: !!python/object/apply:pathlib.Path.touch [!!python/object/apply:pathlib.Path ['{marker}']]\n"
    assert error_of(text) == (
        "<string>:1:4: the tag '!!python/object/apply:pathlib.Path.touch' is not allowed: "
        "a spec holds plain data only (mappings, lists, strings, numbers, booleans, null)"
    )
    assert not marker.exists()
    assert "!!python/name:os.system" in error_of("a: !!python/name:os.system {}\n")


def test_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    message = error_of("\n".join(lines) + "\n")
    assert "expands to more than 2,000,000 values through its aliases" in message


def test_recursive_alias_is_refused() -> None:
    assert "recursive alias" in error_of("a: &a [1, *a]\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "<string>: the spec is empty: expected a mapping with the keys modelspec, name, "
         "inputs, layers and outputs"),
        ("# only a comment\n", "<string>: the spec is empty"),
        ("- a\n- b\n", "<string>:1:1: expected a mapping at the top of the spec. Received: a list"),
        ("just text\n", "<string>:1:1: expected a mapping at the top of the spec. Received: 'just text'"),
        ("a: [1\n", "<string>:2:1: invalid YAML: did not find expected ',' or ']'"),
        ("a: 1\n---\nb: 2\n", "<string>:2:1: expected one YAML document, found several"),
    ],
)  # fmt: skip
def test_documents_that_are_not_one_mapping(text: str, expected: str) -> None:
    assert error_of(text).startswith(expected)


def test_file_errors(tmp_path: Path) -> None:
    binary = tmp_path / "model.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert error_of(binary) == f"{binary}: is a binary file, not a YAML spec"
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    assert error_of(latin) == f"{latin}: is not UTF-8 text (byte 9 cannot be decoded)"
    assert error_of(str(tmp_path / "missing.yaml")) == f"{tmp_path / 'missing.yaml'}: no such file"
    assert error_of(tmp_path) == f"{tmp_path}: is a directory, not a spec file"


def test_path_text_and_mapping_sources(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text("name: x\n")
    assert load_document(str(spec)).file == str(spec)
    assert load_document(spec).base_dir == tmp_path
    assert load_document("name: x\n").file == "<string>"
    assert load_document({"name": "x"}).file == "<dict>"


def test_unquoted_indexed_reference_in_flow_style_gets_a_hint() -> None:
    text = "layers:\n  - {name: a, inputs: [enc[1], x]}\n"
    assert error_of(text) == (
        "<string>:2:27: invalid YAML: did not find expected ',' or ']'. Inside [...] or {...}, "
        "YAML reads '[' as the start of a list: quote indexed references, e.g. 'enc[1]'"
    )


def test_overrides_set_values_read_as_yaml() -> None:
    from modelspec.spec.loader import apply_overrides

    doc = load_document("train: {epochs: 10}\nlayers: [{units: 3}]\n")
    record = apply_overrides(
        doc, ["train.epochs=3", "layers.0.units=1e2", "compile.optimizer={type: sgd}"]
    )
    assert record == ["train.epochs=3", "layers.0.units=1e2", "compile.optimizer={type: sgd}"]
    assert doc.data == {
        "train": {"epochs": 3},
        "layers": [{"units": 100.0}],
        "compile": {"optimizer": {"type": "sgd"}},
    }
    with pytest.raises(SpecLoadError, match=r"--set: expected key.path=value"):
        apply_overrides(doc, ["train.epochs"])
    with pytest.raises(
        SpecLoadError, match=r"cannot go into 'x': 'train.epochs' is 3, not a mapping"
    ):
        apply_overrides(doc, ["train.epochs.x.y=1"])
    with pytest.raises(SpecLoadError, match=r"cannot set '5' in list"):
        apply_overrides(doc, ["layers.5=1"])
