"""Bad serving-job input gives one line ``FILE:LINE: key.path: what``, exit 2 (as for training
jobs, tests/cli/test_bad_input.py), checked with ``fleetsim validate``."""

from __future__ import annotations

import re

import pytest

from fleetsim.cli import main

ONE_LINE = re.compile(r"^fleetsim: \S+:(\d+): [\w.\-]+: .+\n$")

# (description, substitution on scenarios/chat-serving.yaml, expected key, words)
BAD = [
    ("unknown router", ("router: join-shortest-queue", "router: shortest"), "jobs.chat.router",
     "unknown router 'shortest' (known: random, round-robin,"),
    ("model does not fit", ("    tp: 4\n", "    tp: 1\n"), "jobs.chat.model",
     "leave no room for a KV block"),
    ("tp beyond the node", ("    tp: 4\n", "    tp: 16\n"), "jobs.chat.tp", "within a node"),
    ("tp x pp does not divide the node", ("    tp: 4\n", "    tp: 3\n"), "jobs.chat.tp",
     "must divide"),
    ("negative rate", ("mean_rate: 6/s", "mean_rate: -6/s"), "jobs.chat.arrivals.mean_rate",
     "must be > 0"),
    ("bad rate unit", ("mean_rate: 6/s", "mean_rate: 6/fortnight"),
     "jobs.chat.arrivals.mean_rate", "invalid rate"),
    ("parameter of another process", ("      peak_to_trough: 3\n", "      rate: 3/s\n"),
     "jobs.chat.arrivals", "not a parameter of process 'diurnal'"),
    ("missing output lengths", ("    output_tokens: {distribution: lognormal, mean: 250, "
                                "sigma: 0.8}\n", ""), "jobs.chat",
     "needs prompt_tokens and output_tokens"),
    ("unknown batching policy", ("policy: continuous", "policy: greedy"),
     "jobs.chat.batching.policy", "unknown batching policy 'greedy'"),
    ("parameter the policy does not take", ("max_batch_size: 256}", "batch_size: 16}"),
     "jobs.chat.batching", "unexpected keyword argument 'batch_size'"),
    ("trace file missing", ("      process: diurnal ", "      file: trace.csv\n"
                            "      process: trace "), "jobs.chat.arrivals",
     "not a parameter of process 'trace'"),
    ("neither requests nor horizon", ("horizon: 6h ", "# horizon: 6h "), "jobs.chat",
     "needs requests"),
    ("too many replicas", ("replicas: 4", "replicas: 40"), "jobs.chat.replicas",
     "need 20 nodes"),
    ("lognormal without mean", ("{distribution: lognormal, mean: 600, sigma: 0.9}",
                                "{distribution: lognormal, sigma: 0.9}"),
     "jobs.chat.prompt_tokens", "needs mean"),
]


@pytest.mark.parametrize("what, change, key, words", BAD, ids=[b[0] for b in BAD])
def test_bad_serving_job_is_one_line(tmp_path, root, capsys, what, change, key, words):
    text = (root / "scenarios" / "chat-serving.yaml").read_text()
    old, new = change
    assert old in text, old
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace(old, new, 1))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert ONE_LINE.match(err), err
    assert f": {key}: " in err and words in err, err


def test_missing_trace_file_names_the_key(tmp_path, capsys):
    path = tmp_path / "trace.yaml"
    path.write_text("name: t\nhorizon: 1h\ncluster: {node: dgx-h100, nodes: 1}\njobs:\n"
                    "  - name: s\n    type: serving\n    model: llama3-8b\n    replicas: 1\n"
                    "    arrivals: {process: trace, file: nowhere.csv}\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert ":9: jobs.s.arrivals.file: file " in err and "not found" in err, err


def test_trace_replay_validates_and_runs(tmp_path):
    """A CSV trace gives arrival times and lengths; its requests are replayed exactly."""
    import fleetsim

    (tmp_path / "trace.csv").write_text("time_s,prompt_tokens,output_tokens\n"
                                        "0.5,100,10\n1.0,200,20\n4.0,50,5\n")
    path = tmp_path / "trace.yaml"
    path.write_text("name: t\nhorizon: 1h\ncluster: {node: dgx-h100, nodes: 1}\njobs:\n"
                    "  - name: s\n    type: serving\n    model: llama3-8b\n    replicas: 1\n"
                    "    arrivals: {process: trace, file: trace.csv}\n")
    table = fleetsim.run(path).requests
    assert table["arrival_s"].tolist() == [0.5, 1.0, 4.0]
    assert table["prompt_tokens"].tolist() == [100, 200, 50]
    assert table["finish_s"].notna().all()
