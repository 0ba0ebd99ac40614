"""The shared fabric: jobs whose collectives cross the same links slow each other
(fleetsim/comm/sharing.py, fleetsim/cluster/fabric.py).
"""

from __future__ import annotations

from collections import Counter

import pytest

from fleetsim.cluster.fabric import SharedFabric
from fleetsim.comm.sharing import Footprint, Traffic
from fleetsim.hardware.catalog import Catalogue
from fleetsim.prepare import load
from fleetsim.runner import Run
from fleetsim.scenario.models import TrainingJobSpec
from fleetsim.topology.cluster import build_cluster
from fleetsim.topology.graph import gpu_name
from fleetsim.training.plan import make_plan
from fleetsim.training.stepmodel import estimate_step
from fleetsim.training.traffic import job_footprint

LINK = ("leaf0", "spine0")


class _Job:
    def __init__(self, name: str) -> None:
        self.name, self.contention = name, 1.0

    def set_contention(self, factor: float) -> None:
        self.contention = factor


def _one_link_job(step: float, raw: float, hidden: float, duty: float, flows: int = 1):
    traffic = Traffic(paths=(((LINK,),),), flows=Counter({LINK: flows}), duty=duty)
    return Footprint(step, {"dp": traffic}, (("dp", raw, hidden),), {LINK: 50e9})


def test_two_jobs_on_one_link_match_processor_sharing():
    """Closed form (processor sharing, mean field): job A (one flow, collective ``raw`` s of a
    ``step`` s step, ``hidden`` s of it behind compute) shares its only network link with job
    B, whose one flow is on the wire a fraction d_B of the time. A's flow then sees on average
    1 + d_B flows, so its collective takes raw x (1 + d_B) and its step grows by
    max(0, raw (1 + d_B) - hidden) - max(0, raw - hidden). Exact to float rounding; B is
    slowed symmetrically; when B leaves, A is back at 1."""
    fabric = SharedFabric()
    a, b = _Job("a"), _Job("b")
    fabric.placed(a, _one_link_job(step=2.0, raw=0.5, hidden=0.2, duty=0.25))
    assert a.contention == 1.0
    fabric.placed(b, _one_link_job(step=1.0, raw=0.4, hidden=0.0, duty=0.4))
    assert a.contention == pytest.approx(1 + (0.5 * 1.4 - 0.2 - (0.5 - 0.2)) / 2.0, rel=1e-12)
    assert b.contention == pytest.approx(1 + 0.4 * 0.25 / 1.0, rel=1e-12)
    fabric.vacated(b)
    assert (a.contention, b.contention) == (1.0, 1.0)


def test_hidden_communication_stays_hidden_until_it_outgrows_compute():
    """A collective fully behind compute (hidden >= raw x slow-down) costs nothing more."""
    fabric = SharedFabric()
    a, b = _Job("a"), _Job("b")
    fabric.placed(a, _one_link_job(step=2.0, raw=0.5, hidden=1.0, duty=0.25))
    fabric.placed(b, _one_link_job(step=1.0, raw=0.4, hidden=0.0, duty=1.0))
    assert a.contention == 1.0  # 0.5 x 2 = 1.0 s, still hidden by 1.0 s of compute
    assert b.contention > 1.0


# -- Crux (SIGCOMM'24) section 2.2 ------------------------------------------------------------

def _crux_testbed(link: str):
    """The Crux testbed (section 6.1): 12 hosts of 8 A100 with 4 x 200 Gbps NICs under two
    ToR switches (6 hosts each) of a two-layer Clos. Its links are non-blocking; ECMP hash
    collisions (the cause the paper names) put the two jobs' flows on a few uplinks, which
    fleetsim's aggregated links do not model: the ToR's usable uplink capacity is the one
    fitted knob (2 uplinks at ``link``)."""
    catalogue = Catalogue.load()
    node = catalogue.node("dgx-a100")
    node = node.model_copy(update={"nics": node.nics.model_copy(update={"count": 4})})
    graph = build_cluster(node, 12, {"type": "fat-tree", "oversubscription": 12, "radix": 26,
                                     "tiers": 2, "link": link})
    return node, catalogue.accelerator(node.accelerator), graph


def _footprint(spec, node, accelerator, graph, ranks):
    plan = make_plan(spec)
    estimate = estimate_step(spec, plan, accelerator, node, graph, ranks)
    return estimate, job_footprint(plan, estimate, graph, ranks)


def _crux_jobs(gpt_batch: int, bert_batch: int):
    """GPT-3 cut to 24 layers of hidden 1024 (Crux footnote 1) on 64 GPUs, BERT-large on 16,
    both data parallel with fp32 gradient all-reduce not overlapped (Megatron-LM's defaults,
    an assumption: the paper gives no parallelism)."""
    def job(name, gpus, batch, vocab, seq):
        return TrainingJobSpec(
            name=name, type="training", steps=1, gpus=gpus, global_batch=batch,
            micro_batch=batch // gpus,
            model={"layers": 24, "hidden": 1024, "heads": 16, "vocab": vocab, "seq_len": seq},
            parallelism={"dp": gpus, "overlap": 0.0, "grad_reduce_dtype": "fp32"})
    return job("gpt", 64, gpt_batch, 50257, 2048), job("bert", 16, bert_batch, 30522, 512)


GPT_HOSTS = (0, 1, 2, 3, 6, 7, 8, 9)  # H1-H8: four hosts under each ToR


def test_crux_gpt_bert_interference_and_placement_that_avoids_it():
    """Crux (Cao et al., SIGCOMM'24, section 2.2, Fig. 7): GPT on 64 GPUs of 8 hosts under
    two ToRs, BERT on 4 GPUs of each of 4 more hosts under the same ToRs; they contend on the
    ToR-aggregation links: GPT's iteration 1.53 s -> 1.70 s (+11.0%), BERT's throughput -7.7%.

    Calibrated: the usable uplink capacity (33 Gbps on each of 2 uplinks) and GPT's batch
    (1,984 sequences: 1.56 s alone, for the published 1.53 s) are fitted so GPT is +11%
    (tolerance 1.5 points). Predicted, and a known miss: BERT (batch 32 per GPU, assumed)
    loses ~29% here, not 7.7% — the mean-field model charges the small, communication-heavy
    job for all of GPT's traffic on the shared links (docs/background/scheduling.md). The
    placement half is exact: BERT packed on two whole hosts under one ToR (what
    ``placement: packed`` does) crosses no uplink, and neither job is slowed."""
    node, accelerator, graph = _crux_testbed("33Gbps")
    gpt_spec, bert_spec = _crux_jobs(1984, 512)
    gpt_ranks = [gpu_name(host, gpu) for host in GPT_HOSTS for gpu in range(8)]
    spread = [gpu_name(host, gpu) for host in (4, 5, 10, 11) for gpu in range(4)]
    packed = [gpu_name(host, gpu) for host in (4, 5) for gpu in range(8)]
    gpt_estimate, gpt_footprint = _footprint(gpt_spec, node, accelerator, graph, gpt_ranks)
    assert gpt_estimate.step_s == pytest.approx(1.53, rel=0.03)

    fabric = SharedFabric()
    gpt, bert = _Job("gpt"), _Job("bert")
    fabric.placed(gpt, gpt_footprint)
    fabric.placed(bert, _footprint(bert_spec, node, accelerator, graph, spread)[1])
    assert gpt.contention - 1 == pytest.approx(0.110, abs=0.015)
    assert 0 < 1 - 1 / bert.contention < 0.40

    fabric.vacated(bert)
    fabric.placed(bert, _footprint(bert_spec, node, accelerator, graph, packed)[1])
    assert (gpt.contention, bert.contention) == (1.0, 1.0)


# -- end to end ------------------------------------------------------------------------------

def _two_jobs(interference: bool, placement: str) -> dict:
    """Two 16-GPU data-parallel jobs on a fat tree of 3 DGX H100 per leaf with 7:1 uplinks;
    ``spread`` puts each job's nodes under different leaves, so their all-reduces share the
    uplinks; ``packed`` keeps each job under one leaf."""
    def job(name):
        return {"name": name, "type": "training", "gpus": 16, "steps": 400,
                "global_batch": 64, "micro_batch": 4,
                "model": {"layers": 12, "hidden": 4096, "heads": 32, "vocab": 32000,
                          "seq_len": 2048},
                "parallelism": {"dp": 16, "overlap": 0.0}}
    return {"name": "fabric", "seed": 3,
            "cluster": {"node": "dgx-h100", "nodes": 6,
                        "fabric": {"type": "fat-tree", "radix": 28, "oversubscription": 7,
                                   "interference": interference}},
            "scheduler": {"policy": "fifo", "placement": placement},
            "jobs": [job("a"), job("b")]}


def _contention(data: dict) -> tuple[float, float]:
    result = Run(load(data)).execute()
    jobs = result.summary["jobs"]
    return tuple(jobs[name]["buckets_s"]["contention"] for name in ("a", "b"))


def test_spread_jobs_lose_time_to_each_other_and_packed_ones_do_not():
    """Through the scheduler: spread placement makes the two jobs share uplinks, so both
    spend time in ``contention``; with ``interference: false`` or packed placement, none."""
    spread = _contention(_two_jobs(True, "spread"))
    assert all(seconds > 0 for seconds in spread)
    assert _contention(_two_jobs(False, "spread")) == (0.0, 0.0)
    assert _contention(_two_jobs(True, "packed")) == (0.0, 0.0)
