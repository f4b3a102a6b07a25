// Driver for JS @deepgram/sdk 4.x: `createClient(key, { global: { websocket: { options: { url } } } })`
// then `listen.live(...)`. Run under plain Node it uses the `ws` package (Authorization header);
// under `node --experimental-websocket` it uses Node's WebSocket, which authenticates by the
// `token, KEY` subprotocol that hark must echo.
// Pre-recorded (`file`): `createClient(key, { global: { fetch: { options: { url } } } })`, then
// `listen.prerecorded.transcribeFile(buffer, options)`.
// Usage: node sdk_v4.js CASE  (cases: wav, raw, bad-key, bad-param, passthrough, file, url)
"use strict";

const { createClient, LiveTranscriptionEvents: E } = require("@deepgram/sdk");
const { env, loadAudio, sleep, streamAudio, toEvent, checkStream, checkFile, main } = require("./common");

const NATIVE = typeof WebSocket !== "undefined";

function live(key, options) {
  const client = createClient(key, { global: { websocket: { options: { url: env().ws } } } });
  return client.listen.live(options);
}

function opened(conn) {
  return new Promise((resolve, reject) => {
    conn.on(E.Open, () => resolve());
    conn.on(E.Error, (err) => reject(err));
    conn.on(E.Close, (ev) => reject(new Error(`closed before open (code ${ev && ev.code})`)));
  });
}

async function runStream(which, { extraOptions = {}, wantExtra } = {}) {
  const audio = loadAudio(which);
  const conn = live(env().key, { model: "nova-3", interim_results: true, punctuate: true, ...audio.params, ...extraOptions });
  const events = [];
  let closeCode;
  const closed = new Promise((resolve) => conn.on(E.Close, (ev) => resolve((closeCode = ev && ev.code))));
  await opened(conn);
  conn.on(E.Transcript, (m) => events.push(toEvent(m)));
  conn.on(E.Metadata, (m) => events.push(toEvent(m)));
  conn.on(E.SpeechStarted, (m) => events.push(toEvent(m)));
  conn.on(E.UtteranceEnd, (m) => events.push(toEvent(m)));
  conn.on(E.Unhandled, (m) => events.push({ kind: "Unhandled", at: Date.now(), detail: JSON.stringify(m).slice(0, 200) }));
  conn.on(E.Error, (err) => events.push({ kind: "Error", at: Date.now(), detail: String(err && err.message) }));
  await streamAudio(audio, (b) => conn.send(b), () => conn.keepAlive());
  const finalizeAt = Date.now();
  conn.finalize();
  for (let i = 0; i < 750 && !events.some((e) => e.fromFinalize); i++) await sleep(20);
  conn.requestClose();
  await Promise.race([closed, sleep(15000)]);
  return checkStream(events, audio, { finalizeAt, closeCode, wantExtra });
}

async function expectRefusal(key, status, options) {
  const conn = live(key, { model: "nova-3", ...options });
  try {
    await opened(conn);
  } catch (err) {
    if (NATIVE) return []; // a browser-style WebSocket exposes no HTTP status: failing to open is all a caller sees
    const fails = err.statusCode === status ? [] : [`error statusCode ${err.statusCode}, want ${status}: ${err.message}`];
    if (!(err.responseHeaders && err.responseHeaders["dg-error"])) fails.push("no dg-error in the SDK error's responseHeaders");
    return fails;
  }
  conn.requestClose();
  return ["handshake succeeded, want a refusal"];
}

async function runFile() {
  const audio = loadAudio("wav");
  const client = createClient(env().key, { global: { fetch: { options: { url: env().http } } } });
  const { result, error } = await client.listen.prerecorded.transcribeFile(audio.data, { punctuate: true, utterances: true });
  if (error) throw error;
  return checkFile(audio, result);
}

async function runUrl() {
  const audio = loadAudio("wav");
  const client = createClient(env().key, { global: { fetch: { options: { url: env().http } } } });
  const { result, error } = await client.listen.prerecorded.transcribeUrl({ url: process.env.HARK_AUDIO_URL }, { punctuate: true, utterances: true });
  if (error) throw error;
  return checkFile(audio, result);
}

main({
  file: runFile,
  url: runUrl,
  wav: () => runStream("wav"),
  raw: () => runStream("raw"),
  "bad-key": () => expectRefusal("wrong-key", 401, {}),
  "bad-param": () => expectRefusal(env().key, 400, { encoding: "linear16" }),
  passthrough: () =>
    runStream("raw", {
      extraOptions: { extra: ["suite:conformance", "client:js"], tag: ["conformance", "second-tag"], keyterm: ["hark", "Deepgram"], custom_param: "kept" },
      wantExtra: { suite: "conformance", client: "js" },
    }),
});
