"""Bad command-line arguments: one line ``fleetsim COMMAND: --option: what is wrong`` on stderr,
exit code 2, nothing written, and a "did you mean" for a mistyped command or option
(issue 13, items CLI errors and "did you mean")."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fleetsim.cli import main
from fleetsim.commands.arguments import (MAX_MESSAGE_CHARS, join_negative_values, one_line)

QUICKSTART = "scenarios/quickstart.yaml"


def _fails(capsys, argv: list[str]) -> str:
    """Run ``fleetsim argv`` in this process; it must exit 2 with one line on stderr."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.endswith("\n"), captured.err
    assert "usage:" not in captured.err and "Traceback" not in captured.err
    return captured.err.rstrip("\n")


@pytest.mark.parametrize("argv, expected", [
    (["run", QUICKSTART, "--seed", "abc"],
     "fleetsim run: --seed: expected a whole number, got 'abc' (allowed: 0 to 2**63-1)"),
    (["run", QUICKSTART, "--seed", "-1"],
     "fleetsim run: --seed: must be >= 0 and <= 2**63-1, got -1"),
    (["run", QUICKSTART, f"--seed={2**63}"],
     f"fleetsim run: --seed: must be >= 0 and <= 2**63-1, got {2**63}"),
    (["validate", QUICKSTART, "--seed", "1" * 5000],
     "fleetsim validate: --seed: expected a whole number"),
    (["topo", QUICKSTART, "--seed", "1.5"], "fleetsim topo: --seed: expected a whole number"),
    (["run"], "fleetsim run: the following arguments are required: scenario"),
    (["run", QUICKSTART, "--out", ""], "fleetsim run: --out: must not be empty"),
    (["run", QUICKSTART, "--out", "x" * 5000], "fleetsim run: --out: is 5,000 characters long"),
    (["sweep", "s.yaml", "--out", "sweep-out", "--workers", "0"],
     "fleetsim sweep: --workers: must be >= 1 and <= 1024, got 0"),
    (["sweep", "s.yaml", "--out", "sweep-out", "--workers", "many"],
     "fleetsim sweep: --workers: expected a whole number, got 'many'"),
    (["sweep", "s.yaml", "--out", ""], "fleetsim sweep: --out: must not be empty"),
    (["completion", "fish"], "fleetsim completion: shell: invalid choice: 'fish'"),
])
def test_a_bad_argument_is_one_line(capsys, root, monkeypatch, argv, expected):
    monkeypatch.chdir(root)
    assert _fails(capsys, argv).startswith(expected)


@pytest.mark.parametrize("argv, expected", [
    (["rn", QUICKSTART], "fleetsim: unknown command 'rn' (did you mean 'run'?)"),
    (["valdate", QUICKSTART], "fleetsim: unknown command 'valdate' (did you mean 'validate'?)"),
    (["swep"], "fleetsim: unknown command 'swep' (did you mean 'sweep'?)"),
    (["hardware", "shwo", "h100"],
     "fleetsim hardware: unknown command 'shwo' (did you mean 'show'?)"),
    (["hardware", "lst"], "fleetsim hardware: unknown command 'lst' (did you mean 'list'?)"),
    (["zzzz"], "fleetsim: unknown command 'zzzz' (allowed: run, validate, hardware, completion,"),
    (["run", QUICKSTART, "--sed", "3"],
     "fleetsim: unknown option '--sed' (did you mean '--seed'?)"),
    (["run", QUICKSTART, "--jsno"], "fleetsim: unknown option '--jsno' (did you mean '--json'?)"),
    (["run", QUICKSTART, "surplus"], "fleetsim: unexpected argument 'surplus'"),
    # an option of other commands is named as such, not "did you mean" itself
    (["validate", QUICKSTART, "--json"], "fleetsim: unknown option '--json' for this command "
     "(an option of collective, run, sweep, topo; see --help)"),
])
def test_did_you_mean(capsys, root, monkeypatch, argv, expected):
    monkeypatch.chdir(root)
    assert _fails(capsys, argv).startswith(expected)


def test_an_unknown_hardware_name_gets_the_closest(capsys):
    assert main(["hardware", "show", "dgx-h10"]) == 2
    assert capsys.readouterr().err == ("fleetsim: hardware show: unknown name 'dgx-h10' "
                                       "(did you mean 'dgx-h100'?)\n")


@pytest.mark.parametrize("argv", [["run", QUICKSTART, "--resolution", "-1h"],
                                  ["run", QUICKSTART, "--resolution=-1h"],
                                  ["run", QUICKSTART, "--resolution", "-.5h"]])
def test_a_negative_duration_reaches_the_check_and_is_refused(capsys, root, monkeypatch, argv):
    """argparse alone takes ``-1h`` for an option and says the value is missing."""
    monkeypatch.chdir(root)
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "output.resolution: must be > 0, got '-" in error


def test_negative_values_are_joined_to_their_option_only():
    options = {"--resolution", "--seed"}
    assert join_negative_values(["run", "s.yaml", "--resolution", "-1h", "--quiet"], options) == [
        "run", "s.yaml", "--resolution=-1h", "--quiet"]
    assert join_negative_values(["--resolution", "--seed", "-3"], options) == [
        "--resolution", "--seed=-3"]
    assert join_negative_values(["--force", "-1h"], options) == ["--force", "-1h"]
    assert join_negative_values(["--", "--seed", "-3"], options) == ["--", "--seed", "-3"]


def test_one_line_escapes_newlines_and_cuts_a_huge_text():
    assert one_line("a\nb\tc") == "a\\nb\\tc"
    cut = one_line("x" * 10**6)
    assert len(cut) < MAX_MESSAGE_CHARS + 40 and cut.endswith("(1,000,000 characters)")


def _unwritable_places(tmp_path) -> list[tuple[str, str]]:
    """(path, words of the error) for --out places that cannot hold a run's files."""
    a_file = tmp_path / "a-file"
    a_file.write_text("mine\n")
    return [(str(a_file / "out"), "is a file, not a directory"),
            (str(a_file), "exists and is not a directory"),
            ("/proc/fleetsim-out", "cannot write in /proc"),
            ("/dev/null", "exists and is not a directory")]


def test_unwritable_out_fails_before_the_run(capsys, tmp_path, root, monkeypatch):
    monkeypatch.chdir(root)
    for place, words in _unwritable_places(tmp_path):
        for argv in (["run", QUICKSTART, "--out", place],
                     ["sweep", "no-such-sweep.yaml", "--out", place]):
            error = _fails(capsys, argv)
            assert words in error, (argv, error)
    assert (tmp_path / "a-file").read_text() == "mine\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a-file"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only directory")
def test_read_only_out_fails_before_the_run(capsys, tmp_path, root, monkeypatch):
    monkeypatch.chdir(root)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        assert "cannot write in" in _fails(capsys, ["run", QUICKSTART, "--out",
                                                    str(locked / "out")])
    finally:
        locked.chmod(0o755)


def test_output_files_are_checked_too(capsys, tmp_path, root, monkeypatch):
    monkeypatch.chdir(root)
    a_file = tmp_path / "a-file"
    a_file.write_text("mine\n")
    assert "is a file, not a directory" in _fails(
        capsys, ["topo", QUICKSTART, "--export", str(a_file / "g.graphml")])
    assert "is a directory" in _fails(
        capsys, ["plot", str(tmp_path), "--x", "a", "--y", "b", "--out", str(tmp_path)])
    assert "must not be empty" in _fails(
        capsys, ["plot", str(tmp_path), "--x", "a", "--y", "b", "--out", ""])


def test_the_installed_command_prints_one_line_for_a_bad_seed(root):
    """As a user sees it: no usage block, exit code 2."""
    process = subprocess.run([sys.executable, "-m", "fleetsim", "run", QUICKSTART, "--seed",
                              "abc"], cwd=root, capture_output=True, text=True, timeout=120)
    assert process.returncode == 2
    assert process.stdout == ""
    assert process.stderr == ("fleetsim run: --seed: expected a whole number, got 'abc' "
                              "(allowed: 0 to 2**63-1)\n")


def test_checking_an_output_place_leaves_nothing_behind(tmp_path):
    """The writability probe is removed at once; a new --out DIR is not made by the check."""
    from fleetsim.commands.arguments import output_dir, output_file

    existing = tmp_path / "existing"
    existing.mkdir()
    assert output_dir(str(tmp_path / "new" / "deeper")) == str(tmp_path / "new" / "deeper")
    assert output_dir(str(existing)) == str(existing)
    assert output_file(str(existing / "graph.graphml")) == str(existing / "graph.graphml")
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["existing"]


@pytest.mark.parametrize("unbuffered", ["1", ""])
def test_a_reader_that_leaves_early_gets_no_traceback(root, unbuffered):
    """``fleetsim hardware list | head -1``: a closed pipe ends the command quietly with exit
    code 141, whether stdout is buffered or not (the reader is gone before the first write)."""
    environment = {key: value for key, value in os.environ.items()
                   if key != "PYTHONUNBUFFERED"}
    if unbuffered:
        environment["PYTHONUNBUFFERED"] = unbuffered
    process = subprocess.Popen([sys.executable, "-m", "fleetsim", "hardware", "list"], cwd=root,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    error = process.stderr.read()
    assert process.wait(timeout=120) == 141
    assert error == b""
