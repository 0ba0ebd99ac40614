"""Load the hardware catalogue: every ``*.yaml`` under the catalogue directories, by name.

Search order: directories in the ``FLEETSIM_HARDWARE_PATH`` environment variable (``os.pathsep``
separated; a user's own files, which may shadow shipped ones), then the shipped catalogue (the
repository's ``hardware/`` in a source checkout, or its copy inside an installed wheel). A
scenario may also name a file path instead of a catalogue name. Each file holds one spec whose
``kind`` is ``accelerator`` or ``node``.
"""

from __future__ import annotations

import difflib
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

from fleetsim.errors import ScenarioError
from fleetsim.hardware.models import Accelerator, NodeType
from fleetsim.yamlsource import load_document, validate

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def shipped_catalogue_dir() -> Path:
    """The catalogue that ships with fleetsim (installed wheel copy, else the source tree)."""
    installed = _PACKAGE_DIR / "_data" / "hardware"
    return installed if installed.is_dir() else _PACKAGE_DIR.parent / "hardware"


def catalogue_dirs() -> list[Path]:
    """Directories searched for hardware files, highest priority first."""
    extra = os.environ.get("FLEETSIM_HARDWARE_PATH", "")
    dirs = [Path(part) for part in extra.split(os.pathsep) if part]
    dirs.append(shipped_catalogue_dir())
    return dirs


def load_spec(path: str | Path) -> Accelerator | NodeType:
    """Validate one hardware file; errors name the file, line and key."""
    document = load_document(path)
    kind = document.data.get("kind")
    if kind == "accelerator":
        return validate(Accelerator, document)
    if kind == "node":
        return validate(NodeType, document)
    raise document.error(("kind",), f"unknown kind {kind!r} (allowed: accelerator, node)")


@dataclass
class Catalogue:
    """Accelerators and node types by name (aliases included), with the file each came from."""

    accelerators: dict[str, Accelerator] = field(default_factory=dict)
    nodes: dict[str, NodeType] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def load(cls, dirs: list[Path] | None = None) -> "Catalogue":
        """Read every file in ``dirs`` (default :func:`catalogue_dirs`); earlier dirs win.

        The specs are immutable, so a catalogue is read once per process and reused until a
        file in it is added, removed or modified (sweeps run thousands of scenarios).
        """
        files = []
        for directory in reversed(dirs if dirs is not None else catalogue_dirs()):
            for path in sorted(directory.rglob("*.yaml")):
                stat = path.stat()
                files.append((path, stat.st_mtime_ns, stat.st_size))
        return _load_files(tuple(files))

    def add(self, spec: Accelerator | NodeType, path: Path) -> None:
        table: dict = self.accelerators if isinstance(spec, Accelerator) else self.nodes
        for name in (spec.name, *spec.aliases):
            table[name] = spec
        self.files[f"{spec.kind}:{spec.name}"] = path

    def accelerator(self, name: str) -> Accelerator:
        """The accelerator called ``name``; :class:`KeyError` with suggestions if unknown."""
        return _lookup(self.accelerators, name, "accelerator")

    def node(self, name: str) -> NodeType:
        """The node type called ``name``; :class:`KeyError` with suggestions if unknown."""
        return _lookup(self.nodes, name, "node type")

    def node_names(self) -> list[str]:
        return sorted({spec.name for spec in self.nodes.values()})

    def accelerator_names(self) -> list[str]:
        return sorted({spec.name for spec in self.accelerators.values()})

    def check(self) -> None:
        """Every node's accelerator must exist in the catalogue."""
        for node in set(self.nodes.values()):
            if node.accelerator not in self.accelerators:
                path = self.files[f"node:{node.name}"]
                raise ScenarioError(
                    f"unknown accelerator {node.accelerator!r} "
                    f"(known: {', '.join(self.accelerator_names())})",
                    file=str(path), key="accelerator")


@functools.lru_cache(maxsize=8)
def _load_files(files: tuple[tuple[Path, int, int], ...]) -> Catalogue:
    catalogue = Catalogue()
    for path, _mtime, _size in files:
        catalogue.add(load_spec(path), path)
    return catalogue


class UnknownHardware(KeyError):
    """A name that is not in the catalogue; ``str()`` lists close matches and what is known."""

    def __str__(self) -> str:
        return str(self.args[0])


def _lookup(table: dict, name: str, what: str):
    if name in table:
        return table[name]
    known = sorted({spec.name for spec in table.values()})
    close = difflib.get_close_matches(name, list(table), n=3)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise UnknownHardware(f"unknown {what} {name!r} ({hint}known: {', '.join(known)})")
