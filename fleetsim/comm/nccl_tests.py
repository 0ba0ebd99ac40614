"""nccl-tests' bandwidth figures: algorithm bandwidth and bus bandwidth of a timed collective.

Definitions from NVIDIA/nccl-tests ``doc/PERFORMANCE.md`` [V] (S = size as nccl-tests counts
it, t = time, n = ranks):

* ``algbw = S / t``
* ``busbw = algbw x factor``, with factor ``2(n-1)/n`` for all-reduce; ``(n-1)/n`` for
  all-gather, reduce-scatter and all-to-all; ``1`` for broadcast, reduce and send-recv.

busbw is what makes runs with different rank counts comparable to the hardware's link
bandwidth: a bandwidth-optimal algorithm's busbw tends to the bottleneck link's achieved rate.
"""

from __future__ import annotations

from fleetsim.comm.schedule import CommError


def bus_factor(op: str, ranks: int) -> float:
    """nccl-tests' busbw / algbw ratio for ``op`` on ``ranks`` ranks."""
    if ranks < 1:
        raise CommError(f"ranks must be >= 1, got {ranks}")
    if op == "all-reduce":
        return 2 * (ranks - 1) / ranks
    if op in ("all-gather", "reduce-scatter", "all-to-all"):
        return (ranks - 1) / ranks
    if op in ("broadcast", "reduce", "send-recv"):
        return 1.0
    raise CommError(f"no busbw factor for collective {op!r}")


def algbw(size_bytes: float, time_s: float) -> float:
    """Algorithm bandwidth, bytes/s: ``size_bytes / time_s``."""
    if time_s <= 0:
        raise CommError(f"time must be > 0 to compute a bandwidth, got {time_s!r}")
    return size_bytes / time_s


def busbw(op: str, size_bytes: float, time_s: float, ranks: int) -> float:
    """Bus bandwidth, bytes/s: ``algbw x bus_factor(op, ranks)``."""
    return algbw(size_bytes, time_s) * bus_factor(op, ranks)
