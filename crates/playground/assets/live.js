// One live connection: the WebSocket, the audio clock (which wall time each second of audio was
// captured or sent at, for latency figures), and what a failed connection means.

import { toLinear16 } from "./audio.js";

/** The WebSocket subprotocols that carry a key (browsers cannot set `Authorization`). */
function protocols(key) {
  return key ? ["token", key] : undefined;
}

export class LiveConnection {
  /**
   * @param {string} url ws(s)://…/listen?…
   * @param {string} key API key, or "" when the server has auth off
   * @param {{onOpen: Function, onMessage: Function, onClose: Function, onSent: Function}} on
   */
  constructor(url, key, on) {
    this.url = url;
    this.on = on;
    this.opened = false;
    this.samplesSent = 0;
    this.rateHz = 0;
    // [audio seconds at the end of a block, wall time (ms) that block's last sample was captured]
    this.clock = [];
    this.ws = new WebSocket(url, protocols(key));
    this.ws.binaryType = "arraybuffer";
    this.ws.onopen = () => {
      this.opened = true;
      on.onOpen();
    };
    this.ws.onmessage = (e) => {
      if (typeof e.data !== "string") return;
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch {
        msg = { type: "(not JSON)", text: e.data };
      }
      on.onMessage(msg, performance.now());
    };
    this.ws.onclose = (e) => on.onClose(e, this.opened);
  }

  get open() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Audio seconds sent so far. */
  get audioSeconds() {
    return this.rateHz ? this.samplesSent / this.rateHz : 0;
  }

  /** Send one block of float samples at `rateHz` as linear16; `capturedAt` is its end's wall time. */
  sendAudio(samples, rateHz, capturedAt = performance.now()) {
    if (!this.open) return;
    this.rateHz = rateHz;
    this.ws.send(toLinear16(samples).buffer);
    this.samplesSent += samples.length;
    this.clock.push([this.audioSeconds, capturedAt]);
    if (this.clock.length > 36000) this.clock.splice(0, 18000); // an hour of 100 ms blocks
  }

  /** A JSON control message (`Finalize`, `CloseStream`, `KeepAlive`, `ForceEndTurn`, …). */
  control(message) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(message));
    this.on.onSent(message);
    return true;
  }

  /** The wall time (ms) at which the audio at `audioSec` was captured, or null if not sent. */
  wallAt(audioSec) {
    for (const [end, wall] of this.clock) {
      if (end >= audioSec) return wall - (end - audioSec) * 1000;
    }
    return null;
  }

  close() {
    if (this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000);
  }
}

/**
 * Why a WebSocket to `wsUrl` failed before it opened. A browser hides the HTTP answer to a
 * refused upgrade, so ask the same URL over plain HTTP: hark answers with the refusal's status
 * and Deepgram's error body (or 426 when it would have accepted the stream).
 */
export async function diagnose(wsUrl, key) {
  const httpUrl = wsUrl.replace(/^ws/, "http");
  let response;
  try {
    response = await fetch(httpUrl, { headers: key ? { Authorization: `Token ${key}` } : {} });
  } catch {
    const host = new URL(httpUrl).host;
    return `The server at ${host} cannot be reached. Is hark serve running there, and is the Server field right?`;
  }
  let detail = "";
  try {
    const body = await response.json();
    detail = body.err_msg || body.message || "";
  } catch {
    // Not a hark answer: keep the status alone.
  }
  switch (response.status) {
    case 401:
      return "The server refused the API key (401). Enter a key that hark serve was started with.";
    case 426:
      return "The server accepts this request over HTTP but the WebSocket failed: a proxy in between may not pass WebSocket upgrades.";
    default:
      return `The server refused the stream (${response.status}): ${detail || response.statusText}`;
  }
}

/** A sentence for a close code (PROTOCOL.md's close codes). */
export function closeReason(e) {
  const why = e.reason ? `: ${e.reason}` : "";
  switch (e.code) {
    case 1000:
      return null;
    case 1001:
      return `The server is shutting down (1001)${why}. Start again to reach another instance.`;
    case 1006:
      return "The connection dropped without a close frame (1006): the network or the server went away.";
    case 1008:
      return `The server could not use what was sent (1008)${why}.`;
    case 1009:
      return `A message was too big for the server (1009)${why}.`;
    case 1011:
      return `The server ended the stream (1011)${why}.`;
    default:
      return `The connection closed with code ${e.code}${why}.`;
  }
}
