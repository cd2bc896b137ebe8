"""Aggregated (windowed) views on Spark, with exactly the DuckDB engine's semantics.

The rule (DESIGN.md section 3, and ``aggregate_ctes`` in the DuckDB engine's sql.py): for an
entity row at ``t``, a feature with window ``w`` aggregates the non-null values of the events of
the same key with ``t - w < ts <= t``; over no value, count and count_distinct are 0 and the other
functions null; ``last`` is the value of the greatest ``(ts, created)`` (null created lowest);
a null key or a null entity timestamp gives nulls (also for counts).

Plan of :func:`aggregate_matches` (the DuckDB engine's, in Spark):

1. the events: the source pruned to ``(min(entity ts) - longest window, max(entity ts)]`` by a
   filter on the raw timestamp column that Spark pushes into the Parquet scan, null keys
   dropped, only the keys, ts, created and the distinct input columns kept;
2. a LEFT range join of the entity rows (null keys and timestamps dropped before it) to the
   events: ``keys equal AND ts > t - longest AND ts <= t``. Spark plans it as a sort-merge join
   on the keys with the range as a join filter; an entity row without events keeps one row;
3. one aggregation grouped by ``(row number, keys)``, one conditional aggregate per feature:
   ``agg(CASE WHEN ts > t - w THEN value END)``; ``count_distinct`` is
   ``size(collect_set(...))`` (exact; Spark's ``count(DISTINCT)`` with several distinct
   arguments would duplicate every joined row per argument, ``Expand``), ``last`` is
   ``max_by(value, CASE WHEN inside AND value IS NOT NULL THEN struct(ts, created) END)``: a
   struct compares field by field with null lowest, and null orderings are skipped. The
   grouping contains the join keys, so the aggregation reuses the join's hash partitioning:
   two shuffles in all (entity rows and events, by key), none after the join.

The job left-joins the result to every entity row by row number, so rows dropped in step 2 get
nulls. Cost: one joined row per (entity row, event of its key in the longest window), as on
DuckDB; a very hot key over a long window costs its one task that many rows.

:func:`event_lists` is :meth:`SparkEngine.events`: per key, ``sort_array(collect_list(struct(ts,
created, inputs...)))``, which orders the events by ts, then created with nulls first (struct
order), then the lists are the struct's fields (``events.field``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pitstore.offline.spark.columns import RN, TS, col, micros_to_timestamp
from pitstore.offline.spark.plan import (
    entity_key,
    entity_side,
    feature_name,
    key_casts,
    keyed,
    source_key,
)
from pitstore.offline.spark.sources import POS
from pitstore.offline.spark.types import spark_type

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import Column, DataFrame

    from pitstore.offline.base import ViewQuery
    from pitstore.offline.spark.plan import ViewPlan
    from pitstore.offline.spark.sources import ParquetFrame

_ETS = "__pitstore_ets"  # event ts, microseconds
_EC = "__pitstore_ec"  # event created, microseconds (null when absent)
_EVENTS = "__pitstore_events"
FUNCTIONS = ("count", "count_distinct", "sum", "mean", "min", "max", "last")


def _inputs(view: ViewQuery) -> list[str]:
    """The distinct input columns of an aggregated view, in feature order."""
    return list(dict.fromkeys(f.column for f in view.features))


def _slot(view_index: int, n: int) -> str:
    return f"__pitstore_v{view_index}_{n}"


def aggregate_matches(
    entities: DataFrame, plan: ViewPlan, bounds: tuple[int, int] | None
) -> DataFrame:
    """``(row number, features...)`` for every entity row with non-null keys and ts.

    ``entities`` has the row number, the entity ts in microseconds and the key columns;
    ``bounds`` is ``(min, max)`` of the entity ts, or None when every ts is null.
    """
    from pyspark.sql import functions as F

    view = plan.view
    casts = key_casts(entities, plan)
    left = entity_side(entities, plan, casts)
    longest = max(a.window_us for a in view.aggregations)
    right = _events(plan, casts, bounds, longest)
    keys = [entity_key(n) for n in range(len(view.join_keys))]
    condition = (col(_ETS) > col(TS) - F.lit(longest)) & (col(_ETS) <= col(TS))
    for n, key in enumerate(keys):
        condition &= col(key) == col(source_key(n))
    joined = left.join(right, on=condition, how="left")
    slots = {c: _slot(plan.index, n) for n, c in enumerate(_inputs(view))}
    outputs = []
    for j, (feature, spec) in enumerate(zip(view.features, view.aggregations, strict=True)):
        inside = None if spec.window_us == longest else col(_ETS) > col(TS) - F.lit(spec.window_us)
        integral = _is_integral(plan.source.frame.schema[feature.column].dataType)
        value = _aggregate(spec.function, col(slots[feature.column]), inside, integral)
        target = spark_type(feature.arrow_type)
        outputs.append(
            (value if target is None else value.cast(target)).alias(feature_name(plan.index, j))
        )
    # Grouped by the row and the join keys: the join's partitioning by key is reused.
    grouped = joined.groupBy(col(RN), *(col(k) for k in keys)).agg(*outputs)
    return grouped.select(
        col(RN), *(col(feature_name(plan.index, j)) for j in range(len(view.features)))
    )


def _events(
    plan: ViewPlan, casts: list[str | None], bounds: tuple[int, int] | None, longest: int
) -> DataFrame:
    """Events that can fall in some entity row's longest window, null keys dropped."""
    from pyspark.sql import functions as F

    view, source = plan.view, plan.source
    ts = view.source.timestamp_field
    if bounds is None:  # no entity row has a timestamp: nothing can match
        pruned = source.frame.where(F.lit(False))
    else:
        pruned = source.frame.where(source.between(ts, bounds[0] - longest, bounds[1]))
    frame = pruned.select(
        *(
            keyed(k, c).alias(source_key(n))
            for n, (k, c) in enumerate(zip(view.join_keys, casts, strict=True))
        ),
        source.epoch_us(ts).alias(_ETS),
        source.created_us(view).alias(_EC),
        col(POS),
        *(source.raw(c).alias(_slot(plan.index, n)) for n, c in enumerate(_inputs(view))),
    )
    for n in range(len(view.join_keys)):
        frame = frame.where(col(source_key(n)).isNotNull())
    return frame


def _is_integral(dtype: object) -> bool:
    """Whether a Spark type is a (signed) integer type: byte, short, int or long."""
    from pyspark.sql import types as T

    return isinstance(dtype, (T.ByteType, T.ShortType, T.IntegerType, T.LongType))


def _aggregate(
    function: str, value: Column, inside: Column | None, integral: bool = False
) -> Column:
    """One feature's conditional aggregate over the joined rows of an entity row.

    Integer ``sum`` and ``mean`` add exactly, as DuckDB (HUGEINT) and the online path (Python
    ints) do: Spark's ``sum`` of longs fails on an intermediate overflow and its ``avg`` adds
    doubles, so integers are summed as ``decimal(38,0)``. The caller casts the sum to the
    declared type (a sum outside int64 then fails, as DuckDB's cast does); the mean is that
    exact sum as a double divided by the count: Python's ``sum(ints) / n`` while the sum is
    within 2**53, within a unit in the last place beyond. (A decimal division would keep only
    6 decimals: decimal(38,0) / bigint is decimal(38,6).)
    """
    from pyspark.sql import functions as F

    picked = value if inside is None else F.when(inside, value)
    if integral and function in ("sum", "mean"):
        total = F.sum(picked.cast("decimal(38,0)"))
        if function == "sum":
            return total
        # null over no value (null / 0 is null, also in ANSI mode)
        return total.cast("double") / F.count(picked)
    if function == "count":
        return F.count(picked)
    if function == "count_distinct":
        return F.size(F.collect_set(picked))
    if function == "sum":
        return F.sum(picked)
    if function == "mean":
        return F.avg(picked)
    if function == "min":
        return F.min(picked)
    if function == "max":
        return F.max(picked)
    if function == "last":
        keep = value.isNotNull() if inside is None else inside & value.isNotNull()
        return F.max_by(value, F.when(keep, F.struct(col(_ETS), col(_EC), col(POS))))
    raise ValueError(f"unknown aggregation function {function!r}; use one of {FUNCTIONS}")


def event_lists(source: ParquetFrame, view: ViewQuery, lo_us: int, hi_us: int) -> DataFrame:
    """Per key, its events with ``lo < ts <= hi`` as lists in (ts, created) order.

    Columns: the keys, ``__ts`` and ``__created`` of the latest event, ``_ev_ts`` and
    ``_ev_created`` (int64 microseconds), then one list per input column, named after it
    (timestamp inputs as int64 microseconds).
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    ts = view.source.timestamp_field
    inputs = _inputs(view)
    slots = [_slot(0, n) for n in range(len(inputs))]
    values = []
    for name, slot in zip(inputs, slots, strict=True):
        dtype = source.frame.schema[name].dataType
        stamp = name in source.nanos or isinstance(dtype, (T.TimestampType, T.TimestampNTZType))
        values.append((source.epoch_us(name) if stamp else col(name)).alias(slot))
    rows = source.frame.where(source.between(ts, lo_us, hi_us)).select(
        *(col(k) for k in view.join_keys),
        source.epoch_us(ts).alias(_ETS),
        source.created_us(view).alias(_EC),
        col(POS),
        *values,
    )
    rows = rows.where((col(_ETS) > F.lit(lo_us)) & (col(_ETS) <= F.lit(hi_us)))
    for key in view.join_keys:
        rows = rows.where(col(key).isNotNull())
    # (ts, created, place in the source): of events equal in both times, the one read last
    # comes last, as in DuckDB's lists
    event = F.struct(col(_ETS), col(_EC), col(POS), *(col(s) for s in slots))
    grouped = rows.groupBy(*(col(k) for k in view.join_keys)).agg(
        F.sort_array(F.collect_list(event)).alias(_EVENTS)
    )
    events = col(_EVENTS)
    latest = F.element_at(events, -1)
    return grouped.select(
        *(col(k) for k in view.join_keys),
        micros_to_timestamp(latest[_ETS]).alias("__ts"),
        micros_to_timestamp(latest[_EC]).alias("__created"),
        events[_ETS].alias("_ev_ts"),
        events[_EC].alias("_ev_created"),
        *(events[s].alias(name) for name, s in zip(inputs, slots, strict=True)),
    )


def events_schema(source: ParquetFrame, view: ViewQuery) -> pa.Schema:
    """The Arrow schema of :func:`event_lists`' result, as the DuckDB engine returns it."""
    import pyarrow as pa
    import pyarrow.types as pat

    utc = pa.timestamp("us", tz="UTC")
    micros = pa.list_(pa.int64())
    fields = [source.arrow.field(k) for k in view.join_keys]
    fields += [pa.field("__ts", utc), pa.field("__created", utc)]
    fields += [pa.field("_ev_ts", micros), pa.field("_ev_created", micros)]
    for name in _inputs(view):
        kind = source.arrow.field(name).type
        fields.append(pa.field(name, micros if pat.is_timestamp(kind) else pa.list_(kind)))
    return pa.schema(fields)
