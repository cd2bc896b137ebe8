"""The online store interface: write a batch of rows for a view, read many keys, drop a view.

Entity keys arrive already encoded (:mod:`pitstore.online.keys`), identical for every store.
Timestamps are integer microseconds since the Unix epoch, UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pitstore.errors import SchemaError

if TYPE_CHECKING:
    import pyarrow as pa

#: Reserved column names in a write batch.
KEY_COLUMN = "__key"
TS_COLUMN = "__ts"
CREATED_COLUMN = "__created"


@dataclass(frozen=True, slots=True)
class StoreCapabilities:
    """What a store can do natively; the facade reads these instead of catching errors."""

    native_ttl: bool = False
    """The store expires keys by itself (a storage optimisation: reads still apply the TTL).

    A store with this flag has ``set_view_ttl(view, seconds | None)``; the facade calls it
    before writing a view with a TTL."""
    atomic_monotonic_writes: bool = True
    """Older rows never replace newer ones, even with concurrent writers."""
    concurrent_reads_during_write: bool = True
    merge_lock: bool = False
    """The store has ``merge_lock(view)``: a context manager that excludes other processes'
    merges of the view's event lists (see :mod:`pitstore.online.merge_lock`)."""
    reads_may_wait: bool = False
    """A read may wait for more than a round trip (for a pooled connection, up to a connect
    timeout): the feature server reads such a store in worker threads, not on its event loop
    (``server.offload_reads: auto``)."""


@dataclass(frozen=True, slots=True)
class ViewRead:
    """Request to read some features of one view for a list of encoded keys."""

    view: str
    features: tuple[str, ...]
    keys: Sequence[bytes]


@dataclass(slots=True)
class ViewRows:
    """Result of one :class:`ViewRead`, aligned with its keys.

    ``event_ts[i]`` is None when key ``i`` is not stored; ``columns[j][i]`` is the value of
    feature ``j`` for key ``i`` (None when missing or null).
    """

    event_ts: list[int | None]
    columns: list[list[Any]]


class OnlineStore(Protocol):
    """What the store facade needs from an online store."""

    capabilities: ClassVar[StoreCapabilities]

    def write(self, view: str, batch: pa.RecordBatch) -> int:
        """Upsert rows of ``view``; returns how many rows were applied.

        ``batch`` has ``__key`` (binary), ``__ts`` and ``__created`` (int64 microseconds, created
        nullable) and one column per feature. A row replaces the stored row of its key only when
        ``(__ts, __created)`` is greater than or equal to the stored pair (nulls lowest): late or
        replayed rows never roll a value back. Features absent from ``batch`` keep no old value.
        """
        ...

    def read(self, requests: Sequence[ViewRead]) -> list[ViewRows]:
        """Read every request in as few round trips as the store allows."""
        ...

    def delete_view(self, view: str) -> None:
        """Drop all rows of ``view`` (no-op when it has none)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def stored_type_error(view: str, feature: str, stored: str, batch: str) -> SchemaError:
    """A write whose ``feature`` the stored column cannot hold: the view's rows were written
    under an earlier type (``pitstore apply`` of a type change drops them; older versions did
    not always, and an aggregated view's input types were missed)."""
    return SchemaError(
        f"view {view!r}: feature {feature!r} is stored as {stored}, the batch has {batch}. "
        "Hint: these rows were written before the feature's type changed; drop them in "
        f"Python with FeatureStore(repo).online.delete_view({view!r}), then load the view "
        f"again over its whole history: pitstore materialize START END --view {view}"
    )
