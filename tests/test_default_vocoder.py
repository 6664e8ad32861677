"""The shipped default vocoder (models/vocoder_en, or $SPEECHSTREAM_VOCODER_MODEL) on speech it never trained on:
the bundled sample, flite's awb, a person held out of every training split.

Independent references: the input waveform (its Fbank frames are what the vocoder is given), Griffin-Lim from
the same frames (torchaudio; the floor a neural vocoder must reach) and DNSMOS (speechmos' bundled models).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speechstream.audio.fbank import Fbank
from speechstream.audio.io import read_audio
from speechstream.errors import ModelError
from speechstream.vocoder.model_dir import ENV_VAR, default_vocoder_model, load_vocoder
from speechstream.vocoder.metrics import mel_l1
from speechstream.vocoder.resynthesis import resynthesize, resynthesize_offline

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "awb_umbrella.wav"


def _model() -> Path | None:
    try:
        return default_vocoder_model()
    except ModelError:  # no default model: the module is skipped
        return None


MODEL = _model()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(MODEL is None, reason=f"no models/vocoder_en (or ${ENV_VAR})")]


def _sample() -> np.ndarray:
    return read_audio(SAMPLE, sample_rate=16000)[0]


@pytest.fixture(scope="module")
def vocoded(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """`speechstream vocode SAMPLE --out OUT.wav` with no --model: the default one."""
    out = tmp_path_factory.mktemp("vocode") / "out.wav"
    subprocess.run([sys.executable, "-m", "speechstream", "vocode", str(SAMPLE), "--out", str(out)],
                   check=True, capture_output=True, text=True, timeout=300)
    y, rate = sf.read(out, dtype="float32")
    assert rate == 16000 and y.ndim == 1
    return y


def _griffin_lim(x: np.ndarray) -> np.ndarray:
    spec = importlib.util.spec_from_file_location("vocoder_evaluate", ROOT / "recipes/vocoder/evaluate.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    fbank = Fbank()
    return mod.griffin_lim(fbank(x), len(x), fbank.config, n_iter=64)


def test_output_is_the_inputs_length_and_close_to_its_frames(vocoded: np.ndarray) -> None:
    x = _sample()
    assert vocoded.shape == x.shape and np.isfinite(vocoded).all()
    # The lost GAN run measured 0.83 on held-out test voices; white noise at the sample's level scores 6.8.
    assert mel_l1(x, vocoded) <= 1.2


def test_streaming_in_any_chunking_equals_offline_and_the_cli(vocoded: np.ndarray) -> None:
    vocoder, x = load_vocoder(MODEL), _sample()
    offline = resynthesize_offline(vocoder, x)
    for chunk in (vocoder.chunk_frames, 3 * vocoder.chunk_frames + 1):
        np.testing.assert_allclose(resynthesize(vocoder, x, chunk), offline, atol=1e-4)
    # the CLI wrote 16-bit PCM: within a quantisation step (2 ** -15) and its rounding
    np.testing.assert_allclose(vocoded, np.clip(offline, -1, 1), atol=2 ** -14)


def test_sounds_at_least_as_good_as_griffin_lim(vocoded: np.ndarray) -> None:
    pytest.importorskip("speechmos")
    pytest.importorskip("torchaudio")
    from speechstream.vocoder.metrics import DnsMos

    dnsmos = DnsMos()
    ours, floor = dnsmos(vocoded)["ovrl"], dnsmos(_griffin_lim(_sample()))["ovrl"]
    assert ours >= floor - 0.1, (ours, floor)
