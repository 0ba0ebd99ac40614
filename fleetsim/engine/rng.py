"""Named random streams derived from one seed, so each model part draws from its own stream.

``RandomStreams(seed).stream("faults")`` is a :class:`numpy.random.Generator` seeded from
``SeedSequence(seed, spawn_key=(hash("faults"),))``. A stream depends only on the seed and its
name, never on which other streams exist or in which order they are created: adding a serving
job does not reshuffle the failure times of a training job (common random numbers across the
points of a sweep). The name hash is SHA-256, stable across processes and Python versions.
"""

from __future__ import annotations

import hashlib

import numpy as np


def _name_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "little")


class RandomStreams:
    """A family of independent generators addressed by name."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._streams: dict[str, np.random.Generator] = {}

    def stream(self, name: str) -> np.random.Generator:
        """The generator called ``name`` (created on first use, then shared)."""
        generator = self._streams.get(name)
        if generator is None:
            sequence = np.random.SeedSequence(self.seed, spawn_key=(_name_key(name),))
            generator = np.random.default_rng(sequence)
            self._streams[name] = generator
        return generator
