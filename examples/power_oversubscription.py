"""How many more DGX H100 nodes fit under a 1 MW IT budget if their steps may run slower.

For each allowed slowdown: the accelerator cap that gives it (fleetsim.hardware.powercap), the
node's capped peak, the nodes that fit (fleetsim.cluster.oversubscription), and a check by
simulation: every node of the larger cluster runs one job under ``power.cap.cluster`` equal to
the budget, and its step time is measured against the uncapped one. Three compute shares: a
compute-bound step (1.0), a training step with exposed communication (0.7), and an
inference-like, mostly memory-bound iteration (0.3). Results: benchmarks/OVERSUBSCRIPTION.md.

Run: python examples/power_oversubscription.py
"""

from __future__ import annotations

import os

from fleetsim import prepare
from fleetsim.cluster.oversubscription import deployable_nodes
from fleetsim.hardware import Catalogue
from fleetsim.power.states import node_power
from fleetsim.runner import simulate

FACILITY_W = 1e6
SLOWDOWNS = (1.0, 1.02, 1.05, 1.10, 1.20)
SHARES = (1.0, 0.7, 0.3)
FAST = os.environ.get("FLEETSIM_FAST") == "1"


def simulated_slowdown(nodes: int, compute_share: float) -> float:
    """Step time of a job on every node under a cluster cap of the budget, over uncapped (a
    job given by its step time is all compute; the share is the scaled wall excess)."""
    def wall(cap: dict | None) -> float:
        data = {"name": "oversubscription", "cluster": {"node": "dgx-h100", "nodes": nodes},
                "jobs": [{"name": "all", "type": "training", "gpus": 8 * nodes,
                          "step_time": "10s", "steps": 100}]}
        if cap:
            data["power"] = {"cap": cap}
        return simulate(prepare.load(data)).summary["jobs"]["all"]["wall_time_s"]

    compute = wall({"cluster": f"{FACILITY_W:.0f}W"}) / wall(None)
    return compute_share * compute + 1 - compute_share


def main() -> None:
    catalogue = Catalogue.load()
    spec = catalogue.node("dgx-h100")
    chip = catalogue.accelerator(spec.accelerator)
    node = node_power(spec, chip)
    print(f"DGX H100 (peak {node.compute / 1e3:.1f} kW, 8 x {chip.power.busy:.0f} W GPUs) "
          f"under {FACILITY_W / 1e6:g} MW of IT power\n")
    print("| compute share | allowed slowdown | GPU cap (W) | node peak (kW) | nodes | "
          "more nodes | simulated slowdown |")
    print("|---|---|---|---|---|---|---|")
    for share in SHARES[:1] if FAST else SHARES:
        for slowdown in SLOWDOWNS[:3] if FAST else SLOWDOWNS:
            fit = deployable_nodes(FACILITY_W, node, chip.power.busy, chip.power.idle,
                                   slowdown, share, chip.power.min_cap)
            if not fit.feasible:
                lowest = (f"lowest limit ({chip.power.min_cap:.0f} W) or "
                          if chip.power.min_cap is not None else "")
                print(f"| {share:.1f} | {slowdown:.2f} | {fit.accelerator_cap_w:.0f} | "
                      f"below the GPU's {lowest}idle draw ({chip.power.idle:.0f} W): not "
                      f"settable | | | |")
                continue
            measured = simulated_slowdown(fit.nodes, share)
            mark = " (extrapolated)" if fit.extrapolated else ""
            print(f"| {share:.1f} | {slowdown:.2f} | {fit.accelerator_cap_w:.0f}{mark} | "
                  f"{fit.node_peak_w / 1e3:.2f} | {fit.nodes} | {fit.gain:+.0%} | "
                  f"{measured:.3f} |")


if __name__ == "__main__":
    main()
