"""A record nested thousands of levels deep is one malformed record: skipped and reported (or
refused under --strict), and the import goes on; it never ends in a RecursionError."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sessionstore import SessionStore
from sessionstore.cli import main
from sessionstore.importers import ImportAborted, session_uuid

TOO_DEEP = "nested too deeply to import"


def deep(levels: int) -> str:
    """JSON text of a value nested ``levels`` lists deep."""
    return "[" * levels + '"x"' + "]" * levels


def _user(text: str) -> str:
    return json.dumps({"type": "user", "message": {"role": "user", "content": text}})


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "a.jsonl").write_text(_user("first file") + "\n")
    (folder / "b.jsonl").write_text("\n".join([
        _user("before"),
        '{"type": "user", "message": {"role": "user", "content": ' + deep(5000) + "}}",
        '{"type": "assistant", "message": {"content": [{"type": "x", "x": ' + deep(150) + "}]}}",
        _user("after"),
    ]) + "\n")
    (folder / "c.jsonl").write_text(_user("last file") + "\n")
    return folder


def test_a_deep_claude_code_line_is_skipped_and_the_import_goes_on(project: Path):
    with SessionStore(":memory:") as store:
        report = store.import_("claude-code", project)
        assert len(report.created) == 3 and report.malformed == 2
        assert [p.split(": ", 1)[0] for p in report.problems] == [
            f"{project / 'b.jsonl'}:2", f"{project / 'b.jsonl'}:3"]
        assert all(TOO_DEEP in p for p in report.problems)
        state = store.state(session_uuid("claude-code", "b"))
        assert [m.content for m in state.messages] == ["before", "after"]
        assert store.verify().ok and store.sessions()  # the read models take what was stored


def test_the_command_line_ends_with_its_summary(project: Path, tmp_path: Path):
    db = str(tmp_path / "s.db")
    result = CliRunner().invoke(main, ["--db", db, "import", "claude-code", str(project)])
    assert result.exit_code == 0 and result.exception is None
    assert "imported 3 sessions" in result.output and "2 malformed records skipped" in result.output


def test_strict_refuses_the_deep_line_and_writes_nothing_of_its_session(project: Path):
    with SessionStore(":memory:") as store:
        with pytest.raises(ImportAborted, match=f"b.jsonl:2: {TOO_DEEP}"):
            store.import_("claude-code", project / "b.jsonl", strict=True)
        assert store.verify().sessions == 0


@pytest.mark.parametrize(("fmt", "name", "text", "where"), [
    ("openai-chat", "chat.json",
     '[{"role": "user", "content": "hi"}, {"role": "user", "content": ' + deep(5000) + "}]",
     "item[1]"),
    ("openai-chat", "chat.jsonl",
     '{"messages": [{"role": "user", "content": "hi"}]}\n{"messages": ' + deep(5000) + "}\n",
     "2"),
    ("openhands", "events.json",
     '[{"source": "user", "action": "message", "message": "hi"}, {"action": "run", "args": '
     + deep(5000) + "}]", "item[1]"),
    ("openhands", "runs.jsonl",
     '{"history": []}\n{"history": [{"action": "run", "args": ' + deep(5000) + "}]}\n", "2"),
    ("swe-agent", "run.traj",
     '{"history": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x", '
     '"thought": ' + deep(5000) + "}], \"trajectory\": []}", "history.item[1]"),
])
def test_other_formats_skip_a_deep_record_too(tmp_path, fmt, name, text, where):
    path = tmp_path / name
    path.write_text(text)
    with SessionStore(":memory:") as store:
        report = store.import_(fmt, path)
        assert report.created and report.malformed == 1
        assert report.problems[0].startswith(f"{path}:{where}: {TOO_DEEP}")
        assert store.verify().ok and store.sessions()
        with pytest.raises(ImportAborted, match=TOO_DEEP):
            SessionStore(":memory:").import_(fmt, path, strict=True)


def test_deep_json_inside_a_text_field_stays_text(tmp_path):
    arguments = json.dumps(json.loads(deep(900)))
    path = tmp_path / "chat.json"
    path.write_text(json.dumps([{"role": "assistant", "content": "calling", "tool_calls": [
        {"id": "c1", "function": {"name": "f", "arguments": arguments}}]}]))
    traj = tmp_path / "run.traj"
    stats = "{'a': " * 300 + "1" + "}" * 300
    traj.write_text(json.dumps({"history": [], "info": {"model_stats": stats}}))
    with SessionStore(":memory:") as store:
        report = store.import_("openai-chat", path)
        assert report.malformed == 0
        assert store.state(report.created[0]).messages[0].tool_calls[0].arguments == arguments
        report = store.import_("swe-agent", traj)
        assert store.state(report.created[0]).metadata["model_stats"] == stats
        assert store.sessions()  # the read models can hold every stored value


def test_a_deep_line_in_an_export_is_refused_like_any_damaged_line(tmp_path):
    with SessionStore(":memory:") as source:
        sid = source.create_session("s", agent_id="main")
        out = io.StringIO()
        source.export(sid, out)
    header, line = out.getvalue().splitlines()
    path = tmp_path / "export.jsonl"
    path.write_text(header + "\n" + line[:-1] + ', "extra": ' + deep(5000) + "}\n")
    with SessionStore(":memory:") as target:
        report = target.import_("jsonl", path)
        assert report.created == [] and report.problems[0].startswith(f"{path}:2: {TOO_DEEP}")
