"""Training jobs: the job process, step-time models and checkpoint policies."""

from fleetsim.training.checkpoint import POLICIES, checkpoint_interval_s
from fleetsim.training.job import TrainingJob

__all__ = ["POLICIES", "TrainingJob", "checkpoint_interval_s"]
