"""Windowed aggregates at read time, from the event lists the online store keeps.

The same rules as the offline engine (see :mod:`pitstore.definitions.aggregation`): events with
``now - window < ts <= now`` count, nulls are skipped, an empty window gives 0 for the counts
and null for the rest, ``last`` is the value of the latest event by (ts, created). Integer sums
are exact on both sides; float sums and means agree to within rounding (the engines add in a
different order). NaN is one value, greater than every number, as in DuckDB and Spark: ``max``
of a window holding NaN is NaN, ``min`` is NaN only when every value is, and NaNs count once
in ``count_distinct`` (Python's ``min``, ``max`` and ``set`` answered by position and by
object identity).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Store columns of an aggregated view (besides one list per input column).
EVENT_TS = "_ev_ts"
EVENT_CREATED = "_ev_created"


@dataclass(frozen=True, slots=True)
class ReadAggregate:
    """One aggregated feature: function, window, and which input list it reads."""

    function: str
    window_us: int
    input_index: int


def aggregate(
    function: str,
    window_us: int,
    ev_ts: Sequence[int] | None,
    values: Sequence[Any] | None,
    now_us: int,
) -> Any:
    """The aggregate of ``values`` over the events in ``(now - window, now]``.

    ``ev_ts`` and ``values`` are aligned and in event order (ts, then created), so the last
    value picked is the latest one.
    """
    lo = now_us - window_us
    picked = (
        [v for t, v in zip(ev_ts, values, strict=True) if lo < t <= now_us and v is not None]
        if ev_ts is not None and values is not None
        else []
    )
    if function == "count":
        return len(picked)
    if function == "count_distinct":
        return len({_NAN if _is_nan(v) else v for v in picked})
    if not picked:
        return None
    if function == "sum":
        return sum(picked)
    if function == "mean":
        return sum(picked) / len(picked)
    if function == "min":
        numbers = [v for v in picked if not _is_nan(v)]
        return min(numbers) if numbers else picked[0]
    if function == "max":
        nan = next((v for v in picked if _is_nan(v)), None)
        return nan if nan is not None else max(picked)
    if function == "last":
        return picked[-1]
    raise ValueError(f"unknown aggregation function {function!r}")


_NAN = object()  # stands for every NaN in a set


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value


def aggregate_columns(
    aggregates: Sequence[ReadAggregate],
    columns: Sequence[Sequence[Any]],
    now_us: int,
) -> list[list[Any]]:
    """Every aggregated feature for every entity; ``columns`` = [ev_ts, ev_created, inputs...]."""
    ev_ts = columns[0]
    out = []
    for spec in aggregates:
        values = columns[2 + spec.input_index]
        out.append(
            [
                aggregate(spec.function, spec.window_us, ts, vals, now_us)
                for ts, vals in zip(ev_ts, values, strict=True)
            ]
        )
    return out
