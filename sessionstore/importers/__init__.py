"""Real transcript formats -> sessions, and sessionstore's own JSONL export and re-import.

``FORMATS`` maps a format name to its importer: a function that reads the given files or
folders as streams and writes sessions through an ``ImportContext``.
"""

from __future__ import annotations

from collections.abc import Callable

from .claude_code import import_claude_code
from .core import ImportAborted, ImportContext, ImportReport, session_uuid
from .jsonl import import_export
from .openai_chat import import_openai_chat
from .openhands import import_openhands
from .swe_agent import import_swe_agent

Importer = Callable[[ImportContext, list[str]], None]

FORMATS: dict[str, Importer] = {
    "claude-code": import_claude_code,
    "swe-agent": import_swe_agent,
    "openai-chat": import_openai_chat,
    "openhands": import_openhands,
    "jsonl": import_export,
}

__all__ = ["FORMATS", "ImportAborted", "ImportContext", "ImportReport", "Importer", "session_uuid"]
