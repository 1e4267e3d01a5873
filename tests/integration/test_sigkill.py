"""A process killed with SIGKILL mid-stream loses no committed event."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from sessionstore import SessionStore

WRITER = textwrap.dedent(
    """
    import sys
    from sessionstore import SessionStore
    store = SessionStore(sys.argv[1], durability="full")
    sid = sys.argv[2]
    i = 0
    while True:
        i += 1
        if i % 7 == 0:
            with store.batch():
                for _ in range(5):
                    version = store.add_message(sid, "assistant", "batched " * 40)
        else:
            version = store.add_message(sid, "user", f"message {i} " * 40)
        print(version, flush=True)   # printed only after the commit returned
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [25, 180])
def test_sigkill_mid_stream_loses_no_committed_event(db_path: str, kill_after: int) -> None:
    with SessionStore(db_path) as store:
        sid = store.create_session("crash", agent_id="main")
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, db_path, sid], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    committed = 0
    for _ in range(kill_after):
        committed = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    with SessionStore(db_path) as store:
        report = store.verify()
        assert report.ok, report.problems
        versions = [e.version for e in store.events(sid)]
        assert versions == list(range(1, len(versions) + 1))  # contiguous
        assert versions[-1] >= committed  # every acknowledged commit survived
        assert store.state(sid).version == versions[-1]
        # And the log takes appends again at the next version.
        assert store.add_message(sid, "user", "after the crash") == versions[-1] + 1
