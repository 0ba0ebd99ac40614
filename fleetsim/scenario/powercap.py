"""The ``power.cap`` key: a power cap on the whole cluster, on each node or on each accelerator.

A cap is in watts of IT power (before the facility's PUE). Exactly one scope is given;
:mod:`fleetsim.cluster.powercap` turns it into each busy accelerator's cap and the compute
slowdown that follows (:mod:`fleetsim.hardware.powercap`). That a cap leaves room for the
idle draw is checked against the hardware when the run is prepared.
"""

from __future__ import annotations

from pydantic import model_validator

from fleetsim.kinds import Model, watts

#: a power in watts, written with a unit (``700W``, ``10.2kW``, ``2MW``); > 0
Power = watts(open_low=True)


class PowerCapSpec(Model):
    """A power cap: ``cluster`` (shared by the busy nodes), ``node`` or ``accelerator``."""

    cluster: Power | None = None  # IT power of the whole cluster, e.g. 2MW
    node: Power | None = None  # every node, accelerators and host, e.g. 8kW
    accelerator: Power | None = None  # every accelerator (nvidia-smi -pl), e.g. 500W

    @model_validator(mode="after")
    def _one_scope(self) -> "PowerCapSpec":
        given = [name for name in ("cluster", "node", "accelerator")
                 if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of cluster, node or accelerator (e.g. "
                             "cap: {cluster: 2MW})")
        return self


__all__ = ["Power", "PowerCapSpec"]
