"""Turn pydantic validation errors into one line naming file, line and field."""

from __future__ import annotations

import types
import typing

from pydantic import BaseModel, ValidationError

from millpond.errors import SpecError
from millpond.yaml_source import LineMap, format_path


def spec_error(
    exc: ValidationError,
    display: str,
    lines: LineMap,
    model: type[BaseModel] | None = None,
    prefix: tuple = (),
) -> SpecError:
    """The first error of ``exc`` as a :class:`SpecError` ``file:line: field: message``.

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
    """
    error = exc.errors()[0]
    inner = tuple(part for part in error["loc"] if not _is_union_tag(part))
    loc = (*prefix, *inner)
    where = format_path(loc) or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        message = "unknown key"
        owner = _model_at(model, inner[:-1]) if model else None
        if owner is not None:
            message += f" (allowed: {', '.join(sorted(owner.model_fields))})"
    elif kind == "missing":
        message = "required field is missing"
    else:
        message = error["msg"].removeprefix("Value error, ")
    return SpecError(f"{display}:{lines.line_of(loc)}: {where}: {message}")


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
