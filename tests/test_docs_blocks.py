"""Every fenced code block in docs/**/*.md and README.md runs, as a reader would run it.

Each page runs in its own scratch copy of the repository (``scenarios/``, ``examples/``,
``hardware/``, ``docs/``), its blocks in page order, with ``FLEETSIM_FAST=1`` and
``MPLBACKEND=Agg`` in the environment:

* ``sh``, ``bash``, ``console`` (only its ``$ `` lines): each command line runs with the shell
  (``\\`` continuations and indented continuation lines joined). Commands run when they start
  (after ``VAR=value`` assignments) with ``fleetsim``, ``python``, ``pytest FILE`` or a file
  command (``mkdir``, ``cp``, ``cat``, ``ls``, ``echo``); ``python -m venv``, ``.`` or
  ``source`` (activating it), ``pip``, ``pytest`` without a file (installing; the whole
  suite, this test in it) and anything else (``dask scheduler``) are left out, per ``&&``
  segment.
  A usage line (``fleetsim run S.yaml [--out DIR] ...``) first loses its ``[optional]``
  groups; if no metavariable (``S.yaml``, ``DIR``, ``KEY``) is left it runs, otherwise the
  command's ``--help`` must list every ``--option`` the line names.
* ``python``: the page's Python blocks run in one interpreter started in the scratch
  directory (as ``python -c``), in order, sharing their names as one session does — a block
  may use an import of the block before it.
* ``yaml``: a whole scenario (``name``, ``cluster`` and ``jobs`` or ``workload``) must pass
  ``fleetsim validate`` (its entry point ``fleetsim.cli.main``, called in the page's
  interpreter, in a namespace of its own: a start-up per page, not per block); a hardware
  file (``kind: accelerator`` or ``node``) must load. Other YAML (a sweep file, a fragment)
  must parse.

HTML comments on the line(s) just before a fence steer a block:

* ``<!-- no-run: reason -->`` skips it (keep these rare: a Dask scheduler, a multi-minute run);
* ``<!-- file: PATH -->`` writes the block to PATH in the scratch copy first, then runs or
  checks it as usual (later blocks use the file, as the page tells the reader to save it);
* ``<!-- fragment -->`` marks YAML that is only part of a file (parsed only);
  ``<!-- fragment: BASE -->`` is what the page tells the reader to add to the file BASE (a path
  in the scratch copy, e.g. written by an earlier ``file:`` block): it is merged into BASE in
  place — mappings key by key, lists of named items item by item, as ``--set`` addresses
  them — and BASE must still validate.

Other blocks (``text``, unlabelled) are output or formulas and are not run. Pages added later
(the serving guide and background) are picked up by the glob.

Fast mode: every block still runs, but sweeps run at most :data:`FAST_SEEDS` seeds per point
(the same points, the same code path; a reader's sweep of 16 points x 5 seeds is 16 x 2 here).
The scratch copy's sweep files (``examples/**/*.yaml``, and sweep files a page's ``file:``
blocks write) get ``seeds: 2``, and in the page's interpreter ``fleetsim.sweep`` caps the
``seeds`` of a sweep given as a dict. The pages' own text is unchanged. ``FLEETSIM_FAST=1`` in
the environment tells example scripts to do the same (fewer seeds and points).
"""

from __future__ import annotations

import copy
import json
import os
import queue
import re
import shlex
import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted(ROOT.glob("docs/**/*.md")) + [ROOT / "README.md"]
COPIED = ("scenarios", "examples", "hardware", "docs")
RUNNABLE = {"fleetsim", "python", "python3", "pytest-file", "mkdir", "cp", "cat", "ls", "echo"}
#: installing (a virtual environment, activating it, pip); the whole test suite (this test in it)
LEFT_OUT = {"venv", ".", "source", "pip", "pip3", "pytest"}
SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}
TIMEOUT_S = 300
FAST_SEEDS = 2  # seeds per point of the docs' sweeps in the tests (fast mode, docstring)

_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)"
                    r"^(?P=indent)```[ \t]*$", re.DOTALL | re.MULTILINE)
_COMMENT = re.compile(r"^\s*<!--\s*(?P<body>.*?)\s*-->\s*$")
_OPTIONAL = re.compile(r"\s*\[--[^\[\]]*\]")  # an [--option ...] group of a usage line
_METAVARIABLE = re.compile(r"^[A-Z][A-Z0-9_]*(\.[a-z]+)?$")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass
class Block:
    """One fenced block: where it is, its language, its text and the markers above it."""

    page: Path
    line: int
    language: str
    text: str
    markers: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def page_blocks(page: Path) -> list[Block]:
    """The fenced blocks of ``page`` with the ``<!-- key: value -->`` markers just above."""
    text = page.read_text(encoding="utf-8")
    lines = text.splitlines()
    blocks = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        markers: dict[str, str] = {}
        above = line - 2
        while above >= 0 and (comment := _COMMENT.match(lines[above])):
            key, _, value = comment.group("body").partition(":")
            markers[key.strip()] = value.strip()
            above -= 1
        indent = match.group("indent")
        body = "".join(row.removeprefix(indent)
                       for row in match.group("body").splitlines(keepends=True))
        blocks.append(Block(page, line, match.group("lang").lower(), body, markers))
    return blocks


# -- shell blocks ---------------------------------------------------------------------------

@dataclass
class Command:
    """A command line of a shell block: ``run`` it, check it as ``usage``, or ``skip`` it."""

    text: str
    action: str
    reason: str = ""


def command_lines(block: Block) -> list[str]:
    """The block's command lines, continuations joined, comments and output dropped."""
    console = block.language == "console"
    commands: list[str] = []
    pending = ""
    for row in block.text.splitlines():
        if console and not pending:
            if not row.startswith("$ "):
                continue  # output
            row = row[2:]
        if not row.strip() or row.lstrip().startswith("#"):
            continue
        if pending:
            pending += " " + row.strip()
        elif row[:1].isspace() and commands and not console:
            commands[-1] += " " + row.strip()
            continue
        else:
            pending = row.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        commands.append(pending)
        pending = ""
    if pending:
        commands.append(pending)
    return commands


def _strip_comment(command: str) -> str:
    """The command without a trailing ``# comment`` (outside quotes)."""
    quote = ""
    for index, char in enumerate(command):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or command[index - 1].isspace()):
            return command[:index].rstrip()
    return command


def _program(segment: str) -> str:
    words = segment.split()
    while words and _ASSIGNMENT.match(words[0]):
        words = words[1:]
    if not words:
        return ""
    if words[0] in ("python", "python3") and words[1:3] in (["-m", "pytest"], ["-m", "venv"]):
        words = words[2:]
    if words[0] == "pytest":  # a named test file runs; the whole suite would run this test
        return "pytest-file" if any(not word.startswith("-") for word in words[1:]) else "pytest"
    return words[0]


def classify(command: str) -> Command:
    """What to do with one command line (see the module docstring)."""
    command = _strip_comment(command)
    segments = [segment.strip() for segment in command.split("&&")]
    kept = [segment for segment in segments if _program(segment) not in LEFT_OUT]
    if not kept:
        return Command(command, "skip", "installs or runs the test suite")
    for segment in kept:
        if _program(segment) not in RUNNABLE:
            return Command(command, "skip", f"not a fleetsim, python or file command: {segment}")
    text = " && ".join(kept)
    if _OPTIONAL.search(text) or " ..." in text or _metavariables(text):
        stripped = text
        while stripped != (inner := _OPTIONAL.sub("", stripped)):  # nested groups too
            stripped = inner
        if " ..." in stripped or _metavariables(stripped):
            return Command(text, "usage")
        return Command(stripped, "run")
    return Command(text, "run")


def _metavariables(command: str) -> list[str]:
    """Placeholders such as ``S.yaml``, ``DIR`` or ``KEY=VALUE`` (not leading assignments)."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    while words and _ASSIGNMENT.match(words[0]):
        words = words[1:]
    return [word for word in words
            if any(_METAVARIABLE.match(part) for part in word.split("=") if part)]


def _check_usage(command: str, scratch: Path, environment: dict) -> None:
    """A usage line: its command's ``--help`` lists every ``--option`` it names."""
    words = [word for word in command.split() if not _ASSIGNMENT.match(word)]
    program = [words[0]]
    for word in words[1:]:
        if not re.fullmatch(r"[a-z][a-z-]*", word):
            break
        program.append(word)
    help_text = _shell(" ".join(program + ["--help"]), scratch, environment).stdout
    options = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", command))
    missing = sorted(option for option in options if option not in help_text)
    assert not missing, f"usage line {command!r}: {' '.join(program)} --help lacks {missing}"


def _shell(command: str, scratch: Path, environment: dict) -> subprocess.CompletedProcess:
    process = subprocess.run(command, shell=True, cwd=scratch, env=environment,
                             capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    assert process.returncode == 0, (
        f"{command!r} exited {process.returncode}\n{process.stdout[-1500:]}\n"
        f"{process.stderr[-2500:]}")
    return process


# -- python blocks --------------------------------------------------------------------------

_DRIVER = r"""
import json, sys, traceback
import fleetsim.sweep
def _fast_mode(run_sweep, seeds):
    # fleetsim.sweep with a dict spec's seeds capped (fast mode, module docstring)
    def run(spec, *args, **kwargs):
        if isinstance(spec, dict) and isinstance(spec.get("seeds"), int):
            spec = {**spec, "seeds": min(spec["seeds"], seeds)}
        return run_sweep(spec, *args, **kwargs)
    return run
fleetsim.sweep.run_sweep = _fast_mode(fleetsim.sweep.run_sweep, int(sys.argv[1]))
namespace = {"__name__": "__main__"}
for line in sys.stdin:
    ok = True
    message = json.loads(line)
    try:
        where = namespace if message["shared"] else {"__name__": "__check__"}
        exec(compile(message["code"], "<docs block>", "exec"), where)
    except BaseException:
        ok = False
        traceback.print_exc(file=sys.stdout)
    sys.stdout.flush()
    sys.stderr.flush()
    print("\x00docs-block-done", ok, flush=True)
"""


class PythonSession:
    """One interpreter per page (``python -c`` in the scratch directory), fed block by block."""

    def __init__(self, scratch: Path, environment: dict) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _DRIVER, str(FAST_SEEDS)], cwd=scratch, env=environment,
            text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def run(self, code: str, shared: bool = True) -> tuple[bool, str]:
        """Execute ``code`` in the session's namespace (or, not ``shared``, in a fresh one:
        the test's own checks); (whether it raised nothing, what it printed)."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"code": code, "shared": shared}) + "\n")
        self.process.stdin.flush()
        output = []
        while True:
            line = self.lines.get(timeout=TIMEOUT_S)
            if line is None:
                return False, "".join(output) + "\n(the interpreter exited)"
            if line.startswith("\x00docs-block-done"):
                return line.split()[-1] == "True", "".join(output)
            output.append(line)

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


# -- yaml blocks ----------------------------------------------------------------------------

def merge(base, fragment):
    """``fragment`` merged into ``base``: mappings by key, lists of named items by name."""
    if isinstance(base, dict) and isinstance(fragment, dict):
        merged = dict(base)
        for key, value in fragment.items():
            merged[key] = merge(base[key], value) if key in base else value
        return merged
    named = (isinstance(base, list) and isinstance(fragment, list)
             and all(isinstance(item, dict) and "name" in item for item in base + fragment))
    if named:
        merged = list(base)
        index = {item["name"]: position for position, item in enumerate(merged)}
        for item in fragment:
            if item["name"] in index:
                merged[index[item["name"]]] = merge(merged[index[item["name"]]], item)
            else:
                merged.append(item)
        return merged
    return copy.deepcopy(fragment)


def _check_yaml(block: Block, scratch: Path, checker: PythonSession, count: int) -> None:
    """Validate a YAML block: a scenario with ``fleetsim validate`` (its entry point, called in
    the page's interpreter: one start-up per page, not one per block), a hardware file with
    the catalogue's loader; anything else must parse."""
    data = yaml.safe_load(block.text)
    path = block.markers.get("file")
    if "fragment" in block.markers:
        base = block.markers["fragment"]
        if not base:
            return
        base_path = scratch / base  # the reader adds the fragment to this file: so do we
        merged = merge(yaml.safe_load(base_path.read_text(encoding="utf-8")), data)
        base_path.write_text(yaml.safe_dump(merged, sort_keys=False, allow_unicode=True),
                             encoding="utf-8")
        path, data = base, merged
    if not isinstance(data, dict):
        return
    if data.get("kind") in ("accelerator", "node"):
        code = "from fleetsim.hardware import load_spec as check\ncheck({!r})"
    elif {"name", "cluster"} <= set(data) and ({"jobs", "workload"} & set(data)):
        code = ("from fleetsim.cli import main\n"
                "assert main(['validate', {!r}]) == 0, 'fleetsim validate failed'")
    else:
        return
    if not path:
        path = f"_block_{count}.yaml"
        (scratch / path).write_text(block.text, encoding="utf-8")
    ok, output = checker.run(code.format(str(path)), shared=False)
    assert ok, output[-2500:]


# -- a page ---------------------------------------------------------------------------------

@dataclass
class PageRun:
    """What running a page did: the scratch copy, and the Python blocks' output."""

    scratch: Path
    python_output: list[str] = field(default_factory=list)
    ran: int = 0


def environment_for_docs() -> dict:
    environment = {**os.environ, "FLEETSIM_FAST": "1", "MPLBACKEND": "Agg"}
    environment.pop("FLEETSIM_HARDWARE_PATH", None)
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}"
    return environment


def scratch_copy(directory: Path) -> Path:
    """The repository's folders the docs use, copied into ``directory``, sweeps in fast mode."""
    for folder in COPIED:
        shutil.copytree(ROOT / folder, directory / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for path in (directory / "examples").rglob("*.yaml"):
        path.write_text(fast_sweep(path.read_text(encoding="utf-8")), encoding="utf-8")
    return directory


_SEEDS_LINE = re.compile(r"^(seeds:[ \t]*)\d+", re.MULTILINE)


def fast_sweep(text: str) -> str:
    """A sweep file's text with at most :data:`FAST_SEEDS` seeds (anything else unchanged;
    only the number changes, so line numbers and comments stay)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    is_sweep = isinstance(data, dict) and "base" in data and ({"grid", "zip"} & set(data))
    if not is_sweep or not isinstance(data.get("seeds"), int) or data["seeds"] <= FAST_SEEDS:
        return text
    return _SEEDS_LINE.sub(lambda match: f"{match[1]}{FAST_SEEDS}", text, count=1)


def run_page(page: Path, scratch: Path) -> PageRun:
    """Run every block of ``page`` in ``scratch`` (a scratch copy of the repository)."""
    environment = environment_for_docs()
    result = PageRun(scratch)
    session: PythonSession | None = None  # the page's Python blocks, and the YAML checks
    try:
        for count, block in enumerate(page_blocks(page)):
            if "no-run" in block.markers:
                assert block.markers["no-run"], f"{block.where}: no-run needs a reason"
                continue
            if block.markers.get("file"):
                target = scratch / block.markers["file"]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(fast_sweep(block.text), encoding="utf-8")
            if block.language in SHELL_LANGUAGES:
                for line in command_lines(block):
                    command = classify(line)
                    try:
                        if command.action == "run":
                            _shell(command.text, scratch, environment)
                        elif command.action == "usage":
                            _check_usage(command.text, scratch, environment)
                    except AssertionError as error:
                        raise AssertionError(f"{block.where}: {error}") from None
                    result.ran += command.action != "skip"
            elif block.language == "python":
                session = session or PythonSession(scratch, environment)
                ok, output = session.run(block.text)
                assert ok, f"{block.where}: the Python block failed:\n{output[-3000:]}"
                result.python_output.append(output)
                result.ran += 1
            elif block.language in ("yaml", "yml"):
                try:
                    session = session or PythonSession(scratch, environment)
                    _check_yaml(block, scratch, session, count)
                except (AssertionError, yaml.YAMLError) as error:
                    raise AssertionError(f"{block.where}: {error}") from None
                result.ran += 1
    finally:
        if session is not None:
            session.close()
    return result


def _check_tutorial(run: PageRun) -> None:
    """The tutorial's promises: the outputs it names exist, the Python block prints goodput."""
    assert (run.scratch / "runs" / "quickstart" / "trace.json").is_file()
    assert (run.scratch / "runs" / "quickstart" / "plots" / "goodput.png").is_file()
    assert json.loads((run.scratch / "runs" / "2h.json").read_text())["jobs"]["pretrain"]
    assert list((run.scratch / "runs" / "sweep" / "plots").glob("*.png"))
    assert any("goodput" in output for output in run.python_output)


#: Checks after a page has run, beyond every block exiting cleanly.
AFTER: dict[str, callable] = {"docs/tutorial.md": _check_tutorial}


@pytest.fixture(scope="module")
def page_runs(request, tmp_path_factory):
    """The selected pages, run concurrently (each in its own scratch copy; most of the time
    is fleetsim's start-up and sweeps, so pages overlap well): page -> PageRun or the error."""
    selected = [item.callspec.params["page"] for item in request.session.items
                if getattr(item, "originalname", "") == "test_every_block_of_the_page_runs"]

    scratch = {page: tmp_path_factory.mktemp(re.sub(r"\W+", "-", page.stem))
               for page in selected}  # made here: mktemp is not thread-safe

    def one(page: Path):
        try:
            return run_page(page, scratch_copy(scratch[page]))
        except Exception as error:  # noqa: BLE001 (reported by the page's own test)
            return error

    slowest_first = sorted(selected, key=lambda page: -page.read_text().count("```"))
    with ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 1)) as pool:
        return dict(zip(slowest_first, pool.map(one, slowest_first)))


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(ROOT)) for page in PAGES])
def test_every_block_of_the_page_runs(page, page_runs):
    run = page_runs[page]
    if isinstance(run, Exception):
        raise run
    check = AFTER.get(str(page.relative_to(ROOT)))
    if check is not None:
        check(run)


# -- the rules above, on small examples -------------------------------------------------------

def test_usage_lines_are_checked_or_run_without_their_options():
    assert classify("fleetsim run S.yaml [--out DIR] [--seed N]").action == "usage"
    assert classify("fleetsim report DIR      # redraw the plots").action == "usage"
    nested = classify("fleetsim topo s.yaml [--export FILE [--force]] [--json]")
    assert (nested.action, nested.text) == ("run", "fleetsim topo s.yaml")
    assert classify("fleetsim plot DIR --x KEY --y COLUMN [--hue KEY]").action == "usage"
    stripped = classify("fleetsim sweep a.yaml --out runs/ckpt [--workers N] [--scheduler X]")
    assert (stripped.action, stripped.text) == ("run", "fleetsim sweep a.yaml --out runs/ckpt")
    assert classify("FLEETSIM_FAST=1 python examples/validate_daly.py").action == "run"
    assert classify("fleetsim run s.yaml --set KEY=VALUE").action == "usage"
    literal = classify('fleetsim run s.yaml --set "faults.causes=[]" --set "x=[1, 2]"')
    assert (literal.action, literal.text) == (
        "run", 'fleetsim run s.yaml --set "faults.causes=[]" --set "x=[1, 2]"')


def test_installs_the_suite_and_servers_are_left_out():
    assert classify("pip install -e .").action == "skip"
    setup = classify("python -m venv .venv && . .venv/bin/activate && pip install -e . && "
                     "fleetsim run s.yaml")
    assert (setup.action, setup.text) == ("run", "fleetsim run s.yaml")
    assert classify("pip install -e . && fleetsim run s.yaml").text == "fleetsim run s.yaml"
    assert classify('pip install -e ".[test]" && python -m pytest').action == "skip"
    assert classify("python -m pytest -q test_my_node.py").action == "run"
    assert classify("dask scheduler   # prints tcp://10.0.0.5:8786").action == "skip"


def test_continuations_and_console_prompts(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("<!-- no-run: a reason -->\n```console\n$ fleetsim run a.yaml \\\n"
                    "    --json\n{}\n```\n\n```sh\nfleetsim sweep S.yaml [--a]\n"
                    "               [--b]\n```\n")
    first, second = page_blocks(page)
    assert first.markers == {"no-run": "a reason"}
    assert command_lines(first) == ["fleetsim run a.yaml --json"]
    assert command_lines(second) == ["fleetsim sweep S.yaml [--a] [--b]"]


def test_fragments_merge_by_key_and_by_name():
    base = {"name": "s", "jobs": [{"name": "a", "gpus": 8, "checkpoint": {"save": "1s"}}]}
    fragment = {"jobs": [{"name": "a", "checkpoint": {"load": "2s"}}, {"name": "b"}]}
    assert merge(base, fragment) == {"name": "s", "jobs": [
        {"name": "a", "gpus": 8, "checkpoint": {"save": "1s", "load": "2s"}}, {"name": "b"}]}


def test_fast_mode_shrinks_only_the_seeds_of_sweeps():
    sweep = "base: a.yaml   # base\ngrid:\n  x: [1, 2]\nseeds: 5   # replicates\n"
    assert fast_sweep(sweep) == sweep.replace("seeds: 5", f"seeds: {FAST_SEEDS}")
    scenario = "name: s\nseed: 5\ncluster: {nodes: 2}\njobs: []\n"
    assert fast_sweep(scenario) == scenario
    assert fast_sweep("base: a.yaml\ngrid: {x: [1]}\nseeds: 1\n").endswith("seeds: 1\n")
