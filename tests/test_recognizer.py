"""The torch-free runtime against independent references: a tiny random model, saved, exported, and decoded by
`speechstream.Recognizer` in streaming mode (many streams, random chunkings, batched) must give exactly the
tokens that torch gives when it decodes the whole utterance offline with `forward`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from asr_helpers import NEVER, SYMBOLS, make_model, make_model_dir, utterances

from speechstream.asr.config import ASRModelConfig
from speechstream.asr.ctc_decoding import CtcBeamDecoder, CtcGreedyDecoder
from speechstream.asr.endpoint import EndpointConfig, EndpointRule
from speechstream.asr.recognizer import Recognizer
from speechstream.asr.rnnt_decoding import RnntBeamDecoder, RnntGreedyDecoder
from speechstream.asr.torch.checkpoint import load_model_dir
from speechstream.asr.torch.model import ASRModel
from speechstream.audio.fbank import Fbank
from speechstream.errors import ModelError

@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:  # noqa: ANN001
    return make_model_dir(tmp_path_factory.mktemp("model"))


def offline_reference(model: ASRModel, samples: np.ndarray, ctx: int, decoding: str) -> tuple[int, ...]:
    feats = torch.from_numpy(Fbank()(samples))[None]
    with torch.no_grad():
        enc, lens = model(feats, torch.tensor([feats.size(1)]), ctx)
        enc = enc[0, : int(lens[0])]
        log_probs = model.ctc(enc).numpy()

        def predictor(tokens: np.ndarray) -> np.ndarray:
            return model.predictor.step(torch.from_numpy(tokens)).numpy()

        def joiner(e: np.ndarray, p: np.ndarray) -> np.ndarray:
            return model.joiner(torch.from_numpy(e), torch.from_numpy(p)).numpy()

        blank, context = model.config.blank_id, model.config.context_size
        decoder = {"ctc-greedy": CtcGreedyDecoder(blank), "ctc-beam": CtcBeamDecoder(4, blank_id=blank),
                   "rnnt-greedy": RnntGreedyDecoder(predictor, joiner, blank, context),
                   "rnnt-beam": RnntBeamDecoder(predictor, joiner, blank, context, 4)}[decoding]
        state = decoder.step(log_probs if decoding.startswith("ctc") else enc.numpy(), decoder.init_state())
    return state.tokens


def stream_all(rec: Recognizer, audios: list[np.ndarray], lookahead_ms: float, rng: np.random.Generator
               ) -> list[list]:
    """Feeds every stream in random chunk sizes, interleaved, decoding all ready streams as one batch."""
    streams = [rec.create_stream(lookahead_ms) for _ in audios]
    pos = [0] * len(audios)
    results: list[list] = [[] for _ in audios]
    while not all(s.done for s in streams):
        for i, (s, x) in enumerate(zip(streams, audios)):
            if pos[i] < len(x):
                n = int(rng.integers(1, 3000))
                s.accept_waveform(16000, x[pos[i]: pos[i] + n])
                pos[i] += n
                if pos[i] >= len(x):
                    s.input_finished()
        while any(rec.is_ready(s) for s in streams):
            ready = [s for s in streams if rec.is_ready(s)]
            rec.decode_streams(streams)
            for i, s in enumerate(streams):
                if s in ready:
                    results[i].append(rec.get_result(s))
    return results


@pytest.mark.parametrize("decoding", ["ctc-greedy", "ctc-beam", "rnnt-greedy", "rnnt-beam"])
def test_streaming_runtime_equals_offline_torch(model_dir: Path, decoding: str) -> None:
    model = make_model()
    rec = Recognizer.from_dir(model_dir, decoding=decoding, endpoint=NEVER)
    rng = np.random.default_rng(1)
    audios = utterances(rng, (16000 * 3 + 77, 16000 * 2 + 5000, 19000))
    for ctx, lookahead in enumerate(rec.lookaheads_ms):
        results = stream_all(rec, audios, lookahead, rng)
        for x, res in zip(audios, results):
            final = [r for r in res if r.is_final]
            assert len(final) == 1 and res[-1] is final[0]
            expected = offline_reference(model, x, ctx, decoding)
            assert len(expected) >= 4, "the reference must emit tokens for the comparison to mean something"
            assert final[0].tokens == [SYMBOLS[t] for t in expected]
            assert final[0].end == pytest.approx(-(-Fbank().num_frames(len(x)) // 8) * 0.08)


def test_lookahead_choice_and_latency_come_from_the_model(model_dir: Path) -> None:
    rec = Recognizer.from_dir(model_dir)
    config = ASRModelConfig.tiny().encoder
    assert rec.lookaheads_ms == tuple((right + 1) * 8 * 10.0 for _, right in config.att_contexts)
    s = rec.create_stream(lookahead_ms=rec.lookaheads_ms[1] + 5)
    assert s.chunk_frames == (config.att_contexts[1][1] + 1) * 8
    assert rec.latency_ms(s) == pytest.approx(rec.lookaheads_ms[1] + 7.5)  # + the 25 ms window's reach
    with pytest.raises(ModelError, match="no look-ahead"):
        rec.create_stream(lookahead_ms=10)


def test_endpoints_split_segments_on_the_stream_clock(model_dir: Path) -> None:
    rule = EndpointRule(False, 0.0, 0.5)  # every 0.5 s of decoded audio
    rec = Recognizer.from_dir(model_dir, endpoint=EndpointConfig(rule, rule, rule))
    x = utterances(np.random.default_rng(2), (16000 * 3,))[0]
    results = stream_all(rec, [x], rec.lookaheads_ms[0], np.random.default_rng(3))[0]
    finals = [r for r in results if r.is_final]
    assert [r.segment for r in finals] == list(range(len(finals))) and len(finals) >= 5
    for a, b in zip(finals, finals[1:]):
        assert a.end == b.start and b.end > b.start
    for r in finals:
        assert all(r.start <= t < r.end for t in r.timestamps), (r.start, r.end, r.timestamps)


def test_resampled_input(model_dir: Path) -> None:
    """8 kHz input is resampled inside the stream: the same as resampling the file first."""
    from speechstream.audio.resample import resample

    rec = Recognizer.from_dir(model_dir, endpoint=NEVER)
    x8 = utterances(np.random.default_rng(4), (8000 * 2,))[0]
    a, b = rec.create_stream(), rec.create_stream()
    for chunk in np.array_split(x8, 13):
        a.accept_waveform(8000, chunk)
    b.accept_waveform(16000, resample(x8, 8000, 16000))
    for s in (a, b):
        s.input_finished()
        while rec.is_ready(s):
            rec.decode_streams([s])
    assert rec.get_result(a).tokens == rec.get_result(b).tokens and rec.get_result(a).is_final


def test_empty_stream_gives_an_empty_final_result(model_dir: Path) -> None:
    rec = Recognizer.from_dir(model_dir)
    s = rec.create_stream()
    s.accept_waveform(16000, np.zeros(0, np.float32))
    s.input_finished()
    rec.decode_streams([s])
    r = rec.get_result(s)
    assert r.is_final and r.text == "" and not rec.is_ready(s)


def test_runtime_never_imports_torch(model_dir: Path) -> None:
    code = f"""
import sys, numpy as np
from speechstream.asr.recognizer import Recognizer
rec = Recognizer.from_dir({str(model_dir)!r}, decoding="rnnt-beam")
s = rec.create_stream()
s.accept_waveform(16000, np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1)
s.input_finished()
while rec.is_ready(s):
    rec.decode_streams([s])
assert rec.get_result(s).is_final
assert "torch" not in sys.modules, "the runtime imported torch"
"""
    subprocess.run([sys.executable, "-c", code], check=True)


def test_model_dir_errors(model_dir: Path, tmp_path: Path) -> None:
    import shutil

    with pytest.raises(ModelError, match="not found"):
        Recognizer.from_dir(tmp_path / "nope")
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    (broken / "encoder.onnx").write_bytes(b"not an onnx file")
    with pytest.raises(ModelError, match="cannot load"):
        Recognizer.from_dir(broken)
    (broken / "encoder.onnx").unlink()
    with pytest.raises(ModelError, match="speechstream export"):
        Recognizer.from_dir(broken)
    with pytest.raises(ModelError, match="unknown decoding"):
        Recognizer.from_dir(model_dir, decoding="viterbi")

    (broken / "model.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(ModelError, match="corrupt"):
        load_model_dir(broken)
    config = json.loads((broken / "config.json").read_text())
    config["model"]["vocab_size"] = 99
    (broken / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="expects 99"):
        load_model_dir(broken)
    (broken / "config.json").write_text("{")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_model_dir(broken)
