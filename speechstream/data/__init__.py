"""Synthetic speech data from Debian main voices, natural neural voices (Kokoro-82M, Piper joe) and text:
speaker draws and engine calls (``voices``, ``kokoro_voices``, ``piper_voices``), the neural engines
(``kokoro``, ``piper``), sentence sources and normalisation (``text``), augmentation (``augment``).
Used by recipes/asr/synth_en."""
