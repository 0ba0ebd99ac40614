"""A workload trace's bad cells give one line with the file, the row's line and the column.

Every cell kind a hostile or careless trace holds (text, nan, inf, 1e308, a 10^30 step count,
a name of a thousand characters), in CSV and in Parquet: the error is a ScenarioError (never a
pandas message or a traceback), one line, naming file:line: column.
"""

from __future__ import annotations

import pandas as pd
import pytest

from fleetsim.errors import LocatedError, ScenarioError
from fleetsim.workload.trace import read_trace

GOOD = {"submit_s": [0.0, 10.0], "gpus": [8, 16], "duration_s": [3600.0, 7200.0]}

BAD_CELLS = [
    ("submit_s", "soon", "not a number"),
    ("submit_s", "nan", "missing value|not a number: 'nan'"),
    ("submit_s", "inf", "must be finite"),
    ("submit_s", "-inf", "must be finite"),
    ("submit_s", "1e308", "must be at most"),
    ("duration_s", "1e308", "must be at most"),
    ("duration_s", "-5", "must be > 0"),
    ("gpus", "1e30", "do not fit the cluster"),
    ("gpus", "true", "not a number"),
    ("estimate_s", "inf", "must be finite"),
    ("priority", "1e30", "must be at most"),
    ("name", "x" * 1000, "longer than 128 characters"),
]


def _frame(column: str, value: str) -> pd.DataFrame:
    data = {key: [str(item) for item in values] for key, values in GOOD.items()}
    data.setdefault(column, [None, None])
    data[column][1] = value
    return pd.DataFrame(data)


@pytest.mark.parametrize("column, value, words", BAD_CELLS)
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_bad_cell_is_one_line_with_file_line_and_column(tmp_path, column, value, words,
                                                          suffix):
    frame = _frame(column, value)
    path = tmp_path / f"jobs{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
        line = 3  # header is line 1, the second row line 3
    else:
        frame.to_parquet(path)  # text cells: the reader converts them as it does for CSV
        line = 1  # Parquet rows are numbered from 0
    with pytest.raises(ScenarioError) as caught:
        read_trace(path, gpus_per_node=8, usable_gpus=64)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 300, message
    assert message.startswith(f"{path}:{line}: {column}: "), message
    assert any(word in message for word in words.split("|")), message


def test_an_unreadable_file_is_one_line_at_the_trace_key(tmp_path):
    """The reader's own message is cut to its first line; the scenario's loader puts the
    error at ``workload.trace`` (the key that names the file)."""
    path = tmp_path / "jobs.parquet"
    path.write_bytes(b"PAR1 not really parquet\n\n\nsecond line")
    with pytest.raises(LocatedError) as caught:
        read_trace(path, gpus_per_node=8, usable_gpus=64)
    assert caught.value.location == ("trace",)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path} is not a readable"), message


def test_blank_lines_do_not_shift_the_line_named(tmp_path):
    """pandas skips blank lines; the error still names the line the user sees (6 here)."""
    path = tmp_path / "jobs.csv"
    path.write_text("submit_s,gpus,duration_s\n\n0,8,3600\n\n\n10,8,soon\n")
    with pytest.raises(ScenarioError) as caught:
        read_trace(path, gpus_per_node=8, usable_gpus=64)
    assert str(caught.value).startswith(f"{path}:6: duration_s: "), caught.value


def test_a_row_with_too_many_fields_names_its_line(tmp_path):
    """pandas' multi-line tokenizer message becomes one line at the row's line."""
    path = tmp_path / "jobs.csv"
    path.write_text("submit_s,gpus,duration_s\n0,8,3600\n10,8,3600,7\n")
    with pytest.raises(ScenarioError) as caught:
        read_trace(path, gpus_per_node=8, usable_gpus=64)
    assert str(caught.value) == f"{path}:3: expected 3 fields (as the header has), saw 4"


def test_a_quoted_field_spanning_lines_keeps_the_lines_after_it(tmp_path):
    """A name quoted over two lines (2-3): the bad row after the blank line 4 is line 5."""
    path = tmp_path / "jobs.csv"
    path.write_text('submit_s,gpus,duration_s,name\n0,8,60,"a\nb"\n\n10,8,soon,c\n')
    with pytest.raises(ScenarioError) as caught:
        read_trace(path, gpus_per_node=8, usable_gpus=64)
    assert str(caught.value).startswith(f"{path}:5: duration_s: "), caught.value
