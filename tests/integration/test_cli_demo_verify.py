"""`sessionstore demo` and `sessionstore verify` from the command line."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from sessionstore import SessionStore
from sessionstore.cli import main


def test_demo_records_three_sessions_and_verifies(db_path: str) -> None:
    result = CliRunner().invoke(main, ["--db", db_path, "--json", "demo"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["verify"] == {"ok": True, "events": 38}
    main_session, *children = out["sessions"]
    assert main_session["status"] == "completed"
    assert main_session["counters"]["tasks_completed"] == 2
    assert sorted(main_session["agents"]) == ["fixer", "researcher"]
    assert all(
        c["kind"] == "subagent" and c["parent_id"] == main_session["session_id"] for c in children
    )
    tool_messages = [m for c in children for m in c["messages"] if m["role"] == "tool"]
    assert [m["tool_name"] for m in tool_messages] == ["bash", "edit_file"]


def test_demo_prints_a_readable_summary(db_path: str) -> None:
    result = CliRunner().invoke(main, ["--db", db_path, "demo"])
    assert result.exit_code == 0
    assert "hash chains intact" in result.output
    assert "3 sessions, 38 events" in result.output
    assert max(len(line) for line in result.output.splitlines()[:6]) <= 80  # the table
    found = re.search(r"main session: (\S+)", result.output)
    assert found is not None
    main_id = found.group(1)
    with SessionStore(db_path) as store:
        assert store.state(main_id).kind == "main"
    assert f"sessionstore --db {db_path} log {main_id}" in result.output


def test_verify_exits_1_and_names_the_altered_event(db_path: str) -> None:
    with SessionStore(db_path) as store:
        sid = store.create_session("v")
        for i in range(5):
            store.add_message(sid, "user", f"m{i}")
    db = sqlite3.connect(db_path)
    with db:
        db.execute(
            "UPDATE stored_events SET state = CAST(state || x'00' AS BLOB) "
            "WHERE originator_version = 3"
        )
    db.close()
    result = CliRunner().invoke(main, ["--db", db_path, "--json", "verify"])
    assert result.exit_code == 1
    problems = json.loads(result.output)["problems"]
    assert [(p["session_id"], p["version"]) for p in problems] == [(sid, 3)]
    assert problems[0]["kind"] in ("altered", "unreadable")


def test_verify_of_a_value_we_never_write_is_an_integrity_error(db_path: str) -> None:
    with SessionStore(db_path) as store:
        sid = store.create_session("v")
        store.add_message(sid, "user", "m")
    db = sqlite3.connect(db_path)
    with db:  # concatenation turns the blob into TEXT that is not UTF-8
        db.execute("UPDATE stored_events SET state = state || x'ff' WHERE originator_version = 2")
    db.close()
    result = CliRunner().invoke(main, ["--db", db_path, "verify"])
    assert result.exit_code == 6
    assert "changed outside sessionstore" in result.output


def test_errors_are_one_line_with_a_documented_exit_code(db_path: str) -> None:
    SessionStore(db_path).close()
    result = CliRunner().invoke(
        main, ["--db", db_path, "verify", "00000000-0000-4000-8000-000000000000"]
    )
    assert result.exit_code == 3
    assert result.output.count("\n") == 1
    assert "error: no session" in result.output
    assert "Traceback" not in result.output


def test_a_read_command_on_a_missing_store_says_so_and_creates_nothing(tmp_path: Path) -> None:
    typo = tmp_path / "sesions.db"
    for command in (["verify"], ["list"], ["history", "00000000-0000-4000-8000-000000000000"]):
        result = CliRunner().invoke(main, ["--db", str(typo), *command])
        assert result.exit_code == 2
        assert f"no store at '{typo}': check --db" in result.output
    assert list(tmp_path.iterdir()) == []
    created = CliRunner().invoke(main, ["--db", str(typo), "create", "first"])
    assert created.exit_code == 0 and typo.exists()
