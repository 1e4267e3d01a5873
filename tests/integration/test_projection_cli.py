"""The read-model commands through click's CliRunner, and ``project --follow`` as a process."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sessionstore import SessionStore
from sessionstore.cli import main
from sessionstore.demo import run_demo

from ..unit.test_projection_support import fork


@pytest.fixture
def demo_db(tmp_path: Path) -> tuple[str, Any]:
    db = str(tmp_path / "demo.db")
    with SessionStore(db, durability="normal") as store:
        result = run_demo(store)
    return db, result


def cli(db: str, *args: str, as_json: bool = True) -> Any:
    flags = ["--db", db, *(["--json"] if as_json else [])]
    out = CliRunner().invoke(main, [*flags, *args], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    return json.loads(out.output) if as_json else out.output


def test_list_filters_and_prints_a_table(demo_db: tuple[str, Any]) -> None:
    db, demo = demo_db
    rows = cli(db, "list")
    assert {r["id"] for r in rows} == {demo.main_id, *demo.child_ids}
    assert [r["id"] for r in cli(db, "list", "--kind", "main")] == [demo.main_id]
    assert {r["id"] for r in cli(db, "list", "--parent", demo.main_id)} == set(demo.child_ids)
    assert cli(db, "list", "--active") == []
    assert demo.main_id in cli(db, "list", as_json=False)


def test_show_history_and_log(demo_db: tuple[str, Any]) -> None:
    db, demo = demo_db
    child = demo.child_ids[0]
    shown = cli(db, "show", child)
    assert shown["session"]["messages"] == 5 and shown["metrics"]["tool_calls_by_tool"]
    history = cli(db, "history", child)
    assert [m["role"] for m in history] == ["system", "user", "assistant", "tool", "assistant"]
    latest = cli(db, "history", child, "--no-tools", "--limit", "2")
    assert [(m["role"], m["version"]) for m in latest] == [("assistant", 6), ("assistant", 8)]
    assert [m["role"] for m in cli(db, "history", child, "--role", "user")] == ["user"]
    assert "You are the" in cli(db, "history", child, as_json=False)
    log = cli(db, "log", child)
    assert log[0]["type"] == "SessionCreated" and log[-1]["type"] == "SessionCompleted"
    assert [a["version"] for a in log] == list(range(1, len(log) + 1))
    assert "SessionCompleted" in cli(db, "log", child, as_json=False)


def test_search_metrics_and_tree(demo_db: tuple[str, Any]) -> None:
    db, demo = demo_db
    hits = cli(db, "search", "rounding")
    assert hits and all("**" in h["snippet"] for h in hits)
    assert {h["session_id"] for h in cli(db, "search", "rounding", "--session", demo.main_id)} \
        == {demo.main_id}
    assert "rounding" in cli(db, "search", "rounding", as_json=False)
    assert cli(db, "metrics")["sessions_by_kind"] == {"main": 1, "subagent": 2}
    assert cli(db, "metrics", demo.main_id)["tasks_completed"] == 2
    with SessionStore(db) as store:
        forked = fork(store, demo.main_id, 5)
    [root] = cli(db, "tree", demo.child_ids[0])
    assert root["id"] == demo.main_id
    children = {c["id"]: c for c in root["children"]}
    assert set(children) == {*demo.child_ids, forked}
    assert children[forked]["fork_version"] == 5
    assert "fork @v5" in cli(db, "tree", as_json=False)


def test_project_rebuild_reports_what_it_applied(demo_db: tuple[str, Any]) -> None:
    db, _ = demo_db
    with SessionStore(db) as store:
        total = store._log.max_notification_id()
    assert cli(db, "project")["applied"] == total
    again = cli(db, "project", "--rebuild")
    assert (again["applied"], again["position"], again["rebuilt"]) == (total, total, True)
    assert "rebuilt" in cli(db, "project", "--rebuild", as_json=False)


def test_unknown_session_exits_3(demo_db: tuple[str, Any]) -> None:
    db, _ = demo_db
    out = CliRunner().invoke(main, ["--db", db, "history", "7f1c1e9e-2b3f-4c55-9a57-0a4c2d1e8b90"])
    assert out.exit_code == 3


@pytest.mark.slow
def test_project_follow_picks_up_another_processes_writes(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    views = tmp_path / "followed.db"
    with SessionStore(db, durability="normal") as store:
        sid = store.create_session("watched")
    follow = subprocess.Popen(
        [sys.executable, "-c", "from sessionstore.cli import main; main()", "--db", db, "--json",
         "project", "--views", str(views), "--follow", "--poll", "0.05", "--until-idle", "1.5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    with SessionStore(db, durability="normal") as store:
        store.add_message(sid, "user", "written while following")
    out, err = follow.communicate(timeout=60)
    assert follow.returncode == 0, err
    assert json.loads(out)["position"] == 2
    with SessionStore(db, views=str(views)) as reader:
        assert reader.projector.position() == 2  # nothing left for the reader to apply
        assert [m["content"] for m in reader.history(sid)] == ["written while following"]
