"""The ``cluster.fabric`` section of a scenario: which scale-out network joins the nodes.

One immutable model for every fabric type (rather than a union of models) so that a scenario
error names the plain key path (``cluster.fabric.dims``) and the keys a type accepts::

    fabric: {type: rail-fat-tree, link: 400Gbps, oversubscription: 1}   # DGX SuperPOD style
    fabric: {type: fat-tree, tiers: 3, oversubscription: 2}
    fabric: {type: torus, dims: [4, 4, 8]}                                # nodes on a 3D torus
    fabric: {type: ring}
    fabric: {type: single-switch}                                         # one ideal switch

Defaults: ``link`` (switch-to-switch and router-to-router cable rate, per direction) is the
node's NIC line rate; ``link_latency`` 0.5 us per link is an order-of-magnitude assumption
(switch traversal ~0.1-0.3 us plus cable and NIC) [assumption, no published source used];
``efficiency`` is the node's measured ``nics.achievable / nics.rate``, else 0.94 (graph.py).
``interference`` (default on): jobs whose collectives share links slow each other.
Tree fabrics use ``radix``-port switches (64: NVIDIA Quantum-2 NDR) and, for ``rail-fat-tree``,
scalable units of ``su_size`` node slots: 32 (NVIDIA DGX SuperPOD RA), or as many as a leaf's
down ports hold when a node's rail takes several ports (bonded NICs, e.g. Gaudi 3).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import model_validator

from fleetsim.hardware.models import Spec
from fleetsim.kinds import (MAX_NODES, Bandwidth, Duration, NotBool, integer,
                                     number)

FabricType = Literal["rail-fat-tree", "fat-tree", "torus", "ring", "single-switch"]

_COMMON = ("type", "link", "link_latency", "efficiency", "interference")
#: Keys each fabric type accepts (besides the common ones).
KEYS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "rail-fat-tree": ("oversubscription", "radix", "su_size", "tiers"),
    "fat-tree": ("oversubscription", "radix", "tiers"),
    "torus": ("dims",),
    "ring": (),
    "single-switch": (),
}


class FabricSpec(Spec):
    """A validated scale-out fabric description (immutable, unknown keys rejected)."""

    type: FabricType = "rail-fat-tree"
    link: Bandwidth | None = None
    link_latency: Duration = 0.5e-6
    efficiency: number(0.0, 1.0, open_low=True) | None = None
    oversubscription: number(1.0, 1000.0) = 1.0
    radix: integer(4, 4096) = 64
    su_size: integer(1, MAX_NODES) | None = None
    tiers: Annotated[Literal["auto", 2, 3], NotBool] = "auto"
    dims: tuple[integer(1, MAX_NODES), ...] = ()
    #: jobs whose collectives cross the same links slow each other (comm/sharing.py)
    interference: bool = True

    @model_validator(mode="after")
    def _keys_fit_type(self) -> "FabricSpec":
        allowed = _COMMON + KEYS_BY_TYPE[self.type]
        for key in sorted(self.model_fields_set):
            if key not in allowed:
                raise ValueError(f"key {key!r} does not apply to fabric type {self.type!r} "
                                 f"(allowed: {', '.join(allowed)})")
        if self.type == "torus":
            if not self.dims:
                raise ValueError("a torus fabric needs dims, e.g. dims: [4, 4, 8]")
            if any(size < 1 for size in self.dims):
                raise ValueError(f"torus dims must be >= 1, got {list(self.dims)}")
        if self.type == "fat-tree" and self.radix % 2:
            raise ValueError(f"radix must be even, got {self.radix}")
        return self

    @property
    def fixed_tiers(self) -> int | None:
        """2 or 3 when the user fixed the tree height, ``None`` for automatic."""
        return None if self.tiers == "auto" else int(self.tiers)
