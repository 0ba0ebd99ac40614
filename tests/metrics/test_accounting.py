"""JobAccounting: phases credit their time; pending work becomes productive or lost."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import fleetsim
from fleetsim.metrics import BUCKETS, JobAccounting
from fleetsim.metrics.accounting import UNIT_S, exact_split, to_seconds

ROOT = Path(__file__).resolve().parents[2]


def test_phases_pending_commit_and_loss():
    books = JobAccounting(0.0)
    books.enter("running", 10.0)          # waited 10 s in the queue
    books.enter("checkpoint_stall", 70.0)  # 60 s of compute, pending
    books.commit(75.0)                    # save done at 75 s -> productive
    books.enter("running", 75.0)
    books.enter("detection", 100.0)       # failure: 25 s pending
    assert books.lose() == 25.0
    books.enter("restart", 110.0)
    books.close(130.0)
    assert books.buckets == {"productive": 60.0, "checkpoint_stall": 5.0, "lost_work": 25.0,
                             "detection": 10.0, "restart": 20.0,
                             "waiting_for_resources": 0.0, "queued": 10.0,
                             "straggler_delay": 0.0, "contention": 0.0, "power_cap": 0.0}
    assert books.wall_s == 130.0
    assert books.goodput == 60.0 / 130.0
    assert books.productive_log == [(0.0, 0.0), (75.0, 60.0)]


def test_pending_work_survives_the_end_of_the_run():
    books = JobAccounting(0.0)
    books.enter("running", 0.0)
    books.close(50.0)
    assert books.buckets["productive"] == 50.0 and books.goodput == 1.0


def test_closing_twice_keeps_the_first_end():
    books = JobAccounting(0.0)
    books.enter("running", 0.0)
    books.close(50.0)
    books.close(80.0)
    assert books.wall_s == 50.0


def test_straggler_delay_of_kept_work_is_its_own_bucket():
    books = JobAccounting(0.0)
    books.enter("running", 0.0)
    books.enter("checkpoint_stall", 100.0,
                excess={"straggler_delay": 12.0})  # 88 s straggler-free + 12 s delay
    books.commit(101.0)
    books.enter("running", 101.0)
    books.enter("detection", 150.0, excess={"straggler_delay": 5.0})  # lost, delay included
    books.lose()
    books.close(160.0)
    assert books.buckets["productive"] == 88.0
    assert books.buckets["straggler_delay"] == 12.0
    assert books.buckets["lost_work"] == 49.0
    assert sum(books.buckets.values()) == books.wall_s == 160.0


def test_gpu_seconds_follow_the_gpus_held():
    """GPU-seconds credit each interval times the GPUs held in it: queued with none, the
    computing interval at the count it began with (a failure shrinks the allocation at the
    instant the job stops), and the rest as the fleet reports changes."""
    books = JobAccounting(0.0)
    books.set_gpus(10.0, 16)                   # started at 10 s on 16 GPUs
    books.enter("running", 10.0)
    books.enter("checkpoint_stall", 70.0)      # 60 s x 16 GPUs pending
    books.commit(75.0)
    books.enter("running", 75.0)
    books.set_gpus(100.0, 8)                   # a node failed: 8 GPUs left ...
    books.enter("detection", 100.0)            # ... and the job stops at that instant
    books.lose()
    books.enter("waiting_for_resources", 110.0)
    books.set_gpus(130.0, 16)                  # the replacement arrives
    books.enter("restart", 130.0)
    books.close(140.0)
    assert books.gpu_buckets["queued"] == 0.0
    assert books.gpu_buckets["productive"] == 60 * 16
    assert books.gpu_buckets["checkpoint_stall"] == 5 * 16
    assert books.gpu_buckets["lost_work"] == 25 * 16
    assert books.gpu_buckets["detection"] == 10 * 8
    assert books.gpu_buckets["waiting_for_resources"] == 20 * 8
    assert books.gpu_buckets["restart"] == 10 * 16
    assert books.gpu_seconds(140.0) == sum(books.gpu_buckets.values())


def test_an_asynchronous_checkpoint_keeps_what_it_snapshotted():
    books = JobAccounting(0.0)
    books.set_gpus(0.0, 8)
    books.enter("running", 0.0)
    books.enter("checkpoint_stall", 50.0, excess={"straggler_delay": 10.0})
    held = books.snapshot()                    # 50 s (10 s of it delay) being persisted
    books.enter("running", 51.0)
    books.enter("checkpoint_stall", 81.0)      # 30 s more, pending
    books.commit_part(82.0, held)
    assert books.buckets["productive"] == 40.0 and books.buckets["straggler_delay"] == 10.0
    assert books.pending_s == 30.0 and books.pending_gpu_s == 240.0
    assert books.gpu_buckets["productive"] == 320.0


# -- exactness ---------------------------------------------------------------------------------
# The criterion is equality (==), not a tolerance: the books are integers, and the floats read
# from them share one grid, so every float sum of the buckets, in any order, is exact.

def _sums(values) -> set[float]:
    """The buckets summed in three orders: left to right, right to left, numpy's pairwise."""
    values = list(values)
    return {sum(values), sum(reversed(values)), float(np.sum(np.asarray(values)))}


def test_a_ten_year_run_adds_up_exactly():
    """quickstart stretched to 10 years (3.2e8 s, where a float's spacing is 6e-8 s; daily
    checkpoints keep it quick): the job's buckets add up to its wall time and the fleet's
    GPU-seconds to GPUs x wall time, exactly. Summing float credits missed here by 6e-8 s and
    1.5e-5 GPU-seconds (issue 13)."""
    result = fleetsim.run(ROOT / "scenarios" / "quickstart.yaml",
                          overrides={"horizon": "10y", "jobs.pretrain.steps": 10**9,
                                     "jobs.pretrain.checkpoint.interval": "1d"})
    job = result.summary["jobs"]["pretrain"]
    assert job["wall_time_s"] == 10 * 365 * 86400
    assert job["interruptions"] > 100  # failures, restarts and losses all took part
    assert _sums(job["buckets_s"].values()) == {job["wall_time_s"]}
    gpu_seconds = dict(result.summary["fleet"]["gpu_seconds"])
    total = gpu_seconds.pop("total")
    assert total == result.summary["cluster"]["gpus"] * job["wall_time_s"]
    assert _sums(gpu_seconds.values()) == {total}
    assert min(gpu_seconds.values()) >= 0.0


@given(st.lists(st.integers(0, 2**1200), min_size=1, max_size=12))
def test_exact_split_rounds_parts_onto_one_grid(parts):
    """Any non-negative integer parts: the floats add up to the total's float exactly, and
    each is within one grid step (the total's float spacing) of its exact value."""
    split = exact_split({str(index): value for index, value in enumerate(parts)})
    exact_total = sum(parts)
    assert _sums(split.values()) == {to_seconds(exact_total)}
    step = math.ulp(to_seconds(exact_total)) if exact_total else 0.0
    for index, value in enumerate(parts):
        assert abs(Fraction(split[str(index)]) - Fraction(value) * Fraction(UNIT_S)) <= step


_TIMES = st.floats(0.0, 3.2e8, allow_nan=False, allow_infinity=False)
_STEP = st.one_of(
    st.tuples(st.just("enter"), st.sampled_from(("running",) + BUCKETS), _TIMES,
              st.floats(0.0, 1e4)),
    st.tuples(st.just("gpus"), st.integers(0, 16_384), _TIMES),
    st.tuples(st.just("commit"), _TIMES),
    st.tuples(st.just("snapshot"),),
    st.tuples(st.just("commit_part"), _TIMES),
    st.tuples(st.just("lose"),),
    st.tuples(st.just("lose_part"), st.floats(0.0, 1e5), st.floats(0.0, 1e4)),
    st.tuples(st.just("roll_back"), st.floats(-1e8, 1e8), st.floats(-1e3, 1e3)),
)


@settings(max_examples=300, deadline=None)
@given(st.floats(0.0, 1e6), st.lists(_STEP, max_size=60), _TIMES)
def test_random_segment_logs_add_up_exactly(start, steps, end):
    """Random logs of transitions at arbitrary float times (of any magnitude up to 10 years),
    GPU changes, commits, asynchronous commits, losses, partial losses and roll-backs: the
    seconds add up to the wall time exactly, and the GPU-seconds to the exact integral of the
    GPUs held (computed here independently, in fractions) up to the float rounding of that
    one total."""
    books = JobAccounting(start)
    clock, gpus, held_integral, held = start, 0, Fraction(0), None
    phase_gpus = 0  # GPUs the current phase is credited at (a computing interval keeps its own)
    for step in steps:
        kind, args = step[0], step[1:]
        if kind in ("enter", "gpus", "commit", "commit_part"):
            clock = max(clock, args[1] if kind in ("enter", "gpus") else args[0])
        if kind == "enter":
            held_integral += (Fraction(clock) - Fraction(books._since_s)) * phase_gpus
            books.enter(args[0], clock, {"straggler_delay": args[2]})
            phase_gpus = gpus
        elif kind == "gpus":
            if books.phase != "running":
                held_integral += (Fraction(clock) - Fraction(books._since_s)) * phase_gpus
                phase_gpus = args[0]
            gpus = args[0]
            books.set_gpus(clock, gpus)
        elif kind == "commit":
            books.commit(clock)
        elif kind == "snapshot":
            held = books.snapshot()
        elif kind == "commit_part" and held is not None:
            books.commit_part(clock, held)
        elif kind == "lose":
            books.lose()
        elif kind == "lose_part":
            books.lose_part(args[0], {"straggler_delay": args[1]})
        elif kind == "roll_back":
            books.roll_back(*args)
    closing = max(clock, end)
    if books.phase != "done":
        held_integral += (Fraction(closing) - Fraction(books._since_s)) * phase_gpus
    books.close(closing)
    assert books.wall_s == float(Fraction(books._since_s) - Fraction(start))
    assert _sums(books.buckets.values()) == {books.wall_s}
    assert min(books.buckets.values()) >= 0.0 and min(books.gpu_buckets.values()) >= 0.0
    gpu_total = float(held_integral)
    assert _sums(books.gpu_buckets.values()) == {gpu_total}
    assert books.gpu_seconds(closing) == gpu_total
