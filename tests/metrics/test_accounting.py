"""JobAccounting: phases credit their time; pending work becomes productive or lost."""

from __future__ import annotations

from fleetsim.metrics import JobAccounting


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
    assert books.pending_s == 30.0 and books.pending_gpu["total"] == 240.0
    assert books.gpu_buckets["productive"] == 320.0
