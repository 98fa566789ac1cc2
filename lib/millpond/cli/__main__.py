"""``python -m millpond.cli``: the ``millpond`` command, for a workspace's Makefile that names its Python."""

from millpond.cli import console_main

console_main()
