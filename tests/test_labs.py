"""The class labs in examples/labs run as their worksheets say.

Each lab's ``solution.py`` runs with FLEETSIM_FAST=1 (fewer seeds and points, the same code
path) into a scratch ``--out`` and must write its PNG figure(s) there; every scenario file of
the lab passes ``fleetsim validate``, every sweep file loads (and validates each of its points)
through the sweep spec loader, and every node file loads through the hardware catalogue's
loader.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
LABS = ROOT / "examples" / "labs"
SOLUTIONS = sorted(LABS.glob("[0-9]*/solution.py"))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _validate_yaml(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One lab YAML file: a sweep (has ``base``), a node or accelerator (has ``kind``), or a
    scenario (``fleetsim validate FILE``, run in-process)."""
    from fleetsim.cli import main
    from fleetsim.hardware.catalog import load_spec
    from fleetsim.sweep.spec import load_sweep

    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), path
    if "base" in data:
        plan = load_sweep(path)
        assert plan.points and plan.seeds, path
    elif "kind" in data:
        assert load_spec(path).name == data["name"]
    else:
        assert main(["validate", str(path)]) == 0, capsys.readouterr().err
        assert ": ok (" in capsys.readouterr().out


@pytest.mark.parametrize("solution", SOLUTIONS, ids=[path.parent.name for path in SOLUTIONS])
def test_lab_solution_runs(solution, tmp_path, capsys):
    lab = solution.parent
    assert (lab / "README.md").is_file(), f"{lab.name} has no worksheet (README.md)"
    assert list(lab.glob("*.yaml")), f"{lab.name} has no scenario or sweep file"
    for path in sorted(lab.glob("*.yaml")) + sorted(lab.glob("hardware/*.yaml")):
        _validate_yaml(path, capsys)

    out = tmp_path / "out"
    environment = {**os.environ, "FLEETSIM_FAST": "1", "MPLBACKEND": "Agg"}
    process = subprocess.run([sys.executable, str(solution), "--out", str(out)], cwd=ROOT,
                             env=environment, capture_output=True, text=True, timeout=120,
                             check=False)
    assert process.returncode == 0, process.stderr[-3000:]
    assert list(out.glob("*.png")), f"{lab.name}: no PNG figure written into --out {out}"
    for png in sorted(out.rglob("*.png")):
        assert png.read_bytes()[:8] == PNG_MAGIC, f"{png} is not a valid PNG"
