"""The torch half of TTS: the streaming acoustic model, its losses and export.

    encoder   TextEncoder: phoneme ids -> encodings and log durations, L phonemes of look-ahead
    regulate  length regulation (batched torch twin of speechstream.tts.regulate)
    decoder   FlowDecoder: frame conditions -> Fbank frames by chunk-causal flow matching, a cache per
              solver evaluation
    model     AcousticModel: the speaker table and the two halves; forward() offline, *_step() streaming
    alignment monotonic alignment search: durations from the audio itself (Glow-TTS / Matcha)
    losses    log-duration MSE, flow matching, prior MSE, alignment likelihood; acoustic_loss sums them
    corpus    training examples from a corpus folder (kokoro_en_v1): front-end ids, voice vectors, Fbank
    export    the two streaming steps as ONNX with their metadata (thin wrappers)
    checkpoint  the model directory written from and loaded into an AcousticModel (safetensors)

Everything here may import the runtime half (speechstream.tts); nothing there imports this package.
"""
