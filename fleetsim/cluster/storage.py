"""Shared checkpoint storage: concurrent transfers share its bandwidth (processor sharing).

Every transfer in progress gets an equal share ``bandwidth / n`` of the storage's bandwidth
(a fluid model of a parallel file system's aggregate throughput); when a transfer starts or
ends, the others' rates change. The next completion is always the transfer with the fewest
bytes left, so one pending timeout suffices: events are O(transfers), not O(bytes). Transfers
are checkpoint writes and restart reads of every job in the cluster.
"""

from __future__ import annotations

import simpy

_EPSILON_BYTES = 1e-6


class SharedStorage:
    """A storage system of ``bandwidth`` bytes/s shared equally by its active transfers."""

    def __init__(self, env: simpy.Environment, bandwidth: float) -> None:
        self.env = env
        self.bandwidth = bandwidth
        self._remaining: dict[simpy.Event, float] = {}  # transfer -> bytes left
        self._since = env.now
        self._generation = 0
        self.bytes_moved = 0.0
        self.busy_s = 0.0

    def transfer(self, size_bytes: float) -> simpy.Event:
        """An event that succeeds when ``size_bytes`` have moved."""
        event = self.env.event()
        if size_bytes <= 0:
            event.succeed()
            return event
        self._advance()
        self._remaining[event] = size_bytes
        self.bytes_moved += size_bytes
        self._schedule()
        return event

    def cancel(self, event: simpy.Event) -> None:
        """Stop a transfer (its job failed); the others speed up."""
        if event in self._remaining:
            self._advance()
            del self._remaining[event]
            self._schedule()

    def _advance(self) -> None:
        now = self.env.now
        if self._remaining:
            moved = (now - self._since) * self.bandwidth / len(self._remaining)
            for event in self._remaining:
                self._remaining[event] -= moved
            self.busy_s += now - self._since
        self._since = now

    def _schedule(self) -> None:
        self._generation += 1
        if not self._remaining:
            return
        generation = self._generation
        least = min(self._remaining.values())
        delay = max(0.0, least) * len(self._remaining) / self.bandwidth
        self.env.timeout(delay).callbacks.append(lambda _event: self._complete(generation))

    def _complete(self, generation: int) -> None:
        if generation != self._generation:
            return  # a start or a cancel rescheduled
        self._advance()
        least = min(self._remaining.values())
        done = [event for event, left in self._remaining.items()
                if left <= least + _EPSILON_BYTES]
        for event in done:
            del self._remaining[event]
            event.succeed()
        self._schedule()
