"""Shared fixtures: spec files in a temporary folder, and registry clean-up."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# `make test` runs the suite in pytest-xdist workers (`-n 2`), each its own process with its
# own TensorFlow: give each its share of the cores rather than a thread pool per core each
# (set before TensorFlow is imported; the subprocesses tests start inherit it).
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    _THREADS = str(max(1, (os.cpu_count() or 1) // _WORKERS))
    for _var in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(_var, _THREADS)

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
#: The seed specs whose models differ: the matrices that export or train every model
#: (minutes) leave out a spec that is another with search spaces (the same layers; it
#: validates, builds and meets the JSON schema with the others).
MODELS = [p for p in SPECS if p.stem != "antirectifier_tune"]

#: A small digits classifier that trains in a second (tests that train).
SMALL = """\
modelspec: 1
name: small
inputs:
  - {name: pixels, shape: [64]}
layers:
  - {name: hidden, type: Dense, units: 16, activation: relu}
  - {name: probs, type: Dense, units: 10, activation: softmax}
outputs: [probs]
compile:
  optimizer: {type: adam, learning_rate: 1e-2}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
train:
  data:
    source: sklearn
    name: digits
    transform: {pixels: [{divide_by: 16}]}
  batch_size: 64
  epochs: 3
  verbose: 0
"""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "heavy: a test of a minute or so on some backend (subprocesses, a big model); "
        "it runs first, so that the xdist workers end together",
    )


@pytest.hookimpl(trylast=True)  # after -m and -k have deselected
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Deal the tests marked ``heavy`` out to the front of each xdist worker's queue.

    ``--dist worksteal`` gives each of N workers a slice of the tests in order (N // k
    of the k left, as xdist computes), and a worker that runs out takes tests from the
    *end* of another's queue, where the last two stay. Long tests at the end of the
    collection made one worker run them alone at the end (the PyTorch run: 162 s
    against 83 s). Here each slice starts with its share of them, and the short
    tests fill in around.
    """
    heavy = [item for item in items if item.get_closest_marker("heavy")]
    light = [item for item in items if not item.get_closest_marker("heavy")]
    workers = max(1, _WORKERS)
    ordered: list[pytest.Item] = []
    for k in range(workers):
        share = heavy[k::workers]
        size = (len(items) - len(ordered)) // (workers - k)
        fill = max(0, size - len(share))
        ordered += share + light[:fill]
        del light[:fill]
    items[:] = ordered + light


@pytest.fixture
def write_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Write dedented YAML to ``tmp_path/<name>`` and return its path relative to cwd."""
    monkeypatch.chdir(tmp_path)

    def write(text: str, name: str = "spec.yaml") -> str:
        (tmp_path / name).write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return name

    return write


@pytest.fixture
def clean_registry() -> Iterator[None]:
    """Forget whatever a test registers."""
    from modelspec import registry

    before = {ns: set(reg) for ns, reg in registry.REGISTRIES.items()}
    yield
    for ns, reg in registry.REGISTRIES.items():
        for name in set(reg) - before[ns]:
            reg.unregister(name)


@pytest.fixture(autouse=True)
def _forget_backend_flag() -> Iterator[None]:
    """A CLI test's ``--backend`` is remembered by the process (as a run's would be): forget it."""
    yield
    from modelspec import backend

    backend._flag = None
