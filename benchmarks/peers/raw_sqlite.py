"""Raw ``sqlite3``: the physical ceiling. The message JSON as one BLOB per row, WAL mode."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from .base import Adapter, Message

SESSION = "main"
_INSERT = "INSERT INTO events (session_id, version, data) VALUES (?, ?, ?)"
_SYNC = {"full": "FULL", "normal": "NORMAL"}


def encode(message: Message) -> bytes:
    return json.dumps(message.as_dict(), separators=(",", ":")).encode()


class RawSqlite(Adapter):
    name = "raw sqlite3"
    notes = {  # noqa: RUF012
        "time_travel": "SELECT the first k rows",
        "fork": "emulated: copies k rows",
    }

    def open(self) -> None:
        self.db = sqlite3.connect(self.folder / "raw.db", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={_SYNC[self.durability]}")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS events (session_id TEXT, version INTEGER, data BLOB, "
            "PRIMARY KEY (session_id, version))"
        )
        row = self.db.execute(
            "SELECT max(version) FROM events WHERE session_id = ?", (SESSION,)
        ).fetchone()
        self.version = row[0] or 0

    def close(self) -> None:
        self.db.close()

    def append_one(self, message: Message) -> None:
        self.version += 1
        self.db.execute("BEGIN")
        self.db.execute(_INSERT, (SESSION, self.version, encode(message)))
        self.db.execute("COMMIT")

    def append_batch(self, messages: Sequence[Message]) -> None:
        first = self.version + 1
        self.version += len(messages)
        self.db.execute("BEGIN")
        self.db.executemany(
            _INSERT, [(SESSION, first + i, encode(m)) for i, m in enumerate(messages)]
        )
        self.db.execute("COMMIT")

    def _select(self, sql: str, *args: object) -> int:
        rows = self.db.execute(sql, (SESSION, *args)).fetchall()
        return len([json.loads(data) for (data,) in rows])

    def read_all(self) -> int:
        return self._select("SELECT data FROM events WHERE session_id = ? ORDER BY version")

    def read_last(self, k: int) -> int:
        return self._select(
            "SELECT data FROM events WHERE session_id = ? ORDER BY version DESC LIMIT ?", k
        )

    def time_travel(self, k: int) -> int:
        return self._select(
            "SELECT data FROM events WHERE session_id = ? AND version <= ? ORDER BY version", k
        )

    def fork(self, k: int) -> None:
        self.db.execute("BEGIN")
        self.db.execute(
            "INSERT INTO events SELECT 'fork', version, data FROM events "
            "WHERE session_id = ? AND version <= ?",
            (SESSION, k),
        )
        self.db.execute("COMMIT")
