"""Malformed input: reported with file and line, skipped by default, fatal under strict;
a session is written whole or not at all; re-imports write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sessionstore import InvalidInput, SessionNotFound, SessionStore, UnsupportedFormat
from sessionstore.domain.status import SessionStatus, recovery_path
from sessionstore.importers import ImportAborted, session_uuid
from sessionstore.importers.core import ImportContext


def _line(kind: str, content, **extra) -> str:
    message = {"role": kind, "content": content, **extra.pop("message", {})}
    return json.dumps({"type": kind, "message": message,
                       "timestamp": "2026-01-01T10:00:00Z", **extra})


def _usage(out: int) -> dict:
    return {"input_tokens": 3, "cache_read_input_tokens": 10, "output_tokens": out}


@pytest.fixture
def transcript(tmp_path: Path) -> Path:
    path = tmp_path / "s1.jsonl"
    path.write_text("\n".join([
        _line("user", "fix the build"),
        "{not json",
        _line("assistant", [{"type": "text", "text": "looking"}],
              message={"id": "m1", "model": "claude-x", "usage": _usage(9)}),
        _line("assistant", [{"type": "tool_use", "id": "t1", "name": "Bash",
                             "input": {"command": "make"}}],
              message={"id": "m1", "model": "claude-x", "usage": _usage(299)}),
        _line("user", [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]),
        json.dumps({"type": "progress", "data": {}}),
    ]) + "\n")
    return path


def test_a_malformed_line_is_skipped_counted_and_located(store: SessionStore, transcript: Path):
    report = store.import_("claude-code", transcript)
    assert report.malformed == 1
    assert report.problems[0].startswith(f"{transcript}:2: not a JSON line")
    state = store.state(session_uuid("claude-code", "s1"))
    assert [m.role for m in state.messages] == ["user", "assistant", "assistant", "tool"]
    assert report.skipped == {"claude-code progress lines (tool progress updates)": 1}
    assert report.events == state.version


def test_usage_repeated_on_lines_of_one_response_is_counted_once(store, transcript):
    store.import_("claude-code", transcript)
    state = store.state(session_uuid("claude-code", "s1"))
    assert (state.counters.tokens_in, state.counters.tokens_out) == (13, 299)
    assert state.messages[3].tool_name == "Bash" and state.messages[3].tool_call_id == "t1"
    assert state.messages[2].tool_calls[0].arguments == {"command": "make"}


def test_strict_stops_at_the_line_and_writes_nothing_of_the_session(store, transcript):
    with pytest.raises(ImportAborted, match=f"{transcript}:2: not a JSON line"):
        store.import_("claude-code", transcript, strict=True)
    with pytest.raises(SessionNotFound):
        store.state(session_uuid("claude-code", "s1"))
    assert store.verify().events == 0


def test_a_record_the_domain_refuses_is_reported_not_fatal(store, tmp_path):
    path = tmp_path / "chat.json"
    path.write_text(json.dumps([{"role": "user", "content": "hi"}, {"role": "robot"},
                                {"role": "assistant", "content": "hello"}]))
    report = store.import_("openai-chat", path)
    assert report.malformed == 1 and f"{path}:item[1]" in report.problems[0]
    state = store.state(session_uuid("openai-chat", "chat.json"))
    assert [m.content for m in state.messages] == ["hi", "hello"]


def test_unknown_format_and_missing_path_are_clear_errors(store, tmp_path):
    with pytest.raises(UnsupportedFormat, match="use one of: claude-code"):
        store.import_("markdown", tmp_path)
    with pytest.raises(InvalidInput, match="no such file or folder"):
        store.import_("swe-agent", tmp_path / "missing.traj")


def test_broken_json_array_is_reported_and_what_came_before_kept(store, tmp_path):
    path = tmp_path / "events.json"
    path.write_text('[{"id": 0, "source": "user", "action": "message", "message": "hi"}, {"id": ')
    report = store.import_("openhands", path)
    assert report.malformed == 1
    assert report.problems[0].startswith(f"{path}:item[1]: malformed JSON")
    state = store.state(session_uuid("openhands", "events.json"))
    assert [m.content for m in state.messages] == ["hi"]


def test_reimport_reports_existing_and_adds_no_event(store, transcript):
    first = store.import_("claude-code", transcript)
    version = store.current_version(first.created[0])
    again = store.import_("claude-code", transcript)
    assert again.created == [] and again.existing == first.created
    assert store.current_version(first.created[0]) == version


def test_a_failure_half_way_leaves_no_part_of_the_session(store, transcript, monkeypatch):
    from sessionstore import BackendError

    real = store.add_message
    calls = []

    def failing(*args, **kwargs):
        calls.append(args)
        if len(calls) == 3:
            raise BackendError("the database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "add_message", failing)
    with pytest.raises(BackendError):
        store.import_("claude-code", transcript)
    monkeypatch.undo()
    with pytest.raises(SessionNotFound):
        store.state(session_uuid("claude-code", "s1"))
    assert store.verify().events == 0
    assert len(store.import_("claude-code", transcript).created) == 1  # a retry works


def test_source_facts_that_cannot_start_a_session_are_reported(store, tmp_path):
    path = tmp_path / "odd.jsonl"
    path.write_text(json.dumps({"type": "user", "cwd": ["not", "a", "path"],
                                "message": {"role": "user", "content": "hi"}}) + "\n")
    report = store.import_("claude-code", path)
    assert report.created == [] and report.malformed == 1
    assert report.problems[0].startswith(f"{path}: cannot start a session from it")
    with pytest.raises(ImportAborted, match="cannot start a session"):
        store.import_("claude-code", path, strict=True)


def test_a_source_s_error_then_idle_recovers_through_the_status_machine() -> None:
    with SessionStore(":memory:") as store:
        ctx = ImportContext(store)
        with ctx.session("test", "s1", "here", name="s1") as writer:
            assert writer is not None
            writer.status("error", "here")
            writer.status("idle", "here")  # error -> recovering -> active -> idle
        session_id = writer.session_id
        moves = [(e.data["from_status"], e.data["to_status"])
                 for e in store.events(session_id) if e.type == "StatusChanged"]
        assert moves[-3:] == [("error", "recovering"), ("recovering", "active"),
                              ("active", "idle")]
        assert store.state(session_id).status == "idle" and ctx.report.skipped == {}


@pytest.mark.parametrize(("start", "target", "path"), [
    ("active", "idle", ["idle"]),
    ("error", "idle", ["recovering", "active", "idle"]),
    ("error", "active", ["recovering", "active"]),
    ("error", "stopped", ["stopped"]),
    ("completed", "active", None),
    ("terminating", "idle", None),
])
def test_recovery_path_passes_only_through_recovering_and_active(
    start: str, target: str, path: list[str] | None
) -> None:
    found = recovery_path(SessionStatus(start), SessionStatus(target))
    assert (None if found is None else [s.value for s in found]) == path
