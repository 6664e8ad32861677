"""A live microphone, headless: a wav played into a private PulseAudio null sink is captured by MicSource."""

from __future__ import annotations

import time

import numpy as np
import pytest
import soundfile as sf

from speechstream.pipeline import MicSource
from tests.pulse import pulse_fixture

pytestmark = pytest.mark.mic
pulse_server = pulse_fixture()

RATE = 16000


def test_mic_source_captures_what_is_played(pulse_server, tmp_path):
    # Noise bursts under a slow envelope: the cross-correlation has one sharp peak, at the true delay.
    rng = np.random.default_rng(0)
    n = int(1.2 * RATE)
    envelope = 0.2 + 0.8 * np.abs(np.sin(np.pi * np.arange(n) / (0.3 * RATE)))
    played = (0.3 * envelope * rng.standard_normal(n)).clip(-0.9, 0.9).astype(np.float32)
    wav = tmp_path / "played.wav"
    sf.write(wav, played, RATE, subtype="PCM_16")
    played, _ = sf.read(wav, dtype="float32")  # what the file holds after 16-bit quantisation

    with pulse_server.activated():
        mic = MicSource(device="pulse", sample_rate=RATE, block_ms=20)
        blocks = []
        player = None
        deadline = time.monotonic() + 30  # a guard against hanging, not a timing assertion
        tail = None
        try:
            for block in mic:
                blocks.append(block)
                if player is None:
                    # Capture is running (a callback has delivered a block): only now start playback.
                    player = pulse_server.play(wav)
                elif tail is None and player.poll() is not None:
                    tail = sum(map(len, blocks)) + RATE // 2  # keep half a second after playback ends
                if (tail is not None and sum(map(len, blocks)) >= tail) or time.monotonic() > deadline:
                    break
        finally:
            mic.close()
            if player is not None and player.poll() is None:
                player.kill()
    assert player.returncode == 0, player.stderr.read()
    captured = np.concatenate(blocks)
    assert mic.overruns == 0

    # Align by cross-correlation (FFT), then compare the played part sample by sample.
    size = 1 << int(np.ceil(np.log2(len(captured) + len(played))))
    corr = np.fft.irfft(np.fft.rfft(captured, size) * np.conj(np.fft.rfft(played, size)), size)
    lag = int(np.argmax(corr[: len(captured)]))
    assert lag + len(played) <= len(captured), "the capture ended before the playback did"
    segment = captured[lag : lag + len(played)]
    similarity = np.dot(segment, played) / (np.linalg.norm(segment) * np.linalg.norm(played))
    assert similarity > 0.99
    np.testing.assert_allclose(np.std(segment), np.std(played), rtol=0.05)  # no gain change
    # Exactly one copy was captured at the right length: silence around it.
    outside = np.concatenate([captured[:lag], captured[lag + len(played) :]])
    assert np.abs(outside).max() < 0.01


def test_a_block_delivered_while_closing_is_dropped_quietly():
    """PortAudio may run the callback once more after close() closed the queue: no exception may escape it
    (cffi prints those as 'Exception ignored from cffi callback ... cannot put a block into a closed stream')."""
    from speechstream.pipeline.sources import BlockQueue

    mic = MicSource.__new__(MicSource)  # no device needed: only the callback and its queue
    mic._queue, mic.dropped_blocks, mic.input_overflows = BlockQueue(4), 0, 0
    mic._callback(np.ones((8, 1), np.float32), 8, None, None)
    mic._queue.close()
    mic._callback(np.ones((8, 1), np.float32), 8, None, None)
    assert mic._queue.get() is not None and mic._queue.get() is None
