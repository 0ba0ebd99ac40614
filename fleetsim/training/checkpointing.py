"""How a training job saves and restores checkpoints: synchronous, asynchronous, in memory.

* ``sync``: the job blocks for ``save``; the checkpoint counts when the save completes.
* ``async`` (e.g. MegaScale, NSDI'24; PyTorch DCP async save): the job blocks only for the
  ``snapshot`` to host memory, then computes on while the snapshot is persisted in the
  background (``save``). The checkpoint counts when the persist completes; a failure before
  that loses it (and the work it held). A new snapshot waits for the previous persist.
* ``in-memory`` (Gemini, SOSP'23): the job blocks for the ``snapshot`` into a peer's memory
  (each node's shard replicated on the next node of the job, in a ring) and the checkpoint
  counts at once; every ``remote_every``-th is also persisted to remote storage in the
  background (``save``). A restart loads from peer memory (``memory_load``) unless a failure
  took a node and its peer (their shard is gone), then from the last remote checkpoint
  (``load``), rolling back the work done since.

Work is made permanent through :class:`fleetsim.metrics.JobAccounting`; the job's process
calls :meth:`Checkpointer.save` after each segment and :meth:`Checkpointer.restore` before a
restart. No timeouts of their own are interruptible: background persists are callbacks that
a failure invalidates (generation counter).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:  # pragma: no cover
    from fleetsim.training.job import TrainingJob


@dataclass
class _Durable:
    """What a durable checkpoint holds: steps, and the books at that moment."""

    steps: int
    productive_s: float
    straggler_s: float


class Checkpointer:
    """The checkpoint mode of one job (module docstring)."""

    def __init__(self, job: "TrainingJob") -> None:
        self.job = job
        spec = job.spec.checkpoint
        self.mode = spec.mode
        self.snapshot_s = spec.snapshot
        self.memory_load_s = spec.memory_load
        self.remote_every = spec.remote_every
        self._generation = 0  # bumped by a failure: invalidates persists in flight
        self._persisting = None  # the event of the persist in flight (async)
        self._remote: _Durable | None = None  # in-memory mode: the last remote checkpoint
        self._ring: list[int] = []  # in-memory mode: node order of the replica ring
        self._lost_nodes: set[int] = set()
        self._memory_checkpoints = 0
        self.fallbacks = 0  # in-memory restores that had to use remote storage
        self._transfers: list = []  # shared-storage transfers in flight (cancelled on failure)
        self._relocated = False  # the job moved to other nodes since its last checkpoint

    # -- storage ------------------------------------------------------------------------------
    def _write(self):
        """An event: a checkpoint written to remote storage (shared, or at ``save_s``)."""
        job = self.job
        if job.costs.shared_save and job.storage is not None:
            return self._track(job.storage.transfer(job.costs.checkpoint_bytes or 0.0))
        return job.env.timeout(job.costs.save_s)

    def _read(self):
        job = self.job
        if job.costs.shared_load and job.storage is not None:
            return self._track(job.storage.transfer(job.costs.checkpoint_bytes or 0.0))
        return job.env.timeout(job.costs.load_s)

    def _track(self, transfer):
        self._transfers = [other for other in self._transfers if not other.triggered]
        self._transfers.append(transfer)
        return transfer

    # -- saving -------------------------------------------------------------------------------
    def save(self):
        """The job's checkpoint after a segment (a generator of SimPy events)."""
        job, env = self.job, self.job.env
        job.log.record(env.now, "checkpoint_start", job=job.name, cause=self.mode)
        if self.mode == "sync":
            yield self._write()
            self._commit_all()
            return
        if self.mode == "async":
            if self._persisting is not None and not self._persisting.processed:
                yield self._persisting  # the previous persist must finish first
            yield env.timeout(self.snapshot_s)
            held = (job.accounting.snapshot(), job.steps_done)
            generation = self._generation
            self._persisting = self._write()
            self._persisting.callbacks.append(lambda _event: self._persisted(generation, held))
            return
        yield env.timeout(self.snapshot_s)  # in-memory
        self._commit_all()
        self._ring = job.fleet.held(job)
        self._lost_nodes.clear()
        self._memory_checkpoints += 1
        if self._memory_checkpoints % self.remote_every == 0:
            durable = self._books()
            generation = self._generation
            self._write().callbacks.append(lambda _event: self._remote_saved(generation, durable))

    def drained(self) -> None:
        """A planned stop saved everything to remote storage (synchronously, in any mode)."""
        self._generation += 1  # any older persist in flight is superseded
        self._commit_all()
        if self.mode == "in-memory":
            self._remote = self._books()
            self._ring = self.job.fleet.held(self.job)
            self._lost_nodes.clear()

    def _commit_all(self) -> None:
        job = self.job
        job.accounting.commit(job.env.now)
        job.steps_committed = job.steps_done
        self._count()

    def _count(self) -> None:
        job = self.job
        job.has_checkpoint = True
        job.checkpoints += 1
        buckets = job.accounting.kept_s()
        job.checkpoint_history.append((job.env.now, job.steps_committed, buckets["productive"],
                                       buckets["straggler_delay"]))
        job.log.record(job.env.now, "checkpoint", job=job.name)

    def _persisted(self, generation: int, held: tuple) -> None:
        if generation != self._generation or self.job.completed:
            return
        snapshot, steps = held
        self.job.accounting.commit_part(self.job.env.now, snapshot)
        self.job.steps_committed = steps
        self._count()

    def _books(self) -> _Durable:
        buckets = self.job.accounting.kept_s()
        return _Durable(self.job.steps_committed, buckets["productive"],
                        buckets["straggler_delay"])

    def _remote_saved(self, generation: int, durable: _Durable) -> None:
        if generation == self._generation:
            self._remote = durable

    # -- failures and restores -----------------------------------------------------------
    def on_failure(self, nodes: Iterable[int]) -> None:
        """A failure hit the job: transfers and persists in flight are lost; remember lost
        nodes."""
        self._generation += 1
        self._lost_nodes.update(nodes)
        if self.job.storage is not None:
            for transfer in self._transfers:
                self.job.storage.cancel(transfer)
        self._transfers = []
        self._persisting = None  # a cancelled persist never completes: nothing to wait for

    def moved(self) -> None:
        """The job leaves its nodes (preempted): transfers in flight are lost, and so are the
        copies in peer memory; the next restore reads remote storage (a fallback only if the
        remote checkpoint is older than the last one kept)."""
        self.on_failure(())
        self._relocated = True

    def restore(self):
        """Before a restart: decide where to restart from; returns the load (an event)."""
        job = self.job
        nothing = job.env.timeout(0.0)
        if self.mode != "in-memory":
            return self._read() if job.has_checkpoint else nothing
        if not job.has_checkpoint:
            return nothing
        relocated, self._relocated = self._relocated, False
        if relocated and self._remote is not None and self._remote.steps == job.steps_committed:
            self._ring = []
            self._lost_nodes.clear()
            return self._read()
        if not relocated and self._memory_survives():
            return job.env.timeout(self.memory_load_s)
        self.fallbacks += 1
        remote = self._remote or _Durable(0, 0.0, 0.0)
        buckets = job.accounting.kept_s()
        job.accounting.roll_back(buckets["productive"] - remote.productive_s,
                                 buckets["straggler_delay"] - remote.straggler_s)
        job.steps_committed = job.steps_done = remote.steps
        job.log.record(job.env.now, "memory_checkpoint_lost", job=job.name)
        self._ring = []
        self._lost_nodes.clear()
        return self._read() if self._remote is not None else nothing

    def _memory_survives(self) -> bool:
        """Each node's shard also lives on its successor in the ring: a shard is gone when a
        node and its successor were both lost since the checkpoint."""
        ring = self._ring
        if len(ring) < 2:
            return not self._lost_nodes
        lost = self._lost_nodes
        return not any(node in lost and ring[(index + 1) % len(ring)] in lost
                       for index, node in enumerate(ring))
