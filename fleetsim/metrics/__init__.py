"""Goodput and utilization accounting, timeseries and the run summary."""

from fleetsim.metrics.accounting import BUCKETS, JobAccounting

__all__ = ["BUCKETS", "JobAccounting"]
