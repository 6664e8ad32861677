"""The chunked flow-matching vocoder: 80-dim Fbank frames -> 16 kHz waveform, offline or chunk by chunk.

The runtime half is this package's top level: numpy and onnxruntime only, never torch.

    config          frozen configs (pure Python + numpy; saved in checkpoints and in the ONNX metadata)
    onnx_generator  the exported generator step run by onnxruntime
    vocoder         Vocoder: a generator + the streaming ISTFT, the user-facing class
    model_dir       the model directory's files, config.json, load_vocoder and the default model
    resynthesis     audio -> Fbank -> vocoder -> audio, streaming or offline (`speechstream vocode`)
    metrics         evaluation: multi-resolution STFT distance, mel L1, DNSMOS

The torch half is speechstream.vocoder.torch (the generator, losses, critics, checkpoints, export); it
imports this half, never the reverse.
"""
