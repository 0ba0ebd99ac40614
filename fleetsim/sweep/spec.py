"""Sweep files: read, validate and expand into points and runs, every point checked up front.

A sweep file names a base scenario and the keys to vary::

    base: ../../scenarios/quickstart.yaml   # relative to the sweep file (or an inline mapping)
    grid:                                   # full factorial, first key varies slowest
      faults.causes.gpu.mtbf: [25000h, 50000h, 100000h]
      jobs.pretrain.checkpoint.interval: [10min, 30min, 1h, 2h]
    zip:                                    # paired lists of equal length, one point per index
      jobs.pretrain.checkpoint.policy: [fixed, young]
      jobs.pretrain.checkpoint.interval: [1h, null]
    seeds: 5                                # replicates per point (base seed + r), or a list
    seed: 100                               # optional base seed (default: the scenario's)
    set: {horizon: 20d}                     # fixed overrides for every run
    name: my-sweep                          # optional, shown in tables

Keys are ``--set`` keys (dotted, list items by name). With both ``grid`` and ``zip`` every
grid combination is paired with every zip row. A point's overrides (``set`` and its parameters)
are applied in sorted key order, so a section set whole comes before a key inside it, and the
same runs give the same run keys whatever the order of the file.

Every point is loaded with :func:`fleetsim.prepare.load` before anything runs: a bad
value in one grid point fails the sweep with the sweep file's line for that value
(``sweep.yaml:6: grid.jobs.pretrain.checkpoint.interval[2]: invalid duration '1x' (...)``).

Common random numbers: replicate ``r`` uses the same seed at every point, so differences
between points are not blurred by different failure draws.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Mapping, Union

from pydantic import Field, StrictInt

from fleetsim.errors import ScenarioError
from fleetsim.prepare import load
from fleetsim.kinds import Model, Name
from fleetsim.yamlsource import FROM_COMMAND_LINE, Document, load_document, validate

Values = Annotated[list[Any], Field(min_length=1)]
Seed = Annotated[StrictInt, Field(ge=0)]


class SweepFile(Model):
    """The schema of a sweep file (unknown keys are rejected, as in scenarios)."""

    base: Union[Annotated[str, Field(min_length=1)], dict[str, Any]]
    grid: dict[str, Values] = {}
    zip: dict[str, Values] = {}
    seeds: Union[Annotated[StrictInt, Field(ge=1)],
                 Annotated[list[Seed], Field(min_length=1)]] = 1
    seed: Seed | None = None
    set: dict[str, Any] = {}
    name: Name | None = None


@dataclass(frozen=True)
class Point:
    """One combination of parameter values, ``params`` as written in the sweep file."""

    index: int
    params: tuple[tuple[str, Any], ...]
    locations: tuple[tuple[Any, ...], ...]  # where each value is written in the sweep file

    def describe(self) -> str:
        return ", ".join(f"{key}={json.dumps(value, default=str)}" for key, value in self.params)


@dataclass(frozen=True)
class RunTask:
    """One run of a sweep: small and picklable, as shipped to a worker process or Dask.

    ``overrides`` are the fixed ``set`` overrides and the point's parameters, in the order they
    are applied (sorted by key); ``key`` identifies the run in the result store.
    """

    key: str
    point: int
    seed: int
    overrides: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class SweepPlan:
    """A validated sweep: the base scenario, its points and seeds, and hence its runs."""

    name: str
    file: str  # the sweep file, or "<dict>"
    base_file: str | None  # the base scenario file (None for an inline mapping)
    base_data: dict[str, Any]  # the base scenario as plain data, a node file path made absolute
    base_sha256: str  # of the base scenario's data (comments and layout do not count)
    fixed: tuple[tuple[str, Any], ...]  # the ``set`` overrides
    parameters: tuple[str, ...]  # grid keys, then zip keys: the varying columns
    points: tuple[Point, ...]
    seeds: tuple[int, ...]
    spec: SweepFile

    def overrides(self, point: Point) -> tuple[tuple[str, Any], ...]:
        """Every override of a run at ``point``, in the order they are applied."""
        return tuple(sorted(self.fixed + point.params, key=lambda item: item[0]))

    def tasks(self) -> list[RunTask]:
        """Every run, point by point, seed by seed (the order of results.parquet)."""
        tasks = []
        for point in self.points:
            overrides = self.overrides(point)
            for seed in self.seeds:
                tasks.append(RunTask(run_key(self.base_sha256, overrides, seed), point.index,
                                     seed, overrides))
        return tasks

    def fingerprint(self) -> str:
        """What makes two sweeps the same: the set of their run keys."""
        keys = sorted(task.key for task in self.tasks())
        return hashlib.sha256("\n".join(keys).encode()).hexdigest()

    def description(self) -> dict[str, Any]:
        """What ``sweep.json`` records about the sweep (JSON-ready)."""
        return {
            "name": self.name,
            "file": self.file,
            "base": self.base_file,
            "base_sha256": self.base_sha256,
            "parameters": list(self.parameters),
            "set": dict(self.fixed),
            "grid": dict(self.spec.grid),
            "zip": dict(self.spec.zip),
            "seeds": list(self.seeds),
            "points": len(self.points),
            "runs": len(self.points) * len(self.seeds),
            "fingerprint": self.fingerprint(),
        }


def run_key(base_sha256: str, overrides: tuple[tuple[str, Any], ...], seed: int) -> str:
    """The store's key of one run: a hash of the base scenario, the overrides and the seed."""
    text = json.dumps({"base": base_sha256, "overrides": [list(item) for item in overrides],
                       "seed": seed}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def load_sweep(source: str | Path | Mapping[str, Any]) -> SweepPlan:
    """Read and validate a sweep file (or a dict of the same shape) and expand it.

    A relative ``base`` is read relative to the sweep file (to the working directory for a
    dict). Raises :class:`ScenarioError` (one line: file, line, key) for any bad input, including
    a point whose scenario does not load.
    """
    if isinstance(source, Mapping):
        document = Document(data=copy.deepcopy(dict(source)), file="<dict>")
        directory = Path.cwd()
    else:
        document = load_document(source)
        directory = Path(source).parent
    spec: SweepFile = validate(SweepFile, document)
    _check_keys(spec, document)
    base_file, base_data, base_sha256 = _read_base(spec, document, directory)
    fixed = tuple(spec.set.items())
    base = _validate_base(base_file, base_data, fixed, document)
    seeds = _seeds(spec, base.spec.seed, document)
    points = _expand(spec)
    plan = SweepPlan(
        name=spec.name or (Path(document.file).stem if document.file != "<dict>"
                           else base.spec.name),
        file=document.file, base_file=base_file, base_data=base_data, base_sha256=base_sha256,
        fixed=fixed, parameters=tuple(spec.grid) + tuple(spec.zip), points=points,
        seeds=seeds, spec=spec)
    for point in points:
        _validate_point(plan, point, document)
    return plan


def _check_keys(spec: SweepFile, document: Document) -> None:
    for section in ("grid", "zip", "set"):
        for key in getattr(spec, section):
            if not key or any(not part for part in key.split(".")):
                raise _error(document, (section, key), section, key,
                             "empty part in the key path (keys look like jobs.pretrain.steps)")
            if key == "seed" or key.startswith("seed."):
                raise _error(document, (section, key), section, key,
                             "seeds are swept with `seeds:` (a count or a list) and `seed:`")
    seen: dict[str, str] = {}
    for section in ("set", "grid", "zip"):
        for key in getattr(spec, section):
            if key in seen:
                raise _error(document, (section, key), section, key,
                             f"also in {seen[key]} (a key may be set in one section only)")
            seen[key] = section
    lengths = {key: len(values) for key, values in spec.zip.items()}
    if len(set(lengths.values())) > 1:
        first = next(iter(lengths))
        for key, length in lengths.items():
            if length != lengths[first]:
                raise _error(document, ("zip", key), "zip", key,
                             f"has {_values(length)} but zip.{first} has "
                             f"{_values(lengths[first])} "
                             "(zip lists are paired, so they must have equal length)")


def _values(count: int) -> str:
    return f"{count} value" + ("" if count == 1 else "s")


def _read_base(spec: SweepFile, document: Document,
               directory: Path) -> tuple[str | None, dict[str, Any], str]:
    if isinstance(spec.base, dict):
        data = copy.deepcopy(spec.base)
        return None, _absolute_node(copy.deepcopy(data), Path.cwd()), _content_sha256(data)
    path = Path(spec.base)
    if not path.is_absolute():
        path = directory / path
    if not path.is_file():
        raise document.error(("base",), f"base scenario {str(path)!r} not found (a path "
                             "relative to the sweep file, or an inline scenario mapping)")
    base = load_document(path)
    return (os.path.normpath(path), _absolute_node(copy.deepcopy(base.data), path.parent),
            _content_sha256(base.data))


def _content_sha256(data: dict[str, Any]) -> str:
    """The hash of a scenario's content: its data, not its comments or layout."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _absolute_node(data: dict[str, Any], directory: Path) -> dict[str, Any]:
    """``cluster.node`` given as a relative node file, made absolute (workers run elsewhere)."""
    cluster = data.get("cluster")
    if isinstance(cluster, dict):
        node = cluster.get("node")
        if (isinstance(node, str) and node.endswith((".yaml", ".yml"))
                and not Path(node).is_absolute()):
            cluster["node"] = str((directory / node).resolve())
    return data


def _validate_base(base_file: str | None, base_data: dict[str, Any],
                   fixed: tuple[tuple[str, Any], ...], document: Document):
    try:
        return load(base_file or base_data, overrides=sorted(fixed))
    except ScenarioError as error:
        raise _relocate(error, document, [(key, ("set", key)) for key, _ in fixed]) from None


def _seeds(spec: SweepFile, scenario_seed: int, document: Document) -> tuple[int, ...]:
    if isinstance(spec.seeds, list):
        duplicates = sorted({seed for seed in spec.seeds if spec.seeds.count(seed) > 1})
        if duplicates:
            raise document.error(("seeds",), f"seed {duplicates[0]} is listed twice "
                                 "(each replicate needs its own seed)")
        return tuple(spec.seeds)
    first = spec.seed if spec.seed is not None else scenario_seed
    return tuple(first + replicate for replicate in range(spec.seeds))


def _expand(spec: SweepFile) -> tuple[Point, ...]:
    grid_axes = [[(key, value, ("grid", key, index)) for index, value in enumerate(values)]
                 for key, values in spec.grid.items()]
    zip_rows: list[list[tuple[str, Any, tuple]]] = [[]]
    if spec.zip:
        length = len(next(iter(spec.zip.values())))
        zip_rows = [[(key, values[index], ("zip", key, index))
                     for key, values in spec.zip.items()] for index in range(length)]
    points = []
    for combination in itertools.product(*grid_axes):
        for row in zip_rows:
            items = list(combination) + row
            points.append(Point(index=len(points),
                                params=tuple((key, value) for key, value, _ in items),
                                locations=tuple(location for _, _, location in items)))
    return tuple(points)


def _validate_point(plan: SweepPlan, point: Point, document: Document) -> None:
    try:
        load(plan.base_file or plan.base_data, overrides=plan.overrides(point),
             seed=plan.seeds[0])
    except ScenarioError as error:
        candidates = [(key, location) for (key, _), location in zip(point.params,
                                                                    point.locations)]
        raise _relocate(error, document, candidates, point=point) from None


def _relocate(error: ScenarioError, document: Document,
              candidates: list[tuple[str, tuple[Any, ...]]],
              point: Point | None = None) -> ScenarioError:
    """Point a scenario error caused by an override at the sweep file's line for it."""
    if error.line == FROM_COMMAND_LINE and error.key:
        matches = [(key, location) for key, location in candidates
                   if _related(key, error.key)]
        if matches:
            key, location = max(matches, key=lambda match: len(match[0]))
            if error.message.startswith(("unknown key", "no item named")):
                location = location[:2]  # the key is wrong, not one of its values
            return _error(document, location, location[0], key, error.message,
                          index=location[2] if len(location) > 2 else None)
    if point is not None and point.locations:
        # a check across keys failed (in the base file): name the point, at the parameter
        # the error is about if there is one, else at the point's first parameter
        related = [location for (key, _), location in zip(point.params, point.locations)
                   if error.key and _related(key, error.key)]
        location = (related or list(point.locations))[0]
        return _error(document, location, location[0], location[1],
                      f"point {point.index} ({point.describe()}) does not load: {error}",
                      index=location[2] if len(location) > 2 else None)
    return error


def _related(override_key: str, error_key: str) -> bool:
    """Whether an error at ``error_key`` is at, inside or above the ``override_key``."""
    return (error_key == override_key or error_key.startswith(override_key + ".")
            or override_key.startswith(error_key + "."))


def _error(document: Document, location: tuple[Any, ...], section: str, key: str,
           message: str, index: int | None = None) -> ScenarioError:
    name = f"{section}.{key}" + (f"[{index}]" if index is not None else "")
    return ScenarioError(message, file=document.file, line=document.line_of(location),
                         key=name)
