"""The replay commands through click's CliRunner on a SQLite file."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from sessionstore import SessionStore
from sessionstore.cli import main

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
def session_db(tmp_path: Path) -> tuple[str, str]:
    """A session of 31 events (one a minute from T0) with automatic checkpoints every 10."""
    db = str(tmp_path / "s.db")
    ticks = iter(range(10_000))
    with SessionStore(db, durability="normal", checkpoint_every=10,
                      clock=lambda: T0 + timedelta(minutes=next(ticks))) as store:
        sid = store.create_session("cli", agent_id="main")
        store.add_agent(sid, "helper")
        for i in range(29):
            store.add_message(sid, "user" if i % 2 else "assistant", f"line {i}", tokens_in=1)
    return db, sid


def run(db: str, *args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(main, ["--db", db, *args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def as_json(db: str, *args: str) -> Any:
    result = CliRunner().invoke(main, ["--db", db, "--json", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_checkpoint_records_an_event_and_lists_with_metadata(session_db: tuple[str, str]) -> None:
    db, sid = session_db
    made = as_json(db, "checkpoint", sid, "--label", "before")
    assert made["version"] == 31 and made["label"] == "before" and made["messages"] == 29
    assert made["compressed_size"] < made["raw_size"]
    listed = as_json(db, "checkpoints", sid)
    assert [c["version"] for c in listed] == [10, 20, 30, 31]
    assert [c["automatic"] for c in listed] == [True, True, True, False]
    assert listed[-1]["checkpoint_id"] == made["checkpoint_id"]
    with SessionStore(db) as store:
        assert store.state(sid).checkpoint_ids == [made["checkpoint_id"]]
        assert store.current_version(sid) == 32
    table = run(db, "checkpoints", sid).output
    assert made["checkpoint_id"] in table and "4 checkpoints" in table


def test_replay_shows_the_state_at_a_version_a_time_and_a_checkpoint(
    session_db: tuple[str, str],
) -> None:
    db, sid = session_db
    at_version = as_json(db, "replay", sid, "--version", "12")
    assert at_version["version"] == 12 and len(at_version["messages"]) == 10
    with SessionStore(db) as store:
        (twelfth,) = store.events(sid, after=11, upto=12)
    between = twelfth.recorded_at + timedelta(seconds=30)  # event 13 is a minute later
    assert as_json(db, "replay", sid, "--time", between.isoformat()) == at_version
    naive = between.replace(tzinfo=None).isoformat()  # taken as UTC
    assert as_json(db, "replay", sid, "--time", naive) == at_version
    cid = as_json(db, "checkpoint", sid)["checkpoint_id"]
    assert as_json(db, "replay", sid, "--checkpoint", cid)["version"] == 31
    text = run(db, "replay", sid, "--version", "12", "--messages", "2").output
    assert "line 9" in text and "line 8" in text and "line 7" not in text


def test_fork_then_diff_side_by_side(session_db: tuple[str, str]) -> None:
    db, sid = session_db
    fork = as_json(db, "fork", sid, "--version", "20", "--label", "retry")
    assert fork["parent_id"] == sid and fork["version"] == 21
    with SessionStore(db) as store:
        store.add_message(fork["session_id"], "assistant", "a different answer")
    d = as_json(db, "diff", sid, fork["session_id"])
    assert d["common_ancestor"] == sid and d["divergence_version"] == 20
    assert [m["content"] for m in d["only_in_b"]] == ["a different answer"]
    assert len(d["only_in_a"]) == 11
    text = run(db, "diff", sid, fork["session_id"]).output
    assert "only in a (11)" in text and "a different answer" in text
    assert as_json(db, "diff", sid, sid)["empty"] is True
    assert "no differences" in run(db, "diff", sid, sid).output


def test_prune_reports_what_it_removed_and_replay_still_works(
    session_db: tuple[str, str],
) -> None:
    db, sid = session_db
    report = as_json(db, "prune", sid, "--keep", "1")
    assert [c["version"] for c in report["removed"]] == [10, 20]
    assert report["kept"] == 1
    assert as_json(db, "replay", sid, "--version", "25")["version"] == 25
    assert "removed 0 checkpoints" in run(db, "prune", sid, "--keep", "1").output


def test_errors_exit_with_documented_codes(session_db: tuple[str, str]) -> None:
    db, sid = session_db
    assert "versions 1 to 31" in run(db, "replay", sid, "--version", "99", code=2).output
    run(db, "replay", sid, "--time", "yesterday", code=2)
    run(db, "replay", sid, "--checkpoint", "no-such-checkpoint", code=3)
    run(db, "fork", sid, "--version", "3", "--checkpoint", "x", code=2)


def test_a_fork_inside_a_forks_inherited_part_names_the_parent_it_is_stored_under(
    session_db: tuple[str, str],
) -> None:
    db, sid = session_db
    first = as_json(db, "fork", sid, "--version", "20")["session_id"]
    again = as_json(db, "fork", first, "--version", "12")  # version 12 is the root's event
    assert (again["parent_id"], again["version"]) == (sid, 13)
    with SessionStore(db) as store:
        assert store.session(again["session_id"])["forked_from"] == sid
    result = run(db, "fork", first, "--version", "21")
    assert f"from {first} at version 21" in " ".join(result.stderr.split())
    with SessionStore(db) as store:  # standard output is the new id alone, as `create` prints
        assert store.session(result.stdout.strip())["forked_from"] == first


def test_the_diff_table_shows_what_differs_beyond_a_status(tmp_path: Path) -> None:
    db = str(tmp_path / "d.db")
    with SessionStore(db) as store:
        sid = store.create_session("x")
        store.change_status(sid, "active")
        store.start_task(sid, "t1")
        fork = store.fork(sid)
        store.complete_task(sid, "t1", outcome="passed")
        store.complete_task(fork, "t1", outcome="failed")
    result = CliRunner().invoke(main, ["--db", db, "diff", sid, fork], env={"COLUMNS": "150"})
    row = next(line for line in result.output.splitlines() if "task t1" in line)
    assert "completed, outcome passed" in row and "completed, outcome failed" in row


def test_version_options_name_themselves_and_empty_checkpoint_lists_keep_the_id(
    session_db: tuple[str, str],
) -> None:
    db, sid = session_db
    for command in ("replay", "fork"):
        bad = run(db, command, sid, "--version", "0", code=2)
        assert "'--version'" in bad.output and "at_version" not in bad.output
    fork = as_json(db, "fork", sid, "--version", "5")["session_id"]
    listed = CliRunner().invoke(main, ["--db", db, "checkpoints", fork],
                                env={"COLUMNS": "80"}).output
    assert f"no checkpoints of {fork} yet" in listed.replace("\n", "")


def test_a_time_before_a_forks_ancestors_names_the_fork(session_db: tuple[str, str]) -> None:
    db, sid = session_db
    fork = as_json(db, "fork", sid, "--version", "5")["session_id"]
    result = run(db, "replay", fork, "--time", "2000-01-01T00:00:00+00:00", code=2)
    assert f"session {fork} did not exist yet" in result.output.replace("\n", "")
