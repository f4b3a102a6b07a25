// Shared plumbing for the JS SDK drivers: audio, pacing, the Results shape the SDKs' TypeScript
// types declare, and the checks every streaming case must pass. Imports no SDK.
"use strict";

const fs = require("fs");
const path = require("path");

// 20x real time in 0.25 s chunks, as in the Python drivers.
const SPEEDUP = 20;
const CHUNK_S = 0.25;

function env() {
  const host = process.env.HARK_HOSTPORT;
  return { ws: `ws://${host}`, http: `http://${host}`, key: process.env.HARK_KEY };
}

/** `wav`: the starter-kit WAV with its header; `raw`: headerless s16le 8 kHz mono. */
function loadAudio(which) {
  const root = process.env.HARK_SHARED_DATA;
  if (which === "raw") {
    const data = fs.readFileSync(path.join(root, "preamble.raw"));
    return { data, bytesPerS: 16000, durationS: data.length / 16000, params: { encoding: "linear16", sample_rate: 8000, channels: 1 } };
  }
  const data = fs.readFileSync(path.join(root, "preamble.wav"));
  let pos = 12;
  let fmt = null;
  while (pos + 8 <= data.length) {
    const tag = data.toString("latin1", pos, pos + 4);
    const size = data.readUInt32LE(pos + 4);
    if (tag === "fmt ") fmt = { channels: data.readUInt16LE(pos + 10), rate: data.readUInt32LE(pos + 12), bits: data.readUInt16LE(pos + 22) };
    if (tag === "data") {
      const bps = (fmt.rate * fmt.channels * fmt.bits) / 8;
      return { data, bytesPerS: bps, durationS: Math.min(size, data.length - pos - 8) / bps, params: {} };
    }
    pos += 8 + size + (size & 1);
  }
  throw new Error("no data chunk in WAV");
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Paced send with a KeepAlive halfway; resolves when all audio is sent. */
async function streamAudio(audio, sendMedia, keepAlive) {
  const step = Math.max(1, Math.floor(audio.bytesPerS * CHUNK_S));
  const half = Math.floor(audio.data.length / 2);
  for (let i = 0; i < audio.data.length; i += step) {
    sendMedia(audio.data.subarray(i, Math.min(i + step, audio.data.length)));
    if (i <= half && half < i + step) keepAlive();
    await sleep((CHUNK_S / SPEEDUP) * 1000);
  }
}

// Required fields of a Results message, with their types, as the SDKs' TypeScript types declare
// them (ListenV1Results in 5.x, LiveTranscriptionEvent in 4.x).
const RESULTS_SHAPE = {
  type: "string", channel_index: "array", duration: "number", start: "number", is_final: "boolean",
  speech_final: "boolean", from_finalize: "boolean",
  "channel.alternatives": "array", "channel.alternatives.0.transcript": "string", "channel.alternatives.0.confidence": "number",
  "channel.alternatives.0.words": "array", "metadata.request_id": "string", "metadata.model_uuid": "string",
  "metadata.model_info.name": "string", "metadata.model_info.version": "string", "metadata.model_info.arch": "string",
};
const WORD_SHAPE = { word: "string", start: "number", end: "number", confidence: "number", punctuated_word: "string" };

function shapeErrors(obj, shape) {
  const errs = [];
  for (const [key, want] of Object.entries(shape)) {
    const v = key.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);
    const got = Array.isArray(v) ? "array" : typeof v;
    if (got !== want) errs.push(`${key} is ${got}, want ${want}`);
  }
  return errs;
}

/** One received message as an event record (shape errors make it a failure). */
function toEvent(msg) {
  const at = Date.now();
  if (msg && msg.type === "Results") {
    const errs = shapeErrors(msg, RESULTS_SHAPE);
    for (const w of (msg.channel && msg.channel.alternatives && msg.channel.alternatives[0].words) || []) errs.push(...shapeErrors(w, WORD_SHAPE));
    if (errs.length) return { kind: "Error", at, detail: `Results does not match the SDK type: ${errs.slice(0, 3).join(", ")}` };
    return { kind: "Results", at, isFinal: msg.is_final, fromFinalize: msg.from_finalize, start: msg.start, duration: msg.duration, extra: msg.metadata.extra };
  }
  if (msg && msg.type === "Metadata") return { kind: "Metadata", at, duration: msg.duration };
  if (msg && (msg.type === "SpeechStarted" || msg.type === "UtteranceEnd")) return { kind: msg.type, at };
  return { kind: "Unhandled", at, detail: JSON.stringify(msg).slice(0, 200) };
}

/** Every rule a streaming case must satisfy; returns failures (empty = pass). */
function checkStream(events, audio, { finalizeAt, closeCode, wantExtra } = {}) {
  const fails = [];
  const bad = events.find((e) => e.kind === "Error" || e.kind === "Unhandled");
  if (bad) fails.push(`unexpected ${bad.kind}: ${bad.detail}`);
  const finals = events.filter((e) => e.kind === "Results" && e.isFinal);
  if (!finals.length) fails.push("no final Results");
  if (finalizeAt !== undefined && !finals.some((e) => e.fromFinalize && e.at >= finalizeAt)) fails.push("no from_finalize:true final after Finalize");
  const metas = events.filter((e) => e.kind === "Metadata");
  if (metas.length !== 1) fails.push(`${metas.length} Metadata messages, want exactly 1`);
  else if (Math.abs(metas[0].duration - audio.durationS) > 0.01) fails.push(`Metadata duration ${metas[0].duration}, sent ${audio.durationS.toFixed(3)} s`);
  if (finals.length) {
    const end = Math.max(...finals.map((e) => e.start + e.duration));
    if (end < audio.durationS - 0.05) fails.push(`finals end at ${end.toFixed(2)} s of ${audio.durationS.toFixed(2)} s: a final was lost`);
  }
  if (closeCode !== undefined && closeCode !== 1000) fails.push(`close code ${closeCode}, want 1000`);
  if (wantExtra) {
    // A JSON object is unordered: compare with sorted keys.
    const canon = (o) => JSON.stringify(o && Object.fromEntries(Object.entries(o).sort()));
    const got = events.filter((e) => e.kind === "Results").map((e) => canon(e.extra || null));
    if (!got.length || got.some((g) => g !== canon(wantExtra))) fails.push(`Results metadata.extra ${got[0]}, want ${canon(wantExtra)}`);
  }
  return fails;
}

/** A pre-recorded answer (`POST /v1/listen`) to the whole WAV with `utterances: true`, as the
 * SDK returned it: its duration, one channel, a string transcript, words in order inside the
 * audio, and every word in exactly one utterance. */
function checkFile(audio, r) {
  const fails = [];
  if (!r || !r.metadata || !r.results) return [`not a pre-recorded response: ${JSON.stringify(r).slice(0, 200)}`];
  if (typeof r.metadata.request_id !== "string") fails.push("metadata.request_id");
  if (Math.abs(r.metadata.duration - audio.durationS) > 0.01) fails.push(`metadata.duration ${r.metadata.duration}, sent ${audio.durationS.toFixed(3)} s`);
  const channels = r.results.channels || [];
  if (channels.length !== 1) fails.push(`${channels.length} channels, want 1`);
  const alt = channels[0] && channels[0].alternatives[0];
  if (!alt || typeof alt.transcript !== "string") return fails.concat(["no transcript"]);
  const words = alt.words || [];
  const ordered = words.every((w, i) => w.start <= w.end && w.end <= audio.durationS + 0.01 && (i === 0 || words[i - 1].start <= w.start));
  if (!ordered) fails.push("word times out of order or outside the audio");
  const utterances = r.results.utterances;
  if (!Array.isArray(utterances)) fails.push("no utterances with utterances: true");
  else if (utterances.reduce((n, u) => n + (u.words || []).length, 0) !== words.length) fails.push("utterances do not hold every word once");
  return fails;
}

/** Run `cases[argv[2]]`, print `ok` or the reasons, exit 0/1. */
function main(cases) {
  const name = process.argv[2];
  if (!cases[name]) {
    console.log(`unknown case ${name}; cases: ${Object.keys(cases).join(", ")}`);
    process.exit(2);
  }
  const deadline = setTimeout(() => {
    console.log("timed out after 45 s");
    process.exit(1);
  }, 45000);
  cases[name]()
    .then((fails) => {
      clearTimeout(deadline);
      console.log(fails.length ? fails.join("; ") : "ok");
      process.exit(fails.length ? 1 : 0);
    })
    .catch((err) => {
      console.log(`${err && err.name}: ${String((err && err.message) || err).slice(0, 300)}`);
      process.exit(1);
    });
}

module.exports = { env, loadAudio, sleep, streamAudio, toEvent, checkStream, checkFile, main };

// Flux (`/v2/listen`): the harness writes the audio (espeak-ng, 22.05 kHz s16le) and what each
// turn says into $HARK_FLUX_AUDIO; the checks are the Python drivers' `check_flux`.
function loadFlux() {
  const root = process.env.HARK_FLUX_AUDIO;
  const manifest = JSON.parse(fs.readFileSync(path.join(root, "manifest.json"), "utf8"));
  return {
    turns: fs.readFileSync(path.join(root, "turns.raw")),
    manual: fs.readFileSync(path.join(root, "manual.raw")),
    rate: manifest.rate,
    want: manifest.turns,
  };
}

/** Real-time 0.1 s chunks, as a voice agent streams a microphone. */
async function streamRealtime(data, rate, sendMedia) {
  const step = Math.floor(rate * 0.1) * 2;
  for (let i = 0; i < data.length; i += step) {
    sendMedia(data.subarray(i, Math.min(i + step, data.length)));
    await sleep(100);
  }
}

const spokenWords = (t) => (t || "").toLowerCase().replace(/[^a-z0-9']+/g, " ").trim().split(/\s+/).filter(Boolean);

function editDistance(a, b) {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  a.forEach((x, i) => {
    let prev = d[0];
    d[0] = i + 1;
    b.forEach((y, j) => {
      const cur = Math.min(d[j + 1] + 1, d[j] + 1, prev + (x !== y ? 1 : 0));
      prev = d[j + 1];
      d[j + 1] = cur;
    });
  });
  return d[b.length];
}

function checkFlux(messages, want, closeCode) {
  const fails = [];
  const types = messages.map((m) => m.type);
  if (types[0] !== "Connected" || !messages[0].request_id) fails.push(`first message ${JSON.stringify(messages[0])}, want Connected`);
  const seq = messages.map((m) => m.sequence_id);
  if (seq.some((s, i) => s !== i)) fails.push(`sequence_id ${seq}, want 0..${messages.length - 1}`);
  const turns = messages.filter((m) => m.type === "TurnInfo");
  const ends = turns.filter((m) => m.event === "EndOfTurn");
  const triggers = ends.map((m) => m.trigger).join(",");
  if (triggers !== "model,model,manual") fails.push(`EndOfTurn triggers ${triggers}, want model,model,manual`);
  ends.forEach((end, k) => {
    if (end.turn_index !== k) fails.push(`EndOfTurn ${k} has turn_index ${end.turn_index}`);
    const events = turns.filter((m) => m.turn_index === k).map((m) => m.event);
    if (events[0] !== "StartOfTurn" || events[events.length - 1] !== "EndOfTurn") fails.push(`turn ${k} events ${events}`);
    // (A short turn may end before its first Update; the first lasts seconds.)
    if (k === 0 && !events.includes("Update")) fails.push(`turn 0 has no Update: ${events}`);
    if (k < want.length && editDistance(spokenWords(end.transcript), spokenWords(want[k])) > 1) fails.push(`turn ${k} said ${JSON.stringify(end.transcript)}, want ${JSON.stringify(want[k])}`);
    if (!(end.end_of_turn_confidence >= 0 && end.end_of_turn_confidence <= 1)) fails.push(`turn ${k}: end_of_turn_confidence ${end.end_of_turn_confidence}`);
  });
  if (turns.some((m) => m.event !== "EndOfTurn" && m.trigger !== undefined)) fails.push("a trigger outside EndOfTurn");
  const ok = messages.filter((m) => m.type === "ConfigureSuccess");
  if (ok.length !== 1 || types.filter((t) => t === "ConfigureFailure").length !== 1) fails.push(`Configure answers ${types.filter((t) => t.startsWith("Configure"))}`);
  else if (ok[0].thresholds.eot_threshold !== 0.8 || ok[0].keyterms[0] !== "hark") fails.push(`ConfigureSuccess ${JSON.stringify(ok[0])}`);
  if (closeCode !== 1000) fails.push(`close code ${closeCode}, want 1000`);
  return fails;
}

module.exports.loadFlux = loadFlux;
module.exports.streamRealtime = streamRealtime;
module.exports.checkFlux = checkFlux;
