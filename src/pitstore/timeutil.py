"""Time helpers: everything in pitstore is UTC; naive datetimes are read as UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from pitstore.errors import DefinitionError

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
    """Microseconds since the Unix epoch of ``value`` (naive = UTC)."""
    delta = to_utc(value) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


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
