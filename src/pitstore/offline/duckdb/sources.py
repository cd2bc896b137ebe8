"""Reading a view's Parquet source schema, and turning DuckDB errors into pitstore errors."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pitstore.errors import NotFoundError, PitstoreError, SchemaError
from pitstore.offline.duckdb.sql import ScanPlan, epoch_us_expr, parquet_scan
from pitstore.offline.duckdb.types import is_timestamp_sql
from pitstore.offline.files import (
    HIDDEN_PREFIXES,
    duckdb_literal_path,
    is_remote,
    source_files,
)
from pitstore.offline.validation import check_source_schema

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from pitstore.offline.base import ViewQuery


@dataclass(frozen=True, slots=True)
class SourceSchema:
    """Columns of a Parquet source: Arrow types (for checks) and DuckDB type names (for SQL)."""

    path: str
    arrow: pa.Schema
    sql_types: dict[str, str]
    relation: str
    """The ``read_parquet`` call over the files listed when the schema was read: the query
    reads those files, in that order, even if more appear meanwhile."""

    def epoch_us(self, column: str) -> str:
        """SQL expression: the timestamp ``column`` in microseconds since the epoch (UTC)."""
        return epoch_us_expr(column, self.sql_types[column])

    def scan_plan(self, view: ViewQuery, where: str) -> ScanPlan:
        """The plan reading this source for ``view`` with the row filter ``where``."""
        created = view.source.created_timestamp_field
        return ScanPlan(
            view=view,
            relation=self.relation,
            where=where,
            ts_us=self.epoch_us(view.source.timestamp_field),
            created_us=self.epoch_us(created) if created else None,
            column_types=self.sql_types,
        )

    def describe(self) -> str:
        """The column list, for error messages."""
        return ", ".join(self.arrow.names)


_HIDDEN = " or ".join(repr(p) for p in HIDDEN_PREFIXES)


def missing_path_error(path: str, owner: str) -> NotFoundError:
    """A NotFoundError naming the owner (a view or the entity frame), the path and the closest
    existing paths in the same folder."""
    if not is_remote(path) and os.path.isdir(path):  # it exists: no "did you mean" itself
        empty = NotFoundError("Parquet path", path)
        empty.args = (
            f"{owner}: the folder {path!r} holds no Parquet file (files and folders whose "
            f"name starts with {_HIDDEN} are skipped); write the data there or point the "
            "source at the files",
        )
        return empty
    folder = os.path.dirname(path) or "."
    siblings = [] if is_remote(path) else sorted(glob.glob(os.path.join(glob.escape(folder), "*")))
    error = NotFoundError("Parquet path", path, siblings)
    hint = f"; did you mean {error.closest[0]!r}?" if error.closest else "; check the path"
    if glob.has_magic(path):
        hint += f" (matches whose name starts with {_HIDDEN} are skipped)"
    error.args = (f"{owner}: no Parquet file, folder or glob match at {path!r}{hint}",)
    return error


def scan_relation(owner: str, path: str, extra: Sequence[str] = ()) -> str:
    """The ``read_parquet`` call over the files of ``path`` then of each ``extra`` path, as
    ``offline/files.py`` lists them (the Spark engine reads the same list); a
    :class:`NotFoundError` naming ``owner`` for a local path without a file."""
    patterns: list[str] = []
    for one in (path, *extra):
        files = source_files(one)
        if files is None:  # object storage: DuckDB lists it
            patterns.append(one)
        elif not files:
            raise missing_path_error(one, owner)
        else:
            patterns.extend(duckdb_literal_path(f) for f in files)
    return parquet_scan(patterns, union_by_name=bool(extra))


def inspect_source(con: duckdb.DuckDBPyConnection, view: ViewQuery) -> SourceSchema:
    """Read the schema of ``view``'s source (Parquet footers only, no data)."""
    path = view.source.path
    owner = f"view {view.name!r}"
    scan = scan_relation(owner, path, view.source.extra_paths)
    with translate_errors(owner, path):
        relation = con.sql(f"SELECT * FROM {scan} LIMIT 0")
        arrow = relation.to_arrow_table().schema
        sql_types = {n: str(t) for n, t in zip(relation.columns, relation.types, strict=True)}
    return SourceSchema(path=path, arrow=arrow, sql_types=sql_types, relation=scan)


def check_source(view: ViewQuery, schema: SourceSchema) -> None:
    """Every column the view reads exists in its source, with usable types."""
    check_source_schema(view, schema.arrow, schema.path)
    source = view.source
    for column in filter(None, [source.timestamp_field, source.created_timestamp_field]):
        if not is_timestamp_sql(schema.sql_types[column]):  # pragma: no cover - Arrow agrees
            raise SchemaError(f"view {view.name!r}: column {column!r} is not a timestamp")


@contextmanager
def translate_errors(owner: str, path: str | None = None) -> Iterator[None]:
    """Re-raise DuckDB errors as pitstore errors naming the owner (``view 'x'``) and the path."""
    import duckdb

    where = f"{owner} (source {path})" if path else owner
    try:
        yield
    except duckdb.IOException as exc:
        if path and "No files found" in str(exc):
            raise missing_path_error(path, owner) from exc
        raise SchemaError(f"{where}: cannot read Parquet: {_first_line(exc)}") from exc
    except (
        duckdb.BinderException,
        duckdb.ConversionException,
        duckdb.InvalidInputException,
        duckdb.ParserException,
        duckdb.CatalogException,
    ) as exc:
        raise SchemaError(f"{where}: {_first_line(exc)}") from exc
    except duckdb.OutOfMemoryException as exc:
        raise PitstoreError(
            f"{where}: DuckDB ran out of memory ({_first_line(exc)}); raise memory_limit or set "
            "temp_directory so that DuckDB can spill to disk"
        ) from exc


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
