"""Value types the spec files share: workspace paths and glob patterns the operating
system can use, and bounded durations.

A spec is checked by ``millpond validate``; a value that passes must not fail later,
at run time, for a reason the spec already showed: a path longer than the system
takes (``OSError: File name too long``), a glob Python refuses, a timeout of
``.inf`` or a backoff of ``1e308`` seconds (which overflow the timers). Each limit
is said in the error.
"""

from __future__ import annotations

import os
from typing import Annotated

from pydantic import AfterValidator

from millpond.yaml_source import shorten

MAX_PATH_BYTES = 4096
"""The longest path the system takes (Linux's ``PATH_MAX``)."""

MAX_NAME_BYTES = 255
"""The longest name of one file or folder (``NAME_MAX``)."""

MAX_TIMEOUT = 7 * 24 * 3600
"""The longest stage timeout, in seconds: a week."""

MAX_BACKOFF = 3600
"""The longest first wait between retries, in seconds: an hour (it doubles on each retry)."""

MAX_DEBOUNCE = 3600
"""The longest quiet a file watch waits for after the last file lands, in seconds: an hour."""


def usable_path(value: str) -> str:
    """``value`` if the system can use it as a path, else ``ValueError`` saying why.

    >>> usable_path("notebooks/a.ipynb")
    'notebooks/a.ipynb'
    >>> usable_path("x" * 300)
    Traceback (most recent call last):
    ...
    ValueError: a path component is too long (300 bytes; at most 255): 'xxxxxxxxxxxxxxxxxxxxxxxxxxxx…xxxxxxxxxxxxxxxxxxxxxxxxxxxx' (300 characters)
    """
    if not value.strip():
        raise ValueError("an empty path")
    if "\0" in value:
        raise ValueError("a path cannot contain a NUL character")
    try:
        encoded = os.fsencode(value)
    except UnicodeEncodeError:
        raise ValueError(f"not a usable path (it holds a character no file name can): {shorten(value)}") from None
    if len(encoded) > MAX_PATH_BYTES:
        raise ValueError(f"path too long ({len(encoded)} bytes; at most {MAX_PATH_BYTES})")
    for part in value.split("/"):
        size = len(os.fsencode(part))
        if size > MAX_NAME_BYTES:
            raise ValueError(f"a path component is too long ({size} bytes; at most {MAX_NAME_BYTES}): {shorten(part)}")
    return value


def usable_glob(value: str) -> str:
    """``value`` if it is a usable path and a glob pattern ``pathlib`` accepts.

    >>> usable_glob("data/raw/events/**/*.jsonl")
    'data/raw/events/**/*.jsonl'
    >>> usable_glob("data/**.csv")
    Traceback (most recent call last):
    ...
    ValueError: '**' must be a whole path component, as in data/**/*.csv
    >>> usable_glob("../../**/*.csv")
    Traceback (most recent call last):
    ...
    ValueError: '**' after '..' searches every folder above the workspace; name the folder to read
    """
    usable_path(value)
    parts = value.split("/")
    if any("**" in part and part != "**" for part in parts):
        raise ValueError("'**' must be a whole path component, as in data/**/*.csv")
    if "**" in parts and ".." in parts[: parts.index("**")]:
        raise ValueError("'**' after '..' searches every folder above the workspace; name the folder to read")
    return value


WorkspacePath = Annotated[str, AfterValidator(usable_path)]
"""A path relative to the workspace root (or absolute) that the system can open."""

GlobPattern = Annotated[str, AfterValidator(usable_glob)]
"""A glob of files relative to the workspace root (or an absolute path)."""
