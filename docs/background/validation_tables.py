"""Recompute the validation tables of docs/background/ and write them into the pages.

Every table of simulated against analytic or published numbers in the background pages is
produced here, by the same computations as the validation tests (named in each table's
caption), and pasted between marker comments::

    <!-- validation:NAME:start -->
    ...
    <!-- validation:NAME:end -->

A page may hold any of the blocks; docs/background/validation.md holds them all.

    python docs/background/validation_tables.py            # recompute, rewrite the blocks
    python docs/background/validation_tables.py --check    # exit 1 if a committed block differs
    python docs/background/validation_tables.py --only daly llama3   # some blocks only
    FLEETSIM_FAST=1 python docs/background/validation_tables.py --docs /tmp/docs
                                                    # fewer seeds: a smoke test, not for committing

The full run takes under a minute on two cores; every number in it comes from fixed
seeds, so a second run writes the same bytes (``--check`` relies on it).
"""

from __future__ import annotations

import argparse
import difflib
import math
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats
from scipy.optimize import minimize_scalar

# the tables are this checkout's: import its fleetsim, not whichever one is installed
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import fleetsim  # noqa: E402
from fleetsim.comm import PROTOCOLS, best_collective, busbw, collective_time  # noqa: E402
from fleetsim.comm import published  # noqa: E402
from fleetsim.scenario.fault_presets import LLAMA3_PLANNED, LLAMA3_TABLE5
from fleetsim.faults.stragglers import (
    ExponentialJitter,
    HalfNormalJitter,
    Jitter,
    LognormalJitter,
    WeibullJitter,
    expected_max_factor,
    max_factor,
)
from fleetsim.hardware import Catalogue
from fleetsim.hardware.models import NodeType
from fleetsim.topology import (
    build_cluster,
    build_node_graph,
    gpus,
    single_switch_graph,
)
from fleetsim.topology.graph import SCALE_UP_EFFICIENCY
from fleetsim.training.checkpoint import (
    daly_expected_wall_s,
    daly_interval,
    expected_wall_s,
    young_interval,
)

ROOT = Path(__file__).resolve().parents[2]
FAST = bool(os.environ.get("FLEETSIM_FAST"))
HOUR, DAY = 3600.0, 86400.0
GiB = 2.0**30
MARKER = re.compile(r"(<!-- validation:(?P<name>[\w-]+):start -->\n)(?P<body>.*?)"
                    r"(<!-- validation:(?P=name):end -->)", re.DOTALL)


@dataclass
class Table:
    """A caption (Markdown paragraphs) and the rows of one table (header first)."""

    caption: str
    header: list[str]
    rows: list[list[str]]
    align: str = ""  # one of l/r per column; default: first left, the rest right

    def markdown(self) -> str:
        align = self.align or "l" + "r" * (len(self.header) - 1)
        rule = ["---:" if a == "r" else "---" for a in align]
        lines = [self.caption.strip(), ""] if self.caption.strip() else []
        for row in [self.header, rule, *self.rows]:
            lines.append("| " + " | ".join(row) + " |")
        return "\n".join(lines) + "\n"


def block_text(tables: list[Table]) -> str:
    note = ("<!-- produced by docs/background/validation_tables.py: edit the script, "
            "not this block -->\n")
    fast = ("**FLEETSIM_FAST smoke-test numbers (fewer seeds): not for committing.**\n\n"
            if FAST else "")
    return note + fast + "\n".join(table.markdown() for table in tables)


def percent(value: float, digits: int = 2) -> str:
    return f"{100 * value:.{digits}f}%"


def signed_percent(value: float, digits: int = 2) -> str:
    return f"{100 * value:+.{digits}f}%"


def relative_error(value: float) -> str:
    return "0" if value == 0 else f"{value:.0e}"


def hours(seconds: float) -> str:
    return f"{seconds / HOUR:,.4g} h"


def yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


# -- training: Daly and Young (tests/validation/test_daly_goodput.py) --------------------------

DALY_MTBF_S, DALY_SAVE_S, DALY_RESTART_S = 10 * HOUR, 300.0, 600.0


def _daly_scenario(interval_s: int, seed: int, segments: int) -> dict:
    return {
        "name": "daly", "seed": seed,
        "cluster": {"node": "dgx-h100", "nodes": 2, "spares": 1},
        "faults": {"causes": [{"name": "node", "scope": "node", "mtbf": f"{DALY_MTBF_S}s"}],
                   "detection": 0, "repair": 0},
        "jobs": [{"name": "job", "type": "training", "gpus": 8, "step_time": "1s",
                  "steps": interval_s * segments, "restart": f"{DALY_RESTART_S}s",
                  "checkpoint": {"policy": "fixed", "interval": f"{interval_s}s",
                                 "save": f"{DALY_SAVE_S}s", "load": 0}}],
    }


def daly_tables() -> list[Table]:
    segments, seeds = (200, range(2)) if FAST else (2000, range(10))
    tau_daly = round(daly_interval(DALY_SAVE_S, DALY_MTBF_S))
    tau_young = round(young_interval(DALY_SAVE_S, DALY_MTBF_S))
    optimum = minimize_scalar(
        lambda tau: daly_expected_wall_s(1.0, tau, DALY_SAVE_S, DALY_RESTART_S, DALY_MTBF_S),
        bounds=(1.0, 10 * DALY_MTBF_S), method="bounded", options={"xatol": 1e-3}).x
    points = [(f"{factor:g} τ_Daly" if factor != 1 else "τ_Daly", round(tau_daly * factor))
              for factor in (0.25, 0.5, 1, 2, 4)]
    points.append(("τ_Young", tau_young))
    rows, goodputs = [], {}
    for label, tau in points:
        jobs = [fleetsim.run(_daly_scenario(tau, seed, segments)).summary["jobs"]["job"]
                for seed in seeds]
        walls = np.array([job["wall_time_s"] for job in jobs])
        expected = expected_wall_s(segments, tau, DALY_SAVE_S, DALY_RESTART_S, DALY_MTBF_S)
        error = walls.mean() / expected - 1
        standard_error = walls.std(ddof=1) / math.sqrt(len(walls)) / expected
        goodput = float(np.mean([job["goodput"] for job in jobs]))
        goodputs[label] = goodput
        rows.append([label, f"{tau}", f"{goodput:.4f}", f"{tau * segments / expected:.4f}",
                     signed_percent(error), percent(standard_error), "±1%",
                     yes(abs(error) <= 0.01)])
    grid = [label for label, _ in points[:5]]
    best = max(grid, key=goodputs.__getitem__)
    caption = (
        f"Daly's expected wall time against the simulated mean, M = 10 h, δ = 300 s, "
        f"R = 600 s, {len(seeds)} seeds × {segments:,} segments per interval, the same seeds "
        f"at every interval (`tests/validation/test_daly_goodput.py`, "
        f"`examples/validate_daly.py`). Daly goodput = τ·K / E[T_w], with fleetsim's exact "
        f"E[T_w] (no save after the last segment). Tolerance: the test's 1% of the mean wall "
        f"time (about 4.5 standard errors at its 5 seeds).\n\n"
        f"τ_Daly = {tau_daly} s, τ_Young = {tau_young} s; the numeric minimum of Daly's T_w(τ) "
        f"is at {optimum:.0f} s. The best simulated interval of the five is {best} "
        f"(goodput {goodputs[best]:.4f}; test: it is τ_Daly).")
    header = ["interval", "τ (s)", "simulated goodput", "Daly goodput", "wall time error",
              "standard error", "tolerance", "within"]
    return [Table(caption, header, rows)]


# -- failures: the llama3 preset against Table 5 (tests/validation/test_llama3_preset.py) ----

EXPLICIT_STEP = {
    "jobs.pretrain.model": None, "jobs.pretrain.global_batch": None,
    "jobs.pretrain.parallelism": None, "jobs.pretrain.micro_batch": None,
    "jobs.pretrain.precision": None, "jobs.pretrain.step_time": "8s",
    "jobs.pretrain.checkpoint.storage_bandwidth": None, "jobs.pretrain.checkpoint.save": "3s",
}


def llama3_tables() -> list[Table]:
    seeds = range(3) if FAST else range(20)
    path = ROOT / "scenarios" / "llama3-405b-16k.yaml"
    jobs = [fleetsim.run(path, seed=seed, overrides=EXPLICIT_STEP).summary["jobs"]["pretrain"]
            for seed in seeds]
    unexpected_table5 = sum(count for *_, count, _ in LLAMA3_TABLE5)
    exposed = [job["wall_time_s"] - job["buckets_s"]["detection"]
               - job["buckets_s"]["waiting_for_resources"] for job in jobs]
    exposure_54d = sum(exposed) / (54 * DAY)  # total exposed time, in units of 54 days
    rows = []
    for label, key, published in (("unexpected", "interruptions_unexpected", unexpected_table5),
                                  ("planned", "interruptions_planned", LLAMA3_PLANNED)):
        counts = np.array([job[key] for job in jobs])
        expected = published * exposure_54d
        z = (counts.sum() - expected) / math.sqrt(expected)
        rows.append([f"{label} interruptions, per run", f"{published}",
                     f"{expected / len(jobs):.1f}",
                     f"{counts.mean():.1f} ± {counts.std(ddof=1):.1f}",
                     f"z = {z:+.2f}", "\\|z\\| < 4", yes(abs(z) < 4)])
    observed = {name: sum(job["interruptions_by_cause"].get(name, 0) for job in jobs)
                for name, *_ in LLAMA3_TABLE5}
    total = sum(observed.values())
    expected = {name: total * count / unexpected_table5 for name, _, count, _ in LLAMA3_TABLE5}
    big = [name for name in observed if expected[name] >= 5]
    small = [name for name in observed if expected[name] < 5]
    obs = [observed[name] for name in big] + ([sum(observed[n] for n in small)] if small else [])
    exp = [expected[name] for name in big] + ([sum(expected[n] for n in small)] if small else [])
    p_value = float(stats.chisquare(obs, exp).pvalue)
    rows.append(["cause mix (18 causes)", "Table 5 counts", "—", "by cause: below",
                 f"χ² p = {p_value:.3f}", "p > 0.001", yes(p_value > 0.001)])
    counts = np.array([job["interruptions_unexpected"] for job in jobs])
    within_sd = abs(counts.mean() - unexpected_table5) < 3 * counts.std(ddof=1)
    caption = (
        f"`scenarios/llama3-405b-16k.yaml` (`faults.preset: llama3`) with an explicit 8 s step, "
        f"{len(jobs)} seeds of 54 days, against Llama 3's Table 5 (arXiv 2407.21783 §3.3.4: 419 "
        f"unexpected and 47 planned interruptions of the 16,384-GPU job in 54 days; "
        f"`tests/validation/test_llama3_preset.py`). A failure while the job is already stopped "
        f"(detecting, waiting for nodes) joins the interruption in progress, so the expected "
        f"count is the table's rate × the time the job could be hit (wall − detection − "
        f"waiting), {sum(exposed) / len(jobs) / DAY:.2f} days per run here. z: (simulated − "
        f"expected total) / √expected (Poisson). Table 5's 419 is "
        f"{'within' if within_sd else 'outside'} 3 run-to-run standard deviations of the "
        f"simulated mean.")
    totals = Table(caption, ["check", "Table 5", "expected", "simulated (mean ± sd)",
                             "statistic", "tolerance", "within"], rows)
    cause_rows = []
    for name, scope, count, _ in LLAMA3_TABLE5:
        per_54d = observed[name] / exposure_54d
        cause_rows.append([name.replace("_", " "), scope, f"{count}", f"{per_54d:.1f}"])
    causes = Table(
        f"Unexpected interruptions by cause per 54 days of exposed time (all {len(jobs)} seeds "
        f"pooled) against Table 5; scopes are the preset's assumption "
        f"(`fleetsim/scenario/fault_presets.py`).",
        ["cause", "scope", "Table 5", "simulated per 54 d"], cause_rows, "llrr")
    return [totals, causes]


# -- failures: job MTBF falls as 1/N (tests/validation/test_failure_counts.py) ----------------

NODE_FAILURES_PER_1000_NODE_DAYS = 6.5  # Meta RSC-1, Kokolis et al. 2024


def _mtbf_scenario(nodes: int, seed: int, mtbf_s: float) -> dict:
    interval_s = mtbf_s / 10
    return {
        "name": "job-mtbf", "seed": seed, "horizon": f"{100 * mtbf_s}s",
        "cluster": {"node": "dgx-h100", "nodes": nodes + 1, "spares": 1},
        "faults": {"causes": [{"name": "node", "scope": "node",
                               "per_1000_node_days": NODE_FAILURES_PER_1000_NODE_DAYS}],
                   "detection": 0, "repair": 0},
        "jobs": [{"name": "job", "type": "training", "gpus": 8 * nodes,
                  "step_time": f"{interval_s / 10}s", "steps": 10**9, "restart": 0,
                  "checkpoint": {"policy": "fixed", "interval": f"{interval_s}s", "save": 0}}],
    }


def job_mtbf_tables() -> list[Table]:
    seeds = range(3) if FAST else range(20)
    rows, sizes, simulated_mtbf = [], [], []
    for nodes in (1, 8, 64, 512, 2048):
        mtbf_s = 1000 * DAY / (NODE_FAILURES_PER_1000_NODE_DAYS * nodes)
        jobs = [fleetsim.run(_mtbf_scenario(nodes, seed, mtbf_s)).summary["jobs"]["job"]
                for seed in seeds]
        assert all(math.isclose(job["job_mtbf_s"], mtbf_s, rel_tol=1e-9) for job in jobs)
        interruptions = sum(job["interruptions"] for job in jobs)
        exposed = sum(job["wall_time_s"] - job["buckets_s"]["detection"]
                      - job["buckets_s"]["waiting_for_resources"] for job in jobs)
        simulated = exposed / interruptions
        standard_error = 1 / math.sqrt(interruptions)  # relative, Poisson count
        error = simulated / mtbf_s - 1
        sizes.append(nodes)
        simulated_mtbf.append(simulated)
        rows.append([f"{8 * nodes:,} GPUs", f"{nodes:,}", hours(mtbf_s), hours(simulated),
                     signed_percent(error, 1),
                     percent(standard_error, 1), "4 SE", yes(abs(error) < 4 * standard_error)])
    slope, _ = np.polyfit(np.log(sizes), np.log(simulated_mtbf), 1)
    caption = (
        f"A job on N DGX H100 nodes whose nodes fail at Meta RSC-1's rate, "
        f"{NODE_FAILURES_PER_1000_NODE_DAYS} failures per 1,000 node-days (Kokolis et al. "
        f"2024, arXiv 2410.21680, who also measure job MTTF ∝ 1/N). Superposition of N "
        f"independent Poisson processes: job MTBF = 1,000 days / (6.5 N). Simulated: exposed "
        f"time / interruptions over {len(seeds)} seeds of 100 expected MTBFs each (detection "
        f"and repair 0, a hot spare), as `tests/validation/test_failure_counts.py` checks "
        f"counts. Standard error 1/√count (Poisson). Fitted log-log slope of the simulated MTBF "
        f"against N: {slope:.3f} (1/N: −1).")
    header = ["job", "nodes", "expected job MTBF", "simulated", "error", "standard error",
              "tolerance", "within"]
    return [Table(caption, header, rows)]


# -- stragglers: order statistics (tests/faults/test_stragglers.py, test_straggler_runs.py) ---

JITTERS: list[tuple[str, Jitter, stats.rv_continuous]] = [
    ("exponential, mean 0.01", ExponentialJitter(0.01), stats.expon(loc=1, scale=0.01)),
    ("lognormal, σ 0.8, median 0.01", LognormalJitter(sigma=0.8),
     stats.lognorm(s=0.8, loc=1, scale=0.01)),
    ("half-normal, cv 0.02", HalfNormalJitter(cv=0.02), stats.halfnorm(loc=1, scale=0.02)),
    ("Weibull, shape 0.7, scale 0.01", WeibullJitter(shape=0.7, scale=0.01),
     stats.weibull_min(c=0.7, loc=1, scale=0.01)),
]


def harmonic(n: int) -> float:
    return float(np.sum(1.0 / np.arange(1, n + 1, dtype=float)))


def straggler_tables() -> list[Table]:
    draws, brute_samples = (2_000, 200) if FAST else (20_000, 2_000)
    rows = []
    for label, jitter, reference in JITTERS:
        for ranks in (8, 1024, 10**6):
            if ranks == 10**6 and not isinstance(jitter, ExponentialJitter):
                continue
            expected = expected_max_factor(jitter, ranks) - 1
            if isinstance(jitter, ExponentialJitter):
                expected = 0.01 * harmonic(ranks)  # Renyi: E[max] = mean * H_n, exact
            ours = max_factor(jitter, ranks, draws, np.random.default_rng(3)) - 1
            ours_se = ours.std(ddof=1) / math.sqrt(ours.size)
            ok = abs(ours.mean() - expected) <= 5 * ours_se
            brute_cell = "—"
            if ranks <= 1024:
                brute = reference.rvs(size=(brute_samples, ranks),
                                      random_state=np.random.default_rng(12)).max(axis=1) - 1
                brute_se = brute.std(ddof=1) / math.sqrt(brute.size)
                brute_cell = f"{percent(brute.mean(), 3)} ± {percent(brute_se, 3)}"
                ok = ok and abs(brute.mean() - expected) <= 5 * brute_se
            rows.append([label, f"{ranks:,}", percent(expected, 3),
                         f"{percent(ours.mean(), 3)} ± {percent(ours_se, 3)}", brute_cell,
                         signed_percent(ours.mean() / expected - 1), "5 SE", yes(ok)])
    steps = 2_000 if FAST else 20_000
    job = fleetsim.run({
        "name": "stragglers", "seed": 7,
        "cluster": {"node": "dgx-h100", "nodes": 6, "spares": 2},
        "stragglers": {"jitter": {"distribution": "exponential", "mean": 0.01}},
        "jobs": [{"name": "train", "type": "training", "gpus": 32, "step_time": "10s",
                  "steps": steps, "restart": "5min",
                  "checkpoint": {"policy": "fixed", "interval": "30min", "save": "1min",
                                 "load": "2min"}}],
    }).summary["jobs"]["train"]
    ratio = job["buckets_s"]["straggler_delay"] / job["buckets_s"]["productive"]
    expected = 0.01 * harmonic(32)
    rows.append(["exponential, mean 0.01: a job's `straggler_delay` / `productive`", "32",
                 percent(expected, 3), percent(ratio, 3), "—",
                 signed_percent(ratio / expected - 1), "2%",
                 yes(abs(ratio / expected - 1) <= 0.02)])
    caption = (
        f"The excess of a synchronous step over the straggler-free step, E[max(X_1..X_n)], for "
        f"per-rank jitter X. Expected: Rényi's closed form mean·H_n for the exponential, else "
        f"the integral ∫(1 − G(x)ⁿ)dx (`expected_max_factor`). fleetsim draws the maximum as "
        f"G⁻¹(U^(1/n)), one draw per step (mean of {draws:,} draws ± standard error); the "
        f"brute "
        f"force is scipy.stats' sampler, the max of n explicit draws ({brute_samples:,} "
        f"samples; David & Nagaraja, Order Statistics §2.1). Tolerance: 5 standard errors "
        f"(`tests/faults/test_stragglers.py`). The last row runs a {steps:,}-step job of 32 "
        f"ranks (`tests/faults/test_straggler_runs.py`).")
    header = ["jitter X", "ranks n", "expected", "order statistics (fleetsim)",
              "brute force", "error", "tolerance", "within"]
    return [Table(caption, header, rows, "lrrrrrrr")]


# -- collectives (tests/comm/test_closed_forms.py, test_nccl_figures.py) --------------------

BANDWIDTH, LINK_LATENCY, SIZE = 50e9, 0.7e-6, 256e6


def _test_node(accelerators: int) -> NodeType:
    """tests/comm/conftest.py's make_node: an NVSwitch node, 450 GB/s per GPU, NDR NICs."""
    return NodeType.model_validate({
        "name": "test-node", "accelerator": "test-gpu", "accelerators": accelerators,
        "scale_up": {"topology": "nvswitch", "bandwidth_per_accelerator": "450GB/s",
                     "latency": "1us", "switches": 4},
        "nics": {"count": accelerators, "rate": "400Gbps", "achievable": "47GB/s"},
        "power": {"busy": "10kW", "idle": "2kW"}, "sources": ["validation_tables.py"],
    })


def closed_form_tables() -> list[Table]:
    simple = PROTOCOLS["simple"]
    beta = 1 / BANDWIDTH

    def alpha(family: str = "ring") -> float:
        return simple.step(family, "network") + 2 * LINK_LATENCY

    def base(family: str = "ring") -> float:
        return simple.base(family)

    def simulated(op: str, algorithm: str, p: int) -> float:
        graph = single_switch_graph(p, BANDWIDTH, LINK_LATENCY)
        return collective_time(op, algorithm, SIZE, gpus(graph), graph, "simple")

    def folded(p: int) -> float:
        q = 1 << (p.bit_length() - 1)
        if q == p:
            return base() + 2 * math.log2(p) * alpha() + 2 * (p - 1) / p * SIZE * beta
        return (base() + 2 * math.log2(q) * alpha() + 2 * (q - 1) / q * SIZE * beta
                + 2 * (alpha() + SIZE * beta))

    cases: list[tuple[str, str, str, list[int], Callable[[int], float]]] = [
        ("all-reduce, ring", "all-reduce", "ring", [2, 3, 5, 8, 16, 64],
         lambda p: base() + 2 * (p - 1) * alpha() + 2 * (p - 1) / p * SIZE * beta),
        ("all-reduce, halving-doubling", "all-reduce", "halving-doubling",
         [2, 3, 4, 6, 8, 12, 16, 64], folded),
        ("all-reduce, recursive doubling", "all-reduce", "recursive-doubling", [2, 4, 8, 16, 64],
         lambda p: base() + math.log2(p) * (alpha() + SIZE * beta)),
        ("all-reduce, tree (pipelined double binary)", "all-reduce", "tree", [4, 8, 16, 64],
         lambda p: base("tree") + 2 * math.ceil(math.log2(p)) * alpha("tree") + 2 * SIZE * beta),
        ("all-gather, ring", "all-gather", "ring", [2, 3, 5, 8, 16, 64],
         lambda p: base() + (p - 1) * alpha() + (p - 1) / p * SIZE * beta),
        ("reduce-scatter, ring", "reduce-scatter", "ring", [2, 3, 5, 8, 16, 64],
         lambda p: base() + (p - 1) * alpha() + (p - 1) / p * SIZE * beta),
        ("all-to-all, pairwise", "all-to-all", "pairwise", [2, 3, 5, 8, 16, 100],
         lambda p: base() + (p - 1) * alpha() + (p - 1) / p * SIZE * beta),
        ("broadcast, binomial", "broadcast", "binomial", [2, 3, 5, 8, 16, 64],
         lambda p: base("tree") + math.ceil(math.log2(p)) * (alpha("tree") + SIZE * beta)),
        ("broadcast, ring (pipelined)", "broadcast", "ring", [2, 3, 5, 8, 16, 64],
         lambda p: base() + (p - 1) * alpha() + SIZE * beta),
        ("all-to-all, direct (all sends at once)", "all-to-all", "direct", [2, 3, 5, 8, 16, 100],
         lambda p: base() + alpha() + (p - 1) / p * SIZE * beta),
    ]
    rows = []
    for label, op, algorithm, ps, closed_form in cases:
        error = max(abs(simulated(op, algorithm, p) / closed_form(p) - 1) for p in ps)
        rows.append([label, ", ".join(map(str, ps)), relative_error(error), "1e-9",
                     yes(error <= 1e-9)])
    alpha1 = simple.step("ring", "scale-up") + 1e-6
    beta1 = 1 / (450e9 * SCALE_UP_EFFICIENCY)
    alpha2 = simple.step("ring", "network") + 2 * 0.5e-6
    beta2 = 1 / (50e9 * 47 / 50)
    error, pairs = 0.0, [(4, 4), (3, 2), (2, 8), (8, 8)]
    for m, k in pairs:
        graph = build_cluster(_test_node(k), m, {"type": "single-switch"})
        expected = (base() + 2 * (k - 1) * alpha1 + 2 * (m - 1) * alpha2
                    + max(2 * (k - 1) / k * SIZE * beta1, 2 * (m - 1) / m * (SIZE / k) * beta2))
        seconds = collective_time("all-reduce", "hierarchical", SIZE, gpus(graph), graph)
        error = max(error, abs(seconds / expected - 1))
    rows.append(["all-reduce, hierarchical, pipelined (NVSwitch nodes + NICs)",
                 "(m, k) = " + ", ".join(f"({m}, {k})" for m, k in pairs), relative_error(error),
                 "1e-9", yes(error <= 1e-9)])
    caption = (
        "Collective times on one non-blocking switch with identical links (50 GB/s, 0.7 µs) "
        "against the alpha-beta closed forms above (Thakur, Rabenseifner & Gropp 2005; "
        "Patarasuk & Yuan 2009; γ = 0), 256 MB, Simple protocol; the hierarchical rows use "
        "m nodes of k GPUs (NVSwitch) with one NIC per GPU (`tests/comm/test_closed_forms.py`).")
    return [Table(caption, ["op / algorithm", "p tested", "max relative error", "tolerance",
                            "within"], rows, "llrrr")]


def nccl_tables() -> list[Table]:
    catalogue = Catalogue.load()
    rows, misses = [], []
    for point in published.ALL:
        value, algorithm, protocol = published.simulate(point, catalogue)
        error = published.deviation(point, value)
        if point.time_s is not None:
            simulated, reference = f"{value * 1e6:.1f} µs", f"{point.time_s * 1e6:.1f} µs"
        else:
            simulated, reference = f"{value / 1e9:.1f} GB/s", f"{point.busbw / 1e9:.1f} GB/s"
        choice = f"{algorithm} / {protocol}"
        if abs(error) > point.tolerance:
            misses.append([point.label, simulated, reference, signed_percent(error, 1),
                           f"±{point.tolerance:.0%}", choice, point.source])
            continue
        within = "yes (calibration)" if point.calibration else "yes"
        rows.append([point.label, simulated, reference, signed_percent(error, 1),
                     f"±{point.tolerance:.0%}", within, choice, point.source])
    caption = (
        "Simulated all-reduce against published nccl-tests / rccl-tests runs "
        "(`fleetsim/comm/published.py`, `tests/comm/test_nccl_figures.py`): busbw, or the "
        "time of an 8-byte call for the floors, with fleetsim's `auto` choice (restricted as "
        "the run was: \"ring, tree\" for NVLS-off runs, NVLS-tree when forced) on the "
        "catalogue's node types, every GPU, rail-optimised fat tree. Rows marked calibration "
        "are points a constant was fitted to (the xGMI efficiency, the launch overhead); the "
        "rest check the model.")
    tables = [Table(caption, ["system", "simulated", "published", "deviation", "tolerance",
                              "within", "fleetsim's choice", "source"], rows, "lrrrrrll")]
    if misses:
        tables.append(Table(
            "Known misses: published points the model is outside its tolerance for (the tests "
            "assert that they are misses, so a fix shows up; reasons in collectives.md).",
            ["system", "simulated", "published", "deviation", "tolerance",
             "fleetsim's choice", "source"], misses, "lrrrrll"))
    return tables


def measured_tables() -> list[Table]:
    catalogue = Catalogue.load()
    h100 = catalogue.node("dgx-h100")
    algorithms = ("ring", "tree", "nvls / nvls-tree", "hierarchical", "halving-doubling")

    def row(label: str, graph, size: float) -> list[str]:
        group = gpus(graph)
        cells = []
        nodes = len({graph.nodes[gpu]["node"] for gpu in group})
        for algorithm in algorithms:
            if algorithm.startswith("nvls"):
                algorithm = "nvls" if nodes == 1 else "nvls-tree"
                if not graph.graph.get("in_network_reduction"):
                    cells.append("–")
                    continue
            seconds = collective_time("all-reduce", algorithm, size, group, graph, "simple")
            cells.append(f"{busbw('all-reduce', size, seconds, len(group)) / 1e9:.1f}")
        choice = best_collective("all-reduce", size, group, graph)
        cells.append(f"{busbw('all-reduce', size, choice.time, len(group)) / 1e9:.1f} "
                     f"({choice.algorithm} / {choice.protocol})")
        return [label, *cells]

    rows = [row("8x H100 one node, 16 GiB", build_node_graph(h100), 16 * GiB)]
    for nodes in (2, 16, 64, 2048):
        label = (f"{nodes:,} x DGX H100 ({8 * nodes:,} GPUs), 1 GiB" if nodes == 2048
                 else f"{nodes} x DGX H100, rail fat tree, 1 GiB")
        if FAST and nodes == 2048:  # most of the fast run's time: its label only
            rows.append([label, *["(fast mode)"] * (len(algorithms) + 1)])
            continue
        rows.append(row(label, build_cluster(h100, nodes, {"type": "rail-fat-tree"}), GiB))
    rows.append(row("8x MI300X xGMI one node, 16 GiB (7 rings, every link)",
                    build_node_graph(catalogue.node("mi300x-8")), 16 * GiB))
    rows.append(row("8x A100 one node, 16 GiB", build_node_graph(catalogue.node("dgx-a100")),
                    16 * GiB))
    caption = ("All-reduce busbw (GB/s, all GPUs of the cluster, packed) of each algorithm at "
               "the Simple protocol, and what `auto` picks (NCCL/RCCL tuner profile, "
               "tuner.py); no published figure is checked here, for orientation.")
    return [Table(caption, ["system", *algorithms, "auto (choice)"], rows)]


# -- training step: MFU (tests/training/test_published_mfu.py) ---------------------------


def _mfu_row(outcome) -> list[str]:
    run, plan = outcome.run, outcome.plan
    error = run.error(outcome.mfu)
    shown = f"{100 * error:+.1f} pts" if run.absolute else signed_percent(error, 1)
    tolerance = f"±{100 * run.tolerance:.0f} pts" if run.absolute else f"±{run.tolerance:.0%}"
    parts = [f"TP {plan.tp}"] + ([f"CP {plan.cp}"] if plan.cp > 1 else []) + [
        f"PP {plan.pp}" + (f"×{plan.virtual_stages}" if plan.virtual_stages > 1 else ""),
        f"DP {plan.dp}"]
    name = run.name + (" \\*" if run.note else "")
    return [name, f"{plan.gpus:,}", " ".join(parts), f"{plan.sequences:,}", run.role,
            percent(run.published_mfu, 1), percent(outcome.mfu, 1), shown, tolerance,
            yes(run.within(outcome.mfu))]


def mfu_tables() -> list[Table]:
    from fleetsim.training.reference_runs import (KORTHIKANTI, LLAMA3, MEGASCALE,
                                                  REFERENCE_RUNS, SC21, simulate)

    outcomes = [simulate(run) for run in REFERENCE_RUNS]
    header = ["run", "GPUs", "plan", "batch", "role", "published MFU", "fleetsim", "error",
              "tolerance", "within"]

    def rows(*sources: str) -> list[list[str]]:
        return [_mfu_row(outcome) for outcome in outcomes if outcome.run.source in sources]

    megatron = Table(
        "Megatron-LM on DGX A100: the 2022 runs with selective recomputation and sequence "
        f"parallelism ({KORTHIKANTI}; micro-batch 1) and the SC'21 weak-scaling runs with full "
        f"recomputation ({SC21}; their TFLOP/s per GPU, which count the recomputed forward, "
        "converted to MFU). The A100 kernel constants of `fleetsim/training/kernels.py` are "
        "fitted on these fourteen runs (`tests/training/test_published_mfu.py`).",
        header, rows(KORTHIKANTI, SC21))
    megascale = Table(
        f"A 175B model on 256 to 12,288 A100 with Megatron-LM ({MEGASCALE}: TP 8, PP 8 with 6 "
        "interleaved stages, batch 768 up to 1,024 GPUs and 6,144 from 3,072; no communication "
        "overlap). Predicted: nothing is fitted on these runs. "
        + "".join(f"\\* {run.note}." for run in REFERENCE_RUNS
                  if run.source == MEGASCALE and run.note),
        header, rows(MEGASCALE))
    llama = fleetsim.run(ROOT / "scenarios" / "llama3-405b-16k.yaml",
                         overrides={"horizon": "1h"}).summary["jobs"]["pretrain"]
    llama_table = Table(
        f"Llama 3 405B on H100 ({LLAMA3}), with Meta's configuration (TP 8, PP 16 with one "
        "layer per interleaved chunk, [TP, CP, PP, DP] order, FSDP as ZeRO-2, no activation "
        "checkpointing). MFU counted over causal attention FLOPs, our reading of Meta's count "
        "(fleetsim's summary counts full attention, as Megatron-LM: "
        f"`scenarios/llama3-405b-16k.yaml` gives {llama['step_time_s']:.2f} s per step and "
        f"{percent(llama['mfu'], 1)} MFU by that count). H100's large-GEMM efficiency is fitted "
        "on the 8,192-GPU run; the other two are predicted.", header, rows(LLAMA3))
    return [megatron, megascale, llama_table]


# -- serving (tests/serving/) ------------------------------------------------------------------


def _queue(rate: float, replicas: int, router: str, seed: int, requests: int,
           warmup: str) -> dict:
    """tests/serving/test_serving_job.py's abstract-mode job: exponential 1 s service."""
    return fleetsim.run({
        "name": "queue", "seed": seed,
        "cluster": {"node": "dgx-h100", "nodes": 2, "spares": 1},
        "jobs": [{"name": "q", "type": "serving", "replicas": replicas, "router": router,
                  "service": {"distribution": "exponential", "mean": "1s"},
                  "arrivals": {"process": "poisson", "rate": rate}, "requests": requests,
                  "warmup": warmup}],
    }).summary["jobs"]["q"]


def _erlang_c(servers: int, offered: float) -> float:
    below = sum(offered ** k / math.factorial(k) for k in range(servers))
    top = offered ** servers / math.factorial(servers) * servers / (servers - offered)
    return top / (below + top)


def serving_tables() -> list[Table]:
    from fleetsim.serving.cost import kv_bytes_per_token

    seeds, requests = (range(2), 5_000) if FAST else (range(4), 20_000)
    rows = []
    queues = [
        ("M/M/1: 1 replica, λ = 0.5/s, mean response 1/(μ − λ) (Kleinrock 1975)",
         0.5, 1, "round-robin", "2000s", "e2e", 2.0, 0.06),
        ("M/M/4: shared queue, λ = 3/s, mean wait C(4, 3)/(4μ − λ) (Erlang C)",
         3.0, 4, "shared-queue", "500s", "queue", _erlang_c(4, 3.0) / 1.0, 0.08),
        ("4 × M/M/1: random routing, λ = 3/s split by thinning, mean response 1/(μ − λ/4)",
         3.0, 4, "random", "500s", "e2e", 4.0, 0.08),
    ]
    for label, rate, replicas, router, warmup, metric, expected, tolerance in queues:
        values = [_queue(rate, replicas, router, seed, requests, warmup)["latency_s"][metric]
                  ["mean"] for seed in seeds]
        mean = float(np.mean(values))
        rows.append([label, f"{expected:.4g} s", f"{mean:.4g} s",
                     signed_percent(mean / expected - 1), f"±{tolerance:.0%}",
                     yes(abs(mean / expected - 1) <= tolerance)])
    caption_queues = (
        f"Abstract mode (`service:`): replicas are servers with exponential service of mean "
        f"1 s. Mean over {len(seeds)} seeds × {requests:,} requests, warm-up trimmed "
        f"(`tests/serving/test_serving_job.py`).")
    header = ["system", "theory", "simulated", "error", "tolerance", "within"]
    tables = [Table(caption_queues, header, rows, "lrrrrr")]

    opt13b = kv_bytes_per_token(_opt13b(), 2)
    llama3 = kv_bytes_per_token("llama3-8b", 2)
    kv_rows = [["OPT-13B, fp16", "800 KiB (vLLM paper §3: 2·40·5120·2 B)",
                f"{opt13b / 1024:,.1f} KiB", yes(opt13b == 800 * 1024)],
               ["Llama 3 8B, bf16", "128 KiB (2·32·8·128·2 B)",
                f"{llama3 / 1024:,.1f} KiB", yes(llama3 == 128 * 1024)]]
    tables.append(Table("KV-cache bytes per token, 2 · layers · kv_heads · head_dim · bytes "
                        "(`tests/serving/test_serving_cost.py`).",
                        ["model", "published / formula", "fleetsim", "equal"], kv_rows,
                        "lrrr"))

    throughput = {}
    for policy in ("none", "static", "dynamic", "continuous", "chunked-prefill"):
        throughput[policy] = fleetsim.run(ROOT / "scenarios" / "serving-batching.yaml", overrides={
            "jobs.llm.batching.policy": policy, "jobs.llm.arrivals.rate": "150/s",
            "horizon": "2min", "jobs.llm.warmup": "30s"}).summary["jobs"]["llm"][
                "throughput_rps"]
    batch_rows = []
    for policy, value in throughput.items():
        ratio = value / throughput["static"]
        batch_rows.append([f"`{policy}`", f"{value:.2f}", f"{ratio:.1f}x",
                           "3.5x–36.9x" if policy == "continuous" else "—",
                           yes(3.5 <= ratio <= 36.9) if policy == "continuous" else "—"])
    tables.append(Table(
        "Throughput at saturation (requests/s): Llama 3 8B on one H100, 150 req/s offered for "
        "2 min (`scenarios/serving-batching.yaml`; `static` and `dynamic` batch 8). Published "
        "ratios of iteration-level over request-level batching: 3.5x (vLLM vs TGI) to 24x "
        "(vLLM vs HF Transformers), 36.9x (Orca vs FasterTransformer) "
        "(`tests/serving/test_serving_scenarios.py`).",
        ["policy", "throughput", "vs static", "published", "within"], batch_rows, "lrrrr"))
    tables.append(trtllm_table())
    return tables


def trtllm_table() -> Table:
    """tests/serving/test_serving_validation.py's replays of TensorRT-LLM v0.5.0's tables."""
    sys.path.insert(0, str(ROOT / "tests" / "serving"))
    try:
        from test_serving_validation import FIRST_TOKEN, THROUGHPUT, trtllm_replay
    finally:
        sys.path.pop(0)
    chips = {"dgx-a100": "A100 FP16", "dgx-h100": "H100 FP8"}
    rows = []
    for (node, precision, (prompt, output)), (published, role) in THROUGHPUT.items():
        value = trtllm_replay(node, precision, prompt, output)["output_tokens_per_s"]
        error = value / published - 1
        rows.append([f"{chips[node]}, {prompt}/{output}, batch 64: output tokens/s",
                     f"{published:,}", f"{value:,.0f}", signed_percent(error, 1), "±10%",
                     role, yes(abs(error) <= 0.10)])
    for (node, precision, prompt), (published, role) in FIRST_TOKEN.items():
        value = trtllm_replay(node, precision, prompt, 1, batch=1)["latency_s"]["ttft"]["p50"]
        error = value / published - 1
        if (node, prompt) == ("dgx-h100", 128):  # the test's recorded miss: -40% to 0
            tolerance, ok = "known miss: −40% to 0", -0.40 < error < 0
        else:
            tolerance, ok = "±15%", abs(error) <= 0.15
        rows.append([f"{chips[node]}, {prompt} tokens, batch 1: first-token latency",
                     f"{published * 1e3:.0f} ms", f"{value * 1e3:.1f} ms",
                     signed_percent(error, 1), tolerance, role, yes(ok)])
    return Table(
        "Llama-2-70B on 4 GPUs (TP4) against TensorRT-LLM v0.5.0's published tables "
        "(NVIDIA/TensorRT-LLM docs/source/performance.md, release 0.5.0): one static batch "
        "replayed as a closed loop, no horizon. The kernel efficiencies were fitted on the "
        "rows marked *calibrated*; the *held out* rows were not used. H100's first token "
        "at 128 tokens is a known miss (fleetsim 16 ms against 26 ms: the published figure "
        "holds fixed costs of that benchmark's call that no iteration term covers); the "
        "test records it "
        "(`tests/serving/test_serving_validation.py`).",
        ["setup", "published", "fleetsim", "error", "tolerance", "points", "within"], rows,
        "lrrrrlr")


def _opt13b():
    from fleetsim.scenario.architecture import Architecture

    return Architecture(layers=40, hidden=5120, heads=40, vocab=50272, seq_len=2048,
                        gated_mlp=False)


# -- the blocks and the pages ----------------------------------------------------------------

BLOCKS: dict[str, Callable[[], list[Table]]] = {
    "daly": daly_tables,
    "llama3": llama3_tables,
    "job-mtbf": job_mtbf_tables,
    "stragglers": straggler_tables,
    "megatron-mfu": mfu_tables,
    "collectives-closed-forms": closed_form_tables,
    "collectives-nccl": nccl_tables,
    "collectives-measured": measured_tables,
    "serving": serving_tables,
}


def compute(names: list[str]) -> dict[str, str]:
    texts = {}
    for name in names:
        start = time.perf_counter()
        texts[name] = block_text(BLOCKS[name]())
        print(f"{name}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return texts


def rewrite(text: str, blocks: dict[str, str], page: Path) -> str:
    def replace(match: re.Match) -> str:
        name = match.group("name")
        if name not in BLOCKS:
            raise SystemExit(f"{page}: unknown validation block {name!r} "
                             f"(known: {', '.join(BLOCKS)})")
        body = blocks.get(name, match.group("body"))
        return match.group(1) + body + match.group(4)
    return MARKER.sub(replace, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed blocks instead of writing; exit 1 "
                        "if any differs")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs",
                        help="the docs directory whose pages hold the blocks (default: docs/)")
    parser.add_argument("--only", nargs="+", choices=list(BLOCKS), metavar="NAME",
                        help=f"recompute these blocks only ({', '.join(BLOCKS)})")
    args = parser.parse_args(argv)
    if args.check and FAST:
        parser.error("--check compares against a full run: unset FLEETSIM_FAST")
    names = args.only or list(BLOCKS)
    pages = sorted(args.docs.rglob("*.md"))
    found = {match.group("name") for page in pages
             for match in MARKER.finditer(page.read_text(encoding="utf-8"))}
    missing = [name for name in names if name not in found]
    if missing:
        parser.error(f"no page under {args.docs} holds the block(s) {', '.join(missing)}")
    start = time.perf_counter()
    blocks = compute(names)
    changed = []
    for page in pages:
        old = page.read_text(encoding="utf-8")
        new = rewrite(old, blocks, page)
        if new == old:
            continue
        changed.append(page)
        if args.check:
            sys.stdout.writelines(difflib.unified_diff(
                old.splitlines(keepends=True), new.splitlines(keepends=True),
                str(page), f"{page} (fresh run)"))
        else:
            page.write_text(new, encoding="utf-8")
    elapsed = time.perf_counter() - start
    verb = "differ from a fresh run" if args.check else "rewritten"
    print(f"{len(names)} block(s) in {elapsed:.0f} s; {len(changed)} page(s) {verb}"
          + "".join(f"\n  {page}" for page in changed), file=sys.stderr)
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
