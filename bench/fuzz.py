"""Fuzz: mutate the specs in ``specs/`` and check that validation never crashes.

Each case takes one spec of ``specs/``, applies one to three random mutations and
validates the mutant with ``modelspec.validate_spec``:

* structural mutations work on the loaded YAML data, then dump it back with
  ``yaml.safe_dump``: a value replaced by another type (int, float, nan, inf,
  bool, null, string, a 100 KB string, list, mapping, a list nested up to 1,000
  deep), a key deleted or renamed (typo), a list item duplicated, two values
  swapped, odd ``type:``/``inputs:``/``outputs:``/``name:``/``share:`` values, unknown keys,
  cycles and forward references, odd sections, and a node turned into a random
  built-in layer type whose arguments are plausible or odd (file-like strings
  for a vocabulary, nested layers...);
* textual mutations work on the file's text: characters flipped, inserted or
  deleted, control characters (``\\x00``-``\\x1f``, ``\\x7f``), odd Unicode,
  truncation, lines duplicated, dropped or swapped, indentation changed, tabs,
  anchors, aliases and merge keys (``<<: *a``), alias bombs, deep nesting, YAML
  directives, tags and document markers;
* search-space mutations put ``{tune: ...}`` mappings in (with odd kinds, bounds,
  steps, ``log``, ``values`` of up to 10,000 items, spaces inside spaces), in
  any slot or where spaces cannot stand (``name:``, ``type:``, ``inputs:``,
  ``backend``, ``imports``, ``tune:``), as vars used by ``${...}``, 60 at once,
  under an anchor aliased twice, and odd ``tune:`` sections: with ``--spaces``,
  every case starts with one of them (and may draw more).

The mutant is validated as YAML text, or (``--file-ratio``, a quarter of the
cases) from a file. Every case runs in a child process (restarted when it dies
or hangs), so a segfault or a ``RecursionError`` in C is caught and counted. A
case is:

* a *crash* when ``validate_spec`` raises, or the child dies;
* a *hang* when it takes longer than ``--timeout`` seconds (the child is killed);
* *unlocated* when the report has an error whose line is below 1, or whose
  message is longer than 1,000 characters.

Crash kinds are grouped by exception type, the first line of the message
(numbers replaced by ``N``) and the place in modelspec that raised; unlocated
ones by reason, message head and spec path. Each failing case is saved under
``--out`` (``case-NNNNN.yaml``, the mutant, and ``case-NNNNN.txt``, what
happened); the first case of each kind is then shrunk (chunks of characters,
lines, then characters, while it fails the same way) into ``min-NN.yaml``.
With ``--build``, mutants that validate are also built (``build_model``):
anything but a located ``BuildError`` is counted as a build crash.

The run is bounded (at most ``N`` cases of at most ``--timeout`` seconds each,
plus a bounded shrink per kind) and stops by itself. Cases are drawn from
``--seed``: the same seed gives the same mutants. This prints figures, ending
with ``cases N, crashes C, hangs H, unlocated U``; it asserts nothing and
exits 0.

Usage:
    python bench/fuzz.py 2000 [--seed 0] [--out fuzz-out] [--timeout 10]
        [--no-shrink] [--build] [--file-ratio 0.25] [--spaces]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import math
import multiprocessing
import os
import random
import re
import reprlib
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
SPECS_DIR = ROOT / "specs"
#: Longest message a diagnostic may carry.
MAX_MESSAGE = 1000
LONG_STRING = 100_000
SHRINK_BUDGET = 1000
SHRINK_SECONDS = 15.0

# --------------------------------------------------------------------------- seeds


def seed_specs() -> dict[str, str]:
    """The seed specs: ``{file name: text}`` of every ``specs/*.yaml``."""
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(SPECS_DIR.glob("*.yaml"))}


@functools.lru_cache(maxsize=64)
def _loaded(text: str) -> Any:
    from modelspec.spec.loader import load_document  # the spec's YAML rules (1e-3 is a number)

    return load_document(text).data


def load_seed(text: str) -> Any:
    """A fresh copy of a seed spec's data, read with modelspec's YAML rules."""
    return copy.deepcopy(_loaded(text))


def dump(data: Any) -> str:
    """``yaml.safe_dump`` in document order; deep values need a higher recursion limit."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 20_000))
    try:
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)
    finally:
        sys.setrecursionlimit(old)


# --------------------------------------------------------------------------- odd values

LAYER_TYPES = [
    *["Dense", "Dropout", "Conv1D", "Conv2D", "LSTM", "Add", "Concatenate", "Reshape"],
    *["Bidirectional", "TimeDistributed", "MultiHeadAttention", "Embedding", "AddLoss"],
    *["Antirectifier", "L2Normalization", "TwoInputDense"],
]
ODD_TYPES = [
    *LAYER_TYPES,
    *["Layer", "InputLayer", "Wrapper", "Lambda", "JaxLayer", "TorchModuleWrapper", "RNN"],
    *["dense", "Dens", "Input", "Sequential", "Model", "keras.layers.Dense", "__class__"],
    *["StackedRNNCells", "Dense ", ""],
]
ODD_STRINGS = [
    *["x", "relu", "adam", "mse", "accuracy", "a[0]", "a[-1]", "a[99999999999999999999]"],
    *["é", "1e5", "null", "yes", "~", "*a", "&a", "!!python/tuple", "${HOME}", "../x"],
    *["", " ", "a b", "[1, 2]", "{a: 1}", "\t", "\x00", "\x1b[31m", "\u202e", "🙂"],
]
#: File-ish strings, for arguments that name files (a lookup layer's vocabulary...).
ODD_PATHS = [
    *[".", "..", "/", "~", "~/vocab.txt", "/etc/passwd", "../../etc/passwd", "/dev/zero"],
    *["/dev/stdin", "/proc/self/mem", "no_such_file.txt", "file:///etc/passwd", "C:\\x.txt"],
    *["é/ü.txt", "\x00", "a\x00b.txt", "a" * 5000, "a/" * 300],
]
ODD_KEYS: list[Any] = [1, 0, -1, None, True, False, 1.5, "", " ", "<<", "name ", "Type", "é"]


def long_string(rng: random.Random) -> str:
    """A 100 KB string: valid name characters only, or words with spaces and symbols."""
    if rng.random() < 0.5:
        return "x" * LONG_STRING
    words = ["relu", "Dense", "a b", "[0]", "{x}", ": ", "é", "-", "#"]
    text = " ".join(rng.choice(words) for _ in range(LONG_STRING // 3))
    return text[:LONG_STRING]


def nested_list(depth: int) -> list[Any]:
    """``[[[...]]]`` ``depth`` levels deep, built without recursion."""
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def nested_dict(depth: int) -> dict[str, Any]:
    """``{a: {a: ...}}`` ``depth`` levels deep, built without recursion."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def _depth(rng: random.Random) -> int:
    return rng.choice([1000, rng.randint(2, 100), rng.randint(100, 999)])


def odd_value(rng: random.Random) -> Any:
    """A value of a random, often wrong, type."""
    makers: list[Callable[[], Any]] = [
        lambda: rng.choice([0, -1, 1, 2, 2**31, 2**63, -(2**70), 10**100, rng.randint(-9, 9999)]),
        lambda: rng.choice([0.0, -0.0, 0.5, -1.5, 1e-300, 1e308, 5e-324, rng.uniform(-1e3, 1e3)]),
        lambda: math.nan,
        lambda: rng.choice([math.inf, -math.inf]),
        lambda: rng.choice([True, False]),
        lambda: None,
        lambda: rng.choice(ODD_STRINGS + ODD_TYPES + ODD_PATHS),
        lambda: long_string(rng),
        lambda: [],
        lambda: rng.choice([[1, "a", None], [1.5], [None], [[]], ["a[0]", "b"], [True] * 3]),
        lambda: {},
        lambda: rng.choice([{"type": "Dense", "units": 1}, {"a": {"b": []}}, {None: 1}]),
        lambda: nested_list(_depth(rng)),
        lambda: nested_dict(_depth(rng)),
    ]
    return rng.choice(makers)()


def typo(rng: random.Random, word: str) -> str:
    """A one-edit typo of ``word`` (or of ``"x"`` when it is empty)."""
    word = word or "x"
    i = rng.randrange(len(word))
    edits = [
        lambda: word[:i] + word[i + 1 :],
        lambda: word[:i] + rng.choice("aeioutxs_") + word[i:],
        lambda: word[:i] + word[i + 1 : i + 2] + word[i : i + 1] + word[i + 2 :],
        lambda: word.upper() if word != word.upper() else word.lower(),
        lambda: word + "s",
    ]
    return rng.choice(edits)()


# --------------------------------------------------------------------------- structural mutations

Slot = tuple[Any, Any]  # (container, key or index)
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlist = 3, 40, 40, 4


def short(value: Any) -> str:
    """A short ``repr``, safe for values nested 1,000 deep."""
    return _REPR.repr(value)


def slots(data: Any) -> list[Slot]:
    """Every (container, key) of ``data``, walked without recursion (shared values once)."""
    found: list[Slot] = []
    seen: set[int] = set()
    stack = [data]
    while stack:
        container = stack.pop()
        if id(container) in seen:
            continue
        seen.add(id(container))
        items = container.items() if isinstance(container, dict) else enumerate(container)
        for key, value in items:
            found.append((container, key))
            if isinstance(value, dict | list):
                stack.append(value)
    return found


def _nodes(data: dict[str, Any], section: str) -> list[dict[str, Any]]:
    items = data.get(section)
    return [n for n in items if isinstance(n, dict)] if isinstance(items, list) else []


def _names(data: dict[str, Any]) -> list[str]:
    nodes = _nodes(data, "inputs") + _nodes(data, "layers")
    return [n["name"] for n in nodes if isinstance(n.get("name"), str)]


def replace_value(rng: random.Random, data: dict[str, Any]) -> str:
    container, key = rng.choice(slots(data))
    value = odd_value(rng)
    container[key] = value
    return f"replace {short(key)} by {type(value).__name__}"


def delete_key(rng: random.Random, data: dict[str, Any]) -> str:
    container, key = rng.choice(slots(data))
    del container[key]
    return f"delete {short(key)}"


def rename_key(rng: random.Random, data: dict[str, Any]) -> str:
    dict_slots = [(c, k) for c, k in slots(data) if isinstance(c, dict)]
    container, key = rng.choice(dict_slots)
    new = typo(rng, str(key))
    items = [(new if k == key else k, v) for k, v in container.items()]
    container.clear()
    container.update(items)
    return f"rename {short(key)} -> {short(new)}"


def duplicate_item(rng: random.Random, data: dict[str, Any]) -> str:
    list_slots = [(c, k) for c, k in slots(data) if isinstance(c, list)]
    container, index = rng.choice(list_slots)
    container.insert(index + 1, container[index])  # the same object: dumped as an alias
    return f"duplicate item {index}"


def _inside(target: Any, value: Any) -> bool:
    """Whether ``target`` is ``value`` or somewhere inside it."""
    return any(container is target for container, _ in slots([value]))


def swap_values(rng: random.Random, data: dict[str, Any]) -> str:
    (c1, k1), (c2, k2) = rng.sample(slots(data), 2)
    if _inside(c2, c1[k1]) or _inside(c1, c2[k2]):  # swapping would make a loop
        return "swap skipped"
    c1[k1], c2[k2] = c2[k2], c1[k1]
    return f"swap {short(k1)} <-> {short(k2)}"


def odd_field(rng: random.Random, data: dict[str, Any]) -> str:
    """``type:``, ``inputs:``, ``outputs:``, ``name:`` or ``share:`` set to an odd value."""
    names = _names(data) or ["x"]
    name = rng.choice(names)
    refs: list[Any] = [name, f"{name}[{rng.randint(-3, 3)}]", f"{name}[99]", names, [name, name]]
    refs += ["nope", "", "x[", "[0]", "1abc", "a b", [], {"inputs": name}, {"nope": name}]
    refs += [{"query": name, "value": name}, {"sequences": name, "initial_state": [name, name]}]
    refs += [{"training": True, "mask": None}, {name: 1.5}]
    field_ = rng.choice(["type", "inputs", "outputs", "name", "share", "add_loss"])
    if field_ == "outputs":
        value = rng.choice([*refs, {"out": name, "out2": "nope"}, {"": name}, {1: name}])
        data["outputs"] = value
        return f"outputs = {short(value)}"
    section = "inputs" if field_ == "name" and rng.random() < 0.3 else "layers"
    nodes = _nodes(data, section)
    if not nodes:
        return "odd field skipped"
    node = rng.choice(nodes)
    if field_ == "type":
        value = rng.choice([*ODD_TYPES, odd_value(rng)])
    elif field_ == "name":
        value = rng.choice([*names, "", "1a", "a b", "a/b", "é", "a" * 300, "a[0]", odd_value(rng)])
    elif field_ == "add_loss":
        value = rng.choice(
            [{"fn": "nope"}, {"weight": math.nan}, {"weight": "1"}, {"x": 1}, "mean", {}]
        )
    else:
        value = rng.choice(refs)
    node[field_] = value
    return f"{section} {short(node.get('name'))}: {field_} = {short(value)}"


def unknown_key(rng: random.Random, data: dict[str, Any]) -> str:
    dicts = [data] + [c[k] for c, k in slots(data) if isinstance(c[k], dict)]
    target = rng.choice(dicts)
    key = rng.choice([rng.choice(ODD_KEYS), typo(rng, str(rng.choice(list(target) or ["x"])))])
    target[key] = odd_value(rng) if rng.random() < 0.5 else 1
    return f"insert key {short(key)}"


def wrap_value(rng: random.Random, data: dict[str, Any]) -> str:
    container, key = rng.choice(slots(data))
    value = container[key]
    if isinstance(value, list) and value and rng.random() < 0.5:
        container[key] = value[0]
        return f"unwrap {short(key)}"
    container[key] = rng.choice([[value], {"x": value}, {"type": value}])
    return f"wrap {short(key)}"


def graph_edit(rng: random.Random, data: dict[str, Any]) -> str:
    """A cycle, a forward or self reference, a share, a duplicate node, a dropped wiring."""
    layers = _nodes(data, "layers")
    if not layers:
        return "graph edit skipped"
    i = rng.randrange(len(layers))
    j = rng.randrange(len(layers))
    a, b = layers[i], layers[j]
    edit = rng.randrange(5)
    if edit == 0:
        a["inputs"] = b.get("name")
        return f"{short(a.get('name'))}.inputs = {short(b.get('name'))}"
    if edit == 1:
        a["share"] = b.get("name")
        return f"{short(a.get('name'))}.share = {short(b.get('name'))}"
    if edit == 2:
        data["layers"].insert(j, dict(a))
        return f"duplicate node {short(a.get('name'))}"
    if edit == 3:
        for node in layers:
            node.pop("inputs", None)
        return "drop every inputs:"
    data["layers"] = list(reversed(data["layers"]))
    return "reverse layers"


def odd_section(rng: random.Random, data: dict[str, Any]) -> str:
    """A top-level section replaced by a plausible but odd one."""
    sections: dict[str, list[Any]] = {
        "compile": [
            {"optimizer": {"type": "adam", "learning_rate": {"type": "ExponentialDecay"}}},
            {"optimizer": {"type": "sgd", "learning_rate": -1, "momentum": "0.9"}},
            {"optimizer": {"learning_rate": 0.1}},
            {"optimizer": ["adam"], "loss": {"nope": "mse"}, "metrics": {"x": "acc"}},
            {"loss": ["mse", "mse", "mse"], "loss_weights": [math.nan], "metrics": [[]]},
            {"loss": {"": ""}, "loss_weights": {"probs": "1"}, "metrics": [None]},
        ],
        "train": [
            {"data": {"source": "sklearn"}},
            {"data": {"source": "function", "name": 1}},
            {"data": {"source": "npz"}, "callbacks": [{"type": "early_stopping", "nope": 1}]},
            {"data": {"source": "csv", "path": "x.csv", "transform": {"x": [1, {"nope": 1}]}}},
            {"data": {"source": "keras", "name": "mnst", "inputs": {1: "x"}, "transform": []}},
            {"data": {"source": "sklearn", "name": "digits", "split": {"validation": 2}}},
            {"data": None, "callbacks": [{"type": "model_checkpoint"}, {"type": 1}, "x"]},
            {"data": {"source": "sklearn", "name": "digits", "transform": {"pixels": "x"}}},
        ],
        "export": [
            {"formats": []},
            {"formats": ["onnx", "nope"], "tolerance": {"onnx": -1}},
            {"formats": "all", "samples": 0, "check": "yes"},
            {"formats": ["keras"], "tolerance": math.nan},
        ],
        "imports": [["os"], "os", [1, None], ["modelspec_fuzz_no_such_module"]],
        "description": [None, 1, LONG_STRING, ["a"]],
        "modelspec": [2, "1", 1.0, True, None],
    }
    key = rng.choice(list(sections))
    value = rng.choice(sections[key])
    data[key] = long_string(rng) if value is LONG_STRING else copy.deepcopy(value)
    return f"section {key} = {short(data[key])}"


PLAUSIBLE: dict[str, list[Any]] = {  # argument kind -> values of the right type
    "positive_int": [1, 2, 3, 8],
    "fraction": [0.0, 0.1, 0.5, 1],
    "int": [-1, 0, 1, 2],
    "number": [0.5, 1, 1e-3],
    "bool": [True, False],
    "int_or_ints": [1, 2, 3, [2, 2], [1, 1, 1], [[1, 1], [1, 1]]],
    "shape": [[2], [-1], [2, 2], [None, 4]],
    "file_or_list": [["a", "b"], [1, 2], *ODD_PATHS],
    "dtype": ["float32", "int32", "mixed_float16", {"class_name": "DTypePolicy"}],
    "learning_rate": [0.1, {"type": "ExponentialDecay"}],
    "freq": ["epoch", 1, False],
    "activations": ["relu", "softmax", "leaky_relu_01"],
    "initializers": ["zeros", "glorot_uniform", {"class_name": "Constant", "config": {}}],
    "regularizers": ["l2", {"class_name": "L1L2", "config": {"l1": 0.1}}],
    "constraints": ["non_neg", {"class_name": "MaxNorm", "config": {}}],
    "layer": [{"type": "LSTM", "units": 2}, {"type": "Dense", "units": 2}, {"type": "Dense"}],
    "layers": [[{"type": "LSTMCell", "units": 2}], [{"type": "Dense"}]],
}


RARE_KINDS = {"file_or_list", "layer", "layers", "shape", "freq", "learning_rate"}


@functools.lru_cache(maxsize=1)
def _layer_types() -> tuple[list[str], list[str]]:
    """Every built-in layer type, and those with an argument of a rarer kind."""
    from modelspec import catalogue
    from modelspec.registry import layer_signature

    names = list(catalogue.builtin_layer_names())
    special = []
    for name in names:
        sig = layer_signature(name)
        if sig is not None and any(a.kind.name in RARE_KINDS for a in sig.args.values()):
            special.append(name)
    return names, special


def odd_layer(rng: random.Random, data: dict[str, Any]) -> str:
    """A layer node of a random built-in type, its arguments plausible or odd."""
    from modelspec.registry import layer_signature

    layers = _nodes(data, "layers")
    if not layers:
        return "odd layer skipped"
    node = rng.choice(layers)
    type_name = rng.choice(rng.choice(_layer_types()))
    sig = layer_signature(type_name)
    keep = {k: node[k] for k in ("name", "inputs") if k in node}
    node.clear()
    node.update(keep, type=type_name)
    for name, info in sig.args.items() if sig is not None else ():
        rare = info.kind.name in RARE_KINDS
        if info.required or rng.random() < (0.8 if rare else 0.3):
            plausible = PLAUSIBLE.get(info.kind.name, [info.default])
            node[name] = rng.choice(plausible) if rng.random() < 0.7 else odd_value(rng)
    return f"layer {short(node.get('name'))}: {type_name} {sorted(map(str, node))}"


STRUCTURAL: list[Callable[[random.Random, dict[str, Any]], str]] = [
    odd_layer,
    replace_value,
    delete_key,
    rename_key,
    duplicate_item,
    swap_values,
    odd_field,
    unknown_key,
    wrap_value,
    graph_edit,
    odd_section,
]


# --------------------------------------------------------------------------- search spaces

ODD_BOUNDS: list[Any] = [
    *[0, 1, -1, 2, 10**30, -(10**30), 2**63, 1e308, -1e308, 5e-324, 1e-300, 0.5, -0.0],
    *[math.nan, math.inf, -math.inf, True, False, None, "1", "low", "1e3", "", [], {}, [1, 2]],
]


def odd_space(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    """A ``{tune: ...}`` mapping, often with odd fields (or a space inside a field)."""
    kind = rng.choice(["int", "float", "choice", "bool", "int", "float", "choice"])
    if rng.random() < 0.08:
        kind = rng.choice(["Int", "integer", "", None, 1, True, [], "categorical", "floats"])
    space: dict[str, Any] = {"tune": kind}

    def number() -> Any:
        if depth < 2 and rng.random() < 0.05:
            return odd_space(rng, depth + 1)  # a space inside another's field
        if rng.random() < 0.5:
            return rng.choice([rng.randint(-5, 600), rng.uniform(-1, 1), rng.uniform(1e-5, 1)])
        return rng.choice(ODD_BOUNDS)

    if kind in ("int", "float") or rng.random() < 0.1:
        for key in ("low", "high"):
            if rng.random() < 0.93:
                space[key] = number()
        if rng.random() < 0.3:
            space["step"] = rng.choice([number(), 1, 0.1, 0.05, 3, 0, -1, 1e-300])
        if rng.random() < 0.3:
            space["log"] = rng.choice([True, True, False, "yes", 1, 0, None, "true", [], math.nan])
    if kind == "choice" or rng.random() < 0.1:
        pick = rng.randrange(10)
        if pick == 0:
            values: Any = list(range(10_000))
        elif pick == 1:
            values = [odd_space(rng, depth + 1) if depth < 2 else 1, "relu"]
        elif pick == 2:
            values = rng.choice([[], None, "adam", 3, {}, [[]], [None], [1, 1], [math.nan] * 2])
        elif pick == 3:
            values = list(range(rng.choice([63, 64, 65, 200])))
        elif pick == 4:
            values = [{"type": "adam"}, {"type": "sgd", "momentum": 0.9}, "rmsprop"]
        elif pick == 5:
            values = [[1, 2], [3, 4], [1]]
        else:
            pool = [*ODD_STRINGS, *PLAUSIBLE["activations"], 0, 1, 8, 0.5, True, None, math.inf]
            values = rng.sample(pool, rng.randint(1, 5))
        space["values"] = values
    if rng.random() < 0.3:
        space["default"] = rng.choice([number(), "relu", None, True, rng.choice(ODD_BOUNDS)])
    if rng.random() < 0.08:
        space[rng.choice(["lo", "hi", "steps", "Values", "tune ", 1, None])] = 1
    return space


def _space_slot(rng: random.Random, data: dict[str, Any], pool: list[Slot]) -> tuple[Any, Any]:
    """Where a space goes: a random slot, or one of the places spaces must not stand."""
    pick = rng.randrange(10)
    layers = _nodes(data, "layers")
    if pick == 0 and layers:
        node = rng.choice(layers)
        return node, rng.choice(["name", "type", "inputs", "share", "units", "rate"])
    if pick == 1:
        return data, rng.choice(["name", "backend", "imports", "outputs", "modelspec", "inputs"])
    if pick == 2:
        section = data.get("tune")
        if not isinstance(section, dict):
            section = data["tune"] = {}
        return section, rng.choice(["objective", "trials", "sampler", "timeout", "seed", "x"])
    if pick == 3 and isinstance(data.get("inputs"), list) and data["inputs"]:
        node = rng.choice(data["inputs"])
        if isinstance(node, dict):
            return node, rng.choice(["shape", "name", "dtype"])
    if pick == 4 and isinstance(data.get("compile"), dict):
        compile_ = data["compile"]
        if rng.random() < 0.5 and isinstance(compile_.get("optimizer"), dict):
            return compile_["optimizer"], rng.choice(["learning_rate", "type", "momentum"])
        return compile_, rng.choice(["optimizer", "loss", "metrics"])
    if pick == 5 and isinstance(data.get("train"), dict):
        return data["train"], rng.choice(["epochs", "batch_size", "seed", "validation_freq"])
    return rng.choice(pool)


def plausible_space(rng: random.Random, value: Any) -> dict[str, Any] | None:
    """A well-formed space around a value (so some mutants stay valid and get built)."""
    if isinstance(value, bool):
        return {"tune": "bool", "default": value}
    if isinstance(value, int):
        return {"tune": "int", "low": value, "high": value + rng.choice([0, 1, 3, 64])}
    if isinstance(value, float) and math.isfinite(value):
        space: dict[str, Any] = {"tune": "float", "low": value / 2, "high": value}
        if value > 0 and rng.random() < 0.5:
            space["log"] = True
        return space
    if isinstance(value, str):
        other = rng.choice([*PLAUSIBLE["activations"], "adam", "mse", "x", value + "s"])
        return {"tune": "choice", "values": list(dict.fromkeys([value, other]))}
    return None


def insert_space(rng: random.Random, data: dict[str, Any]) -> str:
    """A search space in a random place (in lists, under ``tune:``, in names...)."""
    done = []
    pool = slots(data)  # once: walking 60 times a spec that holds 10,000-value lists is slow
    for _ in range(rng.choice([1, 1, 2, 3, 60])):
        container, key = _space_slot(rng, data, pool)
        space = None
        if rng.random() < 0.5:
            try:
                space = plausible_space(rng, container[key])
            except (KeyError, IndexError, TypeError):
                space = None
        space = space or odd_space(rng)
        if isinstance(container, list) and rng.random() < 0.2:
            space = {"x": space}  # a space as a mapping's value, in a list
        container[key] = space
        done.append(f"{short(key)}={short(space)}")
    return "space " + ", ".join(done[:3]) + (f" (+{len(done) - 3})" if len(done) > 3 else "")


def var_space(rng: random.Random, data: dict[str, Any]) -> str:
    """A var that is a space, used by ``${...}`` in one or more places."""
    vars_ = data.get("vars")
    if not isinstance(vars_, dict):
        vars_ = data["vars"] = {}
    name = rng.choice(["u", "units", "r", "act", "x"])
    vars_[name] = odd_space(rng)
    uses = rng.choice([f"${{{name}}}", f"${{{name} * 2}}", f"${{{name} + 1}}", f"x${{{name}}}"])
    targets = [rng.choice(slots(data)) for _ in range(rng.randint(1, 3))]
    layers = _nodes(data, "layers")
    if layers:
        targets.append((rng.choice(layers), rng.choice(["units", "rate", "name", "activation"])))
    for container, key in targets:
        if container is not vars_:
            container[key] = uses
    if rng.random() < 0.3:  # a var defined from the space var
        vars_["derived"] = f"${{{name} * 2}}"
    return f"var {name}={short(vars_[name])} used as {uses!r} x{len(targets)}"


def odd_tune_section(rng: random.Random, data: dict[str, Any]) -> str:
    """A ``tune:`` section with odd settings (and a space somewhere, most often)."""
    if rng.random() < 0.8:
        insert_space(rng, data)
    options: dict[str, list[Any]] = {
        "objective": ["val_loss", "loss", "val_accuracy", "accuracy", "val_los", "", 1, None],
        "direction": ["minimize", "maximize", "max", "", None, 1],
        "trials": [1, 0, -1, 10**30, 2**63, 1.5, "3", True, None, math.nan],
        "timeout": [1, 0, -1, 0.5, math.inf, math.nan, 1e308, "1h", True, None],
        "sampler": ["tpe", "random", "grid", "cmaes", "", None, ["tpe"]],
        "pruner": ["median", "hyperband", "none", None, "None", False],
        "seed": [0, -1, 2**63, 10**30, 1.5, "0", None],
    }
    section: Any = {}
    for key, choices in options.items():
        if rng.random() < 0.4:
            section[key] = rng.choice(choices)
    if rng.random() < 0.1:
        section[rng.choice(["objectiv", "trial", "n_trials", "study"])] = 1
    if rng.random() < 0.08:
        section = rng.choice([None, [], "tpe", 1, [{"objective": "loss"}]])
    data["tune"] = section
    return f"tune = {short(section)}"


#: The mutations that put search spaces in (``--spaces`` applies one to every case).
SPACES: list[Callable[[random.Random, dict[str, Any]], str]] = [
    insert_space,
    insert_space,
    var_space,
    odd_tune_section,
]
#: Every structural mutation, search spaces included (``--spaces``; without it, a
#: run draws from :data:`STRUCTURAL` alone, as before spaces existed).
WITH_SPACES = STRUCTURAL + SPACES

# --------------------------------------------------------------------------- textual mutations

CONTROL_CHARS = [chr(c) for c in range(0x20)] + ["\x7f"]
ODD_UNICODE = ["\ufeff", "\x85", "\u2028", "\u2029", "\ud800", "\udfff", "\uffff", "🙂", "é"]
YAML_BITS = [
    *["---\n", "...\n", "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "|\n", ">-\n", "? ", ": "],
    *["!!python/tuple ", "!!python/object:os.system ", "!foo ", "!!binary ", "!!set "],
    *["- ", "&a ", "*a", "*nope", "<<: ", "#", '"', "'", "{", "}", "[", "]", ",", "@", "`"],
]


def _pos(rng: random.Random, text: str) -> int:
    return rng.randint(0, len(text))


def flip_char(rng: random.Random, text: str) -> str:
    if not text:
        return "x"
    i = rng.randrange(len(text))
    return text[:i] + chr(rng.randint(0x20, 0x7E)) + text[i + 1 :]


def insert_char(rng: random.Random, text: str) -> str:
    i = _pos(rng, text)
    return text[:i] + rng.choice([*"{}[]:-,'\"", "\n", " "]) + text[i:]


def delete_chars(rng: random.Random, text: str) -> str:
    i = _pos(rng, text)
    return text[:i] + text[i + rng.randint(1, 8) :]


def control_char(rng: random.Random, text: str) -> str:
    i = _pos(rng, text)
    return text[:i] + rng.choice(CONTROL_CHARS) + text[i:]


def odd_unicode(rng: random.Random, text: str) -> str:
    i = rng.choice([0, _pos(rng, text)])
    return text[:i] + rng.choice(ODD_UNICODE) + text[i:]


def truncate(rng: random.Random, text: str) -> str:
    return text[: _pos(rng, text)]


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True) or [""]


def duplicate_line(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    lines.insert(i, lines[i] if lines[i].endswith("\n") else lines[i] + "\n")
    return "".join(lines)


def drop_line(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    del lines[rng.randrange(len(lines))]
    return "".join(lines)


def swap_lines(rng: random.Random, text: str) -> str:
    lines = [line if line.endswith("\n") else line + "\n" for line in _lines(text)]
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return "".join(lines)


def reindent(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    shift = rng.choice([-4, -2, -1, 1, 2, 4, 40])
    line = lines[i]
    lines[i] = line[-shift:] if shift < 0 and line[:-shift].isspace() else " " * abs(shift) + line
    return "".join(lines)


def tabs(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    if rng.random() < 0.5:
        lines[i] = "\t" + lines[i].lstrip(" ")
    else:
        j = _pos(rng, lines[i])
        lines[i] = lines[i][:j] + "\t" + lines[i][j:]
    return "".join(lines)


def line_endings(rng: random.Random, text: str) -> str:
    return text.replace("\n", rng.choice(["\r\n", "\r", "\n\n", " \n"]))


def yaml_syntax(rng: random.Random, text: str) -> str:
    i = rng.choice([0, _pos(rng, text), len(text)])
    return text[:i] + rng.choice(YAML_BITS) + text[i:]


_VALUE_LINE = re.compile(r"^(\s*(?:- )?[\w.\-]+:)[ \t]+(\S.*?)\s*$")
_KEY_LINE = re.compile(r"^(\s*)(?:- )?[\w.\-]+:")


def anchor_alias(rng: random.Random, text: str) -> str:
    """``&a`` on one value, ``*a`` (or an undefined or recursive alias) in place of another."""
    lines = _lines(text)
    spots = [i for i, line in enumerate(lines) if _VALUE_LINE.match(line)]
    if len(spots) < 2:
        return text + "x: &a [*a]\n"
    i, j = rng.sample(spots, 2)
    anchor = f"a{rng.randint(0, 9)}"
    m = _VALUE_LINE.match(lines[i])
    assert m is not None
    lines[i] = f"{m.group(1)} &{anchor} {m.group(2)}\n"
    m = _VALUE_LINE.match(lines[j])
    assert m is not None
    alias = rng.choice([f"*{anchor}", f"*{anchor}", "*undefined", f"&r [*r, *{anchor}]"])
    lines[j] = f"{m.group(1)} {alias}\n"
    return "".join(lines)


def merge_key(rng: random.Random, text: str) -> str:
    """A ``<<:`` merge key in a block mapping, of an anchor or of an odd value."""
    lines = _lines(text)
    spots = [i for i, line in enumerate(lines) if _KEY_LINE.match(line)]
    if not spots:
        return text + "<<: {x: 1}\n"
    i = rng.choice(spots)
    m = _KEY_LINE.match(lines[i])
    assert m is not None
    indent = m.group(1) + ("  " if "- " in lines[i][: m.end()] else "")
    target = rng.choice(spots)
    t = _VALUE_LINE.match(lines[target])
    source = rng.choice(["*m", "*m", "{name: merged}", "1", "[1, 2]", "[*m, *m]", "*nope"])
    if t is not None and source.count("*m"):
        lines[target] = f"{t.group(1)} &m {t.group(2)}\n"
    lines.insert(i + 1, f"{indent}<<: {source}\n")
    return "".join(lines)


def alias_bomb(rng: random.Random, text: str) -> str:
    """Nested aliases that expand to 10**levels values, used as a value."""
    levels = rng.randint(3, 8)
    bomb = ["_bomb:\n", "  l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n"]
    for k in range(1, levels):
        bomb.append(f"  l{k}: &l{k} [{', '.join([f'*l{k - 1}'] * 10)}]\n")
    use = rng.choice(["units", "name", "inputs", "description", "outputs"])
    return "".join(bomb) + text + f"{use}: *l{levels - 1}\n"


def deep_nesting(rng: random.Random, text: str) -> str:
    depth = rng.choice([100, 999, 1000, 1001, 5000, rng.randint(2, 2000)])
    style = rng.randrange(3)
    if style == 0:
        value = "[" * depth + "]" * depth
    elif style == 1:
        value = "{a: " * depth + "1" + "}" * depth
    else:
        value = "\n" + "".join("  " * (k + 1) + "- \n" for k in range(min(depth, 400)))
    lines = _lines(text)
    i = rng.randrange(len(lines) + 1)
    lines.insert(i, f"deep: {value}\n")
    return "".join(lines)


def space_alias(rng: random.Random, text: str) -> str:
    """A search space under an anchor, aliased in another place (the same space twice)."""
    lines = _lines(text)
    spots = [i for i, line in enumerate(lines) if _VALUE_LINE.match(line)]
    space = rng.choice(
        [
            "{tune: int, low: 1, high: 8}",
            "{tune: float, low: 0.0, high: 0.5, step: 0.1}",
            "{tune: choice, values: [relu, tanh]}",
            "{tune: bool}",
            "{tune: int, low: 8, high: 4}",
            "{tune: choice, values: [*s, 1]}",
        ]
    )
    if len(spots) < 2:
        return text + f"x: &s {space}\ny: *s\n"
    i, j = rng.sample(spots, 2)
    m = _VALUE_LINE.match(lines[i])
    assert m is not None
    lines[i] = f"{m.group(1)} &s {space}\n"
    m = _VALUE_LINE.match(lines[j])
    assert m is not None
    lines[j] = f"{m.group(1)} {rng.choice(['*s', '*s', '{<<: *s, low: 2}', '[*s, *s]'])}\n"
    return "".join(lines)


TEXTUAL: list[Callable[[random.Random, str], str]] = [
    flip_char,
    insert_char,
    delete_chars,
    control_char,
    odd_unicode,
    truncate,
    duplicate_line,
    drop_line,
    swap_lines,
    reindent,
    tabs,
    line_endings,
    yaml_syntax,
    anchor_alias,
    merge_key,
    alias_bomb,
    deep_nesting,
]
#: The textual mutations of a ``--spaces`` run.
TEXTUAL_SPACES = [*TEXTUAL, space_alias]


@dataclass
class Mutant:
    """A mutated spec: its text, its seed and the mutations applied."""

    text: str
    seed: str = ""
    steps: list[str] = field(default_factory=list)


def mutate(
    rng: random.Random, text: str, seed: str = "", most: int = 3, spaces: bool = False
) -> Mutant:
    """Apply one to ``most`` random mutations to a seed spec's ``text``.

    Structural mutations come first (on the data, dumped back), then textual ones.
    With ``spaces``, the first puts search spaces in (one of :data:`SPACES`).
    """
    count = rng.randint(1, most)
    structural = sorted((rng.random() < 0.5 for _ in range(count)), reverse=True)
    if spaces:
        structural[0] = True
    steps: list[str] = []
    if structural[0]:
        data = load_seed(text)
        for k in range(sum(structural)):
            op = rng.choice(SPACES if k == 0 else WITH_SPACES) if spaces else rng.choice(STRUCTURAL)
            try:
                steps.append(f"{op.__name__}: {op(rng, data)}")
            except (IndexError, ValueError):  # nothing to pick from: an empty section
                steps.append(f"{op.__name__}: skipped")
        text = dump(data)
    for _ in range(count - sum(structural)):
        op = rng.choice(TEXTUAL_SPACES if spaces else TEXTUAL)
        text = op(rng, text)
        steps.append(op.__name__)
    return Mutant(text, seed, steps)


# --------------------------------------------------------------------------- checking a case


def unlocated(report: Any) -> list[Any]:
    """The report's errors that have no line (< 1) or an unbounded message."""
    return [d for d in report.errors if d.line < 1 or len(d.message) > MAX_MESSAGE]


def _norm(text: str) -> str:
    """The first line of a message, printable, with its variable parts blurred."""
    first = (text.strip().splitlines() or [""])[0]
    first = first.encode("ascii", "backslashreplace").decode("ascii")
    first = re.sub(r"(?:#x|\\[xuU]|0x)[0-9a-fA-F]+", "N", first)
    first = re.sub(r"'[^']{30,}'?", "'...'", first)
    return re.sub(r"\d+", "N", first)[:100]


def _where(tb: Any) -> str:
    """The innermost frame in modelspec's code, and the one that raised."""
    frames = traceback.extract_tb(tb)
    package = str(ROOT / "modelspec")
    own = [f for f in frames if f.filename.startswith(package)]
    spots = []
    for frame in own[-1:] + frames[-1:]:
        path = Path(frame.filename)
        name = str(path.relative_to(ROOT)) if frame in own else "/".join(path.parts[-2:])
        spots.append(f"{name}:{frame.lineno} in {frame.name}")
    return " / ".join(dict.fromkeys(spots))


def _path_pattern(path: tuple[Any, ...]) -> str:
    """A diagnostic's path with list indices as ``[N]``: ``layers[N].units``."""
    text = "".join("[N]" if isinstance(p, int) else f".{p}" for p in path)
    return text.removeprefix(".") or "<top>"


def check_text(
    text: str, *, as_file: bool = False, build: bool = False, folder: str | None = None
) -> dict[str, Any]:
    """Validate ``text`` (as YAML text, or from a file in ``folder``) and classify what happens."""
    import modelspec

    source: str = text
    if as_file:
        path = Path(folder or tempfile.gettempdir()) / f"fuzz-{os.getpid()}.yaml"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        source = str(path)
    try:
        report = modelspec.validate_spec(source)
        for d in report.diagnostics:
            d.format()
    except Exception as err:  # a crash: exactly what the fuzzer looks for
        return {
            "status": "crash",
            "kind": f"{type(err).__name__}: {_norm(str(err))}",
            "where": _where(err.__traceback__),
            "detail": "".join(traceback.format_exception(err))[-4000:],
        }
    bad = unlocated(report)
    if bad:
        d = bad[0]
        reason = "line < 1" if d.line < 1 else "message over 1,000 chars"
        head = d.message.split("Received:")[0]
        return {
            "status": "unlocated",
            "kind": f"{reason}: {_norm(head)[:60]}",
            "where": _norm(_path_pattern(d.path)),
            "detail": "\n".join(
                f"{x.line}:{x.column} {x.where} ({len(x.message)} chars): {x.message[:300]}"
                for x in bad
            ),
        }
    result = {"status": "ok", "accepted": report.ok}
    if build and report.ok:
        result["build"] = _build(source)
    return result


def _build(source: str) -> dict[str, Any]:
    import modelspec

    try:
        modelspec.build_model(source)
    except modelspec.BuildError as err:
        if all(d.line >= 1 for d in err.errors):
            message = err.errors[0].message if err.errors else ""
            return {"status": "ok", "kind": "BuildError", "where": _norm(message)[:90]}
        return {"status": "unlocated", "kind": f"BuildError: {_norm(str(err))}", "where": ""}
    except Exception as err:
        return {
            "status": "crash",
            "kind": f"{type(err).__name__}: {_norm(str(err))}",
            "where": _where(err.__traceback__),
            "detail": "".join(traceback.format_exception(err))[-4000:],
        }
    finally:
        import keras

        keras.backend.clear_session()
    return {"status": "ok", "kind": "built"}


# --------------------------------------------------------------------------- the child process


def _worker(conn: Any, build: bool, folder: str) -> None:
    """The child's loop: validate each text received, send back what happened."""
    os.chdir(folder)  # an empty folder: a text that looks like a path names nothing
    with contextlib.suppress(ImportError, ValueError, OSError):  # a memory cap where possible
        import resource

        limit = (16 if build else 4) * 2**30
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import modelspec  # noqa: F401  (imported before "ready": not part of any case's time)

    if build:
        import keras  # noqa: F401
    conn.send("ready")
    while True:
        job = conn.recv()
        if job is None:
            return
        conn.send(check_text(job[0], as_file=job[1], build=build, folder=folder))


class Child:
    """A child process that validates texts; restarted when it dies or hangs."""

    def __init__(self, build: bool = False) -> None:
        methods = multiprocessing.get_all_start_methods()
        self.context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        self.build = build
        self.folder = tempfile.mkdtemp(prefix="modelspec-fuzz-")
        self.process: Any = None
        self.conn: Any = None

    def start(self) -> None:
        self.conn, child_end = self.context.Pipe()
        args = (child_end, self.build, self.folder)
        self.process = self.context.Process(target=_worker, args=args)
        self.process.daemon = True
        self.process.start()
        child_end.close()
        if not self.conn.poll(120) or self.conn.recv() != "ready":
            raise RuntimeError("the fuzzing child did not start")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.is_alive():
            with contextlib.suppress(OSError):
                self.conn.send(None)
            self.process.join(2)
            if self.process.is_alive():
                self.process.kill()
        self.process.join()
        self.conn.close()
        self.process = None

    def run(self, text: str, as_file: bool, timeout: float) -> dict[str, Any]:
        """What happened to ``text``: ok, crash, unlocated, or hang."""
        if self.process is None or not self.process.is_alive():
            self.stop()
            self.start()
        start = time.perf_counter()
        try:
            self.conn.send((text, as_file))
            if not self.conn.poll(timeout):
                self.process.kill()
                self.stop()
                return {"status": "hang", "kind": f"over {timeout:g} s", "where": ""}
            result: dict[str, Any] = self.conn.recv()
        except (EOFError, OSError):
            self.process.join(5)
            code = self.process.exitcode
            self.stop()
            died = f"killed by signal {-code}" if code is not None and code < 0 else f"exit {code}"
            return {"status": "crash", "kind": f"child died: {died}", "where": ""}
        result["seconds"] = time.perf_counter() - start
        return result


# --------------------------------------------------------------------------- shrinking


def _reduce(
    units: list[str], still_fails: Callable[[list[str]], bool], smallest: int = 1
) -> list[str]:
    """Remove chunks of ``units`` (halving their size to ``smallest``) while ``still_fails``."""
    chunk = max(len(units) // 2, 1)
    while True:
        i = 0
        while i < len(units):
            candidate = units[:i] + units[i + chunk :]
            if candidate and still_fails(candidate):
                units = candidate
            else:
                i += chunk
        if chunk <= smallest:
            return units
        chunk //= 2


class _OutOfBudget(Exception):
    """The shrink's budget of attempts or seconds is spent."""


def shrink(child: Child, text: str, as_file: bool, outcome: dict[str, Any], timeout: float) -> str:
    """A smaller text that fails the same way (same status, kind and place).

    Big chunks of characters go first (long strings), then lines, then characters;
    at most :data:`SHRINK_BUDGET` attempts and :data:`SHRINK_SECONDS` seconds.
    """
    key = (outcome["status"], outcome["kind"], outcome.get("where"))
    budget = [SHRINK_BUDGET]
    deadline = time.perf_counter() + SHRINK_SECONDS

    def fails(candidate: str) -> bool:
        if budget[0] <= 0 or time.perf_counter() > deadline:
            raise _OutOfBudget
        budget[0] -= 1
        got = child.run(candidate, as_file, timeout)
        return (got["status"], got.get("kind"), got.get("where")) == key

    best = text
    try:
        best = "".join(_reduce(list(best), lambda cs: fails("".join(cs)), smallest=64))
        best = "".join(_reduce(_lines(best), lambda ls: fails("".join(ls))))
        best = "".join(_reduce(list(best), lambda cs: fails("".join(cs))))
    except _OutOfBudget:
        pass
    return best


# --------------------------------------------------------------------------- the run


@dataclass
class Kind:
    """Cases that failed the same way."""

    status: str
    kind: str
    where: str
    cases: list[int] = field(default_factory=list)
    minimal: str | None = None
    minimal_file: str = ""


def _save(out: Path, stem: str, text: str, lines: list[str]) -> None:
    """The case's text as it was (lone surrogates included), and what happened to it."""
    (out / f"{stem}.yaml").write_bytes(text.encode("utf-8", "surrogatepass"))
    report = "\n".join(lines) + "\n"
    (out / f"{stem}.txt").write_text(report, encoding="utf-8", errors="backslashreplace")


def run(args: argparse.Namespace) -> None:
    seeds = seed_specs()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    child = Child(build=args.build)
    kinds: dict[tuple[str, str, str], Kind] = {}
    first_case: dict[tuple[str, str, str], tuple[str, bool]] = {}
    counts: Counter[str] = Counter()
    accepted = 0
    build_counts: Counter[str] = Counter()
    build_kinds: Counter[str] = Counter()
    start = time.perf_counter()
    try:
        for case in range(args.cases):
            rng = random.Random(f"{args.seed}:{case}")
            name = rng.choice(sorted(seeds))
            mutant = mutate(rng, seeds[name], name, spaces=args.spaces)
            as_file = rng.random() < args.file_ratio
            outcome = child.run(mutant.text, as_file, args.timeout)
            counts[outcome["status"]] += 1
            accepted += bool(outcome.get("accepted"))
            built = outcome.get("build")
            if built:
                build_counts[built["kind"] if built["status"] == "ok" else built["status"]] += 1
                if built["status"] != "ok" or built["kind"] == "BuildError":
                    build_kinds[
                        f"{built['status']}: {built['kind']} ({built.get('where', '')})"
                    ] += 1
            if args.progress and case and case % 500 == 0:  # (before `continue`: ok cases too)
                print(f"  ... {case} cases", file=sys.stderr)
            if outcome["status"] == "ok":
                continue
            key = (outcome["status"], outcome["kind"], outcome.get("where", ""))
            kinds.setdefault(key, Kind(*key)).cases.append(case)
            first_case.setdefault(key, (mutant.text, as_file))
            _save(
                out,
                f"case-{case:05d}",
                mutant.text,
                [
                    f"seed spec: specs/{mutant.seed}",
                    f"mutations: {'; '.join(mutant.steps)}",
                    f"validated: {'from a file' if as_file else 'as YAML text'}",
                    f"status: {outcome['status']}",
                    f"kind: {outcome['kind']}",
                    f"where: {outcome.get('where', '')}",
                    "",
                    outcome.get("detail", ""),
                ],
            )
        elapsed = time.perf_counter() - start
        if args.shrink:
            for k, (key, kind) in enumerate(sorted(kinds.items())):
                if kind.status == "hang":
                    continue
                text, as_file = first_case[key]
                kind.minimal = shrink(child, text, as_file, vars(kind), args.timeout)
                kind.minimal_file = f"min-{k:02d}.yaml"
                _save(
                    out,
                    f"min-{k:02d}",
                    kind.minimal,
                    [f"status: {kind.status}", f"kind: {kind.kind}", f"where: {kind.where}"],
                )
    finally:
        child.stop()
        shutil.rmtree(child.folder, ignore_errors=True)
    _print_summary(args, kinds, counts, accepted, elapsed, out)
    if args.build:
        print(
            f"built {sum(build_counts.values())} accepted mutants: "
            + ", ".join(f"{v} {k}" for k, v in sorted(build_counts.items()))
        )
        for kind_text, n in build_kinds.most_common():
            print(f"  {n:5d}  {kind_text}")  # ok: BuildError is a located refusal by Keras
    print(
        f"cases {args.cases}, crashes {counts['crash']}, hangs {counts['hang']}, "
        f"unlocated {counts['unlocated']}"
    )


def _print_summary(
    args: argparse.Namespace,
    kinds: dict[tuple[str, str, str], Kind],
    counts: Counter[str],
    accepted: int,
    elapsed: float,
    out: Path,
) -> None:
    print(
        f"{args.cases} cases in {elapsed:.1f} s (seed {args.seed}); "
        f"{accepted} mutants still valid; failing cases saved in {out}/"
    )
    for status in ("crash", "hang", "unlocated"):
        group = [k for k in kinds.values() if k.status == status]
        if not group:
            continue
        print(f"{status} kinds:")
        for kind in sorted(group, key=lambda k: -len(k.cases)):
            where = f"  [{kind.where}]" if kind.where else ""
            print(f"  {len(kind.cases):5d}  {kind.kind}{where}")
            if kind.minimal is not None:
                shown = f": {kind.minimal!r}" if len(kind.minimal) <= 300 else ""
                print(f"         shrunk to {len(kind.minimal)} chars, {kind.minimal_file}{shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", type=int, help="number of mutants to validate")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--out", default="fuzz-out", help="folder for failing cases")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per case")
    parser.add_argument("--no-shrink", dest="shrink", action="store_false", help="skip shrinking")
    parser.add_argument("--build", action="store_true", help="also build the valid mutants")
    parser.add_argument(
        "--file-ratio", type=float, default=0.25, help="share of cases validated from a file"
    )
    parser.add_argument("--spaces", action="store_true", help="put search spaces in every mutant")
    parser.add_argument("--progress", action="store_true", help="a line every 500 cases")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
