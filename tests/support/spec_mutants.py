"""Hostile variants of a spec file, for fuzz tests: a seeded mutator, so a failure names a
mutant that the same seed gives again.

Each mutant applies one to three edits to the text: line edits (delete, duplicate, swap,
re-indent, truncate), character edits (YAML punctuation inserted or deleted, bytes
flipped), a value replaced by a hostile one (``.inf``, ``1e308``, ``not-a-date``, a
200,000-character path, a regex that does not compile, an unknown tag, ...), or one of
the known attack classes (an alias bomb, a recursive alias, merge keys, binary junk,
deep nesting, a second document, a file over the size limit).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

HOSTILE_VALUES = [
    ".inf",
    "-.inf",
    ".nan",
    "1e308",
    "-1e308",
    "-1",
    "0",
    "99999999999999999999",
    "9" * 5000,
    "not-a-date",
    "2024-13-45",
    "2024-02-30",
    "2024-01-01T25:00:00",
    "1:30",
    "0x1F",
    "0o777",
    "~",
    "[]",
    "{}",
    "''",
    "!!binary aGVsbG8=",
    "!!binary ***",
    "!shell rm",
    "!!python/object:os.system x",
    "!!int abc",
    "!!bool maybe",
    "!!float x",
    "!!timestamp 2024-99-99",
    "*undefined",
    "&anchor value",
    '"\\ud800"',
    '"a\\nb"',
    '"\\0"',
    '"\\t"',
    "'../../etc/passwd'",
    "/dev/zero",
    "/",
    ".",
    "x" * 200_000,
    "'notebooks/" + "n" * 300 + ".ipynb'",
    "'(unclosed'",
    "'[a-z'",
    "'a{2,1}'",
    "'**.csv'",
    "'data/***'",
    "*",
    "- a",
    ": :",
    "@x",
    "`x`",
    "%YAML 1.2",
    "true",
    "null",
    "[1, [2, [3]]]",
    "{a: {b: {c: d}}}",
    "{<<: {timeout: .inf}}",
    "[" * 80 + "]" * 80,
    "|\n  block\n  text",
    ">-\n  folded",
    "? complex\n: key",
]

PUNCTUATION = list(":-[]{},&*!|>'\"#%@`?\t\n ") + ["\x00", "\x7f", "\u2028", "\ufeff", "\\"]

ALIAS_BOMB = "lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"lol{i + 1}: &l{i + 1} [{', '.join([f'*l{i}'] * 9)}]\n" for i in range(8)
)


@dataclass
class Mutant:
    """One hostile variant: what was done to the file, and its bytes."""

    edits: list[str]
    content: bytes

    def describe(self) -> str:
        return "; ".join(self.edits)


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True) or ["\n"]


def _delete_line(rng: random.Random, text: str) -> tuple[str, str]:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    return "".join(lines[:i] + lines[i + 1 :]), f"delete line {i + 1}"


def _duplicate_line(rng: random.Random, text: str) -> tuple[str, str]:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    return "".join(lines[: i + 1] + lines[i:]), f"duplicate line {i + 1}"


def _swap_lines(rng: random.Random, text: str) -> tuple[str, str]:
    lines = _lines(text)
    i = rng.randrange(max(len(lines) - 1, 1))
    if i + 1 < len(lines):
        lines[i], lines[i + 1] = lines[i + 1], lines[i]
    return "".join(lines), f"swap lines {i + 1} and {i + 2}"


def _reindent(rng: random.Random, text: str) -> tuple[str, str]:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    if rng.random() < 0.5:
        lines[i] = "  " + lines[i]
        return "".join(lines), f"indent line {i + 1}"
    lines[i] = lines[i][2:] if lines[i].startswith("  ") else "\t" + lines[i]
    return "".join(lines), f"dedent line {i + 1}"


def _truncate(rng: random.Random, text: str) -> tuple[str, str]:
    at = rng.randrange(len(text) + 1)
    return text[:at], f"truncate at {at}"


def _insert_char(rng: random.Random, text: str) -> tuple[str, str]:
    at = rng.randrange(len(text) + 1)
    char = rng.choice(PUNCTUATION)
    return text[:at] + char + text[at:], f"insert {char!r} at {at}"


def _delete_char(rng: random.Random, text: str) -> tuple[str, str]:
    if not text:
        return text, "delete nothing"
    at = rng.randrange(len(text))
    return text[:at] + text[at + 1 :], f"delete char {at}"


VALUE = re.compile(r"^(\s*(?:- )?[A-Za-z_][\w.]*:\s+)(\S.*)$")


def _replace_value(rng: random.Random, text: str) -> tuple[str, str]:
    lines = _lines(text)
    candidates = [i for i, line in enumerate(lines) if VALUE.match(line.rstrip("\n"))]
    if not candidates:
        return _insert_char(rng, text)
    i = rng.choice(candidates)
    value = rng.choice(HOSTILE_VALUES)
    match = VALUE.match(lines[i].rstrip("\n"))
    lines[i] = match.group(1) + value + "\n"
    return "".join(lines), f"line {i + 1} value -> {value[:40]!r}"


def _replace_in_flow(rng: random.Random, text: str) -> tuple[str, str]:
    """A value inside a flow mapping such as ``{timeout: 600, retries: 1}``."""
    spots = [m for m in re.finditer(r"(?<=[{,] )([A-Za-z_]\w*): ([^,}\n]+)", text)]
    if not spots:
        return _replace_value(rng, text)
    spot = rng.choice(spots)
    value = rng.choice(HOSTILE_VALUES)
    if "\n" in value or len(value) > 1000:
        value = rng.choice([".inf", "1e308", "not-a-date", "'(unclosed'", "-1", ".nan"])
    return text[: spot.start(2)] + value + text[spot.end(2) :], f"{spot.group(1)}: -> {value[:40]!r}"


def _attack(rng: random.Random, text: str) -> tuple[str, str]:
    kind = rng.choice(
        [
            "bomb",
            "recursive",
            "merge",
            "merge_list",
            "merge_bad",
            "deep",
            "two_docs",
            "tags",
            "long_path",
            "undefined_alias",
            "crlf",
            "bom",
            "huge",
        ]
    )
    if kind == "bomb":
        return ALIAS_BOMB + text, "alias bomb"
    if kind == "recursive":
        return "loop: &m {a: *m}\n" + text, "recursive alias"
    if kind == "merge":
        return re.sub(
            r"^(\s+)(retries: 0)$",
            r"\1<<: *defaults\n\1\2",
            text.replace("defaults: {", "defaults: &defaults {", 1),
            count=1,
            flags=re.MULTILINE,
        ), "merge key"
    if kind == "merge_list":
        return re.sub(
            r"^(\s+)(retries: 0)$",
            r"\1<<: [*defaults, *defaults]\n\1\2",
            text.replace("defaults: {", "defaults: &defaults {", 1),
            count=1,
            flags=re.MULTILINE,
        ), "merge key list"
    if kind == "merge_bad":
        return "x: &x [1, 2]\n" + re.sub(
            r"^(\s+)(retries: 0)$", r"\1<<: *x\n\1\2", text, count=1, flags=re.MULTILINE
        ), "merge of a list"
    if kind == "deep":
        depth = rng.choice([70, 500, 5000])
        return text + "deep: " + "[" * depth + "]" * depth + "\n", f"nesting {depth}"
    if kind == "two_docs":
        return text + "---\nname: again\n", "second document"
    if kind == "tags":
        return text.replace("name:", "name: !custom", 1), "custom tag"
    if kind == "long_path":
        return re.sub(r"notebook: \S+", "notebook: " + "p" * 200_000, text, count=1), "200,000-character notebook"
    if kind == "undefined_alias":
        return text.replace("description:", "description: *nowhere #", 1), "undefined alias"
    if kind == "crlf":
        return text.replace("\n", "\r\n"), "CRLF line ends"
    if kind == "bom":
        return "\ufeff" + text, "byte-order mark"
    return text + "# " + "x" * (1 << 20) + "\n", "over 1 MiB"


EDITS: list[Callable[[random.Random, str], tuple[str, str]]] = [
    _delete_line,
    _duplicate_line,
    _swap_lines,
    _reindent,
    _truncate,
    _insert_char,
    _delete_char,
    _replace_value,
    _replace_value,
    _replace_value,
    _replace_in_flow,
    _replace_in_flow,
    _attack,
    _attack,
]


def _flip_bytes(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(data)) if data else 0
        data[at : at + 1] = bytes([rng.randrange(256)])
    return bytes(data), "flip bytes"


def mutants(text: str, count: int, seed: int) -> Iterator[Mutant]:
    """``count`` mutants of ``text``, the same ones for the same seed.

    >>> [m.describe() for m in mutants("a: 1\\nb: 2\\n", 2, seed=1)]  # doctest: +SKIP
    """
    rng = random.Random(seed)
    for _ in range(count):
        current, edits = text, []
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            current, what = rng.choice(EDITS)(rng, current)
            edits.append(what)
        content = current.encode("utf-8", "surrogatepass")
        if rng.random() < 0.06:
            content, what = _flip_bytes(rng, content)
            edits.append(what)
        yield Mutant(edits, content)
