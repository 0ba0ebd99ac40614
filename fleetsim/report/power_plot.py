"""``plots/power.png``: the fleet's IT and facility power over time, the largest swing marked,
and where the energy went (the fleet's energy buckets).

Reads finished results only (the summary's ``power`` block and the timeseries' ``power_it_w``
and ``power_facility_w`` columns, window means), so ``fleetsim report DIR`` redraws it. The
swing is the event-level figure of the summary: a window mean smooths a 1 s drop away, so it
is marked, not read off the curve.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

BUCKET_COLORS = {"productive": "#2ca02c", "lost_work": "#d62728", "slowdown": "#e377c2",
                 "checkpoint": "#1f77b4", "restart": "#9467bd", "stall": "#ff7f0e",
                 "serving": "#17becf", "idle": "#c7c7c7", "down": "#8c564b"}


def plot_power(summary: dict, timeseries: pd.DataFrame, path: Path) -> Path | None:
    """Draw ``path``; nothing (None) for results without power columns (older runs)."""
    power = summary.get("power")
    if power is None or "power_it_w" not in timeseries:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    end = float(timeseries["time_s"].max()) if len(timeseries) else 0.0
    scale, unit = ((86400.0, "days") if end > 3 * 86400 else (3600.0, "h") if end > 3 * 3600
                   else (60.0, "min") if end > 180 else (1.0, "s"))
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), height_ratios=(2, 1))
    x = timeseries["time_s"] / scale
    top.step(x, timeseries["power_facility_w"] / 1e6, where="pre", color="#7f7f7f",
             label=f"facility (PUE {power['pue']:.3g})" if power.get("pue") else "facility")
    top.step(x, timeseries["power_it_w"] / 1e6, where="pre", color="#1f77b4", label="IT")
    for key, color, label in (("swing_drop", "#d62728", "largest drop"),
                              ("swing_rise", "#2ca02c", "largest rise")):
        at = power.get(f"{key}_at_s")
        if at is not None:
            top.axvline(at / scale, color=color, alpha=0.6, linewidth=1.0, linestyle="--",
                        label=f"{label}: {power[f'{key}_w'] / 1e6:.3g} MW within "
                              f"{power['swing_window_s']:g} s")
    top.set_ylabel("power (MW, mean per interval)")
    top.set_xlabel(f"simulated time ({unit})")
    top.set_ylim(bottom=0)
    top.set_title(f"{summary['scenario']} (seed {summary['seed']}): "
                  f"{power['energy_it_kwh'] / 1000:.4g} MWh IT, "
                  f"{power['energy_facility_kwh'] / 1000:.4g} MWh facility")
    top.legend(loc="lower right", fontsize="small")
    top.grid(alpha=0.3)
    buckets = power["energy_buckets_j"]
    total = sum(buckets.values()) or 1.0
    left = 0.0
    for bucket, joules in buckets.items():
        bottom.barh(0, joules / total, left=left, color=BUCKET_COLORS.get(bucket, "#000000"),
                    label=f"{bucket} {joules / total:.1%}")
        left += joules / total
    bottom.set_xlim(0, 1)
    bottom.set_yticks([])
    bottom.set_xlabel("share of IT energy")
    bottom.legend(loc="upper center", bbox_to_anchor=(0.5, -0.45), ncols=5,
                  fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(figure)
    return path
