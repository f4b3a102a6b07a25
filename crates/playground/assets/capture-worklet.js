// Audio worklet: hands the microphone's first channel to the page in blocks of about 100 ms
// (the render thread calls `process` every 128 frames; posting each would flood the page).

class CaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const asked = options && options.processorOptions && options.processorOptions.blockFrames;
    // At least one render quantum, so that every call to `process` makes progress.
    this.size = Math.max(128, Math.round(asked || 4800));
    this.block = new Float32Array(this.size);
    this.filled = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    let read = 0;
    while (read < channel.length) {
      const n = Math.min(channel.length - read, this.size - this.filled);
      this.block.set(channel.subarray(read, read + n), this.filled);
      this.filled += n;
      read += n;
      if (this.filled === this.size) {
        this.port.postMessage(this.block, [this.block.buffer]);
        this.block = new Float32Array(this.size);
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor("hark-capture", CaptureProcessor);
