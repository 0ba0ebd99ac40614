"""Serving metrics from request and iteration records: latency percentiles, throughput, SLOs.

Definitions (seconds; a request counts once it has finished):

* ``queue`` = start - arrival (until first scheduled); ``ttft`` = first token - arrival;
  ``e2e`` = finish - arrival; ``tpot`` = (finish - first token) / (output tokens - 1), over
  requests with more than one output token (time per output token after the first, as vLLM's
  benchmark and DistServe define it).
* Latency statistics are over the requests that arrived in the window and finished.
* ``throughput_rps`` = requests that *finished* in the window (whenever they arrived) /
  window, so a saturated server shows its capacity; ``output_tokens_per_s`` likewise.
* SLO attainment (DistServe, OSDI'24): the fraction of the requests that *arrived* in the
  window which finished with ``ttft <= slo.ttft`` and ``tpot <= slo.tpot`` (an unfinished or
  rejected request misses); ``goodput_rps`` = requests finishing in the window that met the
  SLO / window.
* ``requests``: ``arrived`` in the window; of those, ``completed`` (finished by its end),
  ``dropped`` (given up after the retry budget, or ``rejected``: can never fit the KV cache)
  and ``in_flight`` (the rest: queued or running at the end), so arrived = completed + dropped
  + in_flight; ``retried`` counts re-sends after replica failures.
* Batch sizes are weighted by the model iterations each logged unit stands for; KV utilisation
  is the fraction of KV blocks held at the start of each unit (mean weighted the same way).

The window is ``[warmup_s, horizon_s)``: requests arriving before ``warmup_s`` are dropped
(warm-up trim); ``horizon_s`` defaults to the last finish.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping

import numpy as np

from fleetsim.metrics.slo import meets_slo
from fleetsim.serving.records import IterationLog, Request

PERCENTILES = {"p50": 50, "p90": 90, "p99": 99}


def _stats(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return {"mean": math.nan, **{key: math.nan for key in PERCENTILES}}
    result = {"mean": float(values.mean())}
    for key, q in PERCENTILES.items():
        result[key] = float(np.percentile(values, q))
    return result


def request_table(requests: Iterable[Request], dropped: np.ndarray | None = None,
                  retries: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Columns of the request records (drops straight into ``pandas.DataFrame``); ``dropped``
    and ``retries`` are per-request arrays kept by a serving job (default: none)."""
    rows = list(requests)
    columns = {
        "id": np.array([r.id for r in rows], dtype=np.int64),
        "arrival_s": np.array([r.arrival_s for r in rows], float),
        "start_s": np.array([r.start_s for r in rows], float),
        "first_token_s": np.array([r.first_token_s for r in rows], float),
        "finish_s": np.array([r.finish_s for r in rows], float),
        "prompt_tokens": np.array([r.prompt_tokens for r in rows], dtype=np.int64),
        "output_tokens": np.array([r.output_tokens for r in rows], dtype=np.int64),
        "preemptions": np.array([r.preemptions for r in rows], dtype=np.int64),
        "rejected": np.array([r.rejected for r in rows], dtype=bool),
        "dropped": (np.zeros(len(rows), dtype=bool) if dropped is None
                    else np.asarray(dropped, dtype=bool)),
        "retries": (np.zeros(len(rows), dtype=np.int64) if retries is None
                    else np.asarray(retries, dtype=np.int64)),
        "replica": np.array([r.replica for r in rows], dtype=object),
    }
    return columns


def summarize(requests: Iterable[Request], iterations: IterationLog | Iterable[IterationLog] = (),
              *, warmup_s: float = 0.0, horizon_s: float | None = None,
              slo: Mapping[str, float] | None = None, dropped: np.ndarray | None = None,
              retries: np.ndarray | None = None) -> dict:
    """The serving summary of a run (see the module docstring for every definition)."""
    return summarize_table(request_table(requests, dropped, retries), iterations,
                           warmup_s=warmup_s, horizon_s=horizon_s, slo=slo)


def summarize_table(table: Mapping[str, np.ndarray],
                    iterations: IterationLog | Iterable[IterationLog] = (), *,
                    warmup_s: float = 0.0, horizon_s: float | None = None,
                    slo: Mapping[str, float] | None = None) -> dict:
    """:func:`summarize` of columns as :func:`request_table` gives them."""
    done = table["finish_s"] >= warmup_s  # NaN (unfinished) compares False
    if horizon_s is not None:
        done &= table["finish_s"] <= horizon_s
    keep = table["arrival_s"] >= warmup_s
    if horizon_s is not None:
        keep &= table["arrival_s"] < horizon_s
    throughput_table = {key: column[done] for key, column in table.items()}
    table = {key: column[keep] for key, column in table.items()}
    finished = ~np.isnan(table["finish_s"])
    if horizon_s is not None:
        finished &= table["finish_s"] <= horizon_s
    end = horizon_s
    if end is None:
        end = float(table["finish_s"][finished].max()) if finished.any() else warmup_s
    window = max(end - warmup_s, 1e-300)

    f = {key: column[finished] for key, column in table.items()}
    queue = f["start_s"] - f["arrival_s"]
    ttft = f["first_token_s"] - f["arrival_s"]
    e2e = f["finish_s"] - f["arrival_s"]
    multi = f["output_tokens"] > 1
    tpot_all = np.full(f["output_tokens"].size, 0.0)
    tpot_all[multi] = ((f["finish_s"][multi] - f["first_token_s"][multi])
                       / (f["output_tokens"][multi] - 1))
    lost = table["dropped"] | table["rejected"]
    summary: dict = {
        "requests": {"arrived": int(keep.sum()), "completed": int(finished.sum()),
                     "dropped": int(lost.sum()),
                     "in_flight": int(keep.sum() - finished.sum() - lost.sum()),
                     "retried": int(table["retries"].sum()),
                     "rejected": int(table["rejected"].sum())},
        "window_s": window,
        "latency_s": {"queue": _stats(queue), "ttft": _stats(ttft), "tpot": _stats(tpot_all[multi]),
                      "e2e": _stats(e2e)},
        "throughput_rps": float(done.sum() / window),
        "output_tokens_per_s": float(throughput_table["output_tokens"].sum() / window),
        "preemptions": int(table["preemptions"].sum()),
        "preempted_requests": int((table["preemptions"] > 0).sum()),
    }
    summary["slo_attainment"] = summary["goodput_rps"] = None  # no SLO given
    if slo:
        ok = meets_slo(f, slo)
        arrived = summary["requests"]["arrived"]
        summary["slo_attainment"] = int(ok.sum()) / arrived if arrived else math.nan
        summary["goodput_rps"] = int(meets_slo(throughput_table, slo).sum()) / window
    logs = [iterations] if isinstance(iterations, IterationLog) else list(iterations)
    summary.update(_iteration_stats(logs, warmup_s, horizon_s))
    return summary


def _iteration_stats(logs: list[IterationLog], warmup_s: float,
                     horizon_s: float | None) -> dict:
    arrays = [log.as_arrays() for log in logs if log.start_s]
    if not arrays:
        return {"batch_size": {}, "kv_utilization": {"mean": math.nan, "max": math.nan}}
    data = {key: np.concatenate([a[key] for a in arrays]) for key in arrays[0]}
    keep = data["start_s"] >= warmup_s
    if horizon_s is not None:
        keep &= data["start_s"] < horizon_s
    weights = data["iterations"][keep].astype(float)
    sizes = data["batch_size"][keep]
    kv = data["kv_utilisation"][keep]
    if weights.sum() == 0:
        return {"batch_size": {}, "kv_utilization": {"mean": math.nan, "max": math.nan}}
    values, inverse = np.unique(sizes, return_inverse=True)
    counts = np.bincount(inverse, weights=weights)
    return {
        "iterations": int(weights.sum()),
        "batch_size": {
            "mean": float(np.average(sizes, weights=weights)),
            "max": int(sizes.max()),
            "distribution": {int(v): float(c / weights.sum()) for v, c in zip(values, counts)},
        },
        "kv_utilization": {"mean": float(np.average(kv, weights=weights)),
                           "max": float(kv.max())},
    }
