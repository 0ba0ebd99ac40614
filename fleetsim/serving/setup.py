"""From a serving job's spec to what its replicas run on: workload, cost model, load time.

Everything here is checked when the scenario loads (so a bad file or a model that does not
fit is one line with file, line and key) and handed to the run in a :class:`ServingSetup`.

* The TP all-reduce of the cost model is priced by :mod:`fleetsim.comm` on the node's own
  graph (ring over the replica's first ``tp`` GPUs, the fastest NCCL protocol for each size).
* Model load time on a restart (weights from storage into HBM): ``model_load`` if given,
  else weight bytes per replica / ``load_bandwidth``; without either, through the cluster's
  shared storage when there is one, else at :data:`DEFAULT_LOAD_BANDWIDTH`.
* Trace files are CSV with columns ``time_s, prompt_tokens, output_tokens``; empirical length
  files are CSV whose first column holds the counts (a header line is allowed).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from fleetsim.csvlines import finite_numbers, read_csv
from fleetsim.errors import FleetsimError, LocatedError, ScenarioError
from fleetsim.hardware import Accelerator, NodeType
from fleetsim.scenario.serving import ArrivalSpec, LengthSpec, ServingJobSpec
from fleetsim.serving.arrivals import (ArrivalError, ArrivalProcess, ClosedLoop,
                                       LengthDistribution,
                                       generate_requests, make_arrival, make_length)
from fleetsim.serving.batching import make_policy
from fleetsim.serving.cost import ServingCost, weight_bytes, dtype_bytes
from fleetsim.serving.records import ServingError
from fleetsim.units import shown

#: Model load bandwidth per replica when nothing else is known: an ASSUMPTION of 2 GB/s, the
#: order of safetensors loading from local NVMe or a parallel file system share (a 70B bf16
#: model, 140 GB, then loads in 70 s).
DEFAULT_LOAD_BANDWIDTH = 2e9


class SetupError(LocatedError):
    """A serving job that cannot be built; ``location`` is the key path inside the job."""


@dataclass(frozen=True)
class ServingSetup:
    """What a serving job's run needs beyond its spec."""

    arrival: ArrivalProcess
    prompt: LengthDistribution | None
    output: LengthDistribution | None
    cost: ServingCost | None  # None in abstract (service) mode
    draft_cost: ServingCost | None
    policy_params: dict[str, Any]
    load_s: float | None  # model load time; None: through the cluster's shared storage
    load_bytes: float  # weights per replica

    def requests(self, rng: np.random.Generator, horizon_s: float | None,
                 limit: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Arrival times and lengths: those before ``horizon_s``, at most ``limit`` of them
        (without a horizon, the window is doubled until ``limit`` arrivals are drawn)."""
        if isinstance(self.arrival, ClosedLoop):
            # the clients issue them as responses come back (the job sets the times)
            assert limit is not None, "closed-loop arrivals need a request count"
            times, prompts, outputs = self._draw(rng, 0.0, limit)
        elif horizon_s is None:
            assert limit is not None, "a serving job needs a horizon or a request limit"
            rate = self.arrival.mean_rate or 1.0
            span = 1.1 * limit / rate + 10.0 / rate
            while True:
                times, prompts, outputs = self._draw(rng, span)
                if times.size >= limit or not np.isfinite(span) or span > 1e12:
                    break
                span *= 2
        else:
            times, prompts, outputs = self._draw(rng, horizon_s)
        if limit is not None:
            times, prompts, outputs = times[:limit], prompts[:limit], outputs[:limit]
        return times, prompts, outputs

    def _draw(self, rng: np.random.Generator, span: float, count: int | None = None):
        if count is not None:  # closed loop: lengths of count requests, times set later
            times = np.zeros(count)
            if self.cost is None:
                ones = np.ones(count, dtype=np.int64)
                return times, ones, ones
            if self.prompt is None or self.output is None:
                raise ArrivalError("prompt and output length distributions are required")
            return times, self.prompt.sample(rng, count), self.output.sample(rng, count)
        if self.cost is None:  # abstract mode: a response is one unit
            times = self.arrival.times(rng, span)
            ones = np.ones(times.size, dtype=np.int64)
            return times, ones, ones
        return generate_requests(self.arrival, self.prompt, self.output, rng, span)


def build_setup(spec: ServingJobSpec, node: NodeType, accelerator: Accelerator,
                base_dir: Path, storage: bool, compute_slowdown: float = 1.0) -> ServingSetup:
    """The job's setup; raises :class:`SetupError` naming the key at fault.
    ``compute_slowdown``: a power cap's slowdown of the accelerators' FLOP rate."""
    arrival = _arrival(spec, base_dir)
    prompt = _length(spec.prompt_tokens, base_dir, "prompt_tokens")
    output = _length(spec.output_tokens, base_dir, "output_tokens")
    params = spec.batching.params()
    if spec.speculative is not None:
        params.update(draft_tokens=spec.speculative.tokens,
                      acceptance=spec.speculative.acceptance)
    if spec.service is not None:
        load_s = spec.model_load or 0.0
        return ServingSetup(arrival, prompt, output, None, None, params, load_s, 0.0)
    cost = _cost(spec, spec.model, node, accelerator, ("model",), compute_slowdown)
    draft = None
    if spec.speculative is not None:
        draft = _cost(spec, spec.speculative.draft_model, node, accelerator,
                      ("speculative", "draft_model"), compute_slowdown)
    try:
        make_policy(spec.batching.policy, **params)
    except ServingError as exc:
        raise SetupError(str(exc), ("batching",)) from None
    weights = weight_bytes(cost.arch, dtype_bytes(spec.precision))
    if draft is not None:
        weights += weight_bytes(draft.arch, dtype_bytes(spec.precision))
    if spec.model_load is not None:
        load_s: float | None = spec.model_load
    elif spec.load_bandwidth is not None:
        load_s = weights / spec.load_bandwidth
    elif storage:
        load_s = None
    else:
        load_s = weights / DEFAULT_LOAD_BANDWIDTH
    return ServingSetup(arrival, prompt, output, cost, draft, params, load_s, weights)


def _cost(spec: ServingJobSpec, model, node: NodeType, accelerator: Accelerator,
          location: tuple[Any, ...], compute_slowdown: float = 1.0) -> ServingCost:
    try:
        cost = ServingCost(model, accelerator, dtype=spec.precision, kv_dtype=spec.kv_precision,
                           tp=spec.tp, pp=spec.pp, cpu_overhead_s=spec.cpu_overhead,
                           cpu_overhead_per_sequence_s=spec.cpu_overhead_per_sequence,
                           reserve_fraction=spec.memory_reserve,
                           allreduce_time=tp_allreduce(node, spec.tp),
                           compute_slowdown=compute_slowdown)
        cost.kv_capacity_tokens  # raises if the weights leave no room for the KV cache
    except FleetsimError as exc:
        key = ("precision",) if "peak" in str(exc) else location
        raise SetupError(str(exc), key) from None
    return cost


@functools.lru_cache(maxsize=16)
def tp_allreduce(node: NodeType, tp: int) -> Callable[[float], float] | None:
    """Seconds of one all-reduce of ``size`` bytes over ``tp`` GPUs of one node: ring on the
    node's graph (:mod:`fleetsim.comm`), the fastest of NCCL's protocols for that size."""
    if tp == 1:
        return None
    from fleetsim.comm import PROTOCOLS, comm_model
    from fleetsim.topology import FabricSpec, build_cluster, gpu_name

    graph = build_cluster(node, 1, FabricSpec())
    plan = comm_model(graph).plan("all-reduce", "ring", [gpu_name(0, i) for i in range(tp)])
    protocols = tuple(PROTOCOLS)

    @functools.lru_cache(maxsize=4096)
    def time(size_bytes: float) -> float:
        return min(plan.time(size_bytes, protocol) for protocol in protocols)
    return time


def arrival_process(a: ArrivalSpec) -> ArrivalProcess:
    """The poisson, gamma or diurnal process of an ``arrivals`` mapping (``ArrivalError`` for
    bad parameters; trace files are read by the caller)."""
    if a.process == "poisson":
        return make_arrival("poisson", rate=a.rate)
    if a.process == "gamma":
        return make_arrival("gamma", rate=a.rate, cv=a.cv)
    if a.process == "closed":
        return make_arrival("closed", concurrency=a.concurrency, think_s=a.think)
    if a.process == "diurnal":
        return make_arrival("diurnal", mean_rate=a.mean_rate,
                            peak_to_trough=a.peak_to_trough, period_s=a.period,
                            phase_s=a.phase)
    raise ArrivalError(f"process {a.process!r} is not a generated arrival process")


def _arrival(spec: ServingJobSpec, base_dir: Path) -> ArrivalProcess:
    a = spec.arrivals
    try:
        if a.process != "trace":
            return arrival_process(a)
        columns = {"time_s": 0.0, "prompt_tokens": 1.0, "output_tokens": 1.0}
        records = _numbers(base_dir, a.file, ("arrivals", "file"), columns)
        return make_arrival("trace", records=records)
    except ArrivalError as exc:
        raise SetupError(str(exc), ("arrivals",)) from None


def _length(spec: LengthSpec | None, base_dir: Path, key: str) -> LengthDistribution | None:
    if spec is None:
        return None
    try:
        if spec.distribution == "fixed":
            return make_length("fixed", value=spec.value)
        if spec.distribution == "uniform":
            return make_length("uniform", low=spec.low, high=spec.high)
        if spec.distribution == "lognormal":
            return make_length("lognormal", mean=spec.mean, sigma=spec.sigma)
        values = spec.values
        if values is None:
            values = _numbers(base_dir, spec.file, (key, "file"), {None: 1.0})[:, 0]
        return make_length("empirical", values=values)
    except (ArrivalError, ValueError) as exc:
        raise SetupError(str(exc), (key,)) from None


def _numbers(base_dir: Path, name: str | None, location: tuple[Any, ...],
             columns: dict[str | None, float]) -> np.ndarray:
    """The ``columns`` (name: least value; ``None``: the file's first column) of the CSV
    ``name`` as floats, one row per data row. A missing column is a :class:`SetupError` at
    ``location``; a cell that is not a finite number at least its column's least is a
    :class:`~fleetsim.errors.ScenarioError` at the file's line, showing the cell as written."""
    assert name is not None
    path = Path(name) if Path(name).is_absolute() else base_dir / name
    if not path.is_file():
        raise SetupError(f"file {str(path)!r} not found", location)
    frame, lines = read_csv(path, skipinitialspace=True, dtype=str, keep_default_na=False)
    named = [column for column in columns if column is not None]
    missing = [column for column in named if column not in frame.columns]
    if missing:
        raise SetupError(f"{name!r} lacks column(s) {', '.join(missing)} (needs "
                         f"{', '.join(named)})", location)
    if frame.empty:
        raise ScenarioError("has no rows", file=str(path), line=1)
    result = []
    for column, least in columns.items():
        label = str(frame.columns[0]) if column is None else column
        values = finite_numbers(frame, lines, str(path), label)
        low = np.flatnonzero(values < least)
        if low.size:
            row = int(low[0])
            raise ScenarioError(f"must be >= {least:g}, got {shown(frame[label].iloc[row])}",
                                file=str(path), line=int(lines[row]), key=label)
        result.append(values)
    return np.column_stack(result)
