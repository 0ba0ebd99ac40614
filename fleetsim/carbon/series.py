"""Read a grid carbon-intensity series (CSV) and the intensity a scenario's ``carbon`` gives.

The CSV has a header with the columns ``time_s`` (seconds from the run's start; the first row
at 0, strictly increasing) and ``intensity`` (gCO2/kWh, 0 to
:data:`~fleetsim.scenario.carbon.MAX_INTENSITY`, the bound of a constant intensity); other
columns are ignored. Each value holds until the next row's time, the last one until the end of
the run. A bad row is one :class:`~fleetsim.errors.ScenarioError` naming the file, the row's
line (the header is line 1) and the column, and showing the cell as written; a missing file
is a :class:`~fleetsim.errors.LocatedError` at ``file`` (the scenario's key).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fleetsim.csvlines import finite_numbers, header_text, read_csv
from fleetsim.errors import LocatedError, ScenarioError
from fleetsim.power.profile import StepProfile
from fleetsim.scenario.carbon import MAX_INTENSITY, CarbonSpec
from fleetsim.units import shown

COLUMNS = ("time_s", "intensity")


def read_intensity(path: Path) -> StepProfile:
    """The intensity series of the CSV file at ``path``, checked row by row."""
    file = str(path)
    if not path.is_file():
        raise LocatedError(f"file not found: {file}", ("file",))
    # every cell as the text written, so an error shows it as the user wrote it ('1e400',
    # not the inf it parses to), and an empty cell is '' rather than NaN
    frame, lines = read_csv(path, skipinitialspace=True, dtype=str, keep_default_na=False)
    missing = [column for column in COLUMNS if column not in frame.columns]
    if missing:
        raise ScenarioError(f"lacks column(s) {', '.join(missing)} (needs: time_s, intensity;"
                            f" has: {header_text(frame)})",
                            file=file, line=1)
    if frame.empty:
        raise ScenarioError("has no rows (needs one row at time_s 0 at least)", file=file,
                            line=1)

    def fail(row: int, column: str, message: str) -> ScenarioError:
        return ScenarioError(message, file=file, line=int(lines[row]), key=column)

    def cell(row: int, column: str) -> str:
        """The cell as written, quoted (``'1e400'``): never a parsed number's repr."""
        return shown(str(frame[column].iloc[row]))

    times, intensity = (finite_numbers(frame, lines, file, column) for column in COLUMNS)
    if times[0] != 0:
        raise fail(0, "time_s", f"the first row must be at 0 (the run's start), "
                                f"got {cell(0, 'time_s')}")
    later = np.flatnonzero(np.diff(times) <= 0)
    if later.size:
        raise fail(int(later[0]) + 1, "time_s", "times must increase strictly")
    outside = np.flatnonzero((intensity < 0) | (intensity > MAX_INTENSITY))
    if outside.size:
        row = int(outside[0])
        raise fail(row, "intensity", f"must lie within 0..{MAX_INTENSITY:g} gCO2/kWh, "
                                     f"got {cell(row, 'intensity')}")
    return StepProfile(times, intensity)


def intensity_of(spec: CarbonSpec, scenario_file: str) -> StepProfile:
    """The intensity a ``carbon`` section describes (a file relative to the scenario's
    directory)."""
    if isinstance(spec.intensity, (int, float)):
        return StepProfile.constant(spec.intensity)
    if spec.intensity is not None:
        return StepProfile.from_spec(spec.intensity)
    assert spec.file is not None
    path = Path(spec.file)
    if not path.is_absolute() and scenario_file != "<dict>":
        path = Path(scenario_file).parent / path
    return read_intensity(path)


__all__ = ["COLUMNS", "intensity_of", "read_intensity"]
