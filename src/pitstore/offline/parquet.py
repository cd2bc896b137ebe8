"""How a training frame's duration columns are written to Parquet.

Parquet has no duration type. Its INTERVAL type (months, days, milliseconds: what DuckDB's
``COPY`` writes) loses microseconds, refuses negative values, and pyarrow reads it as 12 raw
bytes. So a duration column is written as **INT64 microseconds**, the way pyarrow stores an
Arrow duration, with Arrow's schema in the file's footer: pyarrow, pandas and Polars read it
back as ``duration[us]``, DuckDB and Spark as int64 microseconds. Spark writes its day-time
intervals as the same INT64 microseconds (and reads its own files back as intervals). A
duration inside a list or struct is written by pyarrow too, in its own unit.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa


def has_duration(schema: pa.Schema) -> bool:
    """Whether a column is a duration, or holds one (a list or struct of durations)."""
    return any(_holds_duration(field.type) for field in schema)


def _holds_duration(arrow_type: pa.DataType) -> bool:
    import pyarrow as pa

    if pa.types.is_duration(arrow_type):
        return True
    return any(_holds_duration(arrow_type.field(i).type) for i in range(arrow_type.num_fields))


def parquet_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with every duration column in microseconds (Spark's unit, and DuckDB's)."""
    import pyarrow as pa

    return pa.schema(
        [
            field.with_type(pa.duration("us")) if pa.types.is_duration(field.type) else field
            for field in schema
        ],
        metadata=schema.metadata,
    )


def write_parquet(data: pa.Table | pa.RecordBatchReader, path: str) -> None:
    """Write ``data`` to one Parquet file with pyarrow, batch by batch, durations in µs."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    reader = data.to_reader() if isinstance(data, pa.Table) else data
    schema = parquet_schema(reader.schema)
    try:
        with pq.ParquetWriter(path, schema) as writer:
            for batch in reader:
                # Unsafe only for the durations (carried through, never compared): their
                # nanoseconds are truncated; every other column already has its type.
                same = batch.schema.equals(schema)
                writer.write_batch(batch if same else batch.cast(schema, False))
    except BaseException:
        # The writer closes with a valid footer: a failed run would leave a readable file
        # holding only the rows before the failure.
        Path(path).unlink(missing_ok=True)
        raise
