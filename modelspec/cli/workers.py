"""``modelspec train --workers N`` and the flags of one process of a multi-process run.

``--workers N`` starts N processes of ``modelspec train`` on this machine, joined
on the loopback address (a free port), each with ``--coordinator 127.0.0.1:PORT
--num-processes N --process-id I``; process 0 prints and writes the run
directory. When a process exits with an error or is killed, the launcher stops
the others and says which one ended and how. Nothing here imports Keras: the
launcher only starts and watches processes.

Example:
    >>> died("worker 1", -9)
    'worker 1 was killed by SIGKILL'
    >>> died("worker 0", 1)
    'worker 0 exited with code 1'
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

import click

from ..backend import choose
from ..errors import ModelSpecError

F = TypeVar("F", bound=Callable[..., Any])

#: Seconds the launcher gives the other processes to stop before killing them.
GRACE = 5.0


def distributed_options(func: F) -> F:
    """``--workers``, ``--coordinator``, ``--num-processes`` and ``--process-id``."""
    for option in reversed(
        [
            click.option(
                "--workers",
                type=click.IntRange(min=1),
                help="Train with N processes on this machine (JAX, train.distribute: "
                "data_parallel): one run directory, written by process 0.",
            ),
            click.option(
                "--coordinator",
                metavar="HOST:PORT",
                help="A multi-process run: where process 0 listens and the others join.",
            ),
            click.option(
                "--num-processes",
                type=click.IntRange(min=1),
                help="A multi-process run: how many processes train together.",
            ),
            click.option(
                "--process-id",
                type=click.IntRange(min=0),
                help="A multi-process run: this process's id, 0 (writes the run) to N-1.",
            ),
        ]
    ):
        func = option(func)
    return func


def check_flags(
    spec: str | None,
    resume: str | None,
    workers: int | None,
    coordinator: str | None,
    num_processes: int | None,
    process_id: int | None,
    overrides: Sequence[str] = (),
    backend_flag: str | None = None,
) -> None:
    """Usage errors (exit 2) before any process starts.

    ``backend_flag`` is ``--backend``'s value, if the command has one.

    Raises:
        click.UsageError: Flags that do not go together, a backend other than JAX,
            or a spec that does not ask for ``train.distribute: data_parallel``.
    """
    cluster = (coordinator, num_processes, process_id)
    if workers is not None and any(v is not None for v in cluster):
        raise click.UsageError(
            "give --workers N (processes on this machine) or --coordinator, "
            "--num-processes and --process-id (one process of a cluster), not both"
        )
    if any(v is not None for v in cluster) and None in cluster:
        raise click.UsageError(
            "a process of a multi-process run needs --coordinator HOST:PORT, "
            "--num-processes N and --process-id I together (or none of them, on a "
            "cluster JAX detects, such as SLURM)"
        )
    if coordinator is not None:
        host, _, port = coordinator.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise click.BadParameter(
                f"expected HOST:PORT, such as 10.0.0.1:1234. Received: {coordinator}",
                param_hint="'--coordinator'",
            )
    if num_processes is not None and process_id is not None and process_id >= num_processes:
        raise click.BadParameter(
            f"expected an id from 0 to {num_processes - 1} (--num-processes "
            f"{num_processes}). Received: {process_id}",
            param_hint="'--process-id'",
        )
    if workers is None and coordinator is None:
        return
    flag = "--workers" if workers is not None else "--coordinator"
    spec_file = spec or str(Path(str(resume)) / "spec.yaml")
    data = _spec_data(spec_file, overrides)
    try:
        named = data.get("backend") if isinstance(data.get("backend"), str) else None
        backend = choose(backend_flag, named)
    except ModelSpecError as err:
        raise click.UsageError(str(err)) from None
    if backend != "jax":
        raise click.UsageError(
            f"{flag} needs the JAX backend. Received: {backend}. TensorFlow's "
            "MultiWorkerMirroredStrategy does not work with Keras 3 (tensorflow#72388): "
            "run with --backend jax, KERAS_BACKEND=jax or the spec's `backend: jax`. "
            "(TensorFlow's "
            "data_parallel uses the devices of one process.)"
        )
    section = data.get("train")
    distribute = section.get("distribute") if isinstance(section, dict) else None
    kind = distribute.get("type") if isinstance(distribute, dict) else distribute
    if kind != "data_parallel" and resume is None:
        raise click.UsageError(
            f"{flag} needs train.distribute: data_parallel. Received: "
            f"{kind or 'none'} (each process would train a model of its own). Add "
            "`distribute: data_parallel` to the spec's train section, or --set "
            "train.distribute=data_parallel."
        )


def _spec_data(path: str, overrides: Sequence[str]) -> dict[str, Any]:
    """The spec's YAML as a mapping, ``--set`` applied (``{}`` when it cannot be read:
    training reports it)."""
    from ..spec.loader import apply_overrides, load_document

    try:
        doc = load_document(path)
        apply_overrides(doc, list(overrides))
        data = doc.data
    except Exception:
        return {}
    return data if isinstance(data, dict) else {}


def free_port() -> int:
    """A TCP port free on the loopback address now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def died(name: str, code: int) -> str:
    """How a process ended, for people."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"{name} was killed by {signal.Signals(-code).name}"
    return f"{name} exited with code {code}"


def without_workers(argv: list[str], verb: str) -> list[str]:
    """The command line after ``modelspec VERB``, without ``--workers N``.

    Example:
        >>> without_workers(["tune", "s.yaml", "--workers", "2", "--trials=4"], "tune")
        ['s.yaml', '--trials=4']
    """
    args = argv[argv.index(verb) + 1 :] if verb in argv else list(argv)
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--workers":
            skip = True
        elif not arg.startswith("--workers="):
            kept.append(arg)
    return kept


def launch(argv: Sequence[str], workers: int) -> int:
    """Start ``workers`` processes of ``modelspec train`` with ``argv`` (the command
    line without ``--workers``) on the loopback address; wait for them all.

    Process 0's output goes to this terminal; the others' is kept, and the end of
    it printed if one fails. When a process fails, the others are stopped.

    Returns:
        The exit code: 0, or that of the first process that failed.
    """
    from ..training.distribute import LAUNCHER_VARIABLE

    port = free_port()
    base = [sys.executable, "-m", "modelspec", "train", *argv]
    env = os.environ | {LAUNCHER_VARIABLE: str(os.getpid())}
    # Ctrl-C stops the workers even when this process was started with SIGINT ignored
    # (a background job of a non-interactive shell)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="modelspec-workers-") as logs:
        files: list[IO[bytes]] = []
        try:
            for index in range(workers):
                flags = [
                    "--coordinator",
                    f"127.0.0.1:{port}",
                    "--num-processes",
                    str(workers),
                    "--process-id",
                    str(index),
                ]
                if index == 0:
                    procs.append(subprocess.Popen([*base, *flags], env=env))
                    continue
                out = open(Path(logs) / f"worker{index}.out", "wb")  # noqa: SIM115
                log = open(Path(logs) / f"worker{index}.log", "wb")  # noqa: SIM115
                files += [out, log]
                procs.append(
                    subprocess.Popen(
                        [*base, *flags], stdout=out, stderr=log, start_new_session=True, env=env
                    )
                )
            return _watch(procs, logs)
        except KeyboardInterrupt:
            # process 0 stops at the end of its step and records the run as interrupted
            # (it has had Ctrl-C too, from the terminal); then the others are stopped
            first = procs[0] if procs else None
            if first is not None and first.poll() is None:
                with contextlib.suppress(OSError):
                    first.send_signal(signal.SIGINT)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    first.wait(GRACE * 3)
            _stop(procs)
            return 130
        finally:
            _stop(procs)
            for file in files:
                file.close()


def _watch(procs: list[subprocess.Popen[bytes]], logs: str) -> int:
    """Wait for every process; on the first failure, stop the rest and say so."""
    while True:
        codes = [p.poll() for p in procs]
        ended = [i for i, c in enumerate(codes) if c not in (None, 0)]
        # a worker killed by a signal is the cause when the others' errors followed it
        # (seen together when the launcher polls late, on a busy machine)
        killed = [i for i in ended if (codes[i] or 0) < 0]
        failed = (killed or ended)[0] if ended else None
        if failed is not None:
            code = codes[failed]
            assert code is not None
            others = [i for i, c in enumerate(codes) if c is None]
            _stop(procs)
            parts = [died(f"worker {failed}", code)]
            # the others it took down with it before this poll (a collective that lost
            # its peer), then those the launcher stopped
            parts += [died(f"worker {i}", c) for i, c in enumerate(codes) if c and i != failed]
            if others:
                parts.append(
                    f"stopped worker{'s' * (len(others) > 1)} " + ", ".join(map(str, others))
                )
            message = "; ".join(parts)
            click.echo(f"Error: {message}.", err=True)
            if failed:
                text = (Path(logs) / f"worker{failed}.log").read_text(errors="replace")
                lines = [line for line in text.splitlines() if line.strip()][-5:]
                if lines:
                    click.echo(f"worker {failed}'s last output:", err=True)
                    for line in lines:
                        click.echo(f"  {line}", err=True)
            return code if code > 0 else 1
        if all(c == 0 for c in codes):
            for index in range(1, len(procs)):  # "process 1 of 2: done, weights ..."
                text = (Path(logs) / f"worker{index}.out").read_text(errors="replace")
                lines = text.strip().splitlines()
                if lines:
                    click.echo(lines[-1])
            return 0
        time.sleep(0.2)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """Terminate the processes still running; kill those that do not stop in time."""
    running = [p for p in procs if p.poll() is None]
    for proc in running:
        with contextlib.suppress(OSError):
            proc.terminate()
    deadline = time.monotonic() + GRACE
    for proc in running:
        try:
            proc.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                proc.kill()
            proc.wait()
