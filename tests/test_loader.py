"""Safe YAML loading with positions, and hostile files refused (modelspec.spec.loader, .guard)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from modelspec import SpecLoadError
from modelspec.spec import guard
from modelspec.spec.loader import load_document


def error_of_call(call: Callable[[], object]) -> str:
    with pytest.raises(SpecLoadError) as info:
        call()
    assert len(info.value.diagnostics) == 1
    return info.value.diagnostics[0].format()


def error_of(source: object) -> str:
    return error_of_call(lambda: load_document(source))  # type: ignore[arg-type]


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
        ("", "<string>:1:1: the spec is empty: expected a mapping with the keys modelspec, name, "
         "inputs, layers and outputs"),
        ("# only a comment\n", "<string>:1:1: the spec is empty"),
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
    assert error_of(binary) == f"{binary}:3:1: is a binary file, not a YAML spec"  # the NUL
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    assert error_of(latin) == f"{latin}:1:10: is not UTF-8 text (byte 9 cannot be decoded)"
    assert error_of(str(tmp_path / "missing.yaml")) == f"{tmp_path / 'missing.yaml'}: no such file"
    assert error_of(tmp_path) == f"{tmp_path}: is a directory, not a spec file"
    assert error_of("x\0.yaml") == ("x\0.yaml: no such file (the name holds a NUL character)")


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


def test_overrides_with_brackets_say_the_path_to_use() -> None:
    """``layers[0].units`` added a key 'layers[0]' (an unknown-key error at line 1); the
    trial names' ``optimizer[sgd].momentum`` is not a path either."""
    from modelspec.spec.loader import apply_overrides

    doc = load_document("layers: [{units: 3}]\ncompile: {optimizer: adam}\n")
    with pytest.raises(SpecLoadError) as err:
        apply_overrides(doc, ["layers[0].units=4"])
    assert err.value.diagnostics[0].format() == (
        "--set: layers[0].units: expected keys and list indexes joined by dots. Received: "
        "'layers[0]'. Did you mean 'layers.0.units'?"
    )
    with pytest.raises(SpecLoadError) as err:
        apply_overrides(doc, ["compile.optimizer[sgd].momentum=0.9"])
    assert err.value.diagnostics[0].format() == (
        "--set: compile.optimizer[sgd].momentum: expected keys and list indexes joined by "
        "dots. Received: 'optimizer[sgd]'. A choice's value is set whole: "
        "compile.optimizer={type: sgd, ...}"
    )
    assert doc.data == {"layers": [{"units": 3}], "compile": {"optimizer": "adam"}}


# Hostile files: every problem is a located error, never a crash, a hang or a
# read without end.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: " + "[" * 500 + "]" * 500 + "\n",
         "<string>:1:103: expected at most 100 levels of nesting. Received: a list at level 101"),
        ("{a: " * 500 + "1" + "}" * 500 + "\n",
         "<string>:1:401: expected at most 100 levels of nesting. Received: a mapping at level 101"),
        ("a: &a " + "[" * 60 + "]" * 60 + "\nb: " + "[" * 60 + "*a" + "]" * 60 + "\n",
         "<string>:2:64: expected at most 100 levels of nesting. Received: the alias *a, "
         "which reaches level 121 here"),
    ],
)  # fmt: skip
def test_deep_nesting_is_refused_before_anything_recursive_runs(text: str, expected: str) -> None:
    assert error_of(text) == expected + "; a real spec nests fewer than 10 levels"


def test_nesting_up_to_the_limit_loads() -> None:
    doc = load_document("a: " + "[" * 99 + "]" * 99 + "\n")
    value = doc.data["a"]
    for _ in range(98):
        value = value[0]
    assert value == []


def test_deep_nesting_never_crashes_the_cli(tmp_path: Path) -> None:
    # 50,000 levels segfault PyYAML's C composer where libyaml has no nesting
    # limit of its own; 900 levels exhaust Python's recursion limit.
    for name, depth in (("deep.yaml", 50_000), ("deeper.yaml", 900)):
        (tmp_path / name).write_text("a: " + "[" * depth + "]" * depth + "\n")
    out = subprocess.run(
        [sys.executable, "-m", "modelspec", "validate", "deep.yaml", "deeper.yaml"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert (out.returncode, out.stderr) == (1, "")
    message = "expected at most 100 levels of nesting. Received: a list at level 101"
    assert out.stdout.splitlines() == [
        f"deep.yaml:1:103: {message}; a real spec nests fewer than 10 levels",
        "deep.yaml: 1 error, 0 warnings",
        f"deeper.yaml:1:103: {message}; a real spec nests fewer than 10 levels",
        "deeper.yaml: 1 error, 0 warnings",
    ]


@pytest.mark.parametrize(
    ("text", "expected", "received"),
    [
        ("a: &s x\nb: {<<: *s}\n", "2:5", "the scalar 'x'"),
        ("a: &l [1, 2]\nb: {<<: *l}\n", "2:5", "a list whose item 0 is the scalar '1'"),
        ("a: &m {x: 1}\nb: &s 3\nc: {<<: [*m, *s]}\n", "3:5", "a list whose item 1 is the scalar '3'"),
        ("a: &m {x: 1}\nc: {<<: [*m, [1]]}\n", "2:5", "a list whose item 1 is a list"),
        ("base: &b 3\nnode:\n  units: 8\n  <<: *b\n", "4:3", "the scalar '3'"),
        ("a: {<<: {x: 1, <<: 3}}\n", "1:16", "the scalar '3'"),
    ],
)  # fmt: skip
def test_merge_keys_of_non_mappings_are_located_errors(
    text: str, expected: str, received: str
) -> None:
    assert error_of(text) == (
        f"<string>:{expected}: expected a mapping or a list of mappings after the merge key "
        f"'<<'. Received: {received}. A merge key copies the keys of other mappings, "
        "e.g. `<<: *base`"
    )


def test_merge_key_lists_merge_in_order() -> None:
    doc = load_document(
        "a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc: {<<: [*a, *b], z: 3}\nd: {<<: {<<: *b}}\n"
    )
    assert doc.data["c"] == {"x": 1, "y": 1, "z": 3}
    assert doc.data["d"] == {"y": 2, "z": 2}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: 1\nb: x\x01\n", '2:5: invalid YAML: expected printable text. Received: the control '
         'character #x0001; remove it, or write it as the escape "\\u0001" inside double quotes'),
        ("a: 1\r\nb: '\x7f'\r\n", "2:5: invalid YAML: expected printable text. Received: the "
         "control character #x007f"),
        ("é: [ü, \x1b]\n", "1:8: invalid YAML: expected printable text. Received: the control "
         "character #x001b"),
        ("a: \ud800\n", "1:4: invalid YAML: expected printable text. Received: the lone "
         "surrogate #xd800"),
        ("a:\n  - \ufffe\n", "2:5: invalid YAML: expected printable text. Received: the "
         "non-character #xfffe"),
    ],
)  # fmt: skip
def test_control_characters_are_located(text: str, expected: str) -> None:
    assert error_of(text).startswith("<string>:" + expected)


def test_control_character_in_a_file_is_located(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_bytes("# café\nname: \x7f\n".encode())
    assert error_of(spec).startswith(
        f"{spec}:2:7: invalid YAML: expected printable text. Received: the control character #x007f"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: 2001-13-45\n", "1:4: expected a valid !!timestamp value. Received: '2001-13-45' "
         "(month must be in 1..12); quote it to keep it a string"),
        ("a: 1" + "0" * 5000 + "\n", "1:4: expected a valid !!int value. Received: "
         "'1000000000000000000000000000000000000...' (Exceeds the limit (4300 digits) for "
         "integer string conversion: value has 5001 digits); quote it to keep it a string"),
        ("a: !!bool 'x'\n", "1:4: expected a valid !!bool value. Received: 'x'; remove the tag "
         "to keep it a string"),
        ("a: !!int ''\n", "1:4: expected a valid !!int value. Received: ''; remove the tag to "
         "keep it a string"),
        ("a: !!timestamp x\n", "1:4: expected a valid !!timestamp value. Received: 'x'; remove "
         "the tag to keep it a string"),
    ],
)  # fmt: skip
def test_scalars_that_cannot_be_constructed_are_located(text: str, expected: str) -> None:
    assert error_of(text) == "<string>:" + expected


def test_node_count_is_limited_without_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard, "MAX_NODES", 50)
    assert error_of("a: [" + "1, " * 60 + "]\n") == (
        "<string>:1:146: expected at most 50 nodes (keys, values and list items). Received: "
        "more than 50 nodes; no real spec comes near the limit: is this the right file?"
    )
    assert "expands to more than 50 values through its aliases" in error_of(
        "a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]\nb: [*a, *a, *a, *a, *a, *a]\n"
    )
    assert load_document("a: [" + "1, " * 46 + "]\n").data == {"a": [1] * 46}


def test_files_over_the_size_limit_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text("name: x\n" + "#" * 93)  # 101 bytes
    assert load_document(spec, max_bytes=101).data == {"name": "x"}
    assert error_of_call(lambda: load_document(spec, max_bytes=100)) == (
        f"{spec}: expected a spec file of at most 100 bytes. Received: 101 bytes; set "
        "MODELSPEC_MAX_SPEC_BYTES to raise the limit"
    )
    monkeypatch.setenv("MODELSPEC_MAX_SPEC_BYTES", "100")
    assert error_of(spec).startswith(f"{spec}: expected a spec file of at most 100 bytes.")
    monkeypatch.setenv("MODELSPEC_MAX_SPEC_BYTES", "1e6")
    assert error_of(spec) == (
        f"{spec}: expected MODELSPEC_MAX_SPEC_BYTES to be a positive number of bytes. "
        "Received: MODELSPEC_MAX_SPEC_BYTES='1e6'"
    )
    monkeypatch.delenv("MODELSPEC_MAX_SPEC_BYTES")
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as handle:  # sparse: costs no disk
        handle.truncate(guard.MAX_SPEC_BYTES + 1)
    assert error_of(huge) == (
        f"{huge}: expected a spec file of at most 10,000,000 bytes. Received: 10,000,001 "
        "bytes; set MODELSPEC_MAX_SPEC_BYTES to raise the limit"
    )


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux's /proc")
def test_a_file_that_says_it_is_empty_is_read_only_to_the_limit() -> None:
    # /proc files report a size of 0 whatever they hold.
    assert error_of_call(lambda: load_document("/proc/self/status", max_bytes=100)) == (
        "/proc/self/status: expected a spec file of at most 100 bytes. Received: more than "
        "100 bytes; set MODELSPEC_MAX_SPEC_BYTES to raise the limit"
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes and /dev/zero")
def test_special_files_are_refused_without_reading_them(tmp_path: Path) -> None:
    # Reading a FIFO blocks until a writer comes; /dev/zero never ends. In a
    # subprocess with a time and memory limit, so a regression cannot hang the suite.
    os.mkfifo(tmp_path / "fifo.yaml")
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")

    def limit_memory() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    out = subprocess.run(
        [sys.executable, "-m", "modelspec", "validate", "fifo.yaml", "zero.yaml"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60, preexec_fn=limit_memory,
    )  # fmt: skip
    assert (out.returncode, out.stderr) == (1, "")
    assert out.stdout.splitlines() == [
        "fifo.yaml: expected a regular file. Received: a named pipe (FIFO); save the spec "
        "to a file first",
        "fifo.yaml: 1 error, 0 warnings",
        "zero.yaml: expected a regular file. Received: a character device; save the spec "
        "to a file first",
        "zero.yaml: 1 error, 0 warnings",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "a: 1\n\tb: 2\n",
            "<string>:2:1: invalid YAML: found a tab character that violates indentation. "
            "YAML indents with spaces, not tabs: replace the tab on line 2",
        ),
        (
            "layers:\n  - name: a\n    type: Dense\n   units: 3\n",
            "<string>:4:4: invalid YAML: did not find expected '-' indicator. 'units' at line 4 "
            "starts at column 4, between 'layers' (column 1, line 1) and 'type' (column 5, "
            "line 3): line it up with one of them; keys of one mapping start in the same column "
            "(YAML reads nesting from indentation)",
        ),
        (
            "layers:\n  - name: a\n     type: Dense\n",
            "<string>:3:10: invalid YAML: mapping values are not allowed in this context. 'type' "
            "at line 3 starts at column 6, right of 'name' at line 2 (column 5): keys of one "
            "mapping start in the same column (YAML reads nesting from indentation)",
        ),
        (
            "inputs:\n  - {name: x, shape: [4]}\n layers: 3\n",
            "<string>:3:2: invalid YAML: did not find expected key. 'layers' at line 3 starts at "
            "column 2, between 'inputs' (column 1, line 1) and '{name: x, shape: [4]}' (column "
            "5, line 2): line it up with one of them; keys of one mapping start in the same "
            "column (YAML reads nesting from indentation)",
        ),
        (
            "layers:\n\t- name: o\n",
            "<string>:2:1: invalid YAML: found character that cannot start any token. YAML "
            "indents with spaces, not tabs: replace the tab on line 2",
        ),
        (
            "layers: [{name: a, type: Dense\n",
            "<string>:2:1: invalid YAML: did not find expected ',' or '}'. A '{' opened before "
            "line 2 is not closed with '}', or a value inside it holds a ',' or ':' and needs "
            "quotes",
        ),
        (
            "name: a: b\n",
            "<string>:1:8: invalid YAML: mapping values are not allowed in this context. A value "
            "holding ': ' must be quoted: name: 'a: b'",
        ),
    ],
)
def test_yaml_syntax_errors_get_a_hint(text: str, message: str) -> None:
    with pytest.raises(SpecLoadError) as err:
        load_document(text)
    assert err.value.diagnostics[0].format() == message
