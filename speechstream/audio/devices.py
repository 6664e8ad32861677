"""Audio devices as PortAudio (through sounddevice) sees them.

sounddevice is imported lazily: it loads the PortAudio shared library at import time, and a machine
without it should still be able to run everything that does not touch a device.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from speechstream.errors import DeviceError


def import_sounddevice() -> ModuleType:
    """The sounddevice module, or DeviceError when PortAudio cannot be loaded."""
    try:
        import sounddevice
    except (ImportError, OSError) as e:
        # sounddevice raises OSError("PortAudio library not found") when libportaudio2 is missing.
        raise DeviceError(
            f"PortAudio is not available ({e}); install libportaudio2 and the sounddevice package"
        ) from None
    return sounddevice


def rescan_devices() -> None:
    """Make PortAudio enumerate devices again.

    PortAudio lists devices once, when it is initialised (at sounddevice's import), so a device that
    appears later — a USB microphone plugged in, or a PulseAudio server started after import — is
    invisible until it is re-initialised. sounddevice has no public call for this; its maintainers
    point to the terminate/initialize pair. It must not be called while a stream is open.
    """
    sd = import_sounddevice()
    sd._terminate()
    sd._initialize()


def list_devices() -> list[dict[str, Any]]:
    """Every device PortAudio can see, one dict each.

    Keys: index, name, hostapi (its name), max_input_channels, max_output_channels,
    default_samplerate, default_input, default_output (whether it is the system default).
    """
    sd = import_sounddevice()
    try:
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
    except sd.PortAudioError as e:
        raise DeviceError(f"cannot query audio devices: {e}") from None
    # The default device index per direction is -1 when there is none.
    default_in, default_out = (_default_index(sd, kind) for kind in ("input", "output"))
    return [
        {
            "index": int(d["index"]),
            "name": str(d["name"]),
            "hostapi": str(hostapis[d["hostapi"]]["name"]),
            "max_input_channels": int(d["max_input_channels"]),
            "max_output_channels": int(d["max_output_channels"]),
            "default_samplerate": float(d["default_samplerate"]),
            "default_input": int(d["index"]) == default_in,
            "default_output": int(d["index"]) == default_out,
        }
        for d in devices
    ]


def _default_index(sd: ModuleType, kind: str) -> int:
    try:
        return int(sd.query_devices(kind=kind)["index"])
    except (sd.PortAudioError, ValueError):
        return -1
