"""The read-model queries: what history, sessions, search, audit and metrics return."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from sessionstore import InvalidInput, SessionNotFound, SessionStore
from sessionstore.projections.rows import to_json

from .test_projection_support import fork

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


class Clock:
    """A store clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=1)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> Iterator[SessionStore]:
    with SessionStore(":memory:", clock=clock) as s:
        yield s


def conversation(store: SessionStore, name: str = "chat", **fields: object) -> str:
    sid = store.create_session(name, agent_id="main", **fields)  # type: ignore[arg-type]
    store.change_status(sid, "active")
    store.add_message(sid, "system", "you are helpful")
    store.add_message(sid, "user", "the build is red", tokens_in=10)
    store.add_message(sid, "assistant", "running the tests", tokens_out=5,
                      tool_calls=[{"id": "c1", "name": "bash", "arguments": {"cmd": "pytest"}}])
    store.add_message(sid, "tool", "1 failed: test_rounding", tool_name="bash",
                      tool_call_id="c1")
    store.add_message(sid, "assistant", "the rounding test fails", tokens_out=7)
    return sid


def contents(rows: list[dict[str, object]]) -> list[object]:
    return [r["content"] for r in rows]


def test_history_is_oldest_first_and_limit_keeps_the_latest(store: SessionStore) -> None:
    sid = conversation(store)
    assert contents(store.history(sid)) == [
        "you are helpful", "the build is red", "running the tests", "1 failed: test_rounding",
        "the rounding test fails"]
    assert contents(store.history(sid, limit=2)) == [
        "1 failed: test_rounding", "the rounding test fails"]
    first = store.history(sid)[2]
    assert first["tool_calls"] == [{"id": "c1", "name": "bash", "arguments": {"cmd": "pytest"}}]
    assert (first["version"], first["seq"], first["tokens_out"]) == (5, 3, 5)


def test_history_filters_tools_and_roles(store: SessionStore) -> None:
    sid = conversation(store)
    assert "1 failed: test_rounding" not in contents(store.history(sid, include_tools=False))
    assert contents(store.history(sid, roles=["assistant"])) == [
        "running the tests", "the rounding test fails"]
    with pytest.raises(InvalidInput, match="unknown role 'robot'"):
        store.history(sid, roles=["robot"])


def test_writes_are_visible_to_the_next_read_without_catching_up(store: SessionStore) -> None:
    sid = conversation(store)
    store.add_message(sid, "user", "and now?")
    assert contents(store.history(sid, limit=1)) == ["and now?"]
    assert store.session(sid)["messages"] == 6


def test_fork_history_and_audit_show_the_parent_part_then_the_fork(store: SessionStore) -> None:
    parent = conversation(store)  # versions 1..7, messages at 3..7
    child = fork(store, parent, 4, reason="try another fix")  # keeps messages at 3 and 4
    store.add_message(child, "assistant", "let me try the fix directly")
    store.add_message(parent, "user", "parent goes on")
    assert contents(store.history(child)) == [
        "you are helpful", "the build is red", "let me try the fix directly"]
    audit = store.audit(child)
    assert [(a["session_id"], a["version"], a["type"]) for a in audit] == [
        (parent, 1, "SessionCreated"), (parent, 2, "StatusChanged"), (parent, 3, "MessageAdded"),
        (parent, 4, "MessageAdded"), (child, 5, "SessionForked"), (child, 6, "MessageAdded")]
    assert audit[4]["prev_hash"] == audit[3]["hash"]  # the fork's chain links to the parent
    assert audit[4]["data"]["parent_id"] == parent
    grandchild = fork(store, child, 5)
    assert [a["session_id"] for a in store.audit(grandchild)] == [parent] * 4 + [child, grandchild]
    assert contents(store.history(grandchild)) == ["you are helpful", "the build is red"]


def test_fork_row_counts_what_its_state_holds(store: SessionStore) -> None:
    parent = conversation(store)
    child = fork(store, parent, 5)
    row = store.session(child)
    assert (row["forked_from"], row["fork_version"], row["first_version"]) == (parent, 5, 6)
    assert (row["messages"], row["tokens_in"], row["tokens_out"]) == (3, 10, 5)
    assert row["parent_id"] == parent
    assert store.metrics(child)["tool_calls_by_tool"] == {"bash": 1}


def test_sessions_filters_newest_first(store: SessionStore) -> None:
    a = conversation(store, "a", label="nightly")
    b = store.create_session("b", kind="cron")
    c = store.create_session("c", kind="subagent", parent_id=a)
    store.change_status(c, "active")
    store.complete(c, result="ok")
    assert [s["id"] for s in store.sessions()] == [c, b, a]
    assert [s["id"] for s in store.sessions(kind="cron")] == [b]
    assert [s["id"] for s in store.sessions(status="active")] == [a]
    assert [s["id"] for s in store.sessions(active_only=True)] == [b, a]
    assert [s["id"] for s in store.sessions(parent_id=a)] == [c]
    assert [s["id"] for s in store.sessions(limit=1)] == [c]
    assert store.session_by_label("nightly")["id"] == a  # type: ignore[index]
    assert store.session_by_label("nope") is None
    assert [s["id"] for s in store.children(a)] == [c]
    with pytest.raises(InvalidInput, match="unknown status 'running'"):
        store.sessions(status="running")


def test_stale_sessions_are_open_and_idle_for_long_enough(
        store: SessionStore, clock: Clock) -> None:
    old = conversation(store, "old")
    done = store.create_session("done")
    store.change_status(done, "active")
    store.complete(done)
    clock.now += timedelta(hours=2)
    fresh = store.create_session("fresh")
    assert [s["id"] for s in store.stale_sessions(timedelta(hours=1))] == [old]
    assert {s["id"] for s in store.stale_sessions(0)} == {old, fresh}
    with pytest.raises(InvalidInput, match="must not be negative"):
        store.stale_sessions(-1)


def test_search_finds_words_with_snippets_and_scopes_to_a_session(store: SessionStore) -> None:
    a = conversation(store)
    b = store.create_session("other")
    store.add_message(b, "user", "rounding is hard in money code")
    hits = store.search("rounding")
    assert {(h["session_id"], h["version"]) for h in hits} == {(a, 6), (a, 7), (b, 2)}
    assert any("**rounding**" in h["snippet"] for h in hits)
    assert [h["session_id"] for h in store.search("rounding", session_id=b)] == [b]
    assert len(store.search("rounding", limit=1)) == 1
    assert store.search('red "build') != []  # broken FTS syntax: searched as plain words
    child = fork(store, a, 4)
    assert [h["version"] for h in store.search("build", session_id=child)] == [4]


def test_audit_has_one_row_per_event_with_readable_data(store: SessionStore) -> None:
    sid = conversation(store)
    audit = store.audit(sid)
    events = list(store.events(sid))
    assert [(a["version"], a["type"]) for a in audit] == [(e.version, e.type) for e in events]
    assert audit[0]["data"]["name"] == "chat"
    assert audit[1]["data"] == {"from_status": "created", "to_status": "active",
                                "reason": None}
    assert [a["hash"] for a in audit] == [e.hash.hex() for e in events]


def test_audit_data_is_each_events_own_data_with_message_content_stored_once(
        store: SessionStore) -> None:
    sid = conversation(store)
    store.catch_up()
    events = list(store.events(sid))
    # Each event's own data, as JSON text holds it (times as ISO strings, enums as values).
    assert [a["data"] for a in store.audit(sid)] == [json.loads(to_json(e.data)) for e in events]
    stored = [json.loads(data) for (data,) in store.views_db.execute(
        "SELECT data FROM audit WHERE type = 'MessageAdded' ORDER BY version").fetchall()]
    assert len(stored) == 5 and all("content" not in data for data in stored)


def test_audit_of_views_that_still_hold_message_content_shows_it_once(
        store: SessionStore) -> None:
    sid = conversation(store)
    store.catch_up()
    # As written before the content moved out of the audit rows: in ``data`` too.
    store.views_db.execute(
        "UPDATE audit SET data = json_set(data, '$.content', 'as stored then') "
        "WHERE session_id = ? AND version = 3", [sid])
    assert [a["data"]["content"] for a in store.audit(sid)[2:4]] == [
        "as stored then", "the build is red"]


def test_session_metrics_count_roles_tools_errors_and_restarts(
        store: SessionStore, clock: Clock) -> None:
    sid = conversation(store)
    store.add_agent(sid, "coder")
    store.add_agent(sid, "critic")
    store.change_agent_status(sid, "coder", "busy")
    store.start_task(sid, "t1", agent_id="coder")
    store.complete_task(sid, "t1", outcome="fixed", tokens=40)
    for status in ("error", "recovering", "active", "error", "recovering", "active"):
        store.change_status(sid, status)
    clock.now += timedelta(seconds=30)
    m = store.metrics(sid)
    assert m["messages_by_role"] == {"system": 1, "user": 1, "assistant": 2, "tool": 1}
    assert m["tool_calls_by_tool"] == {"bash": 1}
    assert m["agents_by_status"] == {"busy": 1, "starting": 1}
    assert (m["errors"], m["restarts"], m["tasks_completed"]) == (2, 2, 1)
    assert (m["tokens_in"], m["tokens_out"]) == (10, 12)
    assert 30 <= m["uptime_seconds"] < 31


def test_global_metrics_count_sessions_and_the_reuse_rate(store: SessionStore) -> None:
    a = conversation(store)
    b = store.create_session("b", kind="cron")
    store.change_status(b, "active")
    store.change_status(b, "idle")
    for task in ("t1", "t2", "t3"):
        store.start_task(a, task)
    store.complete_task(a, "t1")
    m = store.metrics()
    assert m["sessions"] == 2
    assert m["sessions_by_status"] == {"active": 1, "idle": 1}
    assert m["sessions_by_kind"] == {"main": 1, "cron": 1}
    assert (m["active"], m["idle"], m["tasks"], m["tasks_completed"]) == (1, 1, 3, 1)
    assert m["session_reuse_rate"] == pytest.approx((3 - 2) / 3)


def test_unknown_and_malformed_sessions_are_refused(store: SessionStore) -> None:
    missing = "7f1c1e9e-2b3f-4c55-9a57-0a4c2d1e8b90"
    for query in (store.history, store.audit, store.metrics, store.children):
        with pytest.raises(SessionNotFound):
            query(missing)
    with pytest.raises(InvalidInput, match="not a session id"):
        store.history("nope")
    with pytest.raises(InvalidInput, match="limit must be at least 1"):
        store.sessions(limit=0)
    with pytest.raises(InvalidInput, match="needs some words"):
        store.search("  ")


def test_appends_leave_the_views_alone_until_a_query_catches_up(store: SessionStore) -> None:
    sid = conversation(store)
    assert store.projector.position() == 0
    assert store.projector.behind() == 7
    store.history(sid)
    assert (store.projector.position(), store.projector.behind()) == (7, 0)
    assert store.catch_up() == 0


def test_follow_stops_when_idle_or_after_its_duration(store: SessionStore) -> None:
    conversation(store)
    assert store.projector.follow(poll=0.01, until_idle=0.05) == 7
    started = datetime.now()
    assert store.projector.follow(poll=0.01, duration=0.05) == 0
    assert datetime.now() - started < timedelta(seconds=5)


def test_rebuild_reports_progress_and_replays_everything(store: SessionStore) -> None:
    conversation(store)
    store.projector.batch_size = 3
    seen: list[tuple[int, int]] = []
    assert store.rebuild(progress=lambda done, total: seen.append((done, total))) == 7
    assert seen == [(3, 7), (6, 7), (7, 7)]
    assert len(store.history(conversation(store, "again"))) == 5


def test_history_decodes_json_columns_and_rows_share_no_empty_container(
    store: SessionStore,
) -> None:
    sid = conversation(store)
    rows = store.history(sid)
    assert rows[2]["tool_calls"] == [{"id": "c1", "name": "bash", "arguments": {"cmd": "pytest"}}]
    assert [r["metadata"] for r in rows] == [{}] * 5
    assert rows[0]["tool_calls"] == [] and rows[1]["tool_calls"] == []
    # Empty lists and objects skip the JSON parser: each row must still get its own.
    rows[0]["tool_calls"].append("mine")
    rows[0]["metadata"]["mine"] = True
    assert rows[1]["tool_calls"] == [] and rows[1]["metadata"] == {}
    assert store.history(sid)[0]["tool_calls"] == []


def test_global_metrics_count_a_task_once_however_many_forks_inherit_it(
        store: SessionStore) -> None:
    sid = conversation(store)
    store.start_task(sid, "t1")
    store.complete_task(sid, "t1", outcome="done")
    fork(store, sid, store.current_version(sid))
    fork(store, sid, store.current_version(sid))
    m = store.metrics()
    assert (m["sessions"], m["tasks"], m["tasks_completed"]) == (3, 1, 1)


def test_session_metrics_hold_the_totals_and_compactions(store: SessionStore) -> None:
    sid = conversation(store)
    store.record_compaction(sid, trigger="auto", tokens_before=900)
    store.start_task(sid, "t1")
    m = store.metrics(sid)
    assert (m["messages"], m["tool_calls"], m["compactions"], m["tasks_started"]) == (5, 1, 1, 1)
