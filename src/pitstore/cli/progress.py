"""Rich progress bars for materialization (rows, rate, elapsed time per view)."""

from __future__ import annotations

from datetime import datetime
from types import TracebackType

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from pitstore.cli.render import console


class RichProgress:
    """Implements :class:`pitstore.store.materialize.Progress` with rich progress bars."""

    def __init__(self) -> None:
        self._bars = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rows · {task.fields[rate]} rows/s"),
            TimeElapsedColumn(),
            console=console,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RichProgress:
        self._bars.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bars.stop()

    def view_started(self, view: str, start: datetime, end: datetime) -> None:
        self._tasks[view] = self._bars.add_task(view, total=None, rate="-")

    def rows_written(self, view: str, rows: int) -> None:
        task = self._tasks[view]
        self._bars.advance(task, rows)
        elapsed = self._bars.tasks[task].elapsed or 0.0
        done = self._bars.tasks[task].completed
        self._bars.update(task, rate=f"{done / elapsed:,.0f}" if elapsed else "-")

    def view_finished(self, view: str, rows: int, seconds: float) -> None:
        task = self._tasks[view]
        rate = f"{rows / seconds:,.0f}" if seconds else "-"
        self._bars.update(task, total=rows, completed=rows, rate=rate)
