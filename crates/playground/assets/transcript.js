// The transcript: finals kept as segments (for copy and SRT/VTT), the latest interim shown apart,
// Flux turns shown as turns, every word with its timing and confidence on hover.

const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};

/** `12.3` → `00:00:12,300` (SRT) or `00:00:12.300` (VTT). */
export function timestamp(sec, sep) {
  const ms = Math.max(0, Math.round(sec * 1000));
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  const h = Math.floor(ms / 3600000);
  const m = Math.floor((ms % 3600000) / 60000);
  const s = Math.floor((ms % 60000) / 1000);
  return `${pad(h)}:${pad(m)}:${pad(s)}${sep}${pad(ms % 1000, 3)}`;
}

/** A word as a span whose title gives its timing, confidence and speaker. */
function wordSpan(w) {
  const span = el("span", "word", w.punctuated_word || w.word);
  const parts = [];
  if (typeof w.start === "number" && typeof w.end === "number") {
    parts.push(`${w.start.toFixed(2)}–${w.end.toFixed(2)} s`);
    span.dataset.start = w.start;
    span.dataset.end = w.end;
  }
  if (typeof w.confidence === "number") {
    parts.push(`confidence ${w.confidence.toFixed(2)}`);
    span.dataset.confidence = w.confidence;
    if (w.confidence < 0.6) span.classList.add("low");
  }
  if (w.speaker !== undefined) parts.push(`speaker ${w.speaker}`);
  span.title = `${w.word}\n${parts.join("\n")}`;
  return span;
}

/** Words (or, without any, the plain text) into `p`, separated by spaces. */
function fill(p, words, text) {
  p.replaceChildren();
  if (!words || !words.length) {
    p.textContent = text || "";
    return;
  }
  words.forEach((w, i) => {
    if (i) p.append(" ");
    p.append(wordSpan(w));
  });
}

/** The end of speech in a result: its last word's end (null without words). */
function lastWordEnd(words) {
  const last = words && words.length ? words[words.length - 1] : null;
  return last && typeof last.end === "number" ? last.end : null;
}

export class Transcript {
  constructor(root) {
    this.root = root;
    this.clear();
  }

  clear() {
    this.segments = [];
    this.turns = new Map();
    this.root.replaceChildren();
    this.interim = el("p", "interim");
    this.root.append(this.interim);
  }

  /** A final segment: kept for export and shown above the interim line. */
  addFinal(words, text, start, end, speaker) {
    if (!text.trim()) return;
    this.segments.push({ start, end, text: text.trim(), speaker });
    const p = el("p", "final");
    if (speaker !== undefined) p.append(el("span", "speaker", `S${speaker} `));
    const body = el("span");
    fill(body, words, text);
    p.append(body);
    this.root.insertBefore(p, this.interim);
  }

  /** `/v1/listen` Results. Returns the end of speech of a final with words, else null. */
  results(msg) {
    const alt = msg.channel && msg.channel.alternatives && msg.channel.alternatives[0];
    if (!alt) return null;
    if (!msg.is_final) {
      fill(this.interim, alt.words, alt.transcript);
      return null;
    }
    this.interim.replaceChildren();
    const words = alt.words || [];
    // Diarized: one segment per run of the same speaker.
    let run = [];
    const flush = () => {
      if (!run.length) return;
      const text = run.map((w) => w.punctuated_word || w.word).join(" ");
      this.addFinal(run, text, run[0].start, run[run.length - 1].end, run[0].speaker);
      run = [];
    };
    if (words.length && words[0].speaker !== undefined) {
      for (const w of words) {
        if (run.length && run[0].speaker !== w.speaker) flush();
        run.push(w);
      }
      flush();
    } else {
      this.addFinal(words, alt.transcript, msg.start, msg.start + msg.duration);
    }
    return lastWordEnd(words);
  }

  /** A marker between finals (`UtteranceEnd`, a Finalize). */
  marker(text) {
    this.root.insertBefore(el("p", "marker", text), this.interim);
  }

  /** Flux `TurnInfo`. Returns the end of speech of an `EndOfTurn` with words, else null. */
  turn(msg) {
    let t = this.turns.get(msg.turn_index);
    if (!t) {
      const box = el("div", "turn");
      const head = el("div", "turn-head");
      const p = el("p");
      box.append(head, p);
      this.root.insertBefore(box, this.interim);
      t = { box, head, p };
      this.turns.set(msg.turn_index, t);
    }
    const ended = msg.event === "EndOfTurn";
    t.box.classList.toggle("final", ended);
    t.box.classList.toggle("eager", msg.event === "EagerEndOfTurn");
    const conf = typeof msg.end_of_turn_confidence === "number" ? msg.end_of_turn_confidence.toFixed(2) : "–";
    const trigger = ended && msg.trigger ? ` (${msg.trigger})` : "";
    t.head.textContent = `Turn ${msg.turn_index} · ${msg.event}${trigger} · end-of-turn ${conf}`;
    fill(t.p, msg.words, msg.transcript);
    if (!ended) return null;
    this.addSegmentOnly(msg.transcript, msg.audio_window_start, msg.audio_window_end);
    return lastWordEnd(msg.words) ?? msg.audio_window_end;
  }

  addSegmentOnly(text, start, end) {
    if (text && text.trim()) this.segments.push({ start, end, text: text.trim() });
  }

  /** A `POST /v1/listen` response: its utterances (or the whole channel) as finals. */
  prerecorded(body) {
    const results = body.results || {};
    const utterances = results.utterances || [];
    if (utterances.length) {
      for (const u of utterances) this.addFinal(u.words, u.transcript, u.start, u.end, u.speaker);
      return;
    }
    const alt = results.channels && results.channels[0] && results.channels[0].alternatives[0];
    if (alt) {
      const words = alt.words || [];
      const end = words.length ? words[words.length - 1].end : 0;
      this.addFinal(words, alt.transcript, words.length ? words[0].start : 0, end);
    }
  }

  text() {
    return this.segments.map((s) => (s.speaker !== undefined ? `[S${s.speaker}] ${s.text}` : s.text)).join("\n");
  }

  srt() {
    return this.segments
      .map((s, i) => `${i + 1}\n${timestamp(s.start, ",")} --> ${timestamp(s.end, ",")}\n${s.text}\n`)
      .join("\n");
  }

  vtt() {
    const cues = this.segments.map((s) => {
      const who = s.speaker !== undefined ? `<v S${s.speaker}>` : "";
      return `${timestamp(s.start, ".")} --> ${timestamp(s.end, ".")}\n${who}${s.text}\n`;
    });
    return `WEBVTT\n\n${cues.join("\n")}`;
  }
}
