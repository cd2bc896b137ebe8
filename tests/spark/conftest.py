"""One SparkSession for the whole Spark suite (a JVM start costs seconds), or a skip.

Run the suite alone with ``pytest -m spark``. Without PySpark or Java the tests skip with the
reason; under ``CI=true`` that is a failure, never a skip (as for the other real services).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from pitstore.offline.spark import SparkEngine

#: Small and quiet: 2 local cores, 4 shuffle partitions (the default 200 would make every
#: shuffle of a few rows cost 200 tasks), no UI, no console progress bars.
TEST_CONF = {
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.adaptive.enabled": "true",
    "spark.driver.memory": "1g",
    "spark.sql.autoBroadcastJoinThreshold": "-1",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "spark: needs PySpark and Java (one local[2] session)")
    # PySpark 4.x warns on import with pandas 3; the engine exchanges Arrow, not pandas.
    config.addinivalue_line(
        "filterwarnings", "ignore:PySpark does not yet fully support pandas:FutureWarning"
    )


def _missing() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return "PySpark is not installed; pip install 'pitstore[spark]'"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "Java is not installed (PySpark 4 needs Java 17+); install it or set JAVA_HOME"
    return None


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """The suite's one session, stopped at the end."""
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    from pitstore.offline.spark.session import start_session

    session = start_session("local[2]", "pitstore-tests", TEST_CONF)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def spark_engine(spark: SparkSession) -> SparkEngine:
    """An engine on the suite's session (auto strategy)."""
    from pitstore.offline.spark import SparkEngine

    return SparkEngine(spark=spark)
