"""``millpond.yml`` goes through the same reader as the pipelines: a hostile value is one
line naming the file, line and field, when the workspace is loaded."""

from __future__ import annotations

import pytest

from millpond.errors import SpecError
from millpond.workspace import Workspace


def refusal(tmp_path, text: str) -> str:
    (tmp_path / "millpond.yml").write_text(text)
    with pytest.raises(SpecError) as info:
        Workspace(tmp_path)
    return str(info.value)


@pytest.mark.timeout(20)  # the reader that expanded it ran out of memory, slowly
def test_an_alias_bomb_in_the_workspace_file(tmp_path):
    bomb = "x0: &x0 [a, a, a, a, a, a, a, a, a, a]\n" + "".join(
        f"x{i + 1}: &x{i + 1} [{', '.join([f'*x{i}'] * 10)}]\n" for i in range(8)
    )
    # x0..x3 hold 11, 111, 1111 and 11111 values: 12,353 with the keys, name and x4's own list;
    # x4's eighth *x3 (index 7) brings it to 101,241
    assert refusal(tmp_path, "name: w\n" + bomb) == (
        "millpond.yml:6: x4[7]: YAML alias *x3 makes the document more than 100000 values (aliases expanded)"
    )


def test_a_merge_key_in_the_workspace_file(tmp_path):
    (tmp_path / "millpond.yml").write_text(
        "name: w\nfolders: &f {raw: in, runs: out}\nresources:\n  temp_directory: tmp\n"
        "execution: {keep_warm: 0}\nquality:\n  monitors: {<<: {window: 3, k: 2.0}, window: 4}\n"
    )
    spec = Workspace(tmp_path).spec
    assert (spec.quality.monitors.window, spec.quality.monitors.k) == (4, 2.0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("execution: {keep_warm: .inf}\n", "millpond.yml:1: execution.keep_warm: Input should be a finite number"),
        (
            "execution: {keep_warm: 1e308}\n",
            "millpond.yml:1: execution.keep_warm: Input should be less than or equal to 604800",
        ),
        (
            "resources: {threads: 1000000000000}\n",
            "millpond.yml:1: resources.threads: Input should be less than or equal to 1024",
        ),
        (
            "alerts:\n  channels:\n    - webhook: {url: 'https://x', timeout: .inf}\n",
            "millpond.yml:3: alerts.channels[0].webhook.timeout: Input should be a finite number",
        ),
        (
            "alerts:\n  channels:\n    - webhook: {url: 'https://x', retry_backoff: 1e308}\n",
            "millpond.yml:3: alerts.channels[0].webhook.retry_backoff: Input should be less than or equal to 3600",
        ),
        ("quality:\n  monitors: {k: .nan}\n", "millpond.yml:2: quality.monitors.k: Input should be a finite number"),
        (
            "folders:\n  meta: " + "m" * 300 + "\n",
            "millpond.yml:2: folders.meta: a path component is too long (300 bytes; at most 255): 'mmmmmmmmmmmmmmmmmmmmmmmmmmmm…mmmmmmmmmmmmmmmmmmmmmmmmmmmm' (300 characters)",
        ),
        ("folders:\n  meta: ''\n", "millpond.yml:2: folders.meta: an empty path"),
    ],
)
def test_hostile_settings_are_one_line(tmp_path, text, expected):
    assert refusal(tmp_path, text) == expected


def test_a_folder_that_exists_as_a_file_is_refused(tmp_path):
    (tmp_path / "taken").write_text("a file")
    message = refusal(tmp_path, "name: w\nfolders:\n  raw: data/raw\n  meta: taken\n")
    assert message == "millpond.yml:4: folders.meta: taken exists and is not a folder"
