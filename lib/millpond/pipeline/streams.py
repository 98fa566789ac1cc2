"""The streams the pipelines declare (``streams:``), found by name across ``pipelines/``.

A stream's name is unique in the workspace: ``millpond stream run NAME`` finds it in
whichever pipeline file declares it. A declaration that does not validate is one line,
``file: streams: NAME: message``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from millpond.errors import MillpondError, SpecError
from millpond.settings.streams import StreamSpec
from millpond.yaml_source import load_yaml

if TYPE_CHECKING:
    from millpond.workspace import Workspace


def declared_streams(workspace: Workspace) -> dict[str, tuple[Any, str]]:
    """``{name: (raw declaration, pipeline file)}`` of every stream the workspace declares."""
    found: dict[str, tuple[Any, str]] = {}
    for path in workspace.pipeline_files():
        for name, raw in _streams_in(path).items():
            found.setdefault(str(name), (raw, workspace.relative(path)))
    return found


def declared_stream(workspace: Workspace, name: str) -> tuple[StreamSpec, str]:
    """The stream called ``name`` and the file declaring it (one line when there is none, or it
    does not validate)."""
    streams = declared_streams(workspace)
    if name not in streams:
        raise MillpondError(
            f"no stream {name!r} declared under streams: in pipelines/ (declared: {', '.join(sorted(streams)) or 'none'})"
        )
    raw, where = streams[name]
    try:
        return StreamSpec.model_validate(raw), where
    except ValueError as exc:
        lines = [line.strip() for line in str(exc).splitlines()[1:3]]
        raise SpecError(f"{where}: streams: {name}: {' '.join(lines)}") from None


def _streams_in(path: Path) -> dict[str, Any]:
    try:
        data, _ = load_yaml(path)
    except SpecError:
        return {}
    streams = data.get("streams") if isinstance(data, dict) else None
    return streams if isinstance(streams, dict) else {}
