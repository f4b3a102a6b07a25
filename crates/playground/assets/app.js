// The playground page: settings → query string, audio → live connection → transcript, plus the
// message log, latency figures, whole-file transcription and export.

import { api, liveUrl, serverBase, showApiOptions, uploadUrl } from "./query.js";
import { decodeFile, FileSource, MicSource, rms } from "./audio.js";
import { closeReason, diagnose, LiveConnection } from "./live.js";
import { Transcript } from "./transcript.js";

const $ = (id) => document.getElementById(id);
const LOG_MAX = 300;
const FILE_RATE_HZ = 16000;
/** Blocks held while the socket opens (mic audio keeps coming): about 10 s. */
const PENDING_MAX = 100;
const SETTINGS = ["server", "model", "language", "interim_results", "punctuate", "smart_format", "diarize",
  "vad_events", "endpointing", "utterance_end_ms", "flux_model", "eot_threshold", "eager_eot_threshold",
  "eot_timeout_ms", "language_hint", "keyterm"];

const transcript = new Transcript($("transcript"));
const state = { conn: null, source: null, pending: [], latencies: [], micRateHz: 48000, busy: false };

const key = () => $("key").value.trim();

function status(text) {
  $("status").textContent = text;
}

function showError(text) {
  $("error").hidden = !text;
  $("error").textContent = text || "";
}

/** One line in the message log (newest first, bounded). */
function log(direction, msg) {
  const li = document.createElement("li");
  li.className = direction === "→" ? "sent" : "received";
  const kind = msg.type || "?";
  const interim = kind === "Results" && !msg.is_final;
  if (interim) li.classList.add("interim-msg");
  const head = document.createElement("b");
  head.textContent = `${direction} ${kind}${interim ? " (interim)" : ""} `;
  const body = document.createElement("code");
  body.textContent = JSON.stringify(msg);
  li.append(head, body);
  const list = $("log");
  list.prepend(li);
  while (list.children.length > LOG_MAX) list.lastChild.remove();
  $("log-count").textContent = String(Number($("log-count").textContent) + 1);
}

function setRunning(running) {
  state.busy = running;
  $("mic").disabled = running;
  $("file").disabled = running;
  $("upload").disabled = running || api() === "v2";
  $("stop").disabled = !running;
  $("finalize").disabled = !running;
  document.body.classList.toggle("running", running);
}

function updateQuery() {
  const rate = state.source ? state.source.rateHz : state.micRateHz;
  $("query").textContent = liveUrl(rate);
  showApiOptions();
  setRunning(state.busy);
  saveSettings();
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** A final (or EndOfTurn) arrived at `arrivedAt`; its speech ended at `speechEnd` audio seconds. */
function recordLatency(speechEnd, arrivedAt) {
  const conn = state.conn;
  const spoken = conn && speechEnd !== null ? conn.wallAt(speechEnd) : null;
  if (spoken === null) return;
  state.latencies.push(Math.max(0, arrivedAt - spoken));
  const sorted = [...state.latencies].sort((a, b) => a - b);
  const last = state.latencies[state.latencies.length - 1];
  $("latency").textContent = `final latency: last ${last.toFixed(0)} ms · p50 ${percentile(sorted, 50).toFixed(0)} ms` +
    ` · p95 ${percentile(sorted, 95).toFixed(0)} ms (${sorted.length})`;
}

function onMessage(msg, arrivedAt) {
  log("←", msg);
  switch (msg.type) {
    case "Results":
      recordLatency(transcript.results(msg), arrivedAt);
      break;
    case "TurnInfo":
      recordLatency(transcript.turn(msg), arrivedAt);
      break;
    case "UtteranceEnd":
      transcript.marker("utterance end");
      break;
    case "SpeechStarted":
      status(`Speech started at ${Number(msg.timestamp).toFixed(2)} s.`);
      break;
    case "Connected":
      status(`Connected (request ${msg.request_id}).`);
      break;
    case "Metadata":
      status(`Done: ${Number(msg.duration).toFixed(2)} s of audio (request ${msg.request_id}).`);
      break;
    case "Error":
      showError(`${msg.code || "Error"}: ${msg.description || JSON.stringify(msg)}`);
      break;
    default:
      break;
  }
}

function stopSource() {
  if (state.source) state.source.stop();
  state.source = null;
  $("level").style.width = "0%";
}

function onClose(e, opened, url) {
  const sent = state.conn ? state.conn.audioSeconds : 0;
  stopSource();
  state.conn = null;
  state.pending = [];
  setRunning(false);
  if (!opened) {
    status("Not connected.");
    diagnose(url, key()).then(showError);
    return;
  }
  const why = closeReason(e);
  if (why) showError(why);
  // Flux sends no Metadata: say what was sent instead.
  else if (!$("status").textContent.startsWith("Done")) status(`Done: ${sent.toFixed(2)} s of audio sent.`);
}

/** A block of audio from the source: meter, then the socket (or the queue while it opens). */
function onBlock(samples, rateHz) {
  const db = 20 * Math.log10(rms(samples) + 1e-9);
  $("level").style.width = `${Math.max(0, Math.min(100, (db + 60) * (100 / 60)))}%`;
  const conn = state.conn;
  if (!conn) return;
  if (!conn.open) {
    if (state.pending.length < PENDING_MAX) state.pending.push([samples, performance.now()]);
    return;
  }
  conn.sendAudio(samples, rateHz);
  $("audio-sent").textContent = `audio: ${conn.audioSeconds.toFixed(1)} s`;
}

/** Open the socket for audio at `rateHz`; `onOpen` starts or flushes the source. */
function connect(rateHz, onOpen) {
  const url = liveUrl(rateHz);
  $("query").textContent = url;
  state.pending = [];
  $("audio-sent").textContent = "audio: 0.0 s";
  state.latencies = [];
  $("latency").textContent = "final latency: –";
  const conn = new LiveConnection(url, key(), {
    onOpen: () => {
      status(`Streaming to ${url.split("?")[0]}…`);
      for (const [samples, at] of state.pending) conn.sendAudio(samples, rateHz, at);
      state.pending = [];
      onOpen();
    },
    onMessage,
    onClose: (e, opened) => onClose(e, opened, url),
    onSent: (m) => log("→", m),
  });
  state.conn = conn;
}

async function startMic() {
  showError(null);
  setRunning(true);
  $("audio-sent").textContent = "audio: 0.0 s";
  status("Opening the microphone…");
  const mic = new MicSource();
  try {
    await mic.start((samples) => onBlock(samples, mic.rateHz));
  } catch (err) {
    setRunning(false);
    status("Idle.");
    showError(err.message);
    return;
  }
  state.source = mic;
  state.micRateHz = mic.rateHz;
  connect(mic.rateHz, () => {});
}

async function startFile(file) {
  showError(null);
  setRunning(true);
  status(`Decoding ${file.name}…`);
  let samples;
  try {
    samples = await decodeFile(file, FILE_RATE_HZ);
  } catch (err) {
    setRunning(false);
    status("Idle.");
    showError(err.message);
    return;
  }
  const source = new FileSource(samples, FILE_RATE_HZ);
  state.source = source;
  connect(FILE_RATE_HZ, () =>
    source.start(
      (block) => onBlock(block, FILE_RATE_HZ),
      () => {
        status("File sent; waiting for the last results…");
        if (state.conn) state.conn.control({ type: "CloseStream" });
      },
    ));
}

function stop() {
  stopSource();
  if (state.conn && state.conn.control({ type: "CloseStream" })) {
    status("Finishing: the server flushes the last results…");
  } else if (state.conn) {
    state.conn.close();
  }
}

function finalize() {
  if (state.conn) state.conn.control({ type: api() === "v2" ? "ForceEndTurn" : "Finalize" });
}

async function upload(file) {
  showError(null);
  setRunning(true);
  const url = uploadUrl();
  status(`Transcribing ${file.name} (${(file.size / 1e6).toFixed(1)} MB)…`);
  const started = performance.now();
  try {
    const headers = { "Content-Type": file.type || "application/octet-stream" };
    if (key()) headers.Authorization = `Token ${key()}`;
    const response = await fetch(url, { method: "POST", headers, body: file });
    const body = await response.json().catch(() => ({}));
    log("←", { type: `POST /v1/listen ${response.status}`, ...body });
    if (!response.ok) {
      showError(`The server refused the file (${response.status}): ${body.err_msg || response.statusText}`);
      status("Idle.");
    } else {
      transcript.prerecorded(body);
      const secs = (performance.now() - started) / 1000;
      status(`Done: ${Number(body.metadata && body.metadata.duration).toFixed(2)} s of audio in ${secs.toFixed(2)} s.`);
    }
  } catch {
    showError(`The server at ${serverBase()} cannot be reached.`);
    status("Idle.");
  } finally {
    setRunning(false);
  }
}

function download(name, type, text) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text], { type }));
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

async function copy() {
  const text = transcript.text();
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // No clipboard API (insecure context): the old way.
    const area = document.createElement("textarea");
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  status("Transcript copied.");
}

/** Say whether the server answers, and list its models for the Model field. */
async function checkServer() {
  const headers = key() ? { Authorization: `Token ${key()}` } : {};
  try {
    const response = await fetch(`${serverBase()}/v1/models`, { headers });
    if (response.status === 401) {
      $("server-state").textContent = "The server wants an API key.";
      return;
    }
    const body = await response.json();
    const names = (body.stt || []).map((m) => m.name);
    $("models").replaceChildren(...names.map((n) => Object.assign(document.createElement("option"), { value: n })));
    $("server-state").textContent = `${new URL(serverBase()).host} · ${names.join(", ") || "no model"}`;
  } catch {
    $("server-state").textContent = `${serverBase()} cannot be reached.`;
  }
}

function saveSettings() {
  const saved = { api: api() };
  for (const id of SETTINGS) saved[id] = $(id).type === "checkbox" ? $(id).checked : $(id).value;
  saved.redact = [...$("redact").selectedOptions].map((o) => o.value);
  try {
    localStorage.setItem("hark.playground", JSON.stringify(saved));
    sessionStorage.setItem("hark.key", key());
  } catch {
    // Storage off (private mode): settings last for this page only.
  }
}

function loadSettings() {
  let saved = {};
  try {
    saved = JSON.parse(localStorage.getItem("hark.playground") || "{}");
    $("key").value = sessionStorage.getItem("hark.key") || "";
  } catch {
    return;
  }
  for (const id of SETTINGS) {
    if (!(id in saved)) continue;
    if ($(id).type === "checkbox") $(id).checked = saved[id];
    else $(id).value = saved[id];
  }
  for (const o of $("redact").options) o.selected = (saved.redact || []).includes(o.value);
  const radio = document.querySelector(`input[name="api"][value="${saved.api}"]`);
  if (radio) radio.checked = true;
}

function init() {
  loadSettings();
  try {
    const probe = new AudioContext();
    state.micRateHz = probe.sampleRate;
    probe.close();
  } catch {
    // No Web Audio: the microphone will say so when pressed.
  }
  $("server").placeholder = window.location.origin;
  for (const input of document.querySelectorAll("#settings input, #settings select")) {
    input.addEventListener("input", updateQuery);
    input.addEventListener("change", updateQuery);
  }
  $("server").addEventListener("change", checkServer);
  $("key").addEventListener("change", checkServer);
  $("mic").addEventListener("click", startMic);
  $("file").addEventListener("change", () => {
    const file = $("file").files[0];
    $("file").value = "";
    if (file) startFile(file);
  });
  $("upload").addEventListener("click", () => $("upload-file").click());
  $("upload-file").addEventListener("change", () => {
    const file = $("upload-file").files[0];
    $("upload-file").value = "";
    if (file) upload(file);
  });
  $("stop").addEventListener("click", stop);
  $("finalize").addEventListener("click", finalize);
  $("copy").addEventListener("click", copy);
  $("download-txt").addEventListener("click", () => download("transcript.txt", "text/plain", transcript.text()));
  $("download-srt").addEventListener("click", () => download("transcript.srt", "application/x-subrip", transcript.srt()));
  $("download-vtt").addEventListener("click", () => download("transcript.vtt", "text/vtt", transcript.vtt()));
  $("clear").addEventListener("click", () => transcript.clear());
  updateQuery();
  checkServer();
  // For tests and the curious: the page's state, read-only by convention.
  window.harkPlayground = { transcript, state };
}

init();
