"""Engine-independent checks of an entity frame against the views of a retrieval.

Pure functions over Arrow schemas, shared by every offline engine so that each one rejects bad
input with the same message, before any heavy work (DESIGN.md section 3).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from pitstore.errors import SchemaError

if TYPE_CHECKING:
    import pyarrow as pa

    from pitstore.offline.base import ViewQuery


#: Column names the engines use internally (any case): refused in entity frames.
RESERVED_PREFIX: Final = "__pitstore_"
#: DuckDB's virtual columns of a row's place in its source; a real column hides them.
ENGINE_COLUMNS: Final = frozenset({"file_index", "file_row_number"})


def key_family(arrow_type: pa.DataType) -> str:
    """The comparison family of a key type: ``integer``, ``string``, ``binary`` or the type.

    Two key columns can be joined when their families are equal: int32 and int64 compare, a
    string and an int64 do not (silently casting one to the other would hide a wrong key).
    """
    import pyarrow as pa
    import pyarrow.types as pat

    if isinstance(arrow_type, pa.DictionaryType):
        return key_family(arrow_type.value_type)
    if pat.is_integer(arrow_type):
        return "integer"
    if pat.is_string(arrow_type) or pat.is_large_string(arrow_type) or _is_view(arrow_type, "s"):
        return "string"
    if (
        pat.is_binary(arrow_type)
        or pat.is_large_binary(arrow_type)
        or pat.is_fixed_size_binary(arrow_type)
        or _is_view(arrow_type, "b")
    ):
        return "binary"
    return str(arrow_type)


def _is_view(arrow_type: pa.DataType, kind: str) -> bool:
    import pyarrow as pa

    view = pa.string_view() if kind == "s" else pa.binary_view()
    return bool(arrow_type == view)


def keys_comparable(left: pa.DataType, right: pa.DataType) -> bool:
    """Whether values of the two key types can be compared for equality."""
    import pyarrow.types as pat

    if pat.is_null(left) or pat.is_null(right):
        return True  # an all-null column (e.g. pandas None) matches nothing, but is no error
    return key_family(left) == key_family(right)


def value_family(arrow_type: pa.DataType) -> str:
    """The family of a feature's values: a key family, or ``floating``, ``decimal``,
    ``boolean``, ``timestamp``, ``list`` (or the type itself)."""
    import pyarrow as pa
    import pyarrow.types as pat

    if isinstance(arrow_type, pa.DictionaryType):
        return value_family(arrow_type.value_type)
    for family, test in (
        ("floating", pat.is_floating),
        ("decimal", pat.is_decimal),
        ("boolean", pat.is_boolean),
        ("timestamp", pat.is_timestamp),
        ("date", pat.is_date),
        ("list", lambda t: pat.is_list(t) or pat.is_large_list(t) or pat.is_fixed_size_list(t)),
    ):
        if test(arrow_type):
            return family
    return key_family(arrow_type)


#: Stored -> declared feature families read without changing a value's meaning (besides
#: the same family): a number as a float, a date as its midnight (UTC), 0/1 as a boolean
#: and back, any number or boolean as its text.
_WIDENING: Final = frozenset(
    {
        ("integer", "floating"),
        ("decimal", "floating"),
        ("date", "timestamp"),
        ("integer", "boolean"),
        ("boolean", "integer"),
        *((kind, "string") for kind in ("integer", "floating", "decimal", "boolean")),
    }
)


def check_feature_type(stored: pa.DataType, declared: pa.DataType, column: str, where: str) -> None:
    """Refuse a feature whose stored values the declared type would change or cannot read:
    a float read as an integer was rounded (1.5 -> 2), a string read as a number failed in the
    middle of the join."""
    if not _readable_as(stored, declared):
        raise SchemaError(
            f"{where}: feature column {column!r} is stored as {stored}, but the view declares "
            f"{declared}; declare the type it has (or cast the data)"
        )


def _readable_as(stored: pa.DataType, declared: pa.DataType) -> bool:
    """Whether ``stored`` values read as ``declared`` keep their meaning; the elements of two
    lists are compared the same way (a list of int64 is no list of timestamps)."""
    import pyarrow as pa
    import pyarrow.types as pat

    if isinstance(stored, pa.DictionaryType):
        return _readable_as(stored.value_type, declared)
    if isinstance(declared, pa.DictionaryType):
        return _readable_as(stored, declared.value_type)
    if pat.is_null(stored):
        return True  # an all-null column: every value is null in any type
    have, want = value_family(stored), value_family(declared)
    if have == want == "list":
        return _readable_as(stored.value_type, declared.value_type)
    whole = have == "decimal" and want == "integer" and stored.scale == 0  # e.g. Spark's uint64
    return have == want or (have, want) in _WIDENING or whole


def check_timestamp_type(arrow_type: pa.DataType, column: str, where: str) -> None:
    """Raise SchemaError unless ``arrow_type`` is an Arrow timestamp (any unit, any zone).

    Dates are refused: whether a date means the start or the end of its day decides whether
    a feature leaks from the future, so the caller must say it with a timestamp.
    """
    import pyarrow.types as pat

    if pat.is_timestamp(arrow_type):
        return
    hint = "convert it to a timestamp, e.g. pandas.to_datetime(df[col], utc=True)"
    if pat.is_date(arrow_type):
        hint = "a date is ambiguous (start or end of the day?); " + hint
    elif pat.is_string(arrow_type) or pat.is_large_string(arrow_type):
        hint = "strings are not parsed implicitly; " + hint
    raise SchemaError(
        f"{where}: timestamp column {column!r} has type {arrow_type}, not a timestamp; {hint}"
    )


def check_entity_schema(
    schema: pa.Schema, views: Sequence[ViewQuery], timestamp_column: str
) -> None:
    """Check the entity frame has the timestamp and every join key, with comparable types.

    Also refuses output columns that would clash with an input column or with each other.
    """
    names = list(schema.names)
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise SchemaError(f"entity frame has the column {twice[0]!r} more than once; rename one")
    available = ", ".join(repr(n) for n in names) or "(none)"
    if timestamp_column not in names:
        raise SchemaError(
            f"entity frame has no timestamp column {timestamp_column!r} (columns: {available}); "
            "add it or pass timestamp_column=<name>"
        )
    check_timestamp_type(schema.field(timestamp_column).type, timestamp_column, "entity frame")
    reserved = [n for n in names if n.lower().startswith(RESERVED_PREFIX)]
    if reserved:
        raise SchemaError(
            f"entity frame column {reserved[0]!r}: names starting with {RESERVED_PREFIX!r} are "
            "the engine's own (row numbers, order keys); rename the column"
        )
    for view in views:
        for key, key_type in zip(view.join_keys, view.key_types, strict=True):
            if key not in names:
                raise SchemaError(
                    f"view {view.name!r} needs join key column {key!r} in the entity frame "
                    f"(columns: {available}); add the column or rename yours to {key!r}"
                )
            actual = schema.field(key).type
            if not keys_comparable(actual, key_type):
                raise SchemaError(
                    f"view {view.name!r}: entity column {key!r} has type {actual}, which cannot "
                    f"be compared with the key type {key_type}; cast the column to {key_type}"
                )
    check_output_names(names, views)


def check_output_names(input_columns: Sequence[str], views: Sequence[ViewQuery]) -> None:
    """Refuse a feature output name equal to an input column or to another feature's output."""
    owner: dict[str, str] = {}
    inputs = set(input_columns)
    for view in views:
        for feature in view.features:
            name = feature.output
            if name in inputs:
                raise SchemaError(
                    f"view {view.name!r}: feature output {name!r} clashes with the entity frame "
                    "column of the same name; rename that column or use full feature names"
                )
            if name in owner:
                raise SchemaError(
                    f"feature output {name!r} is produced by both views {owner[name]!r} and "
                    f"{view.name!r}; use full feature names (view__feature)"
                )
            owner[name] = view.name


def check_source_schema(view: ViewQuery, schema: pa.Schema, path: str) -> None:
    """Every column ``view`` reads exists in its source's ``schema``, with usable types.

    Shared by the engines, so that the same bad view fails the same way on each.
    """
    where = f"view {view.name!r} (source {path})"
    source = view.source
    needed = [*view.join_keys, source.timestamp_field, *(f.column for f in view.features)]
    if source.created_timestamp_field:
        needed.append(source.created_timestamp_field)
    for column in needed:
        if column not in schema.names:
            raise SchemaError(
                f"view {view.name!r}: column {column!r} not in source {path} "
                f"(columns: {', '.join(schema.names)}); fix the view definition or the data"
            )
    if clash := sorted(ENGINE_COLUMNS & set(schema.names)):
        raise SchemaError(
            f"{where}: the source has a column {clash[0]!r}, a name the engine uses for a "
            "row's place in the source (which row wins a tie); rename the column in the data"
        )
    for column in filter(None, [source.timestamp_field, source.created_timestamp_field]):
        check_timestamp_type(schema.field(column).type, column, where)
    for key, key_type in zip(view.join_keys, view.key_types, strict=True):
        actual = schema.field(key).type
        if not keys_comparable(actual, key_type):
            raise SchemaError(
                f"{where}: key column {key!r} has type {actual}, but the view declares "
                f"{key_type}; fix the entity's key type or the data"
            )
    # (an aggregated view's features are its aggregates: their types are not the inputs')
    for feature in [] if view.aggregations else view.features:
        check_feature_type(
            schema.field(feature.column).type, feature.arrow_type, feature.column, where
        )
