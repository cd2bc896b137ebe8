"""Spark column expressions shared by the plans: quoting, UTC microseconds, time filters."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column
    from pyspark.sql.types import DataType

RN = "__pitstore_rn"
"""Entity row number: the input order (not necessarily contiguous, always increasing)."""
TS = "__pitstore_ts"
"""Entity timestamp in microseconds since the epoch (UTC)."""

WIDEN_US = 1_000_000
"""Pruning bounds are widened by 1 s, so that unit truncation can never drop a row."""

_MIN_US = -62_135_596_800_000_000  # 0001-01-01, Spark's smallest timestamp
_MAX_US = 253_402_300_799_999_999  # 9999-12-31 23:59:59.999999


def col(name: str) -> Column:
    """A column by its exact name (dots and backticks in names are quoted)."""
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def epoch_us(column: Column, dtype: DataType, nanos: bool) -> Column:
    """A timestamp column as int64 microseconds since the epoch, naive values read as UTC.

    ``TIMESTAMP`` is an instant; ``TIMESTAMP_NTZ`` is cast through the session zone, which the
    engine pins to UTC; a nanosecond Parquet column (read as int64) is floored to the
    microsecond, as the DuckDB engine and the online writes floor it (pitstore.timeutil).
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if nanos:
        return _floor_div(column, 1000)
    if isinstance(dtype, T.TimestampNTZType):
        return F.unix_micros(column.cast(T.TimestampType()))
    return F.unix_micros(column)


def _floor_div(column: Column, divisor: int) -> Column:
    """Integer division rounding toward the past: ``div`` truncates toward zero, so a negative
    remainder takes one more off (-1 ns is -1 us, not 0). No step can overflow a long."""
    from pyspark.sql import functions as F

    quotient = F.call_function("div", column, F.lit(divisor))
    behind = (column % F.lit(divisor) < 0).cast("long")
    return quotient - behind


def micros_to_timestamp(micros: Column, naive: bool = False) -> Column:
    """Microseconds since the epoch as a ``TIMESTAMP`` (or ``TIMESTAMP_NTZ`` if ``naive``)."""
    from pyspark.sql import functions as F

    stamp = F.timestamp_micros(micros)
    return stamp.cast("timestamp_ntz") if naive else stamp


def between_filter(
    column: Column, dtype: DataType, nanos: bool, lo_us: int | None, hi_us: int | None
) -> Column:
    """Non-null values in (a slightly wider) ``[lo, hi]``, compared with constants of the
    column's own type so that Spark pushes the filter into the Parquet scan (row groups outside
    the range are skipped)."""
    condition = column.isNotNull()
    if lo_us is not None:
        condition &= column >= _constant(lo_us - WIDEN_US, dtype, nanos)
    if hi_us is not None:
        condition &= column <= _constant(hi_us + WIDEN_US, dtype, nanos)
    return condition


def _constant(us: int, dtype: DataType, nanos: bool) -> Column:
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    us = max(min(us, _MAX_US), _MIN_US)
    if nanos:
        return F.lit(max(min(us, 2**63 // 1000 - 1), -(2**63) // 1000 + 1) * 1000)
    # Folded to a literal by the optimizer before the pushdown; the NTZ cast goes through UTC.
    naive = isinstance(dtype, T.TimestampNTZType)
    return micros_to_timestamp(F.lit(us), naive)
