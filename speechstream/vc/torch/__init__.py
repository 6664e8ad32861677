"""The torch half of voice conversion: the streaming model, its losses, source perturbation and export.

    content     ContentEncoder: source Fbank -> content frames (a CTC-trained bottleneck), L_c frames of look-ahead
    speaker     SpeakerEncoder: a reference's Fbank -> the target embedding, once per target
    model       VCModel: the encoders and the TTS FlowDecoder on content; forward() offline, *_step() streaming
    perturb     source perturbation for training: VTLP, gain, rate (so the source speaker does not leak)
    losses      CTC on phoneme ids, flow matching and the prior on the decoder; vc_loss sums them
    export      the two streaming steps and the target encoder as ONNX with their metadata (thin wrappers)
    checkpoint  the model directory written from and loaded into a VCModel (safetensors)

Everything here may import the runtime half (speechstream.vc); nothing there imports this package.
"""
