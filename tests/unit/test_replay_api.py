"""Checkpoints, time travel, forks, what-if and diff through the Python API (in memory)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from sessionstore import (
    BackendError,
    CheckpointNotFound,
    CheckpointsChanged,
    InvalidInput,
    SessionNotFound,
    SessionStore,
)
from sessionstore.domain import events as ev
from sessionstore.domain.reducer import replay

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
def store() -> Iterator[SessionStore]:
    ticks = itertools.count()
    with SessionStore(":memory:", checkpoint_every=10,
                      clock=lambda: T0 + timedelta(seconds=next(ticks))) as s:
        yield s


def grow(store: SessionStore, sid: str, messages: int, *, start: int = 0) -> None:
    for i in range(start, start + messages):
        store.add_message(sid, "user" if i % 2 else "assistant", f"m{i}", tokens_in=1,
                          tokens_out=2)


def new_session(store: SessionStore, messages: int = 0) -> str:
    sid = store.create_session("s", agent_id="main", label="base")
    grow(store, sid, messages)
    return sid


def stored_events(store: SessionStore, sid: str) -> int:
    return sum(1 for _ in store._log.stored(sid))


# -- checkpoints ----------------------------------------------------------------------------
def test_checkpoint_appends_checkpoint_created_and_stores_metadata(store: SessionStore) -> None:
    sid = new_session(store, 4)
    cid = store.checkpoint(sid, label="before deploy")
    info = store.checkpoint_info(cid)
    assert (info.session_id, info.version, info.label, info.automatic) == (sid, 5, "before deploy",
                                                                          False)
    assert (info.message_count, info.token_count) == (4, 12)
    assert info.compressed_size > 0 and info.raw_size > 0 and len(info.checksum) == 32
    assert info.created_at >= T0
    (last,) = store.events(sid, after=5)
    assert isinstance(last.event, ev.CheckpointCreated)
    assert (last.event.checkpoint_id, last.event.at_version, last.event.label) == (
        cid, 5, "before deploy")
    assert store.state(sid).checkpoint_ids == [cid]
    assert store.latest_checkpoint(sid) == info
    assert store.state(sid, checkpoint=cid) == store.state(sid, at_version=5)


def _failing_event_write(store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The next ``CheckpointCreated`` write fails as a lost database would."""

    def lost(*args: object, **kwargs: object) -> int:
        raise BackendError("the database went away")

    monkeypatch.setattr(store, "_write", lost)


def test_a_checkpoint_whose_event_is_not_written_is_not_kept(
    store: SessionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = new_session(store, 4)
    _failing_event_write(store, monkeypatch)
    with pytest.raises(BackendError, match="went away"):
        store.checkpoint(sid, label="lost")
    assert store.checkpoints(sid) == []
    assert store.current_version(sid) == 5


def test_a_refused_cleanup_does_not_hide_why_the_checkpoint_failed(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Only memory:// stores a checkpoint before its event (SQL backends store both in one
    # transaction: tests/integration/test_checkpoint_atomic.py), so only it cleans up.
    store = SessionStore("memory://", checkpoint_every=10)
    sid = new_session(store, 4)
    _failing_event_write(store, monkeypatch)

    def refused(checkpoint_ids: object) -> None:
        raise CheckpointsChanged("another store built on this checkpoint")

    monkeypatch.setattr(store._checkpointer.store, "delete", refused)
    with pytest.raises(BackendError, match="went away"):
        store.checkpoint(sid, label="lost")
    (kept,) = store.checkpoints(sid)
    assert "stays stored" in caplog.text and kept.checkpoint_id in caplog.text
    assert store.state(sid, at_version=5) == store.state(sid)  # a valid state, still usable


def test_automatic_checkpoints_every_k_events_add_no_event(store: SessionStore) -> None:
    sid = new_session(store, 34)
    assert [c.version for c in store.checkpoints(sid)] == [10, 20, 30]
    assert all(c.automatic and c.label is None for c in store.checkpoints(sid))
    assert stored_events(store, sid) == 35
    assert store.state(sid).checkpoint_ids == []


def test_checkpoints_are_deltas_so_storage_grows_linearly() -> None:
    with SessionStore(":memory:", checkpoint_every=5) as store:
        sid = new_session(store, 600)
        records = store.checkpoints(sid)
        held = sum(r.message_count - r.base_messages for r in records)
        assert len(records) == 120
        assert held <= 3 * 600  # full snapshots would hold sum(1..600)/5 = ~36,000
        roots = [r for r in records if r.parent_id is None]
        counts = [r.message_count for r in roots]
        assert all(b >= 2 * a for a, b in itertools.pairwise(counts[1:]))  # roots double
        for root in roots:  # later roots copy their older messages from the earlier blobs
            expected = replay(r.event for r in store.events(sid, upto=root.version))
            assert store.state(sid, checkpoint=root.checkpoint_id) == expected


def test_full_roots_grow_fivefold_and_reuse_their_chains_chunks() -> None:
    with SessionStore(":memory:", checkpoint_every=5) as store:
        sid = new_session(store, 600)
        records = store.checkpoints(sid)
        held = sum(r.message_count - r.base_messages for r in records)
        counts = [r.message_count for r in records if r.parent_id is None]
        assert all(b >= 5 * a for a, b in itertools.pairwise(counts[1:]))
        assert held <= 2.25 * 600  # deltas hold each message once, roots at most 1.25x more
        newest = store.latest_checkpoint(sid)
        assert newest is not None
        assert store.state(sid, checkpoint=newest.checkpoint_id) == replay(
            r.event for r in store.events(sid, upto=newest.version)
        )


def test_a_failed_batch_stores_no_checkpoint_and_later_ones_chain_correctly(
    store: SessionStore,
) -> None:
    sid = new_session(store, 5)
    with pytest.raises(RuntimeError), store.batch():
        grow(store, sid, 20, start=5)
        raise RuntimeError("the caller changed its mind")
    assert store.checkpoints(sid) == [] and store.current_version(sid) == 6
    with store.batch():
        grow(store, sid, 20, start=5)
    assert [c.version for c in store.checkpoints(sid)] == [10, 20]
    expected = replay(r.event for r in store.events(sid, upto=20))
    assert store.state(sid, checkpoint=store.checkpoints(sid)[1].checkpoint_id) == expected


def test_delete_checkpoint_rebases_its_dependants(store: SessionStore) -> None:
    sid = new_session(store, 40)
    first, second, *_ = store.checkpoints(sid)
    report = store.delete_checkpoint(first.checkpoint_id)
    assert [r.checkpoint_id for r in report.removed] == [first.checkpoint_id]
    assert report.rebased == [second.checkpoint_id]
    assert store.checkpoint_info(second.checkpoint_id).parent_id is None
    expected = replay(r.event for r in store.events(sid, upto=20))
    assert store.state(sid, checkpoint=second.checkpoint_id) == expected
    assert store.verify().ok
    with pytest.raises(CheckpointNotFound):
        store.delete_checkpoint(first.checkpoint_id)


def test_prune_keeps_the_newest_and_explicit_ones(store: SessionStore) -> None:
    sid = new_session(store, 25)
    explicit = store.checkpoint(sid, label="keep me")
    grow(store, sid, 30, start=25)
    autos = [c.checkpoint_id for c in store.checkpoints(sid) if c.automatic]
    report = store.prune_checkpoints(sid, keep=2)
    assert {r.checkpoint_id for r in report.removed} == set(autos[:-2])
    left = [c.checkpoint_id for c in store.checkpoints(sid)]
    assert left == sorted(left, key=lambda i: store.checkpoint_info(i).version)
    assert set(left) == {explicit, *autos[-2:]} and report.kept == 3
    for version in range(1, store.current_version(sid) + 1):
        assert store.state(sid, at_version=version) == replay(
            r.event for r in store.events(sid, upto=version))
    with pytest.raises(InvalidInput):
        store.prune_checkpoints(sid, keep=-1)


# -- time travel ----------------------------------------------------------------------------
def test_time_travel_arguments_are_checked(store: SessionStore) -> None:
    sid = new_session(store, 3)
    other = new_session(store, 1)
    cid = store.checkpoint(other)
    for kwargs in ({"at_version": 0}, {"at_version": 5}, {"at_version": 1, "checkpoint": cid},
                   {"at_time": datetime(2026, 1, 1)}, {"checkpoint": cid},
                   {"at_time": T0 - timedelta(days=1)}):
        with pytest.raises(InvalidInput):
            store.state(sid, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(CheckpointNotFound):
        store.state(sid, checkpoint="missing")
    with pytest.raises(SessionNotFound):
        store.state("7f1c1e9e-2b3f-4c55-9a57-0a4c2d1e8b90", at_version=1)


def test_at_time_finds_the_last_event_at_or_before(store: SessionStore) -> None:
    sid = new_session(store, 12)
    times = {r.version: r.recorded_at for r in store.events(sid)}
    assert store.state(sid, at_time=times[7]).version == 7
    assert store.state(sid, at_time=times[7] + timedelta(milliseconds=500)).version == 7
    assert store.state(sid, at_time=T0 + timedelta(days=1)).version == 13


def test_at_time_before_a_fork_was_made_reads_its_parent_part(store: SessionStore) -> None:
    sid = new_session(store, 12)
    times = {r.version: r.recorded_at for r in store.events(sid)}
    fork = store.fork(sid, at_version=6)
    grow(store, fork, 2)
    assert store.state(fork, at_time=times[4]) == store.state(sid, at_version=4)
    assert store.state(fork, at_time=times[9]) == store.state(sid, at_version=6)
    assert store.state(fork, at_time=T0 + timedelta(days=1)) == store.state(fork)


# -- forks ----------------------------------------------------------------------------------
def test_a_fork_stores_one_event_and_links_to_its_parent(store: SessionStore) -> None:
    sid = new_session(store, 30)
    fork = store.fork(sid, at_version=12, name="retry", label="b")
    assert stored_events(store, fork) == 1
    (forked,) = store._log.read(fork)
    assert isinstance(forked, ev.SessionForked)
    assert (forked.parent_id, forked.parent_version, forked.version) == (sid, 12, 13)
    state = store.state(fork)
    assert (state.name, state.label, state.version, len(state.messages)) == ("retry", "b", 13, 11)
    assert state.lineage[0].parent_id == sid
    assert store.verify().ok


def test_fork_at_a_checkpoint_records_it(store: SessionStore) -> None:
    sid = new_session(store, 6)
    cid = store.checkpoint(sid)
    grow(store, sid, 5, start=6)
    fork = store.fork(sid, checkpoint=cid)
    assert store.state(fork).lineage[0].checkpoint_id == cid
    assert store.state(fork).version == 8


def test_fork_in_the_parent_part_of_a_fork_names_the_owner(store: SessionStore) -> None:
    sid = new_session(store, 10)
    child = store.fork(sid, at_version=8)
    grow(store, child, 3)
    grandchild = store.fork(child, at_version=5)  # version 5 is in sid's log
    assert store.state(grandchild).lineage[-1].parent_id == sid
    assert store.state(grandchild, at_version=5) == store.state(sid, at_version=5)


def test_a_fork_uses_the_checkpoints_its_state_lists_from_its_parent(
    store: SessionStore,
) -> None:
    sid = new_session(store, 6)
    early = store.checkpoint(sid)
    grow(store, sid, 4, start=6)
    late = store.checkpoint(sid)
    child = store.fork(sid, at_version=store.checkpoint_info(early).version + 2)
    assert early in store.state(child).checkpoint_ids
    point = store.checkpoint_info(early).version
    assert store.state(child, checkpoint=early) == store.state(sid, at_version=point)
    grandchild = store.fork(child, checkpoint=early)
    assert store.state(grandchild).lineage[-1].parent_id == sid
    assert store.state(grandchild).version == point + 1
    with pytest.raises(InvalidInput, match=r"after .* forked from it"):
        store.state(child, checkpoint=late)  # made after the fork point
    other = new_session(store, 2)
    with pytest.raises(InvalidInput, match=r"which is not in .* history"):
        store.state(other, checkpoint=early)


def test_a_fork_of_a_completed_session_is_open(store: SessionStore) -> None:
    sid = new_session(store, 2)
    store.change_status(sid, "active")
    store.complete(sid, result="done")
    fork = store.fork(sid)
    store.add_message(fork, "user", "continue from here")
    assert store.state(fork).status == "active"
    assert store.state(sid).status == "completed"


def test_forks_get_automatic_checkpoints_counting_from_the_parents(store: SessionStore) -> None:
    sid = new_session(store, 14)  # checkpoint at 10
    fork = store.fork(sid, at_version=14)
    grow(store, fork, 12)
    assert [c.version for c in store.checkpoints(fork)] == [20]
    store.reducer_steps = 0
    assert store.state(fork, at_version=19) == replay(
        r.event for r in store.events(fork, upto=19))
    assert store.reducer_steps <= 10


@pytest.mark.parametrize("depth", [1, 2])
def test_a_forks_first_checkpoint_is_a_delta_of_its_parents(
    store: SessionStore, depth: int
) -> None:
    """It holds only the messages after the parent's checkpoint, whatever the parent's length."""
    sid = new_session(store, 34)  # checkpoints at 10, 20, 30
    parent_checkpoint = store.checkpoints(sid)[-1]
    fork = store.fork(sid, at_version=33)
    if depth == 2:  # a fork of a fork with no checkpoint yet reaches the grandparent's
        fork = store.fork(fork)
    grow(store, fork, 12)
    first = store.checkpoints(fork)[0]
    assert first.parent_id == parent_checkpoint.checkpoint_id
    assert first.base_messages == parent_checkpoint.message_count
    by_replay = store.state(fork, at_version=first.version, use_checkpoints=False)
    assert store.state(fork, checkpoint=first.checkpoint_id) == by_replay
    assert store.verify(fork).ok


@pytest.mark.parametrize("doomed", ["prune", "delete"])
def test_removing_a_parents_checkpoints_re_bases_its_forks(
    store: SessionStore, doomed: str
) -> None:
    sid = new_session(store, 34)
    fork = store.fork(sid, at_version=33)
    grow(store, fork, 25)  # two checkpoints: the first a delta of the parent's at 30
    if doomed == "prune":
        report = store.prune_checkpoints(sid, keep=0)
    else:
        report = store.delete_checkpoint(store.checkpoints(sid)[-1].checkpoint_id)
    first = store.checkpoints(fork)[0]
    assert first.checkpoint_id in report.rebased
    assert first.parent_id not in {r.checkpoint_id for r in report.removed}
    for checkpoint in store.checkpoints(fork):
        replayed = store.state(fork, at_version=checkpoint.version, use_checkpoints=False)
        assert store.state(fork, checkpoint=checkpoint.checkpoint_id) == replayed
    assert store.verify().ok  # no checkpoint lost its parent


# -- what if --------------------------------------------------------------------------------
def test_whatif_drops_and_changes_events(store: SessionStore) -> None:
    sid = new_session(store, 10)

    def louder(event: ev.Event) -> list[ev.Event]:
        if isinstance(event, ev.MessageAdded):
            if event.content == "m7":
                return []
            return [event.model_copy(update={"content": event.content.upper()})]
        return [event]

    fork = store.whatif(sid, at_version=5, transform=louder, label="shouting")
    contents = [m.content for m in store.state(fork).messages]
    assert contents == ["m0", "m1", "m2", "m3", "M4", "M5", "M6", "M8", "M9"]
    assert store.state(fork).label == "shouting"
    d = store.diff(sid, fork)
    assert d.divergence_version == 5 and len(d.only_in_a) == 6 and len(d.only_in_b) == 5


def test_whatif_at_a_checkpoint_replays_every_later_event(store: SessionStore) -> None:
    sid = new_session(store, 4)
    cid = store.checkpoint(sid)
    grow(store, sid, 3, start=4)
    fork = store.whatif(sid, checkpoint=cid, transform=lambda e: [e])
    state = store.state(fork)
    assert state.lineage[0].checkpoint_id == cid and state.lineage[0].parent_version == 5
    assert [m.content for m in state.messages] == [f"m{i}" for i in range(7)]
    assert state.checkpoint_ids == []  # the parent's CheckpointCreated is not replayed


def test_whatif_refused_event_leaves_no_fork(store: SessionStore) -> None:
    sid = new_session(store, 6)
    heads = len(list(store._log.heads()))

    def impersonate(event: ev.Event) -> list[ev.Event]:
        if isinstance(event, ev.MessageAdded) and event.content == "m4":
            return [event, event.model_copy(update={"agent_id": "nobody"})]
        return [event]

    with pytest.raises(InvalidInput, match="what-if stopped at parent event 6"):
        store.whatif(sid, at_version=2, transform=impersonate)
    assert len(list(store._log.heads())) == heads
    with pytest.raises(InvalidInput, match="not an event"):
        store.whatif(sid, at_version=2, transform=lambda e: ["text"])  # type: ignore[list-item]
    assert len(list(store._log.heads())) == heads


def test_whatif_replays_a_fork_that_reopened_a_completed_session(store: SessionStore) -> None:
    sid = new_session(store, 2)
    store.change_status(sid, "active")
    store.complete(sid, result="done")
    fork = store.fork(sid)
    store.add_message(fork, "user", "go on")
    branch = store.whatif(fork, at_version=3, transform=lambda e: [e])
    state = store.state(branch)
    assert [m.content for m in state.messages] == ["m0", "m1", "go on"]
    assert not state.is_terminal


@pytest.mark.parametrize(("finish", "after_fork"), [
    (["idle", "complete"], "idle"),  # a completion from idle
    (["terminating", "terminated"], None),  # active cannot be reached from terminating
    (["error", "stopped"], None),
])
def test_whatif_goes_on_from_active_where_a_replayed_fork_reopened_its_parent(
    store: SessionStore, finish: list[str], after_fork: str | None
) -> None:
    sid = new_session(store, 1)
    store.change_status(sid, "active")
    for status in finish:
        if status == "complete":
            store.complete(sid)
        else:
            store.change_status(sid, status)
    fork = store.fork(sid)
    if after_fork is not None:
        store.change_status(fork, after_fork)
    store.add_message(fork, "user", "go on")
    for start in range(3, store.state(sid).version + 1):  # in the finished stretch too
        branch = store.whatif(fork, at_version=start, transform=lambda e: [e])
        replayed, original = store.state(branch), store.state(fork)
        assert (replayed.status, replayed.counters) == (original.status, original.counters)
        assert [m.content for m in replayed.messages] == ["m0", "go on"]
    store.change_status(branch, "idle" if after_fork is None else "active")


def test_whatif_through_a_fork_made_while_terminating_and_one_that_reopened(
    store: SessionStore,
) -> None:
    sid = new_session(store, 1)
    store.change_status(sid, "active")
    store.change_status(sid, "terminating")
    first = store.fork(sid)  # still terminating: nothing to reopen
    store.change_status(first, "terminated")
    second = store.fork(first)  # reopened
    branch = store.whatif(second, at_version=2, transform=lambda e: [e])
    assert store.state(branch).status == store.state(second).status == "active"
    assert store.state(branch).counters == store.state(second).counters
    reopened = [e for e in store.events(branch) if e.type == "SessionReopened"]
    assert [e.data for e in reopened] == [{"from_status": "terminated", "fork_id": second}]


def test_a_whatif_of_a_whatif_branch_reopens_like_the_fork_it_replays(
    store: SessionStore,
) -> None:
    sid = new_session(store, 1)
    store.change_status(sid, "active")
    store.complete(sid)
    fork = store.fork(sid)
    store.add_message(fork, "user", "go on")
    branch = store.whatif(fork, at_version=3, transform=lambda e: [e])
    [reopened] = [e for e in store.events(branch) if e.type == "SessionReopened"]
    assert reopened.occurred_at == next(store.events(fork, after=4, upto=5)).recorded_at
    for start in range(3, store.current_version(branch) + 1):
        again = store.whatif(branch, at_version=start, transform=lambda e: [e])
        assert store.state(again).counters == store.state(branch).counters
        assert [m.content for m in store.state(again).messages] == ["m0", "go on"]


def test_whatif_reopens_a_branch_that_its_transform_finished(store: SessionStore) -> None:
    sid = new_session(store, 2)
    store.change_status(sid, "active")
    store.complete(sid)
    fork = store.fork(sid)
    store.add_message(fork, "user", "go on")

    def time_out_instead(event: ev.Event) -> list[ev.Event]:
        if isinstance(event, ev.SessionCompleted):
            return [ev.StatusChanged(session_id=event.session_id, version=event.version,
                                     recorded_at=event.recorded_at,
                                     from_status="active", to_status="timeout")]
        return [event]

    branch = store.whatif(fork, at_version=3, transform=time_out_instead)
    moves = [(e.type, str(e.data.get("to_status") or e.data.get("from_status")))
             for e in store.events(branch) if "Status" in e.type or e.type == "SessionReopened"]
    assert moves[-2:] == [("StatusChanged", "timeout"), ("SessionReopened", "timeout")]
    assert store.state(branch).status == "active"
    assert [m.content for m in store.state(branch).messages] == ["m0", "m1", "go on"]


def test_an_identity_whatif_diffs_as_empty_against_its_parent(store: SessionStore) -> None:
    sid = new_session(store, 1)
    store.add_agent(sid, "helper")
    store.start_task(sid, "t1", agent_id="helper")
    store.complete_task(sid, "t1", outcome="ok")
    branch = store.whatif(sid, at_version=2, transform=lambda e: [e], label="base")
    assert store.diff(sid, branch).is_empty


@pytest.mark.parametrize(("result", "named"), [(5, "int"), ({"a": 1}, "dict"), ("x", "str")])
def test_a_whatif_transform_returning_no_event_is_refused_by_name(
    store: SessionStore, result: object, named: str
) -> None:
    sid = new_session(store, 3)
    with pytest.raises(InvalidInput, match=f"returned {named}, not an event"):
        store.whatif(sid, at_version=2, transform=lambda e: result)  # type: ignore[arg-type,return-value]


def test_whatif_records_its_events_now_and_keeps_when_they_happened(
    store: SessionStore,
) -> None:
    sid = new_session(store, 4)
    originals = {r.version: r.recorded_at for r in store.events(sid)}
    branch = store.whatif(sid, at_version=3, transform=lambda e: e)  # one event, not a list
    records = list(store.events(branch, after=3))
    times = [r.recorded_at for r in records]
    assert times == sorted(times) and times[0] > originals[5]
    assert [r.occurred_at for r in records[1:]] == [originals[v] for v in (4, 5)]
    assert store.state(branch, at_time=times[1]).version == records[1].version


def test_a_whatif_transform_may_return_none_to_drop_an_event(store: SessionStore) -> None:
    sid = new_session(store, 4)
    keep_even = lambda e: None if getattr(e, "content", "m0")[-1] in "13" else [e]  # noqa: E731
    branch = store.whatif(sid, at_version=1, transform=keep_even)
    assert [m.content for m in store.state(branch).messages] == ["m0", "m2"]


# -- diff -----------------------------------------------------------------------------------
def test_diff_of_siblings_and_of_unrelated_sessions(store: SessionStore) -> None:
    sid = new_session(store, 6)
    store.add_agent(sid, "helper")
    a = store.fork(sid)
    b = store.fork(sid)
    store.add_message(a, "user", "only a", tokens_in=5)
    store.remove_agent(b, "helper")
    store.start_task(b, "t1")
    d = store.diff(a, b)
    assert (d.common_ancestor, d.divergence_version) == (sid, 8)
    assert [m.content for m in d.only_in_a] == ["only a"] and d.only_in_b == []
    assert set(d.agents) == {"helper"} and d.agents["helper"][1] is None
    assert set(d.tasks) == {"t1"} and d.tokens["tokens_in"] == (11, 6)
    unrelated = store.diff(sid, new_session(store, 1))
    assert unrelated.common_ancestor is None and unrelated.divergence_version == 0
    assert len(unrelated.only_in_a) == 6
