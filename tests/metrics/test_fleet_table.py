"""The jobs table of a run that holds no jobs keeps its numeric columns numeric."""

import numpy as np

from fleetsim.metrics.fleet import JOB_COLUMNS, TEXT_COLUMNS, jobs_table


def test_an_empty_jobs_table_has_numeric_columns():
    """With no rows pandas would make every column ``object``, and the fleet summary's
    ``np.isnan(table["start_s"])`` raised TypeError (found by the bounds fuzzing)."""
    table = jobs_table([], end_s=0.0)
    assert list(table.columns) == list(JOB_COLUMNS)
    for column in JOB_COLUMNS:
        if column not in TEXT_COLUMNS:
            assert table[column].dtype == np.float64, column
    assert not np.isnan(table["start_s"].to_numpy()).any()
