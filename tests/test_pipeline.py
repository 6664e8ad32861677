"""The frame-pull pipeline: end of stream, back-pressure, thread/asyncio feeding, microphone overruns."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import threading
import types

import numpy as np
import pytest
import soundfile as sf

from speechstream.errors import AudioError, DeviceError
from speechstream.pipeline import (
    ArraySource, Features, FileSource, MicSource, PushSource, Resample, Stage, aiterate, collect, pipe,
)


def speech_wav(path, rate: int = 44100) -> np.ndarray:
    """Writes ~1.5 s of speech at `rate` (espeak-ng, then sox), or a noisy chirp if they are missing."""
    raw = path.with_suffix(".raw.wav")
    if shutil.which("espeak-ng") and shutil.which("sox"):
        subprocess.run(["espeak-ng", "-w", str(raw), "streaming features equal offline"], check=True)
        subprocess.run(["sox", str(raw), "-r", str(rate), str(path)], check=True)
    else:
        t = np.arange(int(1.5 * rate)) / rate
        x = 0.3 * np.sin(2 * np.pi * (200 + 1500 * t) * t) + 0.05 * np.random.default_rng(0).standard_normal(len(t))
        sf.write(path, x.astype(np.float32), rate, subtype="PCM_16")
    samples, file_rate = sf.read(path, dtype="float32")
    assert file_rate == rate
    return samples


class Spy:
    """A streaming object that delays by `lag` samples and logs every call into a shared journal."""

    def __init__(self, name: str, journal: list, lag: int = 3):
        self.name, self.journal, self.lag = name, journal, lag
        self.held = np.zeros(0, np.float32)
        self.accepted: list[np.ndarray] = []

    def accept(self, x):
        self.journal.append(("accept", self.name, len(x)))
        self.accepted.append(x)
        self.held = np.concatenate([self.held, x])
        out, self.held = self.held[: max(0, len(self.held) - self.lag)], self.held[max(0, len(self.held) - self.lag) :]
        return out

    def flush(self):
        self.journal.append(("flush", self.name, len(self.held)))
        out, self.held = self.held, self.held[:0]
        return out


def test_end_of_stream_flushes_every_stage_in_order():
    journal: list = []
    x = np.arange(20, dtype=np.float32)
    a, b, c = Spy("a", journal), Spy("b", journal), Spy("c", journal)
    out = list(pipe(ArraySource(x, 8000, chunk=4), a, b, c))
    np.testing.assert_array_equal(np.concatenate(out), x)  # each holds back 3 samples until its flush
    flushes = [e for e in journal if e[0] == "flush"]
    assert [f[1] for f in flushes] == ["a", "b", "c"]
    # What a flushes goes through b (and on into c) before b's own flush, and b's remainder into c.
    assert journal[-6:] == [
        ("flush", "a", 3), ("accept", "b", 3), ("accept", "c", 3),
        ("flush", "b", 3), ("accept", "c", 3), ("flush", "c", 3),
    ]
    assert all(len(y) > 0 for y in out)


def test_empty_outputs_are_not_passed_on():
    journal: list = []
    slow = Spy("slow", journal, lag=100)  # returns nothing until its flush
    after = Spy("after", journal, lag=0)
    out = list(pipe(ArraySource(np.ones(50), 8000, chunk=10), slow, after))
    assert [len(y) for y in out] == [50]
    assert [e for e in journal if e[1] == "after"] == [("accept", "after", 50), ("flush", "after", 0)]


@pytest.fixture(scope="module")
def speech_44k(tmp_path_factory):
    path = tmp_path_factory.mktemp("speech") / "speech44k.wav"
    return path, speech_wav(path, 44100)


@pytest.mark.parametrize("chunk_ms", [10, 7.3, 100])
def test_streamed_file_features_equal_offline(speech_44k, chunk_ms):
    from speechstream.audio import Fbank, FbankConfig
    from speechstream.audio.resample import resample  # `speechstream.audio.resample` is shadowed by the submodule

    path, samples = speech_44k
    config = FbankConfig()
    streamed = collect(pipe(FileSource(path, chunk_ms=chunk_ms), Resample(16000), Features(config)))
    offline = Fbank(config)(resample(samples, 44100, 16000))
    assert streamed.dtype == np.float32 and streamed.shape == offline.shape and offline.shape[1] == 80
    np.testing.assert_allclose(streamed, offline, rtol=0, atol=1e-4)


def test_array_source_any_chunking_equals_offline(speech_44k):
    from speechstream.audio import Fbank, FbankConfig
    from speechstream.audio.resample import resample  # `speechstream.audio.resample` is shadowed by the submodule

    _, samples = speech_44k
    offline = Fbank(FbankConfig())(resample(samples, 44100, 16000))
    for chunk in (1000, 4410, 23457):
        streamed = collect(pipe(ArraySource(samples, 44100, chunk), Resample(16000), Features()))
        np.testing.assert_allclose(streamed, offline, rtol=0, atol=1e-4)


def test_resample_to_same_rate_passes_through():
    src = ArraySource(np.zeros(10), 16000, 4)
    assert Resample(16000)(src) is src


def test_features_reject_wrong_rate():
    with pytest.raises(AudioError, match="Resample"):
        pipe(ArraySource(np.zeros(100), 44100, 10), Features())


class CountingSource(ArraySource):
    """An ArraySource that records how many chunks it has handed out."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reads = 0

    def __iter__(self):
        for chunk in super().__iter__():
            self.reads += 1
            yield chunk


def test_back_pressure_nothing_read_ahead_of_the_consumer():
    journal: list = []
    source = CountingSource(np.arange(1000, dtype=np.float32), 8000, chunk=10)
    first = Spy("first", journal, lag=25)  # needs several chunks before it gives anything
    flow = pipe(source, first, Spy("second", journal, lag=0))
    assert source.reads == 0  # building a pipeline reads nothing
    for _ in range(5):
        next(flow)
        # The source has produced exactly what the first stage consumed: no chunk waits in between.
        assert source.reads == len(first.accepted)
        assert source.reads < 100
    # The first output needed 3 chunks (the stage holds 25 samples back), each later one exactly one more.
    assert source.reads == 7


def test_file_source_reads_at_most_one_chunk_ahead(speech_44k):
    path, samples = speech_44k
    source = FileSource(path, chunk_ms=10)
    journal: list = []
    first = Spy("first", journal, lag=0)
    frames = pipe(source, first, Resample(16000), Features())
    for _ in range(20):
        next(frames)
        assert source.chunks_read <= len(first.accepted) + 1
    assert source.chunks_read < len(samples) / 441 / 2  # 20 pulls did not read most of the file


def test_file_source_realtime_releases_each_chunk_at_its_end_time(speech_44k):
    path, samples = speech_44k
    now = [100.0]
    released: list[float] = []

    def sleep(seconds: float) -> None:
        assert seconds > 0
        now[0] += seconds

    source = FileSource(path, chunk_ms=20, realtime=True, clock=lambda: now[0], sleep=sleep)
    ends = []
    total = 0
    for chunk in source:
        released.append(now[0])
        total += len(chunk)
        ends.append(100.0 + total / 44100)
    np.testing.assert_allclose(released, ends, rtol=0, atol=1e-9)
    assert total == len(samples)


def test_file_source_errors(tmp_path):
    with pytest.raises(AudioError, match="no such audio file"):
        FileSource(tmp_path / "missing.wav")
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF not really a wave file" * 10)
    with pytest.raises(AudioError, match="cannot read"):
        FileSource(garbage)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="no samples"):
        FileSource(empty)
    bad = tmp_path / "nan.wav"
    sf.write(bad, np.array([0.0, np.nan, 0.1] * 100, np.float32), 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        list(FileSource(bad))


def test_file_source_averages_channels(tmp_path):
    stereo = np.random.default_rng(1).uniform(-0.5, 0.5, (1000, 2)).astype(np.float32)
    path = tmp_path / "stereo.wav"
    sf.write(path, stereo, 8000, subtype="FLOAT")
    np.testing.assert_allclose(collect(FileSource(path, chunk_ms=3)), stereo.mean(axis=1), atol=1e-7)


def test_push_source_fed_from_another_thread():
    rng = np.random.default_rng(2)
    blocks = [rng.standard_normal(n).astype(np.float32) for n in rng.integers(1, 300, 200)]
    source = PushSource(16000, max_queued=2)  # small, so the producer really waits for the consumer

    def produce() -> None:
        for block in blocks:
            source.push(block)
        source.close()

    producer = threading.Thread(target=produce)
    producer.start()
    journal: list = []
    received = collect(pipe(source, Spy("s", journal)))
    producer.join()
    np.testing.assert_array_equal(received, np.concatenate(blocks))


def test_push_source_nonblocking_and_closed():
    source = PushSource(8000, max_queued=1)
    assert source.try_push(np.ones(3))
    assert not source.try_push(np.ones(3)) and source.dropped == 1
    assert not source.push(np.ones(3), timeout=0.01)
    source.close()
    with pytest.raises(RuntimeError):
        source.push(np.ones(3))
    assert [len(b) for b in source] == [3]
    with pytest.raises(AudioError):
        PushSource(8000).push(np.ones((2, 2, 2)))


def test_push_source_from_asyncio():
    blocks = [np.full(n, n, np.float32) for n in range(1, 60)]

    async def main() -> list[np.ndarray]:
        source = PushSource(16000, max_queued=3)
        journal: list = []
        flow = pipe(source, Spy("s", journal, lag=5))

        async def feed() -> None:
            for block in blocks:
                await source.apush(block)
            source.close()

        feeder = asyncio.create_task(feed())
        out = [y async for y in aiterate(flow)]
        await feeder
        return out

    out = asyncio.run(main())
    np.testing.assert_array_equal(np.concatenate(out), np.concatenate(blocks))


class FakeInputStream:
    """Records what MicSource asks of PortAudio; the test plays PortAudio's thread."""

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.started = self.closed = False

    def start(self):
        self.started = True

    def close(self, ignore_errors=False):
        self.closed = True
        self.kwargs["finished_callback"]()


def fake_sounddevice(devices: list[dict]) -> types.ModuleType:
    sd = types.ModuleType("sounddevice")
    sd.PortAudioError = type("PortAudioError", (Exception,), {})

    def query_devices(device=None, kind=None):
        inputs = [d for d in devices if d["max_input_channels"] > 0]
        if device is None and not inputs:
            raise sd.PortAudioError("Error querying device -1")
        matches = inputs if device is None else [d for d in inputs if device in (d["index"], d["name"])]
        if not matches:
            raise ValueError(f"No input device matching {device!r}")
        return matches[0]

    sd.query_devices = query_devices
    sd.InputStream = FakeInputStream
    return sd


MIC = {"index": 3, "name": "fake mic", "max_input_channels": 2, "default_samplerate": 48000.0}


def test_mic_source_counts_overruns_and_never_grows(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice([MIC]))
    mic = MicSource(block_ms=10, max_queued_blocks=3)
    stream = mic._stream
    assert mic.sample_rate == 48000 and mic.blocksize == 480
    assert stream.kwargs["device"] == 3 and stream.kwargs["blocksize"] == 480 and stream.kwargs["channels"] == 1
    callback = stream.kwargs["callback"]
    ok = types.SimpleNamespace(input_overflow=False)
    blocks = [np.full((480, 1), i, np.float32) for i in range(5)]
    for block in blocks:  # the consumer is not pulling: the queue fills at 3
        callback(block, 480, None, ok)
    blocks[0][:] = -1  # PortAudio reuses its buffer; what was queued must be a copy
    assert mic.dropped_blocks == 2 and mic.overruns == 2
    callback(blocks[4], 480, None, types.SimpleNamespace(input_overflow=True))
    assert mic.input_overflows == 1 and mic.dropped_blocks == 3 and mic.overruns == 4

    it = iter(mic)
    assert next(it)[0] == 0 and stream.started
    callback(blocks[3], 480, None, ok)  # room again: accepted
    mic.close()
    assert stream.closed
    assert [b[0] for b in it] == [1, 2, 3]  # what was captured before close() is still delivered
    assert mic.overruns == 4


def test_mic_source_without_input_device(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice([]))
    with pytest.raises(DeviceError, match="no default input device"):
        MicSource()
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice([MIC]))
    with pytest.raises(DeviceError, match="no input device matching 'usb'"):
        MicSource("usb")


def test_missing_portaudio_is_a_device_error(monkeypatch):
    from speechstream.audio.devices import list_devices

    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails, as without libportaudio2
    with pytest.raises(DeviceError, match="PortAudio"):
        list_devices()
    with pytest.raises(DeviceError, match="PortAudio"):
        MicSource()


def test_importing_pipeline_and_cli_imports_neither_torch_nor_sounddevice():
    code = (
        "import sys, speechstream.pipeline, speechstream.cli, speechstream.cli.features, speechstream.cli.devices; "
        "speechstream.cli.build_parser(); "
        "print(sorted(m for m in ('torch', 'sounddevice', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
