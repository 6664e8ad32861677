"""The served page in a real browser: headless Chromium, its fake microphone fed from a WAV, opens the page,
presses Start, then Stop; the page shows live partials and, at the end, exactly the final transcript the
Recognizer gives on the audio the page sent, and that audio is the WAV, sample for sample (to int16 rounding).

Chromium is driven through its DevTools protocol (Runtime.evaluate over a websocket, no extra packages).
Where the file starts within the captured audio is up to Chromium (it plays from getUserMedia on, the
worklet joins a little later, and after the file the fake device goes on with a noise of its own until
Stop), and a random model's tokens change
with any shift; so the transcript is compared with the Recognizer on the audio the server received, and that
audio with the file.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from asr_helpers import utterances
from test_server_helpers import ServerThread, model_dir, reference_finals
from websockets.sync.client import ClientConnection, connect

from speechstream.server import worker

CHROMIUM = Path("/usr/bin/chromium")
RATE = 44100  # headless Chromium's audio rate: the fake capture then passes the file's samples unchanged
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.is_file(), reason="Debian chromium not installed")]


class DevTools:
    """Just enough of the Chrome DevTools Protocol: evaluate an expression in the page."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws, self.id = ws, 0

    @staticmethod
    def page_url(port: int) -> str:
        """The DevTools websocket of the browser's first page."""
        for _ in range(100):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                pages = [t for t in json.loads(r.read()) if t["type"] == "page"]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
            time.sleep(0.1)
        raise AssertionError("Chromium opened no page")

    def eval(self, expression: str) -> object:
        self.id += 1
        self.ws.send(json.dumps({"id": self.id, "method": "Runtime.evaluate", "params": {
            "expression": expression, "returnByValue": True, "awaitPromise": True, "userGesture": True}}))
        while True:
            reply = json.loads(self.ws.recv(timeout=10))
            if reply.get("id") == self.id:
                return reply["result"].get("result", {}).get("value")

    def wait(self, expression: str, timeout: float) -> object:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            value = self.eval(expression)
            if value:
                return value
            time.sleep(0.05)
        status = self.eval("document.body.dataset.status")
        error = self.eval("document.getElementById('error').textContent")
        raise AssertionError(f"timed out waiting for {expression}; page status {status}, error {error!r}")


def test_the_page_transcribes_the_microphone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    x = utterances(np.random.default_rng(21), (RATE * 2,))[0]
    wav = tmp_path / "mic.wav"
    sf.write(wav, x, RATE, subtype="PCM_16")
    x = sf.read(wav, dtype="float32")[0]
    received: list[np.ndarray] = []
    rates: set[int] = set()
    push = worker.Session.push

    def tee(self: worker.Session, samples: np.ndarray) -> None:
        received.append(samples.copy())
        rates.add(self.sample_rate)
        push(self, samples)

    monkeypatch.setattr(worker.Session, "push", tee)
    server = ServerThread()
    profile = tempfile.mkdtemp(dir=tmp_path)
    chromium = subprocess.Popen(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required",
         "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
         f"--use-file-for-fake-audio-capture={wav}%noloop", f"--user-data-dir={profile}", "--remote-debugging-port=0",
         f"{server.http}/"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "chromium.log", "w"), start_new_session=True)
    try:
        with connect(DevTools.page_url(_devtools_port(tmp_path / "chromium.log")), max_size=None) as devtools:
            page = DevTools(devtools)
            page.wait("typeof start === 'function'", 20)
            page.eval("document.getElementById('toggle').click()")
            assert page.wait("document.body.dataset.status !== 'starting' && document.body.dataset.status", 20) \
                == "listening", page.eval("document.getElementById('error').textContent")
            # The page says which model runs, the latency in effect, and the microphone's level.
            assert page.wait("document.getElementById('latency').textContent", 10).endswith(" ms")
            assert "look-ahead" in page.eval("document.getElementById('latency').textContent")
            assert page.eval("document.getElementById('model').textContent") == f"model {model_dir().name}"
            partials = set()
            end = time.monotonic() + 20
            while sum(map(len, received)) < len(x) + 0.1 * RATE and time.monotonic() < end:  # the whole file, and a bit
                partials.add(page.eval("document.getElementById('partial').textContent"))
                time.sleep(0.05)
            page.eval("document.getElementById('toggle').click()")
            page.wait("document.body.dataset.status === 'done'", 20)
            shown = page.eval("Array.from(document.querySelectorAll('#final p')).map(p => p.textContent)")
            assert float(page.eval("document.getElementById('level').dataset.peak")) > -40  # it moved with the audio
            assert page.eval("document.getElementById('error').textContent") == ""
    finally:
        os.killpg(chromium.pid, signal.SIGKILL)  # headless Chromium never exits by itself
        chromium.wait()
        server.stop()

    got = np.concatenate(received)
    (rate,) = rates
    assert shown == [t for t in reference_finals(got, rate) if t] and shown
    assert partials - {"", None}, "no partial result was shown while listening"
    if rate != RATE:  # another Chromium build or audio setup: the file was resampled, no sample comparison
        pytest.skip(f"the page's AudioContext ran at {rate} Hz, not {RATE}: transcript checked, samples not")
    # The audio the page sent is the file: the same samples, shifted by where Chromium's capture began.
    offset = int(np.flatnonzero(np.abs(got) > 1e-4)[0] - np.flatnonzero(np.abs(x) > 1e-4)[0])
    assert offset > -0.2 * RATE and len(got) >= offset + len(x)
    start = max(0, -offset)
    assert np.abs(got[offset + start:offset + len(x)] - x[start:]).max() < 1e-4  # int16 -> float scaling


def _devtools_port(log: Path) -> int:
    end = time.monotonic() + 30
    while time.monotonic() < end:
        m = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", log.read_text(errors="replace"))
        if m:
            return int(m.group(1))
        time.sleep(0.05)
    raise AssertionError(f"Chromium did not start its DevTools server: {log.read_text()[-2000:]}")
