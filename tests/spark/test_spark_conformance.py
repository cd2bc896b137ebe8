"""The DuckDB engine's hand-written cases (tests/offline/test_duckdb_engine.py), run on Spark.

The test functions are imported, not copied: pytest collects them here, and their ``engine``
fixture resolves to this module's Spark engine. What stays out is DuckDB-specific (DuckDB SQL
text, ``to_batches``, DuckDB settings, one Parquet file from ``to_parquet``); the Spark
versions of those are in test_spark_engine.py.
"""

from __future__ import annotations

import pytest

from offline.test_duckdb_engine import (  # noqa: F401 - imported to be collected here
    simple,
    test_composite_keys_and_narrower_int_keys,
    test_input_columns_come_back_unchanged,
    test_key_of_incomparable_type,
    test_latest_per_entity_in_inclusive_range,
    test_latest_row_at_or_before_the_entity_time,
    test_latest_without_created_column,
    test_missing_join_key_names_view_column_and_available,
    test_missing_source_file_and_entity_path,
    test_missing_timestamp_column,
    test_naive_times_are_utc_and_aware_times_are_converted,
    test_order_and_duplicates_are_kept,
    test_output_name_clashes,
    test_pandas_polars_arrow_and_reader_inputs,
    test_several_views_with_their_own_ttl_and_output_types,
    test_source_column_missing_names_view_column_path,
    test_source_key_type_mismatch,
    test_ties_on_ts_are_broken_by_greatest_created_null_lowest,
    test_timestamp_column_of_wrong_type,
    test_ttl_bounds_are_inclusive,
    test_unknown_and_null_keys_and_null_times_give_nulls,
)
from pitstore.offline.spark import SparkEngine

pytestmark = pytest.mark.spark


@pytest.fixture
def engine(spark_engine: SparkEngine) -> SparkEngine:
    """The engine the imported DuckDB cases run against."""
    return spark_engine
