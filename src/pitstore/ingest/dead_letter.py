"""The dead-letter store: messages that could not be ingested, with the reason.

One JSON Lines file per batch that had rejects, written atomically next to the source's push
log (:mod:`pitstore.store.push_log`)::

    <log root>/_dead_letter/date=YYYY-MM-DD/part-<uuid>.jsonl

Each line: ``source``, ``broker``, ``topic``, ``message_id``, ``received_at`` (ISO 8601, UTC),
``reason``, and the payload as ``payload`` (UTF-8 text) or ``payload_base64``. Files sit with
the data they belong to, need no extra service, and can be replayed with ``pitstore push``
once fixed. A message is dead-lettered before its batch is acknowledged: a crash in between
can write its line twice, never lose it.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from pitstore.ingest.broker import Message
from pitstore.store.push_log import DEAD_LETTER_FOLDER, write_atomically


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message and why it was rejected."""

    message: Message
    reason: str


class DeadLetters:
    """Writes rejected messages of one source under ``root`` (the source's log root)."""

    def __init__(self, root: Path, source: str, broker: str, topic: str) -> None:
        self.folder = root / DEAD_LETTER_FOLDER
        self._source = source
        self._broker = broker
        self._topic = topic

    def write(self, rejected: Sequence[Rejected]) -> Path | None:
        """Append ``rejected`` as one new file; returns it (None when nothing to write)."""
        if not rejected:
            return None
        now = datetime.now(UTC)
        lines = [json.dumps(self._record(r, now), ensure_ascii=False) for r in rejected]
        data = ("\n".join(lines) + "\n").encode()
        final = self.folder / f"date={now:%Y-%m-%d}" / f"part-{uuid.uuid4().hex}.jsonl"

        def write(handle: IO[bytes]) -> None:
            handle.write(data)

        return write_atomically(final, write)

    def _record(self, rejected: Rejected, now: datetime) -> dict[str, Any]:
        message = rejected.message
        record: dict[str, Any] = {
            "source": self._source,
            "broker": self._broker,
            "topic": self._topic,
            "message_id": message.id,
            "received_at": now.isoformat(),
            "reason": rejected.reason,
        }
        try:
            record["payload"] = message.data.decode()
        except UnicodeDecodeError:
            record["payload_base64"] = base64.b64encode(message.data).decode()
        return record


def read_dead_letters(folder: Path) -> list[dict[str, Any]]:
    """Every dead-letter record under ``folder`` (for tools and tests), oldest file first."""
    records = []
    files = sorted(folder.glob("date=*/part-*.jsonl"), key=lambda p: p.stat().st_mtime)
    for path in files:
        records += [json.loads(line) for line in path.read_text().splitlines() if line]
    return records
