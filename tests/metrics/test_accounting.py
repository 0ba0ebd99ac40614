"""JobAccounting: phases credit their time; pending work becomes productive or lost."""

from __future__ import annotations

from fleetsim.metrics import JobAccounting


def test_phases_pending_commit_and_loss():
    books = JobAccounting(0.0)
    books.enter("running", 10.0)          # waited 10 s for nodes
    books.enter("checkpoint_stall", 70.0)  # 60 s of compute, pending
    books.commit(75.0)                    # save done at 75 s -> productive
    books.enter("running", 75.0)
    books.enter("detection", 100.0)       # failure: 25 s pending
    assert books.lose() == 25.0
    books.enter("restart", 110.0)
    books.close(130.0)
    assert books.buckets == {"productive": 60.0, "checkpoint_stall": 5.0, "lost_work": 25.0,
                             "detection": 10.0, "restart": 20.0,
                             "waiting_for_resources": 10.0, "straggler_delay": 0.0}
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
    books.enter("checkpoint_stall", 100.0, delay_s=12.0)  # 88 s straggler-free + 12 s delay
    books.commit(101.0)
    books.enter("running", 101.0)
    books.enter("detection", 150.0, delay_s=5.0)  # lost, delay included
    books.lose()
    books.close(160.0)
    assert books.buckets["productive"] == 88.0
    assert books.buckets["straggler_delay"] == 12.0
    assert books.buckets["lost_work"] == 49.0
    assert sum(books.buckets.values()) == books.wall_s == 160.0
