"""A lock across processes for the read-merge-write of an aggregated view's event lists.

The store's writes are atomic and monotonic, but a merge reads an entity's events, appends
new ones and writes the lists back: without a lock, another process storing an older event
between the read and the write has it overwritten (counted offline, lost online). Each store
gives a try-lock of its own (a file lock, a Redis key with a lease, a PostgreSQL advisory
lock); :func:`held` waits for it, briefly, and gives up with a retryable error.
"""

from __future__ import annotations

import os
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


@contextmanager
def file_lock(path: str | os.PathLike[str], what: str, lock: str = "merge lock") -> Iterator[int]:
    """Hold an exclusive ``flock`` on the file ``path`` (created if missing), waiting as
    :func:`held` does; yields the open file's descriptor. Each holder opens the file itself,
    so threads of one process exclude each other too."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)

    def try_lock() -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    try:
        with held(try_lock, lambda: fcntl.flock(fd, fcntl.LOCK_UN), what, lock):
            yield fd
    finally:
        os.close(fd)
