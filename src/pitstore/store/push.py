"""Push: rows validated against a feature view's schema, then written.

Rows are checked against the view's schema before anything is written: an unknown view or
column, a missing join key, timestamp or feature, or a value of the wrong type raises
:class:`~pitstore.errors.SchemaError` naming the row and the column, and nothing is written.
Valid rows are encoded with :mod:`pitstore.online.keys` and written with the store's monotonic
``write`` (DESIGN.md §4), so a pushed row older than the stored one never replaces it.
Pushes to push and stream sources (several views, the offline log) are in
:mod:`pitstore.store.push_source`; this module holds the per-view checks they share.

JSON-friendly forms are accepted, because the HTTP server passes request bodies through:
timestamps as ISO 8601 strings (naive means UTC), and, with ``base64_bytes`` (rows parsed
from JSON, which has no bytes), bytes as base64 strings. Without it a str for a bytes feature
is refused: "user" is valid base64 too, and was silently stored as three other bytes.

Times finer than a microsecond are floored, as the offline engines floor them
(:mod:`pitstore.timeutil`): a pandas ``Timestamp``'s nanoseconds, a DataFrame's nanosecond
columns, and an ISO string's digits past the sixth (dropping them floors the time: the
fraction counts forward from its second, also before 1970).
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pitstore.errors import DefinitionError, SchemaError, closest_names
from pitstore.online.base import CREATED_COLUMN, KEY_COLUMN, TS_COLUMN
from pitstore.online.keys import KeyEncoder
from pitstore.timeutil import floor_micros, to_micros, to_utc
from pitstore.types import Array, DType, Scalar, Vector

if TYPE_CHECKING:
    import pyarrow as pa

    from pitstore.definitions import FeatureView, Field
    from pitstore.store.feature_store import FeatureStore

Rows = Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]] | Any
"""Row dicts, a dict of columns, or a pandas/Polars DataFrame or Arrow table."""
Check = Callable[[Any], Any]

_INT_RANGE = {"int32": 2**31, "int64": 2**63}


@dataclass(slots=True)
class CheckedRows:
    """Rows of one view after validation: encoded keys, micros, and checked values."""

    view: FeatureView
    keys: list[bytes]
    key_values: dict[str, list[Any]]
    key_types: dict[str, DType]
    ts: list[int]
    created: list[int | None]
    values: dict[str, list[Any]]
    """One list per field (features, or the event inputs of an aggregated view)."""

    def online_batch(self) -> pa.RecordBatch:
        """The online write batch (see :meth:`OnlineStore.write`)."""
        import pyarrow as pa

        columns = {
            KEY_COLUMN: pa.array(self.keys, pa.binary()),
            TS_COLUMN: pa.array(self.ts, pa.int64()),
            CREATED_COLUMN: pa.array(self.created, pa.int64()),
        }
        for field in view_fields(self.view):
            columns[field.name] = pa.array(self.values[field.name], type=field.dtype.to_arrow())
        return pa.RecordBatch.from_pydict(columns)


def view_fields(view: FeatureView) -> tuple[Field, ...]:
    """The columns a row of ``view`` carries besides keys and timestamps.

    An aggregated view's rows are events: they carry its inputs, not its aggregates.
    """
    return view.inputs if view.aggregations else view.features


def push_rows(
    store: FeatureStore, view_name: str, rows: Rows, *, base64_bytes: bool = False
) -> int:
    """Validate ``rows`` of ``view_name`` and write them online; returns rows applied."""
    from pitstore.store.push_source import write_online

    snapshot = store.catalog.cached()
    view = snapshot.view(view_name)
    if not view.online:
        raise DefinitionError(
            f"feature view {view.name!r} has online=False; set online=True to push to it"
        )
    keys = snapshot.contents.join_keys(view)
    checked = check_rows(view, keys, as_rows(rows), base64_bytes=base64_bytes)
    if not checked.keys:
        return 0
    return write_online(store, checked)


def as_rows(rows: Rows) -> list[Mapping[str, Any]]:
    """Row dicts from rows, from columns (``{"col": [..], ...}``, all of one length), or from
    a DataFrame or Arrow table."""
    if not isinstance(rows, Mapping | Sequence):
        return _frame_rows(rows)
    if isinstance(rows, Mapping):
        columns = {k: _column(k, v) for k, v in rows.items()}
        lengths = {k: len(v) for k, v in columns.items()}
        if len(set(lengths.values())) > 1:
            sizes = ", ".join(f"{k}={n}" for k, n in lengths.items())
            raise SchemaError(f"push: columns have different lengths: {sizes}")
        count = next(iter(lengths.values()), 0)
        return [{k: v[i] for k, v in columns.items()} for i in range(count)]
    if isinstance(rows, str | bytes) or not isinstance(rows, Sequence):
        raise SchemaError(f"push: rows must be a list of objects, got {type(rows).__name__}")
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise SchemaError(f"push: row {i} must be an object, got {type(row).__name__}")
    return list(rows)


def _frame_rows(frame: Any) -> list[Mapping[str, Any]]:
    """Rows of a pandas or Polars DataFrame or an Arrow table/batch, as Python values."""
    import pyarrow as pa

    if isinstance(frame, pa.Table | pa.RecordBatch):
        table = frame
    elif hasattr(frame, "to_arrow"):  # Polars
        table = frame.to_arrow()
    elif hasattr(frame, "to_dict") and hasattr(frame, "columns"):  # pandas, via Arrow: no numpy
        table = pa.Table.from_pandas(frame, preserve_index=False)
    else:
        raise SchemaError(
            f"push: rows must be a list of objects, an object of columns or a DataFrame, "
            f"got {type(frame).__name__}"
        )
    return _floored_nanoseconds(table).to_pylist()  # type: ignore[no-any-return]


def _floored_nanoseconds(table: pa.Table | pa.RecordBatch) -> pa.Table | pa.RecordBatch:
    """``table`` with its nanosecond timestamp columns (pandas' unit) floored to microsecond
    ones, as the offline engines floor them: as Python values they are datetimes, not pandas
    Timestamps (and without pandas, Arrow refuses to give a nanosecond as a datetime)."""
    import pyarrow as pa

    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) and field.type.unit == "ns":
            micros = floor_micros(table.column(i)).cast(pa.timestamp("us", field.type.tz))
            table = table.set_column(i, field.with_type(micros.type), micros)
    return table


def _column(name: str, values: Any) -> Sequence[Any]:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise SchemaError(f"push: column {name!r} must be a list, got {type(values).__name__}")
    return values


def check_rows(
    view: FeatureView,
    keys: list[tuple[str, Any]],
    rows: list[Mapping[str, Any]],
    also_allowed: Collection[str] = (),
    *,
    base64_bytes: bool = False,
) -> CheckedRows:
    """Validate ``rows`` of ``view`` (SchemaError naming the row and column on the first bad
    one). ``also_allowed`` names columns other views of the same source need;
    ``base64_bytes``: bytes features come as base64 text (rows parsed from JSON)."""
    key_names = [k for k, _ in keys]
    ts_field = view.source.timestamp_field
    created_field = view.source.created_timestamp_field
    checks = {f.name: value_check(f.dtype, base64_bytes) for f in view_fields(view)}
    _check_columns(view, rows, key_names, ts_field, created_field, list(checks), also_allowed)
    # The key encoding is one for every integer type: an Int32 key is range-checked here, or
    # a key the offline store cannot hold would be written online.
    key_checks = [(k, _int("int32")) for k, t in keys if t == Scalar("int32")]
    encoder = KeyEncoder(key_names, [t for _, t in keys])
    encoded: list[bytes] = []
    stamps: list[int] = []
    created: list[int | None] = []
    values: dict[str, list[Any]] = {name: [] for name in checks}
    for i, row in enumerate(rows):
        for name, check in key_checks:
            _checked(view.name, i, name, check, row[name])
        try:
            encoded.append(encoder.encode([row[k] for k in key_names]))
        except SchemaError as exc:
            raise SchemaError(f"push to {view.name!r}: row {i}: {exc}") from None
        stamps.append(_micros(view.name, i, ts_field, row[ts_field]))
        raw_created = row.get(created_field) if created_field else None
        created.append(
            None if raw_created is None else _micros(view.name, i, str(created_field), raw_created)
        )
        for name, check in checks.items():
            values[name].append(_checked(view.name, i, name, check, row[name]))
    key_values = {k: [row[k] for row in rows] for k in key_names}
    key_types = dict(keys)
    return CheckedRows(view, encoded, key_values, key_types, stamps, created, values)


def build_batch(
    view: FeatureView, keys: list[tuple[str, Any]], rows: list[Mapping[str, Any]]
) -> pa.RecordBatch:
    """The online write batch of ``rows`` (see :meth:`OnlineStore.write`), or SchemaError."""
    return check_rows(view, keys, rows).online_batch()


def _check_columns(
    view: FeatureView,
    rows: list[Mapping[str, Any]],
    key_names: list[str],
    ts_field: str,
    created_field: str | None,
    features: list[str],
    also_allowed: Collection[str],
) -> None:
    """Every row has the required columns and no unknown one."""
    required = [*key_names, ts_field, *features]
    allowed = set(required) | ({created_field} if created_field else set()) | set(also_allowed)
    for i, row in enumerate(rows):
        for column in row:
            if column not in allowed:
                hint = closest_names(str(column), allowed)
                did = f"; did you mean {hint[0]!r}?" if hint else ""
                raise SchemaError(
                    f"push to {view.name!r}: row {i}: unknown column {column!r}{did} "
                    f"(columns: {sorted(allowed)})"
                )
        for column in required:
            if column not in row:
                what = "a null" if column in features else "a value"
                raise SchemaError(
                    f"push to {view.name!r}: row {i}: column {column!r} is missing; "
                    f"every row needs the join keys, {ts_field!r} and every feature "
                    f"(pass {what} explicitly)"
                )


def _checked(view: str, row: int, column: str, check: Check, value: Any) -> Any:
    if value is None:
        return None
    try:
        return check(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise SchemaError(
            f"push to {view!r}: row {row}: column {column!r}: {exc} (got {value!r:.80})"
        ) from None


def _micros(view: str, row: int, column: str, value: Any) -> int:
    if value is None:
        raise SchemaError(f"push to {view!r}: row {row}: column {column!r} is null")
    try:
        return to_micros(_timestamp(value))
    except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: before year 1 in UTC
        raise SchemaError(f"push to {view!r}: row {row}: column {column!r}: {exc}") from None


def _timestamp(value: Any) -> datetime:
    """A UTC datetime from a datetime or an ISO 8601 string (naive means UTC)."""
    if isinstance(value, datetime):
        return to_utc(value)
    if isinstance(value, str):
        try:
            return to_utc(datetime.fromisoformat(value.strip()))
        except ValueError:
            pass
    raise ValueError(
        f"expected a timestamp such as '2026-01-01T08:00:00Z' (ISO 8601; UTC when no offset "
        f"is given), got {value!r}"
    )


# --- value checks, one per type -----------------------------------------------------------


def value_check(dtype: DType, base64_bytes: bool = False) -> Check:
    """A function that returns a valid value of ``dtype`` or raises TypeError/ValueError;
    with ``base64_bytes``, bytes are taken as base64 text too (JSON has no bytes)."""
    if isinstance(dtype, Vector):
        return _vector(dtype.dim)
    if isinstance(dtype, Array):
        element = value_check(dtype.element, base64_bytes)
        return lambda value: _array(value, element)
    assert isinstance(dtype, Scalar)
    if dtype.name == "bytes" and base64_bytes:
        return _base64_bytes
    return _SCALAR_CHECKS[dtype.name] if dtype.name in _SCALAR_CHECKS else _int(dtype.name)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise TypeError("expected true or false")


def _int(name: str) -> Check:
    limit = _INT_RANGE[name]

    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"expected an integer ({name})")
        if not -limit <= value < limit:
            raise ValueError(f"integer out of the {name} range")
        return value

    return check


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("expected a number")
    return float(value)


#: The largest finite float32: past it a value would be stored as infinity.
_FLOAT32_MAX = 3.4028234663852886e38


def _float32(value: Any) -> float:
    number = _float(value)
    if math.isfinite(number) and abs(number) > _FLOAT32_MAX:
        raise ValueError("number out of the float32 range (it would be stored as infinity)")
    return number


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        raise TypeError("expected bytes, got a str; pass text.encode() or base64.b64decode(text)")
    raise TypeError("expected bytes")


def _base64_bytes(value: Any) -> bytes:
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            raise ValueError("expected base64 text for a bytes feature") from None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError("expected base64 text for a bytes feature")


def _array(value: Any, element: Check) -> list[Any]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise TypeError("expected a list")
    return [None if v is None else element(v) for v in value]


def _vector(dim: int) -> Check:
    def check(value: Any) -> list[float]:
        items = _array(value, _float32)
        if len(items) != dim or any(v is None or not math.isfinite(v) for v in items):
            raise ValueError(f"expected {dim} finite numbers")
        return items

    return check


_SCALAR_CHECKS: dict[str, Check] = {
    "bool": _bool,
    "float32": _float32,
    "float64": _float,
    "string": _string,
    "bytes": _bytes,
    "timestamp": _timestamp,
}
