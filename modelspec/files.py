"""Files written so that nothing is lost: a temporary name next to the target, then a rename.

A process killed at any moment leaves either the old file or the new one,
never half of one.

Example:
    >>> import pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "note.txt"
    >>> write_text(target, "done")
    >>> target.read_text()
    'done'
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path next to ``target`` (its folder made if needed), renamed onto it
    if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.{os.getpid()}.tmp{target.suffix}")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def stays_inside(relative: str) -> bool:
    """Whether a path a spec names stays inside the folder it is taken in.

    Only relative paths whose ``..`` never climb above their folder do: the
    check is on the text, so it works before the folder exists. Resolve the
    path with :func:`inside` when the folder exists, to catch symlinks too.

    Example:
        >>> stays_inside("logs/run1"), stays_inside("a/../b"), stays_inside("../x")
        (True, True, False)
        >>> stays_inside("/etc/passwd"), stays_inside("")
        (False, False)
    """
    if not relative or os.path.isabs(relative) or relative.startswith("~"):
        return False
    depth = 0
    for part in relative.replace("\\", "/").split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return False
        elif part not in ("", "."):
            depth += 1
    return True


def inside(root: Path, relative: str) -> Path | None:
    """``root / relative`` with symlinks resolved, or ``None`` when that leaves ``root``.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> inside(root, "logs") == root.resolve() / "logs", inside(root, "../x")
        (True, None)
    """
    if not stays_inside(relative):
        return None
    base = root.resolve()
    target = (base / relative).resolve()
    return target if target == base or base in target.parents else None


def spec_path(base_dir: Path, path: str) -> Path:
    """A file a spec names for reading: absolute as given (``~`` expanded), else
    relative to the spec's folder ``base_dir``.

    Example:
        >>> spec_path(Path("/specs"), "data/x.csv").as_posix()
        '/specs/data/x.csv'
    """
    given = Path(path).expanduser()
    return given if given.is_absolute() else (base_dir / given).resolve()


def data_path_problem(base_dir: Path, source: str, path: str) -> str | None:
    """What is wrong with the file (``images``: the folder) a ``train.data`` entry of
    ``source`` reads at ``path``, as a message; ``None`` when it is there.

    Example:
        >>> data_path_problem(Path("/nowhere"), "csv", "rows.csv")[:59]
        'expected a .csv file. Received: no such file: /nowhere/rows'
    """
    folder = source == "images"
    expected = "a folder of images (one sub-folder per class)" if folder else f"a .{source} file"
    try:
        target = spec_path(base_dir, path)
        if not target.exists():
            problem = f"no such {'folder' if folder else 'file'}: {target}"
        elif folder != target.is_dir():
            problem = f"{target} is a {'file' if folder else 'folder'}"
        else:
            return None
    except (OSError, ValueError) as err:  # a NUL, a name too long for the file system
        problem = f"{path!r} is not a usable file name ({getattr(err, 'strerror', None) or err})"
    return (
        f"expected {expected}. Received: {problem} (relative paths start at the spec's "
        f"folder, {base_dir})"
    )


def remove(path: Path) -> None:
    """Remove a file, a symlink or a whole folder; nothing when there is none.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp()) / "x"
        >>> folder.mkdir(); remove(folder); remove(folder); folder.exists()
        False
    """
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (one of another user's counts as running).

    Example:
        >>> process_alive(os.getpid())
        True
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
