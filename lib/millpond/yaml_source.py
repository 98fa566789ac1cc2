"""YAML files that remember where each value came from.

Validation errors must name the file, the line and the field. :func:`load_yaml`
returns the plain data and a :class:`LineMap` from a field path such as
``("stages", 2, "needs", 0)`` to its line number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from millpond.errors import SpecError

FieldPath = tuple[str | int, ...]


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


def format_path(path: FieldPath) -> str:
    """Render a field path the way a user reads it.

    >>> format_path(("stages", 2, "needs"))
    'stages[2].needs'
    """
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _to_python(node: yaml.Node, path: FieldPath, lines: dict[FieldPath, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else yaml.safe_load(yaml.serialize(key_node))
            if key in result:
                raise SpecError(f"line {key_node.start_mark.line + 1}: duplicate key {key!r}")
            result[key] = _to_python(value_node, (*path, key), lines)
            lines[(*path, key)] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, (*path, i), lines) for i, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.ScalarNode) -> Any:
    """The value of a scalar, typed as ``yaml.safe_load`` types it.

    Constructed from the node itself: an empty value (``{a: x, b}`` gives ``b`` one)
    has no text that parses back.

    >>> _scalar(yaml.compose("{a: x, b}").value[1][1]) is None
    True
    """
    return yaml.constructor.SafeConstructor().construct_object(node, deep=True)


def _compose(text: str):
    """The node tree of ``text``: libyaml's parser when PyYAML has it (about 10x faster; the
    nodes carry the same lines), and PyYAML's own on a syntax error, for its clearer message."""
    loader = getattr(yaml, "CSafeLoader", None)
    if loader is not None:
        try:
            return yaml.compose(text, Loader=loader)
        except yaml.YAMLError:
            pass
    return yaml.compose(text, Loader=yaml.SafeLoader)


def load_yaml(path: Path, display: str | None = None) -> tuple[Any, LineMap]:
    """Parse a YAML file into plain data plus the line of every field.

    Parameters
    ----------
    path
        The file to read.
    display
        How to name the file in errors (defaults to ``path``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.yml"
    >>> _ = p.write_text("name: x\\nstages:\\n  - name: a\\n")
    >>> data, lines = load_yaml(p)
    >>> data, lines.line_of(("stages", 0, "name"))
    ({'name': 'x', 'stages': [{'name': 'a'}]}, 3)
    """
    display = display or str(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SpecError(f"{display}: cannot read ({exc.strerror})") from None
    try:
        node = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else 1
        raise SpecError(f"{display}:{line}: invalid YAML: {exc.problem}") from None
    lines: dict[FieldPath, int] = {}
    if node is None:
        return {}, LineMap({(): 1})
    try:
        data = _to_python(node, (), lines)
    except SpecError as exc:
        raise SpecError(f"{display}: {exc}") from None
    return data, LineMap(lines)
