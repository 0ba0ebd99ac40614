"""Every example script runs (with FLEETSIM_FAST=1: fewer seeds, the same code path)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_runs(script):
    process = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                             env={**os.environ, "FLEETSIM_FAST": "1"}, cwd=ROOT, timeout=120)
    assert process.returncode == 0, process.stderr
    assert process.stdout.strip()
