"""Apply ``--set dotted.key=value`` overrides to scenario data before it is validated.

A path walks mappings by key and lists by item ``name`` (``jobs.pretrain.steps``) or by index
(``jobs.0.steps``). The value is read as a YAML scalar or flow collection, so ``1h`` stays a
string, ``5`` becomes an integer and ``[1, 2]`` a list; ``null`` removes the key, so that its
default applies. Missing keys are created (validation
then rejects the unknown ones with the usual message); a missing list item is an error.
"""

from __future__ import annotations

from typing import Any, Iterable

from fleetsim.errors import ScenarioError
from fleetsim.yamlsource import FROM_COMMAND_LINE, Document, parse_value


def parse_assignment(text: str, file: str) -> tuple[str, Any]:
    """Split ``key.path=value``; the value is parsed as YAML."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ScenarioError(f"expected key.path=value, got {text!r}", file=file,
                            line=FROM_COMMAND_LINE)
    return key, parse_value(raw, file, key) if raw.strip() else ""


def apply_overrides(document: Document, assignments: Iterable[str | tuple[str, Any]]) -> None:
    """Apply each ``key=value`` (or ``(key, value)`` pair) to ``document`` in place."""
    for assignment in assignments:
        if isinstance(assignment, str):
            key, value = parse_assignment(assignment, document.file)
        else:
            key, value = assignment
        _set(document, key, value)


def _set(document: Document, key: str, value: Any) -> None:
    parts = [part for part in key.split(".")]
    if any(not part for part in parts):
        raise ScenarioError("empty part in the key path", file=document.file,
                            line=FROM_COMMAND_LINE, key=key)
    node: Any = document.data
    location: tuple[Any, ...] = ()
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        here = ".".join(parts[: depth + 1])
        if isinstance(node, dict):
            if last:
                if value is None:  # null removes the key: its default applies
                    node.pop(part, None)
                else:
                    node[part] = value
                _mark(document, location + (part,), value)
                return
            if part not in node or node[part] is None:
                node[part] = {}
                document.lines[location + (part,)] = FROM_COMMAND_LINE
            node, location = node[part], location + (part,)
        elif isinstance(node, list):
            index = _list_index(node, part)
            if index is None:
                names = [item.get("name") for item in node if isinstance(item, dict)]
                known = ", ".join(str(name) for name in names if name) or "none"
                raise ScenarioError(f"no item named {part!r} (known: {known})",
                                    file=document.file, line=FROM_COMMAND_LINE, key=here)
            if last:
                node[index] = value
                _mark(document, location + (index,), value)
                return
            node, location = node[index], location + (index,)
        else:
            raise ScenarioError(f"{'.'.join(parts[:depth])} is a value, not a section; "
                                "cannot set a key inside it", file=document.file,
                                line=FROM_COMMAND_LINE, key=key)


def _list_index(items: list, part: str) -> int | None:
    for index, item in enumerate(items):
        if isinstance(item, dict) and item.get("name") == part:
            return index
    if part.isdigit() and int(part) < len(items):
        return int(part)
    return None


def _mark(document: Document, location: tuple[Any, ...], value: Any) -> None:
    """Record that ``location`` and everything below it came from the command line."""
    for known in [loc for loc in document.lines if loc[: len(location)] == location]:
        del document.lines[known]
    document.lines[location] = FROM_COMMAND_LINE
