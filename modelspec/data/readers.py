"""Reading ``.npz`` and ``.csv`` files into arrays: named arrays, or columns with a header row.

Problems are raised as :class:`~modelspec.data.common.Problem`; the caller
says where they belong (``train.data.path``, or the file given to ``predict``).

Example:
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "flowers.csv"
    >>> _ = path.write_text("length,species\\n1.5,setosa\\n2,virginica\\n")
    >>> columns, bad = read_csv(path)
    >>> columns["length"], bad
    (array([1.5, 2. ]), {'species': (2, 'setosa')})
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from .common import Problem, quote


def read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise Problem(f"expected an .npz archive of named arrays. Received: {path}")
        with archive:
            return {key: archive[key] for key in archive.files}
    except ValueError as err:
        if "allow_pickle" in str(err):
            raise Problem(
                f"{path} holds object arrays (Python objects), which modelspec does not "
                "unpickle; save numeric arrays instead (pad sequences to one length first)"
            ) from None
        raise Problem(f"cannot read {path} as an .npz archive: {err}") from None
    except (OSError, EOFError) as err:
        raise Problem(f"cannot read {path} as an .npz archive: {err}") from None


def read_csv(path: Path) -> tuple[dict[str, np.ndarray], dict[str, tuple[int, str]]]:
    """Columns of a CSV file with a header row: numbers as arrays, other columns as text.

    Returns the columns and, for each text column, its first non-numeric cell
    as ``(line, value)``. Empty cells of a numeric column are NaN.
    """
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            rows: list[list[str]] = []
            lines: list[int] = []
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                if header is not None and len(row) != len(header):
                    raise Problem(
                        f"expected {len(header)} fields on each line of {path.name} (as in "
                        f"its header). Received: {len(row)} on line {reader.line_num}"
                    )
                rows.append(row)
                lines.append(reader.line_num)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise Problem(f"cannot read {path} as CSV text: {err}") from None
    if header is None:
        raise Problem(
            f"{path.name} is empty: expected a header row of column names, then one line per sample"
        )
    names = [h.strip() for h in header]
    if not all(names):
        raise Problem(f"expected a header row of column names in {path.name}. Received: {header}")
    if all(_is_number(n) for n in names):
        raise Problem(
            f"expected a header row of column names in {path.name}. Received: a first line "
            f"of numbers ({','.join(names)}); add a line with the column names"
        )
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise Problem(f"the header of {path.name} repeats the column(s) {quote(duplicates)}")
    columns: dict[str, np.ndarray] = {}
    bad: dict[str, tuple[int, str]] = {}
    for j, name in enumerate(names):
        cells = [row[j].strip() for row in rows]
        numbers = [_number(c) for c in cells]
        if any(v is None for v in numbers):
            i = next(i for i, v in enumerate(numbers) if v is None)
            bad[name] = (lines[i], cells[i])
            columns[name] = np.array(cells, dtype=str)
            continue
        values = np.array(numbers, dtype=np.float64)
        whole = np.all(np.isfinite(values)) and np.all(values == np.round(values))
        columns[name] = values.astype(np.int64) if whole and len(values) else values
    return columns, bad


def _number(text: str) -> float | None:
    if text == "":
        return math.nan
    try:
        return float(text)
    except ValueError:
        return None


def _is_number(text: str) -> bool:
    return text != "" and _number(text) is not None
