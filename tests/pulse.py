"""A private, headless PulseAudio server whose null sink stands in for a microphone in tests.

What is played into the sink with `play()` comes back, in real time, from its monitor source, which is
the server's default source; sounddevice reaches it through ALSA's `pulse` device.

    with PulseServer() as pulse:                      # or the `pulse_server` fixture below
        subprocess.run([...], env=pulse.env)          # a child process that records from "pulse"
        with pulse.activated():                       # or record in this process
            mic = MicSource(device="pulse", sample_rate=16000)

`pulse_fixture()` makes a pytest fixture from it: `pulse_server = pulse_fixture()` in a test module.
The test is skipped (with the reason) when pulseaudio is not installed; a server that is installed but
fails to start is an error, with its log.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SINK = "vsink"


class PulseServer:
    """Starts `pulseaudio` with a null sink in a private runtime directory; stops it on exit."""

    def __init__(self, rate: int = 16000, channels: int = 1, start_timeout: float = 15.0):
        self.rate, self.channels, self.start_timeout = rate, channels, start_timeout
        self.sink = SINK
        self.source = f"{SINK}.monitor"
        self._process: subprocess.Popen | None = None
        self._dir: Path | None = None

    @staticmethod
    def missing() -> str | None:
        """Why a server cannot be started here (a skip reason), or None."""
        for program in ("pulseaudio", "pactl", "paplay"):
            if shutil.which(program) is None:
                return f"{program} is not installed (Debian: pulseaudio pulseaudio-utils)"
        return None

    @property
    def env(self) -> dict[str, str]:
        """os.environ plus what a client process needs to reach this server (and only this one)."""
        return {**os.environ, **self._client_env()}

    def _client_env(self) -> dict[str, str]:
        assert self._dir is not None, "the server is not running"
        return {"PULSE_SERVER": f"unix:{self._dir / 'native'}"}

    def start(self) -> PulseServer:
        self._dir = Path(tempfile.mkdtemp(prefix="speechstream-pulse-"))
        server_env = {
            **os.environ,
            # Private everything, so the server neither finds nor disturbs a user's session.
            "HOME": str(self._dir),
            "XDG_RUNTIME_DIR": str(self._dir),
            "XDG_CONFIG_HOME": str(self._dir / "config"),
            "PULSE_RUNTIME_PATH": str(self._dir / "runtime"),
        }
        server_env.pop("PULSE_SERVER", None)
        self._log = open(self._dir / "pulseaudio.log", "wb")
        # As root pulseaudio warns that it "is not intended to be run as root" but runs; `--system`
        # is not needed. -n: no default.pa, so only the modules named here load.
        self._process = subprocess.Popen(
            [
                "pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
                "--log-target=stderr",
                "-L", f"module-native-protocol-unix auth-anonymous=1 socket={self._dir / 'native'}",
                "-L", f"module-null-sink sink_name={SINK} rate={self.rate} channels={self.channels}",
            ],
            env=server_env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self._process.poll() is not None:
                self._fail("pulseaudio exited while starting")
            if self._pactl("info").returncode == 0:
                break
            if time.monotonic() > deadline:
                self._fail("pulseaudio did not accept connections in time")
            time.sleep(0.1)
        result = self._pactl("set-default-source", self.source)
        if result.returncode != 0:
            self._fail(f"pactl set-default-source failed: {result.stderr.strip()}")
        return self

    def _pactl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["pactl", *args], env=self.env, capture_output=True, text=True, timeout=10)

    def _fail(self, why: str) -> None:
        log = (self._dir / "pulseaudio.log").read_text(errors="replace") if self._dir else ""
        self.stop()
        raise RuntimeError(f"{why}; its log:\n{log}")

    def play(self, path: str | Path) -> subprocess.Popen:
        """Starts playing a wav into the sink (so it comes out of the monitor source); returns the process."""
        return subprocess.Popen(
            ["paplay", "-d", self.sink, str(path)], env=self.env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )

    @contextlib.contextmanager
    def activated(self) -> Iterator[PulseServer]:
        """Points this process's audio at the server while inside, and PortAudio re-lists devices.

        PortAudio enumerates devices once, at initialisation, so it must re-scan to see `pulse` (and
        re-scan on the way out to forget it). Open no stream across the boundaries.
        """
        from speechstream.audio.devices import rescan_devices

        saved = {k: os.environ.get(k) for k in self._client_env()}
        os.environ.update(self._client_env())
        rescan_devices()
        try:
            yield self
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            rescan_devices()

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
            self._log.close()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> PulseServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def pulse_fixture(scope: str = "module", rate: int = 16000, channels: int = 1):
    """A pytest fixture yielding a running PulseServer; skips when pulseaudio is not installed."""

    @pytest.fixture(scope=scope)
    def pulse_server() -> Iterator[PulseServer]:
        reason = PulseServer.missing()
        if reason:
            pytest.skip(reason)
        with PulseServer(rate=rate, channels=channels) as server:
            yield server

    return pulse_server
