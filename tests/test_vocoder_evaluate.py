"""The vocoder metrics against independent facts, and recipes/vocoder/evaluate.py end to end on a tiny random
vocoder (and a tiny random ASR model) with two espeak-ng utterances.

Facts: a signal's distance to itself is 0; a copy twice as loud has spectral convergence 1 and log-magnitude
L1 log 2; more noise is farther; the STFT distance equals one computed with torch.stft; mel L1 is the mean
difference of the Fbank frames; DNSMOS rates clean speech above white noise; Griffin-Lim from the Fbank frames
gives back audio whose frames are close to them (and sample-aligned: a hop's shift costs far more).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from speechstream.audio.fbank import Fbank, FbankConfig  # noqa: E402
from speechstream.vocoder.metrics import StftDistance, mel_l1, mr_stft_distance  # noqa: E402

from audio_helpers import espeak_speech, noise_and_tones  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ["the cat sat on the mat", "green trees grow by the river"]
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")


def _recipe():
    spec = importlib.util.spec_from_file_location("vocoder_evaluate", ROOT / "recipes/vocoder/evaluate.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclass looks itself up there
    spec.loader.exec_module(mod)
    return mod


def _torch_distance(y: np.ndarray, x: np.ndarray, n_fft: int, hop: int) -> float:
    """The same distance with torch.stft, one resolution."""
    def mag(s: np.ndarray) -> torch.Tensor:
        window = torch.hann_window(n_fft, dtype=torch.float64)
        spec = torch.stft(torch.from_numpy(s).double(), n_fft, hop, window=window, center=True, pad_mode="reflect",
                          return_complex=True)
        return spec.abs().square().clamp(min=1e-7).sqrt()

    my, mx = mag(y), mag(x)
    return float(torch.linalg.norm(my - mx) / torch.linalg.norm(my) + (my.log() - mx.log()).abs().mean())


def test_stft_distance_facts() -> None:
    x = noise_and_tones(16000)
    noise = np.random.default_rng(1).standard_normal(len(x)).astype(np.float32)
    assert mr_stft_distance(x, x) == StftDistance(0.0, 0.0, 0.0)
    loud = mr_stft_distance(x, 2 * x)  # every bin doubles (but the rare few that sit near the floor)
    assert loud.spectral_convergence == pytest.approx(1.0, abs=1e-6)
    assert loud.log_magnitude == pytest.approx(math.log(2), abs=1e-4)
    assert loud.mr_stft == pytest.approx(1.0 + math.log(2), abs=1e-4)
    near, far = mr_stft_distance(x, x + 0.01 * noise), mr_stft_distance(x, x + 0.1 * noise)
    assert 0 < near.mr_stft < far.mr_stft
    y = x + 0.05 * noise
    for res in ((512, 128, 512), (256, 64, 256)):
        assert mr_stft_distance(x, y, (res,)).mr_stft == pytest.approx(_torch_distance(x, y, *res[:2]), rel=1e-5)
    with pytest.raises(ValueError, match="one length"):
        mr_stft_distance(x, x[:-1])


def test_mel_l1_is_the_mean_fbank_difference() -> None:
    x = noise_and_tones(12000)
    y = x + 0.02 * np.random.default_rng(2).standard_normal(len(x)).astype(np.float32)
    fb = Fbank()
    assert mel_l1(x, x) == 0.0
    assert mel_l1(x, y) == pytest.approx(float(np.mean(np.abs(fb(x).astype(np.float64) - fb(y)))), rel=1e-6)
    assert mel_l1(x, 0.5 * x) == pytest.approx(math.log(4), abs=1e-4)  # power scales by 1/4 in every band


@needs_espeak
def test_griffin_lim_inverts_the_fbank_frames(tmp_path: Path) -> None:
    x = espeak_speech(tmp_path, text=TEXTS[0])
    mel = Fbank()(x)
    y = _recipe().griffin_lim(mel, len(x), FbankConfig(), n_iter=32)
    assert y.shape == x.shape and y.dtype == np.float32 and np.isfinite(y).all()
    assert mel_l1(x, y) < 0.4  # a 2x gain alone would give log 4 = 1.39
    assert mel_l1(x, np.roll(y, -80)) > 2 * mel_l1(x, y)  # half a hop off: the alignment matters


@pytest.mark.slow
@needs_espeak
def test_dnsmos_rates_speech_above_noise(tmp_path: Path) -> None:
    pytest.importorskip("speechmos")
    from speechstream.vocoder.metrics import DnsMos

    speech = espeak_speech(tmp_path, text=TEXTS[1])
    noise = 0.3 * np.random.default_rng(3).standard_normal(len(speech)).astype(np.float32)
    dnsmos = DnsMos(num_threads=1)
    clean, noisy = dnsmos(speech), dnsmos(noise)
    assert set(clean) == {"ovrl", "sig", "bak", "p808"}
    assert all(1.0 <= v <= 5.0 for v in (*clean.values(), *noisy.values()))
    assert clean["ovrl"] > noisy["ovrl"] + 1.0 and clean["bak"] > noisy["bak"] + 1.0


# ---- end to end ----
@pytest.fixture(scope="module")
def models(tmp_path_factory) -> tuple[Path, Path]:  # noqa: ANN001
    from asr_helpers import make_model_dir
    from speechstream.vocoder.torch.checkpoint import save_vocoder_dir
    from vocoder_helpers import make_generator

    root = tmp_path_factory.mktemp("models")
    torch.set_num_threads(1)
    return save_vocoder_dir(make_generator(), root / "vocoder"), make_model_dir(root / "asr")


@pytest.fixture(scope="module")
def wav_dir(tmp_path_factory) -> Path:  # noqa: ANN001
    if shutil.which("espeak-ng") is None:
        pytest.skip("needs espeak-ng")
    root = tmp_path_factory.mktemp("wavs")
    for i, text in enumerate(TEXTS):
        subprocess.run(["espeak-ng", "-s", "220", "-w", str(root / f"u{i}.wav"), text], check=True, timeout=60)
        (root / f"u{i}.txt").write_text(text.upper() + ".\n")  # the reference is normalised when read
    return root  # 22.05 kHz files: the recipe resamples


def _cuts(wav_dir: Path, path: Path) -> Path:
    from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet

    recs = [Recording.from_file(wav_dir / f"u{i}.wav", recording_id=f"u{i}") for i in range(len(TEXTS))]
    sups = [SupervisionSegment(f"u{i}", f"u{i}", 0.0, r.duration, text=t) for i, (r, t) in enumerate(zip(recs, TEXTS))]
    CutSet.from_manifests(RecordingSet.from_recordings(recs), SupervisionSet.from_segments(sups)).to_file(path)
    return path


def _finite(summary: dict) -> bool:
    return all(math.isfinite(v) for v in summary.values() if v is not None)


@pytest.mark.slow
def test_evaluate_end_to_end(models: tuple[Path, Path], wav_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("speechmos")
    from speechstream.vocoder.model_dir import read_config

    vocoder, asr = models
    out = tmp_path / "out"
    argv = ["--model", vocoder, "--cuts", _cuts(wav_dir, tmp_path / "cuts.jsonl.gz"), "--systems", "euler/1",
            "--asr-model", asr, "--gl-iters", "8", "--out", out]
    assert _recipe().main([str(a) for a in argv]) == 0
    r = json.loads((out / "results.json").read_text())
    assert [s["name"] for s in r["systems"]] == ["ground truth", "griffin-lim", "euler-nfe1"]
    assert r["utterances"] == 2 and r["wer_note"] is None and r["asr_model"] == str(asr)
    truth, gl, euler = (s["summary"] for s in r["systems"])
    for s in (truth, gl, euler):
        assert _finite(s) and s["utterances"] == 2 and s["wer"] is not None and 1.0 <= s["dnsmos_ovrl"] <= 5.0
    assert truth["mr_stft"] is None and truth["rtf"] is None  # the original is not compared with itself
    assert all(s["mr_stft"] > 0 and s["mel_l1"] > 0 and s["rtf"] > 0 for s in (gl, euler))
    assert r["systems"][2]["latency_ms"] == read_config(vocoder).latency_ms
    refs = [u["ref"] for u in r["systems"][0]["utterances"]]
    assert refs == TEXTS and all("hyp" in u for s in r["systems"] for u in s["utterances"])
    table = (out / "RESULTS.md").read_text()
    assert all(f"| {name} |" in table for name in ("ground truth", "griffin-lim", "euler"))


@pytest.mark.slow
def test_evaluate_without_an_asr_model_says_why(models: tuple[Path, Path], wav_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("speechmos")
    out = tmp_path / "out"
    argv = ["--model", models[0], "--wav-dir", wav_dir, "--max-utts", "1", "--systems", "midpoint/2",
            "--asr-model", "none", "--gl-iters", "4", "--out", out]
    assert _recipe().main([str(a) for a in argv]) == 0
    r = json.loads((out / "results.json").read_text())
    assert all(s["summary"]["wer"] is None and _finite(s["summary"]) for s in r["systems"])
    assert r["systems"][0]["utterances"][0]["ref"] == TEXTS[0]  # u0.txt, normalised
    assert "WER not scored: --asr-model none" in (out / "RESULTS.md").read_text()


def test_bad_input_is_one_line_error(models: tuple[Path, Path], tmp_path: Path,
                                     capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("speechmos")  # without it every case is the same "needs the train extra" error
    empty = tmp_path / "empty.jsonl.gz"
    with gzip.open(empty, "wt"):
        pass
    (tmp_path / "wavs").mkdir()
    cases = [(["--model", tmp_path / "nowhere", "--wav-dir", tmp_path], "vocoder model directory not found"),
             (["--model", models[1], "--wav-dir", tmp_path], "ASR model directory, not a vocoder"),
             (["--model", models[0], "--cuts", tmp_path / "missing.jsonl.gz"], "manifest not found"),
             (["--model", models[0], "--cuts", empty], "no utterances to score"),
             (["--model", models[0], "--wav-dir", tmp_path / "wavs"], "no utterances to score"),
             (["--model", models[0], "--wav-dir", tmp_path, "--systems", "midpoint/3"], "nfe must be even"),
             (["--model", models[0], "--wav-dir", tmp_path, "--systems", "rk4/2"], "solver must be one of"),
             (["--model", models[0], "--wav-dir", tmp_path, "--asr-model", tmp_path / "no-asr"], "not found"),
             (["--model", models[0], "--wav-dir", tmp_path, "--num-threads", "0"], "--num-threads must be >= 1")]
    recipe = _recipe()
    for argv, message in cases:
        assert recipe.main([str(a) for a in [*argv, "--out", tmp_path / "o"]]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)
