"""Read a user's CSV file knowing each row's line, so that an error names the line they see.

pandas skips blank lines and numbers its rows from 0, and its parser errors are multi-line
texts. :func:`read_csv` returns the frame with each row's line in the file (the header is the
first non-blank line), and turns a row with the wrong number of fields, or a file pandas cannot
read, into one :class:`~fleetsim.errors.ScenarioError` naming the file (and the line).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fleetsim.errors import ScenarioError
from fleetsim.units import shown

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def read_csv(path: Path, **options: Any) -> tuple[pd.DataFrame, np.ndarray]:
    """The CSV at ``path`` (``options`` for :func:`pandas.read_csv`) and each row's line."""
    import pandas as pd  # here: a scenario without a CSV does not load pandas

    file = str(path)
    try:
        frame = pd.read_csv(path, **options)
    except Exception as exc:  # noqa: BLE001 (any reader failure is a bad file)
        fields = _FIELDS.search(str(exc))
        if fields:
            expected, line, saw = fields.groups()
            raise ScenarioError(f"expected {expected} fields (as the header has), saw {saw}",
                                file=file, line=int(line)) from None
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else \
            type(exc).__name__
        raise ScenarioError(f"not a readable CSV ({reason})", file=file) from None
    return frame, _row_lines(path, len(frame))


def finite_numbers(frame: pd.DataFrame, lines: np.ndarray, file: str,
                   column: str) -> np.ndarray:
    """``column`` of a frame read as text (``dtype=str``) as floats; its first cell that is
    not a finite number is a :class:`~fleetsim.errors.ScenarioError` at that row's line,
    showing the cell as written (``'1e400'``, never a parsed number's repr)."""
    import pandas as pd

    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        row = int(bad[0])
        raise ScenarioError(f"must be a finite number, got {shown(str(frame[column].iloc[row]))}",
                            file=file, line=int(lines[row]), key=str(column))
    return values


def header_text(frame: pd.DataFrame, limit: int = 200) -> str:
    """The frame's column names for a one-line message: line breaks (a quoted header may
    hold them) escaped, at most ``limit`` characters; ``none`` without columns."""
    names = ", ".join(str(name).replace("\r", "\\r").replace("\n", "\\n")
                      for name in frame.columns)
    return (names[:limit] + "...") if len(names) > limit else (names or "none")


def _row_lines(path: Path, rows: int) -> np.ndarray:
    """The line each of the ``rows`` data rows starts on: the records after the header,
    blank lines skipped, a quoted field spanning lines counted whole (Python's :mod:`csv`
    reader; counted from 2 if it does not find as many rows as pandas did)."""
    starts = []
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            reader = csv.reader(handle)
            before = 0
            for record in reader:
                if record and not (len(record) == 1 and not record[0].strip()):
                    starts.append(before + 1)
                before = reader.line_num
    except (OSError, csv.Error):
        return np.arange(rows) + 2
    lines = np.asarray(starts[1:], dtype=np.int64)
    return lines if len(lines) == rows else np.arange(rows) + 2


__all__ = ["finite_numbers", "header_text", "read_csv"]
