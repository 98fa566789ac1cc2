"""YAML text to a node tree, in bounded time and memory.

PyYAML's own composer trusts its input: a few lines of nested aliases (a "billion
laughs") expand to billions of values once the tree is turned into Python data, an
alias inside its own anchor (``loop: &m {a: *m}``) makes a cycle, and deep nesting
exhausts Python's stack. :func:`compose` builds the same :class:`yaml.Node` tree from
the parser's events, one event at a time, and refuses such a document as soon as it
sees it:

- the document may hold at most :data:`MAX_VALUES` values *with every alias
  expanded* (each alias counts the values of what it refers to);
- values may be nested at most :data:`MAX_DEPTH` levels, aliases expanded;
- an alias may not refer to a value that contains it, nor to an undefined anchor;
- a file holds one document.

A refusal is a :class:`Refused` with the line and the field path where it happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml
from yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
)

MAX_VALUES = 100_000
"""Values a document may expand to, aliases and merge keys included (the reference
``pipelines/shop.yml`` has about 1,500)."""

MAX_DEPTH = 64
"""Levels of nesting a document may have, aliases expanded (the reference pipeline has 7)."""


class Refused(Exception):
    """A document :func:`compose` will not build: ``line`` (1-based), ``path``, ``message``."""

    def __init__(self, line: int, path: tuple, message: str) -> None:
        super().__init__(message)
        self.line, self.path, self.message = line, path, message


@dataclass
class _Open:
    """A collection being composed."""

    node: yaml.CollectionNode
    anchor: str | None
    start: int  # values counted before it
    items: list[yaml.Node] = field(default_factory=list)
    depth: int = 0  # deepest child, aliases expanded


@dataclass
class _Anchored:
    node: yaml.Node
    size: int
    depth: int


class _Composer:
    def __init__(self) -> None:
        self.resolver = yaml.resolver.Resolver()
        self.anchors: dict[str, _Anchored] = {}
        self.open_anchors: set[str] = set()
        self.stack: list[_Open] = []
        self.count = 0
        self.documents = 0
        self.root: yaml.Node | None = None

    # -- where we are ----------------------------------------------------------------
    def path(self) -> tuple:
        """The field path of the value being composed (keys as written)."""
        parts: list = []
        for frame in self.stack:
            if isinstance(frame.node, yaml.SequenceNode):
                parts.append(len(frame.items))
            elif len(frame.items) % 2 == 1 and isinstance(frame.items[-1], yaml.ScalarNode):
                parts.append(frame.items[-1].value)
        return tuple(parts)

    def _count(self, size: int, line: int, alias: str | None = None) -> None:
        self.count += size
        if self.count > MAX_VALUES:
            if alias is not None:  # an anchor is counted where it is defined: only its uses pass the limit
                message = f"YAML alias *{alias} makes the document more than {MAX_VALUES} values (aliases expanded)"
            else:
                message = f"the document has more than {MAX_VALUES} values"
            raise Refused(line, self.path(), message)

    def _attach(self, node: yaml.Node, depth: int, line: int) -> None:
        if len(self.stack) + depth > MAX_DEPTH:
            raise Refused(line, self.path(), f"nested more than {MAX_DEPTH} levels deep (aliases expanded)")
        if self.stack:
            frame = self.stack[-1]
            frame.items.append(node)
            frame.depth = max(frame.depth, depth)
        else:
            self.root = node

    # -- events ----------------------------------------------------------------------
    def feed(self, event: yaml.Event) -> None:
        line = event.start_mark.line + 1 if event.start_mark else 1
        if isinstance(event, DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise Refused(line, (), "a second YAML document ('---'): the file must hold one")
        elif isinstance(event, ScalarEvent):
            tag = event.tag
            if tag is None or tag == "!":
                tag = self.resolver.resolve(yaml.ScalarNode, event.value, event.implicit)
            node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
            self._count(1, line)
            if event.anchor is not None:
                self.anchors[event.anchor] = _Anchored(node, 1, 1)
            self._attach(node, 1, line)
        elif isinstance(event, CollectionStartEvent):
            if len(self.stack) >= MAX_DEPTH:
                raise Refused(line, self.path(), f"nested more than {MAX_DEPTH} levels deep")
            kind = yaml.MappingNode if isinstance(event, MappingStartEvent) else yaml.SequenceNode
            tag = event.tag
            if tag is None or tag == "!":
                tag = self.resolver.resolve(kind, None, event.implicit)
            node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
            start = self.count
            self._count(1, line)
            if event.anchor is not None:
                self.open_anchors.add(event.anchor)
            self.stack.append(_Open(node, event.anchor, start))
        elif isinstance(event, (MappingEndEvent, SequenceEndEvent)):
            frame = self.stack.pop()
            node = frame.node
            node.end_mark = event.end_mark
            if isinstance(node, yaml.MappingNode):
                node.value = list(zip(frame.items[::2], frame.items[1::2]))
            else:
                node.value = frame.items
            depth = frame.depth + 1
            if frame.anchor is not None:
                self.open_anchors.discard(frame.anchor)
                self.anchors[frame.anchor] = _Anchored(node, self.count - frame.start, depth)
            self._attach(node, depth, node.start_mark.line + 1)
        elif isinstance(event, AliasEvent):
            name = event.anchor
            if name in self.open_anchors:
                raise Refused(line, self.path(), f"recursive YAML alias *{name}: it refers to a value that contains it")
            target = self.anchors.get(name)
            if target is None:
                raise Refused(line, self.path(), f"YAML alias *{name} refers to no anchor &{name} before it")
            self._count(target.size, line, alias=name)
            self._attach(target.node, target.depth, line)


def compose(text: str) -> yaml.Node | None:
    """The node tree of the one YAML document in ``text`` (``None`` when it is empty).

    Raises :class:`Refused` for a document past the limits above, and PyYAML's
    :class:`yaml.YAMLError` for text that is not YAML. Uses libyaml's parser when
    PyYAML has it (about 10x faster; same events, same lines).

    Examples
    --------
    >>> compose("a: &x [1, 2]\\nb: *x\\n").value[1][1].value[0].value
    '1'
    >>> bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\\n" + "".join(
    ...     f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\\n" for i in range(6))
    >>> try:
    ...     compose(bomb)
    ... except Refused as refused:
    ...     print(refused.line, refused.path, refused.message)
    5 ('e', 7) YAML alias *d makes the document more than 100000 values (aliases expanded)
    >>> try:
    ...     compose("loop: &m {a: *m}")
    ... except Refused as refused:
    ...     print(refused.line, refused.path, refused.message)
    1 ('loop', 'a') recursive YAML alias *m: it refers to a value that contains it
    """
    loader = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader
    composer = _Composer()
    for event in yaml.parse(text, Loader=loader):
        composer.feed(event)
    return composer.root
