"""Whatever the lines of a transcript hold, an import reports them; it never crashes."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sessionstore import SessionStore
from sessionstore.importers import session_uuid
from tests.strategies import json_value, text

valid = st.sampled_from([
    {"type": "user", "message": {"role": "user", "content": "hello"}},
    {"type": "assistant", "message": {"id": "m1", "content": [{"type": "text", "text": "hi"}]}},
    {"type": "progress", "data": {}},
])
# A JSON value that is a record of no known type, or not a record at all.
foreign = json_value.filter(lambda v: not (isinstance(v, dict) and "type" in v))
line = st.one_of(
    valid.map(lambda v: ("ok", json.dumps(v))),
    foreign.map(lambda v: ("object" if isinstance(v, dict) else "bad", json.dumps(v))),
    text.filter(lambda t: t.strip() and not _is_json(t)).map(lambda t: ("bad", t)),
)


def _is_json(value: str) -> bool:
    try:
        json.loads(value)
    except ValueError:
        return False
    return True


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(line, max_size=25))
def test_every_line_is_imported_ignored_or_reported(lines):
    with tempfile.TemporaryDirectory() as folder, SessionStore(":memory:") as store:
        path = Path(folder) / "fuzz.jsonl"
        path.write_text("\n".join(t.replace("\n", " ") for _, t in lines) + "\n")
        report = store.import_("claude-code", path)
        messages = sum(1 for _, t in lines
                       if t.startswith('{"type": "user"') or t.startswith('{"type": "ass'))
        if not messages:  # not a conversation: the file is skipped whole, no session
            assert report.created == [] and report.malformed == 0
            assert len(report.skipped_files) == 1 and report.skipped_files[0].startswith(
                f"{path}: ")
            return
        state = store.state(session_uuid("claude-code", "fuzz"))
    kinds = [k for k, _ in lines]
    assert report.malformed == kinds.count("bad")
    assert state.counters.messages == messages
    assert sum(report.skipped.values()) == kinds.count("object") + sum(
        1 for _, t in lines if t.startswith('{"type": "progress"'))


block = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "thinking", "tool_use", "tool_result", "image", "x"])},
    optional={"text": json_value, "thinking": json_value, "id": json_value,
              "name": json_value, "input": json_value, "tool_use_id": json_value,
              "content": json_value, "is_error": json_value},
)
odd_record = st.fixed_dictionaries(
    {"type": st.sampled_from(["user", "assistant", "system"])},
    optional={"message": st.fixed_dictionaries({}, optional={
        "content": st.one_of(json_value, st.lists(block, max_size=3)),
        "id": json_value, "model": json_value,
        "usage": st.dictionaries(st.sampled_from(["input_tokens", "output_tokens"]), json_value),
    }), "timestamp": json_value, "subtype": json_value, "isMeta": json_value},
)


@settings(max_examples=50, deadline=None)
@given(records=st.lists(odd_record, min_size=1, max_size=12))
def test_odd_records_are_written_or_reported_and_the_log_stays_sound(records):
    with tempfile.TemporaryDirectory() as folder, SessionStore(":memory:") as store:
        path = Path(folder) / "odd.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
        report = store.import_("claude-code", path)
        if report.created:  # else the facts could not start a session, and that was reported
            state = store.state(report.created[0])
            assert report.events == state.version
            assert state.counters.tokens_in >= 0 and state.counters.tokens_out >= 0
        elif all(r["type"] == "system" for r in records):  # no messages: nothing to import
            assert report.skipped_files and report.malformed == 0
        else:
            assert report.problems[0].startswith(f"{path}: cannot start a session")
        assert store.verify().ok
        assert all(p.startswith(str(path)) and "\n" not in p for p in report.problems)


chat_message = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant", "tool", "developer", "robot"])},
    optional={"content": json_value, "tool_calls": st.one_of(json_value, st.lists(
        st.fixed_dictionaries({}, optional={"id": json_value, "function": st.one_of(
            json_value, st.fixed_dictionaries({}, optional={"name": json_value,
                                                            "arguments": json_value}))}),
        max_size=2)), "name": json_value, "tool_call_id": json_value, "usage": json_value},
)


@settings(max_examples=50, deadline=None)
@given(messages=st.lists(chat_message, min_size=1, max_size=10))
def test_odd_chat_messages_are_written_or_reported(messages):
    with tempfile.TemporaryDirectory() as folder, SessionStore(":memory:") as store:
        path = Path(folder) / "chat.json"
        try:  # a source file is standard JSON: no Infinity (ijson rightly refuses it)
            path.write_text(json.dumps(messages, allow_nan=False))
        except ValueError:
            assume(False)
        report = store.import_("openai-chat", path)
        state = store.state(report.created[0])
        assert state.counters.messages + report.malformed == len(messages)
        assert report.events == state.version and store.verify().ok
