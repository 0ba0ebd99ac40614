"""The fleet: node health, the spare pool, allocation of nodes to jobs, repair."""

from fleetsim.cluster.fleet import Fleet

__all__ = ["Fleet"]
