"""The SessionStore write/read API: batches, events(), versions and concurrency."""

from __future__ import annotations

import hashlib

import pytest

from sessionstore import (
    BatchAborted,
    ConcurrencyConflict,
    InvalidInput,
    SessionClosed,
    SessionNotFound,
    SessionStore,
)


def test_batch_writes_many_sessions_in_one_transaction(file_store: SessionStore) -> None:
    with file_store.batch():
        a = file_store.create_session("a", agent_id="main")
        b = file_store.create_session("b", agent_id="main")
        for i in range(50):
            file_store.add_message(a, "user", f"a{i}")
            file_store.add_message(b, "assistant", f"b{i}")
        # Staged, not yet stored: nothing is visible in the log until the block ends.
        assert file_store._log.head(a) is None
    assert file_store.state(a).counters.messages == 50
    assert file_store.state(b).counters.messages == 50
    assert file_store.verify().ok


def test_failed_batch_stores_nothing(file_store: SessionStore) -> None:
    sid = file_store.create_session("s", agent_id="main")
    file_store.add_message(sid, "user", "kept")
    with pytest.raises(SessionClosed), file_store.batch():
        file_store.add_message(sid, "user", "dropped 1")
        file_store.change_status(sid, "active")
        file_store.complete(sid)
        file_store.add_message(sid, "user", "refused: the session is completed")
    state = file_store.state(sid)
    assert [m.content for m in state.messages] == ["kept"]
    assert state.status == "created"
    assert file_store.add_message(sid, "user", "next") == 3


def test_a_failed_nested_batch_aborts_the_outer_one_even_when_caught(
    file_store: SessionStore,
) -> None:
    sid = file_store.create_session("s", agent_id="main")
    aborted = pytest.raises(BatchAborted, match=r"nested in this one failed \(ValueError: inner")
    with aborted, file_store.batch():
        file_store.add_message(sid, "user", "outer 1")
        try:
            with file_store.batch():
                file_store.add_message(sid, "user", "inner")
                raise ValueError("inner")
        except ValueError:
            pass
        file_store.add_message(sid, "user", "outer 2")
    assert file_store.state(sid).messages == [] and file_store.current_version(sid) == 1
    with file_store.batch(), file_store.batch():  # the next batch starts clean
        file_store.add_message(sid, "user", "nested and fine")
    assert [m.content for m in file_store.state(sid).messages] == ["nested and fine"]


def test_a_refused_whatif_inside_a_batch_leaves_no_half_made_fork(
    file_store: SessionStore,
) -> None:
    sid = file_store.create_session("s", agent_id="main")
    file_store.change_status(sid, "active")
    file_store.add_message(sid, "user", "hi")
    file_store.complete(sid)

    def doubled(event: object) -> list[object]:
        return [event, event] if type(event).__name__ == "SessionCompleted" else [event]

    refused = pytest.raises(InvalidInput, match="nothing was written")
    with pytest.raises(BatchAborted), file_store.batch(), refused:
        file_store.whatif(sid, at_version=2, transform=doubled)  # type: ignore[arg-type]
    assert [r["id"] for r in file_store.sessions(limit=None)] == [sid]


def test_events_carry_version_type_times_data_and_chained_hashes(store: SessionStore) -> None:
    sid = store.create_session("ev", agent_id="main", label="L")
    store.add_message(sid, "user", "hello", tokens_in=3, metadata={"k": [1, 2]})
    events = list(store.events(sid))
    assert [(e.version, e.type) for e in events] == [(1, "SessionCreated"), (2, "MessageAdded")]
    assert events[0].data["label"] == "L"
    assert events[1].data["content"] == "hello"
    assert events[1].data["metadata"] == {"k": [1, 2]}
    assert events[0].prev_hash == b""
    assert events[1].prev_hash == events[0].hash
    assert all(len(e.hash) == 32 for e in events)
    assert events[1].recorded_at >= events[0].recorded_at
    assert [e.version for e in store.events(sid, after=1)] == [2]
    assert [e.version for e in store.events(sid, upto=1)] == [1]
    assert next(iter(store.events(sid, after=1))).prev_hash == events[0].hash


def test_hash_is_a_sha256_chain(store: SessionStore) -> None:
    sid = store.create_session("h")
    store.add_message(sid, "user", "x")
    first, second = store.events(sid)
    assert second.prev_hash == first.hash
    assert first.hash != hashlib.sha256(b"").digest()


def test_expected_version_conflict_writes_nothing(file_store: SessionStore) -> None:
    sid = file_store.create_session("c")
    assert file_store.add_message(sid, "user", "one", expected_version=1) == 2
    with pytest.raises(ConcurrencyConflict, match="is at version 2, not 1"):
        file_store.add_message(sid, "user", "stale", expected_version=1)
    assert [m.content for m in file_store.state(sid).messages] == ["one"]


def test_two_stores_on_one_file_never_lose_or_duplicate_a_version(db_path: str) -> None:
    with SessionStore(db_path) as a, SessionStore(db_path) as b:
        sid = a.create_session("shared")
        for i in range(10):
            a.add_message(sid, "user", f"a{i}")  # b's cache goes stale each time
            b.add_message(sid, "assistant", f"b{i}")  # retried after re-reading
        with pytest.raises(ConcurrencyConflict):
            b.add_message(sid, "user", "stale", expected_version=5)
        state = a.state(sid)
        assert state.version == 21
        assert [m.seq for m in state.messages] == list(range(1, 21))
        assert state == b.state(sid)
        assert a.verify().ok


def test_retry_runs_a_read_decide_write_again_after_a_conflict(db_path: str) -> None:
    with SessionStore(db_path) as a, SessionStore(db_path) as b:
        sid = a.create_session("retry")
        attempts: list[int] = []

        def step() -> int:
            state = a.state(sid)
            attempts.append(state.version)
            if len(attempts) == 1:
                b.add_message(sid, "user", "interloper")  # someone else writes first
            return a.add_message(
                sid, "assistant", f"reply to v{state.version}", expected_version=state.version
            )

        assert a.retry(step) == 3
        assert attempts == [1, 2]
        assert [m.content for m in a.state(sid).messages] == ["interloper", "reply to v2"]


def test_state_is_a_copy(store: SessionStore) -> None:
    sid = store.create_session("copy")
    state = store.state(sid)
    state.messages.append(state.messages[0] if state.messages else None)  # type: ignore[arg-type]
    state.name = "changed"
    assert store.state(sid).name == "copy"
    assert store.state(sid).messages == []


def test_create_session_checks_ids_and_parents(store: SessionStore) -> None:
    sid = store.create_session("parent")
    with pytest.raises(InvalidInput, match="already exists"):
        store.create_session("again", session_id=sid)
    with pytest.raises(SessionNotFound):
        store.create_session("orphan", parent_id="00000000-0000-4000-8000-000000000001")
    child = store.create_session("child", kind="subagent", parent_id=sid)
    assert store.state(child).parent_id == sid


def test_reads_of_unknown_sessions_raise_not_found(store: SessionStore) -> None:
    ghost = "00000000-0000-4000-8000-000000000002"
    with pytest.raises(SessionNotFound, match="sessionstore list"):
        store.state(ghost)
    with pytest.raises(SessionNotFound):
        list(store.events(ghost))
    with pytest.raises(SessionNotFound):
        store.verify(ghost)


def test_sqlite_url_and_plain_path_name_the_same_file(tmp_path: object) -> None:
    path = f"{tmp_path}/u.db"  # absolute, so the URL is sqlite:////abs/u.db as in SQLAlchemy
    with SessionStore(f"sqlite:///{path}") as s:
        sid = s.create_session("u")
    with SessionStore(path) as s:
        assert s.state(sid).name == "u"


def test_missing_folder_is_refused_clearly(tmp_path: object) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        SessionStore(f"{tmp_path}/no/such/dir/s.db")


def test_unknown_url_scheme_is_refused_without_leaking_the_password() -> None:
    with pytest.raises(InvalidInput) as raised:
        SessionStore("mysql://admin:hunter2@db/x")
    assert "hunter2" not in str(raised.value)
    assert "postgresql://" in str(raised.value)


def _messages(count: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"m{i}"} for i in range(count)]


def test_add_messages_across_checkpoint_boundaries_behaves_like_any_write(db_path: str) -> None:
    with SessionStore(db_path, checkpoint_every=10) as a, SessionStore(
        db_path, checkpoint_every=10
    ) as b:
        sid = a.create_session("s")
        a.add_message(sid, "user", "cached by a")
        b.add_message(sid, "user", "written by b: a's cache is stale")
        assert a.add_messages(sid, _messages(30)) == 33  # re-read and retried, no conflict
        b.add_message(sid, "user", "b again")
        assert a.add_messages(sid, _messages(30), expected_version=34) == 64
        with pytest.raises(ConcurrencyConflict, match="is at version 64, not 50"):
            a.add_messages(sid, _messages(30), expected_version=50)
    with SessionStore(db_path, checkpoint_every=10) as fresh:
        # (b, not knowing a's checkpoints, took one more at its own count: 34)
        assert {10, 20, 30, 40, 50, 60} <= {c.version for c in fresh.checkpoints(sid)}
        for version in range(1, 65):
            fresh.reducer_steps = 0
            assert fresh.state(sid, at_version=version).version == version
            assert fresh.reducer_steps < 10


def test_a_refused_long_add_messages_inside_a_batch_is_like_a_short_one(db_path: str) -> None:
    with SessionStore(db_path, checkpoint_every=10) as store:
        sid = store.create_session("s")
        with store.batch():
            store.add_message(sid, "user", "kept")
            with pytest.raises(InvalidInput, match="role"):
                store.add_messages(sid, [*_messages(30), {"role": "robot", "content": "x"}])
            with pytest.raises(ConcurrencyConflict):
                store.add_messages(sid, _messages(30), expected_version=99)
        assert [m.content for m in store.state(sid).messages] == ["kept"]
        assert store.add_messages(sid, _messages(25)) == 27
        assert [c.version for c in store.checkpoints(sid)] == [10, 20]


def test_in_a_batch_a_right_expected_version_passes_after_another_store_wrote(
    db_path: str,
) -> None:
    with SessionStore(db_path) as a, SessionStore(db_path) as b:
        sid = a.create_session("s")
        a.add_message(sid, "user", "cached by a")
        b.add_message(sid, "user", "b wrote: a's cache is stale")
        with a.batch():
            assert a.add_message(sid, "user", "on the stored version", expected_version=3) == 4
            with pytest.raises(ConcurrencyConflict, match="is at version 4, not 3"):
                a.add_message(sid, "user", "stale now: 4 is staged", expected_version=3)
        assert a.current_version(sid) == 4


def test_record_source_notes_where_an_import_left_its_file(store: SessionStore) -> None:
    sid = store.create_session("imported")
    store.add_message(sid, "user", "hi")
    digest = "ab" * 32
    version = store.record_source(sid, source="claude-code", file="t.jsonl", size=120,
                                  sha256=digest)
    imported = store.state(sid).imported
    assert imported is not None
    assert (imported.source, imported.file, imported.size, imported.sha256) == (
        "claude-code", "t.jsonl", 120, digest)
    assert imported.version == version
    [event] = [e for e in store.events(sid) if e.type == "SourceImported"]
    assert event.data == {"source": "claude-code", "file": "t.jsonl", "size": 120,
                          "sha256": digest}


def test_a_fork_of_an_imported_session_is_not_its_source_s_copy(store: SessionStore) -> None:
    sid = store.create_session("imported")
    store.record_source(sid, source="claude-code", file="t.jsonl", size=1, sha256="0" * 64)
    fork = store.fork(sid)
    assert store.state(sid).imported is not None
    assert store.state(fork).imported is None


@pytest.mark.parametrize(("size", "sha256", "wrong"), [
    (-1, "0" * 64, "size: Input should be greater than or equal to 0"),
    (1, "ABC", "sha256: String should match pattern"),
])
def test_record_source_refuses_a_bad_size_or_digest(
    store: SessionStore, size: int, sha256: str, wrong: str
) -> None:
    sid = store.create_session("imported")
    with pytest.raises(InvalidInput, match=wrong):
        store.record_source(sid, source="claude-code", file="t.jsonl", size=size, sha256=sha256)
    assert store.current_version(sid) == 1
