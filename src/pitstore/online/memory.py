"""The in-memory reference online store.

:class:`MemoryOnlineStore` keeps rows in dicts. It is the reference the conformance suite
(:mod:`pitstore.testing.online_store`) compares stores with, and handy in unit tests.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pitstore.names import validate_name
from pitstore.online.base import StoreCapabilities, ViewRead, ViewRows
from pitstore.online.batch import NULL_CREATED, prepare_batch, to_python

if TYPE_CHECKING:
    import pyarrow as pa


# --- the reference store --------------------------------------------------------------------

_Row = tuple[int, int, dict[str, Any]]  # (ts, created or NULL_CREATED, features)


class MemoryOnlineStore:
    """An online store in a dict, guarded by one lock: the reference implementation.

    Rows live in ``{view: {key: (ts, created, {feature: value})}}``; nothing is persisted.
    Safe to share between threads (every call holds the lock, so a read of several views sees
    one state).
    """

    capabilities: ClassVar[StoreCapabilities] = StoreCapabilities()

    def __init__(self) -> None:
        self._views: dict[str, dict[bytes, _Row]] = {}
        self._lock = threading.Lock()

    def write(self, view: str, batch: pa.RecordBatch) -> int:
        """Upsert rows of ``view`` following the monotonic rule; returns rows applied."""
        validate_name(view, "view")
        prepared = prepare_batch(view, batch)
        names = [f.name for f in prepared.features]
        columns = [to_python(f.array) for f in prepared.features]
        applied = 0
        with self._lock:
            rows = self._views.setdefault(view, {})
            for i, key in enumerate(prepared.keys):
                created = prepared.created[i]
                new = (prepared.ts[i], NULL_CREATED if created is None else created)
                old = rows.get(key)
                if old is None or new >= old[:2]:
                    values = {name: column[i] for name, column in zip(names, columns, strict=True)}
                    rows[key] = (*new, values)
                    applied += 1
        return applied

    def read(self, requests: Sequence[ViewRead]) -> list[ViewRows]:
        """Read every request under one lock (one consistent state)."""
        with self._lock:
            return [self._read_one(request) for request in requests]

    def _read_one(self, request: ViewRead) -> ViewRows:
        rows = self._views.get(request.view, {})
        found = [rows.get(key) for key in request.keys]
        event_ts = [None if row is None else row[0] for row in found]
        columns = [
            [None if row is None else row[2].get(feature) for row in found]
            for feature in request.features
        ]
        return ViewRows(event_ts, columns)

    def delete_view(self, view: str) -> None:
        """Forget every row of ``view``."""
        with self._lock:
            self._views.pop(view, None)

    def close(self) -> None:
        """Drop all data (nothing else to release)."""
        with self._lock:
            self._views.clear()
