"""What the command line imports: ``fleetsim --help`` and ``fleetsim validate`` must not load
pandas, pyarrow or matplotlib (they make startup slow; benchmarks/CLI_STARTUP.md has the
timings), while the public API still offers everything it did (issue 13, item lazy imports).

The checks run in a fresh interpreter, since this test process has imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("pandas", "pyarrow", "matplotlib")

PROBE = """
import json, sys
from fleetsim.cli import main
code = main({argv!r})
print(json.dumps({{"code": code, "modules": sorted(sys.modules)}}))
"""


def _modules_after(argv: list[str], cwd) -> set[str]:
    process = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], cwd=cwd,
                             capture_output=True, text=True, timeout=120)
    report = json.loads(process.stdout.splitlines()[-1])
    assert report["code"] == 0, process.stderr
    return {name.split(".")[0] for name in report["modules"]}


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["sweep", "--help"],
                                  ["validate", "scenarios/quickstart.yaml"],
                                  ["completion", "bash"]])
def test_help_and_validate_do_not_import_pandas_pyarrow_or_matplotlib(root, argv):
    loaded = _modules_after(argv, root)
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_help_does_not_import_the_simulator(root):
    loaded = _modules_after(["--help"], root)
    assert not loaded & {"networkx", "simpy", "numpy", "pydantic", "rich"}


def test_running_still_imports_what_it_needs(root, tmp_path):
    """The probe can see heavy modules: a run writes Parquet through pandas and pyarrow."""
    loaded = _modules_after(["run", "scenarios/quickstart.yaml", "--quiet", "--out",
                             str(tmp_path / "out")], root)
    assert {"pandas", "pyarrow", "simpy"} <= loaded


def test_the_public_api_is_unchanged(root):
    code = """
import fleetsim, sys
assert "pandas" not in sys.modules and "fleetsim.runner" not in sys.modules
from fleetsim import FleetsimError, ScenarioError, RunResult, load, run, sweep, __version__
import fleetsim.sweep
assert callable(fleetsim.sweep) and fleetsim.sweep is sweep
assert fleetsim.sweep.run_sweep is sweep.run_sweep
import fleetsim.prepare, fleetsim.runner
assert RunResult is fleetsim.runner.RunResult and load is fleetsim.prepare.load
assert set(fleetsim.__all__) <= set(dir(fleetsim))
try:
    fleetsim.no_such_name
except AttributeError as error:
    assert "no_such_name" in str(error)
else:
    raise SystemExit("missing AttributeError")
assert fleetsim.units.parse_duration("1h") == 3600.0  # subpackages, as before
assert callable(fleetsim.report.write_run)
result = fleetsim.run("scenarios/quickstart.yaml", overrides={"horizon": "1d"})
assert isinstance(result, RunResult)
print("ok")
"""
    process = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                             text=True, timeout=300)
    assert process.stdout == "ok\n", process.stderr
