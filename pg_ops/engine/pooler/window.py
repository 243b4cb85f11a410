"""The maintenance window: the live pooler is changed only inside it, checked at the moment of each change
(a run scheduled at 03:59 may reach its deploy at 04:01)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from pg_ops.engine.errors import PgOpsError

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def parse_clock_time(text: str, name: str) -> dt.time:
    try:
        hours, minutes = (int(part) for part in text.strip().split(":"))
        return dt.time(hours, minutes)
    except ValueError:
        raise PgOpsError(f"{name} = {text!r} is not a time of day; give HH:MM in UTC, e.g. 02:00") from None


@dataclass(frozen=True)
class MaintenanceWindow:
    """[start, end) every day, in UTC; an end before the start spans midnight."""

    start: dt.time = dt.time(2, 0)
    end: dt.time = dt.time(4, 0)

    @classmethod
    def parse(cls, start: str, end: str) -> MaintenanceWindow:
        window = cls(parse_clock_time(start, "window_start"), parse_clock_time(end, "window_end"))
        if window.start == window.end:
            raise PgOpsError(f"the maintenance window {window} is empty: window_start and window_end must differ")
        return window

    def __str__(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M} UTC"

    def is_open(self, now: dt.datetime) -> bool:
        at = now.astimezone(dt.UTC).time()
        if self.start < self.end:
            return self.start <= at < self.end
        return at >= self.start or at < self.end

    def next_opening(self, now: dt.datetime) -> dt.datetime:
        now = now.astimezone(dt.UTC)
        opening = dt.datetime.combine(now.date(), self.start, tzinfo=dt.UTC)
        return opening if opening > now else opening + dt.timedelta(days=1)


def _duration(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def require_open(window: MaintenanceWindow, now: dt.datetime, override: str, what: str) -> str:
    """The line to log when `what` may go ahead now; otherwise one line saying when the window opens.
    An override (a reason, never empty) lets it go ahead outside the window and says so."""
    if window.is_open(now):
        return f"{what}: inside the maintenance window {window} (now {now:%H:%M} UTC)"
    if override.strip():
        return (f"{what}: OUTSIDE the maintenance window {window} (now {now:%H:%M} UTC), by override: "
                f"{override.strip()}")
    opening = window.next_opening(now)
    raise PgOpsError(f"{what} refused: the maintenance window {window} is closed (now {now:%H:%M} UTC); it opens "
                     f"in {_duration(opening - now)}, at {opening:%Y-%m-%d %H:%M} UTC; the live pooler was not "
                     "touched (an emergency can set override_window to a reason)")
