"""Streaming voice conversion. The runtime half is this package's top level: numpy and onnxruntime, never torch.

    config      VCConfig: the model's frozen config, its look-aheads and the computed latency
    onnx_model  OnnxVC: the exported content step, decoder step and target encoder run by onnxruntime
    model_dir   the model directory's files, config.json, built-in voices; which vocoder speaks
    converter   Converter (convert(samples, rate), set_target, set_voice, create_stream) and ConversionStream

The torch half is speechstream.vc.torch (the model, its losses, source perturbation and export); it imports this
half, never the reverse.
"""


def __getattr__(name: str):  # `from speechstream.vc import Converter` without loading onnxruntime for the config
    if name == "Converter":
        from .converter import Converter

        return Converter
    raise AttributeError(name)
