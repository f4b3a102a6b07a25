"""Shared plumbing for the Python SDK drivers: audio, pacing and the checks every client must pass.

Nothing here imports an SDK. A driver turns each message its SDK delivered into an `Event` by
reading the SDK's own typed attributes (so a field the SDK cannot parse fails the case), then
hands the list to `check_stream`.
"""

import dataclasses
import os
import struct
import sys
import time

# Audio is sent at 20x real time in 0.25 s chunks: SDK users often stream files faster than real
# time, and the suite stays quick.
SPEEDUP = 20.0
CHUNK_S = 0.25


@dataclasses.dataclass
class Audio:
    data: bytes  # exactly what is sent, header included for WAV
    bytes_per_s: int
    duration_s: float
    params: dict  # query parameters that describe it ({} for WAV: the server sniffs the header)


def load_audio(case: str) -> Audio:
    """`wav`: the starter-kit WAV as a file, header and all; `raw`: headerless s16le 8 kHz."""
    root = os.environ["HARK_SHARED_DATA"]
    if case == "raw":
        data = open(os.path.join(root, "preamble.raw"), "rb").read()
        return Audio(data, 16000, len(data) / 16000, {"encoding": "linear16", "sample_rate": 8000, "channels": 1})
    data = open(os.path.join(root, "preamble.wav"), "rb").read()
    rate, channels, bits, data_len = wav_format(data)
    bps = rate * channels * bits // 8
    return Audio(data, bps, data_len / bps, {})


def wav_format(data: bytes):
    """(rate, channels, bits, data bytes) from a canonical RIFF/WAVE header."""
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        tag, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if tag == b"fmt ":
            _, channels, rate, _, _, bits = struct.unpack("<HHIIHH", data[pos + 8 : pos + 24])
            fmt = (rate, channels, bits)
        if tag == b"data":
            assert fmt, "WAV data before fmt"
            return (*fmt, min(size, len(data) - pos - 8))
        pos += 8 + size + (size & 1)
    raise ValueError("no data chunk in WAV")


def chunks(audio: Audio, realtime_tail_s: float = 0.0):
    """(chunk, seconds to wait after sending it) over the whole file; the last `realtime_tail_s`
    seconds go at real time, as a live source would end."""
    step = max(1, int(audio.bytes_per_s * CHUNK_S))
    tail_from = len(audio.data) - int(audio.bytes_per_s * realtime_tail_s)
    for i in range(0, len(audio.data), step):
        yield audio.data[i : i + step], CHUNK_S if i >= tail_from else CHUNK_S / SPEEDUP


@dataclasses.dataclass
class Event:
    kind: str  # Results | Metadata | SpeechStarted | UtteranceEnd | Error | Unhandled
    at: float = dataclasses.field(default_factory=time.monotonic)
    is_final: bool = False
    from_finalize: bool = False
    start: float = 0.0
    duration: float = 0.0
    transcript: str = ""
    extra: dict = dataclasses.field(default_factory=dict)
    detail: str = ""


def check_stream(events, audio: Audio, finalize_sent_at=None, close_code=None, want_extra=None):
    """Every rule a streaming case must satisfy; returns a list of failures (empty = pass)."""
    fails = []
    kinds = [e.kind for e in events]
    bad = [e for e in events if e.kind in ("Error", "Unhandled")]
    if bad:
        fails.append(f"unexpected {bad[0].kind} event: {bad[0].detail[:200]}")
    finals = [e for e in events if e.kind == "Results" and e.is_final]
    if not finals:
        fails.append(f"no final Results (got {sorted(set(kinds))})")
    if finalize_sent_at is not None and not any(e.from_finalize and e.at >= finalize_sent_at for e in finals):
        fails.append("no from_finalize:true final after Finalize")
    metas = [e for e in events if e.kind == "Metadata"]
    if len(metas) != 1:
        fails.append(f"{len(metas)} Metadata messages, want exactly 1")
    elif abs(metas[0].duration - audio.duration_s) > 0.01:
        fails.append(f"Metadata duration {metas[0].duration:.3f} s, sent {audio.duration_s:.3f} s")
    if finals:
        end = max(e.start + e.duration for e in finals)
        if end < audio.duration_s - 0.05:
            fails.append(f"finals end at {end:.2f} s of {audio.duration_s:.2f} s: a final was lost")
    if metas and kinds.index("Metadata") < max(i for i, k in enumerate(kinds) if k == "Results"):
        fails.append("Results after Metadata")
    if close_code is not None and close_code != 1000:
        fails.append(f"close code {close_code}, want 1000")
    if want_extra:
        got = [e.extra for e in events if e.kind == "Results" and e.extra]
        if not got or any(g != want_extra for g in got):
            fails.append(f"Results metadata.extra {got[:1]}, want {want_extra}")
    return fails


def check_file(audio: Audio, duration, channels, transcript, words, utterances):
    """A pre-recorded (`POST /v1/listen`) answer to the whole WAV with `utterances=true`, as the
    SDK parsed it: its duration, one channel, a string transcript, words timed inside the audio
    and in order, and every word in exactly one utterance."""
    fails = []
    if abs(duration - audio.duration_s) > 0.01:
        fails.append(f"metadata.duration {duration:.3f} s, sent {audio.duration_s:.3f} s")
    if channels != 1:
        fails.append(f"{channels} channels, want 1")
    if not isinstance(transcript, str):
        fails.append(f"transcript is {type(transcript).__name__}")
    starts = [w[1] for w in words]
    if starts != sorted(starts) or any(not (0 <= s <= e <= audio.duration_s + 0.01) for _, s, e in words):
        fails.append(f"word times out of order or outside the audio: {words[:5]}")
    if utterances is None:
        fails.append("no utterances with utterances=true")
    elif sum(len(u.words or []) for u in utterances) != len(words):
        fails.append("utterances do not hold every word once")
    return fails


def report(fails) -> int:
    """Driver exit: one line of reasons on stdout for the harness."""
    if fails:
        print("; ".join(fails))
        return 1
    print("ok")
    return 0


def env():
    """(ws://host:port, http://host:port, API key) the harness started hark with."""
    host = os.environ["HARK_HOSTPORT"]
    return f"ws://{host}", f"http://{host}", os.environ["HARK_KEY"]


def main(cases):
    """Run `cases[sys.argv[1]]()`; any exception is a failure with its message."""
    name = sys.argv[1] if len(sys.argv) > 1 else ""
    if name not in cases:
        print(f"unknown case {name!r}; cases: {', '.join(cases)}")
        return 2
    try:
        return report(cases[name]())
    except Exception as exc:  # a driver bug or an SDK exception: either way the case failed
        print(f"{type(exc).__name__}: {str(exc)[:300]}")
        return 1


# Flux (`/v2/listen`): the harness writes the audio (espeak-ng, 22.05 kHz s16le) and what each
# turn says into $HARK_FLUX_AUDIO.
FLUX_CHUNK_S = 0.1


def load_flux():
    """(turns audio, manual-turn audio, rate, the words of each turn)."""
    import json

    root = os.environ["HARK_FLUX_AUDIO"]
    manifest = json.load(open(os.path.join(root, "manifest.json")))
    read = lambda name: open(os.path.join(root, name), "rb").read()  # noqa: E731
    return read("turns.raw"), read("manual.raw"), manifest["rate"], manifest["turns"]


def flux_chunks(data: bytes, rate: int):
    """Real-time chunks, as a voice agent streams a microphone."""
    step = int(rate * FLUX_CHUNK_S) * 2
    for i in range(0, len(data), step):
        yield data[i : i + step]


def spoken_words(text):
    return "".join(c.lower() if c.isalnum() or c == "'" else " " for c in text).split()


def edit_distance(a, b):
    d = list(range(len(b) + 1))
    for i, x in enumerate(a):
        prev, d[0] = d[0], i + 1
        for j, y in enumerate(b):
            cur = min(d[j + 1] + 1, d[j] + 1, prev + (x != y))
            prev, d[j + 1] = d[j + 1], cur
    return d[len(b)]


def check_flux(messages, want_turns, close_code):
    """`messages`: dicts of every server message in order. The rules every Flux client relies
    on: Connected first, `sequence_id` counting from 0, each turn StartOfTurn … EndOfTurn (with
    Updates between in the first, which lasts seconds), `turn_index` counting turns, the words of each turn, the triggers, the
    Configure answers, close 1000."""
    fails = []
    types = [m.get("type") for m in messages]
    if not messages or types[0] != "Connected" or not messages[0].get("request_id"):
        fails.append(f"first message {messages[:1]}, want Connected with a request_id")
    seq = [m.get("sequence_id") for m in messages]
    if seq != list(range(len(messages))):
        fails.append(f"sequence_id {seq}, want 0..{len(messages) - 1}")
    turns = [m for m in messages if m.get("type") == "TurnInfo"]
    ends = [m for m in turns if m.get("event") == "EndOfTurn"]
    triggers = [m.get("trigger") for m in ends]
    if triggers != ["model", "model", "manual"]:
        fails.append(f"EndOfTurn triggers {triggers}, want model, model, manual")
    for k, end in enumerate(ends):
        if end.get("turn_index") != k:
            fails.append(f"EndOfTurn {k} has turn_index {end.get('turn_index')}")
        events = [m.get("event") for m in turns if m.get("turn_index") == k]
        if not events or events[0] != "StartOfTurn" or events[-1] != "EndOfTurn":
            fails.append(f"turn {k} events {events}")
        # (A short turn may end before its first Update; the first lasts seconds.)
        if k == 0 and "Update" not in events:
            fails.append(f"turn 0 has no Update: {events}")
        if k < len(want_turns):
            got, want = spoken_words(end.get("transcript", "")), spoken_words(want_turns[k])
            if edit_distance(got, want) > 1:
                fails.append(f"turn {k} said {end.get('transcript')!r}, want {want_turns[k]!r}")
            if [w.get("word") for w in end.get("words", [])] != end.get("transcript", "").split():
                fails.append(f"turn {k}: words do not spell the transcript")
        conf = end.get("end_of_turn_confidence")
        if not isinstance(conf, (int, float)) or not 0 <= conf <= 1:
            fails.append(f"turn {k}: end_of_turn_confidence {conf}")
    if any(m.get("trigger") is not None for m in turns if m.get("event") != "EndOfTurn"):
        fails.append("a trigger outside EndOfTurn")
    if types.count("ConfigureSuccess") != 1 or types.count("ConfigureFailure") != 1:
        fails.append(f"Configure answers {[t for t in types if t.startswith('Configure')]}, want one success and one failure")
    if close_code != 1000:
        fails.append(f"close code {close_code}, want 1000")
    return fails
