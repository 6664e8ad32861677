// Runs on the audio thread: mixes the microphone to mono and posts ~100 ms float32 blocks to the page.
class Capture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.block = new Float32Array(Math.round(sampleRate / 10));
    this.filled = 0;
    this.port.onmessage = (e) => {
      if (e.data === "flush") {
        this.post();
        this.port.postMessage("flushed");
      }
    };
  }

  post() {
    if (this.filled > 0) {
      const out = this.block.slice(0, this.filled);
      this.port.postMessage(out, [out.buffer]);
      this.filled = 0;
    }
  }

  process(inputs) {
    const channels = inputs[0];
    if (!channels || channels.length === 0) return true;
    const n = channels[0].length;
    for (let i = 0; i < n; i++) {
      let v = channels[0][i];
      for (let c = 1; c < channels.length; c++) v += channels[c][i];
      this.block[this.filled++] = channels.length > 1 ? v / channels.length : v;
      if (this.filled === this.block.length) this.post();
    }
    return true;
  }
}

registerProcessor("capture", Capture);
