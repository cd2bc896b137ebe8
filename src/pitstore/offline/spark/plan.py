"""The Spark plans of point-in-time retrieval and of the latest-per-entity step.

Spark has no ASOF join, so each view is matched with one of two exact strategies (DESIGN.md
section 3: greatest ``ts <= entity ts``, then greatest created with nulls lowest; TTL bounds
inclusive; null keys or timestamps match nothing):

``join`` (default for a view with a TTL)
    An equi-join on the keys with ``s.ts <= e.ts AND s.ts >= e.ts - ttl`` as extra join
    conditions, then ``ROW_NUMBER() OVER (PARTITION BY keys, row ORDER BY ts DESC, created
    DESC NULLS LAST) = 1``. The window's partitioning contains the join keys, so Spark reuses
    the join's hash partitioning: two shuffles in all (entity rows and source rows by key).
    Cost: one pair per (entity row, candidate row), and a sort-merge join compares every entity
    row of a key with every source row of that key (the TTL bounds the output, not the work).

``union`` (default without a TTL)
    Entity rows and source rows in one ``UNION``, ``PARTITION BY keys ORDER BY ts, kind,
    created NULLS FIRST`` (source rows sort before entity rows at equal ts), and
    ``LAST(struct, ignorenulls)`` over the rows before each entity row: the latest candidate.
    Linear in rows per key: no candidate blow-up when the lookback is unbounded. The TTL, if
    any, is applied after the match (an older match means every candidate is older).

Both return ``(row number, features)`` for entity rows that matched; the job left-joins them to
the entity rows on the row number, which also restores the input order. An aggregated view
(windowed aggregates) runs neither: see aggregates.py (a range join and one aggregation).

Measured (bench/run_spark.py, 10M x 1M, local[2]): join 17-29 s, union 20-31 s with a TTL;
without one, join 17-25 s, union 20-39 s. ``auto`` still takes union without a TTL: there the
join sorts about half of (entity rows x source rows) of every key, which a hot key makes
unbounded, while union stays linear. Salting the join by time bucket was 1.5x slower here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pitstore.offline.duckdb.sql import ttl_us
from pitstore.offline.spark.columns import RN, TS, col, micros_to_timestamp
from pitstore.offline.spark.sources import POS

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from pitstore.offline.base import ViewQuery
    from pitstore.offline.spark.sources import ParquetFrame

Strategy = Literal["auto", "join", "union"]
STRATEGIES: tuple[Strategy, ...] = ("auto", "join", "union")

_STS = "__pitstore_sts"  # source row ts, microseconds
_SC = "__pitstore_sc"  # source row created, microseconds (null when absent)
_KIND = "__pitstore_kind"  # union strategy: 0 = source row, 1 = entity row
_BEST = "__pitstore_best"  # union strategy: the latest source row so far
_RANK = "__pitstore_rank"


def feature_name(view_index: int, feature_index: int) -> str:
    """The internal name of a feature column (outputs are renamed at the very end)."""
    return f"__pitstore_f{view_index}_{feature_index}"


def entity_key(n: int) -> str:
    return f"__pitstore_e{n}"


def source_key(n: int) -> str:
    return f"__pitstore_k{n}"


@dataclass(frozen=True, slots=True)
class ViewPlan:
    """One view of a retrieval: its query, its source, its position and its strategy."""

    view: ViewQuery
    source: ParquetFrame
    index: int
    strategy: Strategy = "auto"

    @property
    def resolved(self) -> Literal["join", "union", "aggregate"]:
        """The plan that runs: ``auto`` means join with a TTL, union without; an aggregated
        view always runs the range join of aggregates.py (the strategy does not apply)."""
        if self.view.aggregations:
            return "aggregate"
        if self.strategy == "auto":
            return "join" if self.view.ttl is not None else "union"
        return self.strategy


def key_casts(entities: DataFrame, plan: ViewPlan) -> list[str | None]:
    """Per key, the type both sides are cast to: ``bigint`` when both are integers.

    Casting both sides to one type (instead of letting Spark widen one side inside the join
    condition) keeps the join's partitioning on plain columns, which the window then reuses.
    """
    from pyspark.sql import types as T

    integral = (T.ByteType, T.ShortType, T.IntegerType, T.LongType)
    casts: list[str | None] = []
    for key in plan.view.join_keys:
        left = entities.schema[key].dataType
        right = plan.source.frame.schema[key].dataType
        both = isinstance(left, integral) and isinstance(right, integral)
        casts.append("bigint" if both else None)
    return casts


def keyed(name: str, cast: str | None) -> Column:
    return col(name).cast(cast) if cast else col(name)


def entity_side(entities: DataFrame, plan: ViewPlan, casts: list[str | None]) -> DataFrame:
    """Entity rows that can match: row number, ts and keys, none of them null."""
    keys = [
        keyed(k, c).alias(entity_key(n))
        for n, (k, c) in enumerate(zip(plan.view.join_keys, casts, strict=True))
    ]
    frame = entities.select(col(RN), col(TS), *keys)
    for name in [TS, *(entity_key(n) for n in range(len(keys)))]:
        frame = frame.where(col(name).isNotNull())
    return frame


def _source_side(
    plan: ViewPlan, casts: list[str | None], bounds: tuple[int, int] | None
) -> DataFrame:
    """Source rows in ``[min(entity ts) - ttl, max(entity ts)]`` with non-null keys and ts."""
    from pyspark.sql import functions as F

    view, source = plan.view, plan.source
    spec = view.source
    if bounds is None:  # no entity row has a timestamp: nothing can match
        pruned = source.frame.where(F.lit(False))
    else:
        lo = bounds[0] - ttl_us(view.ttl) if view.ttl is not None else None
        pruned = source.frame.where(source.between(spec.timestamp_field, lo, bounds[1]))
    created = (
        source.epoch_us(spec.created_timestamp_field)
        if spec.created_timestamp_field
        else F.lit(None).cast("bigint")
    )
    columns = [
        *(
            keyed(k, c).alias(source_key(n))
            for n, (k, c) in enumerate(zip(view.join_keys, casts, strict=True))
        ),
        source.epoch_us(spec.timestamp_field).alias(_STS),
        created.alias(_SC),
        col(POS),
        *(
            source.value(f.column, f.arrow_type).alias(feature_name(plan.index, j))
            for j, f in enumerate(view.features)
        ),
    ]
    frame = pruned.select(*columns)
    for n in range(len(view.join_keys)):
        frame = frame.where(col(source_key(n)).isNotNull())
    return frame


def matches(entities: DataFrame, plan: ViewPlan, bounds: tuple[int, int] | None) -> DataFrame:
    """``(row number, features...)`` of the entity rows that have a candidate in the view
    (for an aggregated view: of every entity row with non-null keys and ts).

    ``entities`` has the row number, the entity ts in microseconds and the key columns;
    ``bounds`` is ``(min, max)`` of the entity ts, or None when every ts is null.
    """
    if plan.view.aggregations:
        from pitstore.offline.spark.aggregates import aggregate_matches

        return aggregate_matches(entities, plan, bounds)
    casts = key_casts(entities, plan)
    left = entity_side(entities, plan, casts)
    right = _source_side(plan, casts, bounds)
    if plan.resolved == "join":
        return _join_strategy(left, right, plan)
    return _union_strategy(left, right, plan)


def _features(plan: ViewPlan) -> list[str]:
    return [feature_name(plan.index, j) for j in range(len(plan.view.features))]


def _join_strategy(left: DataFrame, right: DataFrame, plan: ViewPlan) -> DataFrame:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    keys = [entity_key(n) for n in range(len(plan.view.join_keys))]
    condition = col(_STS) <= col(TS)
    for n, key in enumerate(keys):
        condition &= col(key) == col(source_key(n))
    if plan.view.ttl is not None:
        condition &= col(_STS) >= col(TS) - F.lit(ttl_us(plan.view.ttl))
    # Partitioned like the join (the keys), plus the row: no shuffle between the two.
    window = Window.partitionBy(*(col(k) for k in keys), col(RN)).orderBy(
        col(_STS).desc(), col(_SC).desc_nulls_last(), col(POS).desc()
    )
    joined = left.join(right, on=condition, how="inner")
    ranked = joined.withColumn(_RANK, F.row_number().over(window))
    return ranked.where(col(_RANK) == 1).select(col(RN), *(col(f) for f in _features(plan)))


def _union_strategy(left: DataFrame, right: DataFrame, plan: ViewPlan) -> DataFrame:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    keys = [entity_key(n) for n in range(len(plan.view.join_keys))]
    features = _features(plan)
    payload = F.struct(col(_STS).alias(_STS), *(col(f).alias(f) for f in features))
    entity_rows = left.select(
        *(col(k) for k in keys),
        col(TS).alias(_STS),
        F.lit(1).alias(_KIND),
        F.lit(None).cast("bigint").alias(_SC),
        F.lit(None).cast("bigint").alias(POS),
        col(RN),
        F.lit(None).cast(payload_type(right, features)).alias(_BEST),
    )
    source_rows = right.select(
        *(col(source_key(n)).alias(k) for n, k in enumerate(keys)),
        col(_STS),
        F.lit(0).alias(_KIND),
        col(_SC),
        col(POS),
        F.lit(None).cast("bigint").alias(RN),
        payload.alias(_BEST),
    )
    window = (
        Window.partitionBy(*(col(k) for k in keys))
        .orderBy(col(_STS).asc(), col(_KIND).asc(), col(_SC).asc_nulls_first(), col(POS).asc())
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    latest = F.last(col(_BEST), ignorenulls=True).over(window)
    rows = entity_rows.unionByName(source_rows).withColumn(_BEST, latest)
    rows = rows.where(col(_KIND) == 1)
    if plan.view.ttl is not None:
        # the entity's ts is in _STS on entity rows; the match's ts is in the struct
        fresh = col(_BEST)[_STS] >= col(_STS) - F.lit(ttl_us(plan.view.ttl))
        rows = rows.where(fresh)
    rows = rows.where(col(_BEST).isNotNull())
    return rows.select(col(RN), *(col(_BEST)[f].alias(f) for f in features))


def payload_type(right: DataFrame, features: Sequence[str]) -> str:
    """The DDL type of the union strategy's struct (for the entity rows' typed nulls)."""
    fields = [right.schema[_STS], *(right.schema[f] for f in features)]
    return "struct<" + ", ".join(f"`{f.name}`: {f.dataType.simpleString()}" for f in fields) + ">"


def latest_rows(source: ParquetFrame, view: ViewQuery, lo_us: int, hi_us: int) -> DataFrame:
    """The latest row per entity among rows with ``lo <= ts <= hi`` (microseconds, UTC).

    One aggregation: ``max_by(row, (ts, created))`` per key, whose partial step runs before the
    shuffle, so at most one row per key and input partition crosses the network. A struct
    compares field by field with null lowest, which is exactly the created tie-break.
    """
    from pyspark.sql import functions as F

    spec = view.source
    created = (
        source.epoch_us(spec.created_timestamp_field)
        if spec.created_timestamp_field
        else F.lit(None).cast("bigint")
    )
    features = [feature_name(0, j) for j in range(len(view.features))]
    rows = source.frame.where(source.between(spec.timestamp_field, lo_us, hi_us)).select(
        *(col(k) for k in view.join_keys),
        source.epoch_us(spec.timestamp_field).alias(_STS),
        created.alias(_SC),
        col(POS),
        *(
            source.value(f.column, f.arrow_type).alias(n)
            for f, n in zip(view.features, features, strict=True)
        ),
    )
    rows = rows.where(col(_STS).between(lo_us, hi_us))
    for key in view.join_keys:
        rows = rows.where(col(key).isNotNull())
    row = F.struct(col(_STS).alias(_STS), col(_SC).alias(_SC), *(col(f) for f in features))
    best = rows.groupBy(*(col(k) for k in view.join_keys)).agg(
        F.max_by(row, F.struct(col(_STS), col(_SC), col(POS))).alias(_BEST)
    )
    return best.select(
        *(col(k) for k in view.join_keys),
        micros_to_timestamp(col(_BEST)[_STS]).alias("__ts"),
        micros_to_timestamp(col(_BEST)[_SC]).alias("__created"),
        *(col(_BEST)[n].alias(f.output) for f, n in zip(view.features, features, strict=True)),
    )
