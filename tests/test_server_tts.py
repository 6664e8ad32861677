"""The server's /tts path on tiny random ASR and TTS models: text sent in pieces comes back as the audio
Synthesizer.synthesize gives for the whole text; a bad voice, a binary message, no TTS model and a missing
token get clear errors; the ASR path beside it is unaffected."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_server_helpers import ServerThread
from tts_helpers import tiny_model
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from speechstream.server import ServerConfig

torch.set_num_threads(1)

PIECES = ["Hello there, ", "Dr. Smith! It costs $3.50 to", "day; shall we go?"]


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    from speechstream.tts.synthesizer import Synthesizer
    from speechstream.tts.torch.checkpoint import save_tts_dir
    from speechstream.vocoder.torch.checkpoint import save_vocoder_dir
    from vocoder_helpers import make_generator

    root = tmp_path_factory.mktemp("tts")
    vocoder = save_vocoder_dir(make_generator(), root / "vocoder_src")
    return Synthesizer.from_dir(save_tts_dir(tiny_model(chunk_frames=5), root / "tts", vocoder=vocoder))


def start(config: ServerConfig, synth=None) -> ServerThread:  # noqa: ANN001
    s = ServerThread(config)
    s.server.synthesizer = synth  # before any /tts connection
    return s


@pytest.fixture(scope="module")
def server(synth):  # noqa: ANN001, ANN201
    s = start(ServerConfig(port=0), synth)
    yield s
    s.stop()


async def exchange(url: str, messages: list[str | bytes], **kw) -> tuple[list[str | bytes], int | None]:  # noqa: ANN003
    """Sends `messages` while reading until the server closes: (every message received, close code)."""
    got: list[str | bytes] = []

    async def send(ws) -> None:  # noqa: ANN001
        try:
            for m in messages:
                await ws.send(m)
        except ConnectionClosed:
            pass

    async with connect(url, max_size=None, compression=None, **kw) as ws:
        sender = asyncio.create_task(send(ws))
        try:
            async for m in ws:
                got.append(m)
        except ConnectionClosed:
            pass
        await sender
    return got, ws.close_code


def audio(got: list[str | bytes]) -> np.ndarray:
    return np.concatenate([np.frombuffer(m, "<f4") for m in got if isinstance(m, bytes)] or [np.zeros(0, "<f4")])


@pytest.mark.parametrize("voice", [None, "bm_george", "af_heart:0.6,bm_george:0.4"])
def test_pieces_of_text_give_the_whole_texts_audio(server: ServerThread, synth, voice: str | None) -> None:  # noqa: ANN001
    first = [] if voice is None else [json.dumps({"voice": voice, "speed": 1.0})]
    got, code = asyncio.run(exchange(f"{server.url}/tts", [*first, *PIECES, "Done"]))
    assert code == 1000, got
    hello = json.loads(got[0])
    assert hello["sample_rate"] == synth.sample_rate and hello["voice"] == (voice or "af_heart")
    end = json.loads(got[-1])
    x = audio(got)
    assert end == {"done": True, "samples": len(x)}
    assert sum(isinstance(m, bytes) for m in got) >= 2, "audio should leave in chunks as it becomes final"
    want = synth.synthesize("".join(PIECES), voice or "af_heart")
    assert len(x) == len(want) and np.abs(x - want).max() < 1e-4


def test_concurrent_tts_and_asr_streams(server: ServerThread, synth) -> None:  # noqa: ANN001
    async def go():  # noqa: ANN202
        tts = [exchange(f"{server.url}/tts", [*PIECES, "Done"]) for _ in range(3)]
        asr = exchange(server.url, [np.zeros(16000, "<f4").tobytes(), "Done"])
        return await asyncio.gather(*tts, asr)

    *tts, (asr_got, asr_code) = asyncio.run(go())
    want = synth.synthesize("".join(PIECES))
    for got, code in tts:
        assert code == 1000 and np.abs(audio(got) - want).max() < 1e-4
    assert asr_code == 1000 and asr_got[-1] == "Done!"
    assert (server.health()["connections"], server.health()["tts"]) == (0, True)


@pytest.mark.parametrize("messages, code, says", [
    ([json.dumps({"voice": "zz_nobody"}), "Hi.", "Done"], 1003, "zz_nobody"),
    ([json.dumps({"speed": 0}), "Done"], 1003, "speed"),
    ([json.dumps({"pitch": 2}), "Done"], 1003, "unknown configuration keys"),
    (["Hello", b"\0\0\0\0", "Done"], 1003, "binary message"),
])
def test_client_mistakes(server: ServerThread, messages: list, code: int, says: str) -> None:
    got, closed = asyncio.run(exchange(f"{server.url}/tts", messages))
    error = json.loads([m for m in got if isinstance(m, str) and '"error"' in m][-1])
    assert closed == code and error["code"] == code and says in error["error"]


def test_without_a_tts_model_and_with_a_token() -> None:
    s = start(ServerConfig(port=0))
    try:
        got, code = asyncio.run(exchange(f"{s.url}/tts", ["Hi.", "Done"]))
        error = json.loads(got[-1])
        assert code == 1003 and "no TTS model is loaded" in error["error"] and "--tts-model" in error["error"]
        assert s.health()["tts"] is False
    finally:
        s.stop()


def test_token_is_required_when_set(synth) -> None:  # noqa: ANN001
    s = start(ServerConfig(port=0, token="s3cret"), synth)
    try:
        with pytest.raises(InvalidStatus) as e:
            asyncio.run(exchange(f"{s.url}/tts", ["Done"]))
        assert e.value.response.status_code == 401
        got, code = asyncio.run(exchange(f"{s.url}/tts?token=s3cret", ["Hi.", "Done"]))
        assert code == 1000 and json.loads(got[-1])["done"]
        got, code = asyncio.run(exchange(f"{s.url}/tts", ["Hi.", "Done"],
                                         additional_headers={"Authorization": "Bearer s3cret"}))
        assert code == 1000
    finally:
        s.stop()


def test_serve_has_a_tts_model_flag(tmp_path: Path) -> None:
    import argparse

    from speechstream.cli import serve

    parser = argparse.ArgumentParser()
    serve.add_arguments(parser)
    assert parser.parse_args(["--tts-model", str(tmp_path)]).tts_model == str(tmp_path)


@pytest.mark.browser
def test_the_pages_speak_box(server: ServerThread, synth, tmp_path: Path) -> None:  # noqa: ANN001
    import os
    import signal
    import subprocess
    import tempfile

    from test_browser import CHROMIUM, DevTools, _devtools_port
    from websockets.sync.client import connect as sync_connect

    if not CHROMIUM.is_file():
        pytest.skip("Debian chromium not installed")
    chromium = subprocess.Popen(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--autoplay-policy=no-user-gesture-required", f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path)}",
         "--remote-debugging-port=0", f"{server.http}/?voice=bm_george"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "chromium.log", "w"), start_new_session=True)
    try:
        with sync_connect(DevTools.page_url(_devtools_port(tmp_path / "chromium.log")), max_size=None) as devtools:
            page = DevTools(devtools)
            page.wait("typeof speak === 'function'", 20)
            page.eval(f"document.getElementById('say').value = {json.dumps(''.join(PIECES))}")
            page.eval("document.getElementById('speak').click()")
            status = page.wait("['done', 'closed'].includes(document.getElementById('tts').dataset.status) && "
                               "document.getElementById('tts').dataset.status", 30)
            assert status == "done", page.eval("document.getElementById('tts-error').textContent")
            samples = int(page.eval("document.getElementById('tts').dataset.samples"))
            assert page.eval("document.getElementById('tts-error').textContent") == ""
    finally:
        os.killpg(chromium.pid, signal.SIGKILL)
        chromium.wait()
    assert samples == len(synth.synthesize("".join(PIECES), "bm_george"))


def test_drain_speaks_the_text_received_then_closes_1001(synth) -> None:  # noqa: ANN001
    s = start(ServerConfig(port=0), synth)

    async def go() -> tuple[list[str | bytes], int | None]:
        got: list[str | bytes] = []
        async with connect(f"{s.url}/tts", max_size=None) as ws:
            await ws.send("Hello there, Dr. Smith!")
            got.append(await ws.recv())  # the stream is open
            stopping = asyncio.get_running_loop().run_in_executor(None, s.stop)
            try:
                async for m in ws:
                    got.append(m)
            except ConnectionClosed:
                pass
            await stopping
        return got, ws.close_code

    got, code = asyncio.run(go())
    assert code == 1001 and json.loads(got[-1])["done"]
    want = synth.synthesize("Hello there, Dr. Smith!")
    assert np.abs(audio(got) - want).max() < 1e-4 and len(audio(got)) == len(want)
