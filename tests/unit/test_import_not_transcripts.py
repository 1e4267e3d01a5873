"""A file with no record of the format creates no session: it is skipped with the reason, and
refused under --strict. A file of the format whose conversation is empty is a choice per
format: a container that names a run (a trajectory, a resolver record, a chat record) is a
session; a Claude Code file of only summary or snapshot lines is not a conversation."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from sessionstore import SessionStore
from sessionstore.cli import main
from sessionstore.importers import ImportAborted
from sessionstore.importers.claude_code import JUST_STARTED

CLAUDE = "not a Claude Code transcript: no message records"
SWE = "not a SWE-agent trajectory: no history or trajectory list"
OPENHANDS = "not an OpenHands event list: no action or observation events"
CHAT = "not an OpenAI chat log: no messages, nor records holding them"

NOT_OF_FORMAT = [
    ("claude-code", "notes.jsonl", b"just some text\nover two lines\n", CLAUDE),
    ("claude-code", "random.jsonl", os.urandom(2000), CLAUDE),
    ("claude-code", "objects.jsonl", b'{"a": 1}\n[1, 2]\n', CLAUDE),
    ("swe-agent", "garbage.traj", b"garbage", SWE),
    ("swe-agent", "binary.traj", os.urandom(500), SWE),
    ("swe-agent", "empty.traj", b"", SWE),
    ("swe-agent", "object.traj", b'{"a": 1}', SWE),
    ("swe-agent", "list.traj", b"[]", SWE),
    ("openhands", "list.json", b"[]", OPENHANDS),
    ("openhands", "numbers.json", b"[1, 2, {\"id\": 3}]", OPENHANDS),
    ("openhands", "object.json", b'{"a": 1}', OPENHANDS),
    ("openhands", "lines.jsonl", b'{"a": 1}\nnot json\n',
     "not OpenHands output: no record with a history list of events"),
    ("openai-chat", "list.json", b"[]", CHAT),
    ("openai-chat", "lines.jsonl", b"[]\n{\"a\": 1}\n", CHAT),
    ("jsonl", "notes.jsonl", b"just some text\n",
     "not a sessionstore export: no header or event lines"),
]


@pytest.mark.parametrize(("fmt", "name", "content", "reason"), NOT_OF_FORMAT,
                         ids=[f"{f}-{n}" for f, n, *_ in NOT_OF_FORMAT])
def test_a_file_not_of_the_format_is_skipped_or_refused_under_strict(
        tmp_path: Path, fmt: str, name: str, content: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with SessionStore(":memory:") as store:
        report = store.import_(fmt, path)
        assert report.created == [] and report.events == 0 and report.malformed == 0
        assert report.skipped_files == [f"{path}: {reason}"]
        with pytest.raises(ImportAborted, match=f"{path}: {reason}; stopped"):
            store.import_(fmt, path, strict=True)
        assert store.verify().sessions == 0


def test_the_command_line_says_which_files_it_skipped_and_why(tmp_path: Path) -> None:
    path = tmp_path / "notes.jsonl"
    path.write_text("not a transcript\n")
    db = str(tmp_path / "s.db")
    result = CliRunner().invoke(main, ["--db", db, "import", "claude-code", str(path)])
    assert result.exit_code == 0
    assert "imported 0 sessions" in result.output
    assert "1 file skipped, with nothing to import" in result.output and CLAUDE in result.output
    result = CliRunner().invoke(main, ["--db", db, "--json", "import", "swe-agent", str(path)])
    assert json.loads(result.output)["skipped_files"] == [f"{path}: {SWE}"]
    result = CliRunner().invoke(main, ["--db", db, "import", "--strict", "claude-code",
                                       str(path)])
    assert result.exit_code == 2 and CLAUDE in result.output


def test_a_claude_code_file_of_only_summaries_and_snapshots_makes_no_session(tmp_path):
    path = tmp_path / "titles.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"type": "summary", "summary": "Fix the build", "leafUuid": "u1"},
        {"type": "file-history-snapshot", "snapshot": {}},
    ]) + "\n")
    with SessionStore(":memory:") as store:
        for strict in (False, True):  # valid input: not refused, there is just nothing in it
            report = store.import_("claude-code", path, strict=strict)
            assert report.created == [] and report.malformed == 0
            assert report.skipped_files == [
                f"{path}: a Claude Code file without messages (only summary, snapshot or "
                "progress lines)"]
        assert store.verify().sessions == 0


def test_an_empty_run_that_names_itself_is_still_a_session(tmp_path):
    files = {
        ("swe-agent", "early.traj"): {"history": [], "trajectory": [],
                                      "info": {"exit_status": "early_exit"}},
        ("openhands", "runs.jsonl"): {"issue": {"owner": "o", "repo": "r", "number": 1},
                                      "history": []},
        ("openai-chat", "tasks.json"): [{"task_id": 7, "reward": 0, "messages": []}],
    }
    with SessionStore(":memory:") as store:
        for (fmt, name), content in files.items():
            path = tmp_path / name
            path.write_text(json.dumps(content) + "\n")
            report = store.import_(fmt, path, strict=True)
            assert len(report.created) == 1 and report.skipped_files == [], fmt
            assert store.state(report.created[0]).counters.messages == 0


def test_an_empty_message_list_line_in_a_chat_log_makes_no_session(tmp_path):
    path = tmp_path / "runs.jsonl"
    path.write_text("[]\n" + json.dumps([{"role": "user", "content": "hi"}]) + "\n")
    with SessionStore(":memory:") as store:
        report = store.import_("openai-chat", path)
        assert len(report.created) == 1 and report.malformed == 0
        assert report.skipped == {"openai-chat empty message lists": 1}


@pytest.mark.parametrize("content", [b"", b'{"type": "user", "message": {"con'])
def test_a_claude_code_file_just_started_waits_even_under_strict(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "new.jsonl"
    path.write_bytes(content)
    with SessionStore(":memory:") as store:
        report = store.import_("claude-code", path, strict=True)
        assert report.created == [] and report.malformed == 0
        assert report.skipped_files == [f"{path}: {JUST_STARTED}"]
