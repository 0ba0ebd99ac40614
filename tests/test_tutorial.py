"""The tutorial's commands run as written (docs/tutorial.md), in a scratch copy of the repo's
scenarios and examples."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "tutorial.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", TUTORIAL.read_text(), re.S)


def test_tutorial_commands_and_python_run(tmp_path):
    for folder in ("scenarios", "examples"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    (tmp_path / "runs").mkdir()
    environment = {**os.environ, "MPLBACKEND": "Agg"}
    bin_dir = Path(sys.executable).parent
    environment["PATH"] = f"{bin_dir}{os.pathsep}{environment.get('PATH', '')}"
    commands = [line for block in _blocks("sh") for line in block.splitlines()
                if line.strip() and not line.startswith("pip ")]
    assert len(commands) >= 5
    for command in commands:
        process = subprocess.run(command, shell=True, cwd=tmp_path, env=environment,
                                 capture_output=True, text=True, timeout=300)
        assert process.returncode == 0, (command, process.stderr[-2000:])
    assert (tmp_path / "runs" / "quickstart" / "trace.json").is_file()
    assert list((tmp_path / "runs" / "sweep" / "plots").glob("*.png"))
    for block in _blocks("python"):
        process = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, env=environment,
                                 capture_output=True, text=True, timeout=120)
        assert process.returncode == 0, process.stderr[-2000:]
        assert "goodput" in process.stdout
