"""Exporters of finished runs: files (JSON, CSV, Parquet, Perfetto trace, plots) and the
terminal (rich). ``write_run(result, out_dir)`` writes every output of a run."""

from fleetsim.report.writers import write_run

__all__ = ["write_run"]
