"""The ``fleetsim`` command line: run, validate, hardware, completion, and the commands in
fleetsim/commands/.

Bad input of any kind (scenario, hardware file, ``--set``, an argument, output directory)
prints one line ``FILE:LINE: key.path: what is wrong (what is allowed)`` (for an argument:
``fleetsim run: --seed: ...``) on stderr and exits with code 2; nothing is written.

Startup is kept short (``fleetsim --help`` and ``validate`` in well under half a second, see
benchmarks/CLI_STARTUP.md): this module and the command modules import the simulator, pandas,
matplotlib and rich only inside the handler that uses them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

from fleetsim import __version__
from fleetsim.commands.arguments import (EXIT_BAD_INPUT, OneLineParser, did_you_mean,
                                         join_negative_values, long_options, one_line,
                                         output_dir, output_file, seed)
from fleetsim.errors import FleetsimError

#: Exit code when the reader of stdout goes away (128 + SIGPIPE, as a shell reports it).
EXIT_BROKEN_PIPE = 141

#: Shells ``fleetsim completion`` writes a script for (shtab's).
SHELLS = ("bash", "zsh", "tcsh")


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="fleetsim", description="Discrete-event simulator of ML fleets: step time, "
        "failures, checkpoints and goodput.")
    parser.add_argument("--version", action="version", version=f"fleetsim {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="simulate a scenario and print its summary")
    run.add_argument("scenario", help="scenario YAML file")
    _scenario_options(run)
    run.add_argument("--out", metavar="DIR", type=output_dir,
                     help="write summary.json, events.csv, timeseries (CSV, Parquet), "
                     "phases.csv, trace.json and plots/ into DIR")
    run.add_argument("--resolution", metavar="DURATION",
                     help="step of the timeseries, e.g. 1h (default: automatic)")
    run.add_argument("--force", action="store_true",
                     help="overwrite outputs of an earlier run in --out DIR")
    run.add_argument("--json", action="store_true",
                     help="print the summary as JSON on stdout and nothing else")
    run.add_argument("--quiet", action="store_true", help="print nothing (errors excepted)")

    validate = commands.add_parser("validate", help="check a scenario without running it")
    validate.add_argument("scenario", help="scenario YAML file")
    _scenario_options(validate)

    hardware = commands.add_parser("hardware", help="list or show the hardware catalogue")
    hardware_commands = hardware.add_subparsers(dest="hardware_command", required=True,
                                                metavar="ACTION")
    hardware_commands.add_parser("list", help="list accelerators and node types")
    show = hardware_commands.add_parser("show", help="show one accelerator or node type")
    show.add_argument("name")

    run.set_defaults(handler=_run)
    validate.set_defaults(handler=_validate)
    hardware.set_defaults(handler=_hardware)

    completion = commands.add_parser(
        "completion", help="print a shell completion script (bash, zsh, tcsh)",
        description="Print a tab-completion script for fleetsim's commands and options. "
        "bash: fleetsim completion bash > ~/.local/share/bash-completion/completions/fleetsim; "
        "zsh: fleetsim completion zsh > ~/.zfunc/_fleetsim (with ~/.zfunc on $fpath).")
    completion.add_argument("shell", choices=SHELLS)
    completion.set_defaults(handler=_completion)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).add_parser(commands)
    return parser


#: Modules that each add one subcommand: ``add_parser(subparsers)`` registers it and sets
#: ``handler`` (a function of the parsed arguments returning the exit code) as its default.
COMMAND_MODULES: tuple[str, ...] = ("fleetsim.commands.topo", "fleetsim.commands.collective",
                                    "fleetsim.commands.sweep", "fleetsim.commands.plot",
                                    "fleetsim.commands.report")


def _scenario_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=seed, help="replace the scenario's seed (0 to 2**63-1)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a scenario key, e.g. "
                        "--set jobs.pretrain.checkpoint.interval=1h (repeatable)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fleetsim`` command; returns the exit code."""
    parser = _parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parser.parse_args(join_negative_values(argv, long_options(parser,
                                                                        values_only=True)))
    except SystemExit as stop:  # --help, --version, or a bad argument (already printed)
        return stop.code if isinstance(stop.code, int) else EXIT_BAD_INPUT
    try:
        code = args.handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's flush at exit
        return code
    except FleetsimError as error:
        print(one_line(f"fleetsim: {error}"), file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("fleetsim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `fleetsim hardware list | head -1`: the reader left, quietly
        # the interpreter flushes stdout at exit: point it at /dev/null so it cannot fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _load(args: argparse.Namespace):
    from fleetsim.prepare import load

    return load(args.scenario, overrides=args.overrides, seed=args.seed)


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from fleetsim.report.console import progress_bar, summary_tables
    from fleetsim.report.writers import check_writable, summary_json, write_run
    from fleetsim.runner import RUN_LIMIT_FACTOR, simulate

    if args.resolution is not None:
        args.overrides = [*args.overrides, f"output.resolution={args.resolution}"]
    scenario = _load(args)
    if args.out:
        check_writable(args.out, overwrite=args.force)
    stdout = Console()
    stderr = Console(stderr=True)
    show_progress = not (args.quiet or args.json) and stderr.is_terminal
    if show_progress:
        with progress_bar(stderr, scenario.spec.name) as update:
            result = simulate(scenario, progress=update)
    else:
        result = simulate(scenario)
    if args.out:
        write_run(result, args.out, overwrite=args.force)
    if result.summary["end"] == "run_limit" and not args.quiet:
        unfinished = [name for name, job in result.summary["jobs"].items() if not job["completed"]]
        print(f"fleetsim: warning: {', '.join(unfinished)} did not finish within the run limit "
              f"({RUN_LIMIT_FACTOR:g}x the failure-free time); failures may be too frequent "
              "for its checkpoints, or set a horizon", file=sys.stderr)
    if args.json:
        sys.stdout.write(summary_json(result.summary))
    elif not args.quiet:
        for table in summary_tables(result.summary):
            stdout.print(table)
        if args.out:
            stdout.print(f"outputs written to {args.out}/")
    return 0


def _validate(args: argparse.Namespace) -> int:
    scenario = _load(args)
    spec = scenario.spec
    gpus = spec.cluster.nodes * scenario.gpus_per_node
    jobs = f"{len(spec.jobs)} job(s)"
    if spec.workload is not None:
        classes = len(spec.workload.classes)
        jobs += (f" and a workload ({'a trace, ' if spec.workload.trace else ''}"
                 f"{classes} class{'es' if classes != 1 else ''})")
    print(f"{scenario.file}: ok ({spec.name}: {jobs}, {gpus} GPUs on "
          f"{spec.cluster.nodes} x {scenario.node.name})")
    return 0


def _hardware(args: argparse.Namespace) -> int:
    from fleetsim.hardware import Catalogue

    catalogue = Catalogue.load()
    catalogue.check()
    if args.hardware_command == "list":
        print("accelerators:")
        for name in catalogue.accelerator_names():
            spec = catalogue.accelerator(name)
            bf16 = spec.peak_flops.get("bf16")
            peak = f"{bf16 / 1e12:g} TFLOP/s bf16" if bf16 else ""
            print(f"  {name:<14} {spec.memory / 1e9:g} GB, {spec.memory_bandwidth / 1e12:g} TB/s, "
                  f"{peak}")
        print("nodes:")
        for name in catalogue.node_names():
            node = catalogue.node(name)
            print(f"  {name:<14} {node.accelerators} x {node.accelerator} "
                  f"({node.scale_up.topology})")
        return 0
    for table, kind in ((catalogue.nodes, "node"), (catalogue.accelerators, "accelerator")):
        if args.name in table:
            path = catalogue.files[f"{kind}:{table[args.name].name}"]
            print(f"# {path}")
            print(path.read_text(encoding="utf-8"), end="")
            return 0
    known = catalogue.node_names() + catalogue.accelerator_names()
    raise FleetsimError(f"hardware show: unknown name {args.name!r}"
                        f"{did_you_mean(args.name, known)}")


def _completion(args: argparse.Namespace) -> int:
    """Print the completion script of ``args.shell`` (generated from the parser by shtab)."""
    import shtab

    parser = _parser()
    _complete_paths(parser, shtab)
    script = shtab.complete(parser, shell=args.shell)
    sys.stdout.write(script if script.endswith("\n") else script + "\n")
    return 0


#: Positional arguments (by dest) completed as file names, and as directory names.
FILE_ARGUMENTS = ("scenario", "sweep")
DIRECTORY_ARGUMENTS = ("dir", "directory")


def _complete_paths(parser: argparse.ArgumentParser, shtab) -> None:
    """Mark path arguments so that the shell completes them with file or directory names."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in set(action.choices.values()):
                _complete_paths(subparser, shtab)
        elif action.type is output_dir or action.dest in DIRECTORY_ARGUMENTS:
            action.complete = shtab.DIRECTORY
        elif action.type is output_file or action.dest in FILE_ARGUMENTS:
            action.complete = shtab.FILE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
