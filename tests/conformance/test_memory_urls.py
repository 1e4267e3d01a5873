"""``memory://`` URLs: a new store each time, or a named one shared within the process."""

from __future__ import annotations

import uuid

from sessionstore import SessionStore
from sessionstore.storage.memory import MemorySessionRecorder


def test_anonymous_memory_stores_are_separate() -> None:
    with SessionStore("memory://") as a, SessionStore("memory://") as b:
        sid = a.create_session("only in a")
        assert [h.session_id for h in a._log.heads()] == [sid]
        assert list(b._log.heads()) == []


def test_a_named_memory_store_is_shared_with_its_checkpoints() -> None:
    url = f"memory://shared-{uuid.uuid4().hex}"
    with SessionStore(url) as a, SessionStore(url) as b:
        assert isinstance(a._log.recorder, MemorySessionRecorder)
        assert a._log.recorder is b._log.recorder
        sid = a.create_session("shared")
        a.add_message(sid, "user", "hello")
        checkpoint = a.checkpoint(sid, label="here")
        assert b.state(sid) == a.state(sid)
        assert [c.checkpoint_id for c in b.checkpoints(sid)] == [checkpoint]
        assert [r["content"] for r in b.history(sid)] == ["hello"]
