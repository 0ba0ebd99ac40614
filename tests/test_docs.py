"""The documentation covers the code: every scenario key is in docs/reference/scenario.md and
every event kind and summary key in docs/guides/outputs.md."""

from __future__ import annotations

import typing

from pydantic import BaseModel

from fleetsim.engine.events import KINDS
from fleetsim.metrics import BUCKETS
from fleetsim.scenario.models import Scenario


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Documented spelling of every key: ``cluster.node``; list items' keys bare (``mtbf``).
    A workload's job templates (``workload.defaults``, ``workload.classes.job``) take the
    training-job keys documented under ``jobs``, so their inner keys are spelled bare too."""
    keys = []
    for name, field in model.model_fields.items():
        keys.append(prefix + name)
        bare = name in ("jobs", "causes") or f"{prefix}{name}" in _TEMPLATES
        nested_prefix = "" if bare else f"{prefix}{name}."
        for inner in _models_in(field.annotation):
            keys.extend(_keys(inner, nested_prefix))
    return keys


_TEMPLATES = ("workload.defaults", "workload.classes.job")


def _models_in(annotation) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for argument in typing.get_args(annotation) for model in _models_in(argument)]


def test_every_scenario_key_is_documented(root):
    text = (root / "docs" / "reference" / "scenario.md").read_text()
    missing = [key for key in _keys(Scenario) if f"`{key}`" not in text]
    assert not missing, f"undocumented scenario keys: {missing}"


def test_every_output_is_documented(root):
    text = (root / "docs" / "guides" / "outputs.md").read_text()
    names = [*KINDS, *BUCKETS, "interruptions_by_cause", "failures_by_cause", "sim_time_s",
             "steps_completed", "utilization", "gpus_busy", "gpus_down", "gpus_spare",
             "gpus_idle", "goodput.<job>", "goodput_window.<job>"]
    missing = [name for name in names if f"`{name}`" not in text and f".{name}`" not in text]
    assert not missing, f"undocumented outputs: {missing}"
