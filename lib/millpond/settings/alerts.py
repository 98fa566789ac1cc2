"""The ``alerts:`` section of ``millpond.yml`` as pydantic models: when to alert and
through which channels (see :mod:`millpond.alerts` for what is sent).

>>> AlertsSpec.model_validate({"channels": ["log"]}).channels[0].kind
'log'
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from millpond.settings.values import MAX_BACKOFF

Trigger = Literal["run_failed", "check_failed", "anomaly"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, data: Any) -> Any:
        """YAML 1.1 reads a bare ``on:`` key as ``True``; give it its name back."""
        if isinstance(data, dict) and True in data:
            data = {("on" if key is True else key): value for key, value in data.items()}
        return data


class _Channel(_Spec):
    on: list[Trigger] | None = Field(default=None, description="overrides the section's `on` for this channel")


class LogChannel(_Channel):
    """A JSON line in ``<meta>/alerts.log`` and a one-line summary on stderr."""


class WebhookChannel(_Channel):
    """A JSON POST; ``${secret:NAME}`` in ``url`` and ``headers`` is expanded when sending."""

    url: str = Field(pattern=r"^https?://")
    headers: dict[str, str] = {}
    timeout: float = Field(default=5, gt=0, le=3600, allow_inf_nan=False)
    retries: int = Field(default=2, ge=0, le=10)
    retry_backoff: float = Field(
        default=0.5,
        ge=0,
        le=MAX_BACKOFF,
        allow_inf_nan=False,
        description="first wait in seconds (at most an hour); doubles",
    )


class CommandChannel(_Channel):
    """A program (an argv list, no shell) that reads the incident JSON on stdin."""

    run: list[str] = Field(min_length=1)
    timeout: float = Field(default=30, gt=0, le=3600, allow_inf_nan=False)


CHANNEL_TYPES: dict[str, type[_Channel]] = {"log": LogChannel, "webhook": WebhookChannel, "command": CommandChannel}


class ChannelSpec(BaseModel):
    """One channel: a mapping with one key, its type (``log``, ``webhook``, ``command``).

    >>> ChannelSpec.model_validate({"command": {"run": ["notify"]}}).kind
    'command'
    >>> ChannelSpec.model_validate({"log": None}).channel
    LogChannel(on=None)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    log: LogChannel | None = None
    webhook: WebhookChannel | None = None
    command: CommandChannel | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_channel_type(cls, data: Any) -> Any:
        known = ", ".join(CHANNEL_TYPES)
        if isinstance(data, str) and data in CHANNEL_TYPES:
            data = {data: {}}
        if not isinstance(data, dict) or len(data) != 1:
            raise ValueError(f"a channel is a mapping with exactly one key, its type ({known}), such as `log: {{}}`")
        ((kind, arguments),) = data.items()
        if kind not in CHANNEL_TYPES:
            raise ValueError(f"unknown channel type {kind!r} (known: {known})")
        return {kind: {} if arguments is None else arguments}

    @property
    def kind(self) -> str:
        """The channel type, as written in YAML."""
        return next(kind for kind in CHANNEL_TYPES if getattr(self, kind) is not None)

    @property
    def channel(self) -> LogChannel | WebhookChannel | CommandChannel:
        return getattr(self, self.kind)


class AlertsSpec(_Spec):
    """The ``alerts:`` section of ``millpond.yml``; no channels means no alerts.

    >>> import yaml
    >>> spec = AlertsSpec.model_validate(yaml.safe_load("on: [run_failed]\\nchannels: [log: {}]"))
    >>> spec.on, [c.kind for c in spec.channels]
    (['run_failed'], ['log'])
    """

    on: list[Trigger] = ["run_failed", "check_failed", "anomaly"]
    channels: list[ChannelSpec] = []
