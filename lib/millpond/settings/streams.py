"""A stream as a pipeline declares it (``streams:`` in ``pipelines/<name>.yml``).

A stream reads a replayable log of events (its ``source``), optionally passes each
micro-batch through a transform written with Ibis (``module:function``, found in the
workspace's ``lib/``), aggregates it in windows on event time, and commits the windows it
closes to its ``sink`` table, its open windows (the state), its late events and its source
offsets in one warehouse transaction per micro-batch (:mod:`millpond.streams`).

Example::

    streams:
      clicks_per_minute:
        source: {kind: files, path: "data/stream/events/*.jsonl", format: jsonl,
                 columns: {event_type: string, session_id: string, event_ts: string}}
        transform: shop.streams:clicks          # optional: (ibis.Table) -> ibis.Table, row by row
        time: event_ts                          # the event-time column
        keys: [event_type]
        window: {type: tumbling, size: 1m}      # hopping: size and slide; session: gap
        aggregates: {events: count, sessions_started: "sum(is_start)"}
        watermark: {delay: 5s, allowed_lateness: 1m}
        late: keep                              # or correct: a late event updates its closed window
        sink: gold.clicks_per_minute

>>> spec = StreamSpec.model_validate({"source": {"kind": "files", "path": "data/e/*.jsonl"}, "time": "ts",
...     "window": {"type": "hopping", "size": "5m", "slide": "1m"}, "sink": "gold.x"})
>>> spec.window.size_us, spec.window.slide_us, spec.watermark.delay_us
(300000000, 60000000, 0)
>>> Aggregate.parse("sum(amount)")
Aggregate(function='sum', column='amount')
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from millpond.settings.tables import parse_duration
from millpond.settings.values import usable_glob

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"
TABLE_NAME = r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$"
MICROS = 1_000_000
MAX_WINDOW_SECONDS = 366 * 86400
_AGGREGATE = re.compile(r"^\s*(count|sum|min|max)\s*(?:\(\s*([A-Za-z_][A-Za-z0-9_]*)?\s*\))?\s*$")


def duration_us(value: Any, *, zero: bool = False) -> int:
    """Whole microseconds of a duration (``90s``, ``5m``, ``1h``, a number of seconds); ``0``
    only where ``zero`` allows it.

    >>> duration_us("1m"), duration_us(0, zero=True)
    (60000000, 0)
    """
    if zero and value in (0, 0.0, "0", "0s"):
        return 0
    seconds = parse_duration(value)
    if seconds > MAX_WINDOW_SECONDS:
        raise ValueError(f"{value!r}: at most a year")
    micros = round(seconds * MICROS)
    if micros <= 0:
        raise ValueError(f"{value!r}: under a microsecond")
    return micros


class Aggregate(BaseModel):
    """One aggregate of a window: ``count``, ``count(column)``, ``sum|min|max(column)``; they merge
    across micro-batches (a count and a sum add up, a min and a max keep the extreme)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    function: Literal["count", "sum", "min", "max"]
    column: str | None = None

    @classmethod
    def parse(cls, text: str) -> Aggregate:
        """``"sum(amount)"`` as an aggregate (one line naming what is wrong otherwise)."""
        match = _AGGREGATE.match(str(text))
        if not match:
            raise ValueError(f"{text!r} is not an aggregate: count, count(col), sum(col), min(col) or max(col)")
        function, column = match.group(1), match.group(2)
        if function != "count" and column is None:
            raise ValueError(f"{text!r}: {function} needs a column, e.g. {function}(amount)")
        return cls(function=function, column=column)


class WindowSpec(BaseModel):
    """Tumbling (``size``), hopping (``size``, ``slide``, the size a whole number of slides) or
    session (``gap``: a key's events closer than it are one session) windows, aligned to the epoch."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["tumbling", "hopping", "session"]
    size: str | float | None = None
    slide: str | float | None = None
    gap: str | float | None = None

    @model_validator(mode="after")
    def _fields_of_the_type(self) -> WindowSpec:
        wanted = {"tumbling": {"size"}, "hopping": {"size", "slide"}, "session": {"gap"}}[self.type]
        given = {name for name in ("size", "slide", "gap") if getattr(self, name) is not None}
        if missing := wanted - given:
            raise ValueError(f"a {self.type} window needs {', '.join(sorted(missing))}")
        if extra := given - wanted:
            raise ValueError(f"a {self.type} window takes no {', '.join(sorted(extra))}")
        for name in given:
            duration_us(getattr(self, name))
        if self.type == "hopping" and (self.size_us % self.slide_us or self.size_us < self.slide_us):
            raise ValueError(f"size {self.size} must be a whole number of slides ({self.slide})")
        if self.type == "hopping" and self.size_us // self.slide_us > 1000:
            raise ValueError(f"size {self.size} spans over 1000 slides of {self.slide}")
        return self

    @property
    def size_us(self) -> int:
        return duration_us(self.size) if self.size is not None else 0

    @property
    def slide_us(self) -> int:
        return duration_us(self.slide) if self.slide is not None else self.size_us

    @property
    def gap_us(self) -> int:
        return duration_us(self.gap) if self.gap is not None else 0


class WatermarkSpec(BaseModel):
    """How far event time may run out of order (``delay``: the watermark trails the latest event
    time by it) and how long a window stays open past the watermark (``allowed_lateness``)."""

    model_config = ConfigDict(extra="forbid")

    delay: str | float = 0
    allowed_lateness: str | float = 0

    @field_validator("delay", "allowed_lateness")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        duration_us(value, zero=True)
        return value

    @property
    def delay_us(self) -> int:
        return duration_us(self.delay, zero=True)

    @property
    def lateness_us(self) -> int:
        return duration_us(self.allowed_lateness, zero=True)


class StreamSourceSpec(BaseModel):
    """The log a stream reads: ``files`` (a glob of JSON-lines or Parquet files, appended to and
    added over time; each file a partition), ``redis`` (Redis Streams: each key a partition) or
    ``postgres_cdc`` (a declared ``postgres_cdc`` source's table, its changes through a slot of
    the stream's own)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["files", "redis", "postgres_cdc"]
    path: str | None = Field(default=None, description="files: a glob from the workspace root")
    format: Literal["jsonl", "parquet"] | None = Field(default=None, description="files: default from the suffix")
    url: str | None = Field(default=None, description="redis: redis://host:port/db (a secret: reference allowed)")
    source: str | None = Field(
        default=None, pattern=IDENTIFIER, description="postgres_cdc: a declared postgres_cdc source (server, table)"
    )
    slot: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9_]{1,63}$",
        description="postgres_cdc: the stream's own replication slot (default millpond_stream_<stream>[_<env>])",
    )
    streams: list[Annotated[str, StringConstraints(min_length=1, max_length=255)]] = Field(
        default=[], description="redis: the stream keys to read, each a partition"
    )
    columns: dict[
        Annotated[str, StringConstraints(pattern=IDENTIFIER)],
        Literal["string", "int64", "float64", "boolean", "timestamp"],
    ] = Field(default={}, description="the events' columns and types (jsonl and redis; parquet files carry theirs)")

    @model_validator(mode="after")
    def _fields_of_the_kind(self) -> StreamSourceSpec:
        if self.kind == "files":
            if not self.path:
                raise ValueError("a files source needs path (a glob)")
            self.path = usable_glob(self.path)
            if self.format is None:
                self.format = "parquet" if self.path.endswith(".parquet") else "jsonl"
        elif self.kind == "postgres_cdc":
            if not self.source:
                raise ValueError("a postgres_cdc stream source needs source: a declared postgres_cdc source")
        else:
            if not self.streams:
                raise ValueError("a redis source needs streams: the stream keys it reads")
            if not self.columns:
                raise ValueError("a redis source needs columns: its entries' fields and types")
        return self


class ServingSpec(BaseModel):
    """A Lambda serving view: the batch layer's windows where they are complete, the stream's
    (the speed layer's) after them, each window from one side only."""

    model_config = ConfigDict(extra="forbid")

    view: str = Field(pattern=TABLE_NAME, description="the view to create (layer.name)")
    batch: str = Field(
        pattern=TABLE_NAME,
        description="the batch layer's table: the same keys, window_start, window_end and aggregates, "
        "complete windows only (millpond.streams.batch.windowed with complete_through)",
    )


class StreamSpec(BaseModel):
    """One stream: its log, its transform, its windows and their policies, its sink."""

    model_config = ConfigDict(extra="forbid")

    description: str = ""
    source: StreamSourceSpec
    transform: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$",
        description="module:function of the workspace's lib/: (ibis.Table) -> ibis.Table, row by row",
    )
    time: str = Field(pattern=IDENTIFIER, description="the event-time column (timestamp, or ISO 8601 text)")
    keys: list[Annotated[str, StringConstraints(pattern=IDENTIFIER)]] = []
    window: WindowSpec
    aggregates: dict[Annotated[str, StringConstraints(pattern=IDENTIFIER)], str] = Field(
        default={"events": "count"}, min_length=1
    )
    watermark: WatermarkSpec = WatermarkSpec()
    late: Literal["keep", "correct"] = Field(
        default="keep",
        description="keep: a late event goes to <sink>_late with its reason; correct: it also updates "
        "the closed window it belongs to (tumbling and hopping)",
    )
    sink: str = Field(pattern=TABLE_NAME)
    serving: ServingSpec | None = Field(default=None, description="a Lambda serving view over batch and stream")
    max_batch: int = Field(
        default=200_000,
        ge=1,
        le=10_000_000,
        description="window rows a micro-batch makes at most: its events, or a hopping window's size / slide times fewer",
    )
    secrets: dict[str, str] = Field(default={}, description="source option -> secret reference (secret:NAME)")

    @field_validator("aggregates")
    @classmethod
    def _aggregates(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            Aggregate.parse(text)
            if name.startswith("_") or name in ("window_start", "window_end"):
                raise ValueError(f"{name}: names starting with _ and window_start/window_end are the stream's own")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> StreamSpec:
        if self.source.kind == "redis" and not self.source.url and "url" not in self.secrets:
            raise ValueError("a redis source needs url, or secrets: {url: secret:NAME}")
        if unknown := set(self.secrets) - {"url"}:
            raise ValueError(f"secrets: {', '.join(sorted(unknown))}: only the source's url may be a secret")
        if self.late == "correct" and self.window.type == "session":
            raise ValueError("late: correct needs tumbling or hopping windows (a late event cannot reopen a session)")
        clash = set(self.keys) & (set(self.aggregates) | {"window_start", "window_end"})
        if clash:
            raise ValueError(f"keys and aggregates share the names {', '.join(sorted(clash))}")
        return self

    def parsed_aggregates(self) -> dict[str, Aggregate]:
        """``{output column: aggregate}``."""
        return {name: Aggregate.parse(text) for name, text in self.aggregates.items()}
