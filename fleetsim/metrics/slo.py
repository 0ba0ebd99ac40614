"""Which serving requests met their latency targets (SLOs): TTFT and TPOT, per request."""

from __future__ import annotations

from typing import Mapping

import numpy as np


def meets_slo(table: Mapping[str, np.ndarray], slo: Mapping[str, float]) -> np.ndarray:
    """Which finished requests met every SLO target."""
    ttft = table["first_token_s"] - table["arrival_s"]
    multi = table["output_tokens"] > 1
    tpot = np.where(multi, (table["finish_s"] - table["first_token_s"])
                    / np.maximum(table["output_tokens"] - 1, 1), 0.0)
    ok = np.ones(ttft.size, dtype=bool)
    if "ttft" in slo:
        ok &= ttft <= slo["ttft"]
    if "tpot" in slo:
        ok &= tpot <= slo["tpot"]
    return ok
