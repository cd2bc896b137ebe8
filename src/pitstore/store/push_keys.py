"""Idempotency keys: a push sent again with the same key is written once.

A client whose push got no answer (a timeout, a dropped connection, a 503) cannot tell
whether it was written. Resending it without a key logs its rows twice and counts its events
twice in aggregated views. With a key (``FeatureStore.push(idempotency_key=...)``, the HTTP
header ``Idempotency-Key``) the resend is recognised:

- The first push with a key claims it: a file named by the key's digest under the source's
  log root, written under a file lock. A push whose key is claimed is a replay and goes the
  way of a redelivered stream message (:mod:`pitstore.store.push_source`): rows already in
  the log are not logged again, events already in an aggregated view's lists are not merged
  again. Plain views need nothing: their writes are monotonic and a replay writes equal rows.
- The lock is held for the whole push, so a resend waits for an attempt that is still
  running (a client that timed out early) instead of racing it.
- Rows are named by the key and a digest of their values, so a key reused for other rows
  names other rows: those are written, never dropped as replays.

Keys are kept :data:`KEEP_S` (a day); a key resent later is a new push. The claim files live
on this machine's disk beside the log: servers on several machines do not share them.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Final

from pitstore.errors import SchemaError
from pitstore.online.merge_lock import file_lock
from pitstore.store.push import view_fields

if TYPE_CHECKING:
    from pitstore.store.push import CheckedRows
    from pitstore.store.push_source import Origin

#: Where the claim files live, under a source's log root (engines read only ``date=*``).
KEY_FOLDER: Final = "_idempotency"
#: How long a key is remembered.
KEEP_S: Final = 86_400.0
#: The longest key accepted (as in the IETF draft's examples and common APIs).
MAX_KEY_LENGTH: Final = 255
#: How often a process sweeps expired claim files (at most once per this many seconds).
_SWEEP_EVERY_S: Final = 3_600.0

_last_sweep: dict[Path, float] = {}  # per claim folder
_sweep_lock = threading.Lock()


def check_key(key: str) -> str:
    """``key`` if usable, else a SchemaError saying what a key may be."""
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise SchemaError(
            f"push: idempotency key {key!r} is not usable; use 1 to {MAX_KEY_LENGTH} printable "
            "characters, the same for every resend of one push (a UUID is a good choice)"
        )
    return key


@contextmanager
def claimed(root: Path, key: str) -> Iterator[float | None]:
    """Hold ``key``'s lock for a push; yields None if the key is new, else when (POSIX
    seconds) it was first claimed: the push is a replay."""
    folder = root / KEY_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    _sweep(folder)
    with file_lock(folder / _digest(key), f"idempotency key {key!r}", "lock") as fd:
        first = os.read(fd, 64)
        if first:
            yield float(first)
            return
        # Claimed before any write: a crash after this point makes the resend a replay,
        # whose log check finds whatever the crashed attempt wrote, or nothing.
        os.write(fd, repr(time.time()).encode())
        os.fsync(fd)
        yield None


def origin(key: str, checked: list[CheckedRows], claimed_at: float | None) -> Origin:
    """The rows' origin for a keyed push: ids from the key and row values; all replayed (or
    none, for a new key)."""
    from pitstore.store.push_source import Origin

    ids = row_ids(key, checked)
    replay = claimed_at is not None
    return Origin(ids, [replay] * len(ids), [claimed_at] * len(ids))


def row_ids(key: str, checked: list[CheckedRows]) -> list[str]:
    """One id per row: the key's digest, the row's values' digest, and the row's rank among
    equal rows of the push (two equal rows are two rows)."""
    prefix = _digest(key)
    columns: list[Sequence[object]] = [checked[0].ts, checked[0].created]
    for rows in checked:
        columns += rows.key_values.values()
        columns += (rows.values[f.name] for f in view_fields(rows.view))
    seen: dict[str, int] = {}
    ids = []
    for i in range(len(checked[0].ts)):
        # repr of checked values (ints, floats, str, bytes, Decimal, datetime, lists) is
        # stable across processes, unlike hash().
        row = hashlib.blake2b(repr([c[i] for c in columns]).encode(), digest_size=12).hexdigest()
        rank = seen[row] = seen.get(row, -1) + 1
        ids.append(f"{prefix}:{row}:{rank}")
    return ids


def _digest(key: str) -> str:
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


def _sweep(folder: Path) -> None:
    """Delete claim files older than :data:`KEEP_S` (at most once an hour per process)."""
    now = time.time()
    with _sweep_lock:
        if now - _last_sweep.get(folder, 0.0) < _SWEEP_EVERY_S:
            return
        _last_sweep[folder] = now
    for entry in os.scandir(folder):
        try:
            if entry.stat().st_mtime < now - KEEP_S:
                os.unlink(entry.path)
        except FileNotFoundError:  # another process swept it
            pass
