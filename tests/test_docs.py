"""The documentation covers the code: every scenario key is in docs/reference/scenario.md,
every event kind and summary key in docs/guides/outputs.md, and the Python API's signatures,
result fields and errors in docs/reference/api.md (checked against the code itself); the
citation and the package metadata agree."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import re
import typing

import yaml
from pydantic import BaseModel

import fleetsim

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


# -- the API reference (docs/reference/api.md) ----------------------------------------------------

_SIGNATURE_BLOCK = re.compile(r"^### `(?P<name>[\w.]+)`\n\n```py\n(?P<signature>.+?)\n```",
                              re.MULTILINE)


def _api_page(root) -> str:
    return (root / "docs" / "reference" / "api.md").read_text(encoding="utf-8")


def _resolve(name: str):
    """The object a dotted name documents, importing modules on the way (``fleetsim.sweep``,
    a callable package, stands for the function it calls, ``fleetsim.sweep.run_sweep``)."""
    parts = name.split(".")
    target = importlib.import_module(parts[0])
    for index, part in enumerate(parts[1:], start=1):
        if not hasattr(target, part):
            importlib.import_module(".".join(parts[:index + 1]))
        target = getattr(target, part)
    if inspect.ismodule(target) and callable(target):
        target = target.run_sweep
    return target


def _normal(expression: str | None) -> str | None:
    """An annotation or default as source text, spelled one way (``ast.unparse``)."""
    return None if expression is None else ast.unparse(ast.parse(expression, mode="eval"))


def _documented(signature: str) -> list[tuple]:
    """(name, kind, annotation, default) of each parameter of a documented signature, and the
    return annotation last."""
    _name, _, rest = signature.partition("(")
    function = ast.parse(f"def f({rest}: pass").body[0]
    arguments = function.args
    positional = arguments.posonlyargs + arguments.args
    defaults = [None] * (len(positional) - len(arguments.defaults)) + arguments.defaults
    rows = [(argument.arg, "positional", argument.annotation, default)
            for argument, default in zip(positional, defaults)]
    rows += [(argument.arg, "keyword", argument.annotation, default)
             for argument, default in zip(arguments.kwonlyargs, arguments.kw_defaults)]
    unparse = lambda node: None if node is None else ast.unparse(node)  # noqa: E731
    return ([(name, kind, unparse(annotation), unparse(default))
             for name, kind, annotation, default in rows] + [unparse(function.returns)])


def _actual(target) -> list[tuple]:
    """The same rows from ``inspect.signature`` (annotations are strings: postponed)."""
    signature = inspect.signature(target)
    kinds = {inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional",
             inspect.Parameter.POSITIONAL_ONLY: "positional",
             inspect.Parameter.KEYWORD_ONLY: "keyword"}
    empty = inspect.Parameter.empty
    rows = [(parameter.name, kinds.get(parameter.kind, str(parameter.kind)),
             _normal(parameter.annotation) if parameter.annotation is not empty else None,
             repr(parameter.default) if parameter.default is not empty else None)
            for parameter in signature.parameters.values()]
    returns = signature.return_annotation
    return rows + [_normal(returns) if returns is not inspect.Signature.empty else None]


def test_the_api_reference_signatures_are_the_code_s(root):
    blocks = {match["name"]: match["signature"]
              for match in _SIGNATURE_BLOCK.finditer(_api_page(root))}
    assert {"fleetsim.run", "fleetsim.sweep", "fleetsim.load",
            "fleetsim.report.write_run"} <= set(blocks)
    for name, signature in blocks.items():
        assert signature.startswith(name + "("), f"{name}: the block documents {signature!r}"
        assert _documented(signature) == _actual(_resolve(name)), (
            f"docs/reference/api.md: {name} is documented as {signature}, the code has "
            f"{inspect.signature(_resolve(name))}")


def _table_names(page: str, heading: str) -> set[str]:
    """The `names` in the first column of the table under ``### `heading```."""
    section = page.split(f"### `{heading}`", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    return set(re.findall(r"^\| `(\w+)` \|", section, re.MULTILINE))


def _public_attributes(cls) -> set[str]:
    fields = {field.name for field in dataclasses.fields(cls)}
    return fields | {name for name in vars(cls) if not name.startswith("_")}


def test_the_api_reference_lists_every_result_field(root):
    from fleetsim.prepare import PreparedScenario
    from fleetsim.results import RunResult

    page = _api_page(root)
    assert _table_names(page, "RunResult") == _public_attributes(RunResult)
    assert _table_names(page, "PreparedScenario") == _public_attributes(PreparedScenario)
    for name in re.findall(r"^\| `(fleetsim\.[\w.]+Error)` \|", page, re.MULTILINE):
        error = _resolve(name)
        assert issubclass(error, fleetsim.FleetsimError), name


def test_the_sweep_table_columns_are_as_documented(root):
    """point, the parameters, seed, then the flattened summary (a one-run sweep)."""
    table = fleetsim.sweep({"base": str(root / "scenarios" / "quickstart.yaml"),
                            "grid": {"jobs.pretrain.checkpoint.interval": ["1h"]},
                            "seeds": 1, "set": {"horizon": "2h"}}, workers=1)
    assert list(table.columns[:3]) == ["point", "jobs.pretrain.checkpoint.interval", "seed"]
    assert {"jobs.pretrain.goodput", "jobs.pretrain.buckets_s.productive",
            "cluster.failures", "fleet.jct_s.mean"} <= set(table.columns)


def test_citation_and_package_metadata_agree(root):
    citation = yaml.safe_load((root / "CITATION.cff").read_text(encoding="utf-8"))
    version = re.search(r'^version = "([^"]+)"', (root / "pyproject.toml").read_text(),
                        re.MULTILINE)[1]
    assert citation["cff-version"] == "1.2.0"
    assert {"message", "title", "authors"} <= set(citation)
    assert citation["version"] == version == fleetsim.__version__
    assert "Apache License" in (root / "LICENSE").read_text(encoding="utf-8")
    assert (root / "fleetsim" / "py.typed").is_file()
