"""The torch half of the vocoder: the flow-matching generator, its losses, critics, checkpoints and export.

    network        the chunk-causal velocity network
    spectral       the frame representation and its mel-derived prior
    noise          counter-based Gaussian noise, the same in any chunking and in the ONNX step
    flow           conditional flow matching: training losses, the start sample, the ODE solvers
    generator      FlowGenerator: forward() offline, init_state()/step() streaming
    phase_loss     anti-wrapping phase losses on generated frames
    waveform_loss  STFT and log-mel distances on the waveforms the frames overlap-add into
    discriminator  waveform discriminators and the least-squares GAN losses
    adversary      the GAN half of a training step: discriminators, their optimizer, the two calls
    export         the streaming step as ONNX with its metadata, and other samplers of the same weights
    checkpoint     the model directory written from and loaded into a FlowGenerator (safetensors)

Everything here may import the runtime half (speechstream.vocoder); nothing there imports this package.
"""
