"""The tutorial (docs/tutorial.md) keeps its shape: five steps of commands and a Python block,
and links that resolve.

Running its blocks, and checking the outputs they promise (``runs/quickstart/trace.json``,
the plots, ``runs/2h.json``, a Python block that prints the goodput), is
tests/test_docs_blocks.py's job, as for every page of docs/.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "tutorial.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", TUTORIAL.read_text(), re.DOTALL)


def test_tutorial_has_its_steps():
    commands = [line for block in _blocks("sh") for line in block.splitlines()
                if line.strip() and not line.startswith("pip ")]
    assert len(commands) >= 5
    assert any(line.startswith("fleetsim sweep") for line in commands)
    assert any(line.startswith("fleetsim plot") for line in commands)
    assert any("fleetsim.run(" in block and "goodput" in block for block in _blocks("python"))


def test_tutorial_links_resolve():
    text = TUTORIAL.read_text()
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    local = [target for target in targets if "://" not in target]
    assert local
    missing = [target for target in local if not (TUTORIAL.parent / target).exists()]
    assert not missing, f"broken links in the tutorial: {missing}"
