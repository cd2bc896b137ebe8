"""Name rules shared by every layer: names become SQL identifiers, keys and file names."""

from __future__ import annotations

import re

from pitstore.errors import DefinitionError

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
_NAME = re.compile(NAME_PATTERN)  # used with fullmatch: "$" alone also matches before a final "\n"
MAX_NAME_LENGTH = 128


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
