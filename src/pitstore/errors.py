"""The errors pitstore raises.

One root, :class:`PitstoreError`; each subclass says what the caller can do about it. Messages
name the bad value and how to fix it. The library knows nothing of HTTP: the server maps these
classes to statuses in one place.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class PitstoreError(Exception):
    """Root of every error pitstore raises on purpose."""

    code = "pitstore_error"


class DefinitionError(PitstoreError, ValueError):
    """A feature definition is invalid (bad name, missing entity, wrong type...)."""

    code = "invalid_definition"


class ConfigError(PitstoreError, ValueError):
    """The project file is invalid; the message names the file, the key and the bad value."""

    code = "invalid_config"

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        self.file = file
        self.key = key
        where = ""
        if file and key:
            where = f"{file}: {key}: "
        elif file:
            where = f"{file}: "
        elif key:
            where = f"{key}: "
        super().__init__(where + message)


class NotFoundError(PitstoreError, KeyError):
    """A named object does not exist; the message lists the closest names."""

    code = "not_found"

    def __init__(self, what: str, name: str, candidates: Iterable[str] = ()) -> None:
        self.what = what
        self.name = name
        self.closest = closest_names(name, candidates)
        message = f"unknown {what}: {name!r}"
        if self.closest:
            message += "; did you mean " + " or ".join(repr(c) for c in self.closest) + "?"
        else:
            known = sorted(candidates)
            if known and len(known) <= 10:
                message += "; known: " + ", ".join(known)
            elif not known:
                message += f" (there are no {what}s; run `pitstore apply` first?)"
        super().__init__(message)

    def __str__(self) -> str:  # KeyError would quote the message otherwise
        return str(self.args[0])


class SchemaError(PitstoreError, ValueError):
    """Data does not match the expected schema (missing column, wrong type...)."""

    code = "schema_error"


class RegistryError(PitstoreError):
    """The registry cannot be read or written (corrupt file, newer format...)."""

    code = "registry_error"


class ConflictError(RegistryError):
    """Someone else changed the registry since the plan was made; plan again and re-apply."""

    code = "conflict"


class StoreUnavailableError(PitstoreError):
    """A backend (database, cache, broker) is unreachable or timed out; a retry may succeed."""

    code = "store_unavailable"


def closest_names(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The names most like ``name``, best first (for 'did you mean' hints)."""
    return difflib.get_close_matches(name, list(candidates), n=n, cutoff=0.5)
