"""Reading import sources: finding the files, and their JSON and JSONL records as streams.

Every format module reads through these: ``jsonl_records`` and ``json_items`` yield one record
at a time with where it stands (``path:line`` or ``path:prefix[index]``) and report what cannot
be read to the ``ImportContext``; the ``scan_*`` functions, ``has_array`` and ``first_char`` take
a first look at a file, without a report, to tell whether it is of a format at all. A record
nested deeper than ``MAX_DEPTH`` is refused before anything walks it. Last, the small helpers
that read a value out of a source record whatever its shape (``text_of``, ``tokens``, ``obj``,
``short``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import ijson  # type: ignore[import-untyped]

from ..domain.errors import InvalidInput
from .core import ImportContext, RecordError

MAX_DEPTH = 100  # levels of lists and objects in a record: real transcripts use a few dozen
TOO_DEEP = f"nested too deeply to import (more than {MAX_DEPTH} levels of lists and objects)"


def discover(paths: Iterable[str | Path], suffixes: tuple[str, ...]) -> list[Path]:
    """The files to import: files as given, folders searched recursively, in a stable order;
    a file named twice (by a file and its folder, a symlink, a relative path) once."""
    found: dict[Path, Path] = {}  # by the file it is, whatever the spelling: read once
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in suffixes)
        elif path.is_file():
            files = [path]
        else:
            raise InvalidInput(f"{path}: no such file or folder; check the path")
        for file in files:
            found.setdefault(file.resolve(), file)
    return list(found.values())


def jsonl_records(
    path: Path,
    ctx: ImportContext,
    on_bad_line: Callable[[str, str], None] | None = None,
    max_depth: int | None = MAX_DEPTH,
) -> Iterator[tuple[str, Any]]:
    """``(where, record)`` for each non-blank line; a line that is not JSON, or nests deeper
    than ``max_depth``, is reported (to ``on_bad_line`` if given, else as malformed)."""
    report = on_bad_line or ctx.malformed
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            ctx.advance(len(raw))
            if not raw.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                record = parse_json(raw, max_depth)
            except RecordError as e:
                report(where, str(e))
                continue
            yield where, record


_NO_RECORD = object()  # a blank or malformed line (JSON's null is a record, if a bad one)
UNFINISHED = "an unfinished last line (the file is still being written: a later import reads it)"


@dataclass
class SourceSpan:
    """How much of a growing JSONL file an import has read: ``size`` bytes of whole lines
    (a last line without its newline counts once it parses), their SHA-256 and line count.

    A transcript that an agent is still writing grows by whole lines; the span is what a
    later import checks the file still starts with, and where it goes on reading."""

    size: int = 0
    lines: int = 0
    digest: Any = field(default_factory=hashlib.sha256)
    _before_last: tuple[int, int, Any] | None = field(default=None, repr=False)

    @property
    def sha256(self) -> str:
        return str(self.digest.hexdigest())

    def take(self, raw: bytes) -> None:
        self._before_last = (self.size, self.lines, self.digest.copy())
        self.size += len(raw)
        self.lines += raw.count(b"\n")
        self.digest.update(raw)

    def before_last_line(self) -> SourceSpan:
        """The span as it was before the line it took last."""
        assert self._before_last is not None, "no line taken yet"
        size, lines, digest = self._before_last
        return SourceSpan(size, lines, digest.copy())

    def rewind(self, to: SourceSpan) -> None:
        """Give back what was taken since ``to``: a later import reads it again."""
        self.size, self.lines, self.digest = to.size, to.lines, to.digest.copy()
        self._before_last = None


def prefix_span(path: Path, size: int, ctx: ImportContext) -> SourceSpan | None:
    """The span of ``path``'s first ``size`` bytes, or None when the file is shorter."""
    span = SourceSpan()
    with path.open("rb") as f:
        while span.size < size and (chunk := f.read(min(1 << 20, size - span.size))):
            span.take(chunk)
            ctx.advance(len(chunk))
    return span if span.size == size else None


def growing_jsonl_records(
    path: Path, ctx: ImportContext, span: SourceSpan
) -> Iterator[tuple[str, Any]]:
    """``jsonl_records`` from where ``span`` ends, adding each line read to it.

    A last line without its newline that is not JSON (yet) is left out of the span and
    skipped, not reported: its writer is most likely still writing it."""
    with path.open("rb") as f:
        f.seek(span.size)
        for raw in f:
            lineno = span.lines + 1
            record: Any = _NO_RECORD
            if raw.strip():
                try:
                    record = parse_json(raw)
                except RecordError as e:
                    if not raw.endswith(b"\n"):
                        ctx.ignore(UNFINISHED)
                        ctx.advance(len(raw))
                        return
                    ctx.malformed(f"{path}:{lineno}", str(e))
                    record = _NO_RECORD
            span.take(raw)
            ctx.advance(len(raw))
            if record is not _NO_RECORD:
                yield f"{path}:{lineno}", record


def parse_json(raw: bytes | str, max_depth: int | None = MAX_DEPTH) -> Any:
    """One JSON value (a line, a field holding JSON text); ``RecordError`` if it is not JSON
    or nests too deeply.

    A record nested thousands of levels deep would exhaust the interpreter's stack in
    whatever walks it next (the parser, the store's encoder): it is refused here, as one
    malformed record, before anything else touches it.
    """
    try:
        value = json.loads(raw)
    except ValueError as e:
        raise RecordError(f"not a JSON line ({e})") from None
    except RecursionError:
        raise RecordError(TOO_DEEP) from None
    if max_depth is not None and nested_deeper(value, max_depth):
        raise RecordError(TOO_DEEP)
    text = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    if any(escape in text for escape in _SURROGATE_ESCAPES):
        return without_lone_surrogates(value)
    return value


# A surrogate can only come from an escape such as \ud83d (or \uD83D).
_SURROGATE_ESCAPES = (b"\\ud", b"\\uD")
_LONE = re.compile("[\ud800-\udfff]")


def without_lone_surrogates(value: Any) -> Any:
    """``value`` with every unpaired surrogate in its strings replaced by U+FFFD.

    JavaScript tools cut strings mid-emoji and write the half as an escape (``\ud83d``);
    JSON decodes it to a lone surrogate, which is not text the store accepts. One bad
    character should not cost the whole message."""
    if isinstance(value, str):
        return _LONE.sub("\ufffd", value)
    if isinstance(value, list):
        return [without_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {without_lone_surrogates(k): without_lone_surrogates(v) for k, v in value.items()}
    return value


def nested_deeper(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists and objects more than ``limit`` levels deep (a loop, so
    that the check itself cannot overflow the stack)."""
    pending: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while pending:
        item, depth = pending.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        pending.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


_BOM = b"\xef\xbb\xbf"


@contextlib.contextmanager
def open_json(path: Path) -> Iterator[IO[bytes]]:
    """``path`` opened for reading, after a UTF-8 byte order mark if it starts with one
    (editors on Windows write one; JSON parsers refuse it)."""
    with path.open("rb") as f:
        if f.read(len(_BOM)) != _BOM:
            f.seek(0)
        yield f


_PYTHON_IJSON = ijson.get_backend("python")


def _ijson_for(path: Path) -> Any:
    """The ijson backend to read ``path`` with. The fast C one turns a lone surrogate
    escape into "?" or a UnicodeDecodeError; the pure-Python one keeps it, for
    ``without_lone_surrogates`` to replace. Most files have none, and keep the fast one."""
    tail = b""
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            window = tail + chunk
            if any(escape in window for escape in _SURROGATE_ESCAPES):
                return _PYTHON_IJSON
            tail = chunk[-2:]
    return ijson


def scan_jsonl(path: Path) -> Iterator[Any]:
    """The JSON values on a file's lines, skipping the rest without a report: a first look
    at a file, to tell whether it is of a format at all."""
    with path.open("rb") as f:
        for raw in f:
            try:
                yield parse_json(raw)
            except RecordError:
                continue


def scan_json_items(path: Path, prefix: str = "item") -> Iterator[Any]:
    """The items under ``prefix`` of a JSON file, up to where it breaks, without a report."""
    with open_json(path) as f, contextlib.suppress(ijson.JSONError, UnicodeDecodeError):
        for item in _ijson_for(path).items(f, prefix, use_float=True):
            if not nested_deeper(item, MAX_DEPTH):
                yield without_lone_surrogates(item)


def has_array(path: Path, keys: tuple[str, ...]) -> bool:
    """Whether a JSON file is an object holding an array under one of ``keys``. Reads only
    as far as it needs to (a trajectory's arrays come early), and never reports."""
    key: str | None = None
    with open_json(path) as f, contextlib.suppress(ijson.JSONError, UnicodeDecodeError):
        for prefix, event, value in _ijson_for(path).parse(f):
            if prefix == "" and event == "map_key":
                key = value
            elif prefix == "" and event != "start_map":
                return False  # the end of the object, or not an object at all
            elif prefix == key and key in keys and event == "start_array":
                return True
    return False


class _CountingReader:
    """A binary file that reports how much was read, for the progress bar."""

    def __init__(self, f: IO[bytes], ctx: ImportContext) -> None:
        self._f, self._ctx = f, ctx

    def read(self, size: int = -1) -> bytes:
        data = self._f.read(size)
        self._ctx.advance(len(data))
        return data


def json_items(path: Path, ctx: ImportContext, prefix: str = "item") -> Iterator[tuple[str, Any]]:
    """``(where, item)`` for each item under ``prefix``, parsed incrementally with ijson.

    Only one item is in memory at a time. JSON has no record lines, so ``where`` names the
    item's index. Broken JSON cannot be resynchronised: it is reported and the file ends there.
    """
    count = 0
    with open_json(path) as f:
        try:
            parser = _ijson_for(path)
            for item in parser.items(_CountingReader(f, ctx), prefix, use_float=True):
                where, count = f"{path}:{prefix}[{count}]", count + 1
                if nested_deeper(item, MAX_DEPTH):
                    ctx.malformed(where, TOO_DEEP)
                else:
                    yield where, without_lone_surrogates(item)
        except (ijson.JSONError, UnicodeDecodeError) as e:  # bytes that are not UTF-8 too
            ctx.malformed(f"{path}:{prefix}[{count}]", f"malformed JSON, rest of file unread ({e})")


def first_char(path: Path) -> str:
    """The first non-blank character of a file: ``[`` or ``{`` tells a JSON file's shape."""
    with open_json(path) as f:
        while chunk := f.read(4096):
            stripped = chunk.lstrip()
            if stripped:
                return chr(stripped[0])
    return ""


def file_fingerprint(path: Path) -> str:
    """The SHA-256 of a source file's bytes (what ``ImportContext.session`` compares)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def record_fingerprint(record: Any) -> str:
    """The SHA-256 of one source record, however its file lays it out."""
    text = json.dumps(record, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# -- values in a source record ------------------------------------------------------------------
def text_of(content: Any) -> str:
    """Plain text of a content field: a string, or a list of text/image parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict):
                kind = part.get("type")
                if isinstance(part.get("text"), str):
                    parts.append(part["text"])
                elif kind in ("image", "image_url"):
                    parts.append("[image]")
        return "\n".join(parts)
    return json.dumps(content, ensure_ascii=False)


def tokens(value: Any) -> int:
    """A token count from a source: a non-negative number, else 0 (never a crash)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return int(value)
    return 0


def obj(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (sources omit or null fields)."""
    return value if isinstance(value, dict) else {}


def short(text: str | None, limit: int = 2000) -> str | None:
    """Short fields (result, reason, description) are capped; the full text is a message."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"
