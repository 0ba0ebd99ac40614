"""Every kind of bad input gives one line ``FILE:LINE: key.path: what is wrong``, exit 2, and
writes nothing (issue: foundation, item 7)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from fleetsim.cli import main

ONE_LINE = re.compile(r"^fleetsim: \S+:(\d+|--set): [\w.\-]+: .+\n$")

# (description, text substitution on quickstart.yaml, expected key, words in the message)
BAD_FILES = [
    ("unknown key", ("  spares: 2 ", "  spare: 2 "), "cluster.spare",
     "unknown key (did you mean 'spares'?)"),
    ("unknown node type", ("node: dgx-h100", "node: dgx-h1000"), "cluster.node",
     "unknown node type 'dgx-h1000'"),
    ("negative duration", ("detection: 2min", "detection: -2min"), "faults.detection",
     "must be >= 0"),
    ("zero MTBF", ("mtbf: 2y", "mtbf: 0h"), "faults.causes.host.mtbf", "must be > 0"),
    ("negative MTBF", ("mtbf: 50000h", "mtbf: -5h"), "faults.causes.gpu.mtbf", "must be > 0"),
    ("GPUs not a multiple of the node", ("gpus: 256", "gpus: 252"), "jobs.pretrain.gpus",
     "not a multiple of the node size"),
    ("GPUs larger than the cluster", ("gpus: 256", "gpus: 2560"), "jobs.pretrain.gpus",
     "do not fit the cluster"),
    ("neither steps nor work", ("    steps: 200000 ", "    # "), "jobs.pretrain",
     "exactly one of steps"),
    ("unit missing", ("step_time: 6s", "step_time: 6"), "jobs.pretrain.step_time",
     "needs a unit"),
    ("bad unit", ("interval: 30min", "interval: 30mins"), "jobs.pretrain.checkpoint.interval",
     "unknown unit 'mins'"),
    ("unknown policy", ("policy: fixed ", "policy: fixd "), "jobs.pretrain.checkpoint.policy",
     "unknown checkpoint policy 'fixd' (known: fixed, young, daly, none)"),
    ("fractional count", ("  nodes: 34 ", "  nodes: 3.5 "), "cluster.nodes", "whole number"),
    ("spares take every node", ("  spares: 2 ", "  spares: 34 "), "cluster.spares",
     "leave no node"),
]


def _write_variant(tmp_path, root, old, new):
    text = (root / "scenarios" / "quickstart.yaml").read_text()
    assert old in text, old
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


def _line_of(path, needle):
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


@pytest.mark.parametrize("what, change, key, words", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_scenario_gives_one_line_and_exit_2(tmp_path, root, capsys, what, change, key, words):
    path = _write_variant(tmp_path, root, *change)
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert ONE_LINE.match(captured.err), captured.err
    assert f": {key}: " in captured.err and words in captured.err, captured.err
    assert not out.exists(), "nothing may be written for bad input"


def test_the_line_number_points_at_the_key(tmp_path, root, capsys):
    path = _write_variant(tmp_path, root, "detection: 2min", "detection: -2min")
    main(["validate", str(path)])
    line = _line_of(path, "detection: -2min")
    assert capsys.readouterr().err.startswith(f"fleetsim: {path}:{line}: faults.detection:")


def test_malformed_yaml(tmp_path, capsys):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\ncluster: [\n")
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"fleetsim: {path}:3: malformed YAML") and err.count("\n") == 1


def test_duplicate_key(tmp_path, capsys):
    path = tmp_path / "dup.yaml"
    path.write_text("name: x\nseed: 1\nseed: 2\n")
    assert main(["validate", str(path)]) == 2
    assert "dup.yaml:3: seed: duplicate key 'seed'" in capsys.readouterr().err


@pytest.mark.parametrize("assignment, words", [
    ("jobs.nope.steps=3", "jobs.nope: no item named 'nope' (known: pretrain)"),
    ("jobs.pretrain.checkpoint.interval=1x", "jobs.pretrain.checkpoint.interval: invalid "
                                             "duration '1x'"),
    ("jobs.pretrain.checkpoint.intervall=1h", "intervall: unknown key (did you mean 'interval'?)"),
    ("jobs.pretrain.gpus=-8", "jobs.pretrain.gpus: must be > 0"),
    ("steps", "expected key.path=value"),
    ("name.x=3", "name is a value, not a section"),
    # pydantic's type errors in a reader's words, never "Input should be a valid tuple"
    ("seed=1e400", "seed: expected a whole number, got '1e400'"),
    ("seed=1.5", "seed: expected a whole number, got 1.5"),
    ("jobs=true", "jobs: expected a list, got true"),
    ("faults=3", "faults: expected a mapping, got 3"),
    ("jobs.pretrain.checkpoint.policy=[1]", "policy: expected a string, got [1]"),
])
def test_bad_set(root, capsys, assignment, words):
    assert main(["run", str(root / "scenarios" / "quickstart.yaml"), "--set", assignment]) == 2
    err = capsys.readouterr().err
    assert ":--set: " in err and words in err and err.count("\n") == 1, err


def test_missing_file(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: file not found" in capsys.readouterr().err


def test_no_traceback_from_the_installed_command(tmp_path, root):
    """The real entry point (``python -m fleetsim``) exits 2 with one stderr line."""
    path = _write_variant(tmp_path, root, "gpus: 256", "gpus: 252")
    process = subprocess.run([sys.executable, "-m", "fleetsim", "run", str(path)],
                             capture_output=True, text=True)
    assert process.returncode == 2
    assert process.stdout == "" and "Traceback" not in process.stderr
    assert process.stderr.count("\n") == 1


def test_outputs_of_an_earlier_run_are_not_overwritten(tmp_path, root, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text("precious")
    scenario = str(root / "scenarios" / "quickstart.yaml")
    assert main(["run", scenario, "--out", str(out), "--quiet"]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "summary.json").read_text() == "precious"
    assert main(["run", scenario, "--out", str(out), "--quiet", "--force"]) == 0
    assert (out / "summary.json").read_text() != "precious"


# (description, substitution on llama3-405b-16k.yaml, expected key, words in the message)
BAD_MODEL_JOBS = [
    ("model does not fit", ("      zero: 2\n", "      zero: 0\n"),
     "jobs.pretrain.parallelism", "the model does not fit"),
    ("parallelism does not divide", ("      pp: 16\n", "      pp: 12\n"),
     "jobs.pretrain.parallelism", "does not divide gpus 16384"),
    ("tp does not divide heads", ("      tp: 8\n", "      tp: 256\n"),
     "jobs.pretrain.parallelism.tp", "does not divide the model's 128 attention heads"),
    ("unknown preset", ("model: llama3-405b", "model: llama3-406b"), "jobs.pretrain.model",
     "unknown model preset 'llama3-406b'"),
    ("batch not whole sequences", ("global_batch: 16Mi tokens", "global_batch: 16M tokens"),
     "jobs.pretrain.global_batch", "not a whole number of 8192-token sequences"),
    ("bad batch unit", ("global_batch: 16Mi tokens", "global_batch: 16Mi bytes"),
     "jobs.pretrain.global_batch", "invalid batch"),
    ("both step_time and model", ("    micro_batch: 1", "    step_time: 6s"), "jobs.pretrain",
     "exactly one of step_time"),
]


@pytest.mark.parametrize("what, change, key, words", BAD_MODEL_JOBS,
                         ids=[b[0] for b in BAD_MODEL_JOBS])
def test_bad_model_job(tmp_path, root, capsys, what, change, key, words):
    text = (root / "scenarios" / "llama3-405b-16k.yaml").read_text()
    assert change[0] in text, change[0]
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace(change[0], change[1], 1))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert ONE_LINE.match(err), err
    assert f": {key}: " in err and words in err, err
