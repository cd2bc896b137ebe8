"""Online reads of concurrent requests share one store call.

Each request is prepared on its own (feature resolution and key encoding: its errors stay its
own), then the reads waiting together go to the online store in one call, and each response is
finished on its own. On Redis that is one round trip for the whole group instead of one per
request: the round trip, not the Python around it, bounded the throughput of a server reading
on its event loop.

A group is read :data:`GATHER_TURNS` turns of the event loop after its first request arrived
(microseconds when the loop is idle, so a lone request hardly waits): under granian, requests
reach the loop one by one from its HTTP threads, and read on the very next turn, groups at 8
connections held under 3 requests; waiting a few turns made them larger and the server 10-30%
faster there (bench/RESULTS.md).

Values are the same as a read of each request alone (one store call gives each view's rows as
of one moment, as a single request's read does).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from pitstore.online.base import ViewRows
    from pitstore.store.online import OnlineResponse, OnlineService, PreparedRead

#: Keys per store call: a burst of large requests is split so that one call stays short.
MAX_BATCH_KEYS: Final = 4096
#: Event loop turns between a group's first request and its read (see above).
GATHER_TURNS: Final = 6

_Pending = tuple["PreparedRead", "asyncio.Future[OnlineResponse]"]


class ReadBatcher:
    """Groups the online reads of concurrent requests into store calls (one per group)."""

    def __init__(
        self,
        service: Callable[[], OnlineService],
        offload: bool,
        observe: Callable[[float], None],
    ) -> None:
        self._service = service
        self._offload = offload
        self._observe = observe  # store call seconds, once per call
        self._pending: list[_Pending] = []
        self._scheduled_on: asyncio.AbstractEventLoop | None = None
        """The loop whose turns will read the pending group (None: no read scheduled)."""
        self._threads: set[asyncio.Future[None]] = set()

    async def read(self, prepared: PreparedRead) -> OnlineResponse:
        """The response of ``prepared``, read together with the reads waiting with it."""
        loop = asyncio.get_running_loop()
        if self._scheduled_on is not None and self._scheduled_on is not loop:
            # The app runs on a new loop, and the old one stopped with a read scheduled: its
            # turns will never come. Its waiters are gone with it; read ours on this loop.
            self._pending = [p for p in self._pending if p[1].get_loop() is loop]
            self._scheduled_on = None
        future: asyncio.Future[OnlineResponse] = loop.create_future()
        self._pending.append((prepared, future))
        if self._scheduled_on is None:
            self._scheduled_on = loop
            loop.call_soon(self._gather, loop, GATHER_TURNS)
        return await future

    def _gather(self, loop: asyncio.AbstractEventLoop, turns: int) -> None:
        if turns > 0:
            loop.call_soon(self._gather, loop, turns - 1)
        else:
            self._flush()

    def _flush(self) -> None:
        self._scheduled_on = None
        while self._pending:
            group = self._take()
            if self._offload:
                # A thread per group; the loop keeps parsing requests meanwhile.
                task = asyncio.ensure_future(self._fetch_in_thread(group))
                self._threads.add(task)  # a reference, so the task is not collected mid-way
                task.add_done_callback(self._threads.discard)
            else:
                self._settle(group, *self._fetch(group))

    def _take(self) -> list[_Pending]:
        keys = 0
        end = 0
        while end < len(self._pending) and keys < MAX_BATCH_KEYS:
            keys += sum(len(r.keys) for r in self._pending[end][0].reads)
            end += 1
        group, self._pending = self._pending[:end], self._pending[end:]
        return group

    def _fetch(
        self, group: Sequence[_Pending]
    ) -> tuple[list[list[ViewRows]] | None, BaseException | None]:
        began = time.perf_counter()
        try:
            rows = self._service().fetch([prepared for prepared, _ in group])
        except Exception as exc:  # every request of the group fails with the store's error
            return None, exc
        finally:
            self._observe(time.perf_counter() - began)
        return rows, None

    async def _fetch_in_thread(self, group: list[_Pending]) -> None:
        rows, error = await asyncio.to_thread(self._fetch, group)
        self._settle(group, rows, error)

    def _settle(
        self,
        group: Sequence[_Pending],
        rows: list[list[ViewRows]] | None,
        error: BaseException | None,
    ) -> None:
        service = self._service()
        for i, (prepared, future) in enumerate(group):
            if future.done():  # the client went away and the request was cancelled
                continue
            if rows is None:
                assert error is not None
                future.set_exception(error)
                continue
            try:
                future.set_result(service.finish(prepared, rows[i]))
            except Exception as exc:  # e.g. an on-demand function that failed
                future.set_exception(exc)
