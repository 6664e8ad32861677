"""Output paths checked before any work is done: a type we can write, in a folder that exists.

soundfile picks the container from the extension but needs a matching sample encoding, so a name it does not
know (or `.ogg` with the WAV encoding) fails only after the work, as a traceback; and a missing folder is
reported by libsndfile as "System error.".
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from speechstream.errors import SpeechstreamError

# extension -> (soundfile format, encoding); WAV's encoding is the caller's.
AUDIO_OUTPUTS: dict[str, tuple[str, str]] = {
    ".wav": ("WAV", ""), ".flac": ("FLAC", "PCM_24"), ".ogg": ("OGG", "VORBIS"), ".mp3": ("MP3", "MPEG_LAYER_III"),
}


def check_output(path: Path, option: str, suffixes: Sequence[str]) -> None:
    """A one-line error unless `path` ends in one of `suffixes` and its folder exists."""
    if path.suffix.lower() not in suffixes:
        kind = f"'{path.suffix}' files" if path.suffix else "a name without an extension"
        raise SpeechstreamError(f"{option} {path}: cannot write {kind}; use {', '.join(suffixes)}")
    folder = path.parent
    if not folder.is_dir():
        raise SpeechstreamError(f"{option} {path}: the folder {folder} does not exist")
    if path.is_dir():
        raise SpeechstreamError(f"{option} {path}: is a folder, not a file name")


def audio_output(path: Path, option: str, wav_subtype: str = "PCM_16") -> tuple[str, str]:
    """(soundfile format, encoding) to write `path` with, after check_output for the audio types this
    libsndfile writes."""
    import soundfile as sf

    available = sf.available_formats()
    suffixes = [s for s, (fmt, _) in AUDIO_OUTPUTS.items() if fmt in available]
    check_output(path, option, suffixes)
    fmt, subtype = AUDIO_OUTPUTS[path.suffix.lower()]
    return fmt, subtype or wav_subtype
