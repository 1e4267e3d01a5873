"""Write commands: ``create``, ``message``, ``agent`` (add, remove, status), ``status``,
``complete``, ``label``, ``task`` (start, done) and ``compact``. Each prints the new version."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from ..domain.errors import InvalidInput
from ..store import SessionStore
from . import main
from .common import CliContext, console, emit, pass_cli

expected_option = click.option(
    "--expect", "expected_version", type=click.IntRange(min=1), default=None,
    help="Write only if the session is at this version (else exit 5, nothing written).",
)


def _write(
    cli: CliContext, session_id: str, what: str, write: Callable[[SessionStore], int]
) -> None:
    with cli.store() as store:
        version = write(store)
    emit(cli, {"session_id": session_id, "version": version},
         lambda: console.print(f"{what}: session {session_id} is at version {version}",
                               soft_wrap=True))


def _json_arg(value: str | None, name: str) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError as e:
        raise InvalidInput(f"{name} must be JSON ({e})") from None
    except RecursionError:  # the parser recurses once per level of nesting
        raise InvalidInput(f"{name} is nested too deeply to store; flatten it") from None


@main.command()
@click.argument("name")
@click.option("--kind", default="main", show_default=True, help="main, subagent or cron.")
@click.option("--agent", "agent_id", help="The session's own agent id.")
@click.option("--parent", "parent_id", help="Parent session id (for sub-agents).")
@click.option("--label", help="A free label.")
@click.option("--task", help="What the session is for.")
@click.option("--project-dir", help="The project folder the session works in.")
@click.option("--max-agents", type=int, default=8, show_default=True,
              help="How many agents the session may hold at once.")
@click.option("--metadata", help='JSON object, e.g. \'{"team": "infra"}\'.')
@click.option("--id", "session_id", help="Use this UUID instead of a new one.")
@pass_cli
def create(cli: CliContext, name: str, kind: str, agent_id: str | None, parent_id: str | None,
           label: str | None, task: str | None, project_dir: str | None, max_agents: int,
           metadata: str | None, session_id: str | None) -> None:
    """Create a session named NAME and print its id.

    \b
    Example:
      sessionstore create triage --agent main --max-agents 4
      sessionstore --json create researcher --kind subagent --parent 7f1c1e9e-...
    """
    meta = _json_arg(metadata, "--metadata")
    with cli.store() as store:
        new_id = store.create_session(
            name, kind=kind, agent_id=agent_id, parent_id=parent_id, label=label, task=task,
            project_dir=project_dir, max_agents=max_agents, metadata=meta,
            session_id=session_id)
    emit(cli, {"session_id": new_id, "version": 1}, lambda: console.print(new_id))


@main.command()
@click.argument("session_id")
@click.argument("role", type=click.Choice(["system", "user", "assistant", "tool"]))
@click.argument("content")
@click.option("--agent", "agent_id", help="The agent that speaks (must be in the session).")
@click.option("--tool-calls", help='JSON list, e.g. \'[{"name": "bash", "arguments": {}}]\'.')
@click.option("--tool-name", help="For a tool message: the tool that answered.")
@click.option("--tool-call-id", help="For a tool message: the call it answers.")
@click.option("--model", help="The model that wrote the message.")
@click.option("--tokens-in", type=int, help="Tokens the model read for this message.")
@click.option("--tokens-out", type=int, help="Tokens the model wrote for this message.")
@expected_option
@pass_cli
def message(cli: CliContext, session_id: str, role: str, content: str, agent_id: str | None,
            tool_calls: str | None, tool_name: str | None, tool_call_id: str | None,
            model: str | None, tokens_in: int | None, tokens_out: int | None,
            expected_version: int | None) -> None:
    """Add a message with ROLE and CONTENT to SESSION_ID.

    \b
    Example:
      sessionstore message 7f1c1e9e-... user "Why is CI red?" --tokens-in 12
      sessionstore message 7f1c1e9e-... tool "3 passed" --tool-name bash --tool-call-id c1
    """
    calls = _json_arg(tool_calls, "--tool-calls")
    _write(cli, session_id, "message added", lambda s: s.add_message(
        session_id, role, content, tool_calls=calls, tool_name=tool_name,
        tool_call_id=tool_call_id, agent_id=agent_id, model=model, tokens_in=tokens_in,
        tokens_out=tokens_out, expected_version=expected_version))


@main.group()
def agent() -> None:
    """Add, remove or change the status of an agent in a session.

    \b
    Example:
      sessionstore agent add 7f1c1e9e-... researcher --role research
      sessionstore agent status 7f1c1e9e-... researcher busy
    """


@agent.command("add")
@click.argument("session_id")
@click.argument("agent_id")
@click.option("--name", help="A display name.")
@click.option("--role", help="What the agent does.")
@expected_option
@pass_cli
def agent_add(cli: CliContext, session_id: str, agent_id: str, name: str | None,
              role: str | None, expected_version: int | None) -> None:
    """Add AGENT_ID to SESSION_ID (exit 4 if the session is full or the id is taken).

    \b
    Example:
      sessionstore agent add 7f1c1e9e-... researcher --role research
    """
    _write(cli, session_id, "agent added", lambda s: s.add_agent(
        session_id, agent_id, name=name, role=role, expected_version=expected_version))


@agent.command("remove")
@click.argument("session_id")
@click.argument("agent_id")
@click.option("--reason", help="Why the agent leaves.")
@expected_option
@pass_cli
def agent_remove(cli: CliContext, session_id: str, agent_id: str, reason: str | None,
                 expected_version: int | None) -> None:
    """Remove AGENT_ID from SESSION_ID.

    \b
    Example:
      sessionstore agent remove 7f1c1e9e-... researcher --reason "done"
    """
    _write(cli, session_id, "agent removed", lambda s: s.remove_agent(
        session_id, agent_id, reason=reason, expected_version=expected_version))


@agent.command("status")
@click.argument("session_id")
@click.argument("agent_id")
@click.argument("status", type=click.Choice(
    ["starting", "active", "idle", "busy", "error", "stopped"]))
@expected_option
@pass_cli
def agent_status(cli: CliContext, session_id: str, agent_id: str, status: str,
                 expected_version: int | None) -> None:
    """Change AGENT_ID's status in SESSION_ID.

    \b
    Example:
      sessionstore agent status 7f1c1e9e-... researcher busy
    """
    _write(cli, session_id, "agent status changed", lambda s: s.change_agent_status(
        session_id, agent_id, status, expected_version=expected_version))


@main.command()
@click.argument("session_id")
@click.argument("status")
@click.option("--reason", help="Why the status changes.")
@expected_option
@pass_cli
def status(cli: CliContext, session_id: str, status: str, reason: str | None,
           expected_version: int | None) -> None:
    """Move SESSION_ID to STATUS (exit 4 if the status machine refuses the move).

    Statuses: created, initializing, active, idle, completed, timeout, stopped, error,
    recovering, terminating, terminated.

    \b
    Example:
      sessionstore status 7f1c1e9e-... active
      sessionstore status 7f1c1e9e-... error --reason "tool crashed"
    """
    _write(cli, session_id, f"status {status}", lambda s: s.change_status(
        session_id, status, reason=reason, expected_version=expected_version))


@main.command()
@click.argument("session_id")
@click.option("--result", help="What the session produced.")
@expected_option
@pass_cli
def complete(cli: CliContext, session_id: str, result: str | None,
             expected_version: int | None) -> None:
    """Complete SESSION_ID (it must be active or idle).

    \b
    Example:
      sessionstore complete 7f1c1e9e-... --result "fixed the flaky test"
    """
    _write(cli, session_id, "completed", lambda s: s.complete(
        session_id, result=result, expected_version=expected_version))


@main.command()
@click.argument("session_id")
@click.argument("label", required=False)
@expected_option
@pass_cli
def label(cli: CliContext, session_id: str, label: str | None,
          expected_version: int | None) -> None:
    """Set SESSION_ID's label (no LABEL clears it).

    \b
    Example:
      sessionstore label 7f1c1e9e-... needs-review
    """
    _write(cli, session_id, "label set", lambda s: s.set_label(
        session_id, label, expected_version=expected_version))


@main.group()
def task() -> None:
    """Start or finish a task in a session.

    \b
    Example:
      sessionstore task start 7f1c1e9e-... t1 --description "run the tests"
      sessionstore task done 7f1c1e9e-... t1 --outcome "3 passed" --tokens 120
    """


@task.command("start")
@click.argument("session_id")
@click.argument("task_id")
@click.option("--agent", "agent_id", help="The agent doing the task.")
@click.option("--description", help="What the task is.")
@expected_option
@pass_cli
def task_start(cli: CliContext, session_id: str, task_id: str, agent_id: str | None,
               description: str | None, expected_version: int | None) -> None:
    """Start TASK_ID in SESSION_ID.

    \b
    Example:
      sessionstore task start 7f1c1e9e-... t1 --agent researcher --description "search"
    """
    _write(cli, session_id, "task started", lambda s: s.start_task(
        session_id, task_id, agent_id=agent_id, description=description,
        expected_version=expected_version))


@task.command("done")
@click.argument("session_id")
@click.argument("task_id")
@click.option("--outcome", help="What came of it.")
@click.option("--tokens", type=int, help="Tokens the task used.")
@expected_option
@pass_cli
def task_done(cli: CliContext, session_id: str, task_id: str, outcome: str | None,
              tokens: int | None, expected_version: int | None) -> None:
    """Complete TASK_ID in SESSION_ID.

    \b
    Example:
      sessionstore task done 7f1c1e9e-... t1 --outcome "3 passed" --tokens 120
    """
    _write(cli, session_id, "task completed", lambda s: s.complete_task(
        session_id, task_id, outcome=outcome, tokens=tokens, expected_version=expected_version))


@main.command()
@click.argument("session_id")
@click.option("--trigger", help="What compacted the context (auto, manual, ...).")
@click.option("--tokens-before", type=int, help="Context size before compaction.")
@click.option("--summary", help="The summary that replaced the earlier context.")
@expected_option
@pass_cli
def compact(cli: CliContext, session_id: str, trigger: str | None, tokens_before: int | None,
            summary: str | None, expected_version: int | None) -> None:
    """Record that SESSION_ID's agent context was compacted (earlier messages stay in the log).

    \b
    Example:
      sessionstore compact 7f1c1e9e-... --trigger auto --tokens-before 170251
    """
    _write(cli, session_id, "compaction recorded", lambda s: s.record_compaction(
        session_id, trigger=trigger, tokens_before=tokens_before, summary=summary,
        expected_version=expected_version))
