"""Readable names for a sweep's parameters and result columns: axis labels with units and
short plot file names.

``jobs.pretrain.checkpoint.interval`` reads "checkpoint interval" (the ``jobs.NAME`` part is
dropped, and so is ``faults.causes``), ``jobs.pretrain.jct_s`` reads "JCT" in the unit its
values read best in ("JCT (h)"), ``jobs.pretrain.goodput`` reads "goodput". The dotted keys
stay in the plot's title, so nothing is lost.
"""

from __future__ import annotations

import re
from typing import Sequence

from fleetsim.sweep.quantities import display_unit

#: words shown in capitals
ACRONYMS = {"jct": "JCT", "ttft": "TTFT", "tpot": "TPOT", "mtbf": "MTBF", "mfu": "MFU",
            "slo": "SLO", "gpu": "GPU", "gpus": "GPUs", "cv": "CV", "e2e": "e2e", "tp": "TP",
            "pp": "PP", "dp": "DP", "sdc": "SDC", "hbm": "HBM", "rps": "requests/s"}
#: a result column's unit suffix -> the kind of quantity it holds (SI)
_SUFFIXES = (("_bytes_per_s", "bandwidth"), ("_bytes", "size"), ("_s", "duration"),
             ("_w", "power"), ("_j", "energy"))


#: words that only group columns (``buckets_s.lost_work`` reads "lost work")
FILLERS = {"buckets"}


def _words(parts: Sequence[str]) -> str:
    words = " ".join(parts).replace("_", " ").split()
    return " ".join(ACRONYMS.get(word, word) for word in words if word not in FILLERS)


def _strip_prefix(key: str) -> list[str]:
    """``jobs.pretrain.goodput`` -> ``["goodput"]``; ``faults.causes.gpu.mtbf`` ->
    ``["gpu", "mtbf"]``: the parts that say what the value is."""
    parts = key.split(".")
    if len(parts) > 2 and parts[0] == "jobs":
        return parts[2:]
    if len(parts) > 3 and parts[0] == "faults" and parts[1] == "causes":
        return parts[2:]
    if len(parts) > 3 and parts[0] == "workload" and parts[1] == "classes":
        return parts[2:]
    return parts


def _with_unit(text: str, unit: str) -> str:
    return f"{text} ({unit})" if unit else text


def parameter_label(key: str, kind: str, values: Sequence[float]) -> tuple[str, float]:
    """The axis label of parameter ``key`` and the SI value per unit its ticks are in:
    ``("checkpoint interval (h)", 3600.0)`` for durations up to a few hours."""
    scale, unit = display_unit(kind, values) if kind not in ("category", "number") \
        else (1.0, "")
    return _with_unit(_words(_strip_prefix(key)), unit), scale


def metric_label(column: str, values: Sequence[float]) -> tuple[str, float]:
    """The axis label of result ``column`` and the SI value per unit it is shown in: a
    column whose name ends in ``_s`` (or lies under a ``*_s`` mapping, like
    ``buckets_s.lost_work``) holds seconds, shown in the unit of its largest value."""
    parts = _strip_prefix(column)
    kind = None
    for index, part in enumerate(parts):
        for suffix, name in _SUFFIXES:
            if part.endswith(suffix) and len(part) > len(suffix):
                parts = [*parts[:index], part[:-len(suffix)], *parts[index + 1:]]
                kind = name
                break
        if kind:
            break
    if kind is None or kind == "energy":
        return _with_unit(_words(parts), "J" if kind == "energy" else ""), 1.0
    scale, unit = display_unit(kind, values)
    return _with_unit(_words(parts), unit), scale


def slug(key: str) -> str:
    """A file-name part for ``key``: its readable words, lower case, joined by hyphens."""
    words = metric_label(key, [])[0].split(" (")[0]  # unit suffixes dropped (``_s``)
    text = re.sub(r"[^0-9a-z]+", "-", words.lower())
    return text.strip("-") or "value"


def default_name(x: str, y: str, hue: str | None = None, baseline: bool = False,
                 job: str | None = None) -> str:
    """``goodput_vs_checkpoint-interval_by_gpu-mtbf.png``: short and readable; ``job`` (the
    job's name when the sweep has several) prefixes the result's part; ``_diff`` marks
    differences against a baseline."""
    name = (f"{job}-" if job else "") + f"{slug(y)}_vs_{slug(x)}"
    if hue:
        name += f"_by_{slug(hue)}"
    return name + ("_diff" if baseline else "") + ".png"


__all__ = ["default_name", "metric_label", "parameter_label", "slug"]
