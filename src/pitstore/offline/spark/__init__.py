"""The Apache Spark offline engine: the embedded engine's semantics on a Spark cluster.

Importing this package is cheap: ``pyspark`` and ``pyarrow`` are imported when the engine
starts its session or runs a job. Install the extra with ``pip install 'pitstore[spark]'``.
"""

from pitstore.offline.spark.engine import SparkEngine
from pitstore.offline.spark.job import SparkRetrievalJob

__all__ = ["SparkEngine", "SparkRetrievalJob"]
