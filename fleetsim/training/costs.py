"""What one step, one checkpoint save and one load cost a training job (pure).

A job either states them (``step_time``, ``checkpoint.save``, ``checkpoint.load``) or has them
derived from its ``model``: the step from :mod:`fleetsim.training.stepmodel` on the job's
placed ranks, the checkpoint size as params x ``bytes_per_param``, and save and load times as
size / ``storage_bandwidth`` unless given explicitly. Computed once per job configuration,
before the run, so the simulation itself stays O(checkpoints + failures).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import networkx as nx

from fleetsim.hardware.models import Accelerator, NodeType
from fleetsim.scenario.models import TrainingJobSpec
from fleetsim.training.plan import Memory, checkpoint_bytes, make_plan, memory_per_gpu
from fleetsim.training.stepmodel import StepEstimate, estimate_step


@dataclass(frozen=True)
class JobCosts:
    """Seconds per step, per save and per load, with the derivation when there is one."""

    step_s: float
    save_s: float
    load_s: float
    estimate: StepEstimate | None = None
    memory: Memory | None = None
    checkpoint_bytes: float | None = None
    shared_save: bool = False  # saves go through the cluster's shared storage
    shared_load: bool = False  # loads too (save_s / load_s are then the uncontended times)


def job_costs(spec: TrainingJobSpec, accelerator: Accelerator, node: NodeType,
              graph: nx.DiGraph | None = None, ranks: Sequence[str] | None = None,
              shared_storage_bandwidth: float | None = None) -> JobCosts:
    """The costs of ``spec``; a job with a model needs its ``graph`` and placed ``ranks``.

    Save and load times: given explicitly; else size / ``checkpoint.storage_bandwidth`` (the
    job's own storage); else, with ``shared_storage_bandwidth`` (``cluster.storage``), the job
    writes and reads through the shared storage (the times here are the uncontended ones)."""
    checkpoint = spec.checkpoint
    if spec.model is None:
        assert spec.step_time is not None
        return JobCosts(spec.step_time, checkpoint.save, checkpoint.load)
    assert graph is not None and ranks is not None
    plan = make_plan(spec)
    estimate = estimate_step(spec, plan, accelerator, node, graph, ranks)
    size = checkpoint_bytes(plan, checkpoint.bytes_per_param)
    save, load = checkpoint.save, checkpoint.load
    bandwidth = checkpoint.storage_bandwidth or shared_storage_bandwidth
    shared = checkpoint.storage_bandwidth is None and shared_storage_bandwidth is not None
    shared_save = shared_load = False
    if bandwidth is not None:
        if "save" not in checkpoint.model_fields_set:
            save, shared_save = size / bandwidth, shared
        if "load" not in checkpoint.model_fields_set:
            load, shared_load = size / bandwidth, shared
    return JobCosts(estimate.step_s, save, load, estimate, memory_per_gpu(plan), size,
                    shared_save, shared_load)
