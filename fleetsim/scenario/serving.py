"""Scenario models of a serving job: arrivals, lengths, batching, routing, SLOs, retries.

A serving job is ``replicas`` copies of a model, each on ``tp * pp`` GPUs, fed by an arrival
process through a router. ``model`` gives the LLM cost model (:mod:`fleetsim.serving.cost`);
``service`` instead makes every replica an abstract server with a service-time distribution
(queueing labs). docs/reference/scenario.md documents every key.
"""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator, model_validator

from fleetsim import units
from fleetsim.scenario.scheduling import Scheduling
from fleetsim.kinds import (MAX_SIGMA, Bandwidth, Cv, Duration, Factor, Fraction,
                                     Model, Name, PositiveCount, PositiveDuration,
                                     PositiveInteger, Rate, Reference, StepDuration, count,
                                     integer, number)
from fleetsim.scenario.architecture import PRESETS, Architecture

#: the most tokens of one prompt or one output
MAX_TOKENS = 10**8
Tokens = count(1, MAX_TOKENS)

Precision = Literal["fp16", "bf16", "fp8", "int8"]


class ArrivalSpec(Model):
    """When requests arrive. ``trace`` replays a CSV file (which also gives their lengths)."""

    process: Literal["poisson", "gamma", "diurnal", "trace", "closed"]
    rate: Rate | None = None  # poisson, gamma: mean requests per second
    cv: Cv = 1.0  # gamma: coefficient of variation of the gaps
    mean_rate: Rate | None = None  # diurnal: the rate averaged over a period
    peak_to_trough: Factor = 2.0  # diurnal: max rate / min rate
    period: PositiveDuration = units.DAY  # diurnal
    phase: Duration = 0.0  # diurnal: time of the mean rate on the way up
    file: Reference | None = None  # trace: CSV with columns time_s, prompt_tokens, output_tokens
    concurrency: PositiveInteger | None = None  # closed: clients, one request each
    think: Duration = 0.0  # closed: a client's pause between a response and its next request

    @model_validator(mode="after")
    def _parameters(self) -> "ArrivalSpec":
        needs = {"poisson": "rate", "gamma": "rate", "diurnal": "mean_rate", "trace": "file",
                 "closed": "concurrency"}
        key = needs[self.process]
        if getattr(self, key) is None:
            raise ValueError(f"process {self.process!r} needs {key}")
        for other in set(needs.values()) - {key}:
            if getattr(self, other) is not None:
                raise ValueError(f"{other} is not a parameter of process {self.process!r} "
                                 f"(it takes {key})")
        return self


class LengthSpec(Model):
    """A distribution of token counts (prompt or output)."""

    distribution: Literal["fixed", "uniform", "lognormal", "empirical"]
    value: Tokens | None = None  # fixed
    low: Tokens | None = None  # uniform, inclusive
    high: Tokens | None = None  # uniform, inclusive
    mean: number(1.0, MAX_TOKENS) | None = None  # lognormal: the mean token count
    sigma: number(0.0, MAX_SIGMA, open_low=True) = 1.0  # lognormal: of the underlying normal
    values: tuple[integer(1, MAX_TOKENS), ...] | None = None  # empirical: observed
    file: Reference | None = None  # empirical: a CSV of observed counts (its first column)

    @model_validator(mode="after")
    def _parameters(self) -> "LengthSpec":
        needed = {"fixed": ("value",), "uniform": ("low", "high"), "lognormal": ("mean",),
                  "empirical": ()}[self.distribution]
        missing = [key for key in needed if getattr(self, key) is None]
        if missing:
            raise ValueError(f"distribution {self.distribution!r} needs {', '.join(missing)}")
        if self.distribution == "uniform" and self.low > self.high:  # type: ignore[operator]
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        if self.distribution == "empirical" and (self.values is None) == (self.file is None):
            raise ValueError("distribution 'empirical' needs exactly one of values or file")
        return self


class BatchingSpec(Model):
    """The batching policy of every replica and its parameters (unset keys take the
    policy's defaults; a key the policy does not take is an error)."""

    policy: Reference = "continuous"  # none | static | dynamic | continuous | chunked-prefill
    batch_size: PositiveInteger | None = None  # static: requests per batch
    timeout: PositiveDuration | None = None  # static: start a partial batch after this wait
    max_batch_size: PositiveInteger | None = None  # dynamic, iteration-level
    max_queue_delay: Duration | None = None  # dynamic: the oldest request's longest wait
    token_budget: PositiveInteger | None = None  # tokens per iteration
    watermark: number(0.0, 1.0, open_high=True) | None = None  # KV blocks kept free
    reserve_tokens: PositiveInteger | None = None  # request-level: KV per request

    def params(self) -> dict[str, float | int]:
        """Keyword arguments of the policy class (SI units)."""
        names = {"batch_size": "batch_size", "timeout": "timeout_s",
                 "max_batch_size": "max_batch_size", "max_queue_delay": "max_queue_delay_s",
                 "token_budget": "token_budget", "watermark": "watermark_fraction",
                 "reserve_tokens": "reserve_tokens"}
        return {argument: getattr(self, key) for key, argument in names.items()
                if getattr(self, key) is not None}


class SpeculativeSpec(Model):
    """Speculative decoding (Leviathan et al., ICML 2023): a draft model proposes ``tokens``
    tokens, the target verifies them in one pass, each accepted with probability
    ``acceptance``."""

    draft_model: Reference | Architecture  # a preset name or an architecture mapping
    tokens: integer(1, 1000) = 4
    acceptance: Fraction = 0.7

    @field_validator("draft_model")
    @classmethod
    def _known_preset(cls, model: str | Architecture) -> str | Architecture:
        return known_preset(model)


class ServiceSpec(Model):
    """Abstract mode: a replica is a server whose service time has this distribution."""

    distribution: Literal["exponential", "deterministic"] = "exponential"
    mean: StepDuration


class SloSpec(Model):
    """Latency targets a request must meet to count towards goodput."""

    ttft: PositiveDuration | None = None  # time to first token
    tpot: PositiveDuration | None = None  # time per output token after the first


class AutoscaleSpec(Model):
    """Scale a serving job's replicas between ``min`` and ``max`` on load, by the Kubernetes
    HPA rule (serving/autoscale.py): every ``interval`` the load per replica (requests in the
    system for ``queue``, busy fraction for ``utilization``) is compared with ``target`` and
    the replica count set to ceil(replicas x load / target), at once when that is more, and
    when less to the highest count recommended over the last ``cooldown``. A new replica pays
    the model load (cold start); a removed one drains its requests first and then returns its
    nodes to the fleet."""

    min: PositiveInteger = 1
    max: PositiveInteger
    metric: Literal["queue", "utilization"] = "queue"
    target: number(0.0, 1e9, open_low=True)  # outstanding requests, or busy fraction (<= 1)
    interval: PositiveDuration = 30.0
    cooldown: Duration = 300.0

    @model_validator(mode="after")
    def _bounds(self) -> "AutoscaleSpec":
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) must not be below min ({self.min})")
        if self.metric == "utilization" and self.target > 1:
            raise ValueError(f"a utilization target is a fraction (0, 1], got {self.target}")
        return self


class ServingJobSpec(Scheduling):
    """An inference service: ``replicas`` copies of a model behind a router."""

    name: Name
    type: Literal["serving"]
    model: Reference | Architecture | None = None  # a preset name or an architecture mapping
    service: ServiceSpec | None = None  # abstract mode, instead of a model
    servers: PositiveInteger = 1  # abstract mode: servers per replica
    replicas: PositiveCount
    tp: PositiveInteger = 1  # tensor parallel GPUs per replica (within a node)
    pp: PositiveInteger = 1  # pipeline stages per replica
    precision: Precision = "bf16"  # weights (and compute)
    kv_precision: Precision | None = None  # KV cache; default: precision
    batching: BatchingSpec = BatchingSpec()
    speculative: SpeculativeSpec | None = None
    router: Reference = "round-robin"  # random | round-robin | join-shortest-queue | ...
    arrivals: ArrivalSpec
    prompt_tokens: LengthSpec | None = None
    output_tokens: LengthSpec | None = None
    slo: SloSpec = SloSpec()
    requests: PositiveCount | None = None  # stop admitting after N arrivals
    retries: integer(0, 1000) = 2  # re-sends of a request lost to a replica failure
    model_load: Duration | None = None  # replica restart: load the weights (default: derived)
    load_bandwidth: Bandwidth | None = None  # per replica, to derive model_load
    warmup: Duration = 0.0  # requests arriving earlier are left out of the latency metrics
    cpu_overhead: Duration = 3e-3  # per model iteration (scheduling, sampling)
    cpu_overhead_per_sequence: Duration = 2e-4  # per sequence in the iteration, added
    memory_reserve: number(0.0, 1.0, open_high=True) = 0.1  # HBM kept out of the KV cache
    autoscale: AutoscaleSpec | None = None  # scale replicas on load (replicas: the start)

    @field_validator("model")
    @classmethod
    def _known_preset(cls, model: str | Architecture | None) -> str | Architecture | None:
        return known_preset(model)

    @model_validator(mode="after")
    def _consistent(self) -> "ServingJobSpec":
        if (self.model is None) == (self.service is None):
            raise ValueError("give exactly one of model (a preset or mapping) or service "
                             "(abstract mode, e.g. service: {distribution: exponential, "
                             "mean: 50ms})")
        trace = self.arrivals.process == "trace"
        if not trace and self.model is not None and (self.prompt_tokens is None
                                                     or self.output_tokens is None):
            raise ValueError("a model needs prompt_tokens and output_tokens distributions "
                             "(or arrivals from a trace, which carries them)")
        if self.service is not None and (self.speculative is not None
                                         or self.batching != BatchingSpec()):
            raise ValueError("batching and speculative decoding need a model (service "
                             "mode is one request per server)")
        if self.autoscale is not None and not (
                self.autoscale.min <= self.replicas <= self.autoscale.max):
            raise ValueError(f"replicas ({self.replicas}) must lie between autoscale.min "
                             f"({self.autoscale.min}) and autoscale.max ({self.autoscale.max})")
        if self.arrivals.process == "closed" and self.requests is None:
            raise ValueError("closed-loop arrivals need requests (how many the clients send "
                             "in all), e.g. requests: 1000")
        if self.speculative is not None and self.batching.policy not in (
                "continuous", "chunked-prefill"):
            raise ValueError("speculative decoding needs an iteration-level batching policy "
                             "(continuous or chunked-prefill)")
        return self

    @property
    def gpus_per_replica(self) -> int:
        return self.tp * self.pp

    @property
    def gpus(self) -> int:
        return self.replicas * self.gpus_per_replica


def known_preset(model):
    """``model`` if it is an architecture mapping or a known preset name; else a ValueError
    listing the presets."""
    if isinstance(model, str) and model not in PRESETS:
        raise ValueError(f"unknown model preset {model!r} (presets: {', '.join(PRESETS)}; "
                         "or a mapping of layers, hidden, heads, ...)")
    return model
