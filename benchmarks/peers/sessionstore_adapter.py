"""sessionstore itself, through its public API only."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

from sessionstore import SessionStore

from .base import Adapter, Message


def add(store: SessionStore, sid: str, message: Message) -> None:
    store.add_message(
        sid,
        message.role,
        message.content,
        tool_name=message.tool_name,
        tool_call_id=message.tool_call_id,
    )


class SessionStoreAdapter(Adapter):
    name = "sessionstore"
    notes = {  # noqa: RUF012
        "read_all": "history() over the read models (kept current; catch-up not timed)",
        "read_last": "history(limit=100) over the read models",
        "state_cold": "state() in a fresh store: checkpoint + tail when available, else replay",
        "state_cold_read_all": "as state_cold, then every message read",
        "append_batch": "add_messages() of 100 messages",
    }

    def __init__(self, folder: Path, durability: str) -> None:
        super().__init__(folder, durability)
        self.sid: str | None = None

    @property
    def path(self) -> Path:
        return self.folder / "sessions.db"

    def open(self) -> None:
        self.store = SessionStore(str(self.path), durability=self.durability)
        if self.sid is None:
            self.sid = self.store.create_session("bench", agent_id="main")

    def close(self) -> None:
        self.store.close()

    @property
    def session_id(self) -> str:
        assert self.sid is not None
        return self.sid

    def append_one(self, message: Message) -> None:
        add(self.store, self.session_id, message)

    def append_batch(self, messages: Sequence[Message]) -> None:
        # The bulk call, as the peers' own (add_items, one save of many events).
        self.store.add_messages(self.session_id, [
            {"role": m.role, "content": m.content, "tool_name": m.tool_name,
             "tool_call_id": m.tool_call_id}
            for m in messages
        ])

    def prepare_reads(self) -> None:
        """Bring the read models up to date (what `project --follow` does in production)."""
        self.store.catch_up()

    def read_all(self) -> int:
        return len(self.store.history(self.session_id))

    def read_last(self, k: int) -> int:
        return len(self.store.history(self.session_id, limit=k))

    def state_cold(self) -> int:
        return len(self.store.state(self.session_id).messages)

    def state_cold_read_all(self) -> int:
        """state() in a fresh store, then every message read (checkpointed messages are
        decoded on first read: this is the cold state with that cost paid)."""
        return sum(1 for m in self.store.state(self.session_id).messages if m.content)

    def replay_events(self) -> int:
        """The state folded from the events alone (no checkpoint)."""
        return len(self.store.state(self.session_id, use_checkpoints=False).messages)

    def _version_of_message(self, k: int) -> int:
        return k + 1  # SessionCreated is version 1, then one event per message

    def time_travel(self, k: int) -> int:
        state = self.store.state(self.session_id, at_version=self._version_of_message(k))
        return len(state.messages)

    def fork(self, k: int) -> None:
        self.store.fork(self.session_id, at_version=self._version_of_message(k))

    def disk_bytes(self) -> int:
        """The event log only: the read models live in their own file."""
        return sum(
            p.stat().st_size
            for p in self.folder.iterdir()
            if p.name.startswith("sessions.db")
        )

    def table_bytes(self) -> dict[str, int]:
        """Bytes of the event log proper (events, their index, heads) and of the checkpoints,
        from SQLite's page accounting (the read models are in another file)."""
        with closing(sqlite3.connect(self.path)) as db:
            pages = dict(db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"))
        log = sum(v for k, v in pages.items() if "stored_events" in k or "session_heads" in k)
        checkpoints = sum(v for k, v in pages.items() if "checkpoint" in k)
        return {"log_bytes": log, "checkpoint_bytes": checkpoints}

    def views_bytes(self) -> int:
        return sum(
            p.stat().st_size for p in self.folder.iterdir() if p.name.startswith("sessions.views")
        )
