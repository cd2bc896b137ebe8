"""The embedded DuckDB offline engine (the default): point-in-time joins over Parquet.

Importing this package is cheap; ``duckdb`` and ``pyarrow`` are imported when the engine runs.
"""

from pitstore.offline.duckdb.engine import DuckDBEngine
from pitstore.offline.duckdb.job import DuckDBRetrievalJob

__all__ = ["DuckDBEngine", "DuckDBRetrievalJob"]
