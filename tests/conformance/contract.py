"""What every backend must do. A backend joins by subclassing ``StoreContract`` and giving
a ``backend`` fixture (see ``test_backends.py``): a few lines each.

The contract covers appends and versions, stale writers, heads, the hash chain and what
``verify`` detects, forks, batch atomicity, ``events()`` paging, notification order,
checkpoints and the read models.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionstore import SessionStore
from sessionstore.domain.errors import ConcurrencyConflict, SessionClosed, SessionNotFound
from sessionstore.storage import dictionaries
from sessionstore.storage.log import PAGE

from .backends import Backend


class StoreContract:
    @pytest.fixture
    def store(self, backend: Backend) -> Iterator[SessionStore]:
        with backend.open() as store:
            yield store

    @pytest.fixture
    def sid(self, store: SessionStore) -> str:
        sid = store.create_session("contract", agent_id="main", max_agents=2)
        store.change_status(sid, "active")
        return sid

    # -- appends and versions ------------------------------------------------------------------
    def test_each_append_takes_the_next_version(self, store: SessionStore, sid: str) -> None:
        versions = [store.add_message(sid, "user", f"m{i}") for i in range(5)]
        assert versions == [3, 4, 5, 6, 7]
        assert store.current_version(sid) == 7
        assert [m.content for m in store.state(sid).messages] == [f"m{i}" for i in range(5)]

    def test_reopened_store_sees_the_same_state(
        self, backend: Backend, store: SessionStore, sid: str
    ) -> None:
        store.add_agent(sid, "helper", role="coder")
        store.add_message(sid, "assistant", "done", agent_id="helper", tokens_out=7)
        with backend.second(store) as again:
            assert again.state(sid) == store.state(sid)

    def test_refused_command_stores_nothing(self, store: SessionStore, sid: str) -> None:
        store.complete(sid, result="ok")
        with pytest.raises(SessionClosed):
            store.add_message(sid, "user", "too late")
        assert store.current_version(sid) == 3
        assert [e.version for e in store.events(sid)] == [1, 2, 3]

    def test_unknown_session_is_not_found(self, store: SessionStore) -> None:
        with pytest.raises(SessionNotFound):
            store.state("7f1c1e9e-2b3f-4c55-9a57-0a4c2d1e8b90")

    # -- stale writers ---------------------------------------------------------------------
    def test_stale_expected_version_conflicts_and_writes_nothing(
        self, backend: Backend, store: SessionStore, sid: str
    ) -> None:
        with backend.second(store) as other:
            other.add_message(sid, "user", "first")  # version 3, behind store's back
        with pytest.raises(ConcurrencyConflict, match="try again"):
            store.add_message(sid, "user", "stale", expected_version=2)
        assert [m.content for m in store.state(sid).messages] == ["first"]

    def test_the_database_refuses_a_version_already_taken(
        self, backend: Backend, store: SessionStore, sid: str
    ) -> None:
        with backend.second(store) as other:
            other.add_message(sid, "user", "won the race")
        taken = list(store.events(sid))[-1].event
        duplicate = taken.model_copy(update={"content": "lost the race"})
        with pytest.raises(ConcurrencyConflict):
            store._log.append([duplicate], {sid: store._log.hash_at(sid, 2)})
        assert [m.content for m in store.state(sid).messages] == ["won the race"]
        assert store.current_version(sid) == 3

    def test_without_expected_version_the_store_retries(
        self, backend: Backend, store: SessionStore, sid: str
    ) -> None:
        with backend.second(store) as other:
            other.add_message(sid, "user", "other writer")
        assert store.add_message(sid, "user", "mine") == 4
        assert [m.content for m in store.state(sid).messages] == ["other writer", "mine"]

    def test_retry_rereads_and_appends(
        self, backend: Backend, store: SessionStore, sid: str
    ) -> None:
        other = backend.second(store)
        calls: list[int] = []

        def step() -> int:
            seen = store.state(sid)
            calls.append(seen.version)
            if len(calls) == 1:  # someone else appends between our read and our write
                other.add_message(sid, "user", "interloper")
            reply = f"reply to {len(seen.messages)} messages"
            return store.add_message(sid, "assistant", reply, expected_version=seen.version)

        assert store.retry(step) == 4
        other.close()
        assert calls == [2, 3]
        assert [m.content for m in store.state(sid).messages] == [
            "interloper", "reply to 1 messages"]

    @settings(max_examples=15, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.differing_executors])
    @given(schedule=st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=10))
    def test_interleaved_writers_keep_one_contiguous_history(
        self, backend: Backend, store: SessionStore, schedule: list[tuple[bool, bool]]
    ) -> None:
        """Two writers with stale caches, in any order: every accepted write is kept once,
        in order; every stale ``expected_version`` is refused and leaves nothing."""
        sid = store.create_session("interleaved")
        accepted: list[str] = []
        with backend.second(store) as other:
            for n, (by_other, stale) in enumerate(schedule):
                writer = other if by_other else store
                if stale:
                    behind = store.current_version(sid) - 1
                    with pytest.raises(ConcurrencyConflict):
                        writer.add_message(sid, "user", f"{n}", expected_version=behind)
                else:
                    writer.add_message(sid, "user", f"{n}")
                    accepted.append(f"{n}")
        assert [m.content for m in store.state(sid).messages] == accepted
        assert [e.version for e in store.events(sid)] == list(range(1, len(accepted) + 2))
        assert store.verify(sid).ok

    # -- heads -----------------------------------------------------------------------------
    def test_heads_track_every_session(self, store: SessionStore, sid: str) -> None:
        other = store.create_session("second")
        store.add_message(other, "user", "x")
        heads = {h.session_id: h for h in store._log.heads()}
        assert set(heads) == {sid, other}
        assert (heads[sid].first_version, heads[sid].version) == (1, 2)
        assert (heads[other].first_version, heads[other].version) == (1, 2)
        assert heads[other].hash == list(store.events(other))[-1].hash

    # -- hash chain ------------------------------------------------------------------------
    def test_chain_links_each_event_to_the_previous(self, store: SessionStore, sid: str) -> None:
        for i in range(3):
            store.add_message(sid, "user", f"m{i}")
        records = list(store.events(sid))
        assert records[0].prev_hash == b""
        assert all(b.prev_hash == a.hash for a, b in pairwise(records))
        assert store.verify(sid).ok

    def test_verify_names_a_changed_event(
        self, backend: Backend, store: SessionStore, sid: str
    ) -> None:
        for i in range(4):
            store.add_message(sid, "user", f"m{i}")
        victim = next(r for r in store._log.stored(sid) if r.originator_version == 4)
        raw = bytearray(store._log.codec.compressor.decompress(victim.state))
        raw[-1] ^= 0x01
        backend.set_state(store, sid, 4, store._log.codec.compressor.compress(bytes(raw)))
        problem = store.verify(sid).first_problem(sid)
        assert problem is not None and problem.version == 4

    def test_verify_sees_a_deleted_tail(
        self, backend: Backend, store: SessionStore, sid: str
    ) -> None:
        store.add_message(sid, "user", "last words")
        backend.delete_event(store, sid, 3)
        report = store.verify(sid)
        assert not report.ok
        assert report.first_problem(sid) is not None

    # -- compression dictionaries --------------------------------------------------------
    def test_events_compressed_with_a_trained_dictionary_read_back_in_every_store(
        self, store: SessionStore, sid: str, backend: Backend, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(dictionaries, "TRAIN_AFTER", 40)
        texts = [f"step {i}: the agent reads src/module_{i % 7}.py " * 16 for i in range(120)]
        with backend.second(store) as writer:
            for text in texts[:-1]:
                writer.add_message(sid, "assistant", text)
            writer._log.compressor.wait_for_training()  # it trains on a background thread
            writer.add_message(sid, "assistant", texts[-1])
            ident = writer._log.compressor.dictionary_id
            assert ident is not None
            assert ident in writer._log.recorder.select_dictionaries()
            last = next(writer._log.stored(sid, after=writer.current_version(sid) - 1))
            assert last.state[:1] == b"\x02"  # the newest events use the dictionary
        # ``store`` opened before the dictionary existed: it loads it when it meets it.
        assert [m.content for m in store.state(sid, use_checkpoints=False).messages] == texts
        assert store.verify(sid).ok
        with backend.second(store) as reader:
            assert reader._log.compressor.dictionary_id == ident
            assert [m.content for m in reader.state(sid).messages] == texts

    # -- forks -----------------------------------------------------------------------------
    def test_fork_continues_the_parents_versions(self, store: SessionStore, sid: str) -> None:
        for i in range(4):
            store.add_message(sid, "user", f"m{i}")
        fork = store.fork(sid, at_version=4, reason="explore")
        head = store._log.head(fork)
        assert head is not None and (head.first_version, head.version) == (5, 5)
        assert store.add_message(fork, "assistant", "branch") == 6
        assert [m.content for m in store.state(fork).messages] == ["m0", "m1", "branch"]
        events = list(store.events(fork))
        assert [e.version for e in events] == [1, 2, 3, 4, 5, 6]
        assert events[4].prev_hash == store._log.hash_at(sid, 4)
        assert store.verify().ok

    # -- batches ---------------------------------------------------------------------------
    def test_batch_records_all_or_nothing(self, store: SessionStore, sid: str) -> None:
        with pytest.raises(RuntimeError), store.batch():
            store.add_message(sid, "user", "a")
            store.add_message(sid, "user", "b")
            raise RuntimeError("the orchestrator crashed mid-batch")
        assert store.current_version(sid) == 2
        with store.batch():
            store.add_message(sid, "user", "a")
            store.add_message(sid, "user", "b")
        assert store.current_version(sid) == 4
        assert store.verify(sid).ok

    def test_batch_losing_a_race_stores_none_of_its_events(
        self, backend: Backend, store: SessionStore, sid: str
    ) -> None:
        bystander = store.create_session("bystander")
        with backend.second(store) as other:
            with pytest.raises(ConcurrencyConflict), store.batch():
                store.add_message(bystander, "user", "would be fine alone")
                store.add_message(sid, "user", "stale", expected_version=2)
                other.add_message(sid, "user", "wins")  # commits before the batch does
            assert store.current_version(bystander) == 1
            assert [m.content for m in store.state(sid).messages] == ["wins"]

    # -- reading ---------------------------------------------------------------------------
    def test_events_page_through_long_sessions(self, store: SessionStore, sid: str) -> None:
        with store.batch():
            for i in range(PAGE + 50):
                store.add_message(sid, "user", f"m{i}")
        versions = [e.version for e in store.events(sid)]
        assert versions == list(range(1, PAGE + 53))
        assert [e.version for e in store.events(sid, after=PAGE - 1, upto=PAGE + 2)] == [
            PAGE, PAGE + 1, PAGE + 2]

    @settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.differing_executors])
    @given(after=st.integers(0, 14), span=st.integers(0, 14) | st.none())
    def test_events_window_is_a_slice(
        self, store: SessionStore, sid: str, after: int, span: int | None
    ) -> None:
        if store.current_version(sid) == 2:
            for i in range(10):
                store.add_message(sid, "user", f"m{i}")
        upto = None if span is None else after + span
        everything = [e.version for e in store.events(sid)]
        expected = [v for v in everything if v > after and (upto is None or v <= upto)]
        assert [e.version for e in store.events(sid, after=after, upto=upto)] == expected

    def test_notifications_follow_commit_order(self, store: SessionStore, sid: str) -> None:
        other = store.create_session("other")
        for i in range(3):
            store.add_message(sid, "user", f"a{i}")
            store.add_message(other, "user", f"b{i}")
        items = store._log.notifications(1, 100)
        ids = [i.notification_id for i in items]
        assert ids == sorted(ids) and len(set(ids)) == len(ids) == 9
        assert ids[-1] == store._log.max_notification_id()
        order = [(i.event.session_id, i.event.version) for i in items]
        assert order[-6:] == [(sid, 3), (other, 2), (sid, 4), (other, 3), (sid, 5), (other, 4)]
        later = store._log.notifications(ids[4], 2)
        assert [i.notification_id for i in later] == ids[4:6]

    # -- checkpoints and read models -------------------------------------------------------
    def test_checkpoint_is_kept_beside_the_events(
        self, backend: Backend, store: SessionStore, sid: str
    ) -> None:
        store.add_message(sid, "user", "before")
        checkpoint = store.checkpoint(sid, label="mark")
        store.add_message(sid, "user", "after")
        with backend.second(store) as again:
            assert [c.checkpoint_id for c in again.checkpoints(sid)] == [checkpoint]
            at = again.state(sid, checkpoint=checkpoint)
        assert [m.content for m in at.messages] == ["before"]

    def test_read_models_agree_with_state(self, store: SessionStore, sid: str) -> None:
        store.add_agent(sid, "helper")
        store.add_message(sid, "user", "hello")
        store.add_message(sid, "assistant", "hi", agent_id="helper", tokens_out=3)
        state = store.state(sid)
        history = store.history(sid)
        assert [(r["role"], r["content"]) for r in history] == [
            (m.role, m.content) for m in state.messages]
        assert store.session(sid)["status"] == state.status
