"""A serving job's CSV files (a request trace, an empirical length file) with bad cells give
one line naming the file, the row's line and the column, the cell as written; never a
traceback (a text cell used to raise pandas' ValueError through the CLI)."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCENARIO = """name: files
seed: 1
horizon: 10min
cluster: {node: dgx-h100, nodes: 1}
jobs:
  - name: chat
    type: serving
    model: llama3-8b
    replicas: 1
    arrivals: {process: trace, file: requests.csv}
"""

HEADER = "time_s,prompt_tokens,output_tokens\n"


@pytest.mark.parametrize("rows, line, column, message", [
    ("0,100,50\n1,abc,50\n", 3, "prompt_tokens", "must be a finite number, got 'abc'"),
    ("0,100,50\n\n1,-5,50\n", 4, "prompt_tokens", "must be >= 1, got '-5'"),
    ("0,100,50\n1,100,1e400\n", 3, "output_tokens", "must be a finite number, got '1e400'"),
    ("-1,100,50\n", 2, "time_s", "must be >= 0, got '-1'"),
    ("0,100,50\n1,100,50,7\n", 3, None, "expected 3 fields (as the header has), saw 4"),
])
def test_a_bad_request_trace_cell_names_its_line(tmp_path, rows, line, column, message):
    (tmp_path / "requests.csv").write_text(HEADER + rows)
    (tmp_path / "s.yaml").write_text(SCENARIO)
    process = subprocess.run([sys.executable, "-m", "fleetsim", "validate", "s.yaml"],
                             capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert process.returncode == 2, process.stderr
    where = f"requests.csv:{line}: " + (f"{column}: " if column else "")
    assert process.stderr == f"fleetsim: {where}{message}\n"


def test_a_good_request_trace_is_accepted(tmp_path):
    (tmp_path / "requests.csv").write_text(HEADER + "0,100,50\n\n5,200,20\n")
    (tmp_path / "s.yaml").write_text(SCENARIO)
    process = subprocess.run([sys.executable, "-m", "fleetsim", "validate", "s.yaml"],
                             capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert process.returncode == 0, process.stderr
