"""sherpa-onnx NeMo streaming CTC export: onnxruntime == torch eager, and sherpa-onnx == our numpy emulation."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from audio_helpers import espeak_speech
from speechstream.asr.config import ASRModelConfig
from speechstream.asr.sherpa_ctc import (
    INPUT_NAMES,
    SHERPA_KEYS,
    SherpaCtcMeta,
    SherpaCtcRunner,
    sherpa_text,
)
from speechstream.asr.tokenizer import BLANK, UNK, write_tokens
from speechstream.asr.torch.model import ASRModel
from speechstream.asr.torch.sherpa_ctc_export import export_sherpa_ctc
from speechstream.audio.fbank import Fbank
from speechstream.runtime.session import create_session, read_metadata

torch.set_num_threads(1)
WINDOWS = 42  # > 40 windows: the attention cache (8 frames) wraps many times
# Characters, a word boundary and BPE-like pieces, so sherpa's "▁" handling is exercised; "<unk>" shows up
# literally in sherpa's text.
SYMBOLS = [UNK, "\u2581", "\u2581the", "\u2581a", "ing", "'"] + list("abcdefghijklmnop") + [BLANK]
SPEECH = "Streaming speech recognition should give the same words in every runtime we ship."


@pytest.fixture(scope="module")
def model() -> ASRModel:
    torch.manual_seed(0)
    m = ASRModel(ASRModelConfig.tiny(vocab_size=len(SYMBOLS)))
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # perturb everything, LayerNorm affine and position biases included
        for p in m.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.2)
    return m.eval()


def varied_head(model: ASRModel, feats: np.ndarray) -> ASRModel:
    """A copy whose CTC head reads the encoder's deviations from its mean on `feats` (T, F).

    A random head on a random encoder says one or two tokens everywhere (the encoder output is dominated by
    a constant direction); aimed at the deviations, the argmax changes from frame to frame, blank included,
    so a text comparison can fail.
    """
    m = copy.deepcopy(model)
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        x = torch.from_numpy(feats)[None]
        enc, _ = m(x, torch.tensor([x.size(1)]), 0)
        mean, std = enc[0].mean(0), enc[0].std(0)
        w = torch.randn(m.ctc.proj.out_features, m.ctc.proj.in_features, generator=g) / std
        m.ctc.proj.weight.copy_(w)
        m.ctc.proj.bias.copy_(-w @ mean)
        m.ctc.proj.bias[-1] += 6.0  # about a quarter of the frames blank, so blank handling matters too
    return m


@pytest.fixture(scope="module")
def tokens_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tokens") / "tokens.txt"
    write_tokens(SYMBOLS, str(path))
    return path


def export(model: ASRModel, tokens: Path, out_dir: Path, ctx: int) -> Path:
    return export_sherpa_ctc(model, out_dir / "model.onnx", att_context=ctx, tokens_path=tokens)


@pytest.mark.parametrize("ctx", [0, 1])
def test_onnx_equals_eager_over_many_windows(model: ASRModel, tokens_file: Path, tmp_path: Path, ctx: int) -> None:
    path = export(model, tokens_file, tmp_path, ctx)
    runner = SherpaCtcRunner(create_session(path), SYMBOLS)
    enc = model.encoder
    p, c = enc.pre_encode_cache_frames, enc.chunk_frames(ctx)
    assert (runner.meta.window_size, runner.meta.chunk_shift) == (p + c, c)
    feats = torch.randn(2, p + WINDOWS * c, 80) * 3.0 - 5.0  # log-mel-like range; two streams in one batch
    _, chan, time_, chan_len = enc.init_state(2)
    ort_state = runner.init_state(2)
    for k in range(WINDOWS):
        window = feats[:, k * c:k * c + p + c]
        with torch.no_grad():
            y, chan, time_, chan_len = enc.step_window(window, chan, time_, chan_len, ctx)
            ref = model.ctc(y)
        got, ort_state = runner.step(window.numpy(), ort_state)
        assert np.abs(got - ref.numpy()).max() <= 1e-4, k
        for a, b in zip(ort_state, (chan, time_, chan_len)):
            assert a.dtype == b.numpy().dtype and np.abs(a - b.numpy()).max() <= 1e-4, k
    assert ort_state[2].tolist() == [enc.att_cache_frames] * 2


def test_metadata_and_files(model: ASRModel, tokens_file: Path, tmp_path: Path) -> None:
    path = export(model, tokens_file, tmp_path, 1)
    sess = create_session(path)
    assert [i.name for i in sess.get_inputs()] == list(INPUT_NAMES)
    assert [o.name for o in sess.get_outputs()][:2] == ["logits", "logit_length"]
    meta = read_metadata(sess)
    enc, cfg = model.encoder, model.encoder.config
    assert {k: meta[k] for k in SHERPA_KEYS} == {
        "window_size": enc.pre_encode_cache_frames + enc.chunk_frames(1), "chunk_shift": enc.chunk_frames(1),
        "subsampling_factor": 8, "vocab_size": len(SYMBOLS) - 1,  # NeMo's count: the blank is not in it
        "cache_last_channel_dim1": cfg.num_layers, "cache_last_channel_dim2": enc.att_cache_frames,
        "cache_last_channel_dim3": 2 * cfg.d_model, "cache_last_time_dim1": cfg.num_layers,  # keys + values
        "cache_last_time_dim2": cfg.d_model, "cache_last_time_dim3": cfg.conv_kernel - 1}
    assert meta["att_context"] == list(cfg.att_contexts[1]) and meta["latency_ms"] == enc.latency_ms(1)
    assert meta["feature_config"]["num_mel_bins"] == 80 and meta["normalize_type"] == "NA"
    assert ASRModelConfig.from_dict(json.loads(sess.get_modelmeta().custom_metadata_map["model_config"])) \
        == model.config
    assert (tmp_path / "tokens.txt").read_text(encoding="utf-8") == tokens_file.read_text(encoding="utf-8")


def test_windowing_and_text_rules() -> None:
    meta = SherpaCtcMeta(16, 8, 8, 5, (1, 1, 1), (1, 1, 1))
    # IsReady is strict: a window needs one frame beyond it.
    assert [meta.num_windows(t) for t in (0, 16, 17, 24, 25, 26)] == [0, 0, 1, 1, 2, 2]
    syms = ["<unk>", "\u2581", "\u2581ab", "c\u2581", "<0x41>", "<0x05>", "<blk>"]
    assert sherpa_text(syms, [2, 3, 1, 0, 1, 4]) == " abc\u2581 <unk> <0x41>"  # id 4 is not 0x41 + 3
    bytes_syms = ["<blk>", "<s>", "<unk>"] + [f"<0x{i:02X}>" for i in range(256)]
    assert sherpa_text(bytes_syms, [3 + 0x41, 3 + 0x05]) == "A<0x05>"  # no zero padding in sherpa's check


def test_runtime_module_does_not_import_torch() -> None:
    code = "import sys, speechstream.asr.sherpa_ctc; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    x = espeak_speech(tmp_path_factory.mktemp("speech"), text=SPEECH)
    if x is None:
        pytest.skip("espeak-ng not installed")
    return x


@pytest.mark.parametrize("ctx", [0, 1])
def test_sherpa_onnx_equals_emulation_on_speech(model: ASRModel, tokens_file: Path, tmp_path: Path,
                                               speech: np.ndarray, ctx: int) -> None:
    sherpa_onnx = pytest.importorskip("sherpa_onnx")
    tail = np.zeros(int(0.5 * 16000), np.float32)  # the padding sherpa's examples append before input_finished
    feats = Fbank()(np.concatenate([speech, tail]))
    path = export(varied_head(model, feats), tokens_file, tmp_path, ctx)
    runner = SherpaCtcRunner.from_files(path, tmp_path / "tokens.txt")

    rec = sherpa_onnx.OnlineRecognizer.from_nemo_ctc(tokens=str(tmp_path / "tokens.txt"), model=str(path),
                                                     num_threads=1)
    stream = rec.create_stream()
    for pos in range(0, len(speech), 1234):  # live-style: decode whatever is ready after each chunk
        stream.accept_waveform(16000, speech[pos:pos + 1234])
        while rec.is_ready(stream):
            rec.decode_stream(stream)
    stream.accept_waveform(16000, tail)
    stream.input_finished()
    while rec.is_ready(stream):
        rec.decode_stream(stream)
    ref = rec.get_result_all(stream)

    # Both sides must see the same features (sherpa's own front end vs our Fbank).
    probe = rec.create_stream()
    probe.accept_waveform(16000, np.concatenate([speech, tail]))
    probe.input_finished()
    sherpa_feats = np.reshape(probe.get_frames(0, len(feats)), feats.shape)
    assert np.abs(sherpa_feats - feats).max() <= 1e-3

    got = runner.decode(feats)
    assert got.num_windows == runner.meta.num_windows(len(feats)) >= (40 if ctx == 0 else 10)
    assert len(got.tokens) >= 20 and len(set(got.tokens)) >= 8, "the comparison needs varied tokens"
    assert got.text == rec.get_result(stream) == ref.text.strip()
    assert [sherpa_text(SYMBOLS, [t]) for t in got.tokens] == list(ref.tokens)
    # sherpa's online CTC timestamps assume 4x subsampling and 10 ms frames, whatever the model says.
    np.testing.assert_allclose(ref.timestamps, np.asarray(got.frames) * 0.04, atol=1e-5)

    # The comparison can fail: windows one frame late give other tokens.
    assert runner.decode(feats[1:]).tokens != got.tokens


@pytest.mark.parametrize("ctx", [0, 1])
def test_sherpa_onnx_decodes_the_windows_we_count(model: ASRModel, tokens_file: Path, tmp_path: Path,
                                                  ctx: int) -> None:
    """sherpa decodes window k only once k*S + W < T frames have arrived (after input_finished)."""
    sherpa_onnx = pytest.importorskip("sherpa_onnx")
    path = export(model, tokens_file, tmp_path, ctx)
    meta = SherpaCtcRunner.from_files(path, tmp_path / "tokens.txt").meta
    rec = sherpa_onnx.OnlineRecognizer.from_nemo_ctc(tokens=str(tmp_path / "tokens.txt"), model=str(path),
                                                     num_threads=1)
    rng = np.random.default_rng(ctx)
    w, s = meta.window_size, meta.chunk_shift
    for frames in [1, w - 1, w, w + 1, w + s - 1, w + s, w + s + 1, w + 3 * s + 2]:
        samples = (0.1 * rng.standard_normal(frames * 160)).astype(np.float32)
        assert Fbank().num_frames(len(samples)) == frames
        stream = rec.create_stream()
        stream.accept_waveform(16000, samples)
        stream.input_finished()
        count = 0
        while rec.is_ready(stream):
            rec.decode_stream(stream)
            count += 1
        assert count == meta.num_windows(frames), frames
