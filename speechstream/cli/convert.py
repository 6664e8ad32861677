"""`speechstream convert`: streaming voice conversion of a file or a live microphone into a target's voice.

A subcommand module by the CLI's contract (HELP, add_arguments, run; heavy imports inside run).

    speechstream convert in.wav --ref target.wav --out out.wav     # a file, streamed chunk by chunk
    speechstream convert in.wav --voice af_heart --out out.wav     # a built-in target (--list-voices)
    speechstream convert --mic --ref target.wav                    # live: microphone in, speakers out
    speechstream convert --mic --voice af_heart --out live.wav     # live, written to a file

The target's embedding is computed once (from --ref, any rate, at least a second of speech). The stream's
latency (computed from the model's and the vocoder's config) and its real-time factor go to stderr.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

HELP = "convert a file or a live microphone into a target voice (--ref FILE or --voice NAME), streaming"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", type=Path, metavar="IN",
                        help="source audio file (any rate: resampled; stereo is mixed to mono); or --mic")
    parser.add_argument("--mic", action="store_true", help="convert a live microphone instead of a file")
    parser.add_argument("--ref", type=Path, metavar="TARGET.wav", help="a recording of the target voice (>= 1 s)")
    parser.add_argument("--voice", metavar="NAME", help="a built-in target voice instead of --ref (--list-voices)")
    parser.add_argument("--out", type=Path, metavar="OUT.wav",
                        help="write the result here (.wav, .flac, .ogg or .mp3); with --mic, instead of playing it")
    parser.add_argument("--model", type=Path, metavar="DIR",
                        help="VC model directory (default: models/vc_en or $SPEECHSTREAM_VC_MODEL)")
    parser.add_argument("--vocoder", type=Path, metavar="DIR",
                        help="vocoder model directory (default: the model's vocoder/, else models/vocoder_en)")
    parser.add_argument("--list-voices", action="store_true", help="print the model's built-in voices and exit")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (one seed, one audio)")
    parser.add_argument("--device", help="--mic: input device index or name substring (see `speechstream devices`)")
    parser.add_argument("--output-device", help="--mic: output device index or name substring")
    parser.add_argument("--duration", type=float, help="--mic: stop after this many seconds of audio")
    parser.add_argument("--block-ms", type=float, default=20.0, help="--mic: capture block size (default 20 ms)")
    parser.add_argument("--num-threads", type=int, default=1, help="onnxruntime threads (default 1)")
    parser.add_argument("--provider", choices=("cpu", "cuda"), default="cpu")


def _device(value: str | None) -> int | str | None:
    return int(value) if value is not None and value.isdigit() else value


def run(args: argparse.Namespace) -> int:
    from speechstream.errors import SpeechstreamError
    from speechstream.vc.model_dir import default_vc_model, read_config, read_voices

    model_dir = args.model if args.model is not None else default_vc_model()
    if args.list_voices:
        for name in sorted(read_voices(model_dir, read_config(model_dir).d_speaker)):
            print(name)
        return 0
    if args.mic == (args.file is not None):
        raise SpeechstreamError("give a source: a file IN or --mic (not both)")
    if (args.ref is None) == (args.voice is None):
        raise SpeechstreamError("give the target: --ref TARGET.wav or --voice NAME (one of them)")
    if args.num_threads < 1:
        raise SpeechstreamError(f"--num-threads must be >= 1, got {args.num_threads}")
    subtype = None
    if args.out is not None:
        from speechstream.cli.outputs import audio_output

        _, subtype = audio_output(args.out, "--out", wav_subtype="FLOAT" if args.mic else "PCM_16")
    from speechstream.audio.io import read_audio
    from speechstream.vc.converter import Converter

    source = read_audio(args.file) if args.file is not None else None  # a bad file fails before the model loads
    vc = Converter.from_dir(model_dir, vocoder=args.vocoder, num_threads=args.num_threads, provider=args.provider)
    try:
        if args.ref is not None:
            reference, rate = read_audio(args.ref)
            vc.set_target(reference, rate)
        else:
            vc.set_voice(args.voice)
    except ValueError as e:
        raise SpeechstreamError(str(e)) from None
    stream = vc.create_stream(seed=args.seed)
    if source is not None:
        return _convert_file(vc, stream, source, args, subtype)
    return _convert_mic(vc, stream, args, subtype)


def _write(path: Path, samples, rate: int, subtype: str | None) -> None:  # noqa: ANN001
    from speechstream.audio.io import write_audio
    from speechstream.errors import SpeechstreamError

    try:
        write_audio(path, samples, rate, subtype=subtype or "PCM_16")
    except (OSError, RuntimeError) as e:  # soundfile raises RuntimeError subclasses for unwritable paths
        raise SpeechstreamError(f"cannot write {path}: {e}") from None


def _summary(vc, seconds: float, busy: float, threads: int) -> str:  # noqa: ANN001
    c = vc.config
    return (f"RTF {busy / max(seconds, 1e-9):.3f} on {threads} thread(s), latency {vc.latency_ms:g} ms (content "
            f"look-ahead {c.content_lookahead}, chunk {c.chunk_frames}, decoder look-ahead {c.decoder_lookahead} "
            f"frames + the vocoder's {vc.vocoder.config.lookahead_frames} and its overlap-add)")


def _convert_file(vc, stream, source, args: argparse.Namespace, subtype: str | None) -> int:  # noqa: ANN001
    import time

    import numpy as np

    from speechstream.errors import SpeechstreamError

    samples, rate = source
    if args.out is None:
        raise SpeechstreamError("--out OUT.wav is required for a file")
    piece = max(1, rate // 50)  # 20 ms at the file's rate, as a microphone would deliver it
    out = []
    start = time.perf_counter()
    for pos in range(0, len(samples), piece):
        stream.accept_waveform(rate, samples[pos:pos + piece])
        out.append(stream.pull())
    stream.input_finished()
    out.append(stream.pull())
    busy = time.perf_counter() - start
    audio = np.concatenate(out)
    clipped = int((np.abs(audio) > 1.0).sum())
    _write(args.out, np.clip(audio, -1.0, 1.0), vc.sample_rate, subtype)
    seconds = len(audio) / vc.sample_rate
    note = f"; {clipped} samples clipped to [-1, 1]" if clipped else ""
    print(f"wrote {args.out} ({seconds:.2f} s, {vc.sample_rate} Hz): " + _summary(vc, seconds, busy, args.num_threads)
          + note, file=sys.stderr)
    return 0


def _convert_mic(vc, stream, args: argparse.Namespace, subtype: str | None) -> int:  # noqa: ANN001
    import time

    import numpy as np

    from speechstream.audio.devices import import_sounddevice
    from speechstream.errors import DeviceError
    from speechstream.pipeline import MicSource

    mic = MicSource(device=_device(args.device), block_ms=args.block_ms)
    rate = int(mic.sample_rate)
    player = None
    if args.out is None:
        sd = import_sounddevice()
        try:
            player = sd.OutputStream(samplerate=vc.sample_rate, channels=1, dtype="float32",
                                     device=_device(args.output_device))
            player.start()
        except (ValueError, sd.PortAudioError) as e:
            mic.close()
            raise DeviceError(f"cannot play audio ({e}); pass --out FILE") from None
    kept: list[np.ndarray] = []
    busy, produced, received, shown_overruns = 0.0, 0, 0, 0
    where = f"playing on {player.device!r}" if player is not None else f"writing {args.out}"
    print(f"converting {mic.device['name']!r} at {rate} Hz, {where}; latency {vc.latency_ms:g} ms; Ctrl-C to stop",
          file=sys.stderr)

    def emit(samples: np.ndarray) -> None:
        nonlocal produced
        if not len(samples):
            return
        produced += len(samples)
        samples = np.clip(samples, -1.0, 1.0)
        if player is not None:
            player.write(samples[:, None])
        else:
            kept.append(samples)

    def stop(signum, frame) -> None:  # noqa: ANN001
        # Ctrl-C stops the capture; the blocks already captured are still converted. A second one aborts.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        mic.close()

    previous = signal.signal(signal.SIGINT, stop)
    try:
        for block in mic:
            received += len(block)
            start = time.perf_counter()
            stream.accept_waveform(rate, block)
            y = stream.pull()
            busy += time.perf_counter() - start
            emit(y)
            if mic.overruns > shown_overruns:
                print(f"warning: {mic.overruns - shown_overruns} audio block(s) lost: the computer is too slow or "
                      "busy", file=sys.stderr)
                shown_overruns = mic.overruns
            if args.duration is not None and received >= args.duration * rate:
                break
    finally:
        signal.signal(signal.SIGINT, previous)
        mic.close()
        try:
            start = time.perf_counter()
            stream.input_finished()
            y = stream.pull()
            busy += time.perf_counter() - start
            emit(y)
        finally:
            if player is not None:
                player.stop()
                player.close()
    seconds = produced / vc.sample_rate
    if args.out is not None:
        audio = np.concatenate(kept) if kept else np.zeros(0, np.float32)
        if not len(audio):
            print("nothing was captured; no file written", file=sys.stderr)
            return 1
        _write(args.out, audio, vc.sample_rate, subtype)
    print(f"{'wrote ' + str(args.out) if args.out is not None else 'played'} {seconds:.2f} s: "
          + _summary(vc, seconds, busy, args.num_threads), file=sys.stderr)
    return 0
