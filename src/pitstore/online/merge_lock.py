"""A lock across processes for the read-merge-write of an aggregated view's event lists.

The store's writes are atomic and monotonic, but a merge reads an entity's events, appends
new ones and writes the lists back: without a lock, another process storing an older event
between the read and the write has it overwritten (counted offline, lost online). Each store
gives a try-lock of its own (a file lock, a Redis key with a lease, a PostgreSQL advisory
lock); :func:`held` waits for it, briefly, and gives up with a retryable error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final

from pitstore.errors import StoreUnavailableError

#: How long a merge waits for another process's merge of the same view.
WAIT_S: Final = 10.0


@contextmanager
def held(
    try_acquire: Callable[[], bool],
    release: Callable[[], object],
    what: str,
    lock: str = "merge lock",
) -> Iterator[None]:
    """Hold ``what``'s ``lock``, taken by polling ``try_acquire`` (backing off up to 50 ms)."""
    deadline = time.monotonic() + WAIT_S
    delay = 0.001
    while not try_acquire():
        if time.monotonic() > deadline:
            raise StoreUnavailableError(
                f"{what}: another process held its {lock} for {WAIT_S:.0f} s; retry the push"
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    try:
        yield
    finally:
        release()
