"""The YAML reader refuses hostile files with one line, in bounded time and memory, and
supports merge keys with their lines."""

from __future__ import annotations

import re
import signal
import time
import tracemalloc
from contextlib import contextmanager

import pytest

from millpond.errors import SpecError
from millpond.yaml_source import load_yaml

# nine levels of nine aliases each: 9**9 (387 million) values once expanded
ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)


@contextmanager
def at_most(seconds: float):
    """Fail (not hang) when the block takes longer than ``seconds`` (the old reader ran forever)."""

    def expire(*_):
        raise TimeoutError(f"took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def refusal(tmp_path, content: str | bytes) -> str:
    path = tmp_path / "p.yml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with at_most(5), pytest.raises(SpecError) as info:
        load_yaml(path, "p.yml")
    message = str(info.value)
    assert "\n" not in message
    return message


def test_an_alias_bomb_is_refused_at_once_in_bounded_memory(tmp_path):
    path = tmp_path / "p.yml"
    path.write_text(ALIAS_BOMB)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with at_most(5), pytest.raises(SpecError) as info:
            load_yaml(path, "p.yml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 1
    assert peak < 64 * 2**20
    # f = 9 aliases of e (6643 values each ...): the document passes 100,000 values on line 6
    assert re.fullmatch(
        r"p\.yml:6: f\[\d\]: YAML alias \*e makes the document more than 100000 values \(aliases expanded\)",
        str(info.value),
    ), str(info.value)


def test_a_recursive_alias_is_one_line(tmp_path):
    message = refusal(tmp_path, "name: x\nloop: &m {a: *m}\n")
    assert message == "p.yml:2: loop.a: recursive YAML alias *m: it refers to a value that contains it"


def test_an_undefined_alias_names_its_line(tmp_path):
    assert refusal(tmp_path, "a: 1\nb: *nowhere\n").startswith("p.yml:2: b: ")


def test_merge_key_single_and_list_forms(tmp_path):
    path = tmp_path / "p.yml"
    path.write_text(
        "base: &base {timeout: 60, retries: 1}\n"  # 1
        "slow: &slow {timeout: 900, retry_backoff: 5}\n"  # 2
        "one:\n"  # 3
        "  <<: *base\n"  # 4
        "  retries: 0\n"  # 5
        "both:\n"  # 6
        "  <<: [*slow, *base]\n"  # 7
        "  name: b\n"  # 8
    )
    data, lines = load_yaml(path, "p.yml")
    assert data["one"] == {"timeout": 60, "retries": 0}
    # the first mapping of the list wins: timeout from slow, retries from base
    assert data["both"] == {"timeout": 900, "retry_backoff": 5, "retries": 1, "name": "b"}
    assert lines.line_of(("one", "timeout")) == 1  # where the merged value is written
    assert lines.line_of(("one", "retries")) == 5
    assert lines.line_of(("both", "timeout")) == 2
    assert lines.line_of(("both", "retries")) == 1
    assert lines.line_of(("both", "name")) == 8


def test_a_nested_merge_and_an_inline_mapping(tmp_path):
    path = tmp_path / "p.yml"
    path.write_text("a: &a {x: 1}\nb: &b {<<: *a, y: 2}\nc: {<<: *b, z: 3}\nd: {<<: {w: 4}}\n")
    data, _ = load_yaml(path)
    assert data["c"] == {"x": 1, "y": 2, "z": 3}
    assert data["d"] == {"w": 4}


def test_a_merge_of_something_else_than_a_mapping_is_refused(tmp_path):
    message = refusal(tmp_path, "a: &a [1, 2]\nb:\n  <<: *a\n")
    assert message.startswith("p.yml:1: b.<<: a merge key takes a mapping")
    assert refusal(tmp_path, "b:\n  <<: 3\n").startswith("p.yml:2: b.<<: a merge key takes a mapping")


def test_a_quoted_merge_key_is_an_ordinary_key(tmp_path):
    path = tmp_path / "p.yml"
    path.write_text("a: {'<<': 1}\n")
    assert load_yaml(path)[0] == {"a": {"<<": 1}}


def test_binary_junk_is_not_utf8_with_its_line(tmp_path):
    message = refusal(tmp_path, b"name: x\nstages:\n  - \xff\xfe junk\n")
    assert message == "p.yml:3: not UTF-8 text (byte 0xff at column 5); a spec file must be UTF-8 YAML"


def test_a_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "p.yml"
    path.write_bytes("\ufeffname: x\n".encode())
    assert load_yaml(path)[0] == {"name": "x"}


def test_a_file_over_the_size_limit_is_refused(tmp_path):
    message = refusal(tmp_path, "a: " + "x" * (1 << 20) + "\n")
    assert message == "p.yml:1: file is larger than 1024 KiB; a spec file is refused past that"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("run_date: 2024-13-45\n", "p.yml:1: run_date: cannot read '2024-13-45' as timestamp: month must be in 1..12"),
        (
            "a:\n  b: !shell x\n",
            "p.yml:2: a.b: cannot read 'x': could not determine a constructor for the tag '!shell'",
        ),
        ("a: !!bool maybe\n", "p.yml:1: a: cannot read 'maybe' as bool: 'maybe'"),
        ("a: 1\n---\nb: 2\n", "p.yml:2: a second YAML document ('---'): the file must hold one"),
        ("? [a, b]\n: 1\n", "p.yml:1: a key must be a plain value, not a list or a mapping"),
        ("a: 1\na: 2\n", "p.yml:2: a: duplicate key 'a'"),
        ("a: [1,\n", "p.yml:2: invalid YAML: expected the node content, but found '<stream end>'"),
    ],
)
def test_every_other_yaml_error_is_one_line(tmp_path, text, expected):
    assert refusal(tmp_path, text) == expected


def test_a_huge_integer_is_refused_not_a_traceback(tmp_path):
    message = refusal(tmp_path, "retries: " + "9" * 5000 + "\n")
    assert message.startswith("p.yml:1: retries: cannot read '999")
    assert len(message) < 400


def test_deep_nesting_is_refused(tmp_path):
    message = refusal(tmp_path, "a: " + "[" * 200 + "]" * 200 + "\n")
    assert re.fullmatch(r"p\.yml:1: a\[0\].*: nested more than 64 levels deep", message), message
    started = time.perf_counter()
    message = refusal(tmp_path, "a: " + "[" * 50_000 + "\n")  # past libyaml's own limit
    assert message == "p.yml:1: invalid YAML: exceeded maximum nesting depth"
    assert time.perf_counter() - started < 1


def test_aliases_that_nest_deep_only_once_expanded_are_refused(tmp_path):
    def nested(levels: int, inside: str) -> str:
        return "[" * levels + inside + "]" * levels

    # 30 levels each, 90 once the aliases are expanded
    text = f"a: &a {nested(30, 'x')}\nb: &b {nested(30, '*a')}\nc: {nested(30, '*b')}\n"
    message = refusal(tmp_path, text)
    assert message.startswith("p.yml:3: c[0]") and message.endswith(
        "nested more than 64 levels deep (aliases expanded)"
    )


def test_merge_and_value_indicators_as_values_are_text(tmp_path):
    path = tmp_path / "p.yml"
    path.write_text("description: <<\nseparator: =\n")
    assert load_yaml(path)[0] == {"description": "<<", "separator": "="}
