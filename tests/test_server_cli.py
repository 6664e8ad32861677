"""`speechstream serve` as a process: it prints where it listens, and SIGTERM drains: an open stream is finished
and gets its final results, `Done!` and close code 1001; an idle connection is closed; the process exits 0."""

from __future__ import annotations

import asyncio
import json
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from asr_helpers import utterances
from test_server_helpers import finals, model_dir, reference_finals
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from speechstream.asr.recognizer import Recognizer

REPO = Path(__file__).resolve().parents[1]


def test_sigterm_finishes_open_streams_before_exiting() -> None:
    x = utterances(np.random.default_rng(3), (16000 * 2 + 300,))[0]
    # The last partial result the server sends before the input ends (it sends a result when its text
    # changes): once that arrived, and a moment more, the server has read the audio.
    rec = Recognizer.from_dir(model_dir())
    probe = rec.create_stream()
    probe.accept_waveform(16000, x)
    texts: list[str] = []
    while rec.is_ready(probe):
        rec.decode_streams([probe])
        r = rec.get_result(probe)
        if not texts or r.text != texts[-1]:
            texts.append(r.text)
            reachable = r.end

    proc = subprocess.Popen([sys.executable, "-m", "speechstream", "serve", "--model", str(model_dir()), "--port", "0"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = re.search(r"listening on (ws://\S+)", _line(proc, "listening on", 60)).group(1)

        async def go() -> tuple[list[str], int | None, int | None]:
            got: list[str] = []
            async with connect(url) as ws, connect(url) as idle:
                for i in range(0, len(x), 1600):
                    await ws.send(x[i:i + 1600].astype("<f4").tobytes())
                async for m in ws:  # no `Done`: the stream is still open when SIGTERM comes
                    got.append(m)
                    if json.loads(m)["end"] >= reachable:
                        break
                await asyncio.sleep(0.5)
                proc.send_signal(signal.SIGTERM)
                try:
                    async for m in ws:
                        got.append(m)
                except ConnectionClosed:
                    pass
                try:
                    await asyncio.wait_for(idle.recv(), 10)
                except ConnectionClosed:
                    pass
            return got, ws.close_code, idle.close_code

        got, code, idle_code = asyncio.run(go())
        assert got[-1] == "Done!" and code == 1001 and idle_code == 1001
        assert finals([json.loads(m) for m in got[:-1]]) == reference_finals(x, 16000)
        assert proc.wait(15) == 0
        assert "stopped" in proc.stdout.read()
    finally:
        proc.kill()
        proc.wait()


def _line(proc: subprocess.Popen, needle: str, timeout: float) -> str:
    end, seen = time.monotonic() + timeout, []
    while time.monotonic() < end:
        if select.select([proc.stdout], [], [], 0.2)[0]:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if needle in line:
                return line
    raise AssertionError(f"{needle!r} not printed; output: {''.join(seen)[-2000:]}")
