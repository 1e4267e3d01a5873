"""A replay's page of rows decodes as its rows do one by one, bad bytes included."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from sessionstore import SessionStore
from sessionstore.domain.errors import IntegrityError
from sessionstore.storage.log import PAGE


def stored_session(tmp_path: Path) -> tuple[SessionStore, str]:
    """A session whose rows hold plain-zstd messages (before the dictionary), dictionary
    ones (after it) and other events."""
    store = SessionStore(str(tmp_path / "page.db"), durability="normal")
    sid = store.create_session("page", agent_id="main")
    store.change_status(sid, "active")
    words = ["tests", "fail", "module", "retry", "build", "cache", "diff", "lint", "merge"]
    for i in range(1_200):
        text = " ".join(words[(i * k) % len(words)] + str(k % 5) for k in range(60))
        store.add_message(sid, "user" if i % 2 else "assistant", text)
        if i == 1_100:
            store._log.compressor.wait_for_training()
            store.add_agent(sid, "helper")
    assert store._log.compressor.dictionary_id is not None
    return store, sid


def rows_of(store: SessionStore, sid: str) -> list[tuple[int, str, bytes]]:
    return list(store._log.recorder.select_session_rows(UUID(sid), gt=0, lte=None, limit=9_999))


def one_by_one(store: SessionStore, sid: str, rows: list[Any]) -> list[Any]:
    return [store._log.codec.decode_for_state(UUID(sid), *row) for row in rows]


def test_a_page_decodes_to_what_each_row_decodes_to(tmp_path: Path) -> None:
    store, sid = stored_session(tmp_path)
    with store:
        rows = rows_of(store, sid)[600 : 600 + PAGE]
        flags = {state[:1] for _, topic, state in rows if topic == "MessageAdded"}
        assert flags == {b"\x01", b"\x02"}  # plain zstd and dictionary frames in one page
        assert {topic for _, topic, _ in rows} > {"MessageAdded"}
        page = store._log.codec.decode_page_for_state(UUID(sid), rows)
        assert page == one_by_one(store, sid, rows)


@pytest.mark.parametrize("where", [1, 250, -1])
def test_a_damaged_row_in_a_page_is_reported_as_alone(tmp_path: Path, where: int) -> None:
    store, sid = stored_session(tmp_path)
    with store:
        rows = rows_of(store, sid)[-PAGE // 2 :]  # dictionary frames only: one zstd call
        version, topic, state = rows[where]
        rows[where] = (version, topic, state[:-20])  # a truncated frame
        with pytest.raises(IntegrityError) as alone:
            one_by_one(store, sid, rows)
        with pytest.raises(IntegrityError) as paged:
            store._log.codec.decode_page_for_state(UUID(sid), rows)
        assert str(paged.value) == str(alone.value)
        assert f"event {version} " in str(paged.value)
