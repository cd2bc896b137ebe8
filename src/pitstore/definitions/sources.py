"""Data sources: where a feature view's rows come from.

Each source kind has a ``type`` tag in its spec; :func:`source_from_spec` dispatches on it, so
later kinds (push sources, stream sources, tables) slot in by adding a class and a tag.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Final

from pitstore.definitions.base import validate_text
from pitstore.errors import DefinitionError
from pitstore.names import suggest_name, validate_name


class DataSource:
    """Base of every source: a name, the event timestamp column and optional created column."""

    __slots__ = ("created_timestamp_field", "description", "name", "timestamp_field")
    type: ClassVar[str]

    def __init__(
        self,
        name: str,
        timestamp_field: str = "event_timestamp",
        created_timestamp_field: str | None = None,
        description: str = "",
    ) -> None:
        self.name = validate_name(name, "source")
        self.timestamp_field = validate_name(timestamp_field, f"timestamp field of source {name!r}")
        if created_timestamp_field is not None:
            validate_name(created_timestamp_field, f"created timestamp field of source {name!r}")
            if created_timestamp_field == timestamp_field:
                raise DefinitionError(
                    f"source {name!r}: created_timestamp_field and timestamp_field are both "
                    f"{timestamp_field!r}; the created column breaks ties between rows with the "
                    "same event timestamp, so it must be another column (or None)"
                )
        self.created_timestamp_field = created_timestamp_field
        self.description = validate_text(description, f"description of source {name!r}")

    def to_spec(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "name": self.name,
            "timestamp_field": self.timestamp_field,
            "created_timestamp_field": self.created_timestamp_field,
            "description": self.description,
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DataSource) and self.to_spec() == other.to_spec()

    def __hash__(self) -> int:
        return hash((self.type, self.name))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class ParquetSource(DataSource):
    """Parquet data: a file, a folder of files, or a glob; relative paths are from the repo.

    A folder is read with its subfolders (``date=2026-01-01/`` partitions...), skipping names
    that start with ``_`` or ``.``; files are read in path order; folder names add no column
    (``pitstore.offline.files`` has the exact rules, the same on every engine).
    """

    __slots__ = ("path",)
    type: ClassVar[str] = "parquet"

    def __init__(
        self,
        path: str | os.PathLike[str],
        timestamp_field: str = "event_timestamp",
        created_timestamp_field: str | None = None,
        name: str | None = None,
        description: str = "",
    ) -> None:
        try:
            text = os.fspath(path)
        except TypeError:
            text = None
        if not isinstance(text, str) or not text.strip():
            raise DefinitionError(f"ParquetSource path must be a non-empty path, got {path!r}")
        self.path = text
        super().__init__(
            name or _name_from_path(text),
            timestamp_field,
            created_timestamp_field,
            description,
        )

    def to_spec(self) -> dict[str, Any]:
        return {**super().to_spec(), "path": self.path}


def _name_from_path(path: str) -> str:
    stem = os.path.basename(path.rstrip("/*")).split(".")[0]
    name = suggest_name(stem)
    if not name:
        raise DefinitionError(
            f"cannot derive a source name from path {path!r}; pass name='...' to the source"
        )
    return name


class PushSource(DataSource):
    """Rows pushed through the SDK, the HTTP server or a stream consumer.

    Its ``batch_source`` holds the historical rows; rows pushed with ``to="offline"`` (or
    ``"online_and_offline"``) are appended to the source's *push log*, Parquet files next to
    the batch source (``<folder of batch_source>/_pushed/<name>/``), and a view's offline reads
    cover both. The timestamp columns are the batch source's.
    """

    __slots__ = ("batch_source",)
    type: ClassVar[str] = "push"

    def __init__(self, name: str, batch_source: ParquetSource, description: str = "") -> None:
        if not isinstance(batch_source, ParquetSource):
            raise DefinitionError(
                f"push source {name!r}: batch_source must be a ParquetSource (where its "
                f"historical rows live), got {batch_source!r}"
            )
        self.batch_source = batch_source
        super().__init__(
            name,
            batch_source.timestamp_field,
            batch_source.created_timestamp_field,
            description,
        )

    def to_spec(self) -> dict[str, Any]:
        return {**super().to_spec(), "batch_source": self.batch_source.to_spec()}


STREAM_FORMATS: Final = ("json",)


class StreamSource(PushSource):
    """A broker topic whose messages are pushed by ``pitstore ingest <name>``.

    ``broker`` names a broker of the project file's ``brokers:`` section (``redis`` and
    ``nats`` work without one, on their local default ports); ``topic`` is the Redis stream key
    or the NATS JetStream subject. Each message is one row, a JSON object of columns. The
    consumer group (Redis) or durable consumer (NATS) is ``group``, by default
    ``pitstore_<name>``. Everything a push source does (validation, push log) applies.
    """

    __slots__ = ("broker", "format", "group", "topic")
    type: ClassVar[str] = "stream"

    def __init__(
        self,
        name: str,
        broker: str,
        topic: str,
        batch_source: ParquetSource,
        format: str = "json",
        group: str | None = None,
        description: str = "",
    ) -> None:
        super().__init__(name, batch_source, description)
        self.broker = validate_name(broker, f"broker of stream source {name!r}")
        if not isinstance(topic, str) or not _TOPIC.fullmatch(topic):
            raise DefinitionError(
                f"stream source {name!r}: topic {topic!r} must be a Redis stream key or NATS "
                "subject (letters, digits and . _ - : /, no spaces or wildcards)"
            )
        self.topic = topic
        if format not in STREAM_FORMATS:
            raise DefinitionError(
                f"stream source {name!r}: unknown format {format!r}; valid: "
                f"{', '.join(STREAM_FORMATS)}"
            )
        self.format = format
        self.group = validate_name(group or f"pitstore_{name}", f"group of stream source {name!r}")

    def to_spec(self) -> dict[str, Any]:
        return {
            **super().to_spec(),
            "broker": self.broker,
            "topic": self.topic,
            "format": self.format,
            "group": self.group,
        }


_TOPIC = re.compile(r"^[A-Za-z0-9_.:/-]{1,256}$")

_SOURCE_TYPES: dict[str, type[DataSource]] = {
    "parquet": ParquetSource,
    "push": PushSource,
    "stream": StreamSource,
}


def source_from_spec(spec: Mapping[str, Any]) -> DataSource:
    """Rebuild a source from its spec, dispatching on its ``type`` tag."""
    kind = spec.get("type")
    common = {
        "timestamp_field": spec["timestamp_field"],
        "created_timestamp_field": spec.get("created_timestamp_field"),
        "description": spec.get("description", ""),
    }
    if kind == "parquet":
        return ParquetSource(spec["path"], name=spec["name"], **common)
    if kind in ("push", "stream"):
        batch = source_from_spec(spec["batch_source"])
        assert isinstance(batch, ParquetSource)
        if kind == "push":
            return PushSource(spec["name"], batch, spec.get("description", ""))
        return StreamSource(
            spec["name"],
            spec["broker"],
            spec["topic"],
            batch,
            format=spec.get("format", "json"),
            group=spec.get("group"),
            description=spec.get("description", ""),
        )
    valid = ", ".join(sorted(_SOURCE_TYPES))
    raise DefinitionError(f"unknown source type {kind!r}; valid types: {valid}")
