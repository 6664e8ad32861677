"""Runtime plumbing every task shares (numpy + onnxruntime, no torch): onnxruntime sessions with the
metadata contract (session), and the folder the default models live in (models). Each task's own runtime
half is its package's top level (speechstream.asr, speechstream.vocoder)."""
