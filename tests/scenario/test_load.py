"""Scenario loading: units become SI floats, models are immutable, --set overrides any key."""

from __future__ import annotations

import pydantic
import pytest

from fleetsim.errors import ScenarioError
from fleetsim.scenario import load_scenario


def test_quickstart_loads_with_si_values(root):
    loaded = load_scenario(root / "scenarios" / "quickstart.yaml")
    spec = loaded.spec
    assert spec.horizon == 30 * 86400
    assert spec.faults.causes[1].mtbf == 2 * 365 * 86400
    job = spec.jobs[0]
    assert (job.gpus, job.step_time, job.steps) == (256, 6.0, 200000)
    assert job.checkpoint.interval == 1800 and job.checkpoint.save == 45
    assert loaded.gpus_per_node == 8


def test_models_are_immutable(root):
    spec = load_scenario(root / "scenarios" / "quickstart.yaml").spec
    with pytest.raises(pydantic.ValidationError):
        spec.jobs[0].gpus = 8


def test_set_addresses_a_job_by_name(root):
    loaded = load_scenario(root / "scenarios" / "quickstart.yaml",
                           overrides=["jobs.pretrain.checkpoint.interval=1h",
                                      "faults.causes.host.mtbf=1y", "cluster.spares=1"])
    assert loaded.spec.jobs[0].checkpoint.interval == 3600
    assert loaded.spec.faults.causes[1].mtbf == 365 * 86400
    assert loaded.spec.cluster.spares == 1


def test_set_by_index_and_seed(make_scenario):
    loaded = load_scenario(make_scenario(), overrides=[("jobs.0.steps", "1M")], seed=11)
    assert loaded.spec.jobs[0].steps == 1_000_000
    assert loaded.spec.seed == 11


def test_set_parses_values_as_yaml(make_scenario):
    loaded = load_scenario(make_scenario(), overrides=["jobs.train.checkpoint={policy: young, "
                                                       "save: 30s}"])
    assert loaded.spec.jobs[0].checkpoint.policy == "young"


def test_work_instead_of_steps(make_scenario):
    data = make_scenario(**{"jobs.0.steps": None, "jobs.0.work": "500h"})
    assert load_scenario(data).spec.jobs[0].work == 500 * 3600


def test_dict_input_is_not_modified(make_scenario):
    data = make_scenario()
    load_scenario(data, overrides=["jobs.train.steps=5"])
    assert data["jobs"][0]["steps"] == 20000


def test_node_from_a_file_path(tmp_path, root, make_scenario):
    node_file = tmp_path / "my-node.yaml"
    text = (root / "hardware" / "nodes" / "dgx-h100.yaml").read_text()
    node_file.write_text(text.replace("name: dgx-h100", "name: my-node")
                         .replace("accelerators: 8", "accelerators: 4"))
    scenario_file = tmp_path / "s.yaml"
    import yaml

    scenario_file.write_text(yaml.safe_dump(make_scenario(**{"cluster.node": "my-node.yaml",
                                                         "jobs.0.gpus": 16})))
    loaded = load_scenario(scenario_file)
    assert loaded.node.name == "my-node" and loaded.gpus_per_node == 4


def test_errors_carry_file_line_and_key(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: x\ncluster:\n  node: dgx-h100\n  nodes: 4\njobs:\n"
                    "  - name: a\n    type: training\n    gpus: 8\n    step_time: fast\n"
                    "    steps: 10\n")
    with pytest.raises(ScenarioError) as error:
        load_scenario(path)
    assert (error.value.file, error.value.line, error.value.key) == (str(path), 9,
                                                                    "jobs.a.step_time")
    assert "invalid duration 'fast'" in str(error.value)


@pytest.mark.parametrize("line, message, at", [
    ("", "jobs.a.type: required key is missing", 6),
    ("    type: trainin\n", "jobs.a.type: must be one of training, serving, got 'trainin'", 7)])
def test_a_job_without_a_known_type_names_the_key(tmp_path, line, message, at):
    """A job's ``type`` selects its spec: missing or misspelt, the error names the key and
    the allowed values, not pydantic's discriminator jargon."""
    path = tmp_path / "s.yaml"
    path.write_text("name: x\ncluster:\n  node: dgx-h100\n  nodes: 4\njobs:\n"
                    f"  - name: a\n{line}    gpus: 8\n    step_time: 1s\n    steps: 10\n")
    with pytest.raises(ScenarioError) as error:
        load_scenario(path)
    assert message in str(error.value)
    assert error.value.line == at
