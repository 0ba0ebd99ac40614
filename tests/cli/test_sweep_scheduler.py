"""A sweep whose Dask scheduler cannot be reached fails in one line, exit 2, before it writes
anything: no new directory, and a directory the user had is left as it was (issue 13)."""

from __future__ import annotations

import pytest
import yaml

from fleetsim.cli import main

UNREACHABLE = "tcp://127.0.0.1:9"  # the discard port: nothing listens there


@pytest.fixture
def sweep_file(tmp_path, root):
    spec = {"name": "tiny", "base": str(root / "scenarios" / "quickstart.yaml"),
            "grid": {"jobs.pretrain.checkpoint.interval": ["30min", "2h"]}, "seeds": 1,
            "set": {"horizon": "1d"}}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.fixture(autouse=True)
def short_timeout(monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr("fleetsim.sweep.executors.DASK_CONNECT_TIMEOUT_S", 0.5)


def _fails(argv, capsys) -> str:
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1, error
    return error


def test_an_unreachable_scheduler_leaves_no_directory(tmp_path, sweep_file, capsys):
    out = tmp_path / "out"
    error = _fails(["sweep", str(sweep_file), "--out", str(out), "--scheduler", UNREACHABLE],
                   capsys)
    assert error.startswith(f"fleetsim: --scheduler: cannot reach the Dask scheduler at "
                            f"{UNREACHABLE}")
    assert not out.exists()


def test_an_unreachable_scheduler_leaves_an_existing_directory_as_it_was(tmp_path, sweep_file,
                                                                          capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me\n")
    _fails(["sweep", str(sweep_file), "--out", str(out), "--scheduler", UNREACHABLE], capsys)
    assert sorted(path.name for path in out.iterdir()) == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "keep me\n"


def test_a_malformed_address_is_one_line_too(tmp_path, sweep_file, capsys):
    out = tmp_path / "out"
    error = _fails(["sweep", str(sweep_file), "--out", str(out), "--scheduler", "no-port"],
                   capsys)
    assert "cannot reach the Dask scheduler at no-port" in error
    assert not out.exists()
