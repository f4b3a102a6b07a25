// Driver for JS @deepgram/sdk 5.x: `new DeepgramClient({ apiKey, baseUrl: "ws://H:P" })`, then
// `listen.v1.connect({...})`, `socket.connect()`, `await socket.waitForOpen()`.
// 5.x reconnects (up to 30 times by default) on any close but 1000, so the close code is checked
// here and the harness counts handshakes.
// Pre-recorded (`file`): `new DeepgramClient({ apiKey, baseUrl: "http://H:P" })`, then
// `listen.v1.media.transcribeFile(buffer, {...})`.
// Flux (`flux`): `listen.v2.connect({ model: "flux-general-en", ... })`, `sendConfigure`,
// `sendForceEndTurn`, `sendCloseStream`.
// Usage: node sdk_v5.js CASE  (cases: wav, raw, bad-key, bad-param, passthrough, file, url, flux, flux-bad-param)
"use strict";

const { DeepgramClient } = require("@deepgram/sdk");
const { env, loadAudio, sleep, streamAudio, toEvent, checkStream, checkFile, main, loadFlux, streamRealtime, checkFlux } = require("./common");

async function open(key, args) {
  const client = new DeepgramClient({ apiKey: key, baseUrl: env().ws });
  const socket = await client.listen.v1.connect(args);
  return socket;
}

async function runStream(which, { extraArgs = {}, wantExtra } = {}) {
  const audio = loadAudio(which);
  const params = Object.fromEntries(Object.entries(audio.params).map(([k, v]) => [k, String(v)]));
  const socket = await open(env().key, { model: "nova-3", interim_results: "true", punctuate: "true", ...params, ...extraArgs });
  const events = [];
  let closeCode;
  // The first close is the server's; `socket.close()` below emits another one of our own.
  const closed = new Promise((resolve) => socket.on("close", (ev) => resolve((closeCode = closeCode === undefined ? ev && ev.code : closeCode))));
  socket.on("message", (m) => events.push(toEvent(m)));
  socket.on("error", (err) => events.push({ kind: "Error", at: Date.now(), detail: String(err && err.message) }));
  socket.connect();
  await socket.waitForOpen();
  await streamAudio(audio, (b) => socket.sendMedia(b), () => socket.sendKeepAlive({ type: "KeepAlive" }));
  const finalizeAt = Date.now();
  socket.sendFinalize({ type: "Finalize" });
  for (let i = 0; i < 750 && !events.some((e) => e.fromFinalize); i++) await sleep(20);
  socket.sendCloseStream({ type: "CloseStream" });
  await Promise.race([closed, sleep(15000)]);
  socket.close(); // stops a reconnect, which 5.x schedules 1-5 s after any close but 1000

  return checkStream(events, audio, { finalizeAt, closeCode, wantExtra });
}

async function expectRefusal(key, args) {
  // One attempt: with the default 30 retries a refusal would be retried, not reported.
  return refusedOnce(await open(key, { model: "nova-3", reconnectAttempts: 0, ...args }));
}

/** One connection attempt that must be refused. */
async function refusedOnce(socket) {
  const outcome = new Promise((resolve) => {
    socket.on("open", () => resolve("open"));
    socket.on("error", () => resolve("error"));
    socket.on("close", () => resolve("close"));
  });
  socket.connect();
  const got = await Promise.race([outcome, sleep(10000).then(() => "timeout")]);
  socket.close();
  // 5.x surfaces a refused handshake as an error/close event without the HTTP status.
  return got === "error" || got === "close" ? [] : [`handshake ${got}, want a refusal`];
}

async function runFile() {
  const audio = loadAudio("wav");
  const client = new DeepgramClient({ apiKey: env().key, baseUrl: env().http });
  const r = await client.listen.v1.media.transcribeFile(audio.data, { punctuate: true, utterances: true });
  return checkFile(audio, r);
}

async function runUrl() {
  const audio = loadAudio("wav");
  const client = new DeepgramClient({ apiKey: env().key, baseUrl: env().http });
  const r = await client.listen.v1.media.transcribeUrl({ url: process.env.HARK_AUDIO_URL, punctuate: true, utterances: true });
  return checkFile(audio, r);
}

/** Flux over `listen.v2`: two turns the model ends, Configure, a third ended by ForceEndTurn. */
async function runFlux() {
  const { turns, manual, rate, want } = loadFlux();
  const client = new DeepgramClient({ apiKey: env().key, baseUrl: env().ws });
  const socket = await client.listen.v2.connect({ model: "flux-general-en", encoding: "linear16", sample_rate: String(rate), tag: "conformance" });
  const messages = [];
  let closeCode;
  const closed = new Promise((resolve) => socket.on("close", (ev) => resolve((closeCode = closeCode === undefined ? ev && ev.code : closeCode))));
  socket.on("message", (m) => messages.push(m));
  socket.connect();
  await socket.waitForOpen();
  const ends = () => messages.filter((m) => m.event === "EndOfTurn").length;
  const waitFor = async (n) => {
    for (let i = 0; i < 500 && ends() < n; i++) await sleep(20);
  };
  await streamRealtime(turns, rate, (b) => socket.sendMedia(b));
  await waitFor(2);
  socket.sendConfigure({ type: "Configure", thresholds: { eot_threshold: 0.8 }, keyterms: ["hark"] });
  socket.sendConfigure({ type: "Configure", thresholds: { eager_eot_threshold: 0.95 } });
  await streamRealtime(manual, rate, (b) => socket.sendMedia(b));
  socket.sendForceEndTurn({ type: "ForceEndTurn" });
  await waitFor(3);
  socket.sendCloseStream({ type: "CloseStream" });
  await Promise.race([closed, sleep(15000)]);
  socket.close();
  return checkFlux(messages, want, closeCode);
}

async function expectFluxRefusal() {
  const client = new DeepgramClient({ apiKey: env().key, baseUrl: env().ws });
  return refusedOnce(await client.listen.v2.connect({ model: "flux-general-en", encoding: "linear16", sample_rate: "16000", eot_threshold: "1.5", reconnectAttempts: 0 }));
}

main({
  flux: runFlux,
  "flux-bad-param": expectFluxRefusal,
  file: runFile,
  url: runUrl,
  wav: () => runStream("wav"),
  raw: () => runStream("raw"),
  "bad-key": () => expectRefusal("wrong-key", {}),
  "bad-param": () => expectRefusal(env().key, { encoding: "linear16" }),
  passthrough: () =>
    runStream("raw", {
      extraArgs: { extra: ["suite:conformance", "client:js"], tag: ["conformance", "second-tag"], keyterm: ["hark", "Deepgram"], queryParams: { custom_param: "kept" } },
      wantExtra: { suite: "conformance", client: "js" },
    }),
});
