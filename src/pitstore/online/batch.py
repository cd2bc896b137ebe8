"""The batch rules every online store shares, so that stores differ only in storage:

- :func:`prepare_batch` checks a write batch (reserved columns, nulls, feature types) and
  turns its keys and timestamps into Python values;
- :func:`to_python` gives the Python values a store returns for a feature column: ``None`` for
  null, ``bool``/``int``/``float``/``str``/``bytes`` for scalars (NaN stays NaN), timestamps as
  ``int`` microseconds since the epoch (UTC, like ``__ts``), arrays and vectors as ``list``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from pitstore.errors import DefinitionError, SchemaError
from pitstore.names import validate_name
from pitstore.online.base import (
    CREATED_COLUMN,
    KEY_COLUMN,
    TS_COLUMN,
    ViewRows,
)
from pitstore.timeutil import floor_micros

if TYPE_CHECKING:
    import pyarrow as pa

    from pitstore.types import DType

#: Smaller than every real created timestamp: a null ``__created`` loses every tie.
NULL_CREATED: Final = -(2**63)


@dataclass(frozen=True, slots=True)
class FeatureColumn:
    """One feature column of a write batch: its name, pitstore type and Arrow values."""

    name: str
    dtype: DType
    array: pa.Array


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """A checked write batch: Python keys and timestamps, Arrow feature columns."""

    keys: list[bytes]
    ts: list[int]
    created: list[int | None]
    features: list[FeatureColumn]


def prepare_batch(
    view: str, batch: pa.RecordBatch | pa.Table, *, sort_by_key: bool = False
) -> PreparedBatch:
    """Check ``batch`` against the write contract of :meth:`OnlineStore.write`.

    Raises SchemaError naming the column when ``__key`` or ``__ts`` is missing or null, a
    timestamp column is not an integer or timestamp, or a feature has a type pitstore lacks.
    ``__created`` may be absent (all null). With ``sort_by_key`` the rows come out in key
    order (a stable sort: rows of one key keep their order, so the write outcome is the same);
    B-tree stores write sorted keys about twice as fast.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    names = list(batch.schema.names)
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise SchemaError(f"write to view {view!r}: duplicate columns {dupes}")
    for required in (KEY_COLUMN, TS_COLUMN):
        if required not in names:
            raise SchemaError(
                f"write to view {view!r}: batch has no {required!r} column (columns: {names})"
            )
    key_array = _plain(batch.column(KEY_COLUMN))
    if not (pa.types.is_binary(key_array.type) or pa.types.is_large_binary(key_array.type)):
        raise SchemaError(
            f"write to view {view!r}: {KEY_COLUMN!r} must be binary (encoded with "
            f"pitstore.online.keys), got {key_array.type}"
        )
    _no_nulls(view, KEY_COLUMN, key_array)
    if sort_by_key and len(key_array) > 1:
        batch = batch.take(pc.sort_indices(key_array))
        key_array = _plain(batch.column(KEY_COLUMN))
    ts_array = _micros(view, TS_COLUMN, _plain(batch.column(TS_COLUMN)))
    _no_nulls(view, TS_COLUMN, ts_array)
    created: list[int | None] = [None] * len(key_array)
    if CREATED_COLUMN in names:
        created = _micros(view, CREATED_COLUMN, _plain(batch.column(CREATED_COLUMN))).to_pylist()
    features = [
        _feature(view, name, _plain(batch.column(name)))
        for name in names
        if name not in (KEY_COLUMN, TS_COLUMN, CREATED_COLUMN)
    ]
    return PreparedBatch(key_array.to_pylist(), ts_array.to_pylist(), created, features)


def _plain(column: Any) -> pa.Array:
    """One contiguous, non-dictionary array (tables give chunked columns)."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    return column


def _no_nulls(view: str, name: str, array: pa.Array) -> None:
    import pyarrow.compute as pc

    if array.null_count:
        row = pc.index(pc.is_null(array), True).as_py()
        raise SchemaError(f"write to view {view!r}: {name!r} is null at row {row}")


def _micros(view: str, name: str, array: pa.Array) -> pa.Array:
    """int64 microseconds from an integer (already micros) or timestamp column."""
    import pyarrow as pa

    if pa.types.is_timestamp(array.type):
        # Every timestamp in pitstore is in microseconds: finer ones are floored, as offline.
        result: pa.Array = floor_micros(array)
        return result
    if pa.types.is_integer(array.type):
        return array.cast(pa.int64())
    raise SchemaError(
        f"write to view {view!r}: {name!r} must be int64 microseconds or a timestamp, "
        f"got {array.type}"
    )


def _feature(view: str, name: str, array: pa.Array) -> FeatureColumn:
    from pitstore.types import from_arrow

    if name.startswith("__"):
        reserved = [KEY_COLUMN, TS_COLUMN, CREATED_COLUMN]
        raise SchemaError(
            f"write to view {view!r}: column {name!r} uses the reserved prefix '__' "
            f"(reserved columns: {reserved})"
        )
    validate_name(name, "feature")
    try:
        dtype = from_arrow(array.type)
    except DefinitionError as exc:
        raise SchemaError(f"write to view {view!r}: feature {name!r}: {exc}") from None
    return FeatureColumn(name, dtype, array)


def to_python(array: pa.Array) -> list[Any]:
    """The Python values every store returns for a feature column (see the module docstring)."""
    import pyarrow as pa

    array = _plain(array)
    kind = array.type
    if pa.types.is_timestamp(kind):
        return _micros("", "", array).to_pylist()  # type: ignore[no-any-return]
    if (pa.types.is_list(kind) or pa.types.is_large_list(kind)) and pa.types.is_timestamp(
        kind.value_type
    ):
        # the elements floored as one array, then cut back into the lists
        flat = iter(floor_micros(array.flatten()).to_pylist())
        lengths = array.value_lengths().to_pylist()
        return [None if n is None else list(itertools.islice(flat, n)) for n in lengths]
    return array.to_pylist()  # type: ignore[no-any-return]


def missing_rows(n_keys: int, n_features: int) -> ViewRows:
    """A read result in which no key was found."""
    return ViewRows([None] * n_keys, [[None] * n_keys for _ in range(n_features)])


def assemble_rows(
    decoders: Sequence[Callable[[Any], Any] | None], keys: Sequence[bytes], rows: list[Any]
) -> ViewRows:
    """Stored rows ``(key, ts, value...)``, in any order, aligned with the requested keys.

    ``decoders[j]`` turns the stored form of feature ``j`` back into its value (None: as is).
    """
    if len(keys) == 1:  # the hot path of single-entity reads
        if not rows:
            return missing_rows(1, len(decoders))
        row = rows[0]
        columns = [
            [row[j] if decode is None else decode(row[j])] for j, decode in enumerate(decoders, 2)
        ]
        return ViewRows([row[1]], columns)
    found = {row[0]: row for row in rows}
    ordered = [found.get(key) for key in keys]
    event_ts = [None if row is None else row[1] for row in ordered]
    columns = []
    for j, decode in enumerate(decoders, start=2):
        if decode is None:
            columns.append([None if row is None else row[j] for row in ordered])
        else:
            columns.append([None if row is None else decode(row[j]) for row in ordered])
    return ViewRows(event_ts, columns)


def numeric_values(array: pa.Array, dtype: str = "float64") -> Any:
    """A numeric Arrow column as a numpy array of ``dtype`` (``float64`` or ``int64``).

    Read from the Arrow data buffer: ``Array.to_numpy`` imports pandas (about a second per
    process). Slots of null values hold arbitrary numbers; check validity separately.
    """
    import numpy as np
    import pyarrow as pa

    column = array.cast(pa.float64() if dtype == "float64" else pa.int64())
    data = np.frombuffer(column.buffers()[1], dtype=np.dtype(dtype))
    return data[column.offset : column.offset + len(column)]
