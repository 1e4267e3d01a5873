"""LangGraph's ``SqliteSaver``: a thread whose state is a ``messages`` list, one invoke per message.

The graph is the smallest that checkpoints a conversation: ``MessagesState`` (the documented
default, with the ``add_messages`` reducer) and one node that adds nothing. Every invoke
writes checkpoints that hold the whole list, so appends cost O(N) each.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import START, MessagesState, StateGraph

from .base import Adapter, Message

THREAD: Any = {"configurable": {"thread_id": "main"}}
_SYNC = {"full": "FULL", "normal": "NORMAL"}


def _noop(state: MessagesState) -> dict[str, Any]:
    return {}


def as_langchain(message: Message) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "content": message.content, "tool_call_id": message.tool_call_id,
                "name": message.tool_name}
    return {"role": message.role, "content": message.content}


class LangGraphSaver(Adapter):
    name = "langgraph"
    max_n = 500
    notes = {  # noqa: RUF012
        "append_batch": "one invoke with 100 messages",
        "read_all": "graph.get_state(): loads the latest checkpoint",
        "read_last": "graph.get_state(): loads the latest checkpoint",
        "time_travel": "get_state(config of the checkpoint after message k)",
        "fork": "update_state(config of the checkpoint after message k)",
    }

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.at_message: dict[int, Any] = {}
        self.count = 0

    def open(self) -> None:
        self.conn = sqlite3.connect(self.folder / "langgraph.db", check_same_thread=False)
        self.saver = SqliteSaver(self.conn)
        self.saver.setup()
        self.conn.execute(f"PRAGMA synchronous={_SYNC[self.durability]}")
        builder = StateGraph(MessagesState)
        builder.add_node("noop", _noop)
        builder.add_edge(START, "noop")
        self.graph = builder.compile(checkpointer=self.saver)

    def close(self) -> None:
        self.conn.close()

    def _invoke(self, messages: Sequence[Message]) -> None:
        update: Any = {"messages": [as_langchain(m) for m in messages]}
        self.graph.invoke(update, THREAD)
        self.count += len(messages)
        # Remember where each message count's checkpoint is, for time travel and forks.
        self.at_message[self.count] = self.graph.get_state(THREAD).config

    def append_one(self, message: Message) -> None:
        self._invoke([message])

    def append_batch(self, messages: Sequence[Message]) -> None:
        self._invoke(messages)

    def read_all(self) -> int:
        return len(self.graph.get_state(THREAD).values["messages"])

    def read_last(self, k: int) -> int:
        return len(self.graph.get_state(THREAD).values["messages"][-k:])

    def time_travel(self, k: int) -> int:
        return len(self.graph.get_state(self.at_message[k]).values["messages"])

    def fork(self, k: int) -> None:
        self.graph.update_state(self.at_message[k], {"messages": []})
