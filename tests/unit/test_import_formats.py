"""Format details the samples do not cover: JSONL chat records, OpenHands state changes,
plain message lists streamed as one session."""

from __future__ import annotations

import json

from sessionstore import SessionStore
from sessionstore.importers import session_uuid


def test_openai_chat_jsonl_holds_one_record_per_line(store: SessionStore, tmp_path):
    path = tmp_path / "runs.jsonl"
    calls = [{"id": "c1", "type": "function",
              "function": {"name": "lookup", "arguments": '{"q": "x"}'}}]
    path.write_text("\n".join(json.dumps(r) for r in [
        {"messages": [{"role": "developer", "content": "be brief"},
                      {"role": "assistant", "content": None, "tool_calls": calls,
                       "usage": {"prompt_tokens": 11, "completion_tokens": 4}, "id": "r1"},
                      {"role": "tool", "tool_call_id": "c1", "name": "lookup", "content": "y"}]},
        [{"role": "user", "content": [{"type": "text", "text": "part one"},
                                      {"type": "image_url", "image_url": {"url": "u"}}]}],
    ]) + "\n")
    report = store.import_("openai-chat", path)
    assert report.malformed == 0 and len(report.created) == 2
    first = store.state(session_uuid("openai-chat", "runs.jsonl#1"))
    assert [m.role for m in first.messages] == ["system", "assistant", "tool"]
    assert first.messages[1].tool_calls[0].arguments == {"q": "x"}
    assert (first.counters.tokens_in, first.counters.tokens_out) == (11, 4)
    assert first.messages[2].tool_name == "lookup" and first.messages[2].tool_call_id == "c1"
    second = store.state(session_uuid("openai-chat", "runs.jsonl#2"))
    assert second.messages[0].content == "part one\n[image]"


def test_openhands_state_changes_become_status_changes(store: SessionStore, tmp_path):
    events = [
        {"id": 0, "source": "user", "action": "message", "message": "go",
         "timestamp": "2025-01-01T00:00:00"},
        {"id": 1, "source": "environment", "observation": "agent_state_changed",
         "extras": {"agent_state": "error"}},
        {"id": 2, "source": "environment", "observation": "agent_state_changed",
         "extras": {"agent_state": "running"}},
        {"id": 3, "source": "environment", "observation": "agent_state_changed",
         "extras": {"agent_state": "awaiting_user_input"}},
    ]
    path = tmp_path / "run.json"
    path.write_text(json.dumps(events))
    report = store.import_("openhands", path)
    assert report.skipped == {}  # every state change was a valid move
    sid = session_uuid("openhands", "run.json")
    moves = [(e.data["from_status"], e.data["to_status"]) for e in store.events(sid)
             if e.type == "StatusChanged"]
    assert [(str(a), str(b)) for a, b in moves] == [
        ("created", "active"), ("active", "error"), ("error", "recovering"),
        ("recovering", "active"), ("active", "idle")]
    state = store.state(sid)
    assert state.messages[0].occurred_at.isoformat() == "2025-01-01T00:00:00+00:00"


def test_a_finish_after_an_error_recovers_then_completes(store: SessionStore, tmp_path):
    events = [
        {"id": 0, "source": "user", "action": "message", "message": "go"},
        {"id": 1, "observation": "agent_state_changed", "extras": {"agent_state": "error"}},
        {"id": 2, "source": "agent", "action": "finish", "message": "done anyway"},
    ]
    path = tmp_path / "late.json"
    path.write_text(json.dumps(events))
    report = store.import_("openhands", path)
    assert report.malformed == 0
    state = store.state(session_uuid("openhands", "late.json"))
    assert state.status == "completed" and state.result == "done anyway"
