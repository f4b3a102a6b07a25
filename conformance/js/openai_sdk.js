// Driver for OpenAI's JS SDK (`openai` on npm) against hark's `POST /v1/audio/transcriptions`:
// `new OpenAI({ baseURL: "http://H:P/v1", apiKey })`, then `audio.transcriptions.create({...})`.
// Usage: node openai_sdk.js CASE  (cases: oa-json, oa-verbose, oa-bad-key)
"use strict";

const fs = require("fs");
const path = require("path");
const OpenAI = require("openai");
const { env, loadAudio, main } = require("./common");

function client(key) {
  return new OpenAI({ baseURL: `${env().http}/v1`, apiKey: key, maxRetries: 0 });
}

function file() {
  return fs.createReadStream(path.join(process.env.HARK_SHARED_DATA, "preamble.wav"));
}

async function runJson() {
  const r = await client(env().key).audio.transcriptions.create({ model: "whisper-1", file: file() });
  return typeof r.text === "string" ? [] : [`text is ${typeof r.text}`];
}

async function runVerbose() {
  const audio = loadAudio("wav");
  const r = await client(env().key).audio.transcriptions.create({
    model: "whisper-1",
    file: file(),
    response_format: "verbose_json",
    timestamp_granularities: ["word", "segment"],
  });
  const fails = [];
  if (Math.abs(r.duration - audio.durationS) > 0.01) fails.push(`duration ${r.duration}, sent ${audio.durationS.toFixed(3)} s`);
  const words = r.words || [];
  if (!words.every((w, i) => i === 0 || words[i - 1].start <= w.start)) fails.push("words out of order");
  if (!(r.segments || []).every((s) => s.start <= s.end && s.end <= audio.durationS + 0.01)) fails.push("segment times outside the audio");
  return fails;
}

async function runBadKey() {
  try {
    await client("wrong-key").audio.transcriptions.create({ model: "whisper-1", file: file() });
  } catch (e) {
    return e instanceof OpenAI.AuthenticationError ? [] : [`${e.name}: ${e.message}`];
  }
  return ["a wrong key was accepted"];
}

main({ "oa-json": runJson, "oa-verbose": runVerbose, "oa-bad-key": runBadKey });
