"""Foreign peers: sherpa-onnx's C++ websocket client against our server gets what `speechstream transcribe`
prints, and our `client` against sherpa-onnx's C++ websocket server running our exported ctc.onnx gets what
our numpy emulation of sherpa (SherpaCtcRunner) decodes, its 0.8 s of tail padding included."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from asr_helpers import utterances
from test_server_helpers import ServerThread, finals, free_port, model_dir

from speechstream.asr.sherpa_ctc import SherpaCtcRunner
from speechstream.audio.fbank import Fbank
from speechstream.cli import main
from speechstream.server import ServerConfig

BIN = Path(sys.executable).parent
CLIENT, SERVER = BIN / "sherpa-onnx-online-websocket-client", BIN / "sherpa-onnx-online-websocket-server"
SHERPA_TAIL_S = 0.8  # online-websocket-server-impl.h: end_tail_padding, added on the client's `Done`


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sherpa") / "a.wav"
    sf.write(path, utterances(np.random.default_rng(11), (16000 * 3 + 555,))[0], 16000, subtype="PCM_16")
    return path  # sherpa's client reads only 16-bit mono 16 kHz WAV


@pytest.mark.skipif(not CLIENT.is_file(), reason="sherpa-onnx-bin not installed")
def test_sherpa_client_against_our_server_gets_what_transcribe_prints(wav: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["transcribe", str(wav), "--model", str(model_dir()), "--json"]) == 0
    expected = finals([json.loads(line) for line in capsys.readouterr().out.splitlines()])
    server = ServerThread()
    try:
        port = server.url.rsplit(":", 1)[1]
        # It sends 0.25 s float32 messages every 10 ms, then "Done"; prints each message but "Done!" (after
        # which it closes) on stderr.
        run = subprocess.run([str(CLIENT), "--server-ip=127.0.0.1", f"--server-port={port}",
                              "--samples-per-message=4000", "--seconds-per-message=0.01", str(wav)],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        messages = [json.loads(line[line.index("{"):]) for line in run.stderr.splitlines() if "{" in line]
        assert finals(messages) == expected and any(expected)
        assert "Disconnected" in run.stderr  # it got our "Done!" and closed
        assert server.health()["streams"] == 0
    finally:
        server.stop()


@pytest.mark.skipif(not SERVER.is_file(), reason="sherpa-onnx-bin not installed")
def test_our_client_against_sherpas_server_with_our_exported_model(wav: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    d = model_dir(sherpa=True)
    x, _ = sf.read(wav, dtype="float32")
    runner = SherpaCtcRunner.from_files(d / "ctc.onnx", d / "tokens.txt")
    expected = runner.decode(Fbank()(np.concatenate([x, np.zeros(int(SHERPA_TAIL_S * 16000), np.float32)]))).text
    port = free_port()
    proc = subprocess.Popen([str(SERVER), f"--port={port}", f"--nemo-ctc-model={d / 'ctc.onnx'}",
                             f"--tokens={d / 'tokens.txt'}", "--enable-endpoint=false", "--num-work-threads=1",
                             "--num-io-threads=1", f"--log-file={tmp_path / 'log.txt'}"],
                            stdout=(tmp_path / "stdout.txt").open("w"), stderr=subprocess.STDOUT)
    try:
        _wait_for_port(proc, port, 30, tmp_path / "stdout.txt")
        url = f"ws://127.0.0.1:{port}"
        assert main(["client", str(wav), "--url", url, "--no-realtime", "--chunk-ms", "50", "--json"]) == 0
        messages = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert finals(messages) == [expected] and len(expected) >= 8
        assert messages[-1]["is_final"] and messages[-1].get("is_eof", True)
        assert main(["client", str(wav), "--url", url, "--no-realtime"]) == 0  # text output: no start/end there
        assert capsys.readouterr().out.strip() == expected
    finally:
        proc.kill()
        proc.wait()


def _wait_for_port(proc: subprocess.Popen, port: int, timeout: float, log: Path) -> None:
    """Until the server accepts TCP connections (its log lines are not a reliable signal through a pipe)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"sherpa's server exited: {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"sherpa's server did not listen on port {port} within {timeout} s")
