"""The resumable result store of a sweep: ``DIR/sweep.json`` and ``DIR/runs.jsonl``.

* ``sweep.json`` says which sweep the directory holds (its description and fingerprint, the
  hash of its run keys). A directory holding a different sweep is refused unless ``force``.
* ``runs.jsonl`` gets one line per finished run, **as each run finishes**: written whole,
  flushed and fsynced, so a sweep killed at any moment loses at most the runs in flight. A
  line is ``{"key", "point", "seed", "params", "summary"}``; ``key`` is
  :func:`fleetsim.sweep.spec.run_key` (the base scenario's content, the overrides, the seed).

Opening the store for a sweep reads the runs already there: a run is never done twice, and a
half-written last line (a kill in mid-write) is cut off and its run done again. With
``force``, a directory of another sweep is taken over: its runs that this sweep also has (same
key) are reused, the others stay in ``runs.jsonl`` but are left out of the results.

Only one sweep writes into a directory at a time (an advisory lock on ``DIR/.sweep.lock``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fleetsim.errors import OutputError
from fleetsim.sweep.spec import RunTask, SweepPlan

SWEEP_FILE = "sweep.json"
RUNS_FILE = "runs.jsonl"
LOCK_FILE = ".sweep.lock"
#: Files a sweep writes at the end, rebuilt from runs.jsonl.
RESULT_FILES = ("results.parquet", "results.csv", "aggregate.csv")

FORMAT = 1


class RunStore:
    """A sweep's output directory: which sweep it holds and the runs finished so far."""

    def __init__(self, out_dir: str | Path) -> None:
        self.dir = Path(out_dir)
        self.runs: dict[str, dict[str, Any]] = {}  # run key -> flattened summary
        self._file = None
        self._lock = None

    # -- opening -----------------------------------------------------------------------------

    def open(self, plan: SweepPlan, *, force: bool = False) -> dict[str, dict[str, Any]]:
        """Claim the directory for ``plan`` and return the runs already done (key -> row)."""
        if self.dir.exists() and not self.dir.is_dir():
            raise OutputError(f"{self.dir}: exists and is not a directory")
        self._check_same_sweep(plan, force)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._acquire_lock()
        try:
            self.runs = self._read_runs()
            _write_atomic(self.dir / SWEEP_FILE,
                          json.dumps({"fleetsim_sweep": FORMAT, **plan.description()},
                                     indent=2, default=str) + "\n")
            self._file = open(self.dir / RUNS_FILE, "ab")
        except BaseException:
            self.close()
            raise
        return dict(self.runs)

    def _check_same_sweep(self, plan: SweepPlan, force: bool) -> None:
        sweep_file = self.dir / SWEEP_FILE
        if force or not self.dir.is_dir():
            return
        if not sweep_file.exists():
            ours = [name for name in (RUNS_FILE, *RESULT_FILES) if (self.dir / name).exists()]
            if ours:
                raise OutputError(f"{self.dir}: already holds {', '.join(ours)} but no "
                                  f"{SWEEP_FILE} (choose another --out, or pass --force to "
                                  "use it for this sweep)")
            return
        try:
            held = json.loads(sweep_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise OutputError(f"{sweep_file}: cannot read ({error}); pass --force to "
                              "replace it") from None
        if held.get("fingerprint") == plan.fingerprint():
            return
        raise OutputError(f"{self.dir}: holds a different sweep ({_difference(held, plan)}); "
                          "choose another --out, or pass --force to use it for this sweep "
                          "(runs the two share are reused)")

    def _acquire_lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # no advisory locks (Windows): one writer is the user's business
            return
        handle = open(self.dir / LOCK_FILE, "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise OutputError(f"{self.dir}: another fleetsim sweep is writing into it") from None
        self._lock = handle

    def _read_runs(self) -> dict[str, dict[str, Any]]:
        """The runs in runs.jsonl (first of a key wins); cut a half-written last line."""
        path = self.dir / RUNS_FILE
        if not path.exists():
            return {}
        data = path.read_bytes()
        complete, newline, tail = data.rpartition(b"\n")
        if not newline:  # no newline at all: everything is the unfinished first line
            complete, tail = b"", data
        runs: dict[str, dict[str, Any]] = {}
        for number, line in enumerate(complete.split(b"\n") if complete else [], start=1):
            if not line.strip():
                continue
            record = _parse(line)
            if record is None:
                raise OutputError(f"{path}:{number}: not a run record (delete the line to "
                                  "have its run done again)")
            runs.setdefault(record["key"], record["summary"])
        if tail:  # a line without its newline: killed in mid-write; cut it, redo its run
            with open(path, "r+b") as handle:
                handle.truncate(len(data) - len(tail))
                handle.flush()
                os.fsync(handle.fileno())
        return runs

    # -- writing -----------------------------------------------------------------------------

    def append(self, task: RunTask, params: dict[str, Any], summary: dict[str, Any]) -> None:
        """Record one finished run: one whole line, flushed and fsynced before returning."""
        if self._file is None:
            raise RuntimeError("the store is not open")
        if task.key in self.runs:
            return
        record = {"key": task.key, "point": task.point, "seed": task.seed, "params": params,
                  "summary": summary}
        line = json.dumps(record, separators=(",", ":"), allow_nan=False, default=str)
        self._file.write(line.encode("utf-8") + b"\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self.runs[task.key] = summary

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._lock is not None:
            self._lock.close()  # closing the descriptor releases the flock
            self._lock = None

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if (not isinstance(record, dict) or not isinstance(record.get("key"), str)
            or not isinstance(record.get("summary"), dict)):
        return None
    return record


def _difference(held: dict[str, Any], plan: SweepPlan) -> str:
    """What differs between the sweep in a directory and ``plan``, in a few words."""
    mine = plan.description()
    name = held.get("file") or held.get("name") or "?"
    if held.get("base_sha256") != mine["base_sha256"]:
        return f"from {name}; the base scenario differs or has changed since"
    for key in ("grid", "zip", "set", "seeds"):
        if held.get(key) != json.loads(json.dumps(mine[key], default=str)):
            return f"from {name}; its {key} differs"
    return f"from {name}"


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_atomic_bytes(path: Path, writer) -> None:
    """Call ``writer(temporary_path)`` then move the file into place (no half-written file)."""
    temporary = path.parent / f".{path.stem}.{os.getpid()}.tmp{path.suffix}"
    try:
        writer(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
