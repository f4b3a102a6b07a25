// Where the audio comes from: the microphone (an audio worklet, or a script processor where
// worklets are missing) or a file decoded by the browser and paced at real time. Both hand out
// mono Float32 blocks of about 100 ms; the page sends them as linear16.

/** Float samples in [-1, 1] → little-endian 16-bit PCM (what `encoding=linear16` means). */
export function toLinear16(samples) {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    out[i] = s < 0 ? s * 0x8000 : s * 0x7fff;
  }
  return out;
}

/** Root mean square of a block, for the level meter. */
export function rms(samples) {
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i] * samples[i];
  return Math.sqrt(sum / Math.max(1, samples.length));
}

/** A sentence for a failed `getUserMedia`, saying what the user can do about it. */
export function micError(err) {
  if (!window.isSecureContext) {
    return "Browsers offer the microphone only to pages served over https:// or from localhost. " +
      "Open this page at http://localhost:PORT (or put hark behind TLS); streaming a file works anyway.";
  }
  switch (err && err.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Microphone access was refused. Allow it in the browser's site settings, then try again.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No microphone was found. Plug one in or stream a file instead.";
    case "NotReadableError":
      return "The microphone is in use by another program or could not be opened.";
    default:
      return `The microphone could not be opened: ${err && err.message ? err.message : err}`;
  }
}

/** How long the audio engine may take to start before the microphone gives up. */
const ENGINE_START_MS = 3000;

/** The default microphone, at the audio context's own rate (the server resamples). */
export class MicSource {
  async start(onBlock) {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new Error(micError(null));
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: false, autoGainControl: true },
      });
    } catch (err) {
      throw new Error(micError(err));
    }
    this.stream = stream;
    this.context = new AudioContext();
    this.rateHz = this.context.sampleRate;
    const input = this.context.createMediaStreamSource(stream);
    if (this.context.audioWorklet) {
      await this.context.audioWorklet.addModule("/playground/capture-worklet.js");
      this.node = new AudioWorkletNode(this.context, "hark-capture", {
        processorOptions: { blockFrames: Math.round(this.rateHz / 10) },
      });
      this.node.port.onmessage = (e) => onBlock(e.data);
    } else {
      // Old browsers: a script processor (deprecated, but present everywhere worklets are not).
      this.node = this.context.createScriptProcessor(4096, 1, 1);
      this.node.onaudioprocess = (e) => onBlock(new Float32Array(e.inputBuffer.getChannelData(0)));
    }
    // A worklet only runs while connected to the graph; a muted gain keeps the speakers quiet.
    const mute = this.context.createGain();
    mute.gain.value = 0;
    input.connect(this.node).connect(mute).connect(this.context.destination);
    // A browser without an audio output device (headless Firefox, some servers) never starts
    // its audio engine: say so instead of waiting forever.
    const started = await Promise.race([
      this.context.resume().then(() => this.context.state === "running"),
      new Promise((resolve) => setTimeout(() => resolve(false), ENGINE_START_MS)),
    ]);
    if (!started) {
      this.stop();
      throw new Error("The browser's audio engine did not start (is there an audio output device?). " +
        "Streaming a file or “Transcribe a file” work without it.");
    }
  }

  stop() {
    if (this.stream) this.stream.getTracks().forEach((t) => t.stop());
    if (this.context) this.context.close().catch(() => {});
    this.stream = null;
    this.context = null;
  }
}

/** Decode any file the browser can play to 16 kHz mono. */
export async function decodeFile(file, rateHz = 16000) {
  const bytes = await file.arrayBuffer();
  const probe = new OfflineAudioContext(1, 1, rateHz);
  let decoded;
  try {
    decoded = await probe.decodeAudioData(bytes);
  } catch (err) {
    throw new Error(`This browser cannot decode ${file.name}: ${err && err.message ? err.message : err}. ` +
      "“Transcribe a file” sends it to the server as it is.");
  }
  // Mix down and resample by rendering through an offline context at the target rate.
  const frames = Math.ceil(decoded.duration * rateHz);
  const offline = new OfflineAudioContext(1, Math.max(1, frames), rateHz);
  const src = offline.createBufferSource();
  src.buffer = decoded;
  src.connect(offline.destination);
  src.start();
  const rendered = await offline.startRendering();
  return rendered.getChannelData(0);
}

/** A decoded file sent in 100 ms blocks at real time, as a microphone would. */
export class FileSource {
  constructor(samples, rateHz) {
    this.samples = samples;
    this.rateHz = rateHz;
    this.timer = null;
  }

  start(onBlock, onEnd) {
    const block = Math.round(this.rateHz / 10);
    const started = performance.now();
    let pos = 0;
    const tick = () => {
      // Send what real time allows by now (catching up after a throttled timer).
      const due = Math.min(this.samples.length, ((performance.now() - started) / 1000) * this.rateHz + block);
      while (pos + block <= due || (pos < due && due === this.samples.length)) {
        const end = Math.min(pos + block, this.samples.length);
        onBlock(this.samples.slice(pos, end));
        pos = end;
      }
      if (pos >= this.samples.length) {
        this.timer = null;
        onEnd();
      } else {
        this.timer = setTimeout(tick, 50);
      }
    };
    tick();
  }

  stop() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
