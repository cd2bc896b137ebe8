"""Entity: the thing features describe, identified by one or more join keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pitstore.definitions.base import Definition, as_tuple, validate_tags, validate_text
from pitstore.errors import DefinitionError
from pitstore.names import check_column_name, validate_name
from pitstore.types import KEY_TYPES, DType, Int64, parse_dtype


class Entity(Definition):
    """An entity such as a driver, keyed by ``join_keys`` (several keys make a composite key).

    ``join_keys`` defaults to ``[name]``; ``dtype`` is one type for every key or one per key.
    """

    __slots__ = ("description", "dtypes", "join_keys", "owner", "tags")
    kind: ClassVar[str] = "entity"

    def __init__(
        self,
        name: str,
        join_keys: Sequence[str] | str | None = None,
        dtype: DType | Sequence[DType] = Int64,
        description: str = "",
        owner: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> None:
        self.name = validate_name(name, "entity")
        keys = _key_names(name, join_keys)
        self.join_keys: tuple[str, ...] = keys
        self.dtypes: tuple[DType, ...] = _key_types(name, keys, dtype)
        self.description = validate_text(description, f"description of entity {name!r}")
        self.owner = validate_text(owner, f"owner of entity {name!r}")
        self.tags = validate_tags(tags, f"entity {name!r}")
        self._freeze()

    def to_spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "join_keys": [
                {"name": k, "dtype": t.to_string()}
                for k, t in zip(self.join_keys, self.dtypes, strict=True)
            ],
            "description": self.description,
            "owner": self.owner,
            "tags": self.tags,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Entity:
        keys = spec["join_keys"]
        return cls(
            spec["name"],
            join_keys=[k["name"] for k in keys],
            dtype=[parse_dtype(k["dtype"]) for k in keys],
            description=spec.get("description", ""),
            owner=spec.get("owner", ""),
            tags=spec.get("tags"),
        )


def _key_names(entity: str, join_keys: Sequence[str] | str | None) -> tuple[str, ...]:
    if join_keys is None:
        return (entity,)
    keys = (
        (join_keys,)
        if isinstance(join_keys, str)
        else as_tuple(join_keys, f"join_keys of entity {entity!r}", "['driver_id']")
    )
    if not keys:
        raise DefinitionError(f"entity {entity!r} needs at least one join key")
    for key in keys:
        check_column_name(
            validate_name(key, f"join key of entity {entity!r}"), f"entity {entity!r}: join key"
        )
    if len(set(keys)) != len(keys):
        raise DefinitionError(f"entity {entity!r} repeats a join key: {list(keys)}")
    return keys


def _key_types(
    entity: str, keys: tuple[str, ...], dtype: DType | Sequence[DType]
) -> tuple[DType, ...]:
    types = (
        (dtype,) * len(keys)
        if isinstance(dtype, DType)
        else as_tuple(dtype, f"dtype of entity {entity!r}", "Int64 (one for all keys)")
    )
    if len(types) != len(keys):
        raise DefinitionError(
            f"entity {entity!r} has {len(keys)} join keys but {len(types)} dtypes; "
            "give one dtype for all keys or one per key"
        )
    for key, key_type in zip(keys, types, strict=True):
        if key_type not in KEY_TYPES:
            valid = ", ".join(sorted(t.to_string() for t in KEY_TYPES))
            raise DefinitionError(
                f"join key {key!r} of entity {entity!r} has type {key_type!r}; "
                f"join keys must be one of: {valid}"
            )
    return types
