"""A node type given as a file (``cluster.node: ./my-node.yaml``) is user input like the
scenario: every value has a finite range (fleetsim/hardware/models.py on fleetsim/kinds.py),
and a bad one is refused in one line ``FILE:LINE: key: ...`` with exit code 2."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fleetsim.cli import main

ROOT = Path(__file__).resolve().parents[2]
NODE = (ROOT / "hardware" / "nodes" / "dgx-h100.yaml").read_text()
ONE_LINE = re.compile(r"^fleetsim: \S+node\.yaml:\d+: [\w.\[\]]+: [^\n]+\n$")


@pytest.mark.parametrize("old, new, key", [
    ("accelerators: 8", "accelerators: true", "accelerators"),        # a bool is not a count
    ("accelerators: 8", "accelerators: 1000000000", "accelerators"),  # beyond any node
    ("busy: 10.2kW", "busy: 1e308W", "power.busy"),                   # beyond any node
    ("switches: 4", "switches: -1", "scale_up.switches"),
    ("count: 8", "count: 0", "nics.count"),
    ("name: dgx-h100", "name: " + "x" * 5000, "name"),                # bounded strings
])
def test_a_bad_node_file_value_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture,
                                           old: str, new: str, key: str) -> None:
    assert old in NODE
    (tmp_path / "node.yaml").write_text(NODE.replace(old, new, 1))
    scenario = (ROOT / "scenarios" / "quickstart.yaml").read_text()
    scenario = re.sub(r"(?m)^(\s*node:).*$", r"\1 ./node.yaml", scenario, count=1)
    (tmp_path / "s.yaml").write_text(scenario)
    assert main(["validate", str(tmp_path / "s.yaml")]) == 2
    error = capsys.readouterr().err
    assert ONE_LINE.match(error), error
    assert f": {key}: " in error, error
