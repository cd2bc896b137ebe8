"""Time helpers: everything in pitstore is UTC; naive datetimes are read as UTC.

pitstore keeps time in microseconds. A finer timestamp (pandas' nanoseconds, an ISO string
with more than six fractional digits) is **floored** to the microsecond, toward the past, also
before 1970 (-1 ns is -1 us, not 0): so a value never moves to a later instant, and the
offline engines and the online write paths agree on every row (DESIGN.md section 3).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pitstore.errors import DefinitionError

if TYPE_CHECKING:
    import pyarrow as pa

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DURATION = re.compile(r"^\s*(\d+)\s*(us|ms|s|m|h|d|w)\s*$")
_UNITS = {
    "us": timedelta(microseconds=1),
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}


def to_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (naive values are taken to be UTC already)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_micros(value: datetime) -> int:
    """Microseconds since the Unix epoch of ``value`` (naive = UTC); a pandas ``Timestamp``'s
    nanoseconds are floored (its difference to the epoch keeps them below the microseconds)."""
    delta = to_utc(value) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def floor_micros(column: Any) -> Any:
    """An Arrow timestamp array (or chunked array) as int64 microseconds since the epoch,
    finer units floored (see the module docstring).

    The stored integers are used as they are: UTC instants for an aware type, wall-clock
    values for a naive one (read as UTC). Arrow's unsafe cast truncates toward zero, so a
    nanosecond value before 1970 that is not a whole microsecond loses one more microsecond.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    column_type: pa.TimestampType = column.type
    micros = column.cast(pa.timestamp("us", column_type.tz), safe=False).cast(pa.int64())
    if column_type.unit != "ns":
        return micros  # seconds and milliseconds are whole microseconds
    nanos = column.cast(pa.int64())
    # micros * 1000 cannot overflow (|micros| <= 2^63 / 1000), unlike a floor on nanoseconds
    behind = pc.less(nanos, pc.multiply(micros, 1000)).cast(pa.int64())
    return pc.subtract(micros, behind)


def from_micros(micros: int) -> datetime:
    """The aware UTC datetime of ``micros`` microseconds since the Unix epoch."""
    return _EPOCH + timedelta(microseconds=micros)


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def parse_duration(value: str | timedelta, what: str = "duration") -> timedelta:
    """A timedelta from a timedelta or a string such as ``"90m"``, ``"1d"``, ``"12h"``."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str) and (m := _DURATION.match(value)):
        try:
            return int(m.group(1)) * _UNITS[m.group(2)]
        except OverflowError:  # past timedelta's 999,999,999 days
            raise DefinitionError(f"{what} {value!r} is too long a duration") from None
    raise DefinitionError(
        f"invalid {what} {value!r}: use a datetime.timedelta or a string such as "
        "'30m', '12h', '1d' or '7d' (units: us, ms, s, m, h, d, w)"
    )


def format_duration(value: timedelta) -> str:
    """The shortest string form of ``value`` that :func:`parse_duration` reads back."""
    micros = to_micros(_EPOCH + value)
    for unit in ("d", "h", "m", "s", "ms"):  # no weeks: "14d" reads better than "2w"
        size = to_micros(_EPOCH + _UNITS[unit])
        if micros % size == 0:
            return f"{micros // size}{unit}"
    return f"{micros}us"
