"""Field: a named, typed column of a feature view (a feature or a join key)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pitstore.definitions.base import validate_tags, validate_text
from pitstore.errors import DefinitionError
from pitstore.names import check_column_name, validate_name
from pitstore.types import DType, parse_dtype


class Field:
    """A named column with a pitstore type, e.g. ``Field("conv_rate", Float32)``."""

    __slots__ = ("description", "dtype", "name", "tags")

    def __init__(
        self,
        name: str,
        dtype: DType,
        description: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> None:
        self.name = check_column_name(validate_name(name, "field"), "field")
        if not isinstance(dtype, DType) or type(dtype) is DType:
            raise DefinitionError(
                f"field {name!r}: dtype must be a pitstore type such as Int64, Float32 or "
                f"Array(String), got {dtype!r}"
            )
        self.dtype = dtype
        self.description = validate_text(description, f"description of field {name!r}")
        self.tags = validate_tags(tags, f"field {name!r}")

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"name": self.name, "dtype": self.dtype.to_string()}
        if self.description:
            spec["description"] = self.description
        if self.tags:
            spec["tags"] = self.tags
        return spec

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Field:
        return cls(
            spec["name"], parse_dtype(spec["dtype"]), spec.get("description", ""), spec.get("tags")
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Field) and self.to_spec() == other.to_spec()

    def __hash__(self) -> int:
        return hash((self.name, self.dtype))

    def __repr__(self) -> str:
        return f"Field({self.name!r}, {self.dtype})"
