"""Data sources: where a feature view's rows come from.

Each source kind has a ``type`` tag in its spec; :func:`source_from_spec` dispatches on it, so
later kinds (push sources, stream sources, tables) slot in by adding a class and a tag.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

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
    """Parquet data: a file, a folder of files, or a glob; relative paths are from the repo."""

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
        text = os.fspath(path)
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


_SOURCE_TYPES: dict[str, type[DataSource]] = {"parquet": ParquetSource}


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
    valid = ", ".join(sorted(_SOURCE_TYPES))
    raise DefinitionError(f"unknown source type {kind!r}; valid types: {valid}")
