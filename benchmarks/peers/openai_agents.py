"""The OpenAI Agents SDK's ``SQLiteSession``: one JSON row per conversation item."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from typing import Any

from agents.memory import SQLiteSession

from .base import Adapter, Message

_SYNC = {"full": "FULL", "normal": "NORMAL"}


def as_item(message: Message) -> Any:
    if message.role == "tool":
        return {"type": "function_call_output", "call_id": message.tool_call_id,
                "output": message.content}
    return {"role": message.role, "content": message.content}


class _Session(SQLiteSession):
    """The SDK's session with the benchmark's durability set on each connection it opens."""

    synchronous = "FULL"

    def _configure_connection(self, conn: sqlite3.Connection) -> None:  # type: ignore[override]
        SQLiteSession._configure_connection(conn)
        conn.execute(f"PRAGMA synchronous={self.synchronous}")


class OpenAIAgentsSession(Adapter):
    name = "openai-agents"
    notes = {  # noqa: RUF012
        "time_travel": "emulated: get_items() then slice (no versions)",
        "fork": "emulated: copies k items into a new session",
    }

    def open(self) -> None:
        self.loop = asyncio.new_event_loop()
        _Session.synchronous = _SYNC[self.durability]
        self.session = self._session("main")

    def _session(self, session_id: str) -> SQLiteSession:
        return _Session(session_id, self.folder / "agents.db")

    def close(self) -> None:
        self.session.close()
        self.loop.close()

    def _run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def append_one(self, message: Message) -> None:
        self._run(self.session.add_items([as_item(message)]))

    def append_batch(self, messages: Sequence[Message]) -> None:
        self._run(self.session.add_items([as_item(m) for m in messages]))

    def read_all(self) -> int:
        return len(self._run(self.session.get_items()))

    def read_last(self, k: int) -> int:
        return len(self._run(self.session.get_items(limit=k)))

    def time_travel(self, k: int) -> int:
        return len(self._run(self.session.get_items())[:k])

    def fork(self, k: int) -> None:
        items = self._run(self.session.get_items())[:k]
        fork = self._session("fork")
        self._run(fork.add_items(items))
        fork.close()
