"""Sweep files: expansion into points, seeds (common random numbers), run keys, validation."""

from __future__ import annotations

import pytest

from fleetsim.errors import ScenarioError
from fleetsim.sweep.spec import load_sweep
from tests.sweep.conftest import QUICKSTART, tiny_spec, write_spec


def test_grid_is_the_full_factorial_first_key_slowest():
    plan = load_sweep(tiny_spec(grid={"faults.causes.gpu.mtbf": ["5000h", "50000h"],
                                      "jobs.pretrain.checkpoint.interval": ["10min", "1h",
                                                                             "2h"]}))
    assert plan.parameters == ("faults.causes.gpu.mtbf", "jobs.pretrain.checkpoint.interval")
    assert [dict(point.params) for point in plan.points] == [
        {"faults.causes.gpu.mtbf": mtbf, "jobs.pretrain.checkpoint.interval": interval}
        for mtbf in ("5000h", "50000h") for interval in ("10min", "1h", "2h")]
    assert [point.index for point in plan.points] == list(range(6))


def test_zip_pairs_lists_and_combines_with_the_grid():
    plan = load_sweep(tiny_spec(
        grid={"faults.causes.gpu.mtbf": ["5000h", "50000h"]},
        zip={"jobs.pretrain.checkpoint.policy": ["fixed", "young"],
             "jobs.pretrain.checkpoint.interval": ["1h", None]}))
    assert plan.parameters == ("faults.causes.gpu.mtbf", "jobs.pretrain.checkpoint.policy",
                               "jobs.pretrain.checkpoint.interval")
    assert [point.params for point in plan.points] == [
        (("faults.causes.gpu.mtbf", mtbf), ("jobs.pretrain.checkpoint.policy", policy),
         ("jobs.pretrain.checkpoint.interval", interval))
        for mtbf in ("5000h", "50000h") for policy, interval in (("fixed", "1h"),
                                                                 ("young", None))]


def test_zip_alone():
    plan = load_sweep(tiny_spec(grid={}, zip={"cluster.spares": [0, 1, 2],
                                              "faults.repair": ["1h", "2h", "4h"]}))
    assert [dict(point.params) for point in plan.points] == [
        {"cluster.spares": 0, "faults.repair": "1h"}, {"cluster.spares": 1, "faults.repair": "2h"},
        {"cluster.spares": 2, "faults.repair": "4h"}]


def test_common_random_numbers_every_point_uses_the_same_seeds():
    plan = load_sweep(tiny_spec(seeds=3))
    scenario_seed = 1  # scenarios/quickstart.yaml
    assert plan.seeds == (scenario_seed, scenario_seed + 1, scenario_seed + 2)
    by_point: dict[int, list[int]] = {}
    for task in plan.tasks():
        by_point.setdefault(task.point, []).append(task.seed)
    assert all(seeds == list(plan.seeds) for seeds in by_point.values())
    assert len(by_point) == len(plan.points)


def test_seed_sets_the_first_replicate_and_a_list_is_used_as_is():
    assert load_sweep(tiny_spec(seeds=2, seed=100)).seeds == (100, 101)
    assert load_sweep(tiny_spec(seeds=[7, 3, 11])).seeds == (7, 3, 11)


def test_run_keys_are_unique_and_do_not_depend_on_the_order_of_the_file():
    first = load_sweep(tiny_spec())
    grid = dict(reversed(list(tiny_spec()["grid"].items())))
    second = load_sweep(tiny_spec(grid=grid, name="other"))
    keys = [task.key for task in first.tasks()]
    assert len(set(keys)) == len(keys) == 8
    assert set(keys) == {task.key for task in second.tasks()}
    assert first.fingerprint() == second.fingerprint()
    changed = load_sweep(tiny_spec(set={"horizon": "3d"}))
    assert not set(keys) & {task.key for task in changed.tasks()}


def test_the_base_content_is_in_the_run_key_but_not_its_comments(tmp_path):
    text = QUICKSTART.read_text()
    (tmp_path / "a.yaml").write_text(text)
    (tmp_path / "b.yaml").write_text("# a comment\n" + text)
    (tmp_path / "c.yaml").write_text(text.replace("detection: 2min", "detection: 3min"))
    keys = {name: load_sweep(tiny_spec(base=str(tmp_path / name))).fingerprint()
            for name in ("a.yaml", "b.yaml", "c.yaml")}
    assert keys["a.yaml"] == keys["b.yaml"] != keys["c.yaml"]


def test_a_relative_base_is_read_relative_to_the_sweep_file(tmp_path):
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "q.yaml").write_text(QUICKSTART.read_text())
    (tmp_path / "sweeps").mkdir()
    path = write_spec(tmp_path / "sweeps", tiny_spec(base="../scenarios/q.yaml"))
    plan = load_sweep(path)
    assert plan.base_data["name"] == "quickstart"
    assert plan.name == "tiny"


def test_an_inline_base_mapping(make_scenario):
    plan = load_sweep({"base": make_scenario(), "grid": {"jobs.train.steps": [100, 200]}})
    assert len(plan.points) == 2 and plan.base_file is None


def _error(tmp_path, spec: dict) -> str:
    path = write_spec(tmp_path, spec)
    with pytest.raises(ScenarioError) as caught:
        load_sweep(path)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_bad_value_in_one_grid_point_names_its_line_and_index(tmp_path):
    spec = tiny_spec(grid={"faults.causes.gpu.mtbf": ["5000h", "1x", "50000h"]})
    message = _error(tmp_path, spec)
    assert message.startswith(f"{tmp_path / 'sweep.yaml'}:")
    assert "grid.faults.causes.gpu.mtbf[1]: invalid duration '1x'" in message
    line = int(message.split(":")[1])
    assert "1x" in (tmp_path / "sweep.yaml").read_text().splitlines()[line - 1]


def test_a_bad_key_names_the_key(tmp_path):
    message = _error(tmp_path, tiny_spec(grid={"faults.causes.gpu.mtbff": ["5000h"]}))
    assert "grid.faults.causes.gpu.mtbff: unknown key" in message
    message = _error(tmp_path, tiny_spec(grid={"faults.causes.gpux.mtbf": ["5000h"]}))
    assert "no item named 'gpux'" in message


def test_zip_lists_of_different_lengths(tmp_path):
    message = _error(tmp_path, tiny_spec(grid={}, zip={"cluster.spares": [1, 2],
                                                       "faults.repair": ["1h"]}))
    assert "zip.faults.repair: has 1 value but zip.cluster.spares has 2 values" in message


@pytest.mark.parametrize("changes, expected", [
    ({"seedz": 3}, "seedz: unknown key (did you mean 'seed'?)"),
    ({"grid": {"cluster.nodes": []}}, "grid.cluster.nodes: must be of length at least 1"),
    ({"seeds": 0}, "seeds"),
    ({"seeds": [1, 1]}, "seeds: seed 1 is listed twice"),
    ({"grid": {"seed": [1, 2]}}, "grid.seed: seeds are swept with `seeds:`"),
    ({"set": {"horizon": "2d", "cluster.spares": 1}, "grid": {"cluster.spares": [1, 2]}},
     "grid.cluster.spares: also in set"),
    ({"set": {"horizon": "-2d"}}, "set.horizon: must be > 0, got '-2d'"),
    ({"base": "missing.yaml"}, "base: base scenario"),
])
def test_bad_sweep_files(tmp_path, changes, expected):
    assert expected in _error(tmp_path, tiny_spec(**changes))


def test_a_point_failing_a_check_across_keys_is_named(tmp_path):
    spec = tiny_spec(grid={"cluster.nodes": [34, 10]})  # 256 GPUs do not fit 10 nodes
    message = _error(tmp_path, spec)
    assert "grid.cluster.nodes[1]: point 1 (cluster.nodes=10) does not load" in message
    assert "do not fit the cluster" in message
