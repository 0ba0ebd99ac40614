"""LLM serving: arrivals, the cost model, batching policies on a replica process, metrics.

Public API (formulas and sources in each module's docstring)::

    arrivals:  make_arrival(name, **params).times(rng, horizon_s); make_length(name, **params)
               .sample(rng, n); generate_requests(arrival, prompt, output, rng, horizon_s)
               ARRIVALS, LENGTHS (registries by YAML name; ``closed`` is a closed loop of
               clients whose arrivals the serving job issues as responses return)
    cost:      ServingCost(model, accelerator, dtype, kv_dtype, tp, pp, cpu_overhead_s,
               reserve_fraction, allreduce_time, cpu_overhead_per_sequence_s, efficiency,
               activation_dtype) -> .prefill_time(prompts), .decode_time(contexts),
               .iteration_time(...), .device_time(...), .roofline(...),
               .kv_capacity_tokens/blocks; kv_bytes_per_token(arch, bytes),
               speculative_expected_tokens(alpha, k), speculative_iteration_time(...)
    efficiency: serving_efficiency(accelerator) -> ServingEfficiency (kernel fractions of
               peak, calibrated on TensorRT-LLM's published Llama-2-70B figures)
    replica:   Replica(env, cost, policy="continuous", name, *, waiting=None, draft_cost=None,
               on_finish=None, **params) -> .submit(r), .wake(), .stop(), .outstanding,
               .kv_load, .busy_s; QueueingReplica(env, rng, mean_service_s, distribution,
               servers, name, *, waiting=None, on_finish=None) (the same interface);
               make_requests(...); feed(env, replica, requests); POLICIES (none, static,
               dynamic, continuous, chunked-prefill) (modules: records, batching, replica,
               queueing)
    power:     ReplicaPower(idle_w, tdp_w, cap_w).draw_w(compute_share), .busy_j(...): an
               accelerator's draw by how compute-bound its work is, clipped at a cap
    metrics:   summarize(requests, iterations, warmup_s=, horizon_s=, slo={ttft, tpot})
    router:    make_router(name, rng).choose(replicas); ROUTERS (random, round-robin,
               join-shortest-queue, least-kv-load, shared-queue)
    job:       ServingJob: a scenario's serving job on the fleet (setup.py builds its workload
               and cost model from the spec when the scenario loads)
"""

from __future__ import annotations

from fleetsim.serving.arrivals import (ARRIVALS, LENGTHS, ArrivalError, ArrivalProcess,
                                       LengthDistribution, generate_requests, make_arrival,
                                       make_length)
from fleetsim.serving.cost import (ServingCost, ServingCostError, kv_bytes_per_token,
                                   ring_all_reduce, speculative_expected_tokens,
                                   speculative_speedup, weight_bytes)
from fleetsim.serving.metrics import request_table, summarize
from fleetsim.serving.batching import POLICIES, BatchingPolicy, make_policy, register_policy
from fleetsim.serving.power import ReplicaPower
from fleetsim.serving.queueing import SERVICE_TIMES, QueueingReplica
from fleetsim.serving.records import (IterationLog, Request, ServingError, feed,
                                      make_requests)
from fleetsim.serving.replica import Replica
from fleetsim.serving.router import ROUTERS, make_router

__all__ = [
    "ARRIVALS", "LENGTHS", "POLICIES", "ROUTERS", "SERVICE_TIMES", "ArrivalError", "ArrivalProcess", "BatchingPolicy",
    "IterationLog", "LengthDistribution", "QueueingReplica", "Replica", "ReplicaPower", "Request",
    "ServingCost", "ServingCostError", "ServingError", "feed", "generate_requests",
    "kv_bytes_per_token", "make_arrival", "make_length", "make_policy", "make_requests", "make_router",
    "register_policy", "request_table", "ring_all_reduce", "speculative_expected_tokens",
    "speculative_speedup", "summarize", "weight_bytes",
]
