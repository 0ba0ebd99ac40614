"""Small sweeps on the quickstart scenario with a 2-day horizon (a run takes ~10 ms)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"


def tiny_spec(**changes) -> dict:
    """2 x 2 points x 2 seeds = 8 runs of the quickstart, 2 simulated days each."""
    spec = {
        "name": "tiny",
        "base": str(QUICKSTART),
        "grid": {"faults.causes.gpu.mtbf": ["5000h", "50000h"],
                 "jobs.pretrain.checkpoint.interval": ["30min", "2h"]},
        "seeds": 2,
        "set": {"horizon": "2d"},
    }
    spec.update(changes)
    return spec


def write_spec(directory: Path, spec: dict, name: str = "sweep.yaml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def sweep_file(tmp_path) -> Path:
    return write_spec(tmp_path, tiny_spec())
