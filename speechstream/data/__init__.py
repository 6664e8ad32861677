"""Synthetic speech data from Debian main voices and text: speaker draws and engine calls (``voices``),
sentence sources and normalisation (``text``), augmentation (``augment``). Used by recipes/asr/synth_en."""
