"""Synthetic speech data from Debian main voices, Kokoro-82M's neural voices and text: speaker draws and
engine calls (``voices``, ``kokoro_voices``), the Kokoro engine itself (``kokoro``), sentence sources and
normalisation (``text``), augmentation (``augment``). Used by recipes/asr/synth_en."""
