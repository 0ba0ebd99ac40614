"""The hardware catalogue: accelerator and node-type specs loaded from YAML files."""

from fleetsim.hardware.catalog import Catalogue, UnknownHardware, catalogue_dirs, load_spec
from fleetsim.hardware.models import Accelerator, NodeType

__all__ = ["Accelerator", "Catalogue", "NodeType", "UnknownHardware", "catalogue_dirs", "load_spec"]
