"""Training helpers around library modules: lhotse data, SpecAugment, resumable checkpoints, the loop.

Recipes build on these (``recipes/asr/*/train.py``); nothing here is needed at inference time, and the
model code itself stays in ``speechstream.asr.torch`` (this package never copies it).
"""
