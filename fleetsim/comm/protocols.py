"""NCCL's wire protocols LL, LL128 and Simple: their latencies and bandwidth factors.

Latency figures are NCCL's own cost-model constants (NVIDIA/nccl ``src/graph/tuning.cc``,
v2.2x-2.30, via shared/REFERENCE.md [V]), microseconds, LL / LL128 / Simple:

=================================  ===============  ===============
                                   ring family      tree family
=================================  ===============  ===============
base, once per collective          6.6 / 14 / 8.4   6.8 / 14 / 8.4
per step over NVLink (scale-up)    0.6 / 1.9 / 3.4  0.6 / 1.25 / 4.0
per step over the network          2.7 / 4.0 / 14   5.0 / 8.5 / 14
=================================  ===============  ===============

A step that moves any byte over a scale-out link pays the network figure. NCCL adds the
per-hop latency of its topology graph on top; fleetsim does the same with the ``latency`` of the
links on each flow's path (cost.py).

Bandwidth factor: the fraction of the Simple protocol's bandwidth a protocol keeps, from the
same file's refinements: LL sends 8-byte lines of 4 data + 4 flag bytes (``busBw * .5``);
LL128 keeps 120 of every 128 bytes (``busBw * 0.92``); Simple 1.0. The achievable fraction of
the *link* at Simple (NVLink ~0.80, NDR ~0.94) is an attribute of the link (topology/graph.py),
so the overall efficiency on a link is ``link efficiency x protocol factor``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from fleetsim.comm.schedule import CommError

US = 1e-6
FAMILIES = ("ring", "tree")
MEDIA = ("scale-up", "network")


@dataclass(frozen=True)
class Protocol:
    """Latency (seconds) and bandwidth factor of one protocol.

    ``base_latency[family]`` is paid once per collective; ``step_latency[(family, medium)]``
    once per algorithm step, ``medium`` being ``"scale-up"`` or ``"network"``.
    """

    name: str
    bandwidth_factor: float
    base_latency: Mapping[str, float] = field(default_factory=dict)
    step_latency: Mapping[tuple[str, str], float] = field(default_factory=dict)

    def base(self, family: str) -> float:
        return self.base_latency.get(family, 0.0)

    def step(self, family: str, medium: str) -> float:
        return self.step_latency.get((family, medium), 0.0)


def _protocol(name: str, factor: float, base: tuple[float, float],
              nvlink: tuple[float, float], network: tuple[float, float]) -> Protocol:
    return Protocol(
        name=name,
        bandwidth_factor=factor,
        base_latency={"ring": base[0] * US, "tree": base[1] * US},
        step_latency={("ring", "scale-up"): nvlink[0] * US, ("tree", "scale-up"): nvlink[1] * US,
                      ("ring", "network"): network[0] * US, ("tree", "network"): network[1] * US},
    )


#: name -> Protocol; (ring, tree) pairs from tuning.cc as tabled in the module docstring.
PROTOCOLS: dict[str, Protocol] = {
    "ll": _protocol("ll", 0.5, base=(6.6, 6.8), nvlink=(0.6, 0.6), network=(2.7, 5.0)),
    "ll128": _protocol("ll128", 0.92, base=(14.0, 14.0), nvlink=(1.9, 1.25), network=(4.0, 8.5)),
    "simple": _protocol("simple", 1.0, base=(8.4, 8.4), nvlink=(3.4, 4.0), network=(14.0, 14.0)),
}


def get_protocol(protocol: str | Protocol) -> Protocol:
    """A :class:`Protocol` by name (case-insensitive) or as given."""
    if isinstance(protocol, Protocol):
        return protocol
    found = PROTOCOLS.get(protocol.lower())
    if found is None:
        raise CommError(f"unknown protocol {protocol!r} (known: {', '.join(PROTOCOLS)}, auto)")
    return found


def zero_latency(protocol: str | Protocol) -> Protocol:
    """``protocol`` with every base and step latency set to 0 (link latencies still count)."""
    chosen = get_protocol(protocol)
    return Protocol(chosen.name, chosen.bandwidth_factor)
