"""The eventsourcing library's defaults: JSON transcoder, one ``save`` per event, no snapshots.

A ``Conversation`` aggregate with one ``MessageAdded`` event per message, persisted by the
library's SQLite module. Reads reconstruct the aggregate with ``repository.get()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from .base import Adapter, Message


class Conversation(Aggregate):
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    @event("MessageAdded")
    def add_message(
        self, role: str, content: str, tool_name: str | None, tool_call_id: str | None
    ) -> None:
        self.messages.append(
            {"role": role, "content": content, "name": tool_name, "tool_call_id": tool_call_id}
        )


class Conversations(Application[UUID]):
    pass


def _add(conversation: Conversation, m: Message) -> None:
    conversation.add_message(m.role, m.content, m.tool_name, m.tool_call_id)


class EventsourcingDefaults(Adapter):
    name = "eventsourcing"
    durabilities = ("full",)  # the library has no synchronous setting: SQLite's default
    notes = {  # noqa: RUF012
        "read_all": "repository.get(): replays every event",
        "read_last": "repository.get(): replays every event",
        "time_travel": "repository.get(version=...)",
    }

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.id: UUID | None = None

    def open(self) -> None:
        self.app = Conversations(
            env={
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(self.folder / "eventsourcing.db"),
            }
        )
        if self.id is None:
            conversation = Conversation()
            self.app.save(conversation)
            self.id = conversation.id
            self.conversation = conversation

    def close(self) -> None:
        self.app.close()

    def _get(self, version: int | None = None) -> Conversation:
        assert self.id is not None
        got: Conversation = self.app.repository.get(self.id, version=version)
        return got

    def append_one(self, message: Message) -> None:
        _add(self.conversation, message)
        self.app.save(self.conversation)

    def append_batch(self, messages: Sequence[Message]) -> None:
        for message in messages:
            _add(self.conversation, message)
        self.app.save(self.conversation)

    def read_all(self) -> int:
        return len(self._get().messages)

    def read_last(self, k: int) -> int:
        return len(self._get().messages[-k:])

    def time_travel(self, k: int) -> int:
        return len(self._get(version=k + 1).messages)
