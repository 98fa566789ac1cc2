"""YAML files that remember where each value came from.

Validation errors must name the file, the line and the field. :func:`load_yaml`
returns the plain data and a :class:`LineMap` from a field path such as
``("stages", 2, "needs", 0)`` to its line number.

The reader is safe on hostile files: it refuses a file over :data:`MAX_BYTES`, text
that is not UTF-8, alias bombs, recursive aliases and deep nesting
(:mod:`millpond.yaml_compose`), and every YAML error, with one line
``file:line: field: message``. Merge keys (``<<: *defaults``, or a list of aliases)
are supported: keys written in the mapping win over merged ones, and earlier
mappings of a list win over later ones; a merged value keeps the line where it is
written (in the anchored mapping).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from millpond.errors import SpecError
from millpond.yaml_compose import MAX_VALUES, Refused, compose

__all__ = ["MAX_BYTES", "MAX_VALUES", "FieldPath", "LineMap", "format_path", "load_yaml", "plain", "shorten"]

FieldPath = tuple[str | int, ...]
MAX_BYTES = 1 << 20
"""The largest spec file read, 1 MiB (the reference ``pipelines/shop.yml`` has 12 KB)."""

MERGE_TAG = "tag:yaml.org,2002:merge"
TEXT_TAGS = {MERGE_TAG, "tag:yaml.org,2002:value"}  # plain `<<` and `=` outside a key
_SAFE = yaml.constructor.SafeConstructor()  # a scalar's constructor keeps no state


@dataclass
class LineMap:
    """Line numbers (1-based) of the values of a YAML document, by field path."""

    lines: dict[FieldPath, int] = field(default_factory=dict)

    def line_of(self, path: FieldPath) -> int:
        """The line of ``path``, or of its closest ancestor that has one.

        >>> LineMap({("a",): 3, ("a", "b"): 4}).line_of(("a", "c"))
        3
        """
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


def shorten(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to about ``limit`` characters: user values quoted in one error line.

    >>> shorten("x" * 200_000, 20)
    "'xxxxxxxx…xxxxxxxx' (200000 characters)"
    >>> shorten("a\\nb")
    "'a\\\\nb'"
    """
    text = repr(value)
    if len(text) <= limit:
        return text
    half = (limit - 2) // 2
    size = f" ({len(value)} characters)" if isinstance(value, str) else ""
    return f"{text[:half]}…{text[-half:]}{size}"


def plain(text: str, limit: int = 200) -> str:
    """``text`` as it is when it reads well on one line, else shortened (:func:`shorten`).

    >>> plain("notebooks/a.ipynb"), plain("a\\nb")
    ('notebooks/a.ipynb', "'a\\\\nb'")
    """
    return text if text.isprintable() and len(text) <= limit else shorten(text, 60)


def format_path(path: FieldPath) -> str:
    """Render a field path the way a user reads it; odd keys (long, or with line breaks or
    other unprintable characters) are quoted and shortened so the path stays on one line.

    >>> format_path(("stages", 2, "needs"))
    'stages[2].needs'
    >>> format_path(("params", "a\\nb"))
    "params.'a\\\\nb'"
    """
    if len(path) > 12:  # deep nesting: the first and last parts say enough
        return f"{format_path(path[:5])}…{format_path(path[-5:])}"
    text = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
            continue
        name = part if isinstance(part, str) else str(part)
        if not name.isprintable() or len(name) > 60:
            name = shorten(name, 40)
        text += f".{name}" if text else name
    return text


class _Invalid(Exception):
    """A value the reader refuses: where (line, path) and why."""

    def __init__(self, line: int, path: FieldPath, message: str) -> None:
        super().__init__(message)
        self.line, self.path, self.message = line, path, message


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _to_python(node: yaml.Node, path: FieldPath, lines: dict[FieldPath, int]) -> Any:
    """Plain data of ``node``, recording the line of every field path in ``lines``.

    Recursion is bounded: :func:`~millpond.yaml_compose.compose` refused deeper trees.
    """
    lines[path] = _line(node)
    if isinstance(node, yaml.MappingNode):
        return _mapping(node, path, lines)
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, (*path, i), lines) for i, item in enumerate(node.value)]
    return _scalar(node, path)


def _key(key_node: yaml.Node, path: FieldPath) -> Any:
    if not isinstance(key_node, yaml.ScalarNode):
        raise _Invalid(_line(key_node), path, "a key must be a plain value, not a list or a mapping")
    return _scalar(key_node, path)


def _mapping(node: yaml.MappingNode, path: FieldPath, lines: dict[FieldPath, int]) -> dict:
    written: dict[Any, Any] = {}
    merge_node: yaml.Node | None = None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag == MERGE_TAG:
            if merge_node is not None:
                raise _Invalid(_line(key_node), path, "duplicate merge key '<<' (merge a list instead: <<: [*a, *b])")
            merge_node = value_node
            continue
        key = _key(key_node, path)
        if key in written:
            raise _Invalid(_line(key_node), (*path, key), f"duplicate key {shorten(key)}")
        written[key] = _to_python(value_node, (*path, key), lines)
        lines[(*path, key)] = _line(key_node)
    if merge_node is None:
        return written
    merged = _merged(merge_node, path, lines, skip=written)
    # as PyYAML orders them: merged keys first, then the keys written here
    return {**merged, **written}


def _merged(value: yaml.Node, path: FieldPath, lines: dict[FieldPath, int], skip: dict) -> dict:
    """The keys a merge key ``<<`` brings in, but not those in ``skip`` (written in the mapping
    itself); of a list of mappings, the first that has a key gives it."""
    sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
    merged: dict[Any, Any] = {}
    where = (*path, "<<")
    for source in sources:
        if not isinstance(source, yaml.MappingNode):
            raise _Invalid(
                _line(source), where, "a merge key takes a mapping or a list of mappings, such as <<: *defaults"
            )
        source_lines: dict[FieldPath, int] = {}
        data = _mapping(source, path, source_lines)
        depth = len(path)
        taken = {key for key in data if key not in skip and key not in merged}
        merged.update((key, data[key]) for key in data if key in taken)
        for field_path, line in source_lines.items():
            if len(field_path) > depth and field_path[depth] in taken:
                lines[field_path] = line
    return merged


def _scalar(node: yaml.ScalarNode, path: FieldPath = ()) -> Any:
    """The value of a scalar, typed as ``yaml.safe_load`` types it.

    Constructed from the node itself: an empty value (``{a: x, b}`` gives ``b`` one)
    has no text that parses back. A value its tag cannot read (``2024-13-45``, an
    unknown ``!tag``, ``!!int abc``) is refused with its line.

    >>> _scalar(yaml.compose("{a: x, b}").value[1][1]) is None
    True

    ``<<`` and ``=`` as values are text (PyYAML's safe loader has no constructor for them):

    >>> _scalar(yaml.compose("a: <<").value[0][1]), _scalar(yaml.compose("a: =").value[0][1])
    ('<<', '=')
    """
    if node.tag in TEXT_TAGS:
        return node.value
    try:
        construct = _SAFE.yaml_constructors.get(node.tag) or _SAFE.yaml_constructors[None]
        return construct(_SAFE, node)
    except yaml.MarkedYAMLError as exc:
        raise _Invalid(_line(node), path, f"cannot read {shorten(node.value)}: {exc.problem or exc.context}") from None
    except Exception as exc:  # noqa: BLE001 - what a tag's constructor rejects: ValueError, KeyError, OverflowError...
        tag = node.tag.rsplit(":", 1)[-1]
        raise _Invalid(_line(node), path, f"cannot read {shorten(node.value)} as {tag}: {exc}") from None


def _read_text(path: Path, display: str) -> str:
    """The file's text: at most :data:`MAX_BYTES`, UTF-8 (a byte-order mark is dropped)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise SpecError(f"{display}: cannot read ({exc.strerror or exc})") from None
    if len(data) > MAX_BYTES:
        raise SpecError(f"{display}:1: file is larger than {MAX_BYTES // 1024} KiB; a spec file is refused past that")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError(
            f"{display}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at column {column}); "
            "a spec file must be UTF-8 YAML"
        ) from None
    return text.removeprefix("\ufeff")


def _yaml_error(exc: yaml.YAMLError, text: str) -> tuple[int, str]:
    """``(line, message)`` of a parser error, its message on one line."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        message = exc.problem or exc.context or "not YAML"
    elif isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        message = (
            f"character {exc.character!r} is not allowed in YAML" if isinstance(exc.character, str) else exc.reason
        )
    else:
        line, message = 1, str(exc)
    return line, " ".join(str(message).split())


def _clear_error(exc: yaml.YAMLError, text: str) -> tuple[int, str]:
    """libyaml's parser stops at the same place as PyYAML's, but PyYAML says why more clearly;
    its pure-Python parser is slow, so it reads only the text up to the error."""
    line, message = _yaml_error(exc, text)
    end = sum(len(chunk) for chunk in text.splitlines(keepends=True)[: line + 1])
    if end > 64 * 1024 or "nesting depth" in message:  # PyYAML's scanner is slow on deep nesting
        return line, message
    try:
        for _ in yaml.parse(text[:end], Loader=yaml.SafeLoader):
            pass
    except yaml.YAMLError as clearer:
        clear_line, clear_message = _yaml_error(clearer, text)
        if clear_line == line:
            return line, clear_message
    return line, message


def load_yaml(path: Path, display: str | None = None) -> tuple[Any, LineMap]:
    """Parse a YAML file into plain data plus the line of every field.

    Parameters
    ----------
    path
        The file to read.
    display
        How to name the file in errors (defaults to ``path``).

    Raises
    ------
    SpecError
        One line ``file:line: field: message`` for a file that is not valid YAML, too
        large, not UTF-8, or past the limits of :mod:`millpond.yaml_compose`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.yml"
    >>> _ = p.write_text("name: x\\nstages:\\n  - name: a\\n")
    >>> data, lines = load_yaml(p)
    >>> data, lines.line_of(("stages", 0, "name"))
    ({'name': 'x', 'stages': [{'name': 'a'}]}, 3)

    A merge key brings in the keys of an anchored mapping; keys written next to it win:

    >>> _ = p.write_text("base: &b {timeout: 60, retries: 1}\\nstage:\\n  <<: *b\\n  retries: 0\\n")
    >>> data, lines = load_yaml(p, "x.yml")
    >>> data["stage"], lines.line_of(("stage", "timeout")), lines.line_of(("stage", "retries"))
    ({'timeout': 60, 'retries': 0}, 1, 4)
    >>> _ = p.write_text("a: &a [1, *a]\\n")
    >>> load_yaml(p, "x.yml")
    Traceback (most recent call last):
    ...
    millpond.errors.SpecError: x.yml:1: a[1]: recursive YAML alias *a: it refers to a value that contains it
    """
    display = display or str(path)
    text = _read_text(path, display)
    try:
        node = compose(text)
    except Refused as refused:
        raise _spec_error(display, refused.line, refused.path, refused.message) from None
    except yaml.YAMLError as exc:
        line, message = _clear_error(exc, text)
        raise SpecError(f"{display}:{line}: invalid YAML: {message}") from None
    lines: dict[FieldPath, int] = {}
    if node is None:
        return {}, LineMap({(): 1})
    try:
        data = _to_python(node, (), lines)
    except _Invalid as invalid:
        raise _spec_error(display, invalid.line, invalid.path, invalid.message) from None
    return data, LineMap(lines)


def _spec_error(display: str, line: int, path: FieldPath, message: str) -> SpecError:
    where = format_path(path)
    return SpecError(f"{display}:{line}: {where}: {message}" if where else f"{display}:{line}: {message}")
