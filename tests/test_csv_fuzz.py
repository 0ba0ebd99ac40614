"""Hostile CSV files for every reader of a user's CSV (grid intensity, workload trace,
serving request trace): each either reads or fails with one FleetsimError line, never a
traceback or a multi-line message (a quoted header holding a line break once printed one)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetsim.carbon.series import read_intensity
from fleetsim.errors import FleetsimError
from fleetsim.serving.setup import _numbers
from fleetsim.workload.trace import read_trace

CELLS = ["0", "1", "-1", "1e400", "nan", "inf", "", " ", "abc", "1.5", "1e30", '"x"',
         '"a\nb"', "3600", "8", "0x10", "1_000", "١٢", "\t", "'", '"', "time_s", "gpus"]
HEADERS = ["time_s,intensity", "submit_s,gpus,duration_s",
           "submit_s,gpus,duration_s,team,name", "time_s,prompt_tokens,output_tokens",
           "a,b", '"time_s\nx",intensity', ""]
ENDINGS = ["\n", "\r\n", "\n\n"]

rows = st.lists(st.lists(st.sampled_from(CELLS), min_size=1, max_size=5).map(",".join),
                max_size=5)
texts = st.builds(lambda header, body, endings: header + "\n" + "".join(
    row + ending for row, ending in zip(body, endings)),
    st.sampled_from(HEADERS), rows, st.lists(st.sampled_from(ENDINGS), min_size=5,
                                             max_size=5))

READERS = {
    "intensity": lambda path: read_intensity(path),
    "trace": lambda path: read_trace(path, gpus_per_node=8, usable_gpus=64),
    "requests": lambda path: _numbers(path.parent, path.name, ("file",),
                                      {"time_s": 0.0, "prompt_tokens": 1.0,
                                       "output_tokens": 1.0}),
}


@settings(max_examples=300, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=texts, raw=st.booleans())
def test_every_csv_reader_reads_or_fails_in_one_line(tmp_path: Path, text: str, raw: bool):
    path = tmp_path / "f.csv"
    path.write_bytes(b"\xff\xfe" + text.encode() if raw else text.encode())
    for name, read in READERS.items():
        try:
            read(path)
        except FleetsimError as error:
            assert "\n" not in str(error) and len(str(error)) < 500, (name, text, error)
