"""Times in the catalog: what the filesystem and the metadata store keep as seconds since
the epoch, shown as aware UTC datetimes.

>>> utc_from_timestamp(0).isoformat()
'1970-01-01T00:00:00+00:00'
"""

from __future__ import annotations

import datetime as dt


def utc_from_timestamp(seconds: float) -> dt.datetime:
    """The aware UTC datetime of ``seconds`` since the epoch."""
    return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
