"""Cancelling the Spark jobs one thread started, and only those (``SparkEngine.interrupt``).

Every job an engine starts carries two Spark job tags (``SparkContext.addJobTag``, Spark 3.5+):
one for the engine and one for the engine's calling thread. ``interrupt(thread)`` cancels the
jobs with that thread's tag (``cancelJobsWithTag``); ``interrupt()`` those with the engine's.
``cancelAllJobs`` would also stop the jobs of every other thread on the shared session, such as
the query a materialization reads ahead while another view's rows are written.

Job tags are thread-local in PySpark's pinned-thread mode (``PYSPARK_PIN_THREAD``, on by
default): each Python thread has its own JVM thread. With it off, JVM threads are shared by
Python threads and a tag cannot say which thread started a job; every job of the session is
cancelled then, as documented on ``SparkEngine.interrupt``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark import SparkContext


class JobTags:
    """The tags of one engine's jobs, added around each engine call that may run jobs."""

    def __init__(self) -> None:
        self._engine = f"pitstore-{uuid.uuid4().hex[:12]}"
        self._depth = threading.local()

    def thread_tag(self, thread: int) -> str:
        """The tag of the jobs this engine starts from thread ``thread`` (an ident)."""
        return f"{self._engine}-t{thread}"

    @contextmanager
    def tagged(self, context: SparkContext) -> Iterator[None]:
        """Tag the jobs the current thread starts inside the block.

        Nested blocks (``to_pandas`` calls ``to_arrow``) leave the tags to the outermost one,
        which removes them at its end: the thread's later jobs, not the engine's, go untagged.
        """
        depth: int = getattr(self._depth, "value", 0)
        tags: tuple[str, ...] = (self._engine, self.thread_tag(threading.get_ident()))
        if not pinned_threads():  # a tag would stay on a JVM thread other threads use
            tags = ()
        if depth == 0:
            for tag in tags:
                context.addJobTag(tag)
        self._depth.value = depth + 1
        try:
            yield
        finally:
            self._depth.value = depth
            if depth == 0:
                for tag in tags:
                    context.removeJobTag(tag)

    def cancel(self, context: SparkContext, thread: int | None) -> None:
        """Cancel the running jobs of ``thread``, or of the whole engine when None."""
        if not pinned_threads():
            context.cancelAllJobs()  # tags do not follow Python threads: see the module doc
            return
        context.cancelJobsWithTag(self._engine if thread is None else self.thread_tag(thread))


def pinned_threads() -> bool:
    """Whether PySpark runs each Python thread on a JVM thread of its own."""
    from py4j.clientserver import ClientServer  # type: ignore[import-untyped]
    from pyspark import SparkContext

    return isinstance(SparkContext._gateway, ClientServer)
