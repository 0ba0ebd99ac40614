"""The fused engine of iteration-level policies against the per-iteration implementation.

Acceptance test of "segments, not steps" (DESIGN.md, "The engine"): fusing decode iterations
into one timeout must not change any request's record. The oracle is the per-iteration
implementation as it was before fusing (one SimPy timeout and one ``cost.iteration_time``
per model iteration, every request's state updated every iteration), kept here verbatim.
Times agree to rel 1e-9 (the fused path sums iteration times in closed form, the oracle one
by one: rounding differs); preemption counts and rejections agree exactly.
"""

from __future__ import annotations

import math
import os
from collections import deque

import numpy as np
import pytest
import simpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetsim.engine.rng import RandomStreams
from fleetsim.hardware import Catalogue
from fleetsim.serving.arrivals import generate_requests, make_arrival, make_length
from fleetsim.serving.batching import BatchingPolicy, make_policy
from fleetsim.serving.cost import ServingCost
from fleetsim.serving.fused import DecodeBatch, DecodeRun, IterationClock
from fleetsim.serving.records import Request, Work, feed, make_requests
from fleetsim.serving.replica import Replica

EXAMPLES = int(os.environ.get("FLEETSIM_PROPERTY_EXAMPLES", 60))
REL = 1e-9


# ------------------------------------------------------------------ the oracle (verbatim)
class OracleIterationLevel(BatchingPolicy):
    """The per-iteration policies before fusing: admission, KV blocks, preemption."""

    def __init__(self, max_batch_size: int = 256, token_budget: int = 8192,
                 watermark_fraction: float = 0.01) -> None:
        self.max_batch_size = int(max_batch_size)
        self.token_budget = int(token_budget)
        self.watermark_fraction = float(watermark_fraction)

    def admit(self, replica, budget, whole):
        admitted = []
        waiting, running = replica.waiting, replica.running
        size = replica.cost.block_tokens
        watermark = int(self.watermark_fraction * replica.total_blocks)
        while waiting and len(running) < self.max_batch_size and budget > 0:
            request = waiting[0]
            target = request.prompt_tokens + request.generated
            need = -(-target // size)
            reserve = watermark if running else 0
            if need > replica.free_blocks - reserve:
                break
            if whole and admitted and target > budget:
                break
            waiting.popleft()
            request.prefill_target = target
            request.computed = 0
            request.blocks = need
            replica.free_blocks -= need
            running.append(request)
            admitted.append(request)
            budget -= target if whole else min(target, budget)
        return admitted

    def decodes(self, replica):
        running = replica.running
        size = replica.cost.block_tokens
        chosen = []
        i = 0
        while i < len(running):
            request = running[i]
            if request.computed < request.prefill_target:
                i += 1
                continue
            if request.computed + 1 > request.blocks * size:
                while replica.free_blocks == 0 and running[-1] is not request:
                    replica.preempt(running[-1])
                if replica.free_blocks == 0:
                    replica.preempt(request)
                    break
                replica.free_blocks -= 1
                request.blocks += 1
            chosen.append(request)
            i += 1
        return chosen

    @staticmethod
    def iteration(replica, items):
        now = replica.env.now
        new = attended = read = sequences = 0
        for request, n in items:
            c = request.computed
            new += n
            attended += n * c + n * (n + 1) // 2
            read += c
            if c + n >= request.prefill_target:
                sequences += 1
            if math.isnan(request.start_s):
                request.start_s = now
        roofline = replica.cost.roofline(new, attended, sequences, read)
        duration = float(roofline.total_s)
        replica.iterations.add(now, duration, len(items), 1,
                               1 - replica.free_blocks / max(1, replica.total_blocks),
                               float(roofline.compute_share))

        def done():
            end = replica.env.now
            finished = False
            for request, n in items:
                request.computed += n
                if request.computed >= request.prefill_target:
                    request.generated += 1
                    if math.isnan(request.first_token_s):
                        request.first_token_s = end
                    if request.generated >= request.output_tokens:
                        request.finish_s = end
                        replica.free_blocks += request.blocks
                        request.blocks = 0
                        finished = True
            if finished:
                replica.running = [r for r in replica.running if not r.done]
        return Work(duration, done)


class OracleContinuous(OracleIterationLevel):
    def schedule(self, replica):
        admitted = self.admit(replica, self.token_budget, whole=True)
        if admitted:
            return self.iteration(replica, [(r, r.prefill_target) for r in admitted])
        decodes = self.decodes(replica)
        if decodes:
            return self.iteration(replica, [(r, 1) for r in decodes])
        return None


class OracleChunked(OracleIterationLevel):
    def __init__(self, max_batch_size: int = 256, token_budget: int = 512,
                 watermark_fraction: float = 0.01) -> None:
        super().__init__(max_batch_size, token_budget, watermark_fraction)

    def schedule(self, replica):
        items = [(r, 1) for r in self.decodes(replica)]
        budget = self.token_budget - len(items)
        for request in replica.running:
            if budget <= 0:
                break
            remaining = request.prefill_target - request.computed
            if remaining > 0:
                chunk = min(remaining, budget)
                items.append((request, chunk))
                budget -= chunk
        for request in self.admit(replica, budget, whole=False):
            chunk = min(request.prefill_target, budget)
            if chunk <= 0:
                break
            items.append((request, chunk))
            budget -= chunk
        return self.iteration(replica, items) if items else None


ORACLES = {"continuous": OracleContinuous, "chunked-prefill": OracleChunked}


# ---------------------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def h100():
    return Catalogue.load().accelerator("h100-sxm")


@pytest.fixture(scope="module")
def cost(h100):
    return ServingCost("llama3-8b", h100)


@pytest.fixture(scope="module")
def tight(h100):
    """~18k tokens of KV cache: heavy preemption under load."""
    return ServingCost("llama3-8b", h100, reserve_fraction=0.77)


def workload(seed: int, rate: float, horizon_s: float, prompt: float = 500,
             output: float = 200) -> tuple:
    rng = RandomStreams(seed).stream("arrivals")
    return generate_requests(make_arrival("poisson", rate=rate),
                             make_length("lognormal", mean=prompt, sigma=0.8),
                             make_length("lognormal", mean=output, sigma=0.8), rng, horizon_s)


def run(cost, policy, arrays, until=math.inf, replicas=1) -> list[Request]:
    """Requests after serving ``arrays`` round-robin on ``replicas`` replicas of ``policy``
    (a factory of a policy object, so each replica has its own)."""
    env = simpy.Environment()
    pool = [Replica(env, cost, policy(), name=f"r{i}") for i in range(replicas)]
    requests = make_requests(*arrays)

    class RoundRobin:
        count = 0

        def submit(self, request):
            pool[self.count % replicas].submit(request)
            self.count += 1
    feed(env, RoundRobin(), requests)
    env.run(until=until)
    return requests


def run_shared(cost, policy, arrays, replicas: int) -> list[Request]:
    """Requests after serving ``arrays`` from one queue shared by ``replicas`` replicas: each
    arrival is appended to the queue and every replica is woken (as a serving job does)."""
    env = simpy.Environment()
    shared: deque = deque()
    pool = [Replica(env, cost, policy(), name=f"r{i}", waiting=shared)
            for i in range(replicas)]
    requests = make_requests(*arrays)

    def arrivals():
        for request in requests:
            yield env.timeout(request.arrival_s - env.now)
            shared.append(request)
            for replica in pool:
                replica.wake()
    env.process(arrivals())
    env.run()
    return requests


def assert_same_records(got: list[Request], want: list[Request]) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        for key in ("start_s", "first_token_s", "finish_s"):
            x, y = getattr(a, key), getattr(b, key)
            assert (math.isnan(x) and math.isnan(y)) or x == pytest.approx(y, rel=REL), \
                (a.id, key, x, y)
        assert (a.preemptions, a.rejected) == (b.preemptions, b.rejected), a.id


def compare(cost, name: str, arrays, until=math.inf, replicas=1, fuse=True,
            **params) -> list[Request]:
    """Records of policy ``name`` (fused unless ``fuse=False``), checked against the
    oracle's."""
    fused = run(cost, lambda: make_policy(name, fuse=fuse, **params), arrays, until, replicas)
    oracle = run(cost, lambda: ORACLES[name](**params), arrays, until, replicas)
    assert_same_records(fused, oracle)
    return fused


# ------------------------------------------------------------------ equivalence: examples
POLICY_NAMES = ["continuous", "chunked-prefill"]


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_fused_matches_per_iteration_under_load(cost, name):
    """Near saturation, two replicas round-robin: every record as the oracle's."""
    requests = compare(cost, name, workload(11, 40.0, 15.0), replicas=2)
    assert all(r.done for r in requests)


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_fused_matches_per_iteration_with_tensor_parallelism(h100, name):
    """Llama-3-70B on tp=4: iteration times carry the TP all-reduces (a function of the
    batch's new tokens), which the closed form adds per iteration."""
    cost = ServingCost("llama3-70b", h100, tp=4)
    compare(cost, name, workload(17, 15.0, 10.0))


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_fused_matches_per_iteration_with_kv_pressure(tight, name):
    """A cache of ~18k tokens: preemptions (recompute) happen, and they are the same."""
    requests = compare(tight, name, workload(12, 20.0, 15.0))
    assert sum(r.preemptions for r in requests) > 10


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_fused_matches_per_iteration_with_batch_limit(cost, name):
    """max_batch_size 6 keeps requests queued while the batch decodes."""
    compare(cost, name, workload(13, 8.0, 15.0), max_batch_size=6)


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_run_ending_mid_segment_keeps_finished_records_exact(tight, name):
    """env.run(until=...) stops inside fused segments: the finished requests' records, and
    which requests have finished, are as the oracle's at that moment."""
    arrays = workload(14, 12.0, 20.0)
    for until in (3.3, 7.77, 12.1):
        compare(tight, name, arrays, until=until)


@pytest.mark.parametrize("name", POLICY_NAMES)
@pytest.mark.parametrize("reserve", [0.1, 0.77])
def test_fused_matches_per_iteration_with_a_shared_queue(h100, name, reserve):
    """Three replicas taking from one queue (the shared-queue router), with and without KV
    pressure: the same request goes to the same replica at the same time."""
    cost = ServingCost("llama3-8b", h100, reserve_fraction=reserve)
    arrays = workload(16, 30.0 if reserve < 0.5 else 40.0, 8.0)
    fused = run_shared(cost, lambda: make_policy(name), arrays, 3)
    oracle = run_shared(cost, ORACLES[name], arrays, 3)
    assert_same_records(fused, oracle)
    assert all(r.done for r in fused)
    assert len({r.replica for r in fused}) == 3


def test_per_iteration_option_matches_oracle(tight):
    """``fuse=False`` is the per-iteration path of the policy classes themselves."""
    for name in POLICY_NAMES:
        compare(tight, name, workload(15, 10.0, 8.0), fuse=False)


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), rate=st.floats(1.0, 30.0),
       name=st.sampled_from(POLICY_NAMES), reserve=st.sampled_from([0.1, 0.77, 0.8]),
       max_batch=st.sampled_from([2, 16, 256]), budget=st.sampled_from([64, 512, 2048]),
       prompt=st.sampled_from([50, 500, 2000]), output=st.sampled_from([5, 50, 300]),
       until=st.sampled_from([math.inf, 4.0]))
def test_fused_matches_per_iteration_property(h100, seed, rate, name, reserve, max_batch,
                                              budget, prompt, output, until):
    """Random Poisson workloads, lognormal lengths, KV pressure or not, batch and token
    limits, runs cut short or drained: the fused engine reproduces every record."""
    cost = ServingCost("llama3-8b", h100, reserve_fraction=reserve)
    arrays = workload(seed, rate, 6.0, prompt, output)
    compare(cost, name, arrays, until=until, max_batch_size=max_batch, token_budget=budget)


# ------------------------------------------------------------------------- closed forms
def test_iteration_clock_is_the_cost_model(h100):
    """IterationClock.time equals ServingCost.iteration_time (tp = 1 and tp = 4) to 1e-12."""
    rng = np.random.default_rng(0)
    for tp in (1, 4):
        cost = ServingCost("llama3-70b" if tp > 1 else "llama3-8b", h100, tp=tp)
        clock = IterationClock(cost)
        for _ in range(200):
            new, pairs, seqs, read = (int(x) for x in rng.integers(1, [9000, 10**8, 300,
                                                                       10**6]))
            assert clock.time(new, pairs, seqs, read) == pytest.approx(
                float(cost.iteration_time(new, pairs, seqs, read)), rel=1e-12)


@pytest.mark.parametrize("batch,context,k", [(1, 100, 5000), (40, 28_000, 3000),
                                             (512, 1_000, 4000), (700, 50, 20_000)])
def test_decode_run_sums_the_iterations(cost, batch, context, k):
    """The closed form of k decode iterations equals summing cost.decode_times one by one
    (rel 1e-9), including batches that start compute-bound and turn memory-bound."""
    run = DecodeRun(IterationClock(cost), batch, context)
    times = cost.decode_times(batch, context + batch * np.arange(k, dtype=float))
    cumulative = np.cumsum(times)
    for n in (1, 2, 17, k // 3, k - 1, k):
        assert run.elapsed(n) == pytest.approx(cumulative[n - 1], rel=REL)
    bounds = {cost.decode_roofline([context / batch] * batch).bound,
              cost.decode_roofline([(context + batch * k) / batch] * batch).bound}
    if batch >= 512:
        assert bounds == {"compute", "memory"}  # the crossover lies inside the run


class Clock:
    """A synthetic IterationClock: any orientation of the attention roofline's two sides."""

    def __init__(self, token_s, pair_s, kv_s, weights_s):
        self.token_s, self.pair_s, self.logit_s, self.sequence_s = token_s, pair_s, 0.0, 1e-5
        self.kv_s, self.weights_s, self.overhead_s = kv_s, weights_s, 1e-3

    def linear(self, new_tokens, sequences):
        return max(self.token_s * new_tokens + self.logit_s * sequences, self.weights_s)

    def communication(self, new_tokens):
        return 0.0


@pytest.mark.parametrize("clock", [Clock(1e-4, 1e-6, 1e-9, 1e-3), Clock(1e-7, 1e-9, 1e-6, 1e-3),
                                   Clock(1e-6, 4e-8, 1e-8, 5e-3), Clock(1e-6, 1e-8, 1e-8, 1e-3)])
def test_decode_run_both_orientations_and_count(clock):
    """Whichever side dominates first, elapsed(n) is the brute-force sum, and count(t) is the
    iteration in progress t after the start: elapsed(n - 1) < t <= elapsed(n)."""
    batch, context, k = 8, 300, 3000
    i = np.arange(k)
    contexts = context + batch * i
    compute = clock.pair_s * (contexts + batch)
    memory = clock.kv_s * contexts
    fixed = clock.linear(batch, batch) + clock.overhead_s + clock.sequence_s * batch
    cumulative = np.cumsum(np.maximum(compute, memory) + fixed)
    run = DecodeRun(clock, batch, context)
    for n in (1, 5, 999, 2000, k):
        assert run.elapsed(n) == pytest.approx(cumulative[n - 1], rel=1e-12)
    rng = np.random.default_rng(1)
    for t in rng.uniform(0, cumulative[-1], 300):
        n = run.count(t)
        assert cumulative[n - 1] >= t * (1 - 1e-12) and (n == 1 or cumulative[n - 2] < t)


def test_decode_batch_blocks_and_finishes_by_brute_force():
    """DecodeBatch.needed/affordable/advance against stepping every member one token at a
    time with the exact path's block rule (a block when the slot crosses a boundary)."""
    rng = np.random.default_rng(2)
    batch = DecodeBatch(16)
    members = []
    for i in range(30):
        computed = int(rng.integers(1, 400))
        output = int(rng.integers(2, 300))
        request = Request(i, 0.0, computed, output, generated=1, computed=computed,
                          prefill_target=computed, blocks=-(-computed // 16))
        batch.add(request)
        members.append([computed, 1, request])
    batch.advance(0)
    step = 0
    while batch.size:
        k = batch.next_finish()
        taken = []
        for j in range(1, k + 1):
            taken.append(sum(1 for m in members if (m[0] + j - 1) % 16 == 0))
        assert [batch.needed(j) for j in range(1, k + 1)] == list(np.cumsum(taken))
        free = int(np.cumsum(taken)[-1]) // 2
        assert batch.needed(batch.affordable(free)) <= free < batch.needed(
            batch.affordable(free) + 1)
        finished = batch.advance(k)
        step += k
        for m in members:
            m[0] += k
            m[1] += k
        done = [m for m in members if m[1] >= m[2].output_tokens]
        assert sorted(r.id for r in finished) == sorted(m[2].id for m in done)
        for m in done:
            request = m[2]
            assert (request.computed, request.generated, request.blocks) == (
                m[0], m[1], -(-m[0] // 16))
            members.remove(m)
        assert batch.context == sum(m[0] for m in members)
