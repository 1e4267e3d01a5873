"""Every value the API accepts in metadata and tool-call arguments survives export -> import:
the same events, the same hashes. JSON has no bytes or datetimes: the export names them."""

from __future__ import annotations

import io
import json
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionstore import SessionStore

text = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
offsets = st.timedeltas(min_value=timedelta(hours=-23, minutes=-59),
                        max_value=timedelta(hours=23, minutes=59)).map(timezone)
# Years 2-9998: any offset still converts to UTC (the store keeps instants).
aware = st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31),
                     timezones=offsets)
# NaN and infinities are refused at input (not JSON numbers), so they are left out here.
leaf = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | text
        | st.floats(allow_nan=False, allow_infinity=False) | st.binary(max_size=20) | aware)
value = st.recursive(leaf, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(text, inner, max_size=3), max_leaves=12)
metadata = st.dictionaries(text, value, max_size=4)


def _round_trip(source: SessionStore, sid: str) -> SessionStore:
    out = io.StringIO()
    source.export(sid, out)
    target = SessionStore(":memory:")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.jsonl"
        path.write_text(out.getvalue(), encoding="utf-8")
        report = target.import_("jsonl", path)
    assert report.problems == [] and report.created == [sid]
    return target


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(session_meta=metadata, message_meta=metadata, agent_meta=metadata, arguments=value)
def test_export_then_import_gives_the_same_events_and_hashes(session_meta, message_meta,
                                                             agent_meta, arguments):
    with SessionStore(":memory:") as source:
        sid = source.create_session("values", agent_id="main", metadata=session_meta)
        source.add_agent(sid, "helper", metadata=agent_meta)
        source.add_message(sid, "assistant", "calling", metadata=message_meta,
                           tool_calls=[{"id": "c1", "name": "tool", "arguments": arguments}])
        with _round_trip(source, sid) as target:
            assert [(e.type, e.version, e.data, e.hash) for e in target.events(sid)] == [
                (e.type, e.version, e.data, e.hash) for e in source.events(sid)]
            assert target.state(sid).model_dump() == source.state(sid).model_dump()
            assert target.verify().ok


def test_bytes_and_datetimes_are_named_in_the_line_and_come_back_exact(tmp_path):
    moment = datetime(2020, 1, 1, tzinfo=UTC)
    with SessionStore(":memory:") as source:
        sid = source.create_session("dt", metadata={"dt": moment, "b": b"\x00\xff",
                                                    "a/b~c": [1, b"x"]})
        out = io.StringIO()
        source.export(sid, out)
        created = json.loads(out.getvalue().splitlines()[1])
        assert created["types"] == {"/metadata/dt": "datetime", "/metadata/b": "bytes",
                                    "/metadata/a~1b~0c/1": "bytes"}
        assert created["data"]["metadata"]["b"] == "AP8="  # base64
        with _round_trip(source, sid) as target:
            meta: dict[str, Any] = target.state(sid).metadata
            assert meta == {"dt": moment, "b": b"\x00\xff", "a/b~c": [1, b"x"]}


def test_a_types_entry_that_names_nothing_is_reported(tmp_path):
    with SessionStore(":memory:") as source:
        sid = source.create_session("b", metadata={"b": b"\x00"})
        out = io.StringIO()
        source.export(sid, out)
    header, line = out.getvalue().splitlines()
    event = json.loads(line)
    for types, problem in (({"/metadata/nope": "bytes"}, "which is not in data"),
                           ({"/metadata/b": "complex"}, "known: bytes, datetime"),
                           ({"/name": "bytes"}, "cannot be read")):
        path = tmp_path / "altered.jsonl"
        path.write_text(header + "\n" + json.dumps({**event, "types": types}) + "\n")
        with SessionStore(":memory:") as target:
            report = target.import_("jsonl", path)
            assert report.created == [] and problem in report.problems[0]
