"""Name rules shared by every layer: names become SQL identifiers, keys and file names."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Final

from pitstore.errors import DefinitionError

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
_NAME = re.compile(NAME_PATTERN)  # used with fullmatch: "$" alone also matches before a final "\n"
MAX_NAME_LENGTH = 128

#: Column names pitstore keeps for its own columns, beside the columns a definition names:
#: ``__`` for the online stores' ``__key``, ``__ts``, ``__created`` and the engines'
#: ``__pitstore_*`` work columns; ``_pitstore_`` for the push log's ``_pitstore_message_id``.
RESERVED_PREFIXES: Final = ("__", "_pitstore_")
#: The event lists an aggregated view keeps online beside one list per input column.
RESERVED_NAMES: Final = ("_ev_ts", "_ev_created")
RESERVED_RULE: Final = (
    "names starting with '__' or '_pitstore_', and '_ev_ts' and '_ev_created', are reserved "
    "for pitstore's own columns"
)

_READING_STORED: ContextVar[bool] = ContextVar("pitstore_reading_stored", default=False)


def is_valid_name(name: object) -> bool:
    """True when ``name`` is a string usable as an identifier."""
    return isinstance(name, str) and len(name) <= MAX_NAME_LENGTH and bool(_NAME.fullmatch(name))


def validate_name(name: object, what: str) -> str:
    """Return ``name`` if it is a valid identifier, else raise a DefinitionError naming it."""
    if is_valid_name(name):
        assert isinstance(name, str)
        return name
    if not isinstance(name, str):
        raise DefinitionError(f"{what} name must be a string, got {type(name).__name__} {name!r}")
    hint = suggest_name(name)
    raise DefinitionError(
        f"invalid {what} name {name!r}: names must match {NAME_PATTERN} "
        f"(letters, digits and underscores, not starting with a digit, at most "
        f"{MAX_NAME_LENGTH} characters)" + (f"; try {hint!r}" if hint else "")
    )


def suggest_name(text: str) -> str:
    """A valid identifier close to ``text`` ("driver-stats" -> "driver_stats"), or ''."""
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", text.strip())[:MAX_NAME_LENGTH]
    if cleaned and cleaned[0].isdigit():
        cleaned = "_" + cleaned[: MAX_NAME_LENGTH - 1]
    return cleaned if _NAME.fullmatch(cleaned) else ""


def is_reserved_column(name: str) -> bool:
    """True for a name of pitstore's own columns (see :data:`RESERVED_RULE`); any case, as
    SQL engines compare names without it."""
    lowered = name.lower()
    return lowered.startswith(RESERVED_PREFIXES) or lowered in RESERVED_NAMES


def check_column_name(name: str, what: str) -> str:
    """Return ``name`` if a definition may name a column so (a feature, a join key, a request
    field...), else raise a DefinitionError naming it and the rule.

    Definitions rebuilt from a registry (:func:`reading_stored`) pass: one applied before the
    rule must still load.
    """
    if is_reserved_column(name) and not _READING_STORED.get():
        hint = suggest_name(name.lstrip("_"))
        raise DefinitionError(
            f"{what} {name!r} uses a reserved name: {RESERVED_RULE}; rename it"
            + (f", e.g. to {hint!r}" if hint else "")
        )
    return name


@contextmanager
def reading_stored() -> Iterator[None]:
    """Inside: definitions are being rebuilt from a registry, and reserved column names pass
    (the rule applies to definitions being made and applied, not to those already stored)."""
    token = _READING_STORED.set(True)
    try:
        yield
    finally:
        _READING_STORED.reset(token)
