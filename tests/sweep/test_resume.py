"""Kill a sweep mid-way (SIGKILL), run it again: every run once, values as uninterrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

import fleetsim
from fleetsim.cli import main
from fleetsim.sweep.store import RUNS_FILE

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

#: A sweep in a subprocess whose worker is patched: after K runs it kills its own process
#: (K >= 0), or sleeps before each run so that the test can kill it from outside (K < 0).
SCRIPT = textwrap.dedent("""
    import os, signal, sys, time
    import fleetsim.sweep.worker as worker

    real = worker.run_summary
    done = [0]
    kill_after = int(sys.argv[3])

    def patched(base, task):
        if kill_after >= 0 and done[0] == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
        if kill_after < 0:
            time.sleep(0.15)
        done[0] += 1
        return real(base, task)

    worker.run_summary = patched
    import fleetsim
    fleetsim.sweep(sys.argv[1], out=sys.argv[2], workers=1)
""")


def _records(out) -> list[dict]:
    return [json.loads(line) for line in (out / RUNS_FILE).read_text().splitlines()]


def _script(tmp_path):
    path = tmp_path / "dying_sweep.py"
    path.write_text(SCRIPT)
    return path


def _environment():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _check_resumed(tmp_path, sweep_file, out, capsys):
    assert main(["sweep", str(sweep_file), "--out", str(out), "--workers", "1"]) == 0
    assert "8 runs (" in capsys.readouterr().out
    records = _records(out)
    assert len(records) == 8
    assert len({record["key"] for record in records}) == 8
    assert sorted((record["point"], record["seed"]) for record in records) == sorted(
        (point, seed) for point in range(4) for seed in (1, 2))
    uninterrupted = fleetsim.sweep(sweep_file, out=tmp_path / "uninterrupted", workers=1)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), uninterrupted)


def test_a_sweep_killed_after_k_runs_resumes(tmp_path, sweep_file, capsys):
    out = tmp_path / "out"
    process = subprocess.run([sys.executable, str(_script(tmp_path)), str(sweep_file),
                              str(out), "3"], capture_output=True, text=True, timeout=120,
                             env=_environment())
    assert process.returncode == -signal.SIGKILL, process.stderr
    assert len(_records(out)) == 3
    assert not (out / "results.parquet").exists()
    with open(out / RUNS_FILE, "a") as runs:  # as if killed while writing the 4th line
        runs.write('{"key": "1234", "point": 1, "se')
    _check_resumed(tmp_path, sweep_file, out, capsys)


def test_a_sweep_killed_from_outside_resumes(tmp_path, sweep_file, capsys):
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, str(_script(tmp_path)), str(sweep_file),
                                str(out), "-1"], env=_environment(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    runs = out / RUNS_FILE
    while time.monotonic() < deadline and process.poll() is None:
        if runs.exists() and runs.read_text().count("\n") >= 2:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, process.stderr.read()
    done = len(_records(out))
    assert 2 <= done < 8
    _check_resumed(tmp_path, sweep_file, out, capsys)


WORKERS_SCRIPT = textwrap.dedent("""
    import multiprocessing, os, time
    from fleetsim.sweep.executors import ProcessExecutor

    def slow(number):
        time.sleep(0.2)
        return number

    if __name__ == "__main__":
        executor = ProcessExecutor(2)
        results = executor.map_unordered(slow, range(50))
        next(results)
        pids = [process.pid for process in multiprocessing.active_children()]
        print(" ".join(map(str, pids)), flush=True)
        time.sleep(60)
""")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_worker_processes_exit_when_the_sweep_is_killed(tmp_path):
    script = tmp_path / "workers.py"
    script.write_text(WORKERS_SCRIPT)
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                               text=True, env=_environment())
    try:
        pids = [int(pid) for pid in process.stdout.readline().split()]
    finally:
        process.kill()
        process.wait(timeout=30)
    assert pids and all(pid != process.pid for pid in pids)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in pids)
