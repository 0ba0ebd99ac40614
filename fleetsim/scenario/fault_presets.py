"""Failure-cause presets of published fleets (plain data the schema turns into causes).

``llama3``: Llama 3 405B pre-training (Grattafiori et al. 2024, arXiv 2407.21783, section 3.3.4
and Table 5): 16,384 H100 GPUs on 2,048 nodes over a 54-day snapshot, 466 interruptions:
47 planned and 419 unexpected, by cause (counts; the printed percentages have an error,
shared/REFERENCE.md). Each cause's per-unit MTBF is set so the expected count on that fleet
over 54 days equals the table's count [D]:

    GPU-scoped:  MTBF = 16,384 GPUs x 54 d / count
    node-scoped: MTBF =  2,048 nodes x 54 d / count   (also job-scoped causes, drawn per node)
    leaf-scoped: MTBF =    512 leaves x 54 d / count  (DGX SuperPOD: 64 SUs x 8 rails)

Scopes [assumption]: GPU, HBM3, SRAM, system processor, thermal, SDC -> gpu; software bug,
NCCL watchdog, dependency, planned maintenance -> job (the job restarts, no hardware is
replaced); network switch/cable -> leaf; the rest -> node. Detection [assumption]: 3 min for
hardware faults reported by the driver (Xid), 10 min for hangs found by the NCCL watchdog and
for software, 30 min for silent data corruption (``silent``: the job computes and checkpoints
on with corrupt state until it is found by loss spikes or checks, then rolls back), following
MegaScale's (NSDI'24) "detection and diagnosis under 10 minutes" for the common case.
"""

from __future__ import annotations

from typing import Any

DAY_HOURS = 24.0
_DAYS = 54.0
_GPUS, _NODES, _LEAVES = 16384, 2048, 512

#: (name, scope, count in Table 5, detection)
LLAMA3_TABLE5: tuple[tuple[str, str, int, str], ...] = (
    ("faulty_gpu", "gpu", 148, "3min"),
    ("gpu_hbm3", "gpu", 72, "3min"),
    ("software_bug", "job", 54, "10min"),
    ("network_switch_cable", "leaf", 35, "3min"),
    ("host_maintenance", "node", 32, "3min"),
    ("gpu_sram", "gpu", 19, "3min"),
    ("gpu_system_processor", "gpu", 17, "3min"),
    ("nic", "node", 7, "3min"),
    ("nccl_watchdog_timeout", "job", 7, "10min"),
    ("silent_data_corruption", "gpu", 6, "30min"),
    ("gpu_thermal", "gpu", 6, "3min"),
    ("ssd", "node", 3, "3min"),
    ("power_supply", "node", 3, "3min"),
    ("server_chassis", "node", 2, "3min"),
    ("io_expansion_board", "node", 2, "3min"),
    ("dependency", "job", 2, "10min"),
    ("cpu", "node", 2, "3min"),
    ("system_memory", "node", 2, "3min"),
)
LLAMA3_PLANNED = 47  # planned interruptions in the same 54 days (automated maintenance)

_UNITS = {"gpu": _GPUS, "node": _NODES, "job": _NODES, "leaf": _LEAVES}


def _mtbf_hours(scope: str, count: int) -> float:
    return _UNITS[scope] * _DAYS * DAY_HOURS / count


def _llama3() -> list[dict[str, Any]]:
    causes = [{"name": name, "scope": scope, "mtbf": f"{_mtbf_hours(scope, count):.6g}h",
               "detection": detection, "silent": name == "silent_data_corruption"}
              for name, scope, count, detection in LLAMA3_TABLE5]
    causes.append({"name": "planned_maintenance", "scope": "job", "planned": True,
                   "mtbf": f"{_mtbf_hours('job', LLAMA3_PLANNED):.6g}h", "detection": "0s"})
    return causes


PRESETS = {"llama3": _llama3}


def preset_causes(name: str | None) -> list[dict[str, Any]]:
    """The causes of preset ``name`` as plain scenario data (empty for None)."""
    return [] if name is None else PRESETS[name]()
