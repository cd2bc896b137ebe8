"""The registry interface: persisted definitions, their versions, and view watermarks.

A registry keeps one row per object (kind, name) with its spec, every applied version of it,
and a per-project revision number that ``apply`` checks and bumps (optimistic concurrency).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pitstore.registry.plan import Plan


@dataclass(frozen=True, slots=True)
class StoredObject:
    """The current version of one registered object."""

    kind: str
    name: str
    spec: dict[str, Any]
    version: int
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True, slots=True)
class VersionRecord:
    """One applied change of an object: ``action`` is added, changed or removed."""

    kind: str
    name: str
    version: int
    action: str
    spec: dict[str, Any]
    revision: int
    applied_at: datetime
    applied_by: str


class Registry(Protocol):
    """What the store facade needs from a registry backend."""

    project: str

    def revision(self) -> int:
        """The project's revision: bumped by every apply (0 for a new project)."""
        ...

    def list_objects(self, kind: str | None = None) -> list[StoredObject]:
        """Current objects, optionally of one kind, sorted by kind then name."""
        ...

    def get_object(self, kind: str, name: str) -> StoredObject | None:
        """The current version of one object, or None."""
        ...

    def apply(
        self, plan: Plan, author: str, before_commit: Callable[[], None] | None = None
    ) -> int:
        """Perform ``plan`` in one transaction and return the new revision.

        Raises :class:`~pitstore.errors.ConflictError` when the registry's revision is no
        longer ``plan.base_revision`` (someone applied in between): plan again.
        ``before_commit`` runs inside the transaction, after the conflict check and the
        writes, just before the commit; if it raises, nothing is applied (the online data a
        change resets is cleared there, so that a store that fails leaves no new definition
        over old rows).
        """
        ...

    def history(self, kind: str, name: str) -> list[VersionRecord]:
        """Every applied version of one object, oldest first."""
        ...

    def get_watermark(self, view: str) -> datetime | None:
        """The end of the last successful materialization of ``view``."""
        ...

    def set_watermark(self, view: str, watermark: datetime, version: int | None = None) -> bool:
        """Record a successful materialization of ``view`` up to ``watermark``; an earlier
        one than the stored watermark changes nothing (two overlapping runs may finish in
        either order: the check and the write are one statement).

        With ``version``, only while the registered view is still at that version (checked in
        the same transaction: an apply commits before or after, never between): returns
        False, recording nothing, when the view changed or is gone."""
        ...

    def clear_watermarks(self, views: Sequence[str]) -> None:
        """Forget the watermarks of ``views`` (their next incremental materialization reads
        everything again), in one transaction of its own."""
        ...

    def teardown(self) -> None:
        """Remove every object, version and watermark of the project. Its revision moves on
        (a plan made before the teardown conflicts on apply)."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...
