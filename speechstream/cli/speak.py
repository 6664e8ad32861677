"""`speechstream speak`: text -> speech, streamed: audio starts as soon as the first segment's phonemes and the
model's look-ahead are in, and plays (or is written) while the rest of the text still arrives.

A subcommand module by the CLI's contract (HELP, add_arguments, run; heavy imports inside run).

    speechstream speak "Hello there." --voice af_heart:0.6,bm_george:0.4 --out hello.wav
    llm "tell me a story" | speechstream speak --voice bf_emma          # stdin, read as it arrives
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "speak text (an argument, or stdin as it arrives) with a streaming TTS model; play it or write a file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", nargs="?", help="what to say (default: read stdin, speaking as text arrives)")
    parser.add_argument("--voice", default="af_heart", metavar="V",
                        help="a voice or a blend, e.g. af_heart or af_heart:0.6,bm_george:0.4 (--list-voices)")
    parser.add_argument("--speed", type=float, default=1.0, help="speaking rate (1.0 the model's; 1.2 faster)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (one seed, one audio)")
    parser.add_argument("--out", type=Path, metavar="OUT.wav",
                        help="write the audio here (.wav, .flac, .ogg or .mp3) instead of playing it")
    parser.add_argument("--model", type=Path, metavar="DIR",
                        help="TTS model directory (default: models/tts_en or $SPEECHSTREAM_TTS_MODEL)")
    parser.add_argument("--vocoder", type=Path, metavar="DIR",
                        help="vocoder model directory (default: the model's vocoder/, else models/vocoder_en)")
    parser.add_argument("--list-voices", action="store_true", help="print the model's voices and exit")
    parser.add_argument("--num-threads", type=int, default=1, help="onnxruntime threads (default 1)")
    parser.add_argument("--provider", choices=("cpu", "cuda"), default="cpu")


def _texts(args: argparse.Namespace):
    """The text in pieces: the argument whole, or stdin as the bytes arrive (UTF-8, decoded incrementally)."""
    import codecs
    import os

    if args.text is not None and args.text != "-":
        yield args.text
        return
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    fd = sys.stdin.fileno()
    while True:
        data = os.read(fd, 4096)
        if not data:
            yield decoder.decode(b"", final=True)
            return
        yield decoder.decode(data)


def run(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from speechstream.errors import SpeechstreamError
    from speechstream.tts.model_dir import default_tts_model, read_config
    from speechstream.tts.synthesizer import Synthesizer

    model_dir = args.model if args.model is not None else default_tts_model()
    if args.list_voices:
        for name in read_config(model_dir).speakers:
            print(name)
        return 0
    if args.num_threads < 1:
        raise SpeechstreamError(f"--num-threads must be >= 1, got {args.num_threads}")
    if not args.speed > 0:
        raise SpeechstreamError(f"--speed must be positive, got {args.speed}")
    subtype = None
    if args.out is not None:
        from speechstream.cli.outputs import audio_output

        _, subtype = audio_output(args.out, "--out")
    synth = Synthesizer.from_dir(model_dir, vocoder=args.vocoder, num_threads=args.num_threads,
                                 provider=args.provider)
    try:
        stream = synth.stream(args.voice, args.speed, args.seed)
    except ValueError as e:
        raise SpeechstreamError(str(e)) from None

    player = None
    if args.out is None:
        from speechstream.audio.devices import import_sounddevice

        sd = import_sounddevice()
        try:
            player = sd.OutputStream(samplerate=synth.sample_rate, channels=1, dtype="float32")
            player.start()
        except sd.PortAudioError as e:
            raise SpeechstreamError(f"cannot play audio ({e}); pass --out FILE") from None
    kept: list[np.ndarray] = []
    first_text = first_audio = None
    busy, produced = 0.0, 0

    def work(call, *a) -> None:  # noqa: ANN001 - times the synthesis, then plays or keeps what came out
        nonlocal busy, produced, first_audio
        start = time.perf_counter()
        call(*a)
        while stream.is_ready:  # a few chunks at a time, so playback starts before a long text is decoded
            samples = stream.pull(max_chunks=4)
            busy += time.perf_counter() - start
            if len(samples):
                if first_audio is None:
                    first_audio = time.perf_counter()
                produced += len(samples)
                samples = np.clip(samples, -1.0, 1.0)
                if player is not None:
                    player.write(samples[:, None])
                else:
                    kept.append(samples)
            start = time.perf_counter()
        busy += time.perf_counter() - start

    try:
        for piece in _texts(args):
            if piece.strip() and first_text is None:
                first_text = time.perf_counter()
            work(stream.accept_text, piece)
        work(stream.input_finished)
    finally:
        if player is not None:
            player.stop()
            player.close()
    audio = np.concatenate(kept) if kept else np.zeros(0, np.float32)
    if args.out is not None:
        from speechstream.audio.io import write_audio

        try:
            write_audio(args.out, audio, synth.sample_rate, subtype=subtype)
        except (OSError, RuntimeError) as e:
            raise SpeechstreamError(f"cannot write {args.out}: {e}") from None
    seconds = produced / synth.sample_rate
    parts = [f"wrote {args.out} ({seconds:.2f} s)" if args.out is not None else f"played {seconds:.2f} s"]
    if first_text is not None and first_audio is not None:
        parts.append(f"first audio {1000 * (first_audio - first_text):.0f} ms after the text")
    if seconds:
        parts.append(f"RTF {busy / seconds:.3f} on {args.num_threads} thread(s)")
    print(", ".join(parts), file=sys.stderr)
    return 0
