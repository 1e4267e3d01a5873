"""A real multi-agent session, end to end: what ``sessionstore demo`` records.

A main orchestrator session triages a failing build with two sub-agent sessions (a
researcher and a fixer). Agents join and change status, tasks start and complete, tools are
called, statuses move through the machine and every session completes.
"""

from __future__ import annotations

from dataclasses import dataclass

from .store import SessionStore


@dataclass(frozen=True)
class DemoResult:
    main_id: str
    child_ids: tuple[str, str]


def _sub_agent(
    store: SessionStore,
    parent: str,
    name: str,
    question: str,
    answer: str,
    tool: str,
    tool_args: dict[str, str],
    tool_output: str,
) -> str:
    sid = store.create_session(
        name, kind="subagent", agent_id=name, parent_id=parent, task=question, max_agents=2
    )
    store.change_status(sid, "initializing")
    store.change_status(sid, "active")
    store.add_message(sid, "system", f"You are the {name} sub-agent. Answer briefly.")
    store.add_message(sid, "user", question, tokens_in=42)
    call_id = f"call_{name}_1"
    store.add_message(
        sid,
        "assistant",
        f"Running {tool}.",
        model="demo-model",
        tool_calls=[{"id": call_id, "name": tool, "arguments": tool_args}],
        tokens_in=120,
        tokens_out=18,
    )
    store.add_message(sid, "tool", tool_output, tool_name=tool, tool_call_id=call_id)
    store.add_message(sid, "assistant", answer, model="demo-model", tokens_in=260, tokens_out=55)
    store.complete(sid, result=answer)
    return sid


def run_demo(store: SessionStore) -> DemoResult:
    main = store.create_session(
        "triage red build",
        agent_id="orchestrator",
        label="demo",
        task="Find and fix why CI is red",
        project_dir="/srv/app",
        max_agents=3,
        metadata={"ticket": "OPS-1432"},
    )
    store.change_status(main, "initializing")
    store.change_status(main, "active")
    store.add_message(
        main, "user", "CI has been red since this morning. Please fix it.", tokens_in=15
    )
    for agent in ("researcher", "fixer"):
        store.add_agent(main, agent, name=agent.title(), role=agent)
        store.change_agent_status(main, agent, "active")
    store.start_task(main, "t1", agent_id="researcher", description="find the failing test")
    store.change_agent_status(main, "researcher", "busy")
    research = _sub_agent(
        store,
        main,
        "researcher",
        "Which test fails and why?",
        "test_invoice_totals fails: rounding changed in money.py",
        "bash",
        {"cmd": "pytest -x -q"},
        "FAILED tests/test_invoice.py::test_invoice_totals - 10.01 != 10.00",
    )
    store.complete_task(main, "t1", outcome="test_invoice_totals: rounding in money.py", tokens=495)
    store.change_agent_status(main, "researcher", "idle")
    store.change_status(main, "idle", reason="waiting for the fixer")
    store.change_status(main, "active")
    store.start_task(main, "t2", agent_id="fixer", description="fix rounding")
    fix = _sub_agent(
        store,
        main,
        "fixer",
        "Fix the rounding in money.py",
        "Use Decimal.quantize with ROUND_HALF_UP; the test passes.",
        "edit_file",
        {"path": "money.py", "patch": "quantize(ROUND_HALF_UP)"},
        "money.py: 1 line changed",
    )
    store.complete_task(main, "t2", outcome="patched money.py", tokens=495)
    store.add_message(
        main,
        "assistant",
        "Fixed: rounding now uses ROUND_HALF_UP. CI is green.",
        agent_id="orchestrator",
        model="demo-model",
        tokens_in=900,
        tokens_out=40,
    )
    for agent in ("researcher", "fixer"):
        store.change_agent_status(main, agent, "stopped")
    store.complete(main, result="CI green: money.py rounding fixed")
    return DemoResult(main, (research, fix))
