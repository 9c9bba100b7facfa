"""Benchmark: `modelspec validate` start-up cost versus `import keras`.

Measures the whole-process wall time of

* ``python -m modelspec validate specs/antirectifier_digits.yaml`` and
* ``python -c "import keras"``

each run as a subprocess of the same interpreter, interleaved (validate, import,
validate, import...) so that machine noise hits both alike, and prints the
median of each and their ratio.

Target: median(validate) / median(import keras) <= 0.05, i.e. validating a spec
that only uses built-in layers never pays for importing TensorFlow.

If the environment sets ``PYTHONDONTWRITEBYTECODE`` (as some sandboxes and CI
images do) modelspec's own modules, installed editable, are compiled from
source on every run, which costs a few tens of milliseconds; ``--pycache-prefix
DIR`` runs both commands with bytecode cached under DIR instead (as a normal
install would), leaving the repository untouched.

It also checks, in a separate process, that running the ``validate`` command
leaves ``tensorflow`` and ``keras`` out of ``sys.modules``.

This prints numbers; it asserts nothing about timing.

Usage:
    python bench/validate_vs_import.py [--repeats 5] [--spec specs/antirectifier_digits.yaml]
        [--pycache-prefix /tmp/modelspec-bench-pyc]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = "specs/antirectifier_digits.yaml"
TARGET = 0.05

CHECK_CODE = """\
import sys, modelspec.cli
from click.testing import CliRunner
r = CliRunner().invoke(modelspec.cli.main, ['validate', {spec!r}])
print(r.exit_code, 'tensorflow' in sys.modules, 'keras' in sys.modules)
"""


ENV = dict(os.environ)


def run(cmd: list[str]) -> float:
    """Run ``cmd`` from the repo root; return its wall time in seconds."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}{proc.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", "-n", type=int, default=5, help="runs of each (default 5)")
    parser.add_argument("--spec", default=DEFAULT_SPEC, help="spec path, relative to the repo root")
    parser.add_argument(
        "--no-warmup", action="store_true", help="skip the untimed warm-up run of each"
    )
    parser.add_argument(
        "--pycache-prefix",
        metavar="DIR",
        help="cache bytecode under DIR (sets PYTHONPYCACHEPREFIX, unsets PYTHONDONTWRITEBYTECODE)",
    )
    args = parser.parse_args()
    if args.pycache_prefix:
        ENV.pop("PYTHONDONTWRITEBYTECODE", None)
        ENV["PYTHONPYCACHEPREFIX"] = str(Path(args.pycache_prefix).resolve())

    validate_cmd = [sys.executable, "-m", "modelspec", "validate", args.spec]
    import_cmd = [sys.executable, "-c", "import keras"]
    print(f"python: {sys.executable}")
    print(f"repo:   {ROOT}")
    print(f"validate: {' '.join(validate_cmd[1:])}")
    print(f"import:   {' '.join(import_cmd[1:])}")
    if ENV.get("PYTHONPYCACHEPREFIX"):
        print(f"bytecode cached under {ENV['PYTHONPYCACHEPREFIX']}")
    elif ENV.get("PYTHONDONTWRITEBYTECODE"):
        print(
            "note: PYTHONDONTWRITEBYTECODE is set, so modules without a .pyc (modelspec's, "
            "installed editable) are compiled on every run; try --pycache-prefix DIR"
        )

    if not args.no_warmup:
        # The first run of each warms the OS file cache (TensorFlow is ~1 GB of files).
        run(validate_cmd)
        run(import_cmd)

    validate_times: list[float] = []
    import_times: list[float] = []
    for i in range(args.repeats):
        v = run(validate_cmd)
        k = run(import_cmd)
        validate_times.append(v)
        import_times.append(k)
        print(f"  run {i + 1}/{args.repeats}: validate {v:.3f} s   import keras {k:.3f} s")

    med_v = statistics.median(validate_times)
    med_k = statistics.median(import_times)
    ratio = med_v / med_k
    print(f"median validate:     {med_v:.3f} s  (min {min(validate_times):.3f})")
    print(f"median import keras: {med_k:.3f} s  (min {min(import_times):.3f})")

    check = subprocess.run(
        [sys.executable, "-c", CHECK_CODE.format(spec=args.spec)],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
    )
    result = check.stdout.strip()
    print(f"in-process check (exit_code, 'tensorflow' imported, 'keras' imported): {result}")
    if check.returncode != 0:
        print(check.stderr)
    imported_tf = result != "0 False False"

    print()
    print("summary:")
    print(f"validate / import keras: {ratio:.3f} (target <= {TARGET})")
    print(f"validate imports tensorflow/keras: {imported_tf} (target False)")


if __name__ == "__main__":
    main()
