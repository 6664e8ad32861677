"""The table `speechstream bench asr` prints: headline numbers (CPU time), their wall-clock equivalents, the
costs behind them and the goals, from run_asr_bench's result."""

from __future__ import annotations

from typing import Any

from speechstream.bench.asr import CLOCK, GOALS
from speechstream.bench.common import format_table


def format_asr_table(r: dict[str, Any]) -> str:
    """The headline numbers (CPU time) with their wall-clock equivalents, the costs behind them and the goals."""
    t, m = r["timings"], r["model"]
    p1, p4, ls = t["cache_vs_buffered"], t["ort_vs_eager"], t["long_stream"]
    rows: list[list[str]] = []

    def row(metric: str, lookahead: str, value: str, wall: str, detail: str) -> None:
        rows.append([metric, lookahead, value, wall, detail, GOALS[metric.split()[0]]])

    for key, v in r["cache_vs_buffered"].items():
        cost, base = p1["cache_ms_per_audio_s"][key][CLOCK], p1["buffered_ms_per_audio_s"][key][CLOCK]
        row("cache_vs_buffered", f"{key} ms", f"{v:.1f}x", f"{p1['ratio_wall'][key]:.1f}x",
            f"cache {cost:.2f} vs buffered {base:.2f} ms/audio-s ({p1['window_frames'][key]}-frame window: "
            f"{p1['work_ratio'][key]:.1f}x the frames)")
    if r["vs_sherpa"] is not None:
        s = t["vs_sherpa"]
        row("vs_sherpa", f"{s['lookahead_ms']:g} ms", f"{r['vs_sherpa']:.2f}", f"{s['ratio_wall']:.2f}",
            f"ours {s['ours_ms_per_audio_s'][CLOCK]:.2f} vs sherpa {s['sherpa_ms_per_audio_s'][CLOCK]:.2f} ms/audio-s")
    else:
        row("vs_sherpa", "-", "null", "-", r["vs_sherpa_reason"] or "")
    for name, dec in (("rtf", "ctc-greedy"), ("rtf_rnnt_greedy", "rnnt-greedy")):
        for key, v in r[name].items():
            row(f"rtf {dec}", f"{key} ms", f"{v:.4f}", f"{t['rtf']['rtf_wall'][dec][key]:.4f}",
                f"{1000 * v:.2f} ms/audio-s")
    for key, v in r["ort_vs_eager"].items():
        row("ort_vs_eager", f"{key} ms", f"{v:.1f}x", f"{p4['ratio_wall'][key]:.1f}x",
            f"ort {p4['ort_ms_per_step'][key][CLOCK]:.3f} vs eager {p4['eager_ms_per_step'][key][CLOCK]:.3f} ms/step")
    la = f"{ls['lookahead_ms']:g} ms"
    turns = ls["round_robin_ms_per_chunk"][CLOCK]
    row("late_vs_early", la, f"{r['late_vs_early']:.3f}", f"{ls['late_vs_early_wall']:.3f}",
        f"{turns['young']:.3f} -> {turns['old']:.3f} ms/chunk, 1 vs {ls['minutes']:g} minutes old, in turns")
    rss = ls["rss_mb"]
    row("rss_growth_mb", la, f"{r['rss_growth_mb']:+.1f}", "-",
        f"{rss['after_minute_1']:.0f} -> {rss['end']:.0f} MB resident")
    run = r["run"]
    head = (f"# model: {m['source']}, {m['parameters']['total'] / 1e6:.2f} M parameters, look-aheads "
            f"{', '.join(f'{x:g}' for x in m['lookaheads_ms'])} ms; {m['precision']} graphs on every onnxruntime "
            f"side (torch eager: fp32); {run['threads']} thread(s); "
            f"audio: {run['audio']}; median of {run['repeats']} repeats; {run['clock']}; took {run['wall_s']:.1f} s")
    notes = "".join(f"\n# {n}" for n in r["notes"])
    header = ["metric", "look-ahead", CLOCK, "wall", "detail (" + CLOCK + ")", "goal"]
    return head + "\n" + format_table(header, rows, right={1, 2, 3}) + notes
