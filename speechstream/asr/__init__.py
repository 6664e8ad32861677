"""Streaming speech recognition.

The runtime half is this package's top level: numpy and onnxruntime only, never torch.

    config          frozen model configs (pure Python; saved in every checkpoint and read by both halves)
    model_dir       the model directory's files, config.json and where the default model lives
    tokenizer       token ids <-> text (tokens.txt; sentencepiece only to encode, i.e. to train)
    ctc_decoding    greedy and prefix-beam CTC decoders
    rnnt_decoding   greedy and modified-beam RNN-T decoders over predictor / joiner callables
    endpoint        sherpa-onnx's endpoint rules
    segmenting      where a segment at the length limit is cut: the longest pause before a word
    vad             silero-vad's ONNX model as a streaming voice activity detector (ends segments at pauses)
    cues            subtitle cues from final results: timed words, cut at pauses, two lines of <= 42
    graphs          the exported encoder / predictor / joiner graphs as numpy callables
    recognizer      Recognizer + Stream: the user-facing streaming API
    files           many files decoded as one batch of streams (`speechstream transcribe`)
    sherpa_ctc      how sherpa-onnx runs our CTC export, in numpy

The torch half is speechstream.asr.torch (the model, its checkpoints, the ONNX export); it imports this
half, never the reverse.
"""
