// The microphone's samples, in frames of FRAME, handed to the page (lipsync.js) from the
// audio thread. An AudioWorklet, not a timer: the puppet tab is in the background while
// streaming (the streamer is in OBS or a game), where timers slow to once a second but the
// audio thread and its messages keep their pace. The samples stay in this browser.

const FRAME = 1024; // ~21 ms at 48 kHz: the analysis runs ~47 times a second

class LipsyncTap extends AudioWorkletProcessor {
  constructor() {
    super();
    this.buffer = new Float32Array(FRAME);
    this.filled = 0;
  }

  process(inputs) {
    const channel = inputs[0]?.[0];
    if (channel) {
      let i = 0;
      while (i < channel.length) {
        const n = Math.min(channel.length - i, FRAME - this.filled);
        this.buffer.set(channel.subarray(i, i + n), this.filled);
        this.filled += n;
        i += n;
        if (this.filled === FRAME) {
          this.port.postMessage(this.buffer, [this.buffer.buffer]);
          this.buffer = new Float32Array(FRAME);
          this.filled = 0;
        }
      }
    }
    return true; // keep running while the mic is on (the page disconnects it to stop)
  }
}

registerProcessor("lipsync-tap", LipsyncTap);
