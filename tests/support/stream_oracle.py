"""An independent oracle for the streams: the windows of a log, one event at a time, in plain Python.

It follows the documented semantics (docs/streams.md) with dictionaries and loops, none of the
processor's vectorised code: the watermark before each event is the latest time seen minus
the delay; a tumbling or hopping window closes (is emitted) as soon as the watermark reaches
its end plus the allowed lateness, and an event arriving for a closed window is late (or, with
``late: correct``, corrects it); a session takes every point closer than ``gap`` and closes
once the watermark reaches its last event plus gap plus lateness; an event older than the
watermark by more than the allowed lateness is late for sessions.

Events are ``(key, time_us, amount)``; the aggregates are ``events`` (count) and ``amount``
(sum), the ones the tests declare.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Windows:
    """What the oracle found: closed windows, open ones, late events ``(index, window start)``."""

    closed: dict[tuple, list] = field(default_factory=dict)  # (key, start, end) -> [events, amount]
    open: dict[tuple, list] = field(default_factory=dict)
    late: list[tuple[int, int | None]] = field(default_factory=list)


def fixed_windows(events, *, size, slide, delay, lateness, correct=False) -> Windows:
    """Tumbling (``slide == size``) or hopping windows over ``events`` in log order."""
    out = Windows()
    latest = None
    for i, (key, t, amount) in enumerate(events):
        mark = None if latest is None else latest - delay
        start = t - t % slide
        starts = []
        while start > t - size:
            starts.append(start)
            start -= slide
        for s in starts:
            window = (key, s, s + size)
            if mark is not None and s + size + lateness <= mark:
                out.late.append((i, s))
                if correct:
                    row = out.closed.setdefault(window, [0, 0.0])
                    row[0] += 1
                    row[1] += amount
                continue
            row = out.open.setdefault(window, [0, 0.0])
            row[0] += 1
            row[1] += amount
        latest = t if latest is None else max(latest, t)
        mark = latest - delay
        for window in [w for w in out.open if w[2] + lateness <= mark]:
            out.closed[window] = out.open.pop(window)
    return out


def earliest(sessions: dict) -> float:
    """The earliest last event of any open session (infinity when there is none)."""
    return min((s[1] for mine in sessions.values() for s in mine), default=float("inf"))


def session_windows(events, *, gap, delay, lateness) -> Windows:
    """Session windows per key over ``events`` in log order; a window is ``(key, first, last + gap)``."""
    out = Windows()
    sessions: dict[object, list[list]] = {}  # key -> [[first, last, count, amount], ...]
    latest = None
    for i, (key, t, amount) in enumerate(events):
        mark = None if latest is None else latest - delay
        if mark is not None and t + lateness < mark:
            out.late.append((i, None))
        else:
            mine = sessions.setdefault(key, [])
            near = [s for s in mine if t - s[1] < gap and s[0] - t < gap]
            merged = [min([t, *(s[0] for s in near)]), max([t, *(s[1] for s in near)]), 1, amount]
            for s in near:
                merged[2] += s[2]
                merged[3] += s[3]
                mine.remove(s)
            mine.append(merged)
        latest = t if latest is None else max(latest, t)
        mark = latest - delay
        if earliest(sessions) + gap + lateness <= mark:  # some session closes: find it
            for k, mine in list(sessions.items()):
                for s in [s for s in mine if s[1] + gap + lateness <= mark]:
                    out.closed[(k, s[0], s[1] + gap)] = [s[2], s[3]]
                    mine.remove(s)
                if not mine:
                    del sessions[k]
    for k, mine in sessions.items():
        for s in mine:
            out.open[(k, s[0], s[1] + gap)] = [s[2], s[3]]
    return out
