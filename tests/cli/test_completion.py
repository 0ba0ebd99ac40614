"""``fleetsim completion SHELL`` prints a static completion script generated from the parser
by shtab (issue 13, item shell completion): every command and nested action is in it, and
path arguments complete as files or directories."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from fleetsim.cli import SHELLS, main

COMMANDS = ("run", "validate", "hardware", "completion", "topo", "collective", "sweep", "plot",
            "report")


def _script(shell: str, capsys) -> str:
    assert main(["completion", shell]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    return captured.out


def test_the_bash_script_lists_every_command_and_nested_action(capsys):
    script = _script("bash", capsys)
    commands = re.search(r"^_shtab_fleetsim_subparsers=\((.*)\)$", script, re.M)
    assert commands is not None and set(commands.group(1).split()) == set(COMMANDS)
    assert re.search(r"^_shtab_fleetsim_hardware_subparsers=\(list show\)$", script, re.M)
    assert "_shtab_fleetsim_run_pos_0_COMPGEN=_shtab_compgen_files" in script  # the scenario
    assert "_shtab_fleetsim_run___out_COMPGEN=_shtab_compgen_dirs" in script
    assert "--resolution" in script and "--seed" in script
    assert script.rstrip().endswith("complete -o bashdefault -F _shtab_fleetsim fleetsim")


@pytest.mark.parametrize("shell", SHELLS)
def test_every_shell_gets_a_script_naming_the_commands(capsys, shell):
    script = _script(shell, capsys)
    for command in COMMANDS:
        assert command in script, (shell, command)


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_the_bash_script_is_valid_bash(tmp_path, capsys):
    path = tmp_path / "fleetsim.bash"
    path.write_text(_script("bash", capsys))
    process = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert process.returncode == 0, process.stderr
