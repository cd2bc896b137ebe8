"""Starting (or adopting) the SparkSession an engine runs on, with the settings it relies on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from pitstore.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: Settings every session the engine uses must have, set at runtime (also on an adopted session):
#: timestamps are compared in UTC and naive ones read as UTC (DESIGN.md section 3); Parquet
#: nanosecond timestamps (pandas' default) are read as int64 instead of failing the scan; and
#: written timestamps are standard UTC microseconds, not the legacy INT96 other readers
#: see as naive nanoseconds.
RUNTIME_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.legacy.parquet.nanosAsLong": "true",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}

#: Defaults for a session the engine starts itself; the user's ``conf`` wins over these.
DEFAULT_CONF = {
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


def import_pyspark() -> None:
    """Fail with a ConfigError that says how to install PySpark when it is missing."""
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            "the Spark offline engine needs PySpark; install it with "
            "`pip install 'pitstore[spark]'` (PySpark 4 and Java 17 or newer)",
            key="offline_engine",
        ) from exc


def start_session(master: str, app_name: str, conf: Mapping[str, str]) -> SparkSession:
    """A session on ``master`` with the engine's defaults, ``conf`` and the runtime settings.

    ``getOrCreate`` returns the process's existing session if there is one (PySpark allows one
    SparkContext per process); its static settings then stay as they were.
    """
    import_pyspark()
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in {**DEFAULT_CONF, **conf, **RUNTIME_CONF}.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # Java missing, bad master URL, bad setting: all surface here
        raise ConfigError(
            f"cannot start Spark (master {master!r}): {_first_line(exc)}; check that Java 17+ "
            "is installed (JAVA_HOME) and that the master URL and conf keys are valid",
            key="offline_engine",
        ) from exc
    prepare(session)
    return session


def prepare(session: SparkSession) -> None:
    """Apply :data:`RUNTIME_CONF` to a session (also one the caller passed in)."""
    for key, value in RUNTIME_CONF.items():
        session.conf.set(key, value)


#: Spellings of UTC that Spark accepts for ``spark.sql.session.timeZone``.
UTC_ZONES = frozenset(
    {"UTC", "Etc/UTC", "Z", "GMT", "Etc/GMT", "UCT", "Etc/UCT", "Universal", "Zulu", "+00:00"}
)


def check_time_zone(session: SparkSession) -> None:
    """Raise ConfigError unless the session's time zone is UTC.

    The engine reads naive timestamps (and matches times) in the session zone. It sets UTC
    when it starts or adopts a session, but the session may be shared: if the application
    later sets another zone, results would shift silently by the zone's offset, so every
    engine call checks it first (the engine never changes the setting back behind the
    application's back).
    """
    zone = session.conf.get("spark.sql.session.timeZone")
    if zone not in UTC_ZONES:
        raise ConfigError(
            f"the Spark session's time zone is {zone!r}, but the Spark offline engine needs "
            "UTC (naive timestamps would be read in that zone and shift the point-in-time "
            "match); set spark.sql.session.timeZone back to UTC before calling the engine "
            "(spark.conf.set('spark.sql.session.timeZone', 'UTC')), or give the engine its "
            "own session",
            key="spark.sql.session.timeZone",
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
