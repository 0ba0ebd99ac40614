"""Hostile YAML files: alias bombs, deep nesting, FIFOs, devices, huge or non-UTF-8 files each
fail in one line ``FILE[:LINE]: message`` without hanging or reading forever, for scenarios,
hardware files and sweep files alike (issue 13, item YAML loading)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fleetsim.errors import ScenarioError
from fleetsim.hardware import load_spec
from fleetsim.sweep.spec import load_sweep
from fleetsim.yamlsource import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES, load_document

#: A subprocess that runs longer than this has hung (a guard, not a speed requirement).
HANG_GUARD_S = 120


def alias_bomb(levels: int = 9) -> str:
    """"Billion laughs": each anchor lists the previous one ten times (10**levels values)."""
    lines = ["name: bomb", "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 10)}]")
    return "\n".join(lines) + "\n"


def _error(path) -> str:
    with pytest.raises(ScenarioError) as caught:
        load_document(path)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_an_alias_bomb_is_refused_at_the_line_it_explodes(tmp_path):
    """a5 stands for 10**6 values, the first past the bound of 500,000 (line 2 + 5)."""
    assert 10**5 < MAX_NODES < 10**6
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    assert _error(path) == (f"{path}:7: aliases expand the document past {MAX_NODES:,} values "
                            "(write the values out, or alias less)")


def test_aliases_below_the_bound_still_work(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("base: &base {mtbf: 5000h, repair: 4h}\ncopy: *base\n"
                    "merged: {<<: *base, repair: 8h}\n")
    data = load_document(path).data
    assert data["copy"] == {"mtbf": "5000h", "repair": "4h"}
    assert data["merged"] == {"mtbf": "5000h", "repair": "8h"}


@pytest.mark.parametrize("text, line, words", [
    ("a: " + "[" * 100_000 + "]" * 100_000 + "\n", 1, f"nested more than {MAX_DEPTH} levels"),
    ("a: 1\nb: &b [1, *b]\n", 2, "the alias *b is inside its own anchor &b"),
    ("a: 1\nb:\n\t- c\n", 3, "malformed YAML: found character that cannot start any token"),
    ("a: 1\nb: x\x01y\n", 2, "malformed YAML: character U+0001 is not allowed"),
    ("a: [1, 2\n", 2, "malformed YAML:"),
    ("a: 1\n---\nb: 2\n", 2, "malformed YAML: but found another document"),
])
def test_malformed_structure_is_one_line_with_its_line(tmp_path, text, line, words):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    message = _error(path)
    if words.startswith("nested more than"):  # PyYAML >= 6.0.4 may stop first, one line too
        words = (words, "malformed YAML: exceeded maximum nesting depth")
    else:
        words = (words,)
    assert message.startswith(tuple(f"{path}:{line}: {text}" for text in words)), message


def test_a_file_that_is_not_utf8_names_the_line_and_byte(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: test\ncluster: café\n".encode("latin-1"))
    assert _error(path) == f"{path}:2: not UTF-8 text (byte 0xe9 at offset 23)"


def test_a_huge_file_is_refused_by_its_size(tmp_path):
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as stream:
        stream.truncate(MAX_FILE_BYTES + 1)  # sparse: nothing is written
    assert _error(path) == (f"{path}: the file is larger than {MAX_FILE_BYTES // 2**20} MiB "
                            "(YAML files are read up to that size)")


def test_a_directory_is_refused(tmp_path):
    assert _error(tmp_path) == f"{tmp_path}: is not a regular file (a directory); give a YAML file"


@pytest.mark.parametrize("special", ["fifo", "/dev/zero", "/dev/null"])
def test_fifos_and_devices_are_refused_without_reading(tmp_path, special):
    """In a subprocess: a FIFO with no writer would block an ordinary open() forever."""
    if special == "fifo":
        special = str(tmp_path / "fifo.yaml")
        os.mkfifo(special)
    process = subprocess.run([sys.executable, "-m", "fleetsim", "validate", special],
                             capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert process.returncode == 2
    assert process.stderr == (f"fleetsim: {special}: is not a regular file (a FIFO, device or "
                              "socket); give a YAML file\n")


def test_the_command_line_refuses_an_alias_bomb_in_one_line(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    process = subprocess.run([sys.executable, "-m", "fleetsim", "run", str(path)],
                             capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert process.returncode == 2
    assert process.stderr.startswith(f"fleetsim: {path}:7: aliases expand the document")
    assert process.stderr.count("\n") == 1


def test_hardware_files_and_sweep_files_are_read_the_same_way(tmp_path):
    """Both go through load_document: the same bounds and the same one-line errors."""
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(alias_bomb())
    for loader in (load_spec, load_sweep):
        with pytest.raises(ScenarioError, match=r"bomb\.yaml:7: aliases expand"):
            loader(bomb)
    with pytest.raises(ScenarioError, match=r"is not a regular file \(a directory\)"):
        load_sweep(tmp_path)


@pytest.mark.parametrize("value, words", [
    ("[" * 50_000, f"cannot read the value: nested more than {MAX_DEPTH} levels deep"),
    ("{a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1], " + ", ".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)) + "}",
     "cannot read the value: aliases expand the document past"),
    ("[1, 2", "cannot read the value '[1, 2' (a YAML scalar, list or mapping)"),
])
def test_a_set_value_is_bounded_like_a_file(root, value, words):
    """``--set`` values are YAML too: 50,000 ``[`` once overflowed Python's recursion limit."""
    from fleetsim.scenario import load_scenario

    with pytest.raises(ScenarioError) as caught:
        load_scenario(root / "scenarios" / "quickstart.yaml", overrides=[f"name={value}"])
    message = str(caught.value)
    where = f"{root / 'scenarios' / 'quickstart.yaml'}:--set: name: "
    alternatives = (words,)
    if "nested more than" in words:  # PyYAML >= 6.0.4 refuses deep nesting itself, in one line
        alternatives += ("cannot read the value '[[[[",)
    assert message.startswith(tuple(where + text for text in alternatives)), message
    assert "\n" not in message
