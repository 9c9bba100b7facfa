"""``train.distribute``: data parallelism over devices, processes and hosts.

Keras's own distribution API does the work; this module sets it up for a run:

* one process, ``data_parallel``: every local device. JAX:
  ``keras.distribution.DataParallel``, set before the model is built;
  TensorFlow: ``tf.distribute.MirroredStrategy``, whose scope the model is built,
  compiled and trained in.
* many processes (JAX only): :func:`initialize` joins the cluster through
  ``jax.distributed.initialize`` (a coordinator address, the process count and
  this process's id, or what JAX detects on a cluster such as SLURM), with
  Gloo's CPU collectives. The distribution has ``auto_shard_dataset=False``:
  every process cuts each global batch of ``train.batch_size`` rows the same
  way and feeds only its own slice (:meth:`Plan.feed`), and Keras assembles the
  global batch from the processes' slices
  (``jax.make_array_from_process_local_data``). The global batch, and so the
  training, is the one a single process would see.

Process 0 alone writes the run directory. The others train into a scratch
directory that is removed at the end (:func:`follow`); on ``--resume`` they
start from a copy of the run directory's last committed epoch.

Example:
    >>> plan = Plan("none", "tensorflow")
    >>> plan.writer, plan.processes
    (True, 1)
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DataError, RunError

if TYPE_CHECKING:
    import tensorflow as tf

    from ..spec.schema import ModelSpec

#: Seconds a process waits for the others to join, and after which a process
#: that stopped sending heartbeats (killed, hung, unreachable) is given up on.
JOIN_TIMEOUT = int(os.environ.get("MODELSPEC_JOIN_TIMEOUT", "60"))
HEARTBEAT_TIMEOUT = int(os.environ.get("MODELSPEC_HEARTBEAT_TIMEOUT", "20"))


@dataclass
class Cluster:
    """The processes of a multi-process run (set by :func:`initialize`).

    Attributes:
        processes: How many processes train together.
        index: This process's id (0 writes the run directory).
        coordinator: ``HOST:PORT`` of process 0's coordination service, or
            ``None`` when JAX found the cluster in the environment.
        following: This process is training into its scratch directory.
    """

    processes: int
    index: int
    coordinator: str | None = None
    following: bool = field(default=False, repr=False)


_cluster: Cluster | None = None


def cluster() -> Cluster | None:
    """The multi-process run this process belongs to, or ``None``."""
    return _cluster


def initialize(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    timeout: int | None = None,
) -> Cluster:
    """Join a multi-process JAX run (before any JAX computation).

    With no arguments JAX detects the cluster from the environment (SLURM,
    Open MPI, Cloud TPU...). CPU collectives go through Gloo.

    Args:
        coordinator: ``HOST:PORT`` where process 0 listens and the others connect.
        num_processes: How many processes train together.
        process_id: This process's id, ``0`` to ``num_processes - 1``.
        timeout: Seconds to wait for every process to join (default
            :data:`JOIN_TIMEOUT`).

    Returns:
        The :class:`Cluster`.

    Raises:
        RunError: The backend is not JAX, the coordinator's port is taken or
            unreachable, or the processes did not all join in time.
    """
    global _cluster
    import keras

    if keras.backend.backend() != "jax":
        raise RunError(
            "expected the jax backend for a multi-process run. Received: "
            f"{keras.backend.backend()}. TensorFlow's MultiWorkerMirroredStrategy does not "
            "work with Keras 3 (tensorflow#72388): run with KERAS_BACKEND=jax (or the "
            "spec's `backend: jax`)."
        )
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    wait = timeout or JOIN_TIMEOUT
    where = coordinator or "the address found in the environment"
    if coordinator is not None and process_id:  # JAX aborts the process when it cannot join
        _reach(coordinator, process_id, wait)
    elif coordinator is not None and process_id == 0:
        _port_free(coordinator)
    # JAX aborts the process (a C++ check failure) when the others do not join in
    # time: a watchdog says so in one line first, and exits as a usage error does
    watchdog = threading.Timer(wait, _not_joined, (process_id, num_processes, where, wait))
    watchdog.daemon = True
    watchdog.start()
    try:
        jax.distributed.initialize(
            coordinator_address=coordinator,
            num_processes=num_processes,
            process_id=process_id,
            initialization_timeout=wait + 30,
            heartbeat_timeout_seconds=HEARTBEAT_TIMEOUT,
        )
    except Exception as err:  # XlaRuntimeError, ValueError, RuntimeError
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        role = "listen as the coordinator" if process_id == 0 else "join the coordinator"
        raise RunError(
            f"process {process_id} could not {role} at {where} within {wait} s "
            f"({num_processes} processes). Received: {first[:300]}. Check that the "
            "port is free on process 0's host and reachable from the others, and "
            "that every process was started."
        ) from None
    finally:
        watchdog.cancel()
    _cluster = Cluster(jax.process_count(), jax.process_index(), coordinator)
    return _cluster


#: Set by ``--workers`` in its processes' environment: the launcher's process id.
LAUNCHER_VARIABLE = "MODELSPEC_LAUNCHER_PID"


def watch_launcher() -> None:
    """In a process that ``--workers`` started, stop (exit 1, one line) when the
    launcher is gone (``kill -9`` on it would leave the workers training on)."""
    launcher = os.environ.get(LAUNCHER_VARIABLE)
    if not launcher or not launcher.isdigit():
        return

    def watch() -> None:
        import sys
        import time

        while os.getppid() == int(launcher):
            time.sleep(1)
        # stderr may be a pipe the launcher took with it: stop all the same
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(
                f"Error: the --workers launcher (process {launcher}) ended; this worker "
                "stops too. Resume the run with `modelspec train --resume RUN_DIR --workers N`.\n"
            )
            sys.stderr.flush()
        os._exit(1)

    threading.Thread(target=watch, name="modelspec-launcher-watch", daemon=True).start()


def _not_joined(process_id: int | None, processes: int | None, where: str, wait: float) -> None:
    """The processes did not all join within ``wait`` seconds: one line, exit 2 (before
    JAX's own timeout aborts the process with a C++ stack trace)."""
    import sys

    count = f"{processes} processes" if processes else "every process"
    sys.stderr.write(
        f"Error: process {process_id if process_id is not None else '?'} waited {wait:g} s "
        f"for {count} to join at {where}. Received: not all of them joined. Start every "
        "process (--process-id 0 to N-1, the same --coordinator and --num-processes), or "
        "give them longer with MODELSPEC_JOIN_TIMEOUT.\n"
    )
    sys.stderr.flush()
    os._exit(2)


def _reach(coordinator: str, process_id: int, wait: float) -> None:
    """Wait until the coordinator accepts connections, or raise a one-line RunError."""
    import socket
    import time

    host, _, port = coordinator.rpartition(":")
    deadline = time.monotonic() + wait
    while True:
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=1):
                return
        except OSError as err:
            if time.monotonic() >= deadline:
                raise RunError(
                    f"process {process_id} could not reach the coordinator at {coordinator} "
                    f"within {wait:g} s. Received: {err.strerror or err}. Start process 0 "
                    "(--process-id 0) on that host first, and check the address and that "
                    "the port is open to this host."
                ) from None
            time.sleep(0.5)


def _port_free(coordinator: str) -> None:
    """Process 0's port can be listened on (JAX may crash on a port in use)."""
    import errno
    import socket

    port = int(coordinator.rpartition(":")[2])
    for family, host in ((socket.AF_INET6, "::"), (socket.AF_INET, "0.0.0.0")):
        try:
            with socket.socket(family) as sock:
                sock.bind((host, port))
            return
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise RunError(
                    f"process 0 could not listen as the coordinator at {coordinator}: the "
                    f"port is in use. Received: {err.strerror}. Choose a free port for "
                    "--coordinator (the same on every process)."
                ) from None
            continue  # no IPv6 here: try IPv4


def writer() -> bool:
    """Whether this process writes the run directory (process 0, or no cluster)."""
    return _cluster is None or _cluster.index == 0


def follow(run: Callable[..., Any], resume: str | os.PathLike[str] | None, **kwargs: Any) -> Any:
    """Run ``run`` (``train``) as a process other than 0: into a scratch directory,
    removed at the end, so that only process 0 writes the run directory. To resume,
    the scratch holds a copy of the run's committed state (its backup,
    history and spec), not the checkpoints' future: the run directory is only read.

    Example:
        What ``train`` does on processes 1..N-1 (not run here)::

            follow(train, resume, spec=spec, overrides=overrides, ...)
    """
    assert _cluster is not None
    scratch = Path(tempfile.mkdtemp(prefix=f"modelspec-process{_cluster.index}-"))
    _cluster.following = True
    previous = None
    if threading.current_thread() is threading.main_thread():  # terminated: still clean up
        previous = signal.signal(signal.SIGTERM, _exit)
    try:
        copy: Path | None = None
        if resume is not None:
            copy = scratch / Path(resume).name
            shutil.copytree(
                resume,
                copy,
                ignore=shutil.ignore_patterns("logs", "export"),
                copy_function=_copy_if_there,
            )
        return run(resume=copy, out_dir=scratch, **kwargs)
    finally:
        _cluster.following = False
        shutil.rmtree(scratch, ignore_errors=True)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _exit(signum: int, frame: Any) -> None:
    """SIGTERM (the launcher stopping the others): exit through ``finally`` blocks."""
    raise SystemExit(128 + signum)


def _copy_if_there(source: str, target: str) -> None:
    """Copy a file that process 0 may be moving (publishing ``best.keras`` as it
    resumes): one it moved is not needed (state.json names what is)."""
    with contextlib.suppress(FileNotFoundError):
        shutil.copy2(source, target)


def must_follow() -> bool:
    """Whether ``train`` should hand over to :func:`follow` (a process other than 0,
    not already following)."""
    return _cluster is not None and _cluster.index != 0 and not _cluster.following


@dataclass
class Plan:
    """How one run distributes its training (:func:`plan`).

    Attributes:
        kind: ``none`` or ``data_parallel``.
        backend: The Keras backend.
        processes: Processes training together (1 without a cluster).
        index: This process's id.
        devices: Devices across all processes that share each batch (1 when
            the backend splits batches itself, or without distribution).
        strategy: TensorFlow's ``MirroredStrategy``, or ``None``.
    """

    kind: str
    backend: str
    processes: int = 1
    index: int = 0
    devices: int = 1
    strategy: Any = None

    @property
    def writer(self) -> bool:
        """Process 0 writes the run directory."""
        return self.index == 0

    def scope(self) -> contextlib.AbstractContextManager[Any]:
        """Where the model is built, compiled and trained (TensorFlow's strategy scope)."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def feed(self, dataset: tf.data.Dataset, rows: int, batch_size: int) -> tf.data.Dataset:
        """This process's part of each global batch of ``dataset``.

        Every process cuts each batch alike: its rows are the process's contiguous
        slice, a multiple of its devices; a last, smaller batch keeps the most rows
        that split evenly over every device (at most ``devices - 1`` rows are left
        out), and is dropped when it has fewer rows than devices.

        Args:
            dataset: Batches of ``batch_size`` rows (the last one smaller).
            rows: The rows of the split.
            batch_size: The global batch size (a multiple of :attr:`devices`).
        """
        if self.devices == 1:
            return dataset
        import tensorflow as tf

        total, local = self.devices, self.devices // self.processes
        index = self.index
        if 0 < rows % batch_size < total:  # a last batch too small for every device
            dataset = dataset.take(rows // batch_size)

        def part(*batch: Any) -> Any:
            flat = tf.nest.flatten(batch)
            each = tf.shape(flat[0])[0] // total * local
            cut = [t[index * each : (index + 1) * each] for t in flat]
            return tf.nest.pack_sequence_as(batch if len(batch) > 1 else batch[0], cut)

        return dataset.map(part)


def plan(loaded: ModelSpec) -> Plan:
    """Set up ``train.distribute`` for this process's backend, before the model is built.

    Raises:
        RunError: Several processes, and the spec does not ask for ``data_parallel``;
            or ``data_parallel`` on the torch backend.
        DataError: ``train.batch_size`` does not split over the devices.
    """
    import keras

    assert loaded.train is not None
    kind = loaded.train.distribute_type
    backend = keras.backend.backend()
    processes = _cluster.processes if _cluster is not None else 1
    index = _cluster.index if _cluster is not None else 0
    if kind == "none":
        if backend == "jax":  # an earlier run's, in this process
            keras.distribution.set_distribution(None)
        if processes > 1:
            raise RunError(
                f"expected train.distribute: data_parallel for a run of {processes} "
                "processes. Received: none (each process would train a model of its "
                "own). Add `distribute: data_parallel` to the spec's train section, or "
                "--set train.distribute=data_parallel."
            )
        return Plan(kind, backend)
    if kind == "model_parallel":
        return _model_parallel(loaded, backend, processes)
    if backend == "torch":
        raise RunError(
            "expected the jax or tensorflow backend for train.distribute: data_parallel. "
            "Received: torch (Keras's distribution API has no PyTorch support). Run with "
            "KERAS_BACKEND=jax or tensorflow."
        )
    if backend == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy()
        return Plan(kind, backend, strategy=strategy)
    import jax

    devices = len(jax.devices())
    batch = loaded.train.batch_size
    if batch % devices:
        doc = loaded.document
        raise DataError(
            [
                doc.diagnostic(
                    ("train", "batch_size"),
                    f"expected a batch size that splits evenly over the run's {devices} "
                    f"devices ({processes} process{'es' * (processes > 1)}). Received: "
                    f"batch_size={batch}. Use a multiple of {devices}, such as "
                    f"{max(batch // devices, 1) * devices}.",
                )
            ]
        )
    distribution = keras.distribution.DataParallel(auto_shard_dataset=False)
    keras.distribution.set_distribution(distribution)
    return Plan(kind, backend, processes, index, devices)


def weights_digest(model: Any) -> str:
    """A short digest of a model's weights: the processes of a run print theirs,
    equal when they trained in step.

    Example:
        >>> import numpy as np
        >>> class Model:
        ...     def get_weights(self):
        ...         return [np.zeros(2, "float32")]
        >>> weights_digest(Model())
        'af5570f5a1810b7a'
    """
    import hashlib

    import numpy as np

    digest = hashlib.sha256()
    for array in model.get_weights():
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def _model_parallel(loaded: ModelSpec, backend: str, processes: int) -> Plan:
    """``keras.distribution.ModelParallel`` over the spec's mesh and layout (JAX, one
    process): Keras places each variable by the layout and splits the batch over
    the mesh's first axis."""
    import keras

    from ..spec.schema import DistributeSpec

    assert loaded.train is not None
    spec = loaded.train.distribute
    assert isinstance(spec, DistributeSpec) and spec.mesh is not None  # validated
    if backend != "jax" or processes > 1:
        raise RunError(
            "expected one JAX process for train.distribute: model_parallel. Received: "
            f"{backend}, {processes} process{'es' * (processes > 1)}. Run it with "
            "KERAS_BACKEND=jax, without --workers or --coordinator."
        )
    devices = keras.distribution.list_devices()
    doc = loaded.document
    size = math.prod(spec.mesh.shape)
    if size != len(devices):
        raise DataError(
            [
                doc.diagnostic(
                    ("train", "distribute", "mesh", "shape"),
                    f"expected a mesh of the {len(devices)} devices this process has. "
                    f"Received: shape {spec.mesh.shape} ({size} devices).",
                )
            ]
        )
    batch = loaded.train.batch_size
    if batch % spec.mesh.shape[0]:
        raise DataError(
            [
                doc.diagnostic(
                    ("train", "batch_size"),
                    f"expected a batch size that splits over the mesh's first axis "
                    f"'{spec.mesh.axes[0]}' ({spec.mesh.shape[0]} devices). Received: "
                    f"batch_size={batch}.",
                )
            ]
        )
    mesh = keras.distribution.DeviceMesh(tuple(spec.mesh.shape), spec.mesh.axes, devices)
    layout = keras.distribution.LayoutMap(mesh)
    for pattern, dims in (spec.layout or {}).items():
        layout[pattern] = tuple(dims)
    distribution = keras.distribution.ModelParallel(
        layout_map=layout, batch_dim_name=spec.mesh.axes[0], auto_shard_dataset=False
    )
    keras.distribution.set_distribution(distribution)
    return Plan("model_parallel", backend)


@contextlib.contextmanager
def local() -> Iterator[None]:
    """No distribution inside: models loaded here live on this process's device
    (exporting the run's model on process 0 while the others have left)."""
    import keras

    if keras.backend.backend() != "jax":
        yield
        return
    before = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(before)
