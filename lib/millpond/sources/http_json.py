"""The ``http_json`` source: the records of a JSON API, page after page, merged on a key.

Pagination (``paginate.kind``): ``page`` (a page number parameter), ``offset`` (an offset
parameter, ``size`` records a page), ``cursor`` (the next cursor read from the response at
``cursor_path``, sent back as ``cursor_param``), ``link`` (the ``Link: <...>; rel="next"``
header) or ``none``. A page with no records ends ``page`` and ``offset``; a missing cursor or
``next`` link ends the others. The records are the response itself or the list found at
``records`` (a dotted path, ``data.items``); nested objects and lists stay nested.

Failures: a 5xx answer, a timeout or a dropped connection is retried with exponential
backoff (``retries`` times, from ``backoff`` seconds, tenacity); a 429 waits what its
``Retry-After`` says, never less than ``backoff`` (a ``Retry-After: 0`` must not make it
spin), and counts as a retry; any other 4xx fails at once. ``rate_limit`` caps the
requests per second of the source. A page that repeats a cursor or link already followed,
or more than ``max_pages`` pages, ends the load with one line instead of looping. A token
comes from a secret reference (``secrets: {token: secret:api_token}``) and is sent as
``Authorization: Bearer``; no error shows it.

Each load reads every page and merges the records on ``primary_key``, so a record read
again replaces itself; the target keeps the records the API no longer lists unless
``deletes: true`` (then it follows the API's set of keys).

>>> HttpJsonOptions.model_validate({"url": "http://127.0.0.1:1/x", "primary_key": ["id"]}).paginate.kind
'none'
"""

from __future__ import annotations

import datetime as dt
import email.utils
import threading
import time
from typing import TYPE_CHECKING, Any, Literal

import ibis
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from millpond.errors import MillpondError
from millpond.sources.registry import LoadPlan, Source, register_source
from millpond.warehouse.incremental import Incremental

if TYPE_CHECKING:
    import httpx
    from ibis.backends import BaseBackend


class Paginate(BaseModel):
    """How the API pages its records."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["none", "page", "offset", "cursor", "link"] = "none"
    param: str = Field(default="page", description="page: the page number; offset: the offset; cursor: the cursor")
    start: int = Field(default=1, description="page: the first page's number")
    size: int | None = Field(default=None, gt=0, description="records a page (offset: required)")
    size_param: str | None = Field(default=None, description="the parameter that asks for size records a page")
    cursor_path: str = Field(default="next", description="cursor: where the next cursor is in the response")


class HttpJsonOptions(BaseModel):
    """The options of an ``http_json`` source."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://", description="the endpoint")
    primary_key: list[str] = Field(min_length=1, description="the key records are merged on")
    params: dict[str, str | int | float | bool] = {}
    headers: dict[str, str] = {}
    token: str | None = Field(default=None, description="from a secret reference; sent as a bearer token")
    records: str | None = Field(default=None, description="dotted path to the list of records (default: the body)")
    paginate: Paginate = Paginate()
    deletes: bool = Field(default=False, description="the target follows the API's keys: records gone are deleted")
    timeout: float = Field(default=30.0, gt=0, le=600)
    retries: int = Field(default=5, ge=0, le=20)
    backoff: float = Field(default=0.5, gt=0, le=60, description="first wait in seconds; doubles")
    rate_limit: float | None = Field(default=None, gt=0, description="requests per second at most")
    max_pages: int = Field(default=10_000, gt=0)


class _Retry(Exception):
    """A failure worth retrying, with the least time to wait first."""

    def __init__(self, message: str, wait: float = 0.0):
        super().__init__(message)
        self.wait = wait


def _retry_after(value: str | None) -> float:
    """Seconds a ``Retry-After`` header asks for (a number or an HTTP date); 0 when absent or unreadable."""
    if not value:
        return 0.0
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return 0.0
        return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())


def _at(body: Any, path: str | None) -> Any:
    for part in (path or "").split(".") if path else []:
        body = body.get(part) if isinstance(body, dict) else None
    return body


@register_source
class HttpJsonSource(Source):
    """A JSON API; see the module docstring."""

    kind = "http_json"
    Options = HttpJsonOptions
    options: HttpJsonOptions

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._last_request = 0.0
        self._lock = threading.Lock()
        self.requests = 0

    def _masked(self, text: str) -> str:
        return text.replace(self.options.token, "***") if self.options.token else text

    def _pace(self) -> None:
        if self.options.rate_limit is None:
            return
        with self._lock:
            wait = self._last_request + 1.0 / self.options.rate_limit - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last_request = time.monotonic()

    def _get(self, client: httpx.Client, url: str, params: dict[str, Any]) -> httpx.Response:
        """One page, with the retries of the module docstring."""
        import httpx
        from tenacity import RetryCallState, retry, retry_if_exception_type, stop_after_attempt

        options = self.options

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            backoff = options.backoff * 2 ** (state.attempt_number - 1)
            least = error.wait if isinstance(error, _Retry) else 0.0
            return max(backoff if least == 0 else options.backoff, least)

        @retry(
            retry=retry_if_exception_type(_Retry),
            stop=stop_after_attempt(options.retries + 1),
            wait=wait,
            reraise=True,
        )
        def attempt() -> httpx.Response:
            self._pace()
            self.requests += 1
            try:
                response = client.get(url, params=params or None)  # none: keep the query of a followed link
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                raise _Retry(f"{type(exc).__name__}") from None
            if response.status_code == 429:
                raise _Retry("429 Too Many Requests", _retry_after(response.headers.get("Retry-After")))
            if response.status_code >= 500:
                raise _Retry(f"{response.status_code} {response.reason_phrase}")
            return response

        try:
            response = attempt()
        except _Retry as exc:
            raise MillpondError(f"source {self.name}: {url}: {exc} after {options.retries + 1} attempts") from None
        if response.status_code >= 400:
            raise MillpondError(f"source {self.name}: {url}: {response.status_code} {response.reason_phrase}")
        return response

    def fetch(self) -> list[dict[str, Any]]:
        """Every record of every page."""
        import httpx

        options, paging = self.options, self.options.paginate
        headers = dict(options.headers)
        if options.token:
            headers["Authorization"] = f"Bearer {options.token}"
        found: list[dict[str, Any]] = []
        seen: set[str] = set()
        url, params = options.url, dict(options.params)
        if paging.size and paging.size_param:
            params[paging.size_param] = paging.size
        number, offset = paging.start, 0
        with httpx.Client(headers=headers, timeout=options.timeout, follow_redirects=True) as client:
            for page in range(options.max_pages + 1):
                if page == options.max_pages:
                    raise MillpondError(f"source {self.name}: more than max_pages {options.max_pages} pages; raise it")
                if paging.kind == "page":
                    params[paging.param] = number
                elif paging.kind == "offset":
                    params[paging.param] = offset
                response = self._get(client, url, params)
                try:
                    body = response.json()
                except ValueError:
                    raise MillpondError(f"source {self.name}: {response.url}: the answer is not JSON") from None
                records = _at(body, options.records)
                if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
                    where = f" at {options.records}" if options.records else ""
                    raise MillpondError(f"source {self.name}: {response.url}: no list of records{where}")
                found += records
                if paging.kind in {"page", "offset"}:
                    if not records:
                        break
                    number, offset = number + 1, offset + len(records)
                    continue
                following = None
                if paging.kind == "cursor":
                    following = _at(body, paging.cursor_path)
                    if following is not None:
                        params[paging.param] = following
                elif paging.kind == "link":
                    following = response.links.get("next", {}).get("url")
                    if following is not None:
                        url, params = str(response.url.join(following)), {}
                if following is None:
                    break
                if str(following) in seen:
                    raise MillpondError(f"source {self.name}: the API gave the same next page twice ({following!r})")
                seen.add(str(following))
        return found

    def plan(self, con: BaseBackend, state: dict[str, dict[str, Any]], *, loaded_at: dt.datetime) -> LoadPlan:
        try:
            records = self.fetch()
        except MillpondError as exc:
            raise MillpondError(self._masked(str(exc))) from None
        missing = sorted({k for r in records for k in self.options.primary_key if r.get(k) is None})
        if missing:
            raise MillpondError(f"source {self.name}: records without {', '.join(missing)} (the primary_key)")
        merge = Incremental.of(
            "merge", unique_key=list(self.options.primary_key), propagate_deletes=self.options.deletes
        )
        counts = {"records": len(records), "requests": self.requests}
        if not records and not self.options.deletes:
            return LoadPlan(None, merge, {}, counts=counts)
        try:
            table = pa.Table.from_pylist(records)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise MillpondError(f"source {self.name}: records of mixed types: {exc}") from None
        table = table.append_column("_loaded_at", pa.array([loaded_at] * table.num_rows, type=pa.timestamp("us")))
        return LoadPlan(ibis.memtable(table), merge, {}, counts=counts)
