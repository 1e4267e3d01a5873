"""Bad input raises a clear error and leaves the database exactly as it was."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from sessionstore import (
    InvalidInput,
    InvalidTransition,
    SessionNotFound,
    SessionStore,
    SessionStoreError,
)
from sessionstore.domain.events import MAX_CONTENT_BYTES

GHOST = "00000000-0000-4000-8000-000000000000"
EARLIEST_PLUS_5 = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))  # year 0 in UTC


def nested(levels: int) -> list[Any]:
    """A list nested ``levels`` deep."""
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


def snapshot(path: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(path)
    try:
        events = db.execute("SELECT rowid, * FROM stored_events ORDER BY rowid").fetchall()
        heads = db.execute("SELECT * FROM session_heads ORDER BY originator_id").fetchall()
        return [*events, *heads]
    finally:
        db.close()


CASES: list[tuple[str, Callable[[SessionStore, str], object], type[Exception], str]] = [
    (
        "unknown role",
        lambda s, sid: s.add_message(sid, "robot", "hi"),
        InvalidInput,
        "role: Input should be 'system', 'user', 'assistant' or 'tool'",
    ),
    (
        "wrong status name",
        lambda s, sid: s.change_status(sid, "running"),
        InvalidInput,
        "unknown session status 'running': use one of",
    ),
    (
        "status not allowed",
        lambda s, sid: s.change_status(sid, "terminated"),
        InvalidTransition,
        "cannot move from active to terminated",
    ),
    (
        "oversized content",
        lambda s, sid: s.add_message(sid, "user", "x" * (MAX_CONTENT_BYTES + 1)),
        InvalidInput,
        f"content is {MAX_CONTENT_BYTES + 1} bytes; the limit is {MAX_CONTENT_BYTES}",
    ),
    (
        "non-UTF-8 bytes",
        lambda s, sid: s.add_message(sid, "user", b"caf\xe9"),  # type: ignore[arg-type]
        InvalidInput,
        "content is not valid UTF-8",
    ),
    (
        "lone surrogate",
        lambda s, sid: s.add_message(sid, "user", "bad \udc80"),
        InvalidInput,
        "content is not valid UTF-8",
    ),
    (
        "unknown session",
        lambda s, sid: s.add_message(GHOST, "user", "hi"),
        SessionNotFound,
        f"no session '{GHOST}'",
    ),
    (
        "malformed session id",
        lambda s, sid: s.add_message("nope", "user", "hi"),
        InvalidInput,
        "'nope' is not a session id",
    ),
    (
        "unstorable metadata",
        lambda s, sid: s.add_message(sid, "user", "hi", metadata={"x": {1, 2}}),
        InvalidInput,
        "Metadata and tool-call arguments must hold only JSON-like values",
    ),
    (
        "NaN in metadata",
        lambda s, sid: s.add_message(sid, "user", "hi", metadata={"x": [1, float("nan")]}),
        InvalidInput,
        "nan is not a JSON number: store it as a string or None",
    ),
    (
        "infinity in tool-call arguments",
        lambda s, sid: s.add_message(sid, "assistant", "hi", tool_calls=[
            {"name": "calc", "arguments": {"limit": float("inf")}}]),
        InvalidInput,
        "inf is not a JSON number",
    ),
    (
        "a nested key that is not a string",
        lambda s, sid: s.add_message(sid, "user", "hi", metadata={"a": {1: "x"}}),
        InvalidInput,
        "key 1 is not a string: JSON objects have string keys",
    ),
    (
        "a metadata time before year 1 in UTC",
        lambda s, sid: s.add_message(sid, "user", "hi", metadata={"t": EARLIEST_PLUS_5}),
        InvalidInput,
        "is outside years 1 to 9999 in UTC",
    ),
    (
        "occurred_at before year 1 in UTC",
        lambda s, sid: s.add_message(sid, "user", "hi", occurred_at=EARLIEST_PLUS_5),
        InvalidInput,
        "time 0001-01-01T00:00:00+05:00 is outside years 1 to 9999 in UTC",
    ),
    (
        "metadata nested too deeply",
        lambda s, sid: s.add_message(sid, "user", "hi", metadata={"deep": nested(101)}),
        InvalidInput,
        "a value is nested more than 100 levels deep",
    ),
    (
        "integer beyond 64 bits",
        lambda s, sid: s.add_message(sid, "user", "hi", tokens_in=10**30),
        InvalidInput,
        "int of at most 64 bits",
    ),
    (
        "negative tokens",
        lambda s, sid: s.add_message(sid, "user", "hi", tokens_in=-1),
        InvalidInput,
        "tokens_in: Input should be greater than or equal to 0",
    ),
    (
        "naive occurred_at",
        lambda s, sid: s.add_message(
            sid, "user", "hi", occurred_at=__import__("datetime").datetime(2024, 1, 1)
        ),
        InvalidInput,
        "has no time zone",
    ),
    (
        "empty session name",
        lambda s, sid: s.create_session(""),
        InvalidInput,
        "a session's name must not be empty or only spaces",
    ),
    (
        "blank agent id",
        lambda s, sid: s.add_agent(sid, "   "),
        InvalidInput,
        "an agent id must not be empty or only spaces",
    ),
    (
        "empty task id",
        lambda s, sid: s.start_task(sid, ""),
        InvalidInput,
        "a task id must not be empty or only spaces",
    ),
    (
        "empty fork name",
        lambda s, sid: s.fork(sid, at_version=2, name=" "),
        InvalidInput,
        "a fork's name must not be empty or only spaces",
    ),
    (
        "unknown durability",
        lambda s, sid: SessionStore(":memory:", durability="fast"),
        InvalidInput,
        "unknown durability 'fast'",
    ),
]


@pytest.mark.parametrize(("case", "call", "error", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_clearly_and_changes_nothing(
    db_path: str,
    case: str,
    call: Callable[[SessionStore, str], object],
    error: type[Exception],
    message: str,
) -> None:
    with SessionStore(db_path) as store:
        sid = store.create_session("bad input", agent_id="main")
        store.change_status(sid, "active")
        store.add_message(sid, "user", "first")
        before = snapshot(db_path)
        with pytest.raises(error) as raised:
            call(store, sid)
        assert message in str(raised.value)
        assert isinstance(raised.value, SessionStoreError)
        assert snapshot(db_path) == before
        # The store still works and still sees the same session.
        assert store.add_message(sid, "assistant", "still fine") == 4
        assert store.state(sid).counters.messages == 2
