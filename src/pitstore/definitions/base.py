"""What every definition shares: immutability, a canonical spec, equality by spec.

A definition's *spec* is a plain JSON-able dict. It is the one canonical form: the registry
stores it, ``plan`` diffs it field by field, and equality compares it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from pitstore.errors import DefinitionError


class Definition:
    """Base of the registry's objects: immutable after construction, compared by spec."""

    __slots__ = ("_frozen", "name")
    kind: ClassVar[str]
    name: str

    def _freeze(self) -> None:
        object.__setattr__(self, "_frozen", True)

    def __setattr__(self, key: str, value: object) -> None:
        if getattr(self, "_frozen", False):
            raise AttributeError(
                f"{type(self).__name__} is immutable; build a new one instead of setting {key!r}"
            )
        object.__setattr__(self, key, value)

    def to_spec(self) -> dict[str, Any]:
        """The canonical JSON-able form of this definition."""
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Definition)
        return self.to_spec() == other.to_spec()

    def __hash__(self) -> int:
        return hash((self.kind, json.dumps(self.to_spec(), sort_keys=True)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def as_tuple(value: object, what: str, example: str) -> tuple[Any, ...]:
    """``value`` (a list, tuple or other iterable) as a tuple, or a DefinitionError naming
    ``what`` with an ``example`` (a single object or None where a list belongs)."""
    try:
        return tuple(value)  # type: ignore[arg-type]
    except TypeError:
        raise DefinitionError(
            f"{what} must be a list, e.g. {example}; got {type(value).__name__} {value!r:.80}"
        ) from None


def validate_text(value: object, what: str) -> str:
    """A description or owner: a string (None becomes '')."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DefinitionError(f"{what} must be a string, got {type(value).__name__} {value!r}")
    return value


def validate_tags(tags: Mapping[str, str] | None, owner: str) -> dict[str, str]:
    """Tags: a mapping of strings to strings, copied (so later edits cannot leak in)."""
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise DefinitionError(f"tags of {owner} must be a dict of strings, got {tags!r}")
    for key, value in tags.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise DefinitionError(
                f"tags of {owner} must map strings to strings; bad entry {key!r}: {value!r} "
                "(hint: quote numbers and booleans, e.g. {'tier': '1'})"
            )
    return dict(sorted(tags.items()))
