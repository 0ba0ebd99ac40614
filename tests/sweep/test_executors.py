"""Executors: in-process, local processes and Dask give the same results."""

from __future__ import annotations

import json
import multiprocessing
import sys

import pandas as pd
import pytest

from fleetsim.cli import main
from fleetsim.errors import FleetsimError
from fleetsim.sweep.driver import execute_sweep
from fleetsim.sweep.executors import (DaskExecutor, InProcessExecutor, ProcessExecutor,
                                      make_executor, start_method)


def _square(number: int) -> int:
    return number * number


def _fail_on_three(number: int) -> int:
    if number == 3:
        raise ValueError("three")
    return number


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["point", "seed"]).reset_index(drop=True)


def test_make_executor_picks_by_workers():
    assert isinstance(make_executor(workers=1), InProcessExecutor)
    assert isinstance(make_executor(workers=4, tasks=1), InProcessExecutor)
    with make_executor(workers=2, tasks=10) as executor:
        assert isinstance(executor, ProcessExecutor) and executor.workers == 2
    with pytest.raises(FleetsimError, match="--workers: must be >= 1"):
        make_executor(workers=0)
    with pytest.raises(FleetsimError, match="give one or the other"):
        make_executor(workers=2, scheduler="tcp://127.0.0.1:1")


@pytest.mark.parametrize("method", sorted({"forkserver", "spawn", "fork"}
                                           & set(multiprocessing.get_all_start_methods())
                                           - {"spawn"}))
def test_process_pool_maps_every_task_once(method):
    with ProcessExecutor(2, method=method) as executor:
        assert executor.method == method
        pairs = list(executor.map_unordered(_square, range(20)))
    assert sorted(pairs) == [(number, number * number) for number in range(20)]


def test_fork_only_without_threads(monkeypatch):
    monkeypatch.setattr("threading.active_count", lambda: 2)
    assert start_method() in ("forkserver", "spawn")
    monkeypatch.setattr("threading.active_count", lambda: 1)
    assert start_method() == ("fork" if sys.platform.startswith("linux") else "forkserver")


@pytest.mark.parametrize("executor", [InProcessExecutor, lambda: ProcessExecutor(2)])
def test_a_failing_task_raises_and_names_the_task(executor):
    with executor() as running:
        with pytest.raises(ValueError, match="three") as caught:
            list(running.map_unordered(_fail_on_three, range(6)))
    if sys.version_info >= (3, 11):
        assert "while running 3" in "\n".join(caught.value.__notes__)


def test_dask_missing_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(FleetsimError, match=r"pip install -e '\.\[dask\]'"):
        DaskExecutor("tcp://127.0.0.1:8786")


def test_an_unreachable_scheduler_is_one_line(monkeypatch):
    monkeypatch.setattr("fleetsim.sweep.executors.DASK_CONNECT_TIMEOUT_S", 0.3)
    with pytest.raises(FleetsimError, match="cannot reach the Dask scheduler at "
                                            "tcp://127.0.0.1:9"):
        DaskExecutor("tcp://127.0.0.1:9")


def test_local_processes_and_a_dask_cluster_give_the_same_results(tmp_path, sweep_file,
                                                                   capsys):
    distributed = pytest.importorskip("distributed")
    local = execute_sweep(sweep_file, tmp_path / "local", workers=2)
    assert local.ran == 8
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        dask = execute_sweep(sweep_file, tmp_path / "dask", scheduler=cluster.scheduler_address)
        with distributed.Client(cluster) as client:  # an existing client works too
            again = execute_sweep(sweep_file, None, scheduler=client)
        assert main(["sweep", str(sweep_file), "--out", str(tmp_path / "cli"), "--scheduler",
                     cluster.scheduler_address, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["ran"] == 8
    assert dask.ran == 8
    pd.testing.assert_frame_equal(_sorted(local.results), _sorted(dask.results))
    pd.testing.assert_frame_equal(_sorted(local.results), _sorted(again.results))
    for name in ("dask", "cli"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "local" / "results.parquet"),
                                      pd.read_parquet(tmp_path / name / "results.parquet"))
    in_process = execute_sweep(sweep_file, None, workers=1)
    pd.testing.assert_frame_equal(_sorted(local.results), _sorted(in_process.results))
