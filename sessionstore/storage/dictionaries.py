"""zstd dictionaries trained on a store's own events, so small events compress well.

One event is a few hundred bytes: too little for zstd to find repeats in, so plain zstd
saves about a quarter. Events of one store repeat each other's field names, roles, tool
names and vocabulary, and a dictionary trained on the store's first events lets each new
event refer to them: a 500-byte message then takes about 250 bytes instead of 400, and
decompresses faster too.

The first ``train_after`` events a writer appends are kept as samples (compressed without
a dictionary meanwhile); then a dictionary is trained, saved in the backend and used for
every later event. A store's ``EventLog`` trains on a background thread (``background=True``):
training takes about 100 ms, and the append that crosses the threshold would otherwise wait
for it. Events appended while it trains are compressed without a dictionary, like the samples.
Saved dictionaries are never changed or deleted: every event names its dictionary by id,
and a reader that meets an id it does not know yet loads it. Two writers that train at the
same time each save one; both stay readable.

Stored layout (the compressor's part of an event's bytes)::

    b"\\x00" + data                       raw (compressing would not save a byte)
    b"\\x01" + zstd(data)                 plain zstd
    b"\\x02" + id (2 bytes) + zstd(data)  zstd with dictionary ``id``
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any, Protocol

import zstandard

from .codec import ZstdCompressor

log = logging.getLogger(__name__)

TRAIN_AFTER = 1_000
"""Events observed before a dictionary is trained (about 100 ms of training, once)."""
CLOSE_WAIT = 5.0
"""Seconds ``close()`` waits for a training still running; its result is dropped after."""

DICTIONARY_BYTES = 32 * 1024
MIN_SAMPLE_BYTES = 64 * 1024
"""Samples wait until they hold this much too: zstd's trainer crashes the process (SIGFPE)
on a few bytes of samples, and could learn nothing from them anyway."""
LEVEL = 1
"""zstd's level for events. Level 3 wrote 11% fewer bytes (257 against 288 a suite
message), but its larger match tables run cold after every commit's trip through SQLite
and the kernel: at 1, a one-commit append took about 25 us less (benchmarks.bench_floor)."""
SAMPLE_LIMIT = 16 * 1024  # longer events add little to a dictionary: train on their start
_DICT = b"\x02"
Sample = bytes | bytearray | memoryview
_ID_BYTES = 2
MAX_DICTIONARIES = 2 ** (8 * _ID_BYTES) - 1


class DictionaryStore(Protocol):
    """Where a backend keeps the dictionaries (see ``SessionRecorder``)."""

    def select_dictionaries(self) -> dict[int, bytes]: ...

    def insert_dictionary(self, data: bytes) -> int: ...


class TrainedZstd(ZstdCompressor):
    """``ZstdCompressor`` plus the store's dictionaries (``store=None``: plain zstd only).

    ``background=True``: ``train_if_ready`` trains on a daemon thread and returns at once;
    ``wait_for_training`` waits for it, and ``close`` stops any later save.
    """

    def __init__(
        self,
        store: DictionaryStore | None = None,
        *,
        train_after: int | None = None,
        background: bool = False,
    ) -> None:
        super().__init__(LEVEL)
        self._store = store
        self._train_after = TRAIN_AFTER if train_after is None else train_after
        self._background = background
        # Guards the samples, ``_train_after``, ``_dicts`` and ``_active``: writers sample in
        # ``compress``, the training thread activates, readers load dictionaries they meet.
        self._lock = threading.Lock()
        self._dicts: dict[int, zstandard.ZstdCompressionDict] = {}
        self._active: tuple[int, bytes] | None = None  # dictionary id, and the bytes' prefix
        self._per_thread = threading.local()  # zstd contexts, one set per thread
        self._samples: list[bytes] = []
        self._sample_bytes = 0
        self._idle = threading.Event()  # cleared while a training runs: one at a time
        self._idle.set()
        # Held from the "still open?" check through the insert, so ``close`` cannot slip
        # between them and let a late training write into a closed database.
        self._saving = threading.Lock()
        self._closed = False
        if store is not None:
            self._load()

    @property
    def dictionary_id(self) -> int | None:
        """The id of the dictionary new events are compressed with, if any."""
        return None if self._active is None else self._active[0]

    # -- compressing ------------------------------------------------------------------------
    def compress(self, data: bytes) -> bytes:
        active = self._active
        if active is None:
            if self._store is not None:
                self._keep_sample(data)
            return super().compress(data)
        ident, prefix = active
        packed: bytes = self._context(ident, compressing=True).compress(data)
        if len(packed) + _ID_BYTES < len(data):
            return prefix + packed
        return self._RAW + data

    def _keep_sample(self, data: bytes) -> None:
        with self._lock:  # writers on several threads sample into the same list
            if not self._enough_samples():
                self._samples.append(data[:SAMPLE_LIMIT])
                self._sample_bytes += min(len(data), SAMPLE_LIMIT)

    def decompress(self, data: bytes) -> bytes:
        if data[:1] != _DICT:
            return super().decompress(data)
        ident = int.from_bytes(data[1 : 1 + _ID_BYTES], "big")
        if ident not in self._dicts:
            self._reload(ident)
        decompressor = self._context(ident, compressing=False)
        return bytes(decompressor.decompress(data[1 + _ID_BYTES :]))

    def decompress_many(self, blobs: Sequence[bytes]) -> Sequence[Any]:
        """``decompress`` of each of ``blobs``; when all are frames of one dictionary (a
        replay's page, once trained), in one call into zstd, which gives buffers rather
        than bytes. A blob that does not decompress raises, as ``decompress`` would."""
        head = blobs[0][: 1 + _ID_BYTES] if blobs else b""
        if head[:1] != _DICT or any(blob[: 1 + _ID_BYTES] != head for blob in blobs):
            return [self.decompress(blob) for blob in blobs]
        ident = int.from_bytes(head[1:], "big")
        if ident not in self._dicts:
            self._reload(ident)
        frames = [blob[1 + _ID_BYTES :] for blob in blobs]
        try:
            found = self._context(ident, compressing=False).multi_decompress_to_buffer(frames)
        except (zstandard.ZstdError, ValueError):
            return [self.decompress(blob) for blob in blobs]  # raises at the bad one
        return [found[i] for i in range(len(frames))]

    # -- training ---------------------------------------------------------------------------
    def train_if_ready(self) -> None:
        """Train and save a dictionary once enough events were seen (call after a commit).

        In background mode this only starts the training, on a thread, and returns. Refused
        samples or a failed save are logged and retried later with more samples, never
        raised: the events are committed already, and a dictionary only shrinks later ones.
        """
        if self._active is not None or self._store is None:
            return
        samples = self._take_samples()
        if samples is None:
            return
        if not self._background:
            self._train(samples)
            return
        # A daemon: training is an optimisation, never a reason to keep the process alive.
        thread = threading.Thread(
            target=self._train, args=(samples,), name="zstd-training", daemon=True
        )
        try:
            thread.start()
        except RuntimeError as e:  # no thread to be had: retry later, as after any failure
            log.warning("zstd dictionary training not started (will try again later): %s", e)
            self._postpone()
            self._idle.set()

    def wait_for_training(self, timeout: float | None = None) -> None:
        """Return once no training runs (or after ``timeout`` seconds)."""
        self._idle.wait(timeout)

    def close(self, timeout: float = CLOSE_WAIT) -> None:
        """Wait for a running training, then let no later one save (the store is closing)."""
        self.wait_for_training(timeout)
        with self._saving:
            self._closed = True

    def _take_samples(self) -> list[bytes] | None:
        """The samples, handed over to one training, or None if none should start now."""
        with self._lock:
            if self._closed or not self._idle.is_set() or not self._enough_samples():
                return None
            self._idle.clear()
            samples, self._samples, self._sample_bytes = self._samples, [], 0
        return samples

    def _train(self, samples: list[bytes]) -> None:
        """Train on ``samples``, then save and activate the dictionary; a failure postpones."""
        try:
            data = self._trained(samples)
            if data is not None:
                self._save(data)
        except Exception:
            if not self._background:
                raise
            # Nobody would see it on this thread: log it, and retry later.
            log.exception("zstd dictionary training failed (will try again later)")
            self._postpone()
        finally:
            # Only now, once activated or postponed: a wait then sees the outcome, and the
            # next training cannot start with the old threshold.
            self._idle.set()

    def _trained(self, samples: list[bytes]) -> bytes | None:
        try:
            return zstandard.train_dictionary(DICTIONARY_BYTES, list[Sample](samples)).as_bytes()
        except zstandard.ZstdError as e:
            # Samples the trainer refuses (too alike, too few): try again with more.
            log.info("zstd dictionary not trained (will try again with more samples): %s", e)
            self._postpone()
            return None

    def _save(self, data: bytes) -> None:
        assert self._store is not None
        with self._saving:
            if self._closed:
                return  # the store closed while this trained: its database is gone
            try:
                ident = self._store.insert_dictionary(data)
            except Exception as e:  # the events are committed already: never fail the write
                log.warning("zstd dictionary not saved (will try again later): %s", e)
                self._postpone()
                return
        with self._lock:
            self._add(ident, data)
            self._activate(ident)

    def _postpone(self) -> None:
        """After a failure, wait for twice as many new samples before trying again."""
        with self._lock:
            self._train_after *= 2

    def _enough_samples(self) -> bool:
        return len(self._samples) >= self._train_after and self._sample_bytes >= MIN_SAMPLE_BYTES

    # -- bookkeeping ------------------------------------------------------------------------
    def _load(self) -> None:
        assert self._store is not None
        saved = self._store.select_dictionaries()
        with self._lock:
            for ident, data in saved.items():
                self._add(ident, data)
            if saved and self._active is None:
                newest = max(saved)
                self._activate(newest)

    def _reload(self, ident: int) -> None:
        if self._store is not None:
            self._load()
        if ident not in self._dicts:
            raise ValueError(f"it names zstd dictionary {ident}, which is not in the store")

    def _context(self, ident: int, *, compressing: bool) -> Any:
        """This thread's zstd context for dictionary ``ident`` (see ``ZstdCompressor``)."""
        contexts: dict[tuple[int, bool], Any] | None = getattr(self._per_thread, "all", None)
        if contexts is None:
            contexts = self._per_thread.all = {}
        context = contexts.get((ident, compressing))
        if context is None:
            shared = self._dicts[ident]
            context = contexts[ident, compressing] = (
                zstandard.ZstdCompressor(level=LEVEL, dict_data=shared, write_dict_id=False)
                if compressing
                else zstandard.ZstdDecompressor(dict_data=shared)
            )
        return context

    def _add(self, ident: int, data: bytes) -> None:
        if ident not in self._dicts:
            self._dicts[ident] = zstandard.ZstdCompressionDict(data)

    def _activate(self, ident: int) -> None:
        if not 0 < ident <= MAX_DICTIONARIES:
            return  # beyond what two bytes can name: keep compressing without it
        self._active = (ident, _DICT + ident.to_bytes(_ID_BYTES, "big"))
        self._samples, self._sample_bytes = [], 0
