"""Trained zstd dictionaries: round trips, smaller events, and clear errors."""

from __future__ import annotations

import threading

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from sessionstore import SessionStore
from sessionstore.domain.errors import IntegrityError
from sessionstore.storage import dictionaries
from sessionstore.storage.dictionaries import TrainedZstd


class Saved:
    """A dictionary store in a dict, as the backends keep them."""

    def __init__(self) -> None:
        self.saved: dict[int, bytes] = {}

    def select_dictionaries(self) -> dict[int, bytes]:
        return dict(self.saved)

    def insert_dictionary(self, data: bytes) -> int:
        self.saved[len(self.saved) + 1] = data
        return len(self.saved)


def sample(i: int) -> bytes:
    text = f"reading src/pkg/module_{i % 13}.py, line {i}"
    return f'{{"role": "assistant", "content": "{text}"}}'.encode()


def trained(train_after: int = 200) -> TrainedZstd:
    compressor = TrainedZstd(Saved(), train_after=train_after)
    for i in range(3000):
        compressor.compress(sample(i))
    compressor.train_if_ready()
    assert compressor.dictionary_id == 1
    return compressor


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=3000) | st.integers(0, 10_000).map(sample))
def test_any_bytes_round_trip_with_a_dictionary(data: bytes) -> None:
    compressor = COMPRESSOR
    packed = compressor.compress(data)
    assert compressor.decompress(packed) == data
    assert len(packed) <= len(data) + 1


COMPRESSOR = trained()


def test_a_dictionary_makes_small_similar_events_much_smaller() -> None:
    plain = TrainedZstd()
    events = [sample(i) for i in range(1000, 1200)]
    with_dictionary = sum(len(COMPRESSOR.compress(e)) for e in events)
    without = sum(len(plain.compress(e)) for e in events)
    assert with_dictionary < 0.6 * without


def test_a_reader_loads_a_dictionary_saved_after_it_opened() -> None:
    saved = Saved()
    reader = TrainedZstd(saved)
    writer = TrainedZstd(saved, train_after=200)
    for i in range(3000):
        writer.compress(sample(i))
    writer.train_if_ready()
    packed = writer.compress(sample(5000))
    assert packed[:1] == b"\x02"
    assert reader.decompress(packed) == sample(5000)
    assert reader.dictionary_id == 1  # and it now compresses with it too


def test_an_unknown_dictionary_is_an_integrity_error_with_the_way_out() -> None:
    with SessionStore("memory://") as store:
        sid = store.create_session("d")
        store.add_message(sid, "user", "hello")
        recorder = store._log.recorder
        row = next(store._log.stored(sid, after=1))
        packed = row.state
        unknown = b"\x02\x00\x09" + packed[1:]
        recorder.replace_state(sid, 2, unknown)  # type: ignore[attr-defined]
        with pytest.raises(IntegrityError, match="dictionary 9, which is not in the store"):
            store.state(sid, use_checkpoints=False)
        report = store.verify(sid)
        assert not report.ok


def test_tiny_samples_wait_for_more_bytes_instead_of_training() -> None:
    # zstd's trainer crashes the process on a few bytes of samples: it must never see them.
    compressor = TrainedZstd(Saved(), train_after=10)
    for _ in range(10):
        compressor.compress(b"x")
    compressor.train_if_ready()
    assert compressor.dictionary_id is None
    assert compressor.decompress(compressor.compress(b"abc")) == b"abc"
    for i in range(dictionaries.MIN_SAMPLE_BYTES // len(sample(0)) + 1):
        compressor.compress(sample(i))
    compressor.train_if_ready()
    assert compressor.dictionary_id == 1


def test_samples_the_trainer_refuses_postpone_training() -> None:
    compressor = TrainedZstd(Saved(), train_after=2)
    big = b"y" * dictionaries.SAMPLE_LIMIT
    for _ in range(dictionaries.MIN_SAMPLE_BYTES // len(big)):
        compressor.compress(big)  # few samples, all alike: zstd refuses them
    compressor.train_if_ready()
    assert compressor.dictionary_id is None
    assert compressor._train_after == 4


class Failing(Saved):
    def insert_dictionary(self, data: bytes) -> int:
        raise OSError("disk full")


def test_a_dictionary_that_cannot_be_saved_never_fails_the_write(
    caplog: pytest.LogCaptureFixture,
) -> None:
    compressor = TrainedZstd(Failing(), train_after=200)
    for i in range(3000):
        compressor.compress(sample(i))
    compressor.train_if_ready()  # called after a commit: must not raise
    assert compressor.dictionary_id is None
    assert "zstd dictionary not saved" in caplog.text
    assert compressor._train_after == 400  # tries again later, with more samples
    assert compressor.decompress(compressor.compress(sample(1))) == sample(1)


def test_threads_sharing_a_compressor_each_get_their_own_zstd_context() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from sessionstore.storage.codec import ZstdCompressor

    shared = trained()
    plain = ZstdCompressor()
    payloads = [sample(i) * (1 + i % 40) for i in range(400)]

    def round_trips(offset: int) -> bool:
        ok = True
        for data in payloads[offset:] + payloads[:offset]:
            ok &= shared.decompress(shared.compress(data)) == data
            ok &= plain.decompress(plain.compress(data)) == data
        return ok

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(round_trips, range(0, 400, 50)))
    with ThreadPoolExecutor(max_workers=1) as pool:
        other = pool.submit(lambda: plain._contexts()[0]).result()
    assert other is not plain._contexts()[0]  # another thread, another context


# -- training on a background thread ---------------------------------------------------------
WAIT = 30.0  # only a guard against a hung test: every wait below ends long before it


class Gated(Saved):
    """A dictionary store whose saves wait until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.saving = threading.Event()  # set once a save waits at the gate

    def insert_dictionary(self, data: bytes) -> int:
        self.saving.set()
        assert self.gate.wait(WAIT)
        return super().insert_dictionary(data)


def fed(store: Saved, train_after: int = 200, events: int = 3000) -> TrainedZstd:
    compressor = TrainedZstd(store, train_after=train_after, background=True)
    for i in range(events):
        compressor.compress(sample(i))
    return compressor


def test_background_training_returns_before_the_dictionary_is_saved() -> None:
    store = Gated()
    compressor = fed(store)
    compressor.train_if_ready()  # returns although the save cannot finish yet
    assert store.saving.wait(WAIT)
    assert compressor.dictionary_id is None
    assert compressor.compress(sample(1) * 20)[:1] == b"\x01"  # plain zstd meanwhile
    store.gate.set()
    compressor.wait_for_training()
    assert compressor.dictionary_id == 1
    packed = compressor.compress(sample(5000))
    assert packed[:3] == b"\x02\x00\x01"
    assert compressor.decompress(packed) == sample(5000)


def test_one_background_training_at_a_time_each_sample_handed_over_once() -> None:
    store = Gated()
    compressor = fed(store)
    compressor.train_if_ready()
    assert store.saving.wait(WAIT)
    assert compressor._samples == []  # handed to the training, not kept for another one
    for i in range(3000, 6000):
        compressor.compress(sample(i))  # enough samples for a second training
    waiting = list(compressor._samples)
    assert len(waiting) >= 200
    compressor.train_if_ready()
    assert compressor._samples == waiting  # not taken: the first training still runs
    assert [t.name for t in threading.enumerate()].count("zstd-training") == 1
    store.gate.set()
    compressor.wait_for_training()
    assert set(store.saved) == {1}
    assert compressor.dictionary_id == 1
    assert compressor._samples == []  # a dictionary is active: no more sampling


class FailingOnce(Saved):
    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    def insert_dictionary(self, data: bytes) -> int:
        if self.failures:
            self.failures -= 1
            raise OSError("disk full")
        return super().insert_dictionary(data)


def test_a_failed_background_save_is_logged_and_retried_with_more_samples(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FailingOnce()
    compressor = fed(store)
    compressor.train_if_ready()
    compressor.wait_for_training()
    assert "zstd dictionary not saved" in caplog.text
    assert compressor.dictionary_id is None
    assert compressor._train_after == 400
    assert compressor._samples == []  # the next try needs new samples
    compressor.train_if_ready()
    compressor.wait_for_training()
    assert compressor.dictionary_id is None
    for i in range(3000, 6000):
        compressor.compress(sample(i))
    compressor.train_if_ready()
    compressor.wait_for_training()
    assert compressor.dictionary_id == 1
    assert compressor.decompress(compressor.compress(sample(1))) == sample(1)


def test_a_refused_background_training_is_retried_with_more_samples() -> None:
    compressor = TrainedZstd(Saved(), train_after=2, background=True)
    big = b"y" * dictionaries.SAMPLE_LIMIT
    for _ in range(dictionaries.MIN_SAMPLE_BYTES // len(big)):
        compressor.compress(big)  # few samples, all alike: zstd refuses them
    compressor.train_if_ready()
    compressor.wait_for_training()
    assert compressor.dictionary_id is None
    assert compressor._train_after == 4


def test_waiting_and_closing_after_a_finished_training_change_nothing() -> None:
    store = Saved()
    compressor = fed(store)
    compressor.train_if_ready()
    compressor.wait_for_training()
    compressor.wait_for_training(timeout=0)
    compressor.close()
    compressor.train_if_ready()
    assert set(store.saved) == {1}
    packed = compressor.compress(sample(5000))
    assert packed[:3] == b"\x02\x00\x01"
    assert compressor.decompress(packed) == sample(5000)


def test_a_training_that_ends_after_close_saves_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    gate, training = threading.Event(), threading.Event()
    train = dictionaries.zstandard.train_dictionary

    def gated(size: int, samples: list[bytes]) -> zstandard.ZstdCompressionDict:
        training.set()
        assert gate.wait(WAIT)
        return train(size, samples)

    monkeypatch.setattr(dictionaries.zstandard, "train_dictionary", gated)
    store = Saved()
    compressor = fed(store)
    compressor.train_if_ready()
    assert training.wait(WAIT)
    compressor.close(timeout=0)  # the store closes while the training still runs
    gate.set()
    compressor.wait_for_training()
    assert store.saved == {}
    assert compressor.dictionary_id is None
    assert compressor.decompress(compressor.compress(sample(1))) == sample(1)


def test_closing_a_store_waits_for_its_training(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dictionaries, "TRAIN_AFTER", 40)
    store = SessionStore("memory://")
    sid = store.create_session("d")
    for i in range(120):
        store.add_message(sid, "assistant", f"step {i}: reads src/module_{i % 7}.py " * 16)
    recorder = store._log.recorder
    store.close()
    assert list(recorder.select_dictionaries()) == [1]
    assert store._log.compressor.dictionary_id == 1
