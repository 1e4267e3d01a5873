"""Whatever the lines of a transcript hold, an import reports them; it never crashes."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
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
        state = store.state(session_uuid("claude-code", "fuzz"))
    kinds = [k for k, _ in lines]
    assert report.malformed == kinds.count("bad")
    assert state.counters.messages == sum(
        1 for _, t in lines if t.startswith('{"type": "user"') or t.startswith('{"type": "ass'))
    assert sum(report.skipped.values()) == kinds.count("object") + sum(
        1 for _, t in lines if t.startswith('{"type": "progress"'))
