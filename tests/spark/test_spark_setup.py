"""The Spark engine's wiring, without Spark: config, construction, import cost, input rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pitstore.config import parse_config
from pitstore.config.models import SparkEngineConfig
from pitstore.offline.spark.entities import is_table_name
from pitstore.store.backends import open_offline_engine


def test_config_builds_a_lazy_spark_engine(tmp_path: Path) -> None:
    config = parse_config(
        {
            "project": "p",
            "offline_engine": {
                "type": "spark",
                "master": "spark://host:7077",
                "conf": {"spark.executor.memory": "8g"},
            },
        }
    )
    assert isinstance(config.offline_engine, SparkEngineConfig)
    assert config.offline_engine.app_name == "pitstore"
    engine = open_offline_engine(config, tmp_path)
    assert type(engine).__name__ == "SparkEngine"
    assert engine._spark is None  # type: ignore[attr-defined]  # no JVM started yet
    assert engine._conf == {"spark.executor.memory": "8g"}  # type: ignore[attr-defined]


def test_table_name_or_path_rule() -> None:
    assert is_table_name("entities") and is_table_name("db.entities")
    assert is_table_name("catalog.db.entities")
    assert not is_table_name("entities.parquet") and not is_table_name("/data/e.parquet")
    assert not is_table_name("data/*.parquet") and not is_table_name("s3a://b/e")
    assert not is_table_name("a.b.c.d") and not is_table_name("1table")


def test_import_is_lazy() -> None:
    code = (
        "import sys, pitstore, pitstore.offline.spark; "
        "print(sorted(m for m in ('pyspark', 'py4j', 'pyarrow', 'pandas', 'duckdb') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
