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

from fleetsim.units import time_unit

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
    scale, unit = time_unit(end)
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
    facility_mw = timeseries["power_facility_w"] / 1e6
    low, high = ((float((timeseries["power_it_w"] / 1e6).min()), float(facility_mw.max()))
                 if len(timeseries) else (0.0, 0.0))
    pad = max(0.15 * (high - low), 0.01 * high, 1e-6)
    top.set_ylim(max(0.0, low - pad), high + pad)  # zoomed: the dips are the story
    top.set_title(f"{summary['scenario']} (seed {summary['seed']}): "
                  f"{power['energy_it_kwh'] / 1000:.4g} MWh IT, "
                  f"{power['energy_facility_kwh'] / 1000:.4g} MWh facility"
                  + (f" (axis from {max(0.0, low - pad):.3g} MW)" if low - pad > 0 else ""),
                  fontsize=10)
    top.legend(loc="lower right", fontsize="small", framealpha=0.85)
    top.grid(alpha=0.3)
    _energy_besides_productive(bottom, power["energy_buckets_j"])
    figure.tight_layout()
    figure.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(figure)
    return path


def _energy_besides_productive(axes, buckets: dict[str, float]) -> None:
    """The IT energy of every bucket but productive, as bars of their share with their MWh
    (a stacked 100% bar would hide them behind productive work)."""
    total = sum(buckets.values()) or 1.0
    rows = [(bucket, joules) for bucket, joules in buckets.items()
            if bucket != "productive" and joules > 0]
    positions = list(range(len(rows)))
    shares = [100.0 * joules / total for _bucket, joules in rows]
    axes.barh(positions, shares, color=[BUCKET_COLORS.get(bucket, "#000000")
                                        for bucket, _joules in rows])
    axes.set_yticks(positions, [bucket for bucket, _joules in rows])
    axes.invert_yaxis()
    for position, share, (_bucket, joules) in zip(positions, shares, rows):
        axes.text(share, position, f" {share:.2f}% ({joules / 3.6e9:.3g} MWh)", va="center",
                  fontsize="small")
    if not rows:
        axes.text(0.5, 0.5, "all IT energy went to productive work", ha="center",
                  va="center", transform=axes.transAxes)
    axes.set_xlim(0, max(shares, default=1.0) * 1.35)
    productive = 100.0 * buckets.get("productive", 0.0) / total
    axes.set_xlabel(f"share of IT energy (%) besides productive work ({productive:.1f}%)")
    axes.grid(axis="x", alpha=0.3)
