// The query string the settings produce: what the page sends, shown to the user as it changes.
// Only options that differ from the server's defaults are written, so the URL reads like one a
// developer would write by hand.

const $ = (id) => document.getElementById(id);

/** Comma-separated text → trimmed, non-empty items. */
function list(text) {
  return text.split(",").map((s) => s.trim()).filter(Boolean);
}

/** Which API the page speaks: "v1" (`/v1/listen`) or "v2" (Flux, `/v2/listen`). */
export function api() {
  const checked = document.querySelector('input[name="api"]:checked');
  return checked ? checked.value : "v1";
}

/** `/v1/listen` options. `live` adds the ones that only apply to a stream. */
function v1Params(live) {
  const p = new URLSearchParams();
  const model = $("model").value.trim();
  if (model) p.set("model", model);
  const language = $("language").value.trim();
  if (language) p.set("language", language);
  if (live && $("interim_results").checked) p.set("interim_results", "true");
  if ($("punctuate").checked) p.set("punctuate", "true");
  if ($("smart_format").checked) p.set("smart_format", "true");
  if ($("diarize").checked) p.set("diarize", "true");
  if (live && $("vad_events").checked) p.set("vad_events", "true");
  if (live) {
    const ep = $("endpointing").value.trim();
    p.set("endpointing", ep === "" ? "false" : ep);
    const ue = $("utterance_end_ms").value.trim();
    if (ue) p.set("utterance_end_ms", ue);
  }
  for (const opt of $("redact").selectedOptions) p.append("redact", opt.value);
  for (const term of list($("keyterm").value)) p.append("keyterm", term);
  return p;
}

/** Flux (`/v2/listen`) options. */
function v2Params() {
  const p = new URLSearchParams();
  const model = $("flux_model").value;
  p.set("model", model);
  const eot = $("eot_threshold").value.trim();
  if (eot && eot !== "0.7") p.set("eot_threshold", eot);
  const eager = $("eager_eot_threshold").value.trim();
  if (eager) p.set("eager_eot_threshold", eager);
  const timeout = $("eot_timeout_ms").value.trim();
  if (timeout && timeout !== "5000") p.set("eot_timeout_ms", timeout);
  if (model === "flux-general-multi") {
    for (const hint of list($("language_hint").value)) p.append("language_hint", hint);
  }
  for (const term of list($("keyterm").value)) p.append("keyterm", term);
  return p;
}

/** The server's base URL (no trailing slash), from the Server field or this page's origin. */
export function serverBase() {
  const typed = $("server").value.trim().replace(/\/+$/, "");
  return typed || window.location.origin;
}

/** `ws(s)://host/vN/listen?…` for a live stream whose audio is linear16 at `rateHz`. */
export function liveUrl(rateHz) {
  const p = api() === "v2" ? v2Params() : v1Params(true);
  p.set("encoding", "linear16");
  p.set("sample_rate", String(rateHz));
  const base = serverBase().replace(/^http/, "ws");
  return `${base}/${api()}/listen?${p}`;
}

/** `http(s)://host/v1/listen?…` for a whole file (pre-recorded), with utterances for cues. */
export function uploadUrl() {
  const p = v1Params(false);
  p.set("utterances", "true");
  return `${serverBase()}/v1/listen?${p}`;
}

/** Show the settings that only apply to the chosen API. */
export function showApiOptions() {
  const v2 = api() === "v2";
  $("v1-options").hidden = v2;
  $("v2-options").hidden = !v2;
}
