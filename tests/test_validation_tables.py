"""The validation-table script (docs/background/validation_tables.py) reproduces the committed
blocks: run with FLEETSIM_FAST=1 (fewer seeds, the same code) on a copy of docs/, every marked
block comes out with the same tables — the same headers and the same rows, in order — as the
block committed in the pages. Values may differ (fewer seeds); whether the committed values
are those of a full run is ``validation_tables.py --check`` (about a minute)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "docs" / "background" / "validation_tables.py"
MARKER = re.compile(r"<!-- validation:(?P<name>[\w-]+):start -->\n(?P<body>.*?)"
                    r"<!-- validation:(?P=name):end -->", re.DOTALL)


def blocks(docs: Path) -> dict[tuple[str, str], str]:
    """(page relative to docs, block name) -> the block's text."""
    found = {}
    for page in sorted(docs.rglob("*.md")):
        for match in MARKER.finditer(page.read_text(encoding="utf-8")):
            found[(str(page.relative_to(docs)), match.group("name"))] = match.group("body")
    return found


def shape(body: str) -> list[list[str]]:
    """Each table row's header cells (header rows) or first cell (data rows), in order."""
    rows = []
    previous_was_table = False
    for line in body.splitlines():
        if not line.startswith("|"):
            previous_was_table = False
            continue
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        rows.append(cells if not previous_was_table else cells[:1] + [str(len(cells))])
        previous_was_table = True
    return rows


def test_fast_run_reproduces_every_committed_block(tmp_path):
    committed = blocks(ROOT / "docs")
    names = {name for _, name in committed}
    assert {"daly", "llama3", "job-mtbf", "stragglers", "megatron-mfu",
            "collectives-closed-forms", "collectives-nccl", "collectives-measured"} <= names
    assert {name for page, name in committed if page == "background/validation.md"} == names
    for key, body in committed.items():
        assert shape(body), f"{key}: the committed block holds no table (run the script)"
        assert "FLEETSIM_FAST" not in body, f"{key}: smoke-test numbers were committed"
        assert "**no**" not in body, f"{key}: a committed value is outside its tolerance"

    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs)
    for page in docs.rglob("*.md"):  # empty every block: the script must refill them all
        page.write_text(MARKER.sub(lambda m: f"<!-- validation:{m.group('name')}:start -->\n"
                                             f"<!-- validation:{m.group('name')}:end -->",
                                   page.read_text(encoding="utf-8")), encoding="utf-8")
    process = subprocess.run([sys.executable, str(SCRIPT), "--docs", str(docs)],
                             env={**os.environ, "FLEETSIM_FAST": "1"}, cwd=tmp_path,
                             capture_output=True, text=True, timeout=600, check=False)
    assert process.returncode == 0, process.stderr[-3000:]
    fresh = blocks(docs)
    assert fresh.keys() == committed.keys()
    for key, body in committed.items():
        assert shape(fresh[key]) == shape(body), f"{key}: rows or columns differ"
        assert "FLEETSIM_FAST" in fresh[key]


def test_check_refuses_fast_mode():
    """--check compares with a full run; in fast mode it would always fail, so it refuses."""
    process = subprocess.run([sys.executable, str(SCRIPT), "--check"],
                             env={**os.environ, "FLEETSIM_FAST": "1"}, cwd=ROOT,
                             capture_output=True, text=True, timeout=120, check=False)
    assert process.returncode == 2 and "FLEETSIM_FAST" in process.stderr
