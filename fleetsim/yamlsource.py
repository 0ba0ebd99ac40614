"""Read YAML documents keeping the line of every key, and turn validation errors into one line.

Scenario and hardware files are validated by pydantic models; a pydantic error only knows a
location tuple such as ``("jobs", 0, "checkpoint", "interval")``. :class:`Document` keeps, next
to the plain data, the line each such location was written on, so an error can be reported as
``quickstart.yaml:31: jobs.pretrain.checkpoint.interval: invalid duration '1x' (...)``.
List items that are mappings with a ``name`` are shown by that name, as users address them.

:func:`load_document` reads only regular files of UTF-8 text up to :data:`MAX_FILE_BYTES`, and
refuses documents nested deeper than :data:`MAX_DEPTH` or expanding through aliases to more
than :data:`MAX_NODES` values, before building anything from them: a FIFO, ``/dev/zero`` or an
alias bomb fails in one line instead of blocking or growing without end. libyaml's own
messages (several lines with a caret) become one line at their line of the file.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml
from pydantic import BaseModel, ValidationError

from fleetsim.errors import ScenarioError
from fleetsim.units import shown

Location = tuple[Any, ...]

#: libyaml's C parser where available (same marks and values, ~10x faster), else pure Python.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: Marks a value that came from a ``--set`` override rather than from the file.
FROM_COMMAND_LINE = "--set"


@dataclass
class Document:
    """Plain YAML data plus where each key was written."""

    data: Any
    file: str
    lines: dict[Location, int | str] = field(default_factory=dict)

    def line_of(self, location: Iterable[Any]) -> int | str | None:
        """The line of ``location`` or of its nearest written ancestor."""
        loc = tuple(location)
        while True:
            if loc in self.lines:
                return self.lines[loc]
            if not loc:
                return None
            loc = loc[:-1]

    def key_path(self, location: Iterable[Any]) -> str:
        """``jobs.pretrain.checkpoint.interval`` for ``("jobs", 0, "checkpoint", "interval")``."""
        parts: list[str] = []
        node: Any = self.data
        for part in location:
            if isinstance(part, int) and isinstance(node, list):
                item = node[part] if 0 <= part < len(node) else None
                name = item.get("name") if isinstance(item, dict) else None
                parts.append(name if _addressable(name) else str(part))
                node = item
            else:
                parts.append(str(part))
                node = node.get(part) if isinstance(node, dict) else None
        return ".".join(parts)

    def error(self, location: Iterable[Any], message: str) -> ScenarioError:
        """A :class:`ScenarioError` for ``location`` with its file, line and key path."""
        loc = tuple(location)
        return ScenarioError(message, file=self.file, line=self.line_of(loc),
                             key=self.key_path(loc) or None)


def _addressable(name: Any) -> bool:
    """A list item's ``name`` that can stand in its key path (a short plain name; else the
    item is shown by its index)."""
    return isinstance(name, str) and 0 < len(name) <= 128 and _PLAIN_NAME.match(name) is not None


_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$")


#: Largest YAML file read (scenarios, sweeps, hardware files are a few KiB; traces are CSV).
MAX_FILE_BYTES = 4 * 2**20
#: Deepest nesting of mappings and lists (scenarios nest about 6 deep); libyaml's composer
#: recurses in C and would crash the interpreter on a file of 100,000 ``[``.
MAX_DEPTH = 100
#: Most values a document may hold once its aliases are expanded: an "alias bomb" (each
#: anchor listing the previous one ten times) would otherwise grow exponentially.
MAX_NODES = 500_000


def load_document(path: str | Path) -> Document:
    """Parse one YAML file into a :class:`Document`; raise :class:`ScenarioError` if malformed.

    Only a regular file is read (a FIFO, ``/dev/zero`` or a directory is refused without
    reading), up to :data:`MAX_FILE_BYTES`, and it must be UTF-8.
    """
    return parse_document(read_text(path), str(path))


def read_text(path: str | Path) -> str:
    """The UTF-8 text of the regular file ``path`` (at most :data:`MAX_FILE_BYTES`)."""
    file = str(path)
    try:  # non-blocking: opening a FIFO with no writer must not wait for one
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ScenarioError("file not found", file=file) from None
    except OSError as exc:
        raise ScenarioError(f"cannot read file ({exc.strerror or exc})", file=file) from None
    except ValueError:  # a NUL character in the name
        raise ScenarioError("not a valid file name", file=file) from None
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode):
        os.close(descriptor)
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "a FIFO, device or socket"
        raise ScenarioError(f"is not a regular file ({kind}); give a YAML file", file=file)
    with os.fdopen(descriptor, "rb") as stream:
        try:
            data = stream.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise ScenarioError(f"cannot read file ({exc.strerror or exc})", file=file) from None
    if max(len(data), info.st_size) > MAX_FILE_BYTES:
        raise ScenarioError(f"the file is larger than {MAX_FILE_BYTES // 2**20} MiB (YAML files "
                            "are read up to that size)", file=file)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                            f"{exc.start})", file=file,
                            line=data.count(b"\n", 0, exc.start) + 1) from None


def parse_document(text: str, file: str) -> Document:
    """Parse YAML text (named ``file`` in errors) into a :class:`Document`."""
    if len(text) > MAX_FILE_BYTES:
        raise ScenarioError(f"the document is larger than {MAX_FILE_BYTES // 2**20} MiB",
                            file=file)
    try:
        _check_shape(text, file)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                raise ScenarioError("the file is empty (expected a YAML mapping)", file=file,
                                    line=1)
            lines: dict[Location, int | str] = {}
            _record_lines(node, (), lines, file)
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, file) from None
    if not isinstance(data, dict):
        raise ScenarioError("expected a YAML mapping of keys at the top level", file=file, line=1)
    return Document(data=data, file=file, lines=lines)


def parse_value(text: str, file: str, key: str) -> Any:
    """A ``--set`` value (YAML text), bounded like a file (a value of 100,000 ``[`` or an alias
    bomb on the command line is refused too); errors are one line ``FILE:--set: key: ...``."""
    try:
        _check_shape(text, file)
        return yaml.load(text, Loader=_Loader)
    except ScenarioError as error:
        message = f"cannot read the value: {error.message}"
    except yaml.YAMLError:
        message = f"cannot read the value {text!r} (a YAML scalar, list or mapping)"
    raise ScenarioError(message, file=file, line=FROM_COMMAND_LINE, key=key)


def _yaml_error(exc: yaml.YAMLError, text: str, file: str) -> ScenarioError:
    """PyYAML's error (several lines, with a caret) as one line at its line of the file."""
    line = None
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "malformed YAML"
    elif isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        problem = f"character U+{code:04X} is not allowed ({exc.reason})"
    else:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return ScenarioError(f"malformed YAML: {' '.join(problem.split())}", file=file, line=line)


def _check_shape(text: str, file: str) -> None:
    """Refuse a document nested deeper than :data:`MAX_DEPTH`, with an alias inside its own
    anchor, or holding more than :data:`MAX_NODES` values once aliases are expanded.

    One pass over libyaml's events (no recursion): each open mapping or list counts the
    values it holds, an alias counts as the values of its anchor.
    """
    loader = _Loader(text)
    expanded: dict[str, int] = {}  # anchor -> values it stands for
    open_nodes: list[list[Any]] = []  # [anchor, values so far] of each open mapping or list
    try:
        while True:
            event = loader.get_event()
            if event is None or isinstance(event, yaml.StreamEndEvent):
                return
            line = event.start_mark.line + 1
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                if len(open_nodes) >= MAX_DEPTH:
                    raise ScenarioError(f"nested more than {MAX_DEPTH} levels deep",
                                        file=file, line=line)
                open_nodes.append([event.anchor, 1])
                continue
            if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                anchor, values = open_nodes.pop()
            elif isinstance(event, yaml.AliasEvent):
                if any(node[0] == event.anchor for node in open_nodes):
                    raise ScenarioError(f"the alias *{event.anchor} is inside its own anchor "
                                        f"&{event.anchor} (a recursive structure)",
                                        file=file, line=line)
                anchor, values = None, expanded.get(event.anchor, 1)
            elif isinstance(event, yaml.ScalarEvent):
                anchor, values = event.anchor, 1
            else:
                continue
            if anchor is not None:
                expanded[anchor] = values
            if open_nodes:
                open_nodes[-1][1] += values
                values = open_nodes[-1][1]
            if values > MAX_NODES:
                raise ScenarioError(f"aliases expand the document past {MAX_NODES:,} values "
                                    "(write the values out, or alias less)", file=file,
                                    line=line)
    finally:
        loader.dispose()


def _record_lines(node: yaml.Node, location: Location, lines: dict[Location, int | str],
                  file: str) -> None:
    lines[location] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ScenarioError("keys must be plain names", file=file,
                                    line=key_node.start_mark.line + 1)
            key = key_node.value
            if key in seen:
                raise ScenarioError(f"duplicate key {key!r} (each key may appear once)",
                                    file=file, line=key_node.start_mark.line + 1,
                                    key=".".join(map(str, location + (key,))))
            seen.add(key)
            _record_lines(value_node, location + (key,), lines, file)
            lines[location + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, location + (index,), lines, file)


def validate(model: type[BaseModel], document: Document, location: Location = ()) -> Any:
    """Validate ``document.data`` (or a part of it) with ``model``; errors become one line."""
    data = document.data
    for part in location:
        data = data[part]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _first_error(exc, model, document, location) from None


def _first_error(exc: ValidationError, model: type[BaseModel], document: Document,
                 prefix: Location) -> ScenarioError:
    errors = exc.errors(include_url=False)
    # a value that fits no member of a union gets one error per member: report the deepest,
    # the member the value was closest to (a mapping for a model, not "should be a string")
    error = max(errors, key=lambda item: len(item["loc"]))
    inner = _strip_union_tags(document, prefix, error["loc"])
    loc = prefix + inner
    kind = error["type"]
    if kind == "extra_forbidden":
        parent = _model_at(model, inner[:-1], _raw(document, prefix))
        message = "unknown key" + (_unknown_key_hint(str(loc[-1]), parent) if parent else "")
    elif kind == "literal_error":
        allowed = _literal_choices(str((error.get("ctx") or {}).get("expected", "")))
        raw = _raw(document, loc)
        message = (f"must be one of {', '.join(allowed)}, got {shown(raw)}"
                   + _did_you_mean(raw, allowed))
    elif kind in ("string_too_long", "string_too_short"):
        context = error.get("ctx") or {}
        raw = _raw(document, loc)
        message = (f"must be at most {context.get('max_length')} characters"
                   if kind == "string_too_long" else
                   f"must be at least {context.get('min_length')} character(s)")
        message += f", got {shown(raw)}"
    elif kind == "finite_number":
        message = f"must be a finite number, got {shown(_raw(document, loc))}"
    elif kind == "missing":
        message = "required key is missing"
    elif kind in ("union_tag_not_found", "union_tag_invalid"):
        context = error.get("ctx") or {}
        loc = loc + (context.get("discriminator", "type").strip("'"),)  # the tag's own key
        if kind == "union_tag_not_found":
            message = "required key is missing"
        else:
            allowed = context.get("expected_tags", "").replace("'", "")
            tag = _raw(document, loc)
            message = (f"must be one of {allowed}, got {shown(tag)}"
                       + _did_you_mean(tag, allowed.split(", ")))
    elif kind in _EXPECTED:
        message = f"expected {_EXPECTED[kind]}, got {shown(_raw(document, loc))}"
    elif kind in _BOUNDS:
        context = error.get("ctx") or {}
        limit = next(iter(value for key, value in context.items() if key != "field_type"), "")
        message = f"must be {_BOUNDS[kind]} {_limit(limit)}, got {shown(_raw(document, loc))}"
    else:
        message = str(error["msg"])
        for prefix_text in ("Value error, ", "Assertion failed, "):
            message = message.removeprefix(prefix_text)
    return document.error(loc, message)


def _unknown_key_hint(key: str, parent: type[BaseModel]) -> str:
    """`` (did you mean 'checkpoint'?)`` for a near miss, else the keys allowed."""
    names = list(parent.model_fields)
    names += [info.alias for info in parent.model_fields.values() if info.alias]
    return _did_you_mean(key, names) or f" (allowed: {', '.join(parent.model_fields)})"


def _did_you_mean(value: Any, choices: Iterable[str]) -> str:
    """`` (did you mean 'sync'?)`` when a string ``value`` is close to one of ``choices``
    (``'seed' or 'seeds'`` when several are equally close), else ``""``."""
    if not isinstance(value, str) or len(value) > 100:
        return ""
    scores = {choice: difflib.SequenceMatcher(None, value, choice).ratio()
              for choice in choices}
    best = max(scores.values(), default=0.0)
    if best < 0.6:  # difflib.get_close_matches' default cutoff
        return ""
    closest = sorted(choice for choice, score in scores.items() if score == best)
    return f" (did you mean {' or '.join(repr(choice) for choice in closest)}?)"


def _literal_choices(expected: str) -> list[str]:
    """``"'sync', 'async' or 'in-memory'"`` (pydantic's wording) -> ``[sync, async, in-memory]``."""
    return [part.strip().strip("'") for part in expected.replace(" or ", ", ").split(", ")
            if part.strip()]


def _limit(value: Any) -> str:
    """A bound as a reader writes it: ``1e+09`` rather than ``1000000000``."""
    if isinstance(value, float) or (isinstance(value, int) and abs(value) >= 1e6):
        return f"{value:g}"
    return str(value)


#: pydantic's type errors in a reader's words (its own say "Input should be a valid tuple")
_EXPECTED = {
    "int_type": "a whole number", "int_parsing": "a whole number",
    "int_from_float": "a whole number", "int_parsing_size": "a whole number",
    "float_type": "a number", "float_parsing": "a number",
    "bool_type": "true or false", "bool_parsing": "true or false",
    "string_type": "a string",
    "list_type": "a list", "tuple_type": "a list", "set_type": "a list",
    "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
}

_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<",
           "less_than_equal": "<=", "too_short": "of length at least",
           "too_long": "of length at most"}


def _raw(document: Document, location: Location) -> Any:
    """The value as the user wrote it at ``location`` (before unit parsing)."""
    node: Any = document.data
    for part in location:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _strip_union_tags(document: Document, prefix: Location, loc: tuple) -> Location:
    """Drop the union-member names pydantic puts in a location (``'str'``, ``'Architecture'``,
    ``'function-after[...]'``): parts that are not keys of the data at that point."""
    node: Any = _raw(document, prefix)
    kept: list[Any] = []
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif isinstance(part, str) and ("[" in part or not isinstance(node, dict)
                                        or part[:1].isupper() or part == node.get("type")):
            continue
        else:
            node = None
        kept.append(part)
    return tuple(kept)


def _model_at(model: type[BaseModel], location: Location,
              data: Any = None) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at ``location`` inside ``model`` (``data``,
    the mapping ``model`` validates, picks the member of a union tagged by a ``type`` key)."""
    current: Any = model
    annotation: Any = None
    for part in location:
        if isinstance(data, (dict, list)):
            try:
                data = data[part]
            except (KeyError, IndexError, TypeError):
                data = None
        if isinstance(part, int):  # a list item: its type, by its own tag
            current = _submodel(annotation, data) if annotation is not None else current
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field_info = current.model_fields.get(part)
        if field_info is None:
            return None
        annotation = field_info.annotation
        current = _submodel(annotation, data)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _submodel(annotation: Any, data: Any = None) -> Any:
    """The model class inside ``Model | None``, ``list[Model]``, ``tuple[Model, ...]``; of a
    union of models, the one whose ``type`` matches the data's (or of a list of such items)."""
    models = _submodels(annotation)
    if len(models) > 1:
        items = data if isinstance(data, list) else [data]
        tag = next((item.get("type") for item in items if isinstance(item, dict)), None)
        for candidate in models:
            field_info = candidate.model_fields.get("type")
            if field_info is not None and tag in typing.get_args(field_info.annotation):
                return candidate
    return models[0] if models else None


def _submodels(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for argument in typing.get_args(annotation)
            for model in _submodels(argument)]
