"""Streaming text-to-speech. The runtime half is this package's top level: numpy, onnxruntime and the
hibari G2P (numpy + onnxruntime itself), never torch.

    normalize   numbers, dates, times, money, ordinals and abbreviations to words
    segment     sentences, long clauses and word-capped runs, decided incrementally
    phonemes    hibari's G2P and Kokoro's 114-symbol vocabulary: phonemes -> token ids
    frontend    TextFrontend (whole text -> ids) and TextStream (text in pieces -> ids as they become final)
    voices      the speaker table's names (Kokoro's 28 English voices) and blends ("af_heart:0.6,bm_george:0.4")
    config      AcousticConfig: the acoustic model's frozen config, its look-ahead and latency
    regulate    length regulation: log durations -> frames per phoneme -> frame conditions (numpy)
    onnx_model  OnnxAcoustic: the exported encoder and decoder steps run by onnxruntime
    model_dir   the model directory's files and config.json; which vocoder speaks
    synthesizer Synthesizer (synthesize(text, voice), stream(voice)) and SynthesisStream

The torch half is speechstream.tts.torch (the acoustic model, its losses and export); it imports this half,
never the reverse.
"""


def __getattr__(name: str):  # `from speechstream.tts import Synthesizer` without loading it for the front end
    if name == "Synthesizer":
        from .synthesizer import Synthesizer

        return Synthesizer
    raise AttributeError(name)
