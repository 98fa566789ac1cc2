"""Turn pydantic validation errors into one line naming file, line and field."""

from __future__ import annotations

import difflib
import types
import typing

from pydantic import BaseModel, ValidationError

from millpond.errors import SpecError
from millpond.yaml_source import LineMap, format_path


def spec_error(
    exc: ValidationError,
    display: str,
    lines_map: LineMap,
    model: type[BaseModel] | None = None,
    prefix: tuple = (),
) -> SpecError:
    """The errors of ``exc`` as a :class:`SpecError` ``file:line: field: message``: its
    message the first (an unknown key first: a misspelling, with the key it resembles,
    rather than the required key it left missing), ``.lines`` all of them.

    Examples
    --------
    >>> from pydantic import BaseModel, ConfigDict
    >>> class M(BaseModel):
    ...     model_config = ConfigDict(extra="forbid")
    ...     a: int
    >>> try:
    ...     M.model_validate({"a": 1, "b": 2})
    ... except ValidationError as e:
    ...     print(spec_error(e, "m.yml", LineMap({("b",): 2}), M))
    m.yml:2: b: unknown key (allowed: a)
    >>> try:
    ...     M.model_validate({"aa": 1})
    ... except ValidationError as e:
    ...     print(spec_error(e, "m.yml", LineMap({("aa",): 3}), M).lines)
    ['m.yml:3: aa: unknown key (did you mean a?)']
    """
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")  # a misspelling says so first
    unknown = {
        tuple(_inner(e)[:-1]): str(_inner(e)[-1]) for e in errors if e["type"] == "extra_forbidden" and _inner(e)
    }
    lines = []
    for error in errors:
        inner = _inner(error)
        if error["type"] == "missing" and _misspelled(unknown.get(tuple(inner[:-1])), inner):
            continue  # said already: the key was written, misspelled
        lines.append(_line(error, inner, display, lines_map, model, prefix))
    found = SpecError(lines[0])
    found.lines = lines
    return found


def _inner(error) -> tuple:
    return tuple(part for part in error["loc"] if not _is_union_tag(part))


def _misspelled(written: str | None, inner: tuple) -> bool:
    return bool(written and inner and difflib.get_close_matches(str(inner[-1]), [written], n=1, cutoff=0.6))


def _line(error, inner: tuple, display: str, lines_map: LineMap, model, prefix: tuple) -> str:
    loc = (*prefix, *inner)
    where = format_path(loc) or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        message = "unknown key"
        owner = _model_at(model, inner[:-1]) if model else None
        if owner is not None:
            allowed = sorted(owner.model_fields)
            close = difflib.get_close_matches(str(inner[-1]), allowed, n=1) if inner else []
            message += f" (did you mean {close[0]}?)" if close else f" (allowed: {', '.join(allowed)})"
    elif kind == "missing":
        message = "required field is missing"
    else:
        message = error["msg"].removeprefix("Value error, ")
    return f"{display}:{lines_map.line_of(loc)}: {where}: {message}"


def _is_union_tag(part: object) -> bool:
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The pydantic model found by following ``loc`` from ``model``."""
    current: object = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int) or not (isinstance(current, type) and issubclass(current, BaseModel)):
            args = typing.get_args(current)
            current = args[-1] if args else None
            continue
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = field.annotation
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(tp: object) -> object:
    """Strip ``Optional``/``Annotated`` so the model or container is left."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = args[0] if len(args) == 1 else tp
            if len(args) != 1:
                return tp
        else:
            return tp
