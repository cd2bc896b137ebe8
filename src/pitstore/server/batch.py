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
        offload: Callable[[], bool],
        observe: Callable[[float], None],
    ) -> None:
        self._service = service
        self._offload = offload  # read in worker threads? (asked once per group)
        self._observe = observe  # store call seconds, once per call
        # Per event loop (an app may serve from several, or from a new one after its first
        # closed): the reads waiting for a group, and whether the loop will read them.
        self._pending: dict[asyncio.AbstractEventLoop, list[_Pending]] = {}
        self._scheduled: set[asyncio.AbstractEventLoop] = set()
        self._threads: set[asyncio.Future[None]] = set()

    async def read(self, prepared: PreparedRead) -> OnlineResponse:
        """The response of ``prepared``, read together with the reads waiting with it."""
        loop = asyncio.get_running_loop()
        pending = self._pending.get(loop)
        if pending is None:
            self._forget_closed_loops()
            pending = self._pending[loop] = []
        future: asyncio.Future[OnlineResponse] = loop.create_future()
        pending.append((prepared, future))
        if loop not in self._scheduled:
            self._scheduled.add(loop)
            loop.call_soon(self._gather, loop, GATHER_TURNS)
        return await future

    def _forget_closed_loops(self) -> None:
        """A loop closed with reads scheduled never runs their turns: drop what it left."""
        for loop in [loop for loop in self._pending if loop.is_closed()]:
            del self._pending[loop]
            self._scheduled.discard(loop)

    def _gather(self, loop: asyncio.AbstractEventLoop, turns: int) -> None:
        if turns > 0:
            loop.call_soon(self._gather, loop, turns - 1)
        else:
            self._flush(loop)

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduled.discard(loop)
        pending = self._pending.pop(loop, [])
        offload = self._offload()
        while pending:
            group = _take(pending)
            if offload:
                # A thread per group; the loop keeps parsing requests meanwhile.
                task = asyncio.ensure_future(self._fetch_in_thread(group))
                self._threads.add(task)  # a reference, so the task is not collected mid-way
                task.add_done_callback(self._threads.discard)
            else:
                self._settle(group, *self._fetch(group))

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


def _take(pending: list[_Pending]) -> list[_Pending]:
    """The first reads of ``pending`` up to :data:`MAX_BATCH_KEYS` keys (removed from it)."""
    keys = 0
    end = 0
    while end < len(pending) and keys < MAX_BATCH_KEYS:
        keys += sum(len(r.keys) for r in pending[end][0].reads)
        end += 1
    group = pending[:end]
    del pending[:end]
    return group
