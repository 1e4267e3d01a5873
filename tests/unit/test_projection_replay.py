"""The read models of sessions made with the replay API: checkpoints, forks and what-if."""

from __future__ import annotations

from sessionstore import SessionStore
from sessionstore.domain.events import Event, MessageAdded

from .test_projection_support import snapshot


def chat(store: SessionStore) -> str:
    sid = store.create_session("chat", agent_id="main")
    store.change_status(sid, "active")
    for i in range(4):
        store.add_message(sid, "user" if i % 2 == 0 else "assistant", f"turn {i}",
                          tokens_in=10)
    return sid


def test_a_fork_at_a_checkpoint_shows_its_lineage_history_and_checkpoint() -> None:
    with SessionStore(":memory:") as store:
        parent = chat(store)  # versions 1..6
        cp = store.checkpoint(parent, label="before the answer")
        store.add_message(parent, "user", "parent goes on")
        child = store.fork(parent, checkpoint=cp, reason="another answer")
        store.add_message(child, "assistant", "a different answer")

        assert [m["content"] for m in store.history(child)] == [
            "turn 0", "turn 1", "turn 2", "turn 3", "a different answer"]
        [link] = store.views_db.query("SELECT * FROM lineage")
        assert (link["session_id"], link["parent_id"], link["checkpoint_id"]) == (
            child, parent, cp)
        checkpoints = list(store.views_db.query(
            "SELECT checkpoint_id, label FROM checkpoints WHERE session_id = ?", [parent]))
        assert {"checkpoint_id": cp, "label": "before the answer"} in checkpoints
        assert [c["id"] for c in store.children(parent)] == [child]
        row, state = store.session(child), store.state(child)
        assert (row["messages"], row["tokens_in"], row["status"]) == (
            state.counters.messages, state.counters.tokens_in, state.status.value)


def test_whatif_branches_project_like_any_session_and_rebuild_the_same() -> None:
    with SessionStore(":memory:") as store:
        parent = chat(store)

        def shout(event: Event) -> list[Event]:
            if isinstance(event, MessageAdded):
                return [event.model_copy(update={"content": event.content.upper()})]
            return [event]

        branch = store.whatif(parent, at_version=3, transform=shout)
        assert [m["content"] for m in store.history(branch)] == [
            "turn 0", "TURN 1", "TURN 2", "TURN 3"]
        assert [h["session_id"] for h in store.search("turn", session_id=branch)] != []
        incremental = snapshot(store.views_db)
        store.rebuild()
        assert snapshot(store.views_db) == incremental
