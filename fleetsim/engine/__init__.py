"""The simulation engine's shared parts: named random streams and the event log."""

from fleetsim.engine.events import EventLog
from fleetsim.engine.rng import RandomStreams

__all__ = ["EventLog", "RandomStreams"]
