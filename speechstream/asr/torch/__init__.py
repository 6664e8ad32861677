"""The torch half of ASR: the model, its checkpoints and its ONNX export (needs the `train` extra).

    encoder            the cache-aware streaming Conformer encoder: forward() and step()
    heads              CTC head, stateless RNN-T predictor and joiner
    model              ASRModel: encoder + heads, forward() and the CTC / RNN-T loss
    checkpoint         the model directory written from and loaded into an ASRModel (safetensors)
    export             encoder.onnx / predictor.onnx / joiner.onnx with the streaming contract as metadata
    sherpa_ctc_export  ctc.onnx in sherpa-onnx's NeMo streaming CTC contract

Everything here may import the runtime half (speechstream.asr); nothing there imports this package.
"""
