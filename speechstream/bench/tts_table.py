"""The table `speechstream bench tts` prints from run_tts_bench's result: one row per system, first-packet
percentiles and RTF (CPU, then wall), the audio timed; the computed latency beside the measured one."""

from __future__ import annotations

from typing import Any

from speechstream.bench.common import format_table
from speechstream.bench.tts import CLOCK, SYSTEMS

LABELS = {"speechstream_chunked": "speechstream chunked", "speechstream_whole": "speechstream whole",
          "piper": "piper (joe)", "kokoro": "kokoro 82M int8"}


def _ms(p: dict[str, float]) -> str:
    return f"{p['p50']:.0f} / {p['p95']:.0f}"


def format_tts_table(r: dict[str, Any]) -> str:
    rows = []
    for name in SYSTEMS:
        s = r["systems"][name]
        if "skipped" in s:
            rows.append([LABELS[name], "-", "-", "-", "-", "-", f"skipped: {s['skipped']}"])
            continue
        rtf, rtf_wall = s["rtf"], s["wall"]["rtf"]
        detail = (f"first packet {s['first_packet_audio_ms']:.0f} ms of audio, {100 * s['first_packet_ratio']:.0f} % "
                  f"of the utterance's time" if s["first_packet_ratio"] < 1 else "whole utterance")
        rows.append([LABELS[name], _ms(s["first_packet_ms"]), _ms(s["wall"]["first_packet_ms"]),
                     "-" if rtf is None else f"{rtf:.4f}", "-" if rtf_wall is None else f"{rtf_wall:.4f}",
                     f"{s['audio_s']:.1f}", detail])
    m, run, c = r["model"], r["run"], r["computed_latency"]
    solver = m["config"]["solver"]
    exported = " (no ONNX graphs: exported for this run)" if m["exported_for_run"] else ""
    n_sent = len({u["sentence"] for u in r["utterances"]})
    passes = f"{run['repeats']} pass{'es' if run['repeats'] > 1 else ''}"
    head = (f"# model: {m['source']}{exported}, chunk {c['chunk_frames']} frames + look-ahead {c['lookahead_frames']}, "
            f"{solver['name']} NFE {solver['nfe']}; vocoder {m['vocoder']}; {len(r['utterances'])} utterances "
            f"({n_sent} sentences, {passes}, voices {', '.join(run['voices'])}); "
            f"{run['threads']} thread(s); {run['clock']}; took {run['wall_s']:.1f} s")
    chunked = r["systems"]["speechstream_chunked"]
    computed = (f"# computed latency (config): {c['lookahead_phonemes']} phonemes of text look-ahead; decoder "
                f"{c['chunk_frames']} + {c['lookahead_frames']} frames = {c['decoder_latency_ms']:g} ms, vocoder "
                f"{c['vocoder_latency_ms']:g} ms: {c['total_ms']:g} ms of audio before the first sample is final; "
                f"measured: first packet p50 {chunked['first_packet_ms']['p50']:.0f} ms of compute "
                f"(G2P, encoder, one chunk)")
    notes = "".join(f"\n# {n}" for n in r["notes"])
    header = ["system", f"first packet p50 / p95 ms ({CLOCK})", "wall", f"rtf ({CLOCK})", "wall", "audio s", "detail"]
    return head + "\n" + format_table(header, rows, right={1, 2, 3, 4, 5}) + "\n" + computed + notes
