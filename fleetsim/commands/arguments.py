"""Command-line arguments read as strictly as scenario files: one line per error, exit code 2.

* :class:`OneLineParser`: an ``argparse.ArgumentParser`` whose every error is one line
  ``fleetsim run: --seed: invalid value 'abc' (...)`` on stderr and exit code 2 (argparse's
  default prints the usage too), and whose unknown subcommands get a "did you mean".
* An unknown option gets the closest option of any command: ``fleetsim: unknown option
  '--sed' (did you mean '--seed'?)``.
* :func:`join_negative_values`: ``--resolution -1h`` reaches the option as its value (argparse
  takes ``-1h`` for an option), so it is checked, and refused, like any other value.
* Argument types: :func:`seed` (0 to 2**63 - 1), :func:`workers`, :func:`output_dir` and
  :func:`output_file`. An output place is checked while the arguments are parsed, before
  anything runs: not empty, not absurdly long, not under a regular file, and writable (a
  directory is made and removed at once in the nearest existing directory: permission bits
  say nothing for root, /proc or a read-only mount).
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Iterable, NoReturn, Sequence

EXIT_BAD_INPUT = 2

#: Longest message printed: a 50 MB argument is shown by its start.
MAX_MESSAGE_CHARS = 500
#: Longest path accepted for an output (Linux's PATH_MAX).
MAX_PATH_CHARS = 4096
#: Seeds are 0 .. 2**63 - 1 (a signed 64-bit integer, as other tools store them).
MAX_SEED = 2**63 - 1
#: Local worker processes a sweep may start.
MAX_WORKERS = 1024

UNRECOGNIZED = "unrecognized arguments: "

#: A token that is a negative number or duration (``-1``, ``-1h``, ``-.5s``), never an option.
NEGATIVE = re.compile(r"^-\.?\d")


def one_line(text: str) -> str:
    """``text`` as one printable line: control characters escaped, cut to a readable length."""
    text = "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS] + f"... ({len(text):,} characters)"
    return text


def fail(prog: str, message: str) -> NoReturn:
    """Print ``PROG: message`` as one line on stderr and exit with code 2."""
    print(one_line(f"{prog}: {message}"), file=sys.stderr)
    sys.exit(EXIT_BAD_INPUT)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'run'?)`` for the closest choice, else the list of choices."""
    choices = list(choices)
    close = difflib.get_close_matches(word, choices, n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (allowed: {', '.join(choices)})"


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line each (its subcommands' parsers too)."""

    def error(self, message: str) -> NoReturn:
        if message.startswith(UNRECOGNIZED):
            fail(self.prog, self._unrecognized(message.removeprefix(UNRECOGNIZED)))
        # argparse says "argument --seed: invalid int value: 'abc'"; the option is enough
        fail(self.prog, re.sub(r"^argument ([^:]+): ", r"\1: ", message))

    def _unrecognized(self, extras: str) -> str:
        """The first argument no parser took, with the closest option of any command."""
        first = extras.split(" ")[0]
        if not first.startswith("-"):
            return f"unexpected argument {first!r}"
        option = first.split("=")[0]
        owners = sorted(name for name, parser in _commands(self)
                        if option in long_options(parser))
        if owners:  # a real option, of other commands than the one given
            return (f"unknown option {option!r} for this command (an option of "
                    f"{', '.join(owners)}; see --help)")
        close = difflib.get_close_matches(option, sorted(long_options(self)), n=1)
        hint = f"did you mean {close[0]!r}?" if close else "see --help"
        return f"unknown option {option!r} ({hint})"

    def _check_value(self, action: argparse.Action, value: object) -> None:
        if (isinstance(action, argparse._SubParsersAction) and isinstance(value, str)
                and value not in action.choices):
            self.error(f"unknown command {value!r}{did_you_mean(value, action.choices)}")
        super()._check_value(action, value)


def _commands(parser: argparse.ArgumentParser,
              prefix: str = "") -> Iterable[tuple[str, argparse.ArgumentParser]]:
    """Every (sub)command below ``parser`` with its parser: ``run``, ``hardware show``, ..."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                yield prefix + name, subparser
                yield from _commands(subparser, prefix + name + " ")


def long_options(parser: argparse.ArgumentParser, *, values_only: bool = False) -> set[str]:
    """The long options of ``parser`` and its subcommands (with ``values_only``, only those
    taking exactly one value)."""
    found: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in set(action.choices.values()):
                found |= long_options(subparser, values_only=values_only)
        elif not values_only or action.nargs is None:
            found.update(option for option in action.option_strings if option.startswith("--"))
    return found


def join_negative_values(argv: Sequence[str], options: set[str]) -> list[str]:
    """``["--resolution", "-1h"]`` -> ``["--resolution=-1h"]`` for the options in ``options``
    (argparse reads ``-1h`` as an unknown option and says the value is missing)."""
    argv = list(argv)
    joined: list[str] = []
    index = 0
    while index < len(argv):
        token = argv[index]
        if token == "--":
            return joined + argv[index:]
        if (token in options and index + 1 < len(argv)
                and NEGATIVE.match(argv[index + 1])):
            joined.append(f"{token}={argv[index + 1]}")
            index += 2
        else:
            joined.append(token)
            index += 1
    return joined


def _whole_number(text: str, allowed: str) -> int:
    try:
        return int(text)
    except ValueError:  # also a number past Python's 4300-digit conversion limit
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r} "
                                         f"({allowed})") from None


def seed(text: str) -> int:
    """``--seed``: a whole number from 0 to 2**63 - 1."""
    allowed = "allowed: 0 to 2**63-1"
    value = _whole_number(text, allowed)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be >= 0 and <= 2**63-1, got {text}")
    return value


def workers(text: str) -> int:
    """``--workers``: a whole number of processes from 1 to :data:`MAX_WORKERS`."""
    allowed = f"allowed: 1 to {MAX_WORKERS}"
    value = _whole_number(text, allowed)
    if not 1 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be >= 1 and <= {MAX_WORKERS}, got {text}")
    return value


def output_dir(text: str) -> str:
    """``--out DIR``: a directory that is, or can be made, and written in."""
    path = _output_path(text)
    if _exists(path, text) and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} exists and is not a directory")
    _check_writable(path if path.is_dir() else _nearest_directory(path, text), text)
    return text


def output_file(text: str) -> str:
    """An output file (``--export``, ``plot --out``): not a directory, in a writable one."""
    path = _output_path(text)
    if _exists(path, text) and path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a directory (give a file name)")
    _check_writable(_nearest_directory(path, text), text)
    return text


def _output_path(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty (give a path)")
    if "\0" in text:
        raise argparse.ArgumentTypeError("must not contain a NUL character")
    if len(text) > MAX_PATH_CHARS:
        raise argparse.ArgumentTypeError(f"is {len(text):,} characters long "
                                         f"(at most {MAX_PATH_CHARS})")
    return Path(text)


def _exists(path: Path, text: str) -> bool:
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as error:  # a name too long, a loop of links, no permission
        raise argparse.ArgumentTypeError(f"cannot use {text!r} ({error.strerror})") from None
    return True


def _nearest_directory(path: Path, text: str) -> Path:
    """The nearest existing ancestor of ``path``, which must be a directory."""
    for parent in path.absolute().parents:
        if _exists(parent, text):
            if not parent.is_dir():
                raise argparse.ArgumentTypeError(f"cannot use {text!r}: {parent} is a file, "
                                                 "not a directory")
            return parent
    return Path(path.absolute().anchor)


def _check_writable(directory: Path, text: str) -> None:
    """Make and remove a directory in ``directory``: the only test that holds for root,
    /proc and read-only mounts."""
    try:
        probe = tempfile.mkdtemp(prefix=".fleetsim-write-check-", dir=directory)
    except OSError as error:
        raise argparse.ArgumentTypeError(f"cannot write in {directory} for {text!r} "
                                         f"({error.strerror or error})") from None
    os.rmdir(probe)
